//! What a database holds that a playbook's system does not cover, and what the system names
//! that the database no longer has. Pure but for resolving the system's url to recognise it.
//!
//! A collection with `fields:` covers those columns and the ones it `provides`; a collection
//! without `fields:` exports every column, so it covers all of them.

use super::catalog::{Catalog, Dialect};
use super::classify::Analysis;
use crate::playbook::{SystemSpec, Validated};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PickError {
    #[error("the playbook has no system '{0}'")]
    Unknown(String),
    #[error("the playbook has no {0} system")]
    NoneOfKind(&'static str),
    #[error("cannot tell which of the playbook's {kind} systems this database is ({candidates})")]
    Ambiguous {
        kind: &'static str,
        candidates: String,
    },
}

/// The system the database is: the one named, the one whose url resolves to `url`, or the
/// only one of the database's kind. Resolved urls are compared, never shown.
pub fn pick_system(
    v: &Validated,
    explicit: Option<&str>,
    url: &str,
    dialect: Dialect,
) -> Result<String, PickError> {
    if let Some(name) = explicit {
        return if v.systems.contains_key(name) {
            Ok(name.to_string())
        } else {
            Err(PickError::Unknown(name.to_string()))
        };
    }
    let kind = dialect.connector();
    let candidates: Vec<&SystemSpec> = v.systems.values().filter(|s| s.kind == kind).collect();
    let same_url: Vec<&SystemSpec> = candidates
        .iter()
        .copied()
        .filter(|s| {
            s.config.url.as_ref().is_some_and(|t| {
                crate::playbook::interpolate::resolve(t, &v.loaded.dir)
                    .is_ok_and(|r| r.expose() == url)
            })
        })
        .collect();
    match (same_url.as_slice(), candidates.as_slice()) {
        ([one], _) | ([], [one]) => Ok(one.name.clone()),
        (_, []) => Err(PickError::NoneOfKind(kind.name())),
        _ => Err(PickError::Ambiguous {
            kind: kind.name(),
            candidates: candidates
                .iter()
                .map(|s| s.name.as_str())
                .collect::<Vec<_>>()
                .join(", "),
        }),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum GapKind {
    /// A table with personal data, or whose rows belong to a person (its foreign keys lead
    /// to one), that no collection reads.
    UncoveredTable,
    /// A column with personal data that its collections' `fields` leave out.
    UncoveredColumn,
    /// A collection whose table no longer exists.
    MissingTable,
    /// A column the playbook names that the table no longer has.
    MissingColumn,
}

impl GapKind {
    pub fn describe(self) -> &'static str {
        match self {
            Self::UncoveredTable => "table not in the playbook",
            Self::UncoveredColumn => "column not in fields",
            Self::MissingTable => "table no longer exists",
            Self::MissingColumn => "column no longer exists",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Gap {
    pub kind: GapKind,
    pub table: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub column: Option<String>,
    /// The collection that names it (missing tables and columns, uncovered columns).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub collection: Option<String>,
    /// Data categories found (uncovered tables and columns).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub categories: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub system: String,
    pub schema: String,
    pub covered: bool,
    pub tables: usize,
    pub gaps: Vec<Gap>,
    /// `table.column`s without personal data found that `fields` leave out of exports: not a
    /// gap, but an export of the person's records will not show them.
    pub not_exported: Vec<String>,
}

impl Report {
    pub fn summary(&self) -> String {
        if self.covered {
            format!(
                "Covered: the playbook's system '{}' covers every table and column with personal data in '{}' ({} tables).",
                self.system, self.schema, self.tables
            )
        } else {
            format!(
                "{} gap(s) between the playbook's system '{}' and '{}': update the playbook (`dsr discover` drafts the missing parts).",
                self.gaps.len(),
                self.system,
                self.schema
            )
        }
    }
}

/// Compares one system with the catalog it reads.
pub fn compare(system: &SystemSpec, catalog: &Catalog, analysis: &Analysis) -> Report {
    let mut gaps = Vec::new();
    let mut not_exported = Vec::new();
    // Collections by table, for tables in the schema that was read.
    let mut by_table: BTreeMap<&str, Vec<&crate::playbook::CollectionSpec>> = BTreeMap::new();
    for c in system.collections.values() {
        if c.table
            .schema
            .as_deref()
            .is_some_and(|s| s != catalog.schema)
        {
            continue;
        }
        by_table.entry(c.table.name.as_str()).or_default().push(c);
        let Some(table) = catalog.table(&c.table.name) else {
            gaps.push(Gap {
                kind: GapKind::MissingTable,
                table: c.table.name.clone(),
                column: None,
                collection: Some(c.id.collection.clone()),
                categories: Vec::new(),
            });
            continue;
        };
        let mut named: BTreeSet<&str> = BTreeSet::new();
        named.extend(c.inputs.iter().map(|i| i.column.as_str()));
        named.extend(c.provides.values().map(String::as_str));
        named.extend(c.fields.keys().map(String::as_str));
        named.extend(c.key.iter().flatten().map(String::as_str));
        if let Some(crate::playbook::EraseStrategy::Mask { fields, .. }) = &c.erase {
            named.extend(fields.keys().map(String::as_str));
        }
        for col in named {
            if table.column(col).is_none() {
                gaps.push(Gap {
                    kind: GapKind::MissingColumn,
                    table: table.name.clone(),
                    column: Some(col.to_string()),
                    collection: Some(c.id.collection.clone()),
                    categories: Vec::new(),
                });
            }
        }
    }
    // What discover would make a collection: personal data, or rows that belong to a person.
    for t in analysis
        .tables
        .iter()
        .filter(|t| t.has_personal_data() || t.reachable())
    {
        let Some(colls) = by_table.get(t.table.as_str()) else {
            let cats: BTreeSet<String> = t
                .findings
                .values()
                .map(|f| f.category.to_string())
                .collect();
            gaps.push(Gap {
                kind: GapKind::UncoveredTable,
                table: t.table.clone(),
                column: None,
                collection: None,
                categories: cats.into_iter().collect(),
            });
            continue;
        };
        if colls.iter().any(|c| c.fields.is_empty()) {
            continue;
        }
        let covered: BTreeSet<&str> = colls
            .iter()
            .flat_map(|c| c.fields.keys().chain(c.provides.values()))
            .map(String::as_str)
            .collect();
        if let Some(table) = catalog.table(&t.table) {
            not_exported.extend(
                table
                    .columns
                    .iter()
                    .filter(|c| {
                        !covered.contains(c.name.as_str()) && !t.findings.contains_key(&c.name)
                    })
                    .map(|c| format!("{}.{}", t.table, c.name)),
            );
        }
        for (col, f) in &t.findings {
            if !covered.contains(col.as_str()) {
                gaps.push(Gap {
                    kind: GapKind::UncoveredColumn,
                    table: t.table.clone(),
                    column: Some(col.clone()),
                    collection: Some(colls[0].id.collection.clone()),
                    categories: vec![f.category.to_string()],
                });
            }
        }
    }
    gaps.sort_by(|a, b| (&a.table, &a.column, a.kind).cmp(&(&b.table, &b.column, b.kind)));
    Report {
        system: system.name.clone(),
        schema: catalog.schema.clone(),
        covered: gaps.is_empty(),
        tables: catalog.tables.len(),
        gaps,
        not_exported,
    }
}

/// The gaps as a table for people.
pub fn table(report: &Report) -> String {
    let mut b = tabled::builder::Builder::default();
    b.push_record(["gap", "table", "column", "collection", "categories"].map(String::from));
    for g in &report.gaps {
        b.push_record([
            g.kind.describe().to_string(),
            g.table.clone(),
            g.column.clone().unwrap_or_else(|| "—".into()),
            g.collection.clone().unwrap_or_else(|| "—".into()),
            g.categories.join(", "),
        ]);
    }
    let mut t = b.build();
    t.with(tabled::settings::Style::sharp());
    t.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::discover::catalog::{Column, Table};
    use crate::discover::classify::analyse;

    fn playbook(collections: &str) -> Validated {
        let text = format!(
            "version: 1\norganisation: O\nidentities: [email]\nsystems:\n  a:\n    connector: sqlite\n    path: a.db\n    purpose: p\n    legal_basis: contract\n    retention: r\n    collections:\n{collections}  b:\n    connector: sqlite\n    path: b.db\n    purpose: p\n    legal_basis: contract\n    retention: r\n    collections:\n      x:\n        match: {{ email: identity.email }}\n"
        );
        let loaded = crate::playbook::load::parse(std::path::Path::new("pb.yaml"), &text)
            .unwrap_or_else(|e| panic!("{e}"));
        crate::playbook::validate::validate_offline(loaded).unwrap_or_else(|e| panic!("{e}"))
    }

    fn catalog() -> Catalog {
        let col = |n: &str| Column {
            name: n.into(),
            data_type: "TEXT".into(),
            nullable: true,
            sampled: None,
        };
        Catalog {
            dialect: Dialect::Sqlite,
            schema: "main".into(),
            database: "a".into(),
            unsampled: Vec::new(),
            tables: vec![Table {
                name: "users".into(),
                columns: vec![col("id"), col("email"), col("phone")],
                primary_key: vec!["id".into()],
                foreign_keys: vec![],
            }],
        }
    }

    #[test]
    fn a_collection_without_fields_covers_every_column() {
        let v = playbook("      users:\n        match: { email: identity.email }\n");
        let c = catalog();
        let r = compare(&v.systems["a"], &c, &analyse(&c));
        assert!(r.covered, "{:?}", r.gaps);
    }

    #[test]
    fn fields_cover_only_what_they_list_and_names_must_exist() {
        let v = playbook(
            "      users:\n        match: { email: identity.email }\n        fields:\n          email: { category: contact.email }\n          nickname: { category: name }\n",
        );
        let c = catalog();
        let r = compare(&v.systems["a"], &c, &analyse(&c));
        let kinds: Vec<(GapKind, Option<&str>)> = r
            .gaps
            .iter()
            .map(|g| (g.kind, g.column.as_deref()))
            .collect();
        assert_eq!(
            kinds,
            [
                (GapKind::MissingColumn, Some("nickname")),
                (GapKind::UncoveredColumn, Some("phone")),
            ]
        );
        assert_eq!(r.gaps[1].categories, ["contact.phone"]);
        assert_eq!(r.not_exported, ["users.id"]);
        assert!(!r.covered);
    }

    #[test]
    fn picks_the_system_by_name_or_kind() {
        let v = playbook("      users:\n        match: { email: identity.email }\n");
        let url = "sqlite:a.db";
        assert_eq!(
            pick_system(&v, Some("b"), url, Dialect::Sqlite).unwrap(),
            "b"
        );
        assert_eq!(
            pick_system(&v, Some("c"), url, Dialect::Sqlite).unwrap_err(),
            PickError::Unknown("c".into())
        );
        assert_eq!(
            pick_system(&v, None, url, Dialect::Sqlite)
                .unwrap_err()
                .to_string(),
            "cannot tell which of the playbook's sqlite systems this database is (a, b)"
        );
        assert_eq!(
            pick_system(&v, None, "postgres://h/x", Dialect::Postgres).unwrap_err(),
            PickError::NoneOfKind("postgres")
        );
    }
}
