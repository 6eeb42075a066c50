//! The export bundle: per system and collection one JSON and one CSV file, written as rows
//! arrive, each hashed while it is written; then `manifest.json` with every file's SHA-256
//! and size. Directories are created 0700 and files 0600: the bundle is personal data.
//!
//! Connectors whose records are files (the files connector) hand each file to the sink with
//! [`RowSink::file`]; it is streamed to `<system>/<collection>/<name>`, hashed on the way, and
//! listed in the manifest like every other file of the bundle.

use crate::connectors::{Row, RowSink, SinkError};
use crate::playbook::CollectionId;
use crate::run::{Handler, StepSink};
use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// One file in the manifest.
#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct FileEntry {
    /// Path relative to the bundle directory, `/`-separated.
    pub path: String,
    pub bytes: u64,
    pub sha256: String,
}

/// A file name from a playbook name: only `[A-Za-z0-9_-]`, never empty, never `..`.
pub fn safe_name(name: &str) -> String {
    let cleaned: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if cleaned.is_empty() || cleaned.chars().all(|c| c == '_') {
        "_".repeat(cleaned.len().max(1)) + "unnamed"
    } else {
        cleaned
    }
}

pub fn create_private_dir(path: &Path) -> io::Result<()> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(path)
}

/// Sets an existing directory to 0700.
pub fn make_private(dir: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if fs::metadata(dir)?.permissions().mode() & 0o077 != 0 {
            fs::set_permissions(dir, fs::Permissions::from_mode(0o700))?;
        }
    }
    Ok(())
}

pub fn create_private_file(path: &Path) -> io::Result<File> {
    let mut options = OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)
}

/// A writer that hashes and counts what passes through.
struct Hashing<W: Write> {
    inner: W,
    hasher: Sha256,
    bytes: u64,
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Writes a whole file (small ones: manifest, index, report) and returns its entry.
pub fn write_file(dir: &Path, relative: &str, contents: &[u8]) -> io::Result<FileEntry> {
    let mut f = create_private_file(&dir.join(relative))?;
    f.write_all(contents)?;
    f.sync_all()?;
    Ok(FileEntry {
        path: relative.to_string(),
        bytes: contents.len() as u64,
        sha256: hex::encode(Sha256::digest(contents)),
    })
}

/// The bundle directory and the files written into it so far. A clone is the same bundle: it
/// shares the list of files.
#[derive(Clone)]
pub struct Bundle {
    dir: PathBuf,
    files: Arc<Mutex<Vec<FileEntry>>>,
    /// Data files written but not yet synced to disk (see [`Bundle::sync_pending`]).
    unsynced: Arc<Mutex<Vec<PathBuf>>>,
}

impl Bundle {
    /// Creates the directory; refuses one that exists and is not empty, so that an earlier
    /// export is never mixed with or overwritten by this one.
    pub fn create(dir: &Path) -> io::Result<Self> {
        if dir.exists() && fs::read_dir(dir)?.next().is_some() {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                format!("{} exists and is not empty", dir.display()),
            ));
        }
        create_private_dir(dir)?;
        // An empty directory given with --out keeps its mode when "created": make it private
        // like a new one, since it is about to hold personal data.
        make_private(dir)?;
        Ok(Self {
            dir: dir.to_path_buf(),
            files: Arc::default(),
            unsynced: Arc::default(),
        })
    }

    /// A directory for a request's report files (erase, correct). Unlike an export bundle it
    /// may exist already: a resumed request writes its report again, replacing the old one.
    pub fn for_report(dir: &Path) -> io::Result<Self> {
        create_private_dir(dir)?;
        Ok(Self {
            dir: dir.to_path_buf(),
            files: Arc::default(),
            unsynced: Arc::default(),
        })
    }

    /// Opens the bundle of an export that is resumed. Data files that `keep` accepts (those
    /// of steps that finished) stay and are listed again with their hashes; the others are
    /// removed, since their steps run again and write them anew. The index page, the report
    /// and the manifest at the top are left to be written again when the export finishes.
    pub fn reopen(dir: &Path, keep: impl Fn(&str) -> bool) -> io::Result<Self> {
        const REWRITTEN: [&str; 5] = [
            "index.html",
            "report.json",
            "report.json.sig",
            "report.md",
            "manifest.json",
        ];
        if !dir.is_dir() {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!("{} is not a directory", dir.display()),
            ));
        }
        let bundle = Self {
            dir: dir.to_path_buf(),
            files: Arc::default(),
            unsynced: Arc::default(),
        };
        let mut folders = vec![String::new()];
        while let Some(folder) = folders.pop() {
            for entry in fs::read_dir(dir.join(&folder))? {
                let entry = entry?;
                let name = entry.file_name().to_string_lossy().into_owned();
                let relative = if folder.is_empty() {
                    name
                } else {
                    format!("{folder}/{name}")
                };
                let kind = entry.file_type()?;
                if kind.is_dir() {
                    folders.push(relative);
                } else if !kind.is_file() || REWRITTEN.contains(&relative.as_str()) {
                    continue;
                } else if keep(&relative) {
                    let (bytes, sha256) = hash_file(&entry.path())?;
                    bundle.push(FileEntry {
                        path: relative,
                        bytes,
                        sha256,
                    });
                } else {
                    fs::remove_file(entry.path())?;
                }
            }
        }
        Ok(bundle)
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Adds a small file written in one go.
    pub fn add(&self, relative: &str, contents: &[u8]) -> io::Result<FileEntry> {
        let entry = write_file(&self.dir, relative, contents)?;
        self.push(entry.clone());
        Ok(entry)
    }

    fn push(&self, entry: FileEntry) {
        if let Ok(mut files) = self.files.lock() {
            files.retain(|f| f.path != entry.path);
            files.push(entry);
        }
    }

    /// Syncs to disk every data file whose step finished since the last call. Called before
    /// the report that lists their hashes is written: a step's files are complete when it
    /// finishes, and syncing them there would hold up the other steps of the run (they share
    /// one task), so the syncs wait for this one moment off the run.
    pub fn sync_pending(&self) -> io::Result<()> {
        let pending = match self.unsynced.lock() {
            Ok(mut p) => std::mem::take(&mut *p),
            Err(_) => Vec::new(),
        };
        for path in pending {
            File::open(&path)?.sync_all()?;
        }
        Ok(())
    }

    /// Every file written so far, sorted by path.
    pub fn files(&self) -> Vec<FileEntry> {
        let mut files = self.files.lock().map(|f| f.clone()).unwrap_or_default();
        files.sort_by(|a, b| a.path.cmp(&b.path));
        files
    }
}

#[async_trait::async_trait]
impl Handler for Bundle {
    fn open(&self, id: &CollectionId, _keys: &[String]) -> Result<Box<dyn StepSink>, SinkError> {
        let system_dir = safe_name(&id.system);
        let stem = format!("{system_dir}/{}", safe_name(&id.collection));
        Ok(Box::new(CollectionWriter {
            dir: self.dir.clone(),
            system_dir,
            stem,
            open: None,
            attached: Vec::new(),
            files: Arc::clone(&self.files),
            unsynced: Arc::clone(&self.unsynced),
        }))
    }
}

struct OpenFiles {
    json: Hashing<BufWriter<File>>,
    csv: csv::Writer<Hashing<BufWriter<File>>>,
    header: Vec<String>,
    rows: u64,
}

/// Streams one collection's rows to `<system>/<collection>.json` and `.csv`. Files are
/// created on the first row: a collection with no records leaves no files.
struct CollectionWriter {
    dir: PathBuf,
    system_dir: String,
    stem: String,
    open: Option<OpenFiles>,
    /// Files received with [`RowSink::file`], listed when the step finishes.
    attached: Vec<FileEntry>,
    files: Arc<Mutex<Vec<FileEntry>>>,
    unsynced: Arc<Mutex<Vec<PathBuf>>>,
}

/// A connector-given file name as a path inside the bundle: `/`-separated normal segments
/// only, so no name can reach outside its collection's folder.
fn attached_path(name: &str) -> Option<String> {
    let segments: Vec<&str> = name.split('/').collect();
    let ok = segments
        .iter()
        .all(|s| !s.is_empty() && *s != "." && *s != ".." && !s.contains(['\\', '\0']));
    ok.then(|| segments.join("/"))
}

fn csv_cell(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

impl CollectionWriter {
    fn path(&self, ext: &str) -> PathBuf {
        self.dir.join(format!("{}.{ext}", self.stem))
    }

    fn start(&mut self, row: &Row) -> io::Result<&mut OpenFiles> {
        create_private_dir(&self.dir.join(&self.system_dir))?;
        let hashing = |f: File| Hashing {
            inner: BufWriter::with_capacity(64 * 1024, f),
            hasher: Sha256::new(),
            bytes: 0,
        };
        let mut json = hashing(create_private_file(&self.path("json"))?);
        json.write_all(b"[")?;
        let header: Vec<String> = row.keys().cloned().collect();
        let mut csv = csv::Writer::from_writer(hashing(create_private_file(&self.path("csv"))?));
        csv.write_record(&header).map_err(io::Error::other)?;
        Ok(self.open.insert(OpenFiles {
            json,
            csv,
            header,
            rows: 0,
        }))
    }
}

impl RowSink for CollectionWriter {
    fn row(&mut self, row: Row) -> Result<(), SinkError> {
        let files = match self.open {
            Some(ref mut f) => f,
            None => self.start(&row)?,
        };
        files
            .json
            .write_all(if files.rows == 0 { b"\n  " } else { b",\n  " })?;
        serde_json::to_writer(&mut files.json, &row).map_err(io::Error::other)?;
        let record: Vec<String> = files
            .header
            .iter()
            .map(|h| row.get(h).map(csv_cell).unwrap_or_default())
            .collect();
        files.csv.write_record(&record).map_err(io::Error::other)?;
        files.rows += 1;
        Ok(())
    }

    fn file(&mut self, name: &str, content: &mut dyn io::Read) -> Result<bool, SinkError> {
        let inner = attached_path(name).ok_or_else(|| {
            SinkError(io::Error::new(
                io::ErrorKind::InvalidInput,
                "a file name that would leave the bundle",
            ))
        })?;
        let relative = format!("{}/{inner}", self.stem);
        let path = self.dir.join(&relative);
        if let Some(parent) = path.parent() {
            create_private_dir(parent)?;
        }
        let mut w = Hashing {
            inner: BufWriter::with_capacity(256 * 1024, create_private_file(&path)?),
            hasher: Sha256::new(),
            bytes: 0,
        };
        let copied = io::copy(content, &mut w)
            .and_then(|_| w.flush())
            .and_then(|_| w.inner.get_ref().sync_all());
        if let Err(e) = copied {
            // A source that broke off (a download, a file that vanished) leaves no partial copy.
            drop(w);
            let _ = fs::remove_file(&path);
            return Err(e.into());
        }
        self.attached.push(FileEntry {
            path: relative,
            bytes: w.bytes,
            sha256: hex::encode(w.hasher.finalize()),
        });
        Ok(true)
    }

    fn reset(&mut self) -> Result<(), SinkError> {
        for f in self.attached.drain(..) {
            match fs::remove_file(self.dir.join(&f.path)) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e.into()),
                _ => {}
            }
        }
        if self.open.take().is_some() {
            for ext in ["json", "csv"] {
                match fs::remove_file(self.path(ext)) {
                    Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e.into()),
                    _ => {}
                }
            }
        }
        Ok(())
    }
}

impl StepSink for CollectionWriter {
    fn finish(&mut self) -> Result<Option<Value>, SinkError> {
        if let Ok(mut all) = self.files.lock() {
            all.append(&mut self.attached);
        }
        let Some(mut files) = self.open.take() else {
            return Ok(None);
        };
        files.json.write_all(b"\n]\n")?;
        files.json.flush()?;
        let csv = files
            .csv
            .into_inner()
            .map_err(|e| io::Error::other(e.to_string()))?;
        let mut entries = Vec::new();
        for (ext, mut w) in [("json", files.json), ("csv", csv)] {
            w.flush()?;
            if let Ok(mut u) = self.unsynced.lock() {
                u.push(self.path(ext));
            }
            entries.push(FileEntry {
                path: format!("{}.{ext}", self.stem),
                bytes: w.bytes,
                sha256: hex::encode(w.hasher.finalize()),
            });
        }
        if let Ok(mut all) = self.files.lock() {
            all.extend(entries);
        }
        Ok(None)
    }
}

/// Recomputes a file's SHA-256 by streaming it.
pub fn hash_file(path: &Path) -> io::Result<(u64, String)> {
    let mut hasher = Sha256::new();
    let mut f = File::open(path)?;
    let bytes = io::copy(&mut f, &mut hasher)?;
    Ok((bytes, hex::encode(hasher.finalize())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reopened_bundle_keeps_what_it_is_told_and_lists_it_again() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("b");
        let bundle = Bundle::create(&root).unwrap();
        for (system, rows) in [("shop", 2), ("crm", 1)] {
            let id = CollectionId {
                system: system.into(),
                collection: "people".into(),
            };
            let mut sink = bundle.open(&id, &[]).unwrap();
            for i in 0..rows {
                let mut row = Row::new();
                row.insert("n".into(), Value::from(i));
                sink.row(row).unwrap();
            }
            sink.finish().unwrap();
        }
        bundle.add("report.json", b"{}").unwrap();
        let before = bundle.files();
        let again = Bundle::reopen(&root, |p| p.starts_with("shop/")).unwrap();
        let kept: Vec<FileEntry> = before
            .into_iter()
            .filter(|f| f.path.starts_with("shop/"))
            .collect();
        assert_eq!(again.files(), kept);
        assert!(!root.join("crm/people.json").exists());
        assert!(
            root.join("report.json").exists(),
            "rewritten later, not removed"
        );
        assert!(Bundle::reopen(&dir.path().join("none"), |_| true).is_err());
    }

    #[test]
    fn safe_names_cannot_escape() {
        assert_eq!(safe_name("app_db"), "app_db");
        assert_eq!(safe_name("../etc"), "___etc");
        assert_eq!(safe_name(".."), "__unnamed");
        assert_eq!(safe_name(""), "_unnamed");
    }

    #[test]
    fn a_file_whose_source_breaks_off_leaves_nothing_behind() {
        struct Broken(u8);
        impl io::Read for Broken {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                if self.0 == 0 {
                    return Err(io::Error::other("connection reset"));
                }
                self.0 -= 1;
                buf[0] = b'x';
                Ok(1)
            }
        }
        let dir = tempfile::tempdir().unwrap();
        let bundle = Bundle::create(&dir.path().join("b")).unwrap();
        let id = CollectionId {
            system: "store".into(),
            collection: "uploads".into(),
        };
        let mut sink = bundle.open(&id, &[]).unwrap();
        assert!(sink.file("a/b.bin", &mut Broken(3)).is_err());
        assert!(!dir.path().join("b/store/uploads/a/b.bin").exists());
    }

    #[test]
    fn streams_rows_and_hashes_what_it_wrote() {
        let dir = tempfile::tempdir().unwrap();
        let bundle = Bundle::create(&dir.path().join("b")).unwrap();
        let id = CollectionId {
            system: "app".into(),
            collection: "users".into(),
        };
        let mut sink = bundle.open(&id, &[]).unwrap();
        for i in 0..3 {
            let mut row = Row::new();
            row.insert("id".into(), Value::from(i));
            row.insert("note".into(), Value::String(format!("a,\"b\" {i}")));
            sink.row(row).unwrap();
        }
        sink.finish().unwrap();
        let files = bundle.files();
        assert_eq!(files.len(), 2);
        for f in &files {
            let (bytes, sha) = hash_file(&bundle.dir().join(&f.path)).unwrap();
            assert_eq!((bytes, sha), (f.bytes, f.sha256.clone()));
        }
        let json: Vec<Value> =
            serde_json::from_slice(&fs::read(bundle.dir().join("app/users.json")).unwrap())
                .unwrap();
        assert_eq!(json.len(), 3);
        let csv = fs::read_to_string(bundle.dir().join("app/users.csv")).unwrap();
        assert_eq!(csv.lines().next(), Some("id,note"));
        assert_eq!(csv.lines().nth(1), Some("0,\"a,\"\"b\"\" 0\""));
    }
}
