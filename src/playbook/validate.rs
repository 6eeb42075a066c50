//! The rules every playbook follows, whatever its systems' kinds: names, legal bases,
//! identities, categories, erase strategies, references and the identity graph's shape.
//!
//! This layer knows no connector kind. What the rules need to know of one (whether it compares
//! columns, so that columns may match row by row and text may be compared in any case) it asks
//! through [`Kinds`]; each kind's own keys are checked by the kind, in the connectors layer, and
//! its `configure` step runs both so that the user sees every problem at once.

use super::check::{
    Checker, check_references, hint_for, inline_password, is_category, is_identifier,
    is_identity_kind, is_name, parse_duration,
};
use super::diagnostic::did_you_mean;
use super::interpolate;
use super::load::Loaded;
use super::model::{self, MatchCase, RawErase};
use super::settings::{Raw, Settings};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
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

/// A collection's address: `system.collection`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CollectionId {
    pub system: String,
    pub collection: String,
}

impl fmt::Display for CollectionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.system, self.collection)
    }
}

/// Where a match column gets its values from.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Source {
    /// An identity given in the request (`identity.email`).
    Identity(String),
    /// Values another collection provides (`users.user_id`).
    Provided { from: CollectionId, name: String },
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Identity(kind) => write!(f, "identity.{kind}"),
            Source::Provided { from, name } => write!(f, "{from}.{name}"),
        }
    }
}

/// One `match` reference: rows whose `column` equals a value from `source`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Input {
    pub column: String,
    pub source: Source,
    /// Compared case-insensitively (a text identity in a SQL system, unless `match_case: exact`).
    pub fold_case: bool,
}

/// One condition of a collection's find; a row is found when any of them holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MatchTerm {
    /// `column` equals any value of any of `sources`.
    Any {
        column: String,
        sources: Vec<Source>,
        fold_case: bool,
    },
    /// `columns`, together, equal the values `names` of one row of `from` (a composite key).
    Row {
        from: CollectionId,
        columns: Vec<String>,
        names: Vec<String>,
    },
}

impl MatchTerm {
    /// The columns this condition compares.
    pub fn columns(&self) -> Vec<String> {
        match self {
            MatchTerm::Any { column, .. } => vec![column.clone()],
            MatchTerm::Row { columns, .. } => columns.clone(),
        }
    }

    pub fn fold_case(&self) -> bool {
        matches!(
            self,
            MatchTerm::Any {
                fold_case: true,
                ..
            }
        )
    }
}

impl fmt::Display for MatchTerm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MatchTerm::Any {
                column,
                sources,
                fold_case,
            } => {
                let list: Vec<String> = sources.iter().map(ToString::to_string).collect();
                match list.as_slice() {
                    [one] => write!(f, "{column} = {one}")?,
                    many => write!(f, "{column} = any of {}", many.join(", "))?,
                }
                if *fold_case {
                    f.write_str(" (any case)")?;
                }
                Ok(())
            }
            MatchTerm::Row {
                from,
                columns,
                names,
            } => write!(
                f,
                "({}) = ({}) of one {from} row",
                columns.join(", "),
                names.join(", ")
            ),
        }
    }
}

/// What erasure does to a collection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EraseStrategy {
    Delete,
    Mask {
        fields: BTreeMap<String, String>,
        because: Option<String>,
    },
    Keep {
        because: String,
    },
}

impl fmt::Display for EraseStrategy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EraseStrategy::Delete => f.write_str("delete"),
            EraseStrategy::Mask { fields, .. } => {
                let parts: Vec<String> = fields.iter().map(|(c, m)| format!("{c}:{m}")).collect();
                write!(f, "mask {}", parts.join(", "))
            }
            EraseStrategy::Keep { .. } => f.write_str("keep"),
        }
    }
}

#[derive(Debug, Clone)]
pub struct CollectionSpec {
    pub id: CollectionId,
    pub inputs: Vec<Input>,
    /// The conditions a find uses, built from `inputs`; a row matches when any holds.
    pub terms: Vec<MatchTerm>,
    pub provides: BTreeMap<String, String>,
    pub fields: BTreeMap<String, model::Field>,
    pub description: Option<String>,
    pub erase: Option<EraseStrategy>,
}

impl CollectionSpec {
    /// Collections this one waits for.
    pub fn upstream(&self) -> BTreeSet<CollectionId> {
        self.inputs
            .iter()
            .filter_map(|i| match &i.source {
                Source::Provided { from, .. } => Some(from.clone()),
                Source::Identity(_) => None,
            })
            .collect()
    }

    /// The columns to read: `None` means every column.
    pub fn columns(&self) -> Option<Vec<String>> {
        if self.fields.is_empty() {
            return None;
        }
        let mut cols: Vec<String> = self.fields.keys().cloned().collect();
        for c in self.provides.values() {
            if !cols.contains(c) {
                cols.push(c.clone());
            }
        }
        Some(cols)
    }
}

/// One system that passed the generic rules. `kind` is what its connector kind made of its
/// own keys (`()` until the kind has read them; see the connectors layer's `configure`).
#[derive(Debug, Clone)]
pub struct SystemSpec<K = ()> {
    pub name: String,
    pub config: model::System,
    pub timeout: Duration,
    pub concurrency: usize,
    pub retries: u32,
    pub collections: BTreeMap<String, CollectionSpec>,
    /// The playbook's regulation (connectors that pass it on: opendsr).
    pub regulation: Option<String>,
    pub kind: K,
}

impl SystemSpec {
    /// The same system with what its kind made of its keys.
    pub fn with_kind<K>(self, kind: K) -> SystemSpec<K> {
        SystemSpec {
            name: self.name,
            config: self.config,
            timeout: self.timeout,
            concurrency: self.concurrency,
            retries: self.retries,
            collections: self.collections,
            regulation: self.regulation,
            kind,
        }
    }
}

/// A playbook that passed every check, with references resolved.
#[derive(Debug)]
pub struct Validated<K = ()> {
    pub loaded: Loaded,
    pub systems: BTreeMap<String, SystemSpec<K>>,
}

/// What the generic rules need to know of a connector kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KindRules {
    /// Finds rows by comparing columns in a query (SQL): columns may match together, row by
    /// row, and text identities may be compared in any case (`match_case`).
    pub compares_columns: bool,
}

/// The connector kinds a playbook may name, as the generic rules see them.
pub trait Kinds {
    /// The rules of the kind `connector:` names; `None` when it names none.
    fn rules(&self, connector: &str) -> Option<KindRules>;
    /// Every name `connector:` accepts (for "did you mean").
    fn names(&self) -> Vec<&'static str>;
}

impl<K> Validated<K> {
    pub fn collection(&self, id: &CollectionId) -> Option<&CollectionSpec> {
        self.systems
            .get(&id.system)?
            .collections
            .get(&id.collection)
    }

    pub fn identities(&self) -> &[String] {
        &self.loaded.playbook.identities
    }
}

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
    resolve_references(c, kinds, &mut systems);
    check_graph(c, &systems);

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
            Raw::Text(text) => {
                if inline_password(text) {
                    c.at_value(
                        &at,
                        format!("the {key} holds a password inline"),
                        Some(format!(
                            "put the secret in the environment and write `{key}: ${{env:VAR}}` or `${{file:PATH}}`"
                        )),
                    );
                }
                check_references(c, &at, text);
            }
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

/// What a reference string names before it is checked against the playbook.
enum RawRef<'a> {
    Identity(&'a str),
    Local {
        collection: &'a str,
        name: &'a str,
    },
    Qualified {
        system: &'a str,
        collection: &'a str,
        name: &'a str,
    },
}

fn parse_ref(s: &str) -> Option<RawRef<'_>> {
    match s.trim().split('.').collect::<Vec<_>>().as_slice() {
        ["identity", kind] => Some(RawRef::Identity(kind)),
        [coll, name] => Some(RawRef::Local {
            collection: coll,
            name,
        }),
        [sys, coll, name] => Some(RawRef::Qualified {
            system: sys,
            collection: coll,
            name,
        }),
        _ => None,
    }
}

fn resolve_references(
    c: &mut Checker<'_>,
    kinds: &dyn Kinds,
    systems: &mut BTreeMap<String, SystemSpec>,
) {
    let pb = &c.loaded.playbook;
    // Every collection of the playbook, also those with other errors, so references to them
    // do not produce follow-on noise.
    let all: BTreeMap<CollectionId, &model::Collection> = pb
        .systems
        .iter()
        .flat_map(|(s, sys)| {
            sys.collections.iter().map(move |(n, coll)| {
                (
                    CollectionId {
                        system: s.clone(),
                        collection: n.clone(),
                    },
                    coll,
                )
            })
        })
        .collect();
    let identities: Vec<&str> = pb.identities.iter().map(String::as_str).collect();
    for (sys_name, sys) in &pb.systems {
        // Systems with errors of their own have no spec: their kind-specific checks wait.
        let kind = systems
            .contains_key(sys_name)
            .then(|| kinds.rules(&sys.connector))
            .flatten();
        let sql = kind.is_some_and(|k| k.compares_columns);
        if sys.match_case.is_some() && !sql && kind.is_some() {
            c.at_key(
                &["systems", sys_name.as_str(), "match_case"],
                "`match_case` applies to SQL systems (postgres, mysql, sqlite)",
                Some("identities reach other systems as given, with emails lower-cased".into()),
            );
        }
        for (coll_name, coll) in &sys.collections {
            let base = [
                "systems",
                sys_name.as_str(),
                "collections",
                coll_name.as_str(),
            ];
            if coll.match_case.is_some() && !sql && kind.is_some() {
                let mut p = base.to_vec();
                p.push("match_case");
                c.at_key(
                    &p,
                    "`match_case` applies to SQL systems (postgres, mysql, sqlite)",
                    None,
                );
            }
            let case = coll.match_case.or(sys.match_case);
            let mut inputs = Vec::new();
            for (column, references) in &coll.match_on {
                let many = references.0.len() > 1;
                for (i, reference) in references.iter().enumerate() {
                    let index = i.to_string();
                    let mut path = base.to_vec();
                    path.extend(["match", column.as_str()]);
                    if many {
                        path.push(index.as_str());
                    }
                    if let Some(source) =
                        resolve_one(c, &path, sys_name, reference, &all, &identities)
                    {
                        if inputs
                            .iter()
                            .any(|i: &Input| i.column == *column && i.source == source)
                        {
                            c.at_value(
                                &path,
                                format!("'{reference}' is listed twice for '{column}'"),
                                Some("list each reference once".into()),
                            );
                            continue;
                        }
                        let fold_case = sql
                            && match &source {
                                Source::Identity(kind) => match case {
                                    Some(MatchCase::Insensitive) => true,
                                    Some(MatchCase::Exact) => false,
                                    None => kind == "email",
                                },
                                Source::Provided { .. } => false,
                            };
                        inputs.push(Input {
                            column: column.clone(),
                            source,
                            fold_case,
                        });
                    }
                }
            }
            let terms = match group_terms(&inputs) {
                Ok(terms) => terms,
                Err(problem) => {
                    let mut p = base.to_vec();
                    p.push("match");
                    c.at_key(&p, problem.message, Some(problem.hint));
                    Vec::new()
                }
            };
            if !sql
                && kind.is_some()
                && let Some(MatchTerm::Row { from, columns, .. }) =
                    terms.iter().find(|t| matches!(t, MatchTerm::Row { .. }))
            {
                let mut p = base.to_vec();
                p.push("match");
                c.at_key(
                    &p,
                    format!(
                        "{} match together on one row of {from}, which a {} system cannot do",
                        columns.join(", "),
                        sys.connector
                    ),
                    Some(
                        "match row by row in SQL systems only; here, match on one value that \
                         identifies the row (e.g. provide a single id)"
                            .into(),
                    ),
                );
            }
            if let Some(spec) = systems
                .get_mut(sys_name)
                .and_then(|s| s.collections.get_mut(coll_name))
            {
                spec.inputs = inputs;
                spec.terms = terms;
            }
        }
    }
}

/// Why a collection's `match` cannot be turned into conditions.
struct TermProblem {
    message: String,
    hint: String,
}

/// Groups a collection's resolved inputs into the conditions a find uses: the columns whose
/// references name one upstream collection match together, row by row; every other column
/// matches on its own (any of its references' values).
fn group_terms(inputs: &[Input]) -> Result<Vec<MatchTerm>, TermProblem> {
    let mut by_upstream: BTreeMap<&CollectionId, Vec<&Input>> = BTreeMap::new();
    let mut any: Vec<MatchTerm> = Vec::new();
    let mut add_any = |column: &str, source: &Source, fold_case: bool| {
        for t in &mut any {
            if let MatchTerm::Any {
                column: c,
                sources,
                fold_case: f,
            } = t
                && c == column
                && *f == fold_case
            {
                sources.push(source.clone());
                return;
            }
        }
        any.push(MatchTerm::Any {
            column: column.to_string(),
            sources: vec![source.clone()],
            fold_case,
        });
    };
    for input in inputs {
        match &input.source {
            Source::Identity(_) => add_any(&input.column, &input.source, input.fold_case),
            Source::Provided { from, .. } => by_upstream.entry(from).or_default().push(input),
        }
    }
    let mut rows = Vec::new();
    for (from, group) in by_upstream {
        let columns: BTreeSet<&str> = group.iter().map(|i| i.column.as_str()).collect();
        let names: BTreeSet<&str> = group
            .iter()
            .filter_map(|i| match &i.source {
                Source::Provided { name, .. } => Some(name.as_str()),
                Source::Identity(_) => None,
            })
            .collect();
        if columns.len() == 1 || names.len() == 1 {
            // One column taking several of the upstream's values, or several columns taking
            // the same value (a buyer or a seller): no key is split, so any of them.
            for i in &group {
                add_any(&i.column, &i.source, i.fold_case);
            }
        } else if columns.len() == group.len() && names.len() == group.len() {
            rows.push(MatchTerm::Row {
                from: from.clone(),
                columns: group.iter().map(|i| i.column.clone()).collect(),
                names: group
                    .iter()
                    .filter_map(|i| match &i.source {
                        Source::Provided { name, .. } => Some(name.clone()),
                        Source::Identity(_) => None,
                    })
                    .collect(),
            });
        } else {
            let cols: Vec<&str> = columns.into_iter().collect();
            return Err(TermProblem {
                message: format!(
                    "columns {} reference {from} in a way that is neither one key (each column a different value of one row) nor separate values: dsr cannot tell which of them match together",
                    cols.join(", ")
                ),
                hint: format!(
                    "reference {from} once per column (columns that reference one collection match together, row by row), or split the collection"
                ),
            });
        }
    }
    any.extend(rows);
    Ok(any)
}

fn resolve_one(
    c: &mut Checker<'_>,
    path: &[&str],
    here: &str,
    reference: &str,
    all: &BTreeMap<CollectionId, &model::Collection>,
    identities: &[&str],
) -> Option<Source> {
    let Some(raw) = parse_ref(reference) else {
        c.at_value(
            path,
            format!("'{reference}' is not a reference"),
            Some("write identity.KIND, COLLECTION.NAME or SYSTEM.COLLECTION.NAME".into()),
        );
        return None;
    };
    let (id, name) = match raw {
        RawRef::Identity(kind) => {
            if identities.contains(&kind) {
                return Some(Source::Identity(kind.to_string()));
            }
            let hint = match did_you_mean(kind, identities.iter().copied()) {
                Some(s) => format!("did you mean 'identity.{s}'?"),
                None => format!(
                    "declare it in `identities:` (now: {})",
                    identities.join(", ")
                ),
            };
            c.at_value(
                path,
                format!("identity kind '{kind}' is not declared"),
                Some(hint),
            );
            return None;
        }
        RawRef::Local { collection, name } => {
            let local = CollectionId {
                system: here.to_string(),
                collection: collection.to_string(),
            };
            if all.contains_key(&local) {
                (local, name)
            } else {
                let elsewhere: Vec<&CollectionId> = all
                    .keys()
                    .filter(|id| id.collection == collection)
                    .collect();
                match elsewhere.as_slice() {
                    [one] => ((*one).clone(), name),
                    [] => {
                        let names: Vec<&str> =
                            all.keys().map(|id| id.collection.as_str()).collect();
                        let hint =
                            did_you_mean(collection, names).map(|s| format!("did you mean '{s}'?"));
                        c.at_value(path, format!("unknown collection '{collection}'"), hint);
                        return None;
                    }
                    many => {
                        let opts: Vec<String> =
                            many.iter().map(|id| format!("{id}.{name}")).collect();
                        c.at_value(
                            path,
                            format!("collection '{collection}' exists in several systems"),
                            Some(format!("qualify it: {}", opts.join(" or "))),
                        );
                        return None;
                    }
                }
            }
        }
        RawRef::Qualified {
            system,
            collection,
            name,
        } => {
            let id = CollectionId {
                system: system.to_string(),
                collection: collection.to_string(),
            };
            if !all.keys().any(|k| k.system == system) {
                let names: BTreeSet<&str> = all.keys().map(|k| k.system.as_str()).collect();
                let hint = did_you_mean(system, names).map(|s| format!("did you mean '{s}'?"));
                c.at_value(path, format!("unknown system '{system}'"), hint);
                return None;
            }
            if !all.contains_key(&id) {
                let names: Vec<&str> = all
                    .keys()
                    .filter(|k| k.system == system)
                    .map(|k| k.collection.as_str())
                    .collect();
                let hint = did_you_mean(collection, names).map(|s| format!("did you mean '{s}'?"));
                c.at_value(
                    path,
                    format!("unknown collection '{collection}' in system '{system}'"),
                    hint,
                );
                return None;
            }
            (id, name)
        }
    };
    let provides = &all[&id].provides;
    if !provides.contains_key(name) {
        let hint = if provides.is_empty() {
            format!("add `provides: {{ {name}: COLUMN }}` to {id}")
        } else {
            let names: Vec<&str> = provides.keys().map(String::as_str).collect();
            match did_you_mean(name, names.iter().copied()) {
                Some(s) => format!("did you mean '{s}'? {id} provides: {}", names.join(", ")),
                None => format!("{id} provides: {}", names.join(", ")),
            }
        };
        c.at_value(path, format!("{id} does not provide '{name}'"), Some(hint));
        return None;
    }
    Some(Source::Provided {
        from: id,
        name: name.to_string(),
    })
}

/// Cycles in the identity graph, and collections that wait on one.
fn check_graph(c: &mut Checker<'_>, systems: &BTreeMap<String, SystemSpec>) {
    let specs: BTreeMap<CollectionId, &CollectionSpec> = systems
        .values()
        .flat_map(|s| s.collections.values().map(|c| (c.id.clone(), c)))
        .collect();
    // 0 = unvisited, 1 = on the stack, 2 = finished and acyclic, 3 = finished and blocked.
    let mut state: BTreeMap<CollectionId, u8> = BTreeMap::new();
    let mut reported: BTreeSet<Vec<CollectionId>> = BTreeSet::new();
    fn visit(
        id: &CollectionId,
        specs: &BTreeMap<CollectionId, &CollectionSpec>,
        state: &mut BTreeMap<CollectionId, u8>,
        stack: &mut Vec<CollectionId>,
        cycles: &mut Vec<Vec<CollectionId>>,
    ) -> bool {
        match state.get(id).copied().unwrap_or(0) {
            1 => {
                let start = stack.iter().position(|s| s == id).unwrap_or(0);
                let mut cycle = stack[start..].to_vec();
                cycle.push(id.clone());
                cycles.push(cycle);
                return false;
            }
            2 => return true,
            3 => return false,
            _ => {}
        }
        let Some(spec) = specs.get(id) else {
            return true;
        };
        state.insert(id.clone(), 1);
        stack.push(id.clone());
        let mut ok = true;
        for up in spec.upstream() {
            ok &= visit(&up, specs, state, stack, cycles);
        }
        stack.pop();
        state.insert(id.clone(), if ok { 2 } else { 3 });
        ok
    }
    for id in specs.keys() {
        let mut cycles = Vec::new();
        let ok = visit(id, &specs, &mut state, &mut Vec::new(), &mut cycles);
        for cycle in cycles {
            let mut key = cycle[..cycle.len() - 1].to_vec();
            key.sort();
            if reported.insert(key) {
                let text: Vec<String> = cycle.iter().map(ToString::to_string).collect();
                let first = &cycle[0];
                c.at_key(
                    &["systems", &first.system, "collections", &first.collection, "match"],
                    format!("the identity graph has a cycle: {}", text.join(" → ")),
                    Some("one of these collections must match on an identity or on a collection outside the cycle".into()),
                );
            }
        }
        if !ok && !reported.iter().any(|r| r.contains(id)) {
            c.at_key(
                &[
                    "systems",
                    &id.system,
                    "collections",
                    &id.collection,
                    "match",
                ],
                "no identity can reach this collection: it waits on a cycle",
                None,
            );
        }
    }
}

/// The generic rules alone, for tests of this layer: every `connector:` names a kind that
/// compares columns.
#[cfg(test)]
pub(crate) fn check_sql_only(loaded: Loaded) -> Result<Validated, super::Diagnostics> {
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
