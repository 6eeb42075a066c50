//! Checks that need the systems themselves (`dsr validate --connect`): every table exists,
//! every column the playbook names exists, and every collection an erase would change can be
//! changed (it is a table, with a primary key or a `key:`), and every mask fits its column (its
//! type, NOT NULL, not a key column). Errors point at the playbook line that names the missing
//! or unfit thing. `dsr erase` runs the mask check too, before it reads or writes anything.
//! Warnings point at matches that follow only part of a composite key, from the keys the
//! database declares (see [`crate::playbook::partial_keys`]).

use crate::connectors::{
    Connector, ConnectorError, FindRequest, MatchGroup, Row, RowSink, SinkError,
};
use crate::connectors::{SystemSpec, TableName, Validated};
use crate::discover::{Catalog, ForeignKey};
use crate::erase::{fit, mask::Method};
use crate::playbook::diagnostic::Diagnostic;
use crate::playbook::partial_keys::{self, Keys};
use crate::playbook::{CollectionSpec, EraseStrategy};
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

/// A problem at the playbook entry `path` names.
fn diagnostic(v: &Validated, path: Vec<String>, message: String) -> Diagnostic {
    Diagnostic {
        file: v.loaded.display_path(),
        pos: v.loaded.spans.key(&path),
        field: path.join("."),
        message,
        hint: None,
    }
}

/// The masks of `coll` its columns cannot take, each at its `erase.mask` entry. Kinds of
/// system without typed columns have none.
async fn unfit_masks_of(
    v: &Validated,
    connector: &dyn Connector,
    coll: &CollectionSpec,
    key: &[String],
) -> Result<Vec<Diagnostic>, ConnectorError> {
    let Some(EraseStrategy::Mask { fields, .. }) = &coll.erase else {
        return Ok(Vec::new());
    };
    let masks: Vec<(String, Method)> = fields
        .iter()
        .filter_map(|(col, m)| Method::parse(m).map(|m| (col.clone(), m)))
        .collect();
    if masks.is_empty() {
        return Ok(Vec::new());
    }
    let Some(columns) = connector.column_types(coll).await? else {
        return Ok(Vec::new());
    };
    Ok(fit::check(&masks, &columns, key)
        .into_iter()
        .map(|u| {
            let path = [
                "systems",
                &coll.id.system,
                "collections",
                &coll.id.collection,
                "erase",
                "mask",
                &u.column,
            ];
            let mut d = diagnostic(v, path.map(str::to_string).to_vec(), u.message);
            d.hint = Some(u.hint);
            d
        })
        .collect())
}

/// Longest an erase waits for a system to describe its columns. A database answers these
/// catalog queries at once; one that cannot be reached would otherwise hold the erase for its
/// whole `timeout` here and then again in the read phase, which fails it and says why.
const ERASE_CHECK_LIMIT: std::time::Duration = std::time::Duration::from_secs(5);

/// The masks an erase cannot carry out, found before it reads or writes anything. A system
/// that cannot be asked (in time) is left out: its own steps fail and say why, as for any
/// erase.
pub async fn unfit_masks(v: &Validated, connectors: &ConnectorSet<'_>) -> Vec<Diagnostic> {
    let per_system = v.systems.values().map(|sys| async move {
        let limit = ERASE_CHECK_LIMIT.min(sys.timeout);
        tokio::time::timeout(limit, unfit_masks_in(v, connectors, sys))
            .await
            .unwrap_or_default()
    });
    let mut out: Vec<Diagnostic> = futures::future::join_all(per_system)
        .await
        .into_iter()
        .flatten()
        .collect();
    out.sort_by_key(|d| d.pos.map(|p| (p.line, p.column)));
    out
}

/// [`unfit_masks`] for one system.
async fn unfit_masks_in(
    v: &Validated,
    connectors: &ConnectorSet<'_>,
    sys: &SystemSpec,
) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    let masked = sys
        .collections
        .values()
        .filter(|c| matches!(c.erase, Some(EraseStrategy::Mask { .. })));
    let mut connector = None;
    for coll in masked {
        if connector.is_none() {
            match connectors.get(&sys.name).await {
                Ok(c) => connector = Some(c),
                Err(_) => break,
            }
        }
        let Some(c) = &connector else { break };
        let key = match c.key_columns(coll).await {
            Ok(key) => key,
            // Not reachable now: asking again for every collection would only wait longer.
            Err(e) if e.is_transient() || matches!(e, ConnectorError::Connect { .. }) => {
                break;
            }
            // No key to address records by: the read phase refuses the collection itself.
            Err(_) => Vec::new(),
        };
        if let Ok(found) = unfit_masks_of(v, c.as_ref(), coll, &key).await {
            out.extend(found);
        }
    }
    out
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
    let diag = |path: Vec<String>, message: String| diagnostic(v, path, message);
    let hint_for = |e: &ConnectorError| match e {
        ConnectorError::NoColumn {
            column, available, ..
        } => crate::playbook::diagnostic::did_you_mean(column, available.split(", "))
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
            if !changes {
                continue;
            }
            let key = match connector.key_columns(coll).await {
                Ok(key) => key,
                Err(e) => {
                    let mut path = cpath.clone();
                    path.push("erase".to_string());
                    out.push(diag(path, format!("cannot erase: {e}")));
                    Vec::new()
                }
            };
            match unfit_masks_of(v, connector.as_ref(), coll, &key).await {
                Ok(found) => out.extend(found),
                Err(e) => out.push(diag(cpath.clone(), e.to_string())),
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
    let Some(tables) = sys.kind.tables() else {
        return Ok(Vec::new());
    };
    let table_of = |c: &CollectionSpec| tables.get(&c.id.collection).map(|t| &t.name);
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
    let pairs: Vec<(&CollectionSpec, &TableName, &CollectionSpec, &TableName)> = pairs
        .into_iter()
        .filter_map(|(c, u)| Some((c, table_of(c)?, u, table_of(u)?)))
        .collect();
    for (_, ct, _, ut) in &pairs {
        for table in [*ct, *ut] {
            if !catalogs.contains_key(&table.schema) {
                let catalog = read_catalog(sys, connector, table).await?;
                catalogs.insert(table.schema.clone(), catalog);
            }
        }
    }
    let mut out = Vec::new();
    for (c, ct, u, ut) in pairs {
        let (Some(cc), Some(uc)) = (catalogs.get(&ct.schema), catalogs.get(&ut.schema)) else {
            continue;
        };
        let Some(upstream_table) = uc.table(&ut.name) else {
            // Not a table (a view), or missing: nothing declares its keys.
            continue;
        };
        let to_upstream = keys_between(cc, &ct.name, uc, &ut.name);
        let from_upstream = keys_between(uc, &ut.name, cc, &ct.name);
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
