//! An http system: a SaaS API described by a definition (a shipped one named in `connector:`,
//! or `definition: FILE` with `connector: http`), the `auth` and `config` settings that
//! definition asks for, and optionally a `base_url` that replaces the definition's. Each
//! collection is one of the definition's resources (`resource:` when the names differ).

use super::definition::{self as http_def, Definition};
use crate::connectors::config::{self, Level};
use crate::connectors::{Capabilities, ConnectorKind, Help, KindInfo};
use crate::playbook::check::{Checker, check_references, hint_for};
use crate::playbook::diagnostic::did_you_mean;
use crate::playbook::interpolate;
use crate::playbook::model;
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

pub const KIND: KindInfo = KindInfo {
    name: "http",
    aliases: &[],
    system_keys: &["definition", "base_url", "auth", "config"],
    collection_keys: &["resource"],
    capabilities: Capabilities {
        compares_columns: false,
        correct: true,
        http: true,
    },
    help: Help {
        summary: "SaaS API described by a YAML definition",
        needs: &[
            "definition",
            "auth (as the definition says)",
            "config (as the definition says)",
        ],
    },
    misplaced: &[],
};

#[derive(Debug, Clone)]
pub struct Config {
    pub definition: Arc<Definition>,
    /// Replaces the definition's base URL; may hold references.
    pub base_url: Option<String>,
    /// Credentials, by reference.
    pub auth: BTreeMap<String, String>,
    /// The settings the definition asks for; may hold references.
    pub config: BTreeMap<String, String>,
    /// The definition's resource of each collection, by collection name.
    pub resources: BTreeMap<String, String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    #[serde(default)]
    definition: Option<String>,
    #[serde(default)]
    base_url: Option<String>,
    #[serde(default)]
    auth: BTreeMap<String, String>,
    #[serde(default)]
    config: BTreeMap<String, String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCollection {
    #[serde(default)]
    resource: Option<String>,
}

pub fn configure(c: &mut Checker<'_>, name: &str, sys: &model::System) -> Option<Config> {
    let base = ["systems", name];
    let raw = config::read::<Raw>(c, &base, ConnectorKind::Http, Level::System, &sys.settings);
    let mut named = BTreeMap::new();
    for (coll_name, coll) in &sys.collections {
        let at = config::collection_at(name, coll_name);
        if let Some(r) = config::read::<RawCollection>(
            c,
            &at,
            ConnectorKind::Http,
            Level::Collection,
            &coll.settings,
        ) {
            named.insert(coll_name.clone(), r.resource);
        }
    }
    let raw = raw?;
    if raw.definition.is_some() && sys.connector != "http" {
        c.at_key(
            &config::at(name, "definition"),
            format!(
                "`definition` is for `connector: http`; '{}' is a shipped definition",
                sys.connector
            ),
            None,
        );
    }
    if let Some(u) = &raw.base_url {
        let at = config::at(name, "base_url");
        check_references(c, &at, u);
        if !interpolate::has_references(u)
            && let Err(e) = http_def::transport_allowed(u, false)
        {
            c.at_value(&at, e, None);
        }
    }
    config::check_auth(c, &base, &raw.auth);
    let definition = load_definition(c, name, &sys.connector, raw.definition.as_deref())?;
    let mut resources = BTreeMap::new();
    let mut ok = true;
    for (coll_name, coll) in &sys.collections {
        let written = named.get(coll_name).cloned().flatten();
        match check_resource(c, name, coll_name, coll, written.as_deref(), &definition) {
            Some(resource) => {
                resources.insert(coll_name.clone(), resource);
            }
            None => ok = false,
        }
    }
    check_settings(c, name, &raw, &definition);
    ok.then_some(Config {
        definition,
        base_url: raw.base_url,
        auth: raw.auth,
        config: raw.config,
        resources,
    })
}

/// The definition an `http` system uses: a shipped one by name, or `definition: FILE`.
fn load_definition(
    c: &mut Checker<'_>,
    name: &str,
    connector: &str,
    file: Option<&str>,
) -> Option<Arc<Definition>> {
    let loaded = match (file, connector) {
        (Some(file), _) => {
            let joined = c.loaded.dir.join(file);
            // Shown in messages: as written when the playbook is in the current directory.
            let path = joined.strip_prefix(".").unwrap_or(&joined).to_path_buf();
            if !path.is_file() {
                c.at_value(
                    &config::at(name, "definition"),
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
            c.extend(diags.0);
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
    written: Option<&str>,
    def: &Definition,
) -> Option<String> {
    let resource = written.unwrap_or(coll_name).to_string();
    let base = config::collection_at(sys, coll_name);
    let mut rp = base.to_vec();
    rp.push("resource");
    let Some(res) = def.resources.get(&resource) else {
        let names: Vec<&str> = def.resources.keys().map(String::as_str).collect();
        let hint = match did_you_mean(&resource, names.iter().copied()) {
            Some(s) => format!("did you mean '{s}'?"),
            None => format!("{} offers: {}", def.name, names.join(", ")),
        };
        let message = format!("the {} definition has no resource '{resource}'", def.name);
        if written.is_some() {
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
fn check_settings(c: &mut Checker<'_>, name: &str, sys: &Raw, def: &Definition) {
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
        if let Ok(vars) = super::template::variables(t) {
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

impl crate::connectors::KindSettings for Config {
    fn resource(&self, collection: &str) -> Option<&str> {
        self.resources.get(collection).map(String::as_str)
    }
    fn definition(&self) -> Option<&Arc<Definition>> {
        Some(&self.definition)
    }
}
