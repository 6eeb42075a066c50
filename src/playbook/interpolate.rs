//! `${env:VAR}` and `${file:PATH}` references in playbook strings.
//!
//! Secrets never live in a playbook: a connection URL says `${env:APP_DB_URL}` and the value
//! is read when a connector opens. Errors name the variable or file, never the value, and the
//! resolved text is wrapped in [`Secret`] so that it cannot be printed by accident.

use std::fmt;
use std::path::{Path, PathBuf};

/// One `${kind:name}` reference inside a template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reference {
    Env(String),
    File(String),
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum InterpolationError {
    #[error("unterminated '${{' (expected '${{env:VAR}}' or '${{file:PATH}}')")]
    Unterminated,
    #[error("unknown reference '${{{0}}}' (expected '${{env:VAR}}' or '${{file:PATH}}')")]
    UnknownKind(String),
    #[error("environment variable {0} is not set")]
    MissingEnv(String),
    #[error("cannot read secret file {path}: {reason}")]
    File { path: String, reason: String },
}

/// A resolved value that may hold a secret. `Debug` and `Display` never show it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl From<String> for Secret {
    fn from(s: String) -> Self {
        Self(s)
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

enum Piece<'a> {
    Text(&'a str),
    Ref(Reference),
}

fn pieces(template: &str) -> Result<Vec<Piece<'_>>, InterpolationError> {
    let mut out = Vec::new();
    let mut rest = template;
    while let Some(start) = rest.find("${") {
        out.push(Piece::Text(&rest[..start]));
        let after = &rest[start + 2..];
        let end = after.find('}').ok_or(InterpolationError::Unterminated)?;
        let inner = &after[..end];
        let reference = match inner.split_once(':') {
            Some(("env", name)) if !name.is_empty() => Reference::Env(name.to_string()),
            Some(("file", path)) if !path.is_empty() => Reference::File(path.to_string()),
            _ => return Err(InterpolationError::UnknownKind(inner.to_string())),
        };
        out.push(Piece::Ref(reference));
        rest = &after[end + 1..];
    }
    out.push(Piece::Text(rest));
    Ok(out)
}

/// The references a template uses, for validation.
pub fn references(template: &str) -> Result<Vec<Reference>, InterpolationError> {
    Ok(pieces(template)?
        .into_iter()
        .filter_map(|p| match p {
            Piece::Ref(r) => Some(r),
            Piece::Text(_) => None,
        })
        .collect())
}

/// Whether the template contains any reference at all.
pub fn has_references(template: &str) -> bool {
    template.contains("${")
}

/// Resolves every reference; `${file:…}` paths are relative to `base_dir` and lose one
/// trailing newline (files written by editors and `echo` end with one).
pub fn resolve(template: &str, base_dir: &Path) -> Result<Secret, InterpolationError> {
    let mut out = String::new();
    for piece in pieces(template)? {
        match piece {
            Piece::Text(t) => out.push_str(t),
            Piece::Ref(Reference::Env(name)) => match std::env::var(&name) {
                Ok(v) => out.push_str(&v),
                Err(_) => return Err(InterpolationError::MissingEnv(name)),
            },
            Piece::Ref(Reference::File(path)) => {
                let full: PathBuf = base_dir.join(&path);
                let text =
                    std::fs::read_to_string(&full).map_err(|e| InterpolationError::File {
                        path: full.display().to_string(),
                        reason: e.kind().to_string(),
                    })?;
                let text = text.strip_suffix('\n').unwrap_or(&text);
                out.push_str(text.strip_suffix('\r').unwrap_or(text));
            }
        }
    }
    Ok(Secret(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_env_and_file_references() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("pw"), "s3cret\n").unwrap();
        // SAFETY: test-only variable with a unique name; no other thread reads it.
        unsafe { std::env::set_var("DSR_TEST_INTERP_HOST", "db.internal") };
        let got = resolve(
            "postgres://app:${file:pw}@${env:DSR_TEST_INTERP_HOST}/x",
            dir.path(),
        )
        .unwrap();
        assert_eq!(got.expose(), "postgres://app:s3cret@db.internal/x");
        assert_eq!(format!("{got} {got:?}"), "*** Secret(***)");
    }

    #[test]
    fn reports_missing_variable_by_name() {
        let err = resolve("${env:DSR_TEST_SURELY_UNSET}", Path::new(".")).unwrap_err();
        assert_eq!(
            err.to_string(),
            "environment variable DSR_TEST_SURELY_UNSET is not set"
        );
        assert_eq!(
            resolve("${env:X", Path::new(".")).unwrap_err(),
            InterpolationError::Unterminated
        );
        assert!(matches!(
            resolve("${vault:x}", Path::new(".")),
            Err(InterpolationError::UnknownKind(_))
        ));
    }
}
