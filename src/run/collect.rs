//! A sink that passes rows on while keeping the values a collection `provides`, which later
//! steps match on. Provided values are kept row by row (deduplicated), so that columns of a
//! composite key stay paired; the rest of the row is not kept.

use crate::connectors::{Row, RowSink, SinkError};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

/// Values a step provides to later steps: one entry per distinct row of provided values.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Provided {
    /// The provided names, in order: the columns of `rows`.
    pub names: Vec<String>,
    /// Distinct rows; `null` where a row had no value for a name.
    pub rows: Vec<Vec<Value>>,
}

impl Provided {
    fn index(&self, name: &str) -> Option<usize> {
        self.names.iter().position(|n| n == name)
    }

    /// The distinct non-null values of one name, in the order first seen.
    pub fn values(&self, name: &str) -> Vec<Value> {
        let Some(i) = self.index(name) else {
            return Vec::new();
        };
        let mut seen = BTreeSet::new();
        self.rows
            .iter()
            .filter_map(|r| r.get(i))
            .filter(|v| !v.is_null() && seen.insert(v.to_string()))
            .cloned()
            .collect()
    }

    /// The distinct combinations of several names' values, taken from the same row; rows with
    /// a null among them are left out (a null never equals anything).
    pub fn tuples(&self, names: &[String]) -> Vec<Vec<Value>> {
        let Some(idx) = names
            .iter()
            .map(|n| self.index(n))
            .collect::<Option<Vec<usize>>>()
        else {
            return Vec::new();
        };
        let mut seen = BTreeSet::new();
        let mut out = Vec::new();
        for row in &self.rows {
            let t: Vec<Value> = idx.iter().filter_map(|&i| row.get(i).cloned()).collect();
            if t.len() == idx.len()
                && !t.iter().any(Value::is_null)
                && seen.insert(serde_json::to_string(&t).unwrap_or_default())
            {
                out.push(t);
            }
        }
        out
    }
}

pub struct ProvidesCollector<'a> {
    inner: &'a mut dyn RowSink,
    /// provided name -> column
    provides: &'a BTreeMap<String, String>,
    seen: BTreeSet<String>,
    out: Provided,
}

impl<'a> ProvidesCollector<'a> {
    pub fn new(inner: &'a mut dyn RowSink, provides: &'a BTreeMap<String, String>) -> Self {
        Self {
            inner,
            provides,
            seen: BTreeSet::new(),
            out: Provided {
                names: provides.keys().cloned().collect(),
                rows: Vec::new(),
            },
        }
    }

    pub fn into_values(self) -> Provided {
        self.out
    }
}

impl RowSink for ProvidesCollector<'_> {
    fn row(&mut self, row: Row) -> Result<(), SinkError> {
        if !self.provides.is_empty() {
            let values: Vec<Value> = self
                .provides
                .values()
                .map(|column| row.get(column).cloned().unwrap_or(Value::Null))
                .collect();
            if values.iter().any(|v| !v.is_null())
                && self
                    .seen
                    .insert(serde_json::to_string(&values).unwrap_or_default())
            {
                self.out.rows.push(values);
            }
        }
        self.inner.row(row)
    }

    fn reset(&mut self) -> Result<(), SinkError> {
        self.seen.clear();
        self.out.rows.clear();
        self.inner.reset()
    }

    fn file(&mut self, name: &str, content: &mut dyn std::io::Read) -> Result<bool, SinkError> {
        self.inner.file(name, content)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn keeps_provided_values_paired_by_row() {
        let p = Provided {
            names: vec!["num".into(), "region".into()],
            rows: vec![
                vec![json!(1), json!("eu")],
                vec![json!(2), json!("us")],
                vec![json!(2), json!(null)],
                vec![json!(1), json!("eu")],
            ],
        };
        assert_eq!(p.values("region"), vec![json!("eu"), json!("us")]);
        assert_eq!(p.values("num"), vec![json!(1), json!(2)]);
        // (eu, 2) is nobody's order here: only the pairs seen in one row come back.
        assert_eq!(
            p.tuples(&["region".into(), "num".into()]),
            vec![vec![json!("eu"), json!(1)], vec![json!("us"), json!(2)]]
        );
        assert!(p.tuples(&["region".into(), "missing".into()]).is_empty());
    }
}
