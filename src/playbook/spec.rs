//! What a playbook says once the generic rules accept it: collections by address, where each
//! `match` column takes its values from, the conditions a find uses, erase strategies, and the
//! systems, generic over what their connector kind made of its own keys.

use super::load::Loaded;
use super::model;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::time::Duration;

/// A collection's address: `system.collection`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CollectionId {
    pub system: String,
    pub collection: String,
}

impl fmt::Display for CollectionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.system, self.collection)
    }
}

/// Where a match column gets its values from.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Source {
    /// An identity given in the request (`identity.email`).
    Identity(String),
    /// Values another collection provides (`users.user_id`).
    Provided { from: CollectionId, name: String },
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Identity(kind) => write!(f, "identity.{kind}"),
            Source::Provided { from, name } => write!(f, "{from}.{name}"),
        }
    }
}

/// One `match` reference: rows whose `column` equals a value from `source`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Input {
    pub column: String,
    pub source: Source,
    /// Compared case-insensitively (a text identity in a SQL system, unless `match_case: exact`).
    pub fold_case: bool,
}

/// One condition of a collection's find; a row is found when any of them holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MatchTerm {
    /// `column` equals any value of any of `sources`.
    Any {
        column: String,
        sources: Vec<Source>,
        fold_case: bool,
    },
    /// `columns`, together, equal the values `names` of one row of `from` (a composite key).
    Row {
        from: CollectionId,
        columns: Vec<String>,
        names: Vec<String>,
    },
}

impl MatchTerm {
    /// The columns this condition compares.
    pub fn columns(&self) -> Vec<String> {
        match self {
            MatchTerm::Any { column, .. } => vec![column.clone()],
            MatchTerm::Row { columns, .. } => columns.clone(),
        }
    }

    pub fn fold_case(&self) -> bool {
        matches!(
            self,
            MatchTerm::Any {
                fold_case: true,
                ..
            }
        )
    }
}

impl fmt::Display for MatchTerm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MatchTerm::Any {
                column,
                sources,
                fold_case,
            } => {
                let list: Vec<String> = sources.iter().map(ToString::to_string).collect();
                match list.as_slice() {
                    [one] => write!(f, "{column} = {one}")?,
                    many => write!(f, "{column} = any of {}", many.join(", "))?,
                }
                if *fold_case {
                    f.write_str(" (any case)")?;
                }
                Ok(())
            }
            MatchTerm::Row {
                from,
                columns,
                names,
            } => write!(
                f,
                "({}) = ({}) of one {from} row",
                columns.join(", "),
                names.join(", ")
            ),
        }
    }
}

/// What erasure does to a collection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EraseStrategy {
    Delete,
    Mask {
        fields: BTreeMap<String, String>,
        because: Option<String>,
    },
    Keep {
        because: String,
    },
}

impl fmt::Display for EraseStrategy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EraseStrategy::Delete => f.write_str("delete"),
            EraseStrategy::Mask { fields, .. } => {
                let parts: Vec<String> = fields.iter().map(|(c, m)| format!("{c}:{m}")).collect();
                write!(f, "mask {}", parts.join(", "))
            }
            EraseStrategy::Keep { .. } => f.write_str("keep"),
        }
    }
}

#[derive(Debug, Clone)]
pub struct CollectionSpec {
    pub id: CollectionId,
    pub inputs: Vec<Input>,
    /// The conditions a find uses, built from `inputs`; a row matches when any holds.
    pub terms: Vec<MatchTerm>,
    pub provides: BTreeMap<String, String>,
    pub fields: BTreeMap<String, model::Field>,
    pub description: Option<String>,
    pub erase: Option<EraseStrategy>,
}

impl CollectionSpec {
    /// Collections this one waits for.
    pub fn upstream(&self) -> BTreeSet<CollectionId> {
        self.inputs
            .iter()
            .filter_map(|i| match &i.source {
                Source::Provided { from, .. } => Some(from.clone()),
                Source::Identity(_) => None,
            })
            .collect()
    }

    /// The columns to read: `None` means every column.
    pub fn columns(&self) -> Option<Vec<String>> {
        if self.fields.is_empty() {
            return None;
        }
        let mut cols: Vec<String> = self.fields.keys().cloned().collect();
        for c in self.provides.values() {
            if !cols.contains(c) {
                cols.push(c.clone());
            }
        }
        Some(cols)
    }
}

/// One system that passed the generic rules. `kind` is what its connector kind made of its
/// own keys (`()` until the kind has read them; see the connectors layer's `configure`).
#[derive(Debug, Clone)]
pub struct SystemSpec<K = ()> {
    pub name: String,
    pub config: model::System,
    pub timeout: Duration,
    pub concurrency: usize,
    pub retries: u32,
    pub collections: BTreeMap<String, CollectionSpec>,
    /// The playbook's regulation (connectors that pass it on: opendsr).
    pub regulation: Option<String>,
    pub kind: K,
}

impl SystemSpec {
    /// The same system with what its kind made of its keys.
    pub fn with_kind<K>(self, kind: K) -> SystemSpec<K> {
        SystemSpec {
            name: self.name,
            config: self.config,
            timeout: self.timeout,
            concurrency: self.concurrency,
            retries: self.retries,
            collections: self.collections,
            regulation: self.regulation,
            kind,
        }
    }
}

/// A playbook that passed every check, with references resolved.
#[derive(Debug)]
pub struct Validated<K = ()> {
    pub loaded: Loaded,
    pub systems: BTreeMap<String, SystemSpec<K>>,
}

/// What the generic rules need to know of a connector kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KindRules {
    /// Finds rows by comparing columns in a query (SQL): columns may match together, row by
    /// row, and text identities may be compared in any case (`match_case`).
    pub compares_columns: bool,
}

/// The connector kinds a playbook may name, as the generic rules see them.
pub trait Kinds {
    /// The rules of the kind `connector:` names; `None` when it names none.
    fn rules(&self, connector: &str) -> Option<KindRules>;
    /// Every name `connector:` accepts (for "did you mean").
    fn names(&self) -> Vec<&'static str>;
}

impl<K> Validated<K> {
    pub fn collection(&self, id: &CollectionId) -> Option<&CollectionSpec> {
        self.systems
            .get(&id.system)?
            .collections
            .get(&id.collection)
    }

    pub fn identities(&self) -> &[String] {
        &self.loaded.playbook.identities
    }
}
