//! Checks that need the systems themselves (`dsr validate --connect`): every table exists,
//! every column the playbook names exists, and every collection an erase would change can be
//! changed (it is a table, with a primary key or a `key:`). Errors point at the playbook line
//! that names the missing thing.

use super::diagnostic::Diagnostic;
use super::{EraseStrategy, Validated};
use crate::connectors::{ConnectorError, FindRequest, MatchGroup, Row, RowSink, SinkError};
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

/// Every problem found, with the location of what names it.
pub async fn check(v: &Validated) -> Vec<Diagnostic> {
    let connectors = ConnectorSet::new(v, 8);
    let mut out = Vec::new();
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
    }
    out.sort_by_key(|d| d.pos.map(|p| (p.line, p.column)));
    out
}
