//! The audit log: `audit.jsonl` in the state directory, one canonical-JSON line per request
//! event (received, started, resumed, system_finished, completed, closed), append-only.
//!
//! Each line carries `seq` (1 on the first line, +1 each line) and `prev`, the SHA-256 of the
//! previous line's bytes (64 zeros on the first line). Editing, deleting, inserting or moving
//! a line breaks the chain at that point, and [`verify`] names the first bad line. The chain
//! holds no key: whoever can rewrite the whole file can rewrite the whole chain, and the newest
//! line can be edited unnoticed. Ship the log to append-only storage (or compare its last
//! `prev` with a copy) when that matters.
//!
//! Lines name the person only by the subject hash: never identity values, never row data.

use serde::Serialize;
use sha2::{Digest, Sha256};
use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

pub const FILE: &str = "audit.jsonl";
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error("the audit log {path}: {source}")]
    Io { path: String, source: io::Error },
    #[error(
        "the audit log {path} ends with a line that is not a dsr audit entry; run `dsr verify --audit-log {path}`"
    )]
    Corrupt { path: String },
}

/// One event, as the caller describes it; `seq`, `prev` and `at` are added on append.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Event {
    pub event: &'static str,
    pub request_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub action: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub operator: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub regulation: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub received: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub due: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub system: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub records: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub report_sha256: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deadline_met: Option<bool>,
    /// Why a request was closed by hand (`closed`), or its deadline extended (`received`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

#[derive(Debug, Clone)]
pub struct AuditLog {
    path: PathBuf,
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// The last line of a file (without its newline), reading backwards from the end.
fn last_line(f: &mut File) -> io::Result<Option<Vec<u8>>> {
    let len = f.seek(SeekFrom::End(0))?;
    if len == 0 {
        return Ok(None);
    }
    let mut chunk = 4096u64;
    loop {
        let start = len.saturating_sub(chunk);
        f.seek(SeekFrom::Start(start))?;
        let mut buf = Vec::with_capacity((len - start) as usize);
        Read::by_ref(f).take(len - start).read_to_end(&mut buf)?;
        let body = buf.strip_suffix(b"\n").unwrap_or(&buf);
        if let Some(pos) = body.iter().rposition(|b| *b == b'\n') {
            return Ok(Some(body[pos + 1..].to_vec()));
        }
        if start == 0 {
            return Ok(Some(body.to_vec()));
        }
        chunk *= 4;
    }
}

impl AuditLog {
    pub fn in_dir(dir: &Path) -> Self {
        Self {
            path: dir.join(FILE),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn io(&self) -> impl FnOnce(io::Error) -> AuditError + '_ {
        |source| AuditError::Io {
            path: self.path.display().to_string(),
            source,
        }
    }

    /// Appends one event under an exclusive lock (several dsr processes may share the state
    /// directory). Returns the new line's `seq`.
    pub fn append(&self, event: &Event) -> Result<u64, AuditError> {
        self.append_all(std::slice::from_ref(event))
    }

    /// Appends events in order under one exclusive lock, with one write and one sync for all
    /// of them: the chain is the same as appending them one by one. Returns the last `seq`.
    pub fn append_all(&self, events: &[Event]) -> Result<u64, AuditError> {
        let mut options = OpenOptions::new();
        options.read(true).append(true).create(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut f = options.open(&self.path).map_err(self.io())?;
        f.lock().map_err(self.io())?;
        let (mut seq, mut prev) = match last_line(&mut f).map_err(self.io())? {
            None => (0, GENESIS.to_string()),
            Some(line) => {
                let seq = serde_json::from_slice::<serde_json::Value>(&line)
                    .ok()
                    .and_then(|v| v.get("seq").and_then(serde_json::Value::as_u64))
                    .ok_or_else(|| AuditError::Corrupt {
                        path: self.path.display().to_string(),
                    })?;
                (seq, sha256_hex(&line))
            }
        };
        let mut lines = Vec::new();
        for event in events {
            seq += 1;
            let mut value = serde_json::to_value(event).unwrap_or_default();
            if let serde_json::Value::Object(map) = &mut value {
                map.insert("seq".into(), seq.into());
                map.insert("prev".into(), prev.into());
                map.insert("at".into(), crate::timestamp::now().into());
            }
            let line = crate::output::report::canonical_json(&value).unwrap_or_default();
            prev = sha256_hex(&line);
            lines.extend_from_slice(&line);
            lines.push(b'\n');
        }
        f.write_all(&lines).map_err(self.io())?;
        f.sync_data().map_err(self.io())?;
        Ok(seq)
    }

    /// [`AuditLog::append_all`] on a blocking thread, so that the sync does not hold up the
    /// async tasks running beside it.
    pub async fn append_all_async(&self, events: Vec<Event>) -> Result<u64, AuditError> {
        let log = self.clone();
        tokio::task::spawn_blocking(move || log.append_all(&events))
            .await
            .map_err(|e| AuditError::Io {
                path: self.path.display().to_string(),
                source: io::Error::other(e),
            })?
    }
}

/// The first place the chain breaks.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct Broken {
    /// 1-based line number of the first bad line.
    pub line: usize,
    pub message: String,
}

#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error("cannot read the audit log {path}: {source}")]
    Io { path: String, source: io::Error },
    #[error(transparent)]
    Broken(#[from] Broken),
}

/// The longest line `verify` reads.
const MAX_LINE_BYTES: u64 = 1024 * 1024;

/// Checks the whole chain; returns how many lines are intact.
pub fn verify(path: &Path) -> Result<usize, VerifyError> {
    let io_err = |source| VerifyError::Io {
        path: path.display().to_string(),
        source,
    };
    let mut reader = BufReader::new(File::open(path).map_err(io_err)?);
    let mut hashes: Vec<String> = Vec::new(); // hash of each line so far
    for i in 0.. {
        let n = i + 1;
        let bad = |line: usize, message: String| Err(Broken { line, message }.into());
        // One event is a few hundred bytes; a longer "line" (or an endless file such as
        // /dev/zero) is not read whole.
        let mut line = Vec::new();
        let read = (&mut reader)
            .take(MAX_LINE_BYTES + 1)
            .read_until(b'\n', &mut line)
            .map_err(io_err)?;
        if read == 0 {
            break;
        }
        if line.last() == Some(&b'\n') {
            line.pop();
        } else if line.len() as u64 > MAX_LINE_BYTES {
            return bad(
                n,
                format!("is longer than {MAX_LINE_BYTES} bytes: not an audit event"),
            );
        }
        let Ok(value) = serde_json::from_slice::<serde_json::Value>(&line) else {
            return bad(n, "not a JSON object: the line was changed".into());
        };
        let seq = value.get("seq").and_then(serde_json::Value::as_u64);
        let prev = value.get("prev").and_then(serde_json::Value::as_str);
        let (Some(seq), Some(prev)) = (seq, prev) else {
            return bad(n, "has no seq or prev: the line was changed".into());
        };
        let expected_prev = hashes.last().map(String::as_str).unwrap_or(GENESIS);
        if prev != expected_prev {
            if seq == n as u64 && n > 1 {
                // This line is in its place; the one before it no longer hashes to what this
                // line recorded.
                return bad(
                    n - 1,
                    format!("was changed (line {n} records a different hash for it)"),
                );
            }
            if n >= 2 && hashes.len() >= 2 && prev == hashes[n - 3] {
                return bad(
                    n - 1,
                    "was inserted (the line after it chains to the line before it)".into(),
                );
            }
            if seq > n as u64 {
                return bad(
                    n,
                    format!(
                        "has seq {seq} where {n} was expected: a line before it was deleted, or lines were moved"
                    ),
                );
            }
            return bad(
                n,
                format!(
                    "has seq {seq} where {n} was expected and does not chain to line {}: lines were inserted or moved",
                    n - 1
                ),
            );
        }
        if seq != n as u64 {
            return bad(
                n,
                format!("has seq {seq} where {n} was expected: lines were inserted or moved"),
            );
        }
        if canonical_text(&value).as_deref() != Some(line.as_slice()) {
            return bad(
                n,
                "is not in canonical form: the line was re-written or changed".into(),
            );
        }
        hashes.push(sha256_hex(&line));
    }
    Ok(hashes.len())
}

fn canonical_text(value: &serde_json::Value) -> Option<Vec<u8>> {
    crate::output::report::canonical_json(value).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn log_with(n: usize) -> (tempfile::TempDir, AuditLog) {
        let dir = tempfile::tempdir().unwrap();
        let log = AuditLog::in_dir(dir.path());
        for i in 0..n {
            let seq = log
                .append(&Event {
                    event: "started",
                    request_id: format!("r{i}"),
                    ..Default::default()
                })
                .unwrap();
            assert_eq!(seq, i as u64 + 1);
        }
        (dir, log)
    }

    fn lines(log: &AuditLog) -> Vec<String> {
        std::fs::read_to_string(log.path())
            .unwrap()
            .lines()
            .map(str::to_string)
            .collect()
    }

    fn rewrite(log: &AuditLog, lines: &[String]) {
        std::fs::write(log.path(), lines.join("\n") + "\n").unwrap();
    }

    fn broken_at(log: &AuditLog) -> usize {
        match verify(log.path()) {
            Err(VerifyError::Broken(b)) => b.line,
            other => panic!("expected a broken chain, got {other:?}"),
        }
    }

    #[test]
    fn an_intact_log_verifies() {
        let (_d, log) = log_with(5);
        assert_eq!(verify(log.path()).unwrap(), 5);
        let first: serde_json::Value = serde_json::from_str(&lines(&log)[0]).unwrap();
        assert_eq!(first["prev"], GENESIS);
        assert_eq!(first["seq"], 1);
    }

    #[test]
    fn each_kind_of_tampering_names_the_first_bad_line() {
        // Edited: line 2's request id changed.
        let (_d, log) = log_with(5);
        let mut l = lines(&log);
        l[1] = l[1].replace("\"r1\"", "\"rX\"");
        rewrite(&log, &l);
        assert_eq!(broken_at(&log), 2);

        // Deleted: line 3 removed.
        let (_d, log) = log_with(5);
        let mut l = lines(&log);
        l.remove(2);
        rewrite(&log, &l);
        assert_eq!(broken_at(&log), 3);

        // Inserted: a copy of line 2 after line 3.
        let (_d, log) = log_with(5);
        let mut l = lines(&log);
        let copy = l[1].clone();
        l.insert(3, copy);
        rewrite(&log, &l);
        assert_eq!(broken_at(&log), 4);

        // Reordered: lines 3 and 4 swapped.
        let (_d, log) = log_with(5);
        let mut l = lines(&log);
        l.swap(2, 3);
        rewrite(&log, &l);
        assert_eq!(broken_at(&log), 3);
    }

    #[test]
    fn a_forged_line_that_chains_is_caught_as_inserted() {
        let (_d, log) = log_with(3);
        let mut l = lines(&log);
        // A forger who recomputes prev and seq for the inserted line still breaks the next one.
        let prev = sha256_hex(l[0].as_bytes());
        let forged = format!(
            "{{\"at\":\"2026-01-01T00:00:00Z\",\"event\":\"started\",\"prev\":\"{prev}\",\"request_id\":\"evil\",\"seq\":2}}"
        );
        l.insert(1, forged);
        rewrite(&log, &l);
        assert_eq!(broken_at(&log), 2);
    }
}
