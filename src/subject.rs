//! How the evidence names the person without naming them: HMAC-SHA256 of the normalised
//! identity values under a random key that never leaves the state directory.
//!
//! A plain hash of an email address is reversible by guessing (hash every address in a leaked
//! list); a keyed hash is not, without the key. The same person gets the same hash in every
//! request made with the same state directory, so the ledger can link their requests, and
//! someone holding the key and the address can show that a report is about them.

use crate::identity::RequestIdentities;
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;
use std::collections::BTreeMap;
use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::path::Path;

pub const KEY_FILE: &str = "subject-hmac.key";
const KEY_LEN: usize = 32;

#[derive(Debug, thiserror::Error)]
pub enum SubjectKeyError {
    #[error("{path}: {source}")]
    Io { path: String, source: io::Error },
    #[error(
        "{0} is not a {KEY_LEN}-byte key; restore it from backup (a new key would break the link between this person's requests)"
    )]
    Corrupt(String),
}

/// The HMAC key in `dir`, created (32 random bytes, 0600) on first use.
pub fn load_or_create_key(dir: &Path) -> Result<[u8; KEY_LEN], SubjectKeyError> {
    let path = dir.join(KEY_FILE);
    let io_err = |source| SubjectKeyError::Io {
        path: path.display().to_string(),
        source,
    };
    crate::output::bundle::create_private_dir(dir).map_err(io_err)?;
    let read = |path: &Path| -> Result<[u8; KEY_LEN], SubjectKeyError> {
        let bytes = fs::read(path).map_err(|source| SubjectKeyError::Io {
            path: path.display().to_string(),
            source,
        })?;
        bytes
            .try_into()
            .map_err(|_| SubjectKeyError::Corrupt(path.display().to_string()))
    };
    if path.exists() {
        return read(&path);
    }
    // Written aside in full, then linked into place: a second dsr starting at the same moment
    // either wins the link or reads the complete key that did, never a half-written file.
    let aside = dir.join(format!(".{KEY_FILE}.{}", uuid::Uuid::new_v4().simple()));
    let mut options = OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut key = [0u8; KEY_LEN];
    rand::rng().fill_bytes(&mut key);
    let mut f = options.open(&aside).map_err(io_err)?;
    f.write_all(&key).map_err(io_err)?;
    f.sync_all().map_err(io_err)?;
    drop(f);
    let linked = fs::hard_link(&aside, &path);
    let _ = fs::remove_file(&aside);
    match linked {
        Ok(()) => Ok(key),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => read(&path),
        Err(e) => Err(io_err(e)),
    }
}

/// Identity values as compared ([`crate::identity::normalise_value`]), sorted and
/// de-duplicated.
pub fn normalise(ids: &RequestIdentities) -> BTreeMap<String, Vec<String>> {
    ids.0
        .iter()
        .map(|(kind, values)| {
            let mut vs: Vec<String> = values
                .iter()
                .map(|v| crate::identity::normalise_value(kind, v))
                .collect();
            vs.sort();
            vs.dedup();
            (kind.clone(), vs)
        })
        .collect()
}

/// `hmac-sha256:<hex>` over the canonical JSON of the normalised identities.
pub fn subject_hash(key: &[u8; KEY_LEN], ids: &RequestIdentities) -> String {
    // A JSON encoding is unambiguous where joining with separators would not be.
    let canonical = serde_json::to_vec(&normalise(ids)).unwrap_or_default();
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(&canonical);
    format!("hmac-sha256:{}", hex::encode(mac.finalize().into_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(pairs: &[(&str, &str)]) -> RequestIdentities {
        let mut m: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (k, v) in pairs {
            m.entry(k.to_string()).or_default().push(v.to_string());
        }
        RequestIdentities(m)
    }

    #[test]
    fn same_person_same_hash_different_key_different_hash() {
        let dir = tempfile::tempdir().unwrap();
        let key = load_or_create_key(dir.path()).unwrap();
        assert_eq!(load_or_create_key(dir.path()).unwrap(), key);
        let a = subject_hash(&key, &ids(&[("email", "Alice@Example.com ")]));
        let b = subject_hash(&key, &ids(&[("email", "alice@example.com")]));
        assert_eq!(a, b);
        assert!(a.starts_with("hmac-sha256:") && a.len() == 12 + 64);
        assert!(!a.contains("alice"));
        assert_ne!(
            a,
            subject_hash(&[7; 32], &ids(&[("email", "alice@example.com")]))
        );
        // Case matters outside emails.
        assert_ne!(
            subject_hash(&key, &ids(&[("user_id", "A1")])),
            subject_hash(&key, &ids(&[("user_id", "a1")]))
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(dir.path().join(KEY_FILE))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        fs::write(dir.path().join(KEY_FILE), b"short").unwrap();
        assert!(matches!(
            load_or_create_key(dir.path()),
            Err(SubjectKeyError::Corrupt(_))
        ));
    }
}
