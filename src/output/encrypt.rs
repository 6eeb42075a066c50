//! Delivery encryption: the finished bundle as one age-encrypted tar (`DIR.tar.age`), to age
//! recipients (`age1…`, `--encrypt-to`) or a passphrase (`--passphrase-file`).
//!
//! age (age-encryption.org/v1) because the person can open it with a standard tool
//! (`age -d`, rage, or GUI front-ends) and no key management beyond a public key or a shared
//! passphrase is needed. The tar is streamed into the encryptor; no plaintext archive touches
//! the disk. The bundle directory stays as the controller's record.

use age::secrecy::SecretString;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::str::FromStr;

/// Who can open the archive.
pub enum Encryption {
    Recipients(Vec<age::x25519::Recipient>),
    Passphrase(SecretString),
}

#[derive(Debug, thiserror::Error)]
pub enum EncryptError {
    #[error("'{0}' is not an age recipient (age1…)")]
    BadRecipient(String),
    #[error("cannot read the passphrase file {path}: {source}")]
    PassphraseFile { path: String, source: io::Error },
    #[error("the passphrase file {0} is empty")]
    EmptyPassphrase(String),
    #[error("writing {path}: {source}")]
    Write { path: String, source: io::Error },
    #[error("age encryption failed: {0}")]
    Age(String),
}

impl Encryption {
    /// From the command line; `None` when neither option was given.
    pub fn from_args(
        recipients: &[String],
        passphrase_file: Option<&Path>,
    ) -> Result<Option<Self>, EncryptError> {
        if let Some(path) = passphrase_file {
            let text =
                std::fs::read_to_string(path).map_err(|source| EncryptError::PassphraseFile {
                    path: path.display().to_string(),
                    source,
                })?;
            // One trailing newline is the file's, not the passphrase's.
            let pass = text
                .strip_suffix('\n')
                .map(|t| t.strip_suffix('\r').unwrap_or(t))
                .unwrap_or(&text);
            if pass.is_empty() {
                return Err(EncryptError::EmptyPassphrase(path.display().to_string()));
            }
            return Ok(Some(Self::Passphrase(SecretString::from(pass.to_string()))));
        }
        if recipients.is_empty() {
            return Ok(None);
        }
        recipients
            .iter()
            .map(|r| {
                age::x25519::Recipient::from_str(r.trim())
                    .map_err(|_| EncryptError::BadRecipient(r.clone()))
            })
            .collect::<Result<Vec<_>, _>>()
            .map(|rs| Some(Self::Recipients(rs)))
    }
}

/// `DIR.tar.age` beside the bundle directory.
pub fn archive_path(bundle: &Path) -> PathBuf {
    let mut name = bundle
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_else(|| "bundle".into());
    name.push(".tar.age");
    bundle.with_file_name(name)
}

/// Writes the encrypted tar of `bundle` (entries under the directory's own name) and returns
/// its path.
pub fn encrypt_bundle(bundle: &Path, how: &Encryption) -> Result<PathBuf, EncryptError> {
    let out = archive_path(bundle);
    let write_err = |source| EncryptError::Write {
        path: out.display().to_string(),
        source,
    };
    let encryptor = match how {
        Encryption::Passphrase(p) => age::Encryptor::with_user_passphrase(p.clone()),
        Encryption::Recipients(rs) => {
            age::Encryptor::with_recipients(rs.iter().map(|r| r as &dyn age::Recipient))
                .map_err(|e| EncryptError::Age(e.to_string()))?
        }
    };
    let file = crate::output::bundle::create_private_file(&out).map_err(write_err)?;
    let mut writer = encryptor
        .wrap_output(io::BufWriter::new(file))
        .map_err(write_err)?;
    {
        let mut tar = tar::Builder::new(&mut writer);
        tar.mode(tar::HeaderMode::Deterministic);
        let root = bundle
            .file_name()
            .map(|n| n.to_os_string())
            .unwrap_or_else(|| "bundle".into());
        tar.append_dir_all(&root, bundle).map_err(write_err)?;
        tar.finish().map_err(write_err)?;
    }
    let mut inner = writer.finish().map_err(write_err)?;
    inner.flush().map_err(write_err)?;
    inner
        .into_inner()
        .map_err(|e| write_err(e.into_error()))?
        .sync_all()
        .map_err(write_err)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use age::secrecy::ExposeSecret;

    #[test]
    fn reads_options() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("pass");
        std::fs::write(&p, "correct horse\n").unwrap();
        match Encryption::from_args(&[], Some(&p)).unwrap() {
            Some(Encryption::Passphrase(s)) => assert_eq!(s.expose_secret(), "correct horse"),
            _ => panic!("expected a passphrase"),
        }
        std::fs::write(&p, "\n").unwrap();
        assert!(matches!(
            Encryption::from_args(&[], Some(&p)),
            Err(EncryptError::EmptyPassphrase(_))
        ));
        assert!(Encryption::from_args(&[], None).unwrap().is_none());
        assert!(matches!(
            Encryption::from_args(&["age1nope".into()], None),
            Err(EncryptError::BadRecipient(_))
        ));
        let id = age::x25519::Identity::generate();
        let r = id.to_public().to_string();
        assert!(matches!(
            Encryption::from_args(&[r], None).unwrap(),
            Some(Encryption::Recipients(v)) if v.len() == 1
        ));
        assert_eq!(
            archive_path(Path::new("out/alice")),
            PathBuf::from("out/alice.tar.age")
        );
    }
}
