//! The rules every playbook follows, whatever its systems' kinds: names, legal bases,
//! identities, categories, erase strategies, references and the identity graph's shape.
//!
//! This layer knows no connector kind. What the rules need to know of one (whether it compares
//! columns, so that columns may match row by row and text may be compared in any case) it asks
//! through [`Kinds`]; each kind's own keys are checked by the kind, in the connectors layer, and
//! its `configure` step runs both so that the user sees every problem at once.

use super::check::{
    Checker, by_reference, check_references, hint_for, inline_password, is_category, is_identifier,
    is_identity_kind, is_name, parse_duration,
};
use super::diagnostic::did_you_mean;
use super::interpolate;
use super::model::{self, RawErase};
use super::settings::{Raw, Settings};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

/// Legal bases of GDPR Art. 6(1).
pub const LEGAL_BASES: [&str; 6] = [
    "consent",
    "contract",
    "legal_obligation",
    "vital_interests",
    "public_task",
    "legitimate_interests",
];

/// Regulations whose deadlines dsr knows.
pub const REGULATIONS: [&str; 6] = crate::deadline::BUILTIN;

/// Masking methods for `erase: { mask: { column: METHOD } }`.
pub const MASK_METHODS: [&str; 5] = ["null", "redact", "hash", "random", "truncate_date"];

pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
pub const DEFAULT_SYSTEM_CONCURRENCY: usize = 4;
pub const DEFAULT_RETRIES: u32 = 3;

pub use super::spec::*;

/// Checks a whole playbook against the generic rules, reporting to `c`; returns the systems
/// that passed them (a system with problems of its own is left out, so that references to it
/// add no follow-on noise). Pure but for environment and secret-file existence checks.
pub fn check(c: &mut Checker<'_>, kinds: &dyn Kinds) -> BTreeMap<String, SystemSpec> {
    let loaded = c.loaded;
    let pb = &loaded.playbook;
    if pb.version != 1 {
        c.at_value(
            &["version"],
            format!("unsupported version {}", pb.version),
            Some("this dsr reads version: 1".into()),
        );
    }
    for (name, raw) in &pb.deadlines {
        if !is_identity_kind(name) {
            c.at_key(
                &["deadlines", name],
                format!("'{name}' is not a valid deadline policy name"),
                Some("use lower case letters, digits and '_', e.g. house_policy".into()),
            );
        }
        if let Err(e) = crate::deadline::from_playbook(name, raw) {
            c.at_key(
                &["deadlines", name],
                format!("deadline policy '{name}': {e}"),
                Some("e.g. `custom: { days: 30, extension_days: 30 }` or `{ months: 1 }`".into()),
            );
        }
    }
    if let Some(reg) = &pb.regulation
        && !REGULATIONS.contains(&reg.as_str())
        && !pb.deadlines.contains_key(reg)
    {
        let mut known: Vec<&str> = REGULATIONS.to_vec();
        known.extend(pb.deadlines.keys().map(String::as_str));
        c.at_value(
            &["regulation"],
            format!("unknown regulation '{reg}'"),
            hint_for(reg, &known),
        );
    }
    if pb.identities.is_empty() {
        c.at_key(
            &["identities"],
            "no identity kinds declared",
            Some("add e.g. `identities: [email]`".into()),
        );
    }
    let mut seen = BTreeSet::new();
    for (i, kind) in pb.identities.iter().enumerate() {
        let idx = i.to_string();
        if !is_identity_kind(kind) {
            c.at_value(
                &["identities", &idx],
                format!("'{kind}' is not a valid identity kind"),
                Some("use lower case letters, digits and '_', e.g. user_id".into()),
            );
        }
        if !seen.insert(kind.as_str()) {
            c.at_value(
                &["identities", &idx],
                format!("identity kind '{kind}' is declared twice"),
                None,
            );
        }
    }
    if pb.systems.is_empty() {
        c.at_key(&["systems"], "no systems declared", None);
    }
    match &pb.hash_key {
        Some(key) => {
            if !interpolate::has_references(key) {
                c.at_value(
                    &["hash_key"],
                    "the hash key is written inline",
                    Some("write `hash_key: ${env:DSR_HASH_KEY}` or `${file:PATH}`".into()),
                );
            }
            check_references(c, &["hash_key"], key);
        }
        None => {
            let uses_hash = pb.systems.values().flat_map(|s| s.collections.values()).any(|coll| {
                matches!(&coll.erase, Some(RawErase::Detailed(d)) if d.keep.is_none() && d.delete.is_none() && d.mask.as_ref().is_some_and(|m| m.values().any(|v| v == "hash")))
            });
            if uses_hash {
                c.at_key(&["systems"], "a `hash` mask needs a secret key: add `hash_key:` at the top level", Some("e.g. `hash_key: ${env:DSR_HASH_KEY}`; without a key a hash of an email can be reversed by guessing".into()));
            }
        }
    }

    if let Some(ledger) = &pb.ledger {
        check_ledger(c, ledger);
    }

    let mut systems = BTreeMap::new();
    for (sys_name, sys) in &pb.systems {
        if let Some(spec) = check_system(c, kinds, sys_name, sys) {
            systems.insert(sys_name.clone(), spec);
        }
    }
    super::references::resolve_references(c, kinds, &mut systems);
    super::references::check_graph(c, &systems);

    systems
}

fn check_system(
    c: &mut Checker<'_>,
    kinds: &dyn Kinds,
    name: &str,
    sys: &model::System,
) -> Option<SystemSpec> {
    let base = ["systems", name];
    let path = |rest: &[&'static str]| -> Vec<&str> {
        base.iter().copied().chain(rest.iter().copied()).collect()
    };
    let mut ok = true;
    if !is_name(name) {
        c.at_key(
            &base,
            format!("'{name}' is not a valid system name"),
            Some("use letters, digits, '_' and '-'".into()),
        );
        ok = false;
    }
    if kinds.rules(&sys.connector).is_none() {
        let names = kinds.names();
        c.at_value(
            &path(&["connector"]),
            format!("unknown connector kind '{}'", sys.connector),
            hint_for(&sys.connector, &names),
        );
        ok = false;
        // No kind reads these keys, but the secrets they name still deserve their checks: a
        // misspelt `connector:` must not hide an inline password.
        check_unread_settings(c, &base, &sys.settings);
    }
    if !LEGAL_BASES.contains(&sys.legal_basis.as_str()) {
        c.at_value(
            &path(&["legal_basis"]),
            format!("unknown legal basis '{}'", sys.legal_basis),
            hint_for(&sys.legal_basis, &LEGAL_BASES),
        );
    }
    for (field, text) in [("purpose", &sys.purpose), ("retention", &sys.retention)] {
        if text.trim().is_empty() {
            c.at_value(
                &path(&[field]),
                format!("{field} is empty"),
                Some("the export index tells the person this; write it in plain words".into()),
            );
        }
    }
    let timeout = match &sys.timeout {
        None => DEFAULT_TIMEOUT,
        Some(t) => parse_duration(t).unwrap_or_else(|| {
            c.at_value(
                &path(&["timeout"]),
                format!("'{t}' is not a duration"),
                Some("write e.g. 30s, 500ms or 2m".into()),
            );
            DEFAULT_TIMEOUT
        }),
    };
    if sys.concurrency == Some(0) {
        c.at_value(
            &path(&["concurrency"]),
            "concurrency must be at least 1",
            None,
        );
    }
    // A misspelt `collections:` is reported as that, not also as an empty system.
    let misspelt = sys
        .settings
        .keys()
        .any(|k| did_you_mean(k, ["collections"]).is_some());
    if sys.collections.is_empty() && !misspelt {
        c.at_key(
            &base,
            "no collections declared",
            Some("list the tables that hold personal data under `collections:`".into()),
        );
    }
    let mut collections = BTreeMap::new();
    for (coll_name, coll) in &sys.collections {
        if let Some(spec) = check_collection(c, name, coll_name, coll) {
            collections.insert(coll_name.clone(), spec);
        }
    }
    ok.then(|| SystemSpec {
        name: name.to_string(),
        config: sys.clone(),
        timeout,
        concurrency: sys.concurrency.unwrap_or(DEFAULT_SYSTEM_CONCURRENCY).max(1),
        retries: sys.retries.unwrap_or(DEFAULT_RETRIES),
        collections,
        regulation: c.loaded.playbook.regulation.clone(),
        kind: (),
    })
}

/// The settings of a system no kind reads: references well formed (and available), no URL
/// with a password inline.
fn check_unread_settings(c: &mut Checker<'_>, base: &[&str], settings: &Settings) {
    for (key, value) in settings {
        let mut at = base.to_vec();
        at.push(key.as_str());
        match value {
            Raw::Text(text) => by_reference(c, &at, key, text, "VAR"),
            Raw::Map(inner) => check_unread_settings(c, &at, inner),
            _ => {}
        }
    }
}

/// `ledger:`: a PostgreSQL URL, its password (if any) by reference only.
fn check_ledger(c: &mut Checker<'_>, ledger: &str) {
    if inline_password(ledger) {
        c.at_value(
            &["ledger"],
            "the ledger URL holds a password inline",
            Some("put the URL in the environment and write `ledger: ${env:DSR_LEDGER_URL}`".into()),
        );
    }
    check_references(c, &["ledger"], ledger);
    if !interpolate::has_references(ledger)
        && let Err(e) = ledger.parse::<crate::state::postgres::PgLedger>()
    {
        c.at_value(
            &["ledger"],
            e.to_string(),
            Some(
                "write postgres://USER@HOST/DB, optionally with ?schema=NAME (default dsr)".into(),
            ),
        );
    }
}

fn check_collection(
    c: &mut Checker<'_>,
    sys: &str,
    name: &str,
    coll: &model::Collection,
) -> Option<CollectionSpec> {
    let base = ["systems", sys, "collections", name];
    let errors_before = c.count();
    if !is_name(name) {
        c.at_key(
            &base,
            format!("'{name}' is not a valid collection name"),
            Some("use letters, digits, '_' and '-'; set `table:` for other table names".into()),
        );
    }
    if coll.match_on.is_empty() {
        c.at_key(&base, "no identity can reach this collection: it has no `match`", Some("add e.g. `match: { email: identity.email }` or a reference to another collection's `provides`".into()));
    }
    for col in coll.match_on.keys().chain(coll.provides.values()) {
        if !is_identifier(col) {
            c.at_key(&base, format!("'{col}' is not a column name"), None);
        }
    }
    for (fname, field) in &coll.fields {
        if !is_category(&field.category) {
            let p: Vec<&str> = base
                .iter()
                .copied()
                .chain(["fields", fname.as_str(), "category"])
                .collect();
            c.at_value(
                &p,
                format!("'{}' is not a data category", field.category),
                Some("use dotted lower-case words, e.g. contact.email".into()),
            );
        }
    }
    let erase = coll
        .erase
        .as_ref()
        .and_then(|raw| check_erase(c, &base, raw));
    // Inputs are resolved once every system is known.
    let inputs = coll
        .match_on
        .keys()
        .map(|col| Input {
            column: col.clone(),
            source: Source::Identity(String::new()),
            fold_case: false,
        })
        .collect();
    (c.count() == errors_before).then(|| CollectionSpec {
        id: CollectionId {
            system: sys.to_string(),
            collection: name.to_string(),
        },
        inputs,
        terms: Vec::new(),
        provides: coll.provides.clone(),
        fields: coll.fields.clone(),
        description: coll.description.clone(),
        erase,
    })
}

fn check_erase(c: &mut Checker<'_>, base: &[&str], raw: &RawErase) -> Option<EraseStrategy> {
    let mut p = base.to_vec();
    p.push("erase");
    match raw {
        RawErase::Word(w) if w == "delete" => Some(EraseStrategy::Delete),
        RawErase::Word(w) if w == "keep" => {
            c.at_value(&p, "`keep` needs a reason", Some("write `erase: { keep: true, because: \"tax law requires invoices for 10 years\" }`".into()));
            None
        }
        RawErase::Word(w) if w == "mask" => {
            c.at_value(
                &p,
                "`mask` needs the columns to mask",
                Some("write `erase: { mask: { email: hash } }`".into()),
            );
            None
        }
        RawErase::Word(w) => {
            c.at_value(
                &p,
                format!("unknown erase strategy '{w}'"),
                hint_for(w, &["delete", "keep", "mask"]),
            );
            None
        }
        RawErase::Detailed(d) => {
            let chosen = [
                d.mask.is_some(),
                d.keep == Some(true),
                d.delete == Some(true),
            ]
            .iter()
            .filter(|b| **b)
            .count();
            if chosen != 1 {
                c.at_value(
                    &p,
                    "say exactly one of `mask`, `keep: true` or `delete: true`",
                    None,
                );
                return None;
            }
            let because = d.because.clone().filter(|b| !b.trim().is_empty());
            if d.delete == Some(true) {
                return Some(EraseStrategy::Delete);
            }
            if d.keep == Some(true) {
                return match because {
                    Some(b) => Some(EraseStrategy::Keep { because: b }),
                    None => {
                        c.at_value(
                            &p,
                            "`keep` needs a reason in `because`",
                            Some("the reason is recorded in every report".into()),
                        );
                        None
                    }
                };
            }
            let fields = d.mask.clone().unwrap_or_default();
            if fields.is_empty() {
                c.at_value(&p, "`mask` lists no columns", None);
                return None;
            }
            let mut ok = true;
            for (col, method) in &fields {
                if !MASK_METHODS.contains(&method.as_str()) {
                    let mut mp = p.clone();
                    mp.extend(["mask", col.as_str()]);
                    c.at_value(
                        &mp,
                        format!("unknown mask method '{method}'"),
                        hint_for(method, &MASK_METHODS),
                    );
                    ok = false;
                }
            }
            ok.then_some(EraseStrategy::Mask { fields, because })
        }
    }
}

/// The generic rules alone, for tests of this layer: every `connector:` names a kind that
/// compares columns.
#[cfg(test)]
pub(crate) fn check_sql_only(loaded: super::load::Loaded) -> Result<Validated, super::Diagnostics> {
    struct Sql;
    impl Kinds for Sql {
        fn rules(&self, _connector: &str) -> Option<KindRules> {
            Some(KindRules {
                compares_columns: true,
            })
        }
        fn names(&self) -> Vec<&'static str> {
            Vec::new()
        }
    }
    let mut c = Checker::new(&loaded, false);
    let systems = check(&mut c, &Sql);
    c.finish()?;
    Ok(Validated { loaded, systems })
}
