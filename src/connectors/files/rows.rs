//! Row files (CSV, JSON Lines): scanning them piece by piece in file order, a cheap byte
//! prefilter, the CSV header, and each row's fingerprint and record.

use super::FileFormat;
use crate::connectors::{ConnectorError, Row};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::fs::File;
use std::io::{self, BufRead, BufReader};
use std::path::Path;

/// One piece of a row file, in file order.
pub(super) enum Piece<'a> {
    /// Bytes that are not a record (the CSV header, blank lines): copied as they are.
    Other(&'a [u8]),
    /// A record, with its bytes (line ending included) and its fields when they were wanted.
    Row { raw: &'a [u8], row: Option<Row> },
}

/// The fingerprint of a row: SHA-256 of its bytes without the line ending.
pub(super) fn fingerprint(raw: &[u8]) -> String {
    let trimmed = raw.strip_suffix(b"\n").unwrap_or(raw);
    let trimmed = trimmed.strip_suffix(b"\r").unwrap_or(trimmed);
    hex::encode(Sha256::digest(trimmed))
}

pub(super) fn is_blank(raw: &[u8]) -> bool {
    raw.iter().all(|b| matches!(b, b'\r' | b'\n'))
}

#[derive(Debug, thiserror::Error)]
pub(super) enum ScanError {
    #[error(transparent)]
    Io(#[from] io::Error),
    #[error("line {line} is not {what}")]
    Malformed { line: u64, what: &'static str },
    #[error(transparent)]
    Stop(#[from] ConnectorError),
}

/// Streams a row file piece by piece: memory holds one record at a time. A row's fields are
/// parsed only when `want` says so for its bytes (a rewrite needs none; a find only those
/// that can match), which keeps a pass over a large file cheap.
pub(super) fn scan(
    path: &Path,
    format: FileFormat,
    want: impl Fn(&[u8]) -> bool,
    mut f: impl FnMut(Piece<'_>) -> Result<(), ConnectorError>,
) -> Result<(), ScanError> {
    let mut reader = BufReader::with_capacity(256 * 1024, File::open(path)?);
    let mut raw: Vec<u8> = Vec::new();
    let mut header: Option<Vec<String>> = None;
    let mut line = 0u64;
    loop {
        raw.clear();
        line += 1;
        if reader.read_until(b'\n', &mut raw)? == 0 {
            return Ok(());
        }
        if is_blank(&raw) {
            f(Piece::Other(&raw))?;
            continue;
        }
        match format {
            FileFormat::Jsonl => {
                let row = if want(&raw) {
                    Some(
                        serde_json::from_slice::<Row>(&raw).map_err(|_| ScanError::Malformed {
                            line,
                            what: "a JSON object",
                        })?,
                    )
                } else {
                    None
                };
                f(Piece::Row { raw: &raw, row })?;
            }
            FileFormat::Csv => {
                // A record ends at a line break outside quotes; `""` inside quotes toggles twice.
                while memchr::memchr_iter(b'"', &raw).count() % 2 == 1 {
                    line += 1;
                    if reader.read_until(b'\n', &mut raw)? == 0 {
                        return Err(ScanError::Malformed {
                            line,
                            what: "a closed quoted field",
                        });
                    }
                }
                let malformed = ScanError::Malformed {
                    line,
                    what: "a CSV record",
                };
                match &header {
                    None => {
                        header = Some(csv_fields(&raw).ok_or(malformed)?);
                        f(Piece::Other(&raw))?;
                    }
                    Some(names) => {
                        let row = if want(&raw) {
                            let fields = csv_fields(&raw).ok_or(malformed)?;
                            let mut row = Row::new();
                            for (i, name) in names.iter().enumerate() {
                                let v = fields.get(i).cloned().map_or(Value::Null, Value::String);
                                row.insert(name.clone(), v);
                            }
                            Some(row)
                        } else {
                            None
                        };
                        f(Piece::Row { raw: &raw, row })?;
                    }
                }
            }
        }
    }
}

/// A cheap test on a row's bytes that every row holding one of `values` passes: the value's
/// bytes must appear in the row as they are. Values that a format may write differently (CSV
/// doubles `"`; JSON escapes `"`, `\`, `/` and may escape anything not ASCII) disable it.
pub(super) fn prefilter(format: FileFormat, values: &[String]) -> impl Fn(&[u8]) -> bool + use<> {
    let literal = values.iter().all(|v| match format {
        FileFormat::Csv => !v.contains('"'),
        FileFormat::Jsonl => v
            .chars()
            .all(|c| c.is_ascii_graphic() && !matches!(c, '"' | '\\' | '/') || c == ' '),
    });
    let finders: Option<Vec<memchr::memmem::Finder<'static>>> = literal.then(|| {
        values
            .iter()
            .map(|v| memchr::memmem::Finder::new(v.as_bytes()).into_owned())
            .collect()
    });
    move |raw: &[u8]| match &finders {
        None => true,
        Some(f) => f.iter().any(|f| f.find(raw).is_some()),
    }
}

/// The fields of one CSV record.
pub(super) fn csv_fields(raw: &[u8]) -> Option<Vec<String>> {
    let mut r = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .buffer_capacity(raw.len().max(64))
        .from_reader(raw);
    let mut rec = csv::ByteRecord::new();
    r.read_byte_record(&mut rec).ok()?;
    Some(
        rec.iter()
            .map(|f| String::from_utf8_lossy(f).into_owned())
            .collect(),
    )
}

/// A CSV file's column names (for the error that names a missing column).
pub(super) fn csv_header(path: &Path) -> io::Result<Option<Vec<String>>> {
    let mut found = None;
    let r = scan(
        path,
        FileFormat::Csv,
        |_| false,
        |p| {
            if let Piece::Other(raw) = p
                && !is_blank(raw)
            {
                found = csv_fields(raw);
                return Err(ConnectorError::Unsupported("stop"));
            }
            Ok(())
        },
    );
    match r {
        Ok(()) | Err(ScanError::Stop(_)) | Err(ScanError::Malformed { .. }) => Ok(found),
        Err(ScanError::Io(e)) => Err(e),
    }
}

/// A row as a record: its columns (those asked for), then `_file` and `_row`.
pub(super) fn row_record(row: Row, rel: &str, raw: &[u8], columns: Option<&[String]>) -> Row {
    let mut out: Row = match columns {
        None => row,
        Some(cols) => row
            .into_iter()
            .filter(|(k, _)| cols.iter().any(|c| c == k))
            .collect(),
    };
    out.insert("_file".into(), Value::String(rel.to_string()));
    out.insert("_row".into(), Value::String(fingerprint(raw)));
    out
}
