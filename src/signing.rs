//! Report signatures: Ed25519 keys in OpenSSH format and detached SSHSIG signatures.
//!
//! SSHSIG (OpenSSH's `PROTOCOL.sshsig`) was chosen so an auditor needs nothing from us to check
//! a report: `ssh-keygen -Y verify -f allowed_signers -I <signer> -n dsr-report -s
//! report.json.sig < report.json`. The namespace `dsr-report` keeps a report signature from
//! being replayed as, say, a git commit or file signature made with the same key.
//!
//! Key files: `signing_key` (private, 0600, never printed), `signing_key.pub`, and
//! `allowed_signers`, one line that says which principal may sign in which namespace.

use crate::output::bundle::create_private_dir;
use ssh_key::rand_core::OsRng;
use ssh_key::{Algorithm, HashAlg, LineEnding, PrivateKey, PublicKey, SshSig};
use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// The SSHSIG namespace of every report signature.
pub const NAMESPACE: &str = "dsr-report";

/// The principal written into `allowed_signers` unless `--signer` says otherwise.
pub const DEFAULT_SIGNER: &str = "dsr";

pub const PRIVATE_FILE: &str = "signing_key";
pub const PUBLIC_FILE: &str = "signing_key.pub";
pub const ALLOWED_SIGNERS_FILE: &str = "allowed_signers";

#[derive(Debug, thiserror::Error)]
pub enum SignError {
    #[error("{path}: {source}")]
    Io { path: String, source: io::Error },
    #[error("a signing key already exists in {0}")]
    Exists(String),
    #[error("the signing key {path} cannot be read: {reason}")]
    BadKey { path: String, reason: String },
    #[error("the signer name must be non-empty and contain no spaces, quotes or commas")]
    BadSigner,
    #[error("signing failed: {0}")]
    Crypto(#[from] ssh_key::Error),
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> SignError + '_ {
    move |source| SignError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// The three files of a key pair in one directory.
#[derive(Debug, Clone)]
pub struct KeyFiles {
    pub private: PathBuf,
    pub public: PathBuf,
    pub allowed_signers: PathBuf,
}

impl KeyFiles {
    pub fn in_dir(dir: &Path) -> Self {
        Self {
            private: dir.join(PRIVATE_FILE),
            public: dir.join(PUBLIC_FILE),
            allowed_signers: dir.join(ALLOWED_SIGNERS_FILE),
        }
    }
}

fn write_new(path: &Path, contents: &[u8], mode: u32) -> Result<(), SignError> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, mode);
    #[cfg(not(unix))]
    let _ = mode;
    let mut f = options.open(path).map_err(io_err(path))?;
    f.write_all(contents).map_err(io_err(path))?;
    f.sync_all().map_err(io_err(path))
}

fn valid_signer(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 256
        && !s
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || matches!(c, '"' | ',' | '\''))
}

/// The `allowed_signers` line for a public key.
pub fn allowed_signers_line(signer: &str, public: &PublicKey) -> Result<String, SignError> {
    let mut key = public.clone();
    key.set_comment("");
    Ok(format!(
        "{signer} namespaces=\"{NAMESPACE}\" {}\n",
        key.to_openssh()?.trim_end()
    ))
}

/// Creates a new Ed25519 key pair in `dir`; refuses to replace an existing one.
pub fn generate(dir: &Path, signer: &str) -> Result<(KeyFiles, PublicKey), SignError> {
    if !valid_signer(signer) {
        return Err(SignError::BadSigner);
    }
    create_private_dir(dir).map_err(io_err(dir))?;
    let files = KeyFiles::in_dir(dir);
    if files.private.exists() || files.public.exists() {
        return Err(SignError::Exists(dir.display().to_string()));
    }
    let mut key = PrivateKey::random(&mut OsRng, Algorithm::Ed25519)?;
    key.set_comment(signer);
    let private_text = key.to_openssh(LineEnding::LF)?;
    write_new(&files.private, private_text.as_bytes(), 0o600)?;
    let public = key.public_key().clone();
    write_new(
        &files.public,
        (public.to_openssh()? + "\n").as_bytes(),
        0o644,
    )?;
    // allowed_signers is rewritten with the new key: it describes this key pair only.
    let line = allowed_signers_line(signer, &public)?;
    let _ = fs::remove_file(&files.allowed_signers);
    write_new(&files.allowed_signers, line.as_bytes(), 0o644)?;
    Ok((files, public))
}

/// Reads the private key in `dir`, if there is one.
pub fn load(dir: &Path) -> Result<Option<PrivateKey>, SignError> {
    let path = dir.join(PRIVATE_FILE);
    let text = match fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_err(&path)(e)),
    };
    let key = PrivateKey::from_openssh(text.trim()).map_err(|e| SignError::BadKey {
        path: path.display().to_string(),
        reason: e.to_string(),
    })?;
    if key.is_encrypted() {
        return Err(SignError::BadKey {
            path: path.display().to_string(),
            reason: "it is passphrase-protected; dsr signs unattended and needs an unencrypted key"
                .into(),
        });
    }
    Ok(Some(key))
}

/// The key in the state directory, created on first use. `true` when it was just created.
pub fn load_or_create(dir: &Path) -> Result<(PrivateKey, bool), SignError> {
    if let Some(key) = load(dir)? {
        return Ok((key, false));
    }
    // Two first runs at once (overlapping `run-due`s) must end with one key: each makes a key
    // aside, and the first to link its private key into place wins; the other uses that one.
    create_private_dir(dir).map_err(io_err(dir))?;
    let aside = dir.join(format!(".new-key-{}", uuid::Uuid::new_v4().simple()));
    let _ = fs::remove_dir_all(&aside);
    let (files, _) = generate(&aside, DEFAULT_SIGNER)?;
    let mine = KeyFiles::in_dir(dir);
    let won = fs::hard_link(&files.private, &mine.private).is_ok();
    if won {
        fs::rename(&files.public, &mine.public).map_err(io_err(dir))?;
        fs::rename(&files.allowed_signers, &mine.allowed_signers).map_err(io_err(dir))?;
    }
    let _ = fs::remove_dir_all(&aside);
    let key = load(dir)?.ok_or_else(|| SignError::BadKey {
        path: dir.join(PRIVATE_FILE).display().to_string(),
        reason: "it vanished right after it was created".into(),
    })?;
    Ok((key, won))
}

/// The principal recorded in a key's comment (what `allowed_signers` names), or the default.
pub fn signer_of(key: &PrivateKey) -> String {
    let c = key.comment();
    if valid_signer(c) {
        c.to_string()
    } else {
        DEFAULT_SIGNER.to_string()
    }
}

/// `SHA256:…`, as ssh-keygen prints it.
pub fn fingerprint(public: &PublicKey) -> String {
    public.fingerprint(HashAlg::Sha256).to_string()
}

/// A detached SSHSIG signature over `message`, armored (`-----BEGIN SSH SIGNATURE-----`).
pub fn sign(key: &PrivateKey, message: &[u8]) -> Result<String, SignError> {
    Ok(key
        .sign(NAMESPACE, HashAlg::Sha512, message)?
        .to_pem(LineEnding::LF)?)
}

/// Why a signature does not hold.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureProblem {
    #[error("the signature file is not an SSH signature: {0}")]
    Malformed(String),
    #[error("the signature is for namespace '{0}', not '{NAMESPACE}'")]
    Namespace(String),
    #[error(
        "signed by a different key: the signature's key is {found}, the expected key is {expected}"
    )]
    WrongKey { found: String, expected: String },
    #[error(
        "the signature does not match the report's bytes: the report was changed after it was signed"
    )]
    Mismatch,
}

/// Checks a detached signature against the expected public key.
pub fn verify(public: &PublicKey, message: &[u8], armored: &str) -> Result<(), SignatureProblem> {
    let sig =
        SshSig::from_pem(armored.trim()).map_err(|e| SignatureProblem::Malformed(e.to_string()))?;
    if sig.namespace() != NAMESPACE {
        return Err(SignatureProblem::Namespace(sig.namespace().to_string()));
    }
    if sig.public_key() != public.key_data() {
        let found = PublicKey::from(sig.public_key().clone());
        return Err(SignatureProblem::WrongKey {
            found: fingerprint(&found),
            expected: fingerprint(public),
        });
    }
    public
        .verify(NAMESPACE, message, &sig)
        .map_err(|_| SignatureProblem::Mismatch)
}

/// Reads a public key from a `.pub` file or the first usable line of an `allowed_signers` file.
pub fn read_public(path: &Path) -> Result<PublicKey, SignError> {
    let text = fs::read_to_string(path).map_err(io_err(path))?;
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Ok(k) = PublicKey::from_openssh(line) {
            return Ok(k);
        }
        // allowed_signers: principals [options] keytype base64 [comment]
        let words: Vec<&str> = line.split_whitespace().collect();
        for (i, w) in words.iter().enumerate() {
            if (w.starts_with("ssh-") || w.starts_with("ecdsa-"))
                && let Ok(k) = PublicKey::from_openssh(&words[i..].join(" "))
            {
                return Ok(k);
            }
        }
    }
    Err(SignError::BadKey {
        path: path.display().to_string(),
        reason: "no OpenSSH public key in it".into(),
    })
}

#[cfg(test)]
mod tests {

    #[test]
    fn first_use_from_many_at_once_ends_with_one_key() {
        let dir = tempfile::tempdir().unwrap();
        let handles: Vec<_> = (0..8)
            .map(|_| {
                let d = dir.path().to_path_buf();
                std::thread::spawn(move || {
                    let (key, _) = load_or_create(&d).unwrap();
                    let subject = crate::subject::load_or_create_key(&d).unwrap();
                    (key.public_key().to_openssh().unwrap(), subject)
                })
            })
            .collect();
        let got: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        assert!(
            got.windows(2).all(|w| w[0] == w[1]),
            "different keys were created"
        );
        let leftovers: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().starts_with('.'))
            .collect();
        assert!(leftovers.is_empty(), "temporary files left behind");
    }

    use super::*;

    #[test]
    fn signs_and_verifies_and_names_what_is_wrong() {
        let dir = tempfile::tempdir().unwrap();
        let (files, public) = generate(dir.path(), "dpo@example.com").unwrap();
        let key = load(dir.path()).unwrap().unwrap();
        assert_eq!(signer_of(&key), "dpo@example.com");
        let sig = sign(&key, b"{\"a\":1}").unwrap();
        assert!(sig.starts_with("-----BEGIN SSH SIGNATURE-----"));
        assert_eq!(verify(&public, b"{\"a\":1}", &sig), Ok(()));
        assert_eq!(
            verify(&public, b"{\"a\":2}", &sig),
            Err(SignatureProblem::Mismatch)
        );
        let other = tempfile::tempdir().unwrap();
        let (_, other_public) = generate(other.path(), "x").unwrap();
        assert!(matches!(
            verify(&other_public, b"{\"a\":1}", &sig),
            Err(SignatureProblem::WrongKey { .. })
        ));
        assert!(matches!(
            verify(&public, b"", "nonsense"),
            Err(SignatureProblem::Malformed(_))
        ));
        // Both key file forms are accepted by read_public.
        assert_eq!(
            read_public(&files.public).unwrap().key_data(),
            public.key_data()
        );
        assert_eq!(
            read_public(&files.allowed_signers).unwrap().key_data(),
            public.key_data()
        );
        let line = fs::read_to_string(&files.allowed_signers).unwrap();
        assert!(line.starts_with("dpo@example.com namespaces=\"dsr-report\" ssh-ed25519 "));
        // Never replaced silently.
        assert!(matches!(
            generate(dir.path(), "dsr"),
            Err(SignError::Exists(_))
        ));
        assert!(matches!(
            generate(other.path(), "two words"),
            Err(SignError::BadSigner)
        ));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(&files.private).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }
}
