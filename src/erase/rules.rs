//! What a change request does to each collection: the rule that turns a found record into a
//! keyed change. Erase takes it from the playbook's `erase:`; correct from `--set`.

use super::mask::{self, Method};
use crate::connectors::Validated;
use crate::connectors::{KeyedChange, Row};
use crate::error::UsageError;
use crate::playbook::{CollectionId, EraseStrategy, Source};
use serde_json::Value;
use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq)]
pub enum Rule {
    Delete,
    Mask(Vec<(String, Method)>),
    /// A retention exception: nothing changes, the reason is recorded.
    Keep(String),
    /// Correction: set these columns to these values.
    Set(Vec<(String, Value)>),
    /// Read only to follow the identity graph (correct: collections without a target field).
    Pass,
}

impl Rule {
    /// Columns whose current values the rule needs.
    pub fn columns(&self) -> Vec<String> {
        match self {
            Rule::Mask(fields) => fields.iter().map(|(c, _)| c.clone()).collect(),
            Rule::Set(fields) => fields.iter().map(|(c, _)| c.clone()).collect(),
            _ => Vec::new(),
        }
    }

    pub fn describe(&self) -> String {
        match self {
            Rule::Delete => "delete".into(),
            Rule::Mask(fields) => {
                let parts: Vec<String> = fields
                    .iter()
                    .map(|(c, m)| format!("{c}:{}", method_name(*m)))
                    .collect();
                format!("mask {}", parts.join(", "))
            }
            Rule::Keep(_) => "keep".into(),
            Rule::Set(fields) => {
                let cols: Vec<&str> = fields.iter().map(|(c, _)| c.as_str()).collect();
                format!("set {}", cols.join(", "))
            }
            Rule::Pass => "none".into(),
        }
    }

    /// The change for one found record, or `None` when the rule leaves it alone.
    pub fn change(
        &self,
        key: Vec<Value>,
        row: &Row,
        hash_key: Option<&[u8]>,
    ) -> Option<KeyedChange> {
        match self {
            Rule::Delete => Some(KeyedChange { key, set: None }),
            Rule::Mask(fields) => {
                let set: Row = fields
                    .iter()
                    .map(|(c, m)| {
                        (
                            c.clone(),
                            mask::apply(*m, row.get(c).unwrap_or(&Value::Null), hash_key),
                        )
                    })
                    .collect();
                Some(KeyedChange {
                    key,
                    set: Some(set),
                })
            }
            Rule::Set(fields) => Some(KeyedChange {
                key,
                set: Some(fields.iter().cloned().collect()),
            }),
            Rule::Keep(_) | Rule::Pass => None,
        }
    }
}

pub fn method_name(m: Method) -> &'static str {
    match m {
        Method::Null => "null",
        Method::Redact => "redact",
        Method::Hash => "hash",
        Method::Random => "random",
        Method::TruncateDate => "truncate_date",
    }
}

/// Erase rules from the playbook. Every collection must declare a strategy: erasing without
/// one would either skip data silently or guess.
pub fn for_erase(v: &Validated) -> Result<BTreeMap<CollectionId, Rule>, UsageError> {
    let mut out = BTreeMap::new();
    let mut missing = Vec::new();
    for sys in v.systems.values() {
        for c in sys.collections.values() {
            let rule = match &c.erase {
                None => {
                    missing.push(c.id.to_string());
                    continue;
                }
                Some(EraseStrategy::Delete) => Rule::Delete,
                Some(EraseStrategy::Keep { because }) => Rule::Keep(because.clone()),
                Some(EraseStrategy::Mask { fields, .. }) => Rule::Mask(
                    fields
                        .iter()
                        .filter_map(|(col, m)| Method::parse(m).map(|m| (col.clone(), m)))
                        .collect(),
                ),
            };
            out.insert(c.id.clone(), rule);
        }
    }
    if !missing.is_empty() {
        return Err(UsageError::new(format!(
            "these collections have no `erase:` strategy: {}",
            missing.join(", ")
        ))
        .with_hint(
            "declare `erase: delete`, a `mask`, or `keep` with `because` for each, in the playbook",
        ));
    }
    Ok(out)
}

/// One `--set TARGET=VALUE` of a correction.
#[derive(Debug, Clone, PartialEq)]
pub struct Assignment {
    pub target: String,
    pub value: String,
}

pub fn parse_assignments(sets: &[String]) -> Result<Vec<Assignment>, UsageError> {
    if sets.is_empty() {
        return Err(UsageError::new("nothing to correct")
            .with_hint("add --set TARGET=VALUE, e.g. --set identity.email=new@example.com"));
    }
    sets.iter()
        .map(|s| match s.split_once('=') {
            Some((t, v)) if !t.trim().is_empty() => Ok(Assignment { target: t.trim().to_string(), value: v.to_string() }),
            _ => Err(UsageError::new(format!("--set takes TARGET=VALUE, got '{}'", s.split('=').next().unwrap_or("")))
                .with_hint("TARGET is system.collection.column, a data category (contact.phone) or identity.KIND")),
        })
        .collect()
}

/// Correction rules. A target names columns three ways: `system.collection.column`; a data
/// category (every field with that category); or `identity.KIND` (every column that matches
/// on that identity, so an email change reaches every system keyed by email).
pub fn for_correct(
    v: &Validated,
    assignments: &[Assignment],
) -> Result<BTreeMap<CollectionId, Rule>, UsageError> {
    let mut sets: BTreeMap<CollectionId, Vec<(String, Value)>> = BTreeMap::new();
    for a in assignments {
        let mut hit = false;
        for sys in v.systems.values() {
            for c in sys.collections.values() {
                let mut columns: Vec<&String> = Vec::new();
                if let Some(kind) = a.target.strip_prefix("identity.") {
                    columns.extend(
                        c.inputs
                            .iter()
                            .filter(|i| i.source == Source::Identity(kind.to_string()))
                            .map(|i| &i.column),
                    );
                } else if let Some(col) = a.target.strip_prefix(&format!("{}.", c.id)) {
                    if let Some((name, _)) = c.fields.get_key_value(col) {
                        columns.push(name);
                    } else if c.inputs.iter().any(|i| i.column == col) {
                        columns.extend(
                            c.inputs
                                .iter()
                                .filter(|i| i.column == col)
                                .map(|i| &i.column),
                        );
                    } else {
                        return Err(UsageError::new(format!(
                            "{} has no declared field '{col}'",
                            c.id
                        ))
                        .with_hint(
                            "name a column listed under the collection's `fields:` or `match:`",
                        ));
                    }
                } else {
                    columns.extend(
                        c.fields
                            .iter()
                            .filter(|(_, f)| f.category == a.target)
                            .map(|(n, _)| n),
                    );
                }
                for col in columns {
                    hit = true;
                    let entry = sets.entry(c.id.clone()).or_default();
                    if entry.iter().any(|(existing, _)| existing == col) {
                        return Err(UsageError::new(format!("{}.{col} is set twice", c.id)));
                    }
                    entry.push((col.clone(), Value::String(a.value.clone())));
                }
            }
        }
        if !hit {
            return Err(UsageError::new(format!("'{}' names no field in the playbook", a.target))
                .with_hint("use system.collection.column, a data category listed under `fields:`, or identity.KIND"));
        }
    }
    let mut out = BTreeMap::new();
    for sys in v.systems.values() {
        for c in sys.collections.values() {
            let rule = match sets.remove(&c.id) {
                Some(fields) => Rule::Set(fields),
                None => Rule::Pass,
            };
            out.insert(c.id.clone(), rule);
        }
    }
    Ok(out)
}
