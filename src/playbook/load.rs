//! Reading a playbook file: size and encoding checks, YAML with bounded alias expansion, and
//! the span index that validation uses to point at lines.

use super::diagnostic::{Diagnostic, Diagnostics};
use super::model::Playbook;
use super::spans::{Pos, SpanIndex};
use sha2::{Digest, Sha256};
use std::io::Read;
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

/// `std::io::ErrorKind`'s words, but "file not found" rather than "entity not found".
fn io_reason(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "file not found".into(),
        kind => kind.to_string(),
    }
}

fn too_large(file: &str, bytes: Option<u64>) -> Diagnostics {
    let message = match bytes {
        Some(n) => format!("playbook is {n} bytes; the limit is {MAX_PLAYBOOK_BYTES} bytes"),
        None => format!("playbook is larger than the limit of {MAX_PLAYBOOK_BYTES} bytes"),
    };
    single(
        file,
        None,
        message,
        Some(
            "a playbook is a hand-written list of systems; check that this is the right file"
                .into(),
        ),
    )
}

/// Reads and parses `path`. Errors carry the file name and, for YAML errors, line and column.
pub fn load(path: &Path) -> Result<Loaded, Diagnostics> {
    let file = path.display().to_string();
    let meta = std::fs::metadata(path).map_err(|e| {
        single(
            &file,
            None,
            format!("cannot read playbook: {}", io_reason(&e)),
            Some("pass --playbook FILE or set DSR_PLAYBOOK".into()),
        )
    })?;
    if meta.len() > MAX_PLAYBOOK_BYTES {
        return Err(too_large(&file, Some(meta.len())));
    }
    // The size from `metadata` is not enough: a device (`/dev/zero`), a pipe or a file that
    // grows after the check reports 0 or less than it holds. Read at most one byte past the
    // limit and judge what was read.
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(MAX_PLAYBOOK_BYTES + 1).read_to_end(&mut bytes))
        .map_err(|e| {
            single(
                &file,
                None,
                format!("cannot read playbook: {}", io_reason(&e)),
                None,
            )
        })?;
    if bytes.len() as u64 > MAX_PLAYBOOK_BYTES {
        return Err(too_large(&file, None));
    }
    let text = String::from_utf8(bytes).map_err(|e| {
        let upto = &e.as_bytes()[..e.utf8_error().valid_up_to()];
        let line = upto.iter().filter(|b| **b == b'\n').count() + 1;
        let line_start = upto.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
        // The valid prefix is UTF-8, so this counts characters, as YAML columns do.
        let column = String::from_utf8_lossy(&upto[line_start..]).chars().count() + 1;
        single(
            &file,
            Some(Pos { line, column }),
            "playbook is not valid UTF-8".into(),
            Some("save the file as UTF-8".into()),
        )
    })?;
    parse(path, &text)
}

/// Parses playbook text that came from `path` (used by `load` and by tests).
pub fn parse(path: &Path, text: &str) -> Result<Loaded, Diagnostics> {
    let file = path.display().to_string();
    let playbook: Playbook = serde_saphyr::from_str(text).map_err(|e| {
        // serde checks a mapping (missing fields, ...) as soon as it ends, which can be before
        // the parser reaches a syntax error further down (a badly indented line ends the
        // mapping above it). The syntax error is the real problem: report that one.
        syntax_error(&file, text).unwrap_or_else(|| yaml_error(&file, text, &e))
    })?;
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

/// The first YAML syntax error in `text`, if it has one.
fn syntax_error(file: &str, text: &str) -> Option<Diagnostics> {
    let e = serde_saphyr::granit_parser::Parser::new_from_str(text).find_map(Result::err)?;
    let pos = Pos {
        line: e.marker().line(),
        column: e.marker().col() + 1,
    };
    Some(single(file, Some(pos), e.info(), None))
}

/// For "unknown field `x`, expected one of a, b": the closest known field, else a pointer to
/// the reference.
fn unknown_field_hint(message: &str) -> Option<String> {
    let rest = message.split("unknown field `").nth(1)?;
    let (field, rest) = rest.split_once('`')?;
    let expected = rest
        .split("expected one of ")
        .nth(1)
        .or_else(|| rest.split("expected ").nth(1))
        .unwrap_or("");
    let known: Vec<&str> = expected
        .split(',')
        .map(|k| k.trim().trim_matches('`'))
        .filter(|k| !k.is_empty())
        .collect();
    match super::diagnostic::did_you_mean(field, known) {
        Some(k) => Some(format!("did you mean '{k}'?")),
        None => Some("check the spelling against the playbook reference in README.md".into()),
    }
}

fn yaml_error(file: &str, text: &str, e: &serde_saphyr::Error) -> Diagnostics {
    let pos = e.location().map(|l| Pos {
        line: l.line() as usize,
        column: l.column() as usize,
    });
    let message = yaml_message(e);
    let hint = unknown_field_hint(&message);
    let (pos, field) = match pos {
        Some(p) => locate(&SpanIndex::build(text), e.without_snippet(), p),
        None => (None, String::new()),
    };
    let mut d = single(file, pos, message, hint);
    d.0[0].field = field;
    d
}

/// The field path of a serde error at `p`, and where to point for it.
fn locate(spans: &SpanIndex, e: &serde_saphyr::Error, p: Pos) -> (Option<Pos>, String) {
    use serde_saphyr::Error as E;
    let found = match e {
        // serde-saphyr points at the mapping's last key (or at the mapping when it is empty):
        // name the mapping, at its own key.
        E::SerdeMissingField { .. } => match spans.path_of_key(p) {
            Some(path) => {
                let parent = &path[..path.len().saturating_sub(1)];
                return (spans.key(parent).or(Some(p)), parent.join("."));
            }
            None => spans.path_of_value(p),
        },
        E::SerdeUnknownField { .. } | E::DuplicateMappingKey { .. } => {
            spans.path_of_key(p).or_else(|| spans.path_of_value(p))
        }
        _ => spans.path_of_value(p).or_else(|| spans.path_of_key(p)),
    };
    (Some(p), found.map(|f| f.join(".")).unwrap_or_default())
}

/// serde-saphyr's user-facing message (the default one gives advice about its Rust API)
/// without its source snippet (we print our own location prefix).
fn yaml_message(e: &serde_saphyr::Error) -> String {
    let rendered = e
        .without_snippet()
        .render_with_formatter(&serde_saphyr::UserMessageFormatter);
    let first = rendered.lines().next().unwrap_or("invalid YAML").trim();
    // Drop a trailing " at line X, column Y": the prefix already says where.
    match first.rfind(" at line ") {
        Some(i) => first[..i].to_string(),
        None => first.to_string(),
    }
}
