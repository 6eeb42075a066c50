//! What the SQL kinds (postgres, mysql, sqlite) share in their configuration: a collection is a
//! table, `table:` when its name differs from the collection's, and `key:` for a table without
//! a primary key.

use crate::connectors::ConnectorKind;
use crate::connectors::config::{self, Level};
use crate::playbook::check::{Checker, is_identifier};
use crate::playbook::model;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::fmt;

/// The keys of a SQL collection.
pub const COLLECTION_KEYS: &[&str] = &["table", "key"];

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

/// One collection of a SQL system.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Table {
    pub name: TableName,
    /// Columns that identify one record, when the table has no primary key.
    pub key: Option<Vec<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTable {
    #[serde(default)]
    table: Option<String>,
    #[serde(default)]
    key: Option<Vec<String>>,
}

/// Every collection's table, by collection name; `None` when one has a problem (reported).
pub fn tables(
    c: &mut Checker<'_>,
    system: &str,
    kind: ConnectorKind,
    sys: &model::System,
) -> Option<BTreeMap<String, Table>> {
    let mut out = BTreeMap::new();
    let mut ok = true;
    for (name, coll) in &sys.collections {
        let base = config::collection_at(system, name);
        let Some(raw) = config::read::<RawTable>(c, &base, kind, Level::Collection, &coll.settings)
        else {
            ok = false;
            continue;
        };
        let text = raw.table.clone().unwrap_or_else(|| name.clone());
        let table = match text.split('.').collect::<Vec<_>>().as_slice() {
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
                    format!("'{text}' is not a table name"),
                    Some("write `table` or `schema.table`".into()),
                );
                ok = false;
                continue;
            }
        };
        out.insert(
            name.clone(),
            Table {
                name: table,
                key: raw.key,
            },
        );
    }
    ok.then_some(out)
}

/// A SQL system's table for `collection` (validation gave every collection one).
pub fn table<'a>(
    tables: &'a BTreeMap<String, Table>,
    collection: &crate::playbook::CollectionSpec,
) -> Result<&'a Table, crate::connectors::ConnectorError> {
    tables.get(&collection.id.collection).ok_or_else(|| {
        crate::connectors::ConnectorError::Config(format!(
            "no table configured for {}",
            collection.id
        ))
    })
}

/// The settings of a database server (postgres, mysql).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawServer {
    #[serde(default)]
    pub url: Option<String>,
    #[serde(default)]
    pub schema: Option<String>,
}

/// A database server's configuration.
#[derive(Debug, Clone)]
pub struct Server {
    /// May hold `${env:…}` / `${file:…}` references, resolved when the connector opens.
    pub url: String,
    /// Default schema (PostgreSQL) or database (MySQL) for unqualified table names.
    pub schema: Option<String>,
    pub tables: BTreeMap<String, Table>,
}

/// The system keys of a database server.
pub const SERVER_KEYS: &[&str] = &["url", "schema"];

/// Reads a postgres or mysql system.
pub fn server(
    c: &mut Checker<'_>,
    name: &str,
    kind: ConnectorKind,
    sys: &model::System,
) -> Option<Server> {
    let base = ["systems", name];
    let raw = config::read::<RawServer>(c, &base, kind, Level::System, &sys.settings);
    let tables = tables(c, name, kind, sys);
    let raw = raw?;
    let url = match raw.url {
        Some(url) => {
            config::check_url(c, &config::at(name, "url"), &url);
            url
        }
        None if config::misspelt(&sys.settings, &["url"]) => return None,
        None => {
            c.at_key(
                &base,
                format!("a {} system needs `url`", kind.name()),
                Some("e.g. `url: ${env:APP_DB_URL}`".into()),
            );
            return None;
        }
    };
    Some(Server {
        url,
        schema: raw.schema,
        tables: tables?,
    })
}

/// What the SQL kinds can do.
pub const CAPABILITIES: crate::connectors::Capabilities = crate::connectors::Capabilities {
    compares_columns: true,
    correct: true,
    http: false,
};

/// What to write instead of another kind's keys in a SQL system.
pub const MISPLACED: &[(&str, &str)] = &[
    ("auth", "database credentials go in `url`, by reference"),
    ("resource", "SQL systems name their table with `table:`"),
];

impl crate::connectors::KindSettings for Server {
    fn tables(&self) -> Option<&BTreeMap<String, Table>> {
        Some(&self.tables)
    }
    fn schema(&self) -> Option<&str> {
        self.schema.as_deref()
    }
    fn url(&self) -> Option<&str> {
        Some(&self.url)
    }
}
