//! What the kinds' config modules share: reading a system's or a collection's own keys into
//! the kind's strict type, with an error at the line of every key that is not the kind's, and
//! the checks of settings that hold secrets.

use super::ConnectorKind;
use crate::playbook::check::{Checker, by_reference, check_references};
use crate::playbook::diagnostic::did_you_mean;
use crate::playbook::interpolate;
use crate::playbook::model::{COLLECTION_KEYS, SYSTEM_KEYS};
use crate::playbook::settings::{self, Settings};
use serde::de::DeserializeOwned;

/// Where a kind's keys sit: under a system, or under one of its collections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    System,
    Collection,
}

impl Level {
    fn generic(self) -> &'static [&'static str] {
        match self {
            Level::System => &SYSTEM_KEYS,
            Level::Collection => &COLLECTION_KEYS,
        }
    }
}

/// A kind's own keys at `base` read as `T`, whose fields all have defaults. Every key that is
/// not the kind's is reported (a key of another kind says so and whose it is; any other gets
/// "did you mean") and left out, so that the kind's own checks still run; every value of the
/// wrong type is reported at its own line, and then the result is `None`.
pub fn read<T: DeserializeOwned + Default>(
    c: &mut Checker<'_>,
    base: &[&str],
    kind: ConnectorKind,
    level: Level,
    raw: &Settings,
) -> Option<T> {
    let own = kind.keys(level);
    let mut known = Settings::new();
    for (key, value) in raw {
        if own.contains(&key.as_str()) {
            known.insert(key.clone(), value.clone());
        } else {
            let mut at = base.to_vec();
            at.push(key.as_str());
            misplaced(c, &at, key, kind, level);
        }
    }
    let whole = match settings::parse::<T>(&known) {
        Ok(t) => return Some(t),
        Err(e) => e,
    };
    // Key by key, so that each wrong type is reported at its own line.
    let mut located = false;
    for (key, value) in &known {
        if let Err(e) = settings::parse::<T>(&Settings::from([(key.clone(), value.clone())])) {
            let mut at = base.to_vec();
            at.push(key.as_str());
            c.at_value(&at, e, None);
            located = true;
        }
    }
    if !located {
        c.at_key(base, whole, None);
    }
    None
}

/// A key that is not `kind`'s own.
fn misplaced(c: &mut Checker<'_>, at: &[&str], key: &str, kind: ConnectorKind, level: Level) {
    let owners: Vec<&str> = ConnectorKind::ALL
        .iter()
        .filter(|k| k.keys(level).contains(&key))
        .map(|k| k.name())
        .collect();
    if owners.is_empty() {
        let mut expected: Vec<&str> = level.generic().to_vec();
        expected.extend(kind.keys(level));
        let hint = match did_you_mean(key, expected.iter().copied()) {
            Some(k) => format!("did you mean '{k}'?"),
            None => "check the spelling against the playbook reference in README.md".into(),
        };
        c.at_key(
            at,
            format!(
                "unknown field `{key}`, expected one of {}",
                expected.join(", ")
            ),
            Some(hint),
        );
        return;
    }
    let hint = kind
        .misplaced_hint(key)
        .map(String::from)
        .unwrap_or_else(|| format!("`{key}` is a setting of {} systems", and_list(&owners)));
    c.at_key(
        at,
        format!("`{key}` does not apply to {} systems", kind.name()),
        Some(hint),
    );
}

/// A connection URL: its password, if any, by reference only; its references available.
pub fn check_url(c: &mut Checker<'_>, at: &[&str], url: &str) {
    by_reference(c, at, "url", url, "APP_DB_URL");
}

/// `auth:` values: secrets by reference only (user names and client ids identify, everything
/// else authenticates), and the references available.
pub fn check_auth(
    c: &mut Checker<'_>,
    base: &[&str],
    auth: &std::collections::BTreeMap<String, String>,
) {
    for (key, value) in auth {
        let mut at = base.to_vec();
        at.extend(["auth", key.as_str()]);
        let secret = !matches!(key.as_str(), "username" | "client_id");
        if secret && !interpolate::has_references(value) {
            c.at_value(
                &at,
                format!("`auth.{key}` holds a secret inline"),
                Some(format!(
                    "put it in the environment and write `{key}: ${{env:VAR}}` or `${{file:PATH}}`"
                )),
            );
        }
        check_references(c, &at, value);
    }
}

/// The path of one key of a system.
pub fn at<'a>(system: &'a str, key: &'a str) -> [&'a str; 3] {
    ["systems", system, key]
}

/// The path of one collection.
pub fn collection_at<'a>(system: &'a str, collection: &'a str) -> [&'a str; 4] {
    ["systems", system, "collections", collection]
}

/// Checks the collections of a kind that has no collection keys of its own: any key besides
/// the generic ones is reported. False when one was.
pub fn no_collection_keys(
    c: &mut Checker<'_>,
    system: &str,
    kind: ConnectorKind,
    sys: &crate::playbook::model::System,
) -> bool {
    let mut ok = true;
    for (name, coll) in &sys.collections {
        ok &= read::<NoKeys>(
            c,
            &collection_at(system, name),
            kind,
            Level::Collection,
            &coll.settings,
        )
        .is_some();
    }
    ok
}

#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct NoKeys {}

/// `a`, `a and b`, `a, b and c`.
fn and_list(items: &[&str]) -> String {
    match items {
        [] => String::new(),
        [one] => one.to_string(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

/// Whether `raw` holds a misspelling of one of `keys` (reported as unknown already), so that a
/// missing-key message would only repeat that mistake.
pub fn misspelt(raw: &Settings, keys: &[&str]) -> bool {
    raw.keys()
        .any(|k| !keys.contains(&k.as_str()) && did_you_mean(k, keys.iter().copied()).is_some())
}

/// Reads every collection of `sys` with `read_one` (given its path); `None` when any of them
/// had a problem (reported), after all were read.
pub fn each_collection<T>(
    c: &mut Checker<'_>,
    system: &str,
    sys: &crate::playbook::model::System,
    mut read_one: impl FnMut(
        &mut Checker<'_>,
        &[&str],
        &crate::playbook::model::Collection,
    ) -> Option<T>,
) -> Option<std::collections::BTreeMap<String, T>> {
    let mut out = std::collections::BTreeMap::new();
    let mut ok = true;
    for (name, coll) in &sys.collections {
        match read_one(c, &collection_at(system, name), coll) {
            Some(one) => {
                out.insert(name.clone(), one);
            }
            None => ok = false,
        }
    }
    ok.then_some(out)
}
