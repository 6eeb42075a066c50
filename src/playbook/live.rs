//! Checks that need the systems themselves (`dsr validate --connect`): every table exists,
//! every column the playbook names exists, and every collection an erase would change can be
//! changed (it is a table, with a primary key or a `key:`). Errors point at the playbook line
//! that names the missing thing. Warnings point at matches that follow only part of a
//! composite key, from the keys the database declares (see [`super::partial_keys`]).

use super::diagnostic::Diagnostic;
use super::partial_keys::{self, Keys};
use super::validate::TableName;
use super::{CollectionSpec, EraseStrategy, SystemSpec, Validated};
use crate::connectors::{
    Connector, ConnectorError, ConnectorKind, FindRequest, MatchGroup, Row, RowSink, SinkError,
};
use crate::discover::{Catalog, ForeignKey};
use crate::run::ConnectorSet;
use std::collections::BTreeMap;

struct Discard;

impl RowSink for Discard {
    fn row(&mut self, _row: Row) -> Result<(), SinkError> {
        Ok(())
    }
    fn reset(&mut self) -> Result<(), SinkError> {
        Ok(())
    }
}

/// What the systems say about a playbook.
#[derive(Debug, Default)]
pub struct Checked {
    /// Problems that make the playbook unusable against these systems.
    pub errors: Vec<Diagnostic>,
    /// Matches that work but may reach other people's rows.
    pub warnings: Vec<Diagnostic>,
}

/// Every problem found, with the location of what names it, sorted by line.
pub async fn check(v: &Validated) -> Checked {
    let connectors = ConnectorSet::new(v, 8);
    let mut out = Vec::new();
    let mut warnings = Vec::new();
    let diag = |path: Vec<String>, message: String| {
        let pos = v.loaded.spans.key(&path);
        Diagnostic {
            file: v.loaded.display_path(),
            pos,
            field: path.join("."),
            message,
            hint: None,
        }
    };
    let hint_for = |e: &ConnectorError| match e {
        ConnectorError::NoColumn {
            column, available, ..
        } => super::diagnostic::did_you_mean(column, available.split(", "))
            .map(|c| format!("did you mean '{c}'?")),
        _ => None,
    };
    for sys in v.systems.values() {
        let base = vec!["systems".to_string(), sys.name.clone()];
        let connector = match connectors.get(&sys.name).await {
            Ok(c) => c,
            Err(e) => {
                out.push(diag(base, e));
                continue;
            }
        };
        let errors_before = out.len();
        for coll in sys.collections.values() {
            let mut cpath = base.clone();
            cpath.extend(["collections".to_string(), coll.id.collection.clone()]);
            let mut columns: Vec<String> = coll.fields.keys().cloned().collect();
            columns.extend(coll.provides.values().cloned());
            let masked: Vec<String> = match &coll.erase {
                Some(EraseStrategy::Mask { fields, .. }) => fields.keys().cloned().collect(),
                _ => Vec::new(),
            };
            columns.extend(masked.iter().cloned());
            columns.sort();
            columns.dedup();
            // No values: the find checks the table and columns and reads nothing.
            let matches: Vec<MatchGroup> = coll
                .terms
                .iter()
                .map(|t| MatchGroup {
                    columns: t.columns(),
                    tuples: Vec::new(),
                    fold_case: t.fold_case(),
                })
                .collect();
            let req = FindRequest {
                collection: coll,
                table: &coll.table,
                columns: Some(&columns),
                matches: &matches,
                idle_timeout: sys.timeout,
            };
            match connector.find(&req, &mut Discard).await {
                Ok(_) => {}
                Err(e @ ConnectorError::NoColumn { .. }) => {
                    let ConnectorError::NoColumn { column, .. } = &e else {
                        continue;
                    };
                    let column = column.clone();
                    let mut path = cpath.clone();
                    if masked.contains(&column) {
                        path.extend(["erase".to_string(), "mask".to_string(), column.clone()]);
                    } else if coll.fields.contains_key(&column) {
                        path.extend(["fields".to_string(), column.clone()]);
                    } else if coll.inputs.iter().any(|i| i.column == column) {
                        path.extend(["match".to_string(), column.clone()]);
                    } else {
                        path.push("provides".to_string());
                    }
                    let mut d = diag(path, e.to_string());
                    d.hint = hint_for(&e);
                    out.push(d);
                    continue;
                }
                Err(e) => {
                    out.push(diag(cpath.clone(), e.to_string()));
                    continue;
                }
            }
            let changes = matches!(
                coll.erase,
                Some(EraseStrategy::Delete) | Some(EraseStrategy::Mask { .. })
            );
            if changes && let Err(e) = connector.key_columns(coll).await {
                let mut path = cpath.clone();
                path.push("erase".to_string());
                out.push(diag(path, format!("cannot erase: {e}")));
            }
        }
        match partial_key_warnings(sys, connector.as_ref()).await {
            Ok(found) => {
                for (path, w) in found {
                    let mut d = diag(path, w.message);
                    d.hint = Some(w.hint);
                    warnings.push(d);
                }
            }
            // A system that failed the checks above fails its catalog too: said once is enough.
            Err(_) if out.len() > errors_before => {}
            Err(e) => warnings.push(diag(
                base,
                format!("cannot read the keys to compare the matches with: {e}"),
            )),
        }
    }
    let by_line = |d: &Diagnostic| d.pos.map(|p| (p.line, p.column));
    out.sort_by_key(by_line);
    warnings.sort_by_key(by_line);
    Checked {
        errors: out,
        warnings,
    }
}

/// The foreign keys of `table` (in `catalog`) that reference `target` (in `target_catalog`).
/// The catalog keeps keys within one schema only, so tables of two schemas have none.
fn keys_between<'a>(
    catalog: &'a Catalog,
    table: &str,
    target_catalog: &Catalog,
    target: &str,
) -> Vec<&'a ForeignKey> {
    if catalog.schema != target_catalog.schema {
        return Vec::new();
    }
    catalog
        .table(table)
        .map(|t| {
            t.foreign_keys
                .iter()
                .filter(|fk| fk.ref_table == target)
                .collect()
        })
        .unwrap_or_default()
}

/// For each SQL collection that matches on another collection of its own system, how its
/// match compares with the keys between their tables: (the `match` entry's path, warning).
async fn partial_key_warnings(
    sys: &SystemSpec,
    connector: &dyn Connector,
) -> Result<Vec<(Vec<String>, partial_keys::PartialKey)>, ConnectorError> {
    if !matches!(
        sys.kind,
        ConnectorKind::Postgres | ConnectorKind::Mysql | ConnectorKind::Sqlite
    ) {
        return Ok(Vec::new());
    }
    let pairs: Vec<(&CollectionSpec, &CollectionSpec)> = sys
        .collections
        .values()
        .flat_map(|c| {
            c.upstream()
                .into_iter()
                .filter(|u| u.system == sys.name)
                .filter_map(|u| sys.collections.get(&u.collection))
                .map(move |u| (c, u))
        })
        .collect();
    // One catalog per schema the tables name (`None`: the system's, as a find uses it), read
    // only when some collection matches on another of its system.
    let mut catalogs: BTreeMap<Option<String>, Catalog> = BTreeMap::new();
    for (c, u) in &pairs {
        for table in [&c.table, &u.table] {
            if !catalogs.contains_key(&table.schema) {
                let catalog = read_catalog(sys, connector, table).await?;
                catalogs.insert(table.schema.clone(), catalog);
            }
        }
    }
    let mut out = Vec::new();
    for (c, u) in pairs {
        let (Some(cc), Some(uc)) = (catalogs.get(&c.table.schema), catalogs.get(&u.table.schema))
        else {
            continue;
        };
        let Some(upstream_table) = uc.table(&u.table.name) else {
            // Not a table (a view), or missing: nothing declares its keys.
            continue;
        };
        let to_upstream = keys_between(cc, &c.table.name, uc, &u.table.name);
        let from_upstream = keys_between(uc, &u.table.name, cc, &c.table.name);
        let keys = Keys {
            to_upstream: &to_upstream,
            from_upstream: &from_upstream,
            upstream_primary: &upstream_table.primary_key,
        };
        for w in partial_keys::check(c, u, keys) {
            let mut path: Vec<String> = ["systems", &sys.name, "collections", &c.id.collection]
                .iter()
                .map(|s| s.to_string())
                .collect();
            path.extend(["match".to_string(), w.column.clone()]);
            out.push((path, w));
        }
    }
    Ok(out)
}

async fn read_catalog(
    sys: &SystemSpec,
    connector: &dyn Connector,
    table: &TableName,
) -> Result<Catalog, ConnectorError> {
    crate::connectors::timed(sys.timeout, connector.catalog(table)).await?
}
