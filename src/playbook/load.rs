//! Reading a playbook file: size and encoding checks, YAML with bounded alias expansion, and
//! the span index that validation uses to point at lines.

use super::diagnostic::{Diagnostic, Diagnostics};
use super::model::Playbook;
use super::spans::{Pos, SpanIndex};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

/// Playbooks are hand-written; anything larger is a mistake or an attack.
pub const MAX_PLAYBOOK_BYTES: u64 = 4 * 1024 * 1024;

/// A parsed playbook with what is needed to explain it: where it came from and its text's hash.
#[derive(Debug)]
pub struct Loaded {
    pub path: PathBuf,
    /// Directory that relative paths in the playbook are resolved against.
    pub dir: PathBuf,
    pub sha256: String,
    pub playbook: Playbook,
    pub spans: SpanIndex,
}

impl Loaded {
    /// The file name as the user wrote it, for messages.
    pub fn display_path(&self) -> String {
        self.path.display().to_string()
    }
}

fn single(file: &str, pos: Option<Pos>, message: String, hint: Option<String>) -> Diagnostics {
    Diagnostics(vec![Diagnostic {
        file: file.to_string(),
        pos,
        field: String::new(),
        message,
        hint,
    }])
}

/// Reads and parses `path`. Errors carry the file name and, for YAML errors, line and column.
pub fn load(path: &Path) -> Result<Loaded, Diagnostics> {
    let file = path.display().to_string();
    let meta = std::fs::metadata(path).map_err(|e| {
        single(
            &file,
            None,
            format!("cannot read playbook: {}", e.kind()),
            Some("pass --playbook FILE or set DSR_PLAYBOOK".into()),
        )
    })?;
    if meta.len() > MAX_PLAYBOOK_BYTES {
        return Err(single(
            &file,
            None,
            format!(
                "playbook is {} bytes; the limit is {MAX_PLAYBOOK_BYTES}",
                meta.len()
            ),
            None,
        ));
    }
    let bytes = std::fs::read(path).map_err(|e| {
        single(
            &file,
            None,
            format!("cannot read playbook: {}", e.kind()),
            None,
        )
    })?;
    let text = String::from_utf8(bytes).map_err(|e| {
        let upto = &e.as_bytes()[..e.utf8_error().valid_up_to()];
        let line = upto.iter().filter(|b| **b == b'\n').count() + 1;
        single(
            &file,
            Some(Pos { line, column: 1 }),
            "playbook is not valid UTF-8".into(),
            Some("save the file as UTF-8".into()),
        )
    })?;
    parse(path, &text)
}

/// Parses playbook text that came from `path` (used by `load` and by tests).
pub fn parse(path: &Path, text: &str) -> Result<Loaded, Diagnostics> {
    let file = path.display().to_string();
    let playbook: Playbook = serde_saphyr::from_str(text).map_err(|e| yaml_error(&file, &e))?;
    let dir = path
        .parent()
        .map(Path::to_path_buf)
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or_else(|| PathBuf::from("."));
    Ok(Loaded {
        path: path.to_path_buf(),
        dir,
        sha256: hex::encode(Sha256::digest(text.as_bytes())),
        playbook,
        spans: SpanIndex::build(text),
    })
}

fn yaml_error(file: &str, e: &serde_saphyr::Error) -> Diagnostics {
    let pos = e.location().map(|l| Pos {
        line: l.line() as usize,
        column: l.column() as usize,
    });
    let message = yaml_message(e);
    let hint = if message.contains("unknown field") {
        Some("check the spelling against the playbook reference in README.md".into())
    } else {
        None
    };
    single(file, pos, message, hint)
}

/// serde-saphyr's message without its source snippet (we print our own location prefix).
fn yaml_message(e: &serde_saphyr::Error) -> String {
    let rendered = e.without_snippet().to_string();
    let first = rendered.lines().next().unwrap_or("invalid YAML").trim();
    // Drop a trailing " at line X, column Y": the prefix already says where.
    match first.rfind(" at line ") {
        Some(i) => first[..i].to_string(),
        None => first.to_string(),
    }
}
