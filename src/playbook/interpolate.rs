//! `${env:VAR}` and `${file:PATH}` references in playbook strings.
//!
//! Secrets never live in a playbook: a connection URL says `${env:APP_DB_URL}` and the value
//! is read when a connector opens. Errors name the variable or file, never the value, and the
//! resolved text is wrapped in [`Secret`] so that it cannot be printed by accident.
//!
//! `${file:PATH}` reads only below the playbook's directory: PATH must be relative, must not
//! climb out with `..`, and must not lead out through a symbolic link. A playbook is often
//! written by someone other than the operator who runs it; without this rule it could copy
//! any file the operator can read (`~/.ssh/id_ed25519`, `/etc/shadow`) into a connection URL
//! and send it to a host of its choosing. Secrets mounted elsewhere (`/run/secrets`) are
//! allowed when the operator lists the directory in `DSR_SECRET_DIRS` (`:`-separated
//! absolute paths); the playbook cannot allow them itself.

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
    #[error(
        "secret file '{0}' is outside the playbook's directory (absolute paths, '..' and links out are refused)"
    )]
    Outside(String),
}

/// The environment variable that lists extra directories `${file:…}` may read from.
pub const SECRET_DIRS_ENV: &str = "DSR_SECRET_DIRS";

/// Directories the operator allows besides the playbook's (from [`SECRET_DIRS_ENV`]).
fn allowed_dirs() -> Vec<PathBuf> {
    std::env::var_os(SECRET_DIRS_ENV)
        .map(|v| {
            std::env::split_paths(&v)
                .filter(|p| p.is_absolute())
                .collect()
        })
        .unwrap_or_default()
}

/// Where `${file:path}` reads from, or why it may not. Checks the words first (absolute, `..`)
/// and then, when the file exists, where it really is once links are followed.
pub fn secret_path(path: &str, base_dir: &Path) -> Result<PathBuf, InterpolationError> {
    let outside = || InterpolationError::Outside(path.to_string());
    let relative = Path::new(path);
    let allowed = allowed_dirs();
    let full = if relative.is_absolute() {
        if !allowed.iter().any(|d| relative.starts_with(d)) {
            return Err(outside());
        }
        relative.to_path_buf()
    } else {
        use std::path::Component;
        if !relative
            .components()
            .all(|c| matches!(c, Component::Normal(_) | Component::CurDir))
        {
            return Err(outside());
        }
        base_dir.join(relative)
    };
    // A link inside the directory that points out of it is refused too.
    if let Ok(real) = full.canonicalize() {
        let roots = std::iter::once(base_dir.to_path_buf()).chain(allowed);
        let inside = roots
            .filter_map(|r| r.canonicalize().ok())
            .any(|r| real.starts_with(r));
        if !inside {
            return Err(outside());
        }
    }
    Ok(full)
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
                let full = secret_path(&path, base_dir)?;
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

    #[test]
    fn secret_files_stay_below_the_playbook() {
        let dir = tempfile::tempdir().unwrap();
        let base = dir.path().join("pb");
        std::fs::create_dir_all(base.join("secrets")).unwrap();
        std::fs::write(base.join("secrets/pw"), "pw\n").unwrap();
        std::fs::write(dir.path().join("outside"), "x\n").unwrap();
        assert!(secret_path("secrets/pw", &base).is_ok());
        assert!(secret_path("./secrets/pw", &base).is_ok());
        for bad in ["../outside", "secrets/../../outside", "/etc/passwd"] {
            assert_eq!(
                secret_path(bad, &base),
                Err(InterpolationError::Outside(bad.into())),
                "{bad}"
            );
        }
        #[cfg(unix)]
        {
            std::os::unix::fs::symlink(dir.path().join("outside"), base.join("link")).unwrap();
            assert!(matches!(
                secret_path("link", &base),
                Err(InterpolationError::Outside(_))
            ));
        }
        let err = resolve("x${file:../outside}", &base).unwrap_err();
        assert!(err.to_string().contains("outside the playbook's directory"));
        assert!(!err.to_string().contains("x\n"));
    }
}
