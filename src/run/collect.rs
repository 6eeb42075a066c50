//! A sink that passes rows on while keeping the values a collection `provides`, which later
//! steps match on. Keys are kept (deduplicated); row data is not.

use crate::connectors::{Row, RowSink, SinkError};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

pub struct ProvidesCollector<'a> {
    inner: &'a mut dyn RowSink,
    /// provided name -> column
    provides: &'a BTreeMap<String, String>,
    values: BTreeMap<String, (BTreeSet<String>, Vec<Value>)>,
}

impl<'a> ProvidesCollector<'a> {
    pub fn new(inner: &'a mut dyn RowSink, provides: &'a BTreeMap<String, String>) -> Self {
        Self {
            inner,
            provides,
            values: BTreeMap::new(),
        }
    }

    /// provided name -> distinct non-null values, in the order first seen.
    pub fn into_values(self) -> BTreeMap<String, Vec<Value>> {
        let mut out: BTreeMap<String, Vec<Value>> = self
            .provides
            .keys()
            .map(|k| (k.clone(), Vec::new()))
            .collect();
        for (name, (_, values)) in self.values {
            out.insert(name, values);
        }
        out
    }
}

impl RowSink for ProvidesCollector<'_> {
    fn row(&mut self, row: Row) -> Result<(), SinkError> {
        for (name, column) in self.provides {
            if let Some(v) = row.get(column).filter(|v| !v.is_null()) {
                let (seen, list) = self.values.entry(name.clone()).or_default();
                if seen.insert(v.to_string()) {
                    list.push(v.clone());
                }
            }
        }
        self.inner.row(row)
    }

    fn reset(&mut self) -> Result<(), SinkError> {
        self.values.clear();
        self.inner.reset()
    }

    fn file(&mut self, name: &str, content: &mut dyn std::io::Read) -> Result<bool, SinkError> {
        self.inner.file(name, content)
    }
}
