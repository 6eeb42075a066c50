//! Files on disk, under the directory a system's `path:` names (relative to the playbook, or
//! absolute). Two kinds of collection:
//!
//! - **Whole files** (no `format`): `path: uploads/{user_id}/*` is a template (see
//!   [`super::template`]; `*` and `?` match within one path segment). A match that is a
//!   directory stands for every file under it. One record per file, `{path, bytes, sha256,
//!   modified}`, with `path` relative to the system's directory; the file itself goes into the
//!   export bundle through [`RowSink::file`]. The key is `path`; erase deletes the file.
//! - **Rows** (`format: csv` or `jsonl`): `path` names the file (or files, with `*`) and the
//!   records are the rows whose `match` columns hold a searched-for value (compared as text).
//!   Each record carries `_file` and `_row`, the SHA-256 of the row's bytes (without its line
//!   ending), which together are the key. A fingerprint rather than a line number: if lines
//!   are added or removed between the read and the write phase, the fingerprint still names
//!   the same row, and a row that changed is left alone rather than a neighbour deleted.
//!   Erase rewrites the file without those rows, streaming into a temporary file in the same
//!   directory that is then renamed over the original (atomic: readers see the old file or
//!   the new one), so memory stays flat however large the file is. Bytes of other rows,
//!   blank lines and the header are copied unchanged.
//!
//! CSV files are RFC 4180 (a header line; fields quoted with `"`, which may hold line breaks).
//! Symbolic links are never followed: a link cannot lead a read or a delete out of the
//! system's directory. Values that would change the path's shape (holding `/`, `\`, or being
//! `.` or `..`) are never put into a path.

use super::sql::{scrub, value_text};
use super::template::{self, Template};
use super::{Connector, ConnectorError, FindRequest, KeyLookup, Row, RowSink, WriteRequest};
use crate::playbook::CollectionSpec;
use crate::playbook::interpolate;
use config::{Collection, Config};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet};
use std::fs::{self, File};
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

pub mod config;
mod rows;
mod walk;

use rows::*;
use walk::*;

/// What a files collection's records are, when they are rows rather than whole files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileFormat {
    Csv,
    Jsonl,
}

impl FileFormat {
    pub const NAMES: [&'static str; 2] = ["csv", "jsonl"];

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "csv" => Some(Self::Csv),
            "jsonl" | "ndjson" => Some(Self::Jsonl),
            _ => None,
        }
    }
}

/// The key columns of whole-file records.
pub const FILE_KEY: [&str; 1] = ["path"];
/// The key columns of row records.
pub const ROW_KEY: [&str; 2] = ["_file", "_row"];

/// Patterns one collection may expand to (values × templates).
const MAX_PATTERNS: usize = 10_000;

/// Why a collection's path cannot be used: it must stay inside the system's directory.
pub fn check_relative(path: &str) -> Option<String> {
    if path.starts_with('/') || path.starts_with('\\') {
        return Some(format!(
            "'{path}' is absolute; a collection's path is relative to the system's `path:`"
        ));
    }
    if path
        .split(['/', '\\'])
        .any(|seg| seg == ".." || seg == "." || seg.is_empty())
    {
        return Some(format!(
            "'{path}' has an empty, '.' or '..' segment; it must stay inside the system's directory"
        ));
    }
    None
}

pub struct FilesConnector {
    root: PathBuf,
    collections: BTreeMap<String, Collection>,
}

impl FilesConnector {
    pub fn open(cfg: &Config, base_dir: &Path) -> Result<Self, ConnectorError> {
        let path = interpolate::resolve(&cfg.path, base_dir)
            .map_err(|e| ConnectorError::Config(e.to_string()))?;
        let root = base_dir.join(path.expose());
        if !root.is_dir() {
            return Err(ConnectorError::Config(format!(
                "directory {} not found",
                root.display()
            )));
        }
        Ok(Self {
            root,
            collections: cfg.collections.clone(),
        })
    }

    /// What the playbook says of `collection`: its path templates and format.
    fn coll(&self, collection: &CollectionSpec) -> Result<&Collection, ConnectorError> {
        self.collections
            .get(&collection.id.collection)
            .ok_or_else(|| {
                ConnectorError::Config(format!("no path configured for {}", collection.id))
            })
    }
}

/// Runs blocking file work without stalling the other systems' steps.
fn blocking<T>(f: impl FnOnce() -> T) -> T {
    match tokio::runtime::Handle::try_current() {
        Ok(h) if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(f)
        }
        _ => f(),
    }
}

/// An I/O error as a connector error, naming the file relative to the system's directory with
/// the searched-for values scrubbed (paths can hold identities).
fn io_error<'v>(
    what: &str,
    rel: &str,
    e: &io::Error,
    values: impl IntoIterator<Item = &'v Value>,
) -> ConnectorError {
    ConnectorError::Query {
        message: scrub(&format!("cannot {what} {rel}: {}", e.kind()), values),
        transient: false,
    }
}

/// A reader that hashes and counts what passes through.
pub(super) struct HashingReader<R> {
    pub(super) inner: R,
    pub(super) hasher: Sha256,
    pub(super) bytes: u64,
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }
}

impl FilesConnector {
    fn scan_error<'v>(
        &self,
        rel: &str,
        e: ScanError,
        values: impl IntoIterator<Item = &'v Value>,
    ) -> ConnectorError {
        match e {
            ScanError::Io(e) => io_error("read", rel, &e, values),
            ScanError::Stop(e) => e,
            m @ ScanError::Malformed { .. } => ConnectorError::Query {
                message: scrub(&format!("{rel}: {m}"), values),
                transient: false,
            },
        }
    }

    /// The files a whole-file collection's templates match for these values.
    fn matching_files(
        &self,
        templates: &[Template],
        values: &BTreeMap<String, Vec<Value>>,
        err_values: &[&Value],
    ) -> Result<Vec<PathBuf>, ConnectorError> {
        let mut out = BTreeSet::new();
        for t in templates {
            let patterns = t
                .expand(values, template::escape_glob, path_safe, MAX_PATTERNS)
                .ok_or_else(|| {
                    ConnectorError::Config(format!(
                        "the path template expands to more than {MAX_PATTERNS} patterns"
                    ))
                })?;
            for p in patterns {
                let found = glob_files(&self.root, &p.pattern)
                    .map_err(|e| io_error("list", &p.literal, &e, err_values.iter().copied()))?;
                out.extend(found);
            }
        }
        Ok(out.into_iter().collect())
    }

    fn find_files(
        &self,
        req: &FindRequest<'_>,
        sink: &mut dyn RowSink,
    ) -> Result<u64, ConnectorError> {
        let values = template::values_by_name(&req.by_column());
        let err_values: Vec<&Value> = super::sql::find_values(req).collect();
        let files =
            self.matching_files(&self.coll(req.collection)?.templates, &values, &err_values)?;
        let wanted = |c: &str| {
            req.columns
                .is_none_or(|cols| c == "path" || cols.iter().any(|x| x == c))
        };
        let mut count = 0;
        for rel in files {
            let rel_s = rel_text(&rel);
            let err =
                |what: &str, e: &io::Error| io_error(what, &rel_s, e, err_values.iter().copied());
            let file = File::open(self.root.join(&rel)).map_err(|e| err("read", &e))?;
            let meta = file.metadata().map_err(|e| err("read", &e))?;
            let mut reader = HashingReader {
                inner: BufReader::with_capacity(256 * 1024, file),
                hasher: Sha256::new(),
                bytes: 0,
            };
            let kept = sink.file(&rel_s, &mut reader)?;
            if !kept || reader.bytes < meta.len() {
                io::copy(&mut reader, &mut io::sink()).map_err(|e| err("read", &e))?;
            }
            let mut row = Row::new();
            row.insert("path".into(), Value::String(rel_s.clone()));
            if wanted("bytes") {
                row.insert("bytes".into(), Value::from(reader.bytes));
            }
            if wanted("sha256") {
                row.insert(
                    "sha256".into(),
                    Value::String(hex::encode(reader.hasher.finalize())),
                );
            }
            if wanted("modified") {
                let modified = meta
                    .modified()
                    .ok()
                    .and_then(|t| jiff::Timestamp::try_from(t).ok())
                    .map_or(Value::Null, |t| Value::String(t.to_string()));
                row.insert("modified".into(), modified);
            }
            sink.row(row)?;
            count += 1;
        }
        Ok(count)
    }

    /// The row files of a row collection (its path, with `*` allowed).
    fn row_files(&self, collection: &CollectionSpec) -> Result<Vec<PathBuf>, ConnectorError> {
        let mut out = BTreeSet::new();
        for t in &self.coll(collection)?.templates {
            let text = row_pattern(t);
            let found = glob_files(&self.root, &text)
                .map_err(|e| io_error("list", &text, &e, std::iter::empty()))?;
            if found.is_empty() && !has_wildcard(&text) {
                return Err(ConnectorError::NoTable(text));
            }
            out.extend(found);
        }
        Ok(out.into_iter().collect())
    }

    fn find_rows(
        &self,
        req: &FindRequest<'_>,
        format: FileFormat,
        sink: &mut dyn RowSink,
    ) -> Result<u64, ConnectorError> {
        let err_values: Vec<&Value> = super::sql::find_values(req).collect();
        let wanted: Vec<(String, BTreeSet<String>)> = req
            .by_column()
            .iter()
            .map(|(c, vs)| (c.clone(), vs.iter().map(value_text).collect()))
            .collect();
        let mut count = 0;
        for rel in self.row_files(req.collection)? {
            let rel_s = rel_text(&rel);
            let path = self.root.join(&rel);
            if format == FileFormat::Csv {
                let header = csv_header(&path)
                    .map_err(|e| io_error("read", &rel_s, &e, err_values.iter().copied()))?
                    .unwrap_or_default();
                for (c, _) in &wanted {
                    if !header.contains(c) {
                        return Err(ConnectorError::NoColumn {
                            table: rel_s.clone(),
                            column: c.clone(),
                            available: header.join(", "),
                        });
                    }
                }
            }
            let all_values: Vec<String> =
                wanted.iter().flat_map(|(_, v)| v.iter().cloned()).collect();
            scan(&path, format, prefilter(format, &all_values), |piece| {
                let Piece::Row {
                    raw,
                    row: Some(row),
                } = piece
                else {
                    return Ok(());
                };
                let hit = wanted.iter().any(|(c, vs)| {
                    row.get(c)
                        .is_some_and(|v| !v.is_null() && vs.contains(&value_text(v)))
                });
                if hit {
                    sink.row(row_record(row, &rel_s, raw, req.columns))?;
                    count += 1;
                }
                Ok(())
            })
            .map_err(|e| self.scan_error(&rel_s, e, err_values.iter().copied()))?;
        }
        Ok(count)
    }

    /// Rewrites one row file without the rows whose fingerprint is in `drop`, and returns the
    /// record of it. Written to a temporary file beside it, then renamed over it; a file with
    /// none of those rows is left as it was.
    fn rewrite(
        &self,
        rel: &str,
        format: FileFormat,
        drop: &BTreeSet<String>,
    ) -> Result<Rewrite, ConnectorError> {
        let path = self.root.join(rel);
        let err = |what: &str, e: &io::Error| io_error(what, rel, e, std::iter::empty());
        let meta = fs::symlink_metadata(&path).map_err(|e| err("read", &e))?;
        if !meta.is_file() {
            return Err(ConnectorError::Config(format!(
                "{rel} is not a regular file"
            )));
        }
        let dir = path.parent().unwrap_or(&self.root);
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let tmp = dir.join(format!(".{name}.dsr-{}.tmp", std::process::id()));
        let result = (|| {
            let file = fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&tmp)
                .map_err(|e| err("write beside", &e))?;
            file.set_permissions(meta.permissions())
                .map_err(|e| err("write beside", &e))?;
            let mut out = BufWriter::with_capacity(256 * 1024, file);
            let mut record = Rewrite::default();
            let (mut before, mut after) = (Sha256::new(), Sha256::new());
            let mut write_err: Option<io::Error> = None;
            scan(
                &path,
                format,
                |_| false,
                |piece| {
                    let bytes = match piece {
                        Piece::Other(raw) => raw,
                        Piece::Row { raw, .. } if drop.contains(&fingerprint(raw)) => {
                            before.update(raw);
                            record.bytes_before += raw.len() as u64;
                            record.removed += 1;
                            return Ok(());
                        }
                        Piece::Row { raw, .. } => raw,
                    };
                    before.update(bytes);
                    after.update(bytes);
                    record.bytes_before += bytes.len() as u64;
                    record.bytes_after += bytes.len() as u64;
                    if let Err(e) = out.write_all(bytes) {
                        write_err = Some(e);
                        return Err(ConnectorError::Unsupported("stop"));
                    }
                    Ok(())
                },
            )
            .map_err(|e| match write_err.take() {
                Some(w) => err("write beside", &w),
                None => self.scan_error(rel, e, std::iter::empty()),
            })?;
            let file = out
                .into_inner()
                .map_err(|e| err("write beside", e.error()))?;
            file.sync_all().map_err(|e| err("write beside", &e))?;
            record.sha256_before = hex::encode(before.finalize());
            record.sha256_after = hex::encode(after.finalize());
            Ok::<Rewrite, ConnectorError>(record)
        })();
        match result {
            Ok(record) if record.removed == 0 => {
                let _ = fs::remove_file(&tmp);
                Ok(record)
            }
            Ok(record) => {
                fs::rename(&tmp, &path).map_err(|e| {
                    let _ = fs::remove_file(&tmp);
                    err("replace", &e)
                })?;
                if let Ok(d) = File::open(dir) {
                    let _ = d.sync_all();
                }
                Ok(record)
            }
            Err(e) => {
                let _ = fs::remove_file(&tmp);
                Err(e)
            }
        }
    }

    fn write_all(
        &self,
        writes: &[WriteRequest<'_>],
    ) -> Result<Vec<super::WriteOutcome>, ConnectorError> {
        let mut outcomes = Vec::new();
        for w in writes {
            let mut changed = 0;
            let mut notes = Vec::new();
            match self.coll(w.collection)?.format {
                None => {
                    for c in w.changes {
                        if c.set.is_some() {
                            return Err(ConnectorError::Unsupported(
                                "changing the content of files (masks, corrections)",
                            ));
                        }
                        let rel = key_path(&c.key)?;
                        let full = self.root.join(&rel);
                        match fs::symlink_metadata(&full) {
                            Ok(m) if m.is_file() => {
                                fs::remove_file(&full).map_err(|e| {
                                    io_error("delete", &rel, &e, std::iter::empty())
                                })?;
                                changed += 1;
                                self.prune(&rel, fixed_depth(&self.coll(w.collection)?.templates));
                            }
                            _ => {}
                        }
                    }
                }
                Some(format) => {
                    let mut by_file: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
                    for c in w.changes {
                        if c.set.is_some() {
                            return Err(ConnectorError::Unsupported(
                                "changing rows of files (masks, corrections)",
                            ));
                        }
                        let rel = key_path(&c.key)?;
                        let row = c.key.get(1).and_then(Value::as_str).ok_or_else(|| {
                            ConnectorError::Config("a change has no row fingerprint".into())
                        })?;
                        by_file.entry(rel).or_default().insert(row.to_string());
                    }
                    let named = !self
                        .coll(w.collection)?
                        .templates
                        .iter()
                        .any(|t| has_wildcard(&row_pattern(t)));
                    for (rel, drop) in by_file {
                        let record = self.rewrite(&rel, format, &drop)?;
                        changed += record.removed;
                        if record.removed > 0 {
                            notes.push(record.note(named.then_some(rel.as_str())));
                        }
                    }
                }
            }
            outcomes.push(super::WriteOutcome { changed, notes });
        }
        Ok(outcomes)
    }

    /// Removes the directories a delete left empty, deepest first, but none of the
    /// `keep_depth` leading segments that the template names literally: a directory such as
    /// `uploads/alice@example.com/` is personal data too, `uploads/` is not.
    fn prune(&self, rel: &str, keep_depth: usize) {
        let mut dir = Path::new(rel).parent();
        while let Some(d) = dir {
            if d.components().count() <= keep_depth || fs::remove_dir(self.root.join(d)).is_err() {
                break;
            }
            dir = d.parent();
        }
    }

    fn lookup(&self, req: &KeyLookup<'_>, sink: &mut dyn RowSink) -> Result<u64, ConnectorError> {
        let mut count = 0;
        match self.coll(req.collection)?.format {
            None => {
                for k in req.keys {
                    let rel = key_path(k)?;
                    if fs::symlink_metadata(self.root.join(&rel)).is_ok_and(|m| m.is_file()) {
                        let mut row = Row::new();
                        row.insert("path".into(), Value::String(rel));
                        sink.row(row)?;
                        count += 1;
                    }
                }
            }
            Some(format) => {
                let mut by_file: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
                for k in req.keys {
                    let rel = key_path(k)?;
                    if let Some(r) = k.get(1).and_then(Value::as_str) {
                        by_file.entry(rel).or_default().insert(r.to_string());
                    }
                }
                for (rel, rows) in by_file {
                    let path = self.root.join(&rel);
                    if !path.is_file() {
                        continue;
                    }
                    let wanted = |raw: &[u8]| rows.contains(&fingerprint(raw));
                    scan(&path, format, wanted, |piece| {
                        if let Piece::Row {
                            raw,
                            row: Some(row),
                        } = piece
                        {
                            sink.row(row_record(row, &rel, raw, req.columns))?;
                            count += 1;
                        }
                        Ok(())
                    })
                    .map_err(|e| self.scan_error(&rel, e, std::iter::empty()))?;
                }
            }
        }
        Ok(count)
    }
}

/// A row collection's path pattern: its template's text (row files are shared by many
/// people, so their path takes no values).
fn row_pattern(t: &Template) -> String {
    t.parts
        .iter()
        .map(|p| match p {
            template::Part::Text(t) => t.as_str(),
            template::Part::Placeholder(_) => "",
        })
        .collect()
}

/// The record of one row file's rewrite, for the signed report: what was removed, and the
/// file's SHA-256 before and after, so an auditor can match them against copies or backups.
#[derive(Debug, Default)]
struct Rewrite {
    removed: u64,
    bytes_before: u64,
    bytes_after: u64,
    sha256_before: String,
    sha256_after: String,
}

impl Rewrite {
    /// The report's note. `path` is given when the playbook names the file exactly; a file
    /// found by a wildcard is not named, since its name is not the playbook's own text.
    fn note(&self, path: Option<&str>) -> String {
        let file = path.map_or_else(|| "a row file".to_string(), str::to_string);
        format!(
            "rewrote {file} without {} row{}: {} -> {} bytes, sha256 {} -> {}",
            self.removed,
            if self.removed == 1 { "" } else { "s" },
            self.bytes_before,
            self.bytes_after,
            self.sha256_before,
            self.sha256_after
        )
    }
}

/// How many leading path segments every template names literally (before any placeholder or
/// wildcard).
fn fixed_depth(templates: &[Template]) -> usize {
    templates
        .iter()
        .map(|t| {
            let mut prefix = String::new();
            for p in &t.parts {
                match p {
                    template::Part::Text(text) => match text.find(['*', '?']) {
                        Some(i) => {
                            prefix.push_str(&text[..i]);
                            break;
                        }
                        None => prefix.push_str(text),
                    },
                    template::Part::Placeholder(_) => break,
                }
            }
            prefix.matches('/').count()
        })
        .min()
        .unwrap_or(0)
}

/// The relative path a key names, refused when it could leave the system's directory.
fn key_path(key: &[Value]) -> Result<String, ConnectorError> {
    let rel = key
        .first()
        .and_then(Value::as_str)
        .ok_or_else(|| ConnectorError::Config("a change has no path".into()))?;
    if check_relative(rel).is_some() {
        return Err(ConnectorError::Config(
            "a change names a path outside the system's directory".into(),
        ));
    }
    Ok(rel.to_string())
}

#[async_trait::async_trait]
impl Connector for FilesConnector {
    async fn find(
        &self,
        req: &FindRequest<'_>,
        sink: &mut dyn RowSink,
    ) -> Result<u64, ConnectorError> {
        blocking(|| match self.coll(req.collection)?.format {
            None => self.find_files(req, sink),
            Some(format) => self.find_rows(req, format, sink),
        })
    }

    async fn key_columns(
        &self,
        collection: &CollectionSpec,
    ) -> Result<Vec<String>, ConnectorError> {
        let key: &[&str] = match self.coll(collection)?.format {
            None => &FILE_KEY,
            Some(_) => &ROW_KEY,
        };
        Ok(key.iter().map(|s| s.to_string()).collect())
    }

    async fn write(
        &self,
        writes: &[WriteRequest<'_>],
    ) -> Result<Vec<super::WriteOutcome>, ConnectorError> {
        blocking(|| self.write_all(writes))
    }

    async fn find_by_keys(
        &self,
        req: &KeyLookup<'_>,
        sink: &mut dyn RowSink,
    ) -> Result<u64, ConnectorError> {
        blocking(|| self.lookup(req, sink))
    }
}


/// Opens a files system: its directory must exist.
pub async fn open(
    _system: &super::SystemSpec,
    cfg: &Config,
    base_dir: &Path,
) -> Result<std::sync::Arc<dyn Connector>, ConnectorError> {
    Ok(std::sync::Arc::new(FilesConnector::open(cfg, base_dir)?))
}

#[cfg(test)]
mod tests;
