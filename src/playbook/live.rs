//! Checks that need the systems themselves (`dsr validate --connect`): every table exists,
//! every column the playbook names exists, and every collection an erase would change can be
//! changed (it is a table, with a primary key or a `key:`), and every mask fits its column (its
//! type, NOT NULL, not a key column). Errors point at the playbook line that names the missing
//! or unfit thing. `dsr erase` runs the mask check too, before it reads or writes anything.

use super::diagnostic::Diagnostic;
use super::{CollectionSpec, EraseStrategy, SystemSpec, Validated};
use crate::connectors::{
    Connector, ConnectorError, FindRequest, MatchGroup, Row, RowSink, SinkError,
};
use crate::erase::{fit, mask::Method};
use crate::run::ConnectorSet;

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

/// Every problem found, with the location of what names it.
pub async fn check(v: &Validated) -> Vec<Diagnostic> {
    let connectors = ConnectorSet::new(v, 8);
    let mut out = Vec::new();
    let diag = |path: Vec<String>, message: String| diagnostic(v, path, message);
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
    }
    out.sort_by_key(|d| d.pos.map(|p| (p.line, p.column)));
    out
}
