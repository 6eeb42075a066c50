//! Properties that must hold for any input, shared by the `cargo fuzz` targets (`fuzz/`) and
//! the stable tests that replay the seed corpus and its mutations (`tests/it/fuzz_corpus.rs`).
//! Each function panics when a property fails, which is how both harnesses see a bug.

use crate::connectors::configure as validate;
use crate::identity;
use crate::plan::{self, Action};
use crate::playbook::interpolate::{self, InterpolationError, Reference};
use crate::playbook::{Diagnostics, load};
use std::path::Path;

const FILE: &str = "fuzz.yaml";

fn check_diagnostics(d: &Diagnostics, text: &str) {
    assert!(!d.0.is_empty(), "an error with no diagnostic");
    // YAML breaks lines at "\n", "\r\n" and a lone "\r" (old Mac files): count as it does.
    let bytes = text.as_bytes();
    let lone_cr = bytes
        .iter()
        .enumerate()
        .filter(|(i, b)| **b == b'\r' && bytes.get(i + 1) != Some(&b'\n'))
        .count();
    let lines = bytes.iter().filter(|b| **b == b'\n').count() + lone_cr + 1;
    for one in &d.0 {
        assert_eq!(one.file, FILE);
        assert!(!one.message.trim().is_empty(), "empty message: {one:?}");
        if let Some(p) = one.pos {
            assert!(
                p.line >= 1 && p.line <= lines + 1 && p.column >= 1,
                "position outside the text: {one:?}"
            );
        }
    }
}

/// Playbook bytes: parsing and validation never panic; every error names the file and points
/// inside it; a valid playbook plans every action without panicking.
pub fn check_playbook(data: &[u8]) {
    if data.len() as u64 > load::MAX_PLAYBOOK_BYTES {
        return;
    }
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let loaded = match load::parse(Path::new(FILE), text) {
        Ok(l) => l,
        Err(d) => return check_diagnostics(&d, text),
    };
    let v = match validate::validate(loaded) {
        Ok(v) => v,
        Err(d) => return check_diagnostics(&d, text),
    };
    let mut ids = identity::RequestIdentities::default();
    for kind in v.identities() {
        ids.0
            .insert(kind.clone(), vec!["someone@example.com".into()]);
    }
    for action in [Action::Export, Action::Erase, Action::Correct] {
        let p = plan::build(&v, action, &ids);
        for step in &p.steps {
            assert!(
                v.collection(&step.id).is_some(),
                "a step outside the playbook"
            );
        }
    }
}

/// Identity arguments (parts separated by 0xFF: the positional one, then `--id` values):
/// never panics; whatever is accepted is declared, non-empty, trimmed, free of control
/// characters, at most 1024 bytes, and an email is an email.
pub fn check_identity(data: &[u8]) {
    let parts: Vec<String> = data
        .split(|b| *b == 0xff)
        .map(|p| String::from_utf8_lossy(p).into_owned())
        .collect();
    let positional = parts.first().filter(|p| !p.is_empty()).map(String::as_str);
    let ids = parts.get(1..).unwrap_or_default();
    let declared = ["email".to_string(), "user_id".into(), "phone".into()];
    let Ok(parsed) = identity::parse(positional, ids, &declared) else {
        return;
    };
    assert!(!parsed.0.is_empty());
    for (kind, values) in &parsed.0 {
        assert!(declared.contains(kind), "undeclared kind {kind:?}");
        for v in values {
            assert!(!v.is_empty() && v.trim() == v, "{v:?}");
            assert!(!v.chars().any(char::is_control), "{v:?}");
            assert!(v.len() <= 1024);
            if kind == "email" {
                assert!(identity::is_email(v), "{v:?}");
            }
        }
    }
}

/// Templates: never panics; a `${file:…}` that is allowed resolves below the base directory;
/// absolute paths and `..` are refused.
pub fn check_template(data: &[u8]) {
    let template = String::from_utf8_lossy(data);
    let base = Path::new("/nonexistent-dsr-fuzz/playbooks");
    let refs = match interpolate::references(&template) {
        Ok(r) => r,
        Err(_) => {
            assert!(interpolate::has_references(&template));
            return;
        }
    };
    if !refs.is_empty() {
        assert!(interpolate::has_references(&template));
    }
    for r in &refs {
        if let Reference::File(path) = r {
            match interpolate::secret_path(path, base) {
                Ok(full) => {
                    assert!(full.starts_with(base), "{path:?} resolved to {full:?}");
                    assert!(!Path::new(path).is_absolute());
                }
                Err(InterpolationError::Outside(p)) => assert_eq!(&p, path),
                Err(e) => panic!("unexpected error for {path:?}: {e}"),
            }
        }
    }
    // Reads the environment and (missing) files only; must not panic, whatever it returns.
    let _ = interpolate::resolve(&template, base);
}
