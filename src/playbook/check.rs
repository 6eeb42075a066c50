//! The checker every rule reports to, and the small predicates the rules share, generic and
//! of connector kinds alike.

use super::diagnostic::{Diagnostic, Diagnostics, did_you_mean};
use super::interpolate::{self, Reference};
use super::load::Loaded;
use std::time::Duration;

/// Collects every problem found in one playbook, each pointing at its line.
pub struct Checker<'a> {
    pub loaded: &'a Loaded,
    out: Vec<Diagnostic>,
    /// Whether `${env:…}` variables and `${file:…}` secrets must be available.
    pub secrets: bool,
}

impl<'a> Checker<'a> {
    pub fn new(loaded: &'a Loaded, secrets: bool) -> Self {
        Self {
            loaded,
            out: Vec::new(),
            secrets,
        }
    }

    /// A problem with the key at `path` (a missing or misplaced setting).
    pub fn at_key(&mut self, path: &[&str], message: impl Into<String>, hint: Option<String>) {
        self.push(path, false, message.into(), hint);
    }

    /// A problem with the value at `path`.
    pub fn at_value(&mut self, path: &[&str], message: impl Into<String>, hint: Option<String>) {
        self.push(path, true, message.into(), hint);
    }

    /// Problems found elsewhere (a connector definition file).
    pub fn extend(&mut self, more: Vec<Diagnostic>) {
        self.out.extend(more);
    }

    /// How many problems so far.
    pub fn count(&self) -> usize {
        self.out.len()
    }

    /// Every problem found, the playbook's own first, each file's in line order.
    pub fn finish(self) -> Result<(), Diagnostics> {
        if self.out.is_empty() {
            return Ok(());
        }
        let mut out = self.out;
        let main = self.loaded.display_path();
        out.sort_by_key(|d| {
            (
                d.file != main,
                d.file.clone(),
                d.pos.map(|p| (p.line, p.column)),
            )
        });
        Err(Diagnostics(out))
    }

    fn push(&mut self, path: &[&str], value: bool, message: String, hint: Option<String>) {
        let owned: Vec<String> = path.iter().map(|s| s.to_string()).collect();
        let pos = if value {
            self.loaded.spans.value(&owned)
        } else {
            self.loaded.spans.key(&owned)
        };
        self.out.push(Diagnostic {
            file: self.loaded.display_path(),
            pos,
            field: path.join("."),
            message,
            hint,
        });
    }
}

/// A system or collection name: letters, digits, `_` and `-`.
pub fn is_name(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphanumeric() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

pub fn is_identity_kind(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

pub fn is_category(s: &str) -> bool {
    !s.is_empty() && s.split('.').all(is_identity_kind)
}

/// A column or table name dsr will quote.
pub fn is_identifier(s: &str) -> bool {
    !s.is_empty() && s.len() <= 128 && !s.chars().any(char::is_control)
}

/// "did you mean …?", else the list of what is accepted.
pub fn hint_for(word: &str, candidates: &[&str]) -> Option<String> {
    match did_you_mean(word, candidates.iter().copied()) {
        Some(c) => Some(format!("did you mean '{c}'?")),
        None => Some(format!("expected one of: {}", candidates.join(", "))),
    }
}

/// Parses `30s`, `500ms`, `2m`.
pub fn parse_duration(s: &str) -> Option<Duration> {
    let s = s.trim();
    let (num, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit())?);
    let n: u64 = num.parse().ok()?;
    match unit {
        "ms" => Some(Duration::from_millis(n)),
        "s" => Some(Duration::from_secs(n)),
        "m" => Some(Duration::from_secs(n * 60)),
        _ => None,
    }
    .filter(|d| !d.is_zero())
}

/// `scheme://user:password@host` with a literal password.
pub fn inline_password(url: &str) -> bool {
    let Some((_, rest)) = url.split_once("://") else {
        return false;
    };
    let authority = rest.split(['/', '?']).next().unwrap_or("");
    let Some((userinfo, _)) = authority.rsplit_once('@') else {
        return false;
    };
    match userinfo.split_once(':') {
        Some((_, pw)) => !pw.is_empty() && !pw.starts_with("${"),
        None => false,
    }
}

/// A setting that may hold a URL: no password inline, its references well formed and
/// available. `name` is the key as written, `var` the variable the hint suggests.
pub fn by_reference(c: &mut Checker<'_>, at: &[&str], name: &str, text: &str, var: &str) {
    if inline_password(text) {
        c.at_value(
            at,
            format!("the {name} holds a password inline"),
            Some(format!(
                "put the secret in the environment and write `{name}: ${{env:{var}}}` or `${{file:PATH}}`"
            )),
        );
    }
    check_references(c, at, text);
}

/// `${env:…}` / `${file:…}` references in `template`: well formed and, when secrets are
/// checked, available.
pub fn check_references(c: &mut Checker<'_>, path: &[&str], template: &str) {
    match interpolate::references(template) {
        Err(e) => c.at_value(path, e.to_string(), None),
        Ok(refs) => {
            for r in refs {
                match r {
                    _ if !c.secrets => {}
                    Reference::Env(var) if std::env::var_os(&var).is_none() => {
                        c.at_value(
                            path,
                            format!("environment variable {var} is not set"),
                            Some(format!("export {var}=… before running dsr")),
                        );
                    }
                    Reference::File(file) => match interpolate::secret_path(&file, &c.loaded.dir) {
                        Err(e) => c.at_value(
                            path,
                            e.to_string(),
                            Some(format!("keep secret files in the playbook's directory, or list their directory in {}", interpolate::SECRET_DIRS_ENV)),
                        ),
                        Ok(full) if !full.is_file() => c.at_value(
                            path,
                            format!("secret file '{file}' not found"),
                            Some("the path is relative to the playbook".into()),
                        ),
                        Ok(_) => {}
                    },
                    _ => {}
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_inline_passwords() {
        assert!(inline_password("postgres://app:hunter2@db/x"));
        assert!(!inline_password("postgres://app:${env:PW}@db/x"));
        assert!(!inline_password("postgres://app@db/x"));
        assert!(!inline_password("sqlite:data.db"));
    }

    #[test]
    fn parses_durations() {
        assert_eq!(parse_duration("30s"), Some(Duration::from_secs(30)));
        assert_eq!(parse_duration("250ms"), Some(Duration::from_millis(250)));
        assert_eq!(parse_duration("2m"), Some(Duration::from_secs(120)));
        assert_eq!(parse_duration("0s"), None);
        assert_eq!(parse_duration("soon"), None);
    }
}
