//! Batch files: one subject per CSV row. Reading is strict about the header (a wrong column
//! name is a mistake in the whole file) and forgiving about rows (a bad row is reported with
//! its line number; the others still run unless `--strict`).

use crate::error::UsageError;
use crate::identity::{self, RequestIdentities};
use crate::plan::Action;
use crate::playbook::diagnostic::did_you_mean;
use std::path::Path;

/// What a batch does to each subject.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum BatchAction {
    Export,
    Erase,
}

impl BatchAction {
    /// The request each row becomes.
    pub fn action(self) -> Action {
        match self {
            BatchAction::Export => Action::Export,
            BatchAction::Erase => Action::Erase,
        }
    }
}

/// One good row.
#[derive(Debug, Clone, PartialEq)]
pub struct Subject {
    /// 1-based line in the file.
    pub line: usize,
    pub ids: RequestIdentities,
    pub received: Option<String>,
    pub request_id: Option<String>,
}

/// A row that cannot run, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadRow {
    pub line: usize,
    pub message: String,
}

/// Columns besides the identity kinds.
pub const EXTRA_COLUMNS: [&str; 2] = ["received", "request_id"];

/// Reads a batch file against the playbook's identity kinds.
pub fn read(path: &Path, kinds: &[String]) -> Result<(Vec<Subject>, Vec<BadRow>), UsageError> {
    let file = path.display().to_string();
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .trim(csv::Trim::All)
        .from_path(path)
        .map_err(|e| UsageError::new(format!("{file}: cannot read: {e}")))?;
    let header: Vec<String> = reader
        .headers()
        .map_err(|e| UsageError::new(format!("{file}:1: {e}")))?
        .iter()
        .map(str::to_string)
        .collect();
    let known: Vec<&str> = kinds
        .iter()
        .map(String::as_str)
        .chain(EXTRA_COLUMNS)
        .collect();
    for column in &header {
        if !known.contains(&column.as_str()) {
            let hint = match did_you_mean(column, known.iter().copied()) {
                Some(k) => format!("did you mean '{k}'?"),
                None => format!(
                    "columns are the playbook's identity kinds ({}) and {}",
                    kinds.join(", "),
                    EXTRA_COLUMNS.join(", ")
                ),
            };
            return Err(
                UsageError::new(format!("{file}:1: unknown column '{column}'")).with_hint(hint),
            );
        }
    }
    if !header.iter().any(|h| kinds.contains(h)) {
        return Err(
            UsageError::new(format!("{file}:1: no identity column")).with_hint(format!(
                "name at least one column after an identity kind: {}",
                kinds.join(", ")
            )),
        );
    }
    let mut good = Vec::new();
    let mut bad = Vec::new();
    for (i, record) in reader.records().enumerate() {
        let line = record
            .as_ref()
            .ok()
            .and_then(|r| r.position())
            .map(|p| p.line() as usize)
            .unwrap_or(i + 2);
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                bad.push(BadRow {
                    line,
                    message: e.to_string(),
                });
                continue;
            }
        };
        if record.iter().all(str::is_empty) {
            continue;
        }
        match subject(&header, &record, kinds, line) {
            Ok(s) => good.push(s),
            Err(message) => bad.push(BadRow { line, message }),
        }
    }
    Ok((good, bad))
}

fn subject(
    header: &[String],
    record: &csv::StringRecord,
    kinds: &[String],
    line: usize,
) -> Result<Subject, String> {
    let mut ids = Vec::new();
    let mut received = None;
    let mut request_id = None;
    for (column, value) in header.iter().zip(record.iter()) {
        if value.is_empty() {
            continue;
        }
        match column.as_str() {
            "received" => {
                crate::deadline::parse_received(value).map_err(|e| format!("received: {e}"))?;
                received = Some(value.to_string());
            }
            "request_id" => {
                let id = uuid::Uuid::parse_str(value)
                    .map_err(|_| "request_id: not a UUID".to_string())?;
                request_id = Some(id.hyphenated().to_string());
            }
            kind => ids.push(format!("{kind}={value}")),
        }
    }
    if record.len() > header.len() {
        return Err(format!(
            "{} values for {} columns",
            record.len(),
            header.len()
        ));
    }
    let ids = identity::parse(None, &ids, kinds).map_err(|e| e.message)?;
    Ok(Subject {
        line,
        ids,
        received,
        request_id,
    })
}

/// A request id that is the same every time the same row runs (so a rerun finds its request),
/// from the action, the subject's keyed hash and the received date. Keyed, so the id reveals
/// nothing about the person.
pub fn derived_request_id(action: &str, subject_hash: &str, received: Option<&str>) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(
        format!(
            "dsr-batch\n{action}\n{subject_hash}\n{}",
            received.unwrap_or("")
        )
        .as_bytes(),
    );
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    uuid::Uuid::new_v8(bytes).hyphenated().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds() -> Vec<String> {
        vec!["email".into(), "user_id".into()]
    }

    #[test]
    fn reads_good_rows_and_names_bad_ones() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("b.csv");
        std::fs::write(
            &path,
            "email,user_id,received\nalice@example.com,,2026-11-01\nnot-an-email,,\n,,\nbob@example.com,7,yesterday\n,42,\n",
        )
        .unwrap();
        let (good, bad) = read(&path, &kinds()).unwrap();
        assert_eq!(good.len(), 2);
        assert_eq!(good[0].line, 2);
        assert_eq!(good[0].received.as_deref(), Some("2026-11-01"));
        assert_eq!(good[1].ids.get("user_id"), ["42"]);
        assert_eq!(bad.iter().map(|b| b.line).collect::<Vec<_>>(), [3, 5]);
        assert_eq!(good[1].line, 6);
        assert!(bad[0].message.contains("not a valid email"), "{:?}", bad[0]);
        assert!(bad[1].message.starts_with("received:"), "{:?}", bad[1]);
    }

    #[test]
    fn a_wrong_header_is_an_error_for_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("b.csv");
        std::fs::write(&path, "emial\nalice@example.com\n").unwrap();
        let err = read(&path, &kinds()).unwrap_err();
        assert!(
            err.message.ends_with("b.csv:1: unknown column 'emial'"),
            "{}",
            err.message
        );
        assert_eq!(err.hint.as_deref(), Some("did you mean 'email'?"));
    }

    #[test]
    fn derived_ids_are_stable_and_distinct() {
        let a = derived_request_id("erase", "h1", None);
        assert_eq!(a, derived_request_id("erase", "h1", None));
        assert_ne!(a, derived_request_id("export", "h1", None));
        assert_ne!(a, derived_request_id("erase", "h1", Some("2026-01-01")));
        assert!(uuid::Uuid::parse_str(&a).is_ok());
    }
}
