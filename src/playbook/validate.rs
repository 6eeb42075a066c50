//! Everything that can be checked without touching a system: names, kinds, references,
//! the identity graph's shape, secrets' availability. Returns either a [`Validated`]
//! playbook whose references are resolved, or every problem found (not only the first).

use super::diagnostic::{Diagnostic, Diagnostics, did_you_mean};
use super::interpolate::{self, Reference};
use super::load::Loaded;
use super::model::{self, MatchCase, RawErase};
use crate::connectors::ConnectorKind;
use crate::connectors::http::definition::{self as http_def, Definition};
use crate::connectors::template::{Template, TemplateError};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::Arc;
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

/// A table name, optionally schema-qualified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableName {
    pub schema: Option<String>,
    pub name: String,
}

impl fmt::Display for TableName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.schema {
            Some(s) => write!(f, "{s}.{}", self.name),
            None => f.write_str(&self.name),
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
    pub table: TableName,
    pub inputs: Vec<Input>,
    /// The conditions a find uses, built from `inputs`; a row matches when any holds.
    pub terms: Vec<MatchTerm>,
    pub provides: BTreeMap<String, String>,
    pub fields: BTreeMap<String, model::Field>,
    pub description: Option<String>,
    pub erase: Option<EraseStrategy>,
    /// Columns that identify one record, when the table has no primary key.
    pub key: Option<Vec<String>>,
    /// Redis key templates, or the files connector's path template (one), parsed.
    pub templates: Vec<Template>,
    /// Files: the format whose rows are the records (`None`: whole files are).
    pub format: Option<crate::connectors::files::FileFormat>,
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

#[derive(Debug, Clone)]
pub struct SystemSpec {
    pub name: String,
    pub kind: ConnectorKind,
    pub config: model::System,
    pub timeout: Duration,
    pub concurrency: usize,
    pub retries: u32,
    pub collections: BTreeMap<String, CollectionSpec>,
    /// `http` systems: the API definition.
    pub definition: Option<Arc<Definition>>,
    /// The playbook's regulation (connectors that pass it on: opendsr).
    pub regulation: Option<String>,
}

/// A playbook that passed every check, with references resolved.
#[derive(Debug)]
pub struct Validated {
    pub loaded: Loaded,
    pub systems: BTreeMap<String, SystemSpec>,
}

impl Validated {
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

struct Checker<'a> {
    loaded: &'a Loaded,
    out: Vec<Diagnostic>,
    /// Whether `${env:…}` variables and `${file:…}` secrets must be available.
    secrets: bool,
}

impl Checker<'_> {
    fn at_key(&mut self, path: &[&str], message: impl Into<String>, hint: Option<String>) {
        self.push(path, false, message.into(), hint);
    }

    fn at_value(&mut self, path: &[&str], message: impl Into<String>, hint: Option<String>) {
        self.push(path, true, message.into(), hint);
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

fn is_name(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphanumeric() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

fn is_identity_kind(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

fn is_category(s: &str) -> bool {
    !s.is_empty() && s.split('.').all(is_identity_kind)
}

fn is_identifier(s: &str) -> bool {
    !s.is_empty() && s.len() <= 128 && !s.chars().any(char::is_control)
}

fn hint_for(word: &str, candidates: &[&str]) -> Option<String> {
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

/// Checks a whole playbook. Pure but for environment and secret-file existence checks.
pub fn validate(loaded: Loaded) -> Result<Validated, Diagnostics> {
    check(loaded, true)
}

/// Checks a playbook for commands that read it but connect to nothing (`dsr map`) or to one
/// system only (`dsr discover --diff`): references must be well formed, but the variables
/// and secret files they name need not be available here.
pub fn validate_offline(loaded: Loaded) -> Result<Validated, Diagnostics> {
    check(loaded, false)
}

fn check(loaded: Loaded, secrets: bool) -> Result<Validated, Diagnostics> {
    let mut c = Checker {
        loaded: &loaded,
        out: Vec::new(),
        secrets,
    };
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
            check_references(&mut c, &["hash_key"], key);
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
        check_ledger(&mut c, ledger);
    }

    let mut systems = BTreeMap::new();
    for (sys_name, sys) in &pb.systems {
        if let Some(spec) = check_system(&mut c, sys_name, sys) {
            systems.insert(sys_name.clone(), spec);
        }
    }
    resolve_references(&mut c, &mut systems);
    check_graph(&mut c, &systems);

    if c.out.is_empty() {
        Ok(Validated { loaded, systems })
    } else {
        let mut out = c.out;
        // The playbook's own problems first, then those of connector definitions it uses.
        let main = loaded.display_path();
        out.sort_by_key(|d| {
            (
                d.file != main,
                d.file.clone(),
                d.pos.map(|p| (p.line, p.column)),
            )
        });
        Err(Diagnostics(out))
    }
}

fn check_system(c: &mut Checker<'_>, name: &str, sys: &model::System) -> Option<SystemSpec> {
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
    let mut definition = None;
    let kind = match ConnectorKind::parse(&sys.connector) {
        Some(k) => Some(k),
        None if http_def::SHIPPED.iter().any(|(n, _)| *n == sys.connector) => {
            Some(ConnectorKind::Http)
        }
        None => {
            let names = ConnectorKind::names();
            c.at_value(
                &path(&["connector"]),
                format!("unknown connector kind '{}'", sys.connector),
                hint_for(&sys.connector, &names),
            );
            None
        }
    };
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
    if let Some(kind) = kind {
        check_location(c, name, sys, kind);
    }
    if sys.max_keys.is_some()
        && kind.is_some_and(|k| !matches!(k, ConnectorKind::Redis | ConnectorKind::S3))
    {
        c.at_key(
            &path(&["max_keys"]),
            "`max_keys` applies to redis and s3 systems only",
            None,
        );
    }
    if kind.is_some_and(|k| k != ConnectorKind::S3) {
        for (f, set) in [
            ("bucket", sys.bucket.is_some()),
            ("endpoint", sys.endpoint.is_some()),
            ("region", sys.region.is_some()),
            ("path_style", sys.path_style.is_some()),
        ] {
            if set {
                c.at_key(
                    &path(&[f]),
                    format!("`{f}` applies to s3 systems only"),
                    None,
                );
            }
        }
    }
    if sys.max_keys == Some(0) {
        c.at_value(&path(&["max_keys"]), "max_keys must be at least 1", None);
    }
    check_connection_files(c, name, sys);
    if kind == Some(ConnectorKind::Http) {
        definition = load_definition(c, name, sys);
        if definition.is_none() {
            ok = false;
        }
    }
    if sys.collections.is_empty() {
        c.at_key(
            &base,
            "no collections declared",
            Some("list the tables that hold personal data under `collections:`".into()),
        );
    }
    let mut collections = BTreeMap::new();
    for (coll_name, coll) in &sys.collections {
        if let Some(mut spec) = check_collection(c, name, kind, coll_name, coll) {
            if let Some(def) = &definition {
                match check_resource(c, name, coll_name, coll, def) {
                    Some(resource) => {
                        spec.table = TableName {
                            schema: None,
                            name: resource,
                        }
                    }
                    None => continue,
                }
            }
            collections.insert(coll_name.clone(), spec);
        }
    }
    if let Some(def) = &definition {
        check_http_settings(c, name, sys, def);
    }
    if kind.is_some_and(|k| k != ConnectorKind::Http) {
        for (coll_name, coll) in &sys.collections {
            if coll.resource.is_some() {
                c.at_key(
                    &["systems", name, "collections", coll_name, "resource"],
                    "`resource` applies to http systems only",
                    Some("SQL systems name their table with `table:`".into()),
                );
            }
        }
    }
    let kind = kind?;
    ok.then(|| SystemSpec {
        name: name.to_string(),
        kind,
        config: sys.clone(),
        timeout,
        concurrency: sys.concurrency.unwrap_or(DEFAULT_SYSTEM_CONCURRENCY).max(1),
        retries: sys.retries.unwrap_or(DEFAULT_RETRIES),
        collections,
        definition,
        regulation: c.loaded.playbook.regulation.clone(),
    })
}

/// The definition an `http` system uses: a shipped one by name, or `definition: FILE`.
fn load_definition(
    c: &mut Checker<'_>,
    name: &str,
    sys: &model::System,
) -> Option<Arc<Definition>> {
    let loaded = match (&sys.definition, sys.connector.as_str()) {
        (Some(file), _) => {
            let joined = c.loaded.dir.join(file);
            // Shown in messages: as written when the playbook is in the current directory.
            let path = joined.strip_prefix(".").unwrap_or(&joined).to_path_buf();
            if !path.is_file() {
                c.at_value(
                    &["systems", name, "definition"],
                    format!("connector definition '{file}' not found"),
                    Some("the path is relative to the playbook".into()),
                );
                return None;
            }
            http_def::load_file(&path)
        }
        (None, "http") => {
            c.at_key(
                &["systems", name],
                "an http system needs `definition: FILE`",
                Some(format!(
                    "or name a shipped definition in `connector:` ({})",
                    http_def::SHIPPED
                        .iter()
                        .map(|(n, _)| *n)
                        .collect::<Vec<_>>()
                        .join(", ")
                )),
            );
            return None;
        }
        (None, shipped) => http_def::shipped(shipped)?,
    };
    match loaded {
        Ok(def) => Some(Arc::new(def)),
        Err(diags) => {
            c.out.extend(diags.0);
            None
        }
    }
}

/// The collection's resource exists, and its find only uses what the playbook provides.
fn check_resource(
    c: &mut Checker<'_>,
    sys: &str,
    coll_name: &str,
    coll: &model::Collection,
    def: &Definition,
) -> Option<String> {
    let resource = coll
        .resource
        .clone()
        .unwrap_or_else(|| coll_name.to_string());
    let base = ["systems", sys, "collections", coll_name];
    let mut rp = base.to_vec();
    rp.push("resource");
    let Some(res) = def.resources.get(&resource) else {
        let names: Vec<&str> = def.resources.keys().map(String::as_str).collect();
        let hint = match did_you_mean(&resource, names.iter().copied()) {
            Some(s) => format!("did you mean '{s}'?"),
            None => format!("{} offers: {}", def.name, names.join(", ")),
        };
        let message = format!("the {} definition has no resource '{resource}'", def.name);
        if coll.resource.is_some() {
            c.at_value(&rp, message, Some(hint));
        } else {
            c.at_key(&base, message, Some(format!("set `resource:`; {hint}")));
        }
        return None;
    };
    let identities = &c.loaded.playbook.identities;
    let mut ok = true;
    for var in http_def::find_variables(res) {
        let problem = match var.split_once('.') {
            Some(("identity", kind)) if !identities.iter().any(|i| i == kind) => Some(format!(
                "resource '{resource}' uses {{{var}}}, but identity kind '{kind}' is not declared"
            )),
            Some(("identity", kind))
                if !coll
                    .match_on
                    .values()
                    .flat_map(|r| r.iter())
                    .any(|r| r.trim() == format!("identity.{kind}")) =>
            {
                Some(format!(
                    "resource '{resource}' uses {{{var}}}: add `match: {{ COLUMN: identity.{kind} }}`"
                ))
            }
            Some(("match", col)) if !coll.match_on.contains_key(col) => Some(format!(
                "resource '{resource}' uses {{{var}}}, but this collection does not match on '{col}'"
            )),
            _ => None,
        };
        if let Some(message) = problem {
            c.at_key(&base, message, None);
            ok = false;
        }
    }
    ok.then_some(resource)
}

/// `auth:` and `config:` of an http system against what its definition asks for.
fn check_http_settings(c: &mut Checker<'_>, name: &str, sys: &model::System, def: &Definition) {
    let base = ["systems", name];
    let required = def.auth.required_keys();
    for key in required {
        if !sys.auth.contains_key(*key) {
            c.at_key(
                &base,
                format!(
                    "`auth.{key}` is missing ({} uses {} auth)",
                    def.name,
                    def.auth.kind()
                ),
                Some(format!("add `auth: {{ {key}: ${{env:VAR}} }}`")),
            );
        }
    }
    for key in sys.auth.keys() {
        if !required.contains(&key.as_str()) {
            c.at_key(
                &["systems", name, "auth", key],
                format!("{} auth takes no '{key}'", def.auth.kind()),
                hint_for(key, required),
            );
        }
    }
    // Config a base_url override makes unnecessary is not required.
    let mut used: BTreeSet<String> = BTreeSet::new();
    let mut texts: Vec<String> = def.headers.values().cloned().collect();
    for res in def.resources.values() {
        let reqs = res
            .find
            .iter()
            .chain(res.get.iter())
            .chain(res.update.iter())
            .chain(res.erase.iter().flat_map(|e| e.steps()));
        for r in reqs {
            texts.push(r.path.clone());
            texts.extend(r.query.values().cloned());
            texts.extend(r.form.values().cloned());
            texts.extend(r.headers.values().cloned());
            if let Some(b) = &r.body {
                http_def::collect_strings(b, &mut texts);
            }
            if let Some(j) = &r.job {
                texts.push(j.poll.path.clone());
                texts.extend(j.poll.query.values().cloned());
            }
        }
    }
    if sys.base_url.is_none() {
        texts.push(def.base_url.clone());
    }
    for t in &texts {
        if let Ok(vars) = super::super::connectors::http::template::variables(t) {
            used.extend(
                vars.into_iter()
                    .filter_map(|v| v.strip_prefix("config.").map(String::from)),
            );
        }
    }
    for key in &used {
        if !sys.config.contains_key(key) {
            let what = def.config.get(key).cloned().unwrap_or_default();
            c.at_key(
                &base,
                format!("`config.{key}` is missing: {what}"),
                Some(format!("add `config: {{ {key}: … }}`")),
            );
        }
    }
    let declared: Vec<&str> = def.config.keys().map(String::as_str).collect();
    for (key, value) in &sys.config {
        let p = ["systems", name, "config", key.as_str()];
        if !def.config.contains_key(key) {
            c.at_key(
                &p,
                format!("{} takes no config '{key}'", def.name),
                if declared.is_empty() {
                    None
                } else {
                    hint_for(key, &declared)
                },
            );
        }
        check_references(c, &p, value);
    }
}

/// Connection settings: the right ones for the kind, secrets by reference only.
fn check_location(c: &mut Checker<'_>, name: &str, sys: &model::System, kind: ConnectorKind) {
    let base = ["systems", name];
    let p = |f: &'static str| -> [&str; 3] { [base[0], base[1], f] };
    let http_only: [(&'static str, bool); 4] = [
        ("definition", sys.definition.is_some()),
        ("base_url", sys.base_url.is_some()),
        ("config", !sys.config.is_empty()),
        ("signature_header", sys.signature_header.is_some()),
    ];
    match kind {
        ConnectorKind::Http => {
            for (f, set) in [
                ("url", sys.url.is_some()),
                ("path", sys.path.is_some()),
                ("seed", sys.seed.is_some()),
                ("schema", sys.schema.is_some()),
                ("signature_header", sys.signature_header.is_some()),
            ] {
                if set {
                    c.at_key(&p(f), format!("`{f}` does not apply to http systems"), None);
                }
            }
            if sys.definition.is_some() && sys.connector != "http" {
                c.at_key(
                    &p("definition"),
                    format!(
                        "`definition` is for `connector: http`; '{}' is a shipped definition",
                        sys.connector
                    ),
                    None,
                );
            }
            if let Some(u) = &sys.base_url {
                check_references(c, &p("base_url"), u);
                if !interpolate::has_references(u)
                    && let Err(e) = http_def::transport_allowed(u, false)
                {
                    c.at_value(&p("base_url"), e, None);
                }
            }
        }
        ConnectorKind::Opendsr => {
            if sys.base_url.is_none() {
                c.at_key(
                    &base,
                    "an opendsr system needs `base_url` (the processor's OpenDSR endpoint)",
                    None,
                );
            }
            if let Some(u) = &sys.base_url {
                check_references(c, &p("base_url"), u);
                if !interpolate::has_references(u)
                    && let Err(e) = http_def::transport_allowed(u, false)
                {
                    c.at_value(&p("base_url"), e, None);
                }
            }
            if !sys.auth.contains_key("token") {
                c.at_key(
                    &base,
                    "an opendsr system needs `auth: { token: ${env:VAR} }`",
                    None,
                );
            }
            for key in sys.auth.keys().filter(|k| *k != "token") {
                c.at_key(
                    &["systems", name, "auth", key],
                    format!("opendsr auth takes only 'token', not '{key}'"),
                    None,
                );
            }
            for (key, value) in &sys.config {
                let cp = ["systems", name, "config", key.as_str()];
                if !crate::connectors::opendsr::CONFIG_KEYS.contains(&key.as_str()) {
                    c.at_key(
                        &cp,
                        format!("opendsr takes no config '{key}'"),
                        hint_for(key, &crate::connectors::opendsr::CONFIG_KEYS),
                    );
                } else if parse_duration(value).is_none() {
                    c.at_value(
                        &cp,
                        format!("'{value}' is not a duration"),
                        Some("write e.g. 30s, 500ms or 2m".into()),
                    );
                }
            }
            for (f, set) in [
                ("url", sys.url.is_some()),
                ("path", sys.path.is_some()),
                ("seed", sys.seed.is_some()),
                ("schema", sys.schema.is_some()),
                ("definition", sys.definition.is_some()),
                ("signature_header", sys.signature_header.is_some()),
            ] {
                if set {
                    c.at_key(
                        &p(f),
                        format!("`{f}` does not apply to opendsr systems"),
                        None,
                    );
                }
            }
        }
        ConnectorKind::Webhook => {
            if sys.url.is_none() {
                c.at_key(
                    &base,
                    "a webhook system needs `url`",
                    Some("e.g. `url: https://erasure.internal/dsr`".into()),
                );
            }
            if !sys.auth.contains_key("secret") {
                c.at_key(
                    &base,
                    "a webhook system needs `auth: { secret: ${env:VAR} }` to sign its calls",
                    None,
                );
            }
            for key in sys.auth.keys().filter(|k| *k != "secret") {
                c.at_key(
                    &["systems", name, "auth", key],
                    format!("webhook auth takes only 'secret', not '{key}'"),
                    None,
                );
            }
            for (f, set) in [
                ("path", sys.path.is_some()),
                ("seed", sys.seed.is_some()),
                ("schema", sys.schema.is_some()),
                ("definition", sys.definition.is_some()),
                ("base_url", sys.base_url.is_some()),
                ("config", !sys.config.is_empty()),
            ] {
                if set {
                    c.at_key(
                        &p(f),
                        format!("`{f}` does not apply to webhook systems"),
                        None,
                    );
                }
            }
        }
        _ => {
            for (f, set) in http_only {
                if set {
                    c.at_key(&p(f), format!("`{f}` applies to http systems only"), None);
                }
            }
            if !sys.auth.is_empty() {
                c.at_key(
                    &p("auth"),
                    "`auth` applies to http and webhook systems only",
                    Some(if kind == ConnectorKind::S3 {
                        "s3 credentials come from the AWS environment or profile (AWS_ACCESS_KEY_ID, AWS_PROFILE)".into()
                    } else {
                        "database credentials go in `url`, by reference".into()
                    }),
                );
            }
        }
    }
    // Secrets by reference only, and the referenced ones must exist.
    for (key, value) in &sys.auth {
        let ap = ["systems", name, "auth", key.as_str()];
        // User names and client ids identify; everything else authenticates.
        let secret = !matches!(key.as_str(), "username" | "client_id");
        if secret && !interpolate::has_references(value) {
            c.at_value(
                &ap,
                format!("`auth.{key}` holds a secret inline"),
                Some(format!(
                    "put it in the environment and write `{key}: ${{env:VAR}}` or `${{file:PATH}}`"
                )),
            );
        }
        check_references(c, &ap, value);
    }
    match kind {
        ConnectorKind::Http | ConnectorKind::Webhook | ConnectorKind::Opendsr => {}
        ConnectorKind::Manual => {
            if sys
                .instructions
                .as_deref()
                .is_none_or(|i| i.trim().is_empty())
            {
                c.at_key(
                    &base,
                    "a manual system needs `instructions`: what the person must do",
                    Some("e.g. `instructions: Shred the contract in archive box 12`".into()),
                );
            }
            for (f, set) in [
                ("url", sys.url.is_some()),
                ("path", sys.path.is_some()),
                ("seed", sys.seed.is_some()),
                ("schema", sys.schema.is_some()),
            ] {
                if set {
                    c.at_key(
                        &p(f),
                        format!("`{f}` does not apply to manual systems"),
                        None,
                    );
                }
            }
        }
        ConnectorKind::Files => {
            if sys.path.is_none() {
                c.at_key(
                    &base,
                    "a files system needs `path`, the directory its collections' paths start from",
                    Some("e.g. `path: /srv/app/data` or a path relative to the playbook".into()),
                );
            }
            refuse_fields(
                c,
                name,
                "files",
                &[
                    ("url", sys.url.is_some()),
                    ("seed", sys.seed.is_some()),
                    ("schema", sys.schema.is_some()),
                ],
                None,
            );
        }
        ConnectorKind::S3 => check_s3_location(c, name, sys),
        ConnectorKind::Sqlite => {
            if sys.url.is_some() == sys.path.is_some() {
                c.at_key(
                    &base,
                    "a sqlite system needs exactly one of `path` or `url`",
                    Some("e.g. `path: data/app.db` (relative to the playbook)".into()),
                );
            }
        }
        ConnectorKind::Postgres | ConnectorKind::Mysql | ConnectorKind::Redis => {
            if sys.url.is_none() {
                c.at_key(
                    &base,
                    format!("a {} system needs `url`", kind.name()),
                    Some(if kind == ConnectorKind::Redis {
                        "e.g. `url: ${env:REDIS_URL}` (redis://, or rediss:// for TLS)".into()
                    } else {
                        "e.g. `url: ${env:APP_DB_URL}`".into()
                    }),
                );
            }
            for f in ["path", "seed"] {
                let set = if f == "path" {
                    sys.path.is_some()
                } else {
                    sys.seed.is_some()
                };
                if set {
                    c.at_key(&p(f), format!("`{f}` applies to sqlite systems only"), None);
                }
            }
            if kind == ConnectorKind::Redis && sys.schema.is_some() {
                c.at_key(
                    &p("schema"),
                    "`schema` does not apply to redis systems",
                    Some("choose the database number in the url: redis://host:6379/2".into()),
                );
            }
        }
    }
}

/// An s3 system names its bucket and, for S3-compatible stores, an http(s) endpoint; its
/// credentials come from the AWS chain, so nothing here may hold one.
fn check_s3_location(c: &mut Checker<'_>, name: &str, sys: &model::System) {
    let base = ["systems", name];
    let p = |f: &'static str| -> [&str; 3] { [base[0], base[1], f] };
    match &sys.bucket {
        None => c.at_key(
            &base,
            "an s3 system needs `bucket`",
            Some(
                "e.g. `bucket: acme-uploads`; credentials come from the AWS environment or profile"
                    .into(),
            ),
        ),
        Some(b) if interpolate::has_references(b) => check_references(c, &p("bucket"), b),
        Some(b) if !crate::connectors::s3::is_bucket_name(b) => c.at_value(
            &p("bucket"),
            format!("'{b}' is not a bucket name"),
            Some("write the bucket's name only, e.g. `bucket: acme-uploads`".into()),
        ),
        Some(_) => {}
    }
    if let Some(e) = &sys.endpoint {
        check_references(c, &p("endpoint"), e);
        let web = e.starts_with("http://") || e.starts_with("https://");
        if !web && !interpolate::has_references(e) {
            c.at_value(
                &p("endpoint"),
                format!("'{e}' is not an http(s) URL"),
                Some("e.g. `endpoint: http://127.0.0.1:9000` for MinIO".into()),
            );
        } else if inline_password(e) {
            c.at_value(
                &p("endpoint"),
                "the endpoint holds a password inline",
                Some("credentials come from the AWS environment or profile".into()),
            );
        }
    }
    refuse_fields(
        c,
        name,
        "s3",
        &[
            ("url", sys.url.is_some()),
            ("path", sys.path.is_some()),
            ("seed", sys.seed.is_some()),
            ("schema", sys.schema.is_some()),
        ],
        Some("name the store with `bucket` (and `endpoint` for S3-compatible stores)"),
    );
}

/// Settings of other kinds that a system of kind `owner` has no use for.
fn refuse_fields(
    c: &mut Checker<'_>,
    name: &str,
    owner: &str,
    fields: &[(&'static str, bool)],
    hint: Option<&str>,
) {
    for (f, set) in fields {
        if *set {
            c.at_key(
                &["systems", name, f],
                format!("`{f}` does not apply to {owner} systems"),
                hint.map(String::from),
            );
        }
    }
}

/// Secrets by reference only, and the references and files available. Needs no connector
/// kind, so a misspelt `connector:` does not hide these errors.
fn check_connection_files(c: &mut Checker<'_>, name: &str, sys: &model::System) {
    let p = |f: &'static str| -> [&str; 3] { ["systems", name, f] };
    if let Some(url) = &sys.url {
        if inline_password(url) {
            c.at_value(&p("url"), "the url holds a password inline", Some("put the secret in the environment and write `url: ${env:APP_DB_URL}` or `${file:PATH}`".into()));
        }
        check_references(c, &p("url"), url);
    }
    if let Some(path) = &sys.path {
        check_references(c, &p("path"), path);
    }
    if let Some(seed) = &sys.seed
        && !c.loaded.dir.join(seed).is_file()
    {
        c.at_value(
            &p("seed"),
            format!("seed file '{seed}' not found"),
            Some("the path is relative to the playbook".into()),
        );
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

/// `scheme://user:password@host` with a literal password.
fn inline_password(url: &str) -> bool {
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

fn check_references(c: &mut Checker<'_>, path: &[&str], template: &str) {
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

fn check_collection(
    c: &mut Checker<'_>,
    sys: &str,
    kind: Option<ConnectorKind>,
    name: &str,
    coll: &model::Collection,
) -> Option<CollectionSpec> {
    let base = ["systems", sys, "collections", name];
    let errors_before = c.out.len();
    let (templates, format) = check_store_settings(c, &base, kind, coll);
    if !is_name(name) {
        c.at_key(
            &base,
            format!("'{name}' is not a valid collection name"),
            Some("use letters, digits, '_' and '-'; set `table:` for other table names".into()),
        );
    }
    let table_text = coll.table.clone().unwrap_or_else(|| name.to_string());
    let table = match table_text.split('.').collect::<Vec<_>>().as_slice() {
        [t] if is_identifier(t) => TableName {
            schema: None,
            name: t.to_string(),
        },
        [s, t] if is_identifier(s) && is_identifier(t) => TableName {
            schema: Some(s.to_string()),
            name: t.to_string(),
        },
        _ => {
            let mut p = base.to_vec();
            p.push("table");
            c.at_value(
                &p,
                format!("'{table_text}' is not a table name"),
                Some("write `table` or `schema.table`".into()),
            );
            TableName {
                schema: None,
                name: table_text.clone(),
            }
        }
    };
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
    (c.out.len() == errors_before).then(|| CollectionSpec {
        id: CollectionId {
            system: sys.to_string(),
            collection: name.to_string(),
        },
        table,
        inputs,
        terms: Vec::new(),
        provides: coll.provides.clone(),
        fields: coll.fields.clone(),
        description: coll.description.clone(),
        erase,
        key: coll.key.clone(),
        templates,
        format,
    })
}

/// The settings of stores that address records by name (Redis keys, file paths): allowed
/// only for their kind, templates well formed, every placeholder a `match` entry and every
/// `match` entry used, erase strategies the store can carry out.
fn check_store_settings(
    c: &mut Checker<'_>,
    base: &[&str],
    kind: Option<ConnectorKind>,
    coll: &model::Collection,
) -> (Vec<Template>, Option<crate::connectors::files::FileFormat>) {
    use crate::connectors::files::FileFormat;
    let at = |f: &'static str| -> Vec<&str> { base.iter().copied().chain([f]).collect() };
    let Some(kind) = kind else {
        return (Vec::new(), None);
    };
    let is = |k: ConnectorKind| kind == k;
    let only = |c: &mut Checker<'_>, f: &'static str, set: bool, owner: &str| {
        if set {
            c.at_key(
                &at(f),
                format!("`{f}` applies to {owner} systems only"),
                None,
            );
        }
    };
    only(
        c,
        "keys",
        coll.keys.is_some() && !is(ConnectorKind::Redis) && !is(ConnectorKind::S3),
        "redis and s3",
    );
    only(
        c,
        "metadata",
        coll.metadata.is_some() && !is(ConnectorKind::S3),
        "s3",
    );
    only(
        c,
        "path",
        coll.path.is_some() && !is(ConnectorKind::Files),
        "files",
    );
    only(
        c,
        "format",
        coll.format.is_some() && !is(ConnectorKind::Files),
        "files",
    );
    if is(ConnectorKind::Redis) || is(ConnectorKind::Files) || is(ConnectorKind::S3) {
        for (f, set) in [("table", coll.table.is_some()), ("key", coll.key.is_some())] {
            if set {
                c.at_key(
                    &at(f),
                    format!("`{f}` does not apply to {} systems", kind.name()),
                    Some(match kind {
                        ConnectorKind::Redis => "a Redis record is addressed by its key; list key templates under `keys:`"
                            .into(),
                        ConnectorKind::S3 => "an object is addressed by its key; list key templates under `keys:`".into(),
                        _ => "a file is addressed by its path; write `path:`".into(),
                    }),
                );
            }
        }
    }
    let metadata: &[String] = match &coll.metadata {
        Some(m) if is(ConnectorKind::S3) => m,
        _ => &[],
    };
    for m in metadata {
        if !coll.match_on.contains_key(m) {
            let names: Vec<&str> = coll.match_on.keys().map(String::as_str).collect();
            c.at_value(
                &at("metadata"),
                format!("metadata entry '{m}' is not an entry of `match`"),
                Some(match did_you_mean(m, names.iter().copied()) {
                    Some(s) => format!("did you mean '{s}'?"),
                    None => format!(
                        "name the metadata in `match`, e.g. `match: {{ {m}: identity.email }}`"
                    ),
                }),
            );
        }
    }
    if is(ConnectorKind::S3) {
        use crate::connectors::s3::RECORD_COLUMNS;
        let hint = || {
            Some(format!(
                "an object's record has: {}",
                RECORD_COLUMNS.join(", ")
            ))
        };
        for f in coll.fields.keys() {
            if !RECORD_COLUMNS.contains(&f.as_str()) {
                let p: Vec<&str> = base.iter().copied().chain(["fields", f.as_str()]).collect();
                c.at_key(&p, format!("'{f}' is not a column of s3 records"), hint());
            }
        }
        for (name, col) in &coll.provides {
            if !RECORD_COLUMNS.contains(&col.as_str()) {
                let p: Vec<&str> = base
                    .iter()
                    .copied()
                    .chain(["provides", name.as_str()])
                    .collect();
                c.at_value(&p, format!("'{col}' is not a column of s3 records"), hint());
            }
        }
    }
    if coll.metadata.as_ref().is_some_and(Vec::is_empty) && is(ConnectorKind::S3) {
        c.at_value(
            &at("metadata"),
            "`metadata` is empty",
            Some("list the `match` entries compared with the objects' user metadata".into()),
        );
    }
    let format = match (&coll.format, is(ConnectorKind::Files)) {
        (Some(f), true) => match FileFormat::parse(f) {
            Some(f) => Some(f),
            None => {
                c.at_value(
                    &at("format"),
                    format!("unknown file format '{f}'"),
                    hint_for(f, &FileFormat::NAMES),
                );
                None
            }
        },
        _ => None,
    };
    let texts: Vec<(Vec<&str>, &String)> = match kind {
        ConnectorKind::Redis => match &coll.keys {
            Some(keys) if !keys.is_empty() => keys.iter().map(|k| (at("keys"), k)).collect(),
            _ => {
                c.at_key(
                    base,
                    "a redis collection needs `keys:`, the key templates its records are found by",
                    Some("e.g. `keys: [\"session:{email}:*\", \"profile:{email}\"]` with `match: { email: identity.email }`".into()),
                );
                Vec::new()
            }
        },
        ConnectorKind::S3 => match &coll.keys {
            Some(keys) if !keys.is_empty() => keys.iter().map(|k| (at("keys"), k)).collect(),
            _ => {
                c.at_key(
                    base,
                    "an s3 collection needs `keys:`, the object key templates its objects are found by",
                    Some("e.g. `keys: [\"uploads/{user_id}/\", \"avatars/{user_id}.png\"]` with `match: { user_id: users.id }`".into()),
                );
                Vec::new()
            }
        },
        ConnectorKind::Files => {
            match &coll.path {
                Some(p) => vec![(at("path"), p)],
                None => {
                    c.at_key(
                    base,
                    "a files collection needs `path:`, the path template its files are found by",
                    Some("e.g. `path: uploads/{user_id}/*` with `match: { user_id: users.user_id }`".into()),
                );
                    Vec::new()
                }
            }
        }
        _ => Vec::new(),
    };
    let mut templates = Vec::new();
    let mut used = std::collections::BTreeSet::new();
    for (p, text) in texts {
        if format.is_some() {
            // Rows are matched by column; the path only names the file(s) to read.
            if text.contains(['{', '}']) {
                c.at_value(
                    &p,
                    format!("'{text}' has a placeholder, but with `format:` the records are the rows whose `match` columns hold the identity"),
                    Some("name the file itself, e.g. `path: exports/customers.csv` (`*` is allowed)".into()),
                );
            } else if let Some(problem) = crate::connectors::files::check_relative(text) {
                c.at_value(&p, problem, None);
            } else {
                templates.push(Template {
                    parts: vec![crate::connectors::template::Part::Text(text.clone())],
                });
            }
            continue;
        }
        // With a metadata filter, the metadata selects the person's objects: the keys may
        // name a fixed prefix (`documents/`).
        let parsed = match Template::parse(text) {
            Err(TemplateError::NoPlaceholder) if !metadata.is_empty() => {
                Template::parse_fixed(text)
            }
            other => other,
        };
        match parsed {
            Err(TemplateError::NoPlaceholder) if is(ConnectorKind::S3) => c.at_value(
                &p,
                format!("'{text}': {}", TemplateError::NoPlaceholder),
                Some("put a `{NAME}` in it, or select the person's objects by `metadata:`".into()),
            ),
            Err(e) => c.at_value(&p, format!("'{text}': {e}"), template_hint()),
            Ok(t) => {
                let mut ok = true;
                for ph in t.placeholders() {
                    used.insert(ph.to_string());
                    if !coll.match_on.contains_key(ph) {
                        let names: Vec<&str> = coll.match_on.keys().map(String::as_str).collect();
                        let hint = match did_you_mean(ph, names.iter().copied()) {
                            Some(s) => format!("did you mean '{{{s}}}'?"),
                            None => format!(
                                "each placeholder names a `match` entry, e.g. `match: {{ {ph}: identity.{ph} }}`"
                            ),
                        };
                        c.at_value(
                            &p,
                            format!("placeholder '{{{ph}}}' is not an entry of `match`"),
                            Some(hint),
                        );
                        ok = false;
                    }
                }
                if is(ConnectorKind::Files)
                    && let Some(problem) = crate::connectors::files::check_relative(text)
                {
                    c.at_value(&p, problem, None);
                    ok = false;
                }
                if ok {
                    templates.push(t);
                }
            }
        }
    }
    used.extend(metadata.iter().cloned());
    if format.is_none()
        && (is(ConnectorKind::Redis) || is(ConnectorKind::Files) || is(ConnectorKind::S3))
    {
        for col in coll.match_on.keys() {
            if !used.contains(col) && !templates.is_empty() {
                let mut p = at("match");
                p.push(col.as_str());
                c.at_key(
                    &p,
                    format!("match entry '{col}' is used by no template"),
                    Some(format!("use it as `{{{col}}}` in a template, or remove it")),
                );
            }
        }
    }
    match (&coll.erase, kind) {
        (Some(RawErase::Detailed(d)), ConnectorKind::Files) if d.mask.is_some() => {
            c.at_value(
                &at("erase"),
                "files collections support `delete` and `keep`, not `mask`",
                Some("a masked row would no longer match its fingerprint, so it could not be verified".into()),
            );
        }
        (Some(RawErase::Detailed(d)), ConnectorKind::S3) if d.mask.is_some() => {
            c.at_value(
                &at("erase"),
                "s3 collections support `delete` and `keep`, not `mask`",
                Some("objects are opaque: dsr cannot change what is inside them; use `erase: delete`".into()),
            );
        }
        (Some(RawErase::Detailed(d)), ConnectorKind::Redis) => {
            for col in d.mask.iter().flat_map(|m| m.keys()) {
                if crate::connectors::redis::RECORD_COLUMNS.contains(&col.as_str()) {
                    let mut p = at("erase");
                    p.extend(["mask", col.as_str()]);
                    c.at_key(
                        &p,
                        format!("'{col}' cannot be masked: a redis mask names hash fields"),
                        Some("mask the hash fields that hold personal data, e.g. `mask: { email: 'null' }` (null deletes the field); use `erase: delete` to remove whole keys".into()),
                    );
                }
            }
        }
        _ => {}
    }
    (templates, format)
}

fn template_hint() -> Option<String> {
    Some("write `{NAME}` for a `match` entry's value, `*` or `?` as wildcards, `{{` and `}}` for literal braces".into())
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

fn resolve_references(c: &mut Checker<'_>, systems: &mut BTreeMap<String, SystemSpec>) {
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
        let kind = systems.get(sys_name).map(|s| s.kind);
        let sql = matches!(
            kind,
            Some(ConnectorKind::Postgres | ConnectorKind::Mysql | ConnectorKind::Sqlite)
        );
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
