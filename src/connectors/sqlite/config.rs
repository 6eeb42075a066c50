//! A SQLite system: a database file by `path` (relative to the playbook) or `url`, and
//! optionally a `seed` SQL file that creates it; its collections are tables.

use crate::connectors::config::{self, Level};
use crate::connectors::sql::config::{self as sql, COLLECTION_KEYS, Table};
use crate::connectors::{ConnectorKind, Help, KindInfo};
use crate::playbook::check::{Checker, check_references};
use crate::playbook::model;
use serde::Deserialize;
use std::collections::BTreeMap;

pub const KIND: KindInfo = KindInfo {
    name: "sqlite",
    aliases: &[],
    system_keys: &["path", "url", "seed"],
    collection_keys: COLLECTION_KEYS,
    capabilities: sql::CAPABILITIES,
    help: Help {
        summary: "SQLite database file",
        needs: &["path or url"],
    },
    misplaced: sql::MISPLACED,
};

/// Where the database is.
#[derive(Debug, Clone)]
pub enum Location {
    /// A file, relative to the playbook or absolute; may hold references.
    Path(String),
    /// A `sqlite:` URL; may hold references.
    Url(String),
}

#[derive(Debug, Clone)]
pub struct Config {
    pub location: Location,
    /// SQL file (relative to the playbook) that creates the database when the file does not
    /// exist yet. Meant for demos and tests.
    pub seed: Option<String>,
    pub tables: BTreeMap<String, Table>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    #[serde(default)]
    path: Option<String>,
    #[serde(default)]
    url: Option<String>,
    #[serde(default)]
    seed: Option<String>,
}

pub fn configure(c: &mut Checker<'_>, name: &str, sys: &model::System) -> Option<Config> {
    let base = ["systems", name];
    let raw = config::read::<Raw>(
        c,
        &base,
        ConnectorKind::Sqlite,
        Level::System,
        &sys.settings,
    );
    let tables = sql::tables(c, name, ConnectorKind::Sqlite, sys);
    let raw = raw?;
    if let Some(url) = &raw.url {
        config::check_url(c, &config::at(name, "url"), url);
    }
    if let Some(path) = &raw.path {
        check_references(c, &config::at(name, "path"), path);
    }
    if let Some(seed) = &raw.seed
        && !c.loaded.dir.join(seed).is_file()
    {
        c.at_value(
            &config::at(name, "seed"),
            format!("seed file '{seed}' not found"),
            Some("the path is relative to the playbook".into()),
        );
    }
    let location = match (raw.path, raw.url) {
        (Some(p), None) => Location::Path(p),
        (None, Some(u)) => Location::Url(u),
        _ if config::misspelt(&sys.settings, &["path", "url"]) => return None,
        _ => {
            c.at_key(
                &base,
                "a sqlite system needs exactly one of `path` or `url`",
                Some("e.g. `path: data/app.db` (relative to the playbook)".into()),
            );
            return None;
        }
    };
    Some(Config {
        location,
        seed: raw.seed,
        tables: tables?,
    })
}

impl crate::connectors::KindSettings for Config {
    fn tables(&self) -> Option<&BTreeMap<String, Table>> {
        Some(&self.tables)
    }
    fn url(&self) -> Option<&str> {
        match &self.location {
            Location::Url(u) => Some(u),
            Location::Path(_) => None,
        }
    }
}
