//! What a database holds that a playbook's system does not cover, and what the system names
//! that the database no longer has. Pure but for resolving the system's url to recognise it.
//!
//! A collection with `fields:` covers those columns and the ones it `provides`; a collection
//! without `fields:` exports every column, so it covers all of them.
//!
//! A foreign key of several columns identifies a parent row only as a whole: a collection
//! that matches part of it (the order number without the region) also reads rows of other
//! people, so that is a gap, and a table that belongs to a person only through such a key is
//! covered only by a collection that matches all its columns from one parent collection.

use super::catalog::{Catalog, Dialect, ForeignKey, Table};
use super::classify::Analysis;
use crate::connectors::{SystemSpec, Validated};
use crate::playbook::{CollectionSpec, Source};
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
    let candidates: Vec<&SystemSpec> = v
        .systems
        .values()
        .filter(|s| s.kind.name() == kind)
        .collect();
    let same_url: Vec<&SystemSpec> = candidates
        .iter()
        .copied()
        .filter(|s| {
            s.kind.url().is_some_and(|t| {
                crate::playbook::interpolate::resolve(t, &v.loaded.dir)
                    .is_ok_and(|r| r.expose() == url)
            })
        })
        .collect();
    match (same_url.as_slice(), candidates.as_slice()) {
        ([one], _) | ([], [one]) => Ok(one.name.clone()),
        (_, []) => Err(PickError::NoneOfKind(kind)),
        _ => Err(PickError::Ambiguous {
            kind,
            candidates: candidates
                .iter()
                .map(|s| s.name.as_str())
                .collect::<Vec<_>>()
                .join(", "),
        }),
    }
}

/// The schema (PostgreSQL) or database (MySQL) to compare with `system`: `--schema` when
/// given, else the system's `schema:`, where its unqualified tables are; `None` leaves it to
/// the connection, as the system's connector does. SQLite systems always read `main`.
pub fn schema_to_read<'a>(system: &'a SystemSpec, explicit: Option<&'a str>) -> Option<&'a str> {
    explicit.or_else(|| system_schema(system))
}

/// The schema a system's unqualified tables are in, when it names one.
fn system_schema(system: &SystemSpec) -> Option<&str> {
    system.kind.schema()
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
    /// A collection that matches only part of a composite foreign key, or a table that
    /// belongs to a person only through such a key whose collection does not match it whole.
    PartialKey,
    /// A column the playbook names that the table no longer has.
    MissingColumn,
}

impl GapKind {
    pub fn describe(self) -> &'static str {
        match self {
            Self::UncoveredTable => "table not in the playbook",
            Self::UncoveredColumn => "column not in fields",
            Self::MissingTable => "table no longer exists",
            Self::PartialKey => "composite foreign key not matched as a whole",
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
    /// The composite foreign key not matched as a whole (partial keys).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub foreign_key: Option<KeyRef>,
}

/// A foreign key as a gap names it: this table's columns, in key order, and the table they
/// reference.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KeyRef {
    pub columns: Vec<String>,
    pub ref_table: String,
}

impl KeyRef {
    fn of(fk: &ForeignKey) -> Self {
        Self {
            columns: fk.columns.clone(),
            ref_table: fk.ref_table.clone(),
        }
    }

    /// `(region, num) → orders`
    pub fn describe(&self) -> String {
        format!("({}) → {}", self.columns.join(", "), self.ref_table)
    }
}

/// How a collection's `match` follows one foreign key of its table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum KeyMatch {
    /// Not at all: no key column takes a reference to a collection of the referenced table.
    None,
    /// Some key columns do, but not all of them from one collection, each to the name that
    /// collection provides for the column it references.
    Part,
    /// Every key column, from one upstream collection, paired as the key pairs them.
    Whole,
}

/// How `c` (a collection of `system`) matches `fk`. References are grouped by the collection
/// they come from, because the playbook matches references to one collection together, row
/// by row. A collection of another system cannot be looked into: all key columns from it
/// count as the whole key, part of them as nothing known.
fn key_match(system: &SystemSpec, c: &CollectionSpec, fk: &ForeignKey) -> KeyMatch {
    let mut by_source: BTreeMap<&crate::playbook::CollectionId, Vec<(&str, &str)>> =
        BTreeMap::new();
    for i in &c.inputs {
        if let Source::Provided { from, name } = &i.source
            && fk.columns.contains(&i.column)
        {
            by_source
                .entry(from)
                .or_default()
                .push((i.column.as_str(), name.as_str()));
        }
    }
    let mut touched = false;
    for (from, refs) in by_source {
        let upstream = (from.system == system.name)
            .then(|| system.collections.get(&from.collection))
            .flatten();
        let whole = match upstream {
            Some(up)
                if system
                    .kind
                    .tables()
                    .and_then(|t| t.get(&up.id.collection))
                    .is_some_and(|t| t.name.name == fk.ref_table) =>
            {
                touched = true;
                fk.columns.iter().zip(&fk.ref_columns).all(|(col, r)| {
                    refs.iter()
                        .any(|(c, name)| c == col && up.provides.get(*name).is_some_and(|p| p == r))
                })
            }
            Some(_) => false,
            None => fk
                .columns
                .iter()
                .all(|col| refs.iter().any(|(c, _)| c == col)),
        };
        if whole {
            return KeyMatch::Whole;
        }
    }
    if touched {
        KeyMatch::Part
    } else {
        KeyMatch::None
    }
}

/// Composite keys of `table` that `c` matches only in part, unless it matches another key
/// into the same table as a whole (that one already ties its rows to the parent's).
fn partial_keys<'a>(
    system: &SystemSpec,
    c: &CollectionSpec,
    table: &'a Table,
) -> Vec<&'a ForeignKey> {
    let whole = |fk: &ForeignKey| key_match(system, c, fk) == KeyMatch::Whole;
    table
        .foreign_keys
        .iter()
        .filter(|fk| fk.columns.len() > 1 && key_match(system, c, fk) == KeyMatch::Part)
        .filter(|fk| {
            !table
                .foreign_keys
                .iter()
                .any(|o| o.ref_table == fk.ref_table && whole(o))
        })
        .collect()
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
    // Collections by table, for tables in the schema that was read. Unqualified tables are
    // in the system's `schema:`, or, without one, in the connection's default, which is what
    // was read when no schema was chosen.
    let mut by_table: BTreeMap<&str, Vec<&CollectionSpec>> = BTreeMap::new();
    let tables = system.kind.tables();
    for c in system.collections.values() {
        let Some(configured) = tables.and_then(|t| t.get(&c.id.collection)) else {
            continue;
        };
        if configured
            .name
            .schema
            .as_deref()
            .or(system_schema(system))
            .is_some_and(|s| s != catalog.schema)
        {
            continue;
        }
        by_table
            .entry(configured.name.name.as_str())
            .or_default()
            .push(c);
        let Some(table) = catalog.table(&configured.name.name) else {
            gaps.push(Gap {
                kind: GapKind::MissingTable,
                table: configured.name.name.clone(),
                column: None,
                collection: Some(c.id.collection.clone()),
                categories: Vec::new(),
                foreign_key: None,
            });
            continue;
        };
        for fk in partial_keys(system, c, table) {
            gaps.push(Gap {
                kind: GapKind::PartialKey,
                table: table.name.clone(),
                column: None,
                collection: Some(c.id.collection.clone()),
                categories: Vec::new(),
                foreign_key: Some(KeyRef::of(fk)),
            });
        }
        let mut named: BTreeSet<&str> = BTreeSet::new();
        named.extend(c.inputs.iter().map(|i| i.column.as_str()));
        named.extend(c.provides.values().map(String::as_str));
        named.extend(c.fields.keys().map(String::as_str));
        named.extend(configured.key.iter().flatten().map(String::as_str));
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
                    foreign_key: None,
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
                foreign_key: None,
            });
            continue;
        };
        if let Some(table) = catalog.table(&t.table) {
            only_through_composite_keys(system, table, t, colls, &mut gaps);
        }
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
                    foreign_key: None,
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

/// A table whose rows belong to a person only through composite keys (no email column, every
/// link a key of several columns) is covered only by a collection that matches one of its keys
/// as a whole; else its first link is reported, unless a partial match of it already was.
fn only_through_composite_keys(
    system: &SystemSpec,
    table: &Table,
    t: &super::classify::TableAnalysis,
    colls: &[&CollectionSpec],
    gaps: &mut Vec<Gap>,
) {
    let composite_only = t.identity_columns.is_empty()
        && !t.links.is_empty()
        && t.links.iter().all(|l| l.columns.len() > 1);
    if !composite_only {
        return;
    }
    let matched = colls.iter().any(|c| {
        table
            .foreign_keys
            .iter()
            .any(|fk| key_match(system, c, fk) == KeyMatch::Whole)
    });
    let reported = gaps
        .iter()
        .any(|g| g.kind == GapKind::PartialKey && g.table == table.name);
    if matched || reported {
        return;
    }
    let link = &t.links[0];
    gaps.push(Gap {
        kind: GapKind::PartialKey,
        table: table.name.clone(),
        column: None,
        collection: Some(colls[0].id.collection.clone()),
        categories: Vec::new(),
        foreign_key: Some(KeyRef {
            columns: link.columns.clone(),
            ref_table: link.ref_table.clone(),
        }),
    });
}

/// The gaps as a table for people.
pub fn table(report: &Report) -> String {
    let mut b = tabled::builder::Builder::default();
    b.push_record(["gap", "table", "column", "collection", "categories"].map(String::from));
    for g in &report.gaps {
        b.push_record([
            g.kind.describe().to_string(),
            g.table.clone(),
            match (&g.column, &g.foreign_key) {
                (Some(c), _) => c.clone(),
                (None, Some(k)) => k.describe(),
                (None, None) => "—".into(),
            },
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
    use crate::discover::catalog::{Column, ForeignKey, Table};
    use crate::discover::classify::analyse;

    fn playbook(collections: &str) -> Validated {
        let text = format!(
            "version: 1\norganisation: O\nidentities: [email]\nsystems:\n  a:\n    connector: sqlite\n    path: a.db\n    purpose: p\n    legal_basis: contract\n    retention: r\n    collections:\n{collections}  b:\n    connector: sqlite\n    path: b.db\n    purpose: p\n    legal_basis: contract\n    retention: r\n    collections:\n      x:\n        match: {{ email: identity.email }}\n"
        );
        let loaded = crate::playbook::load::parse(std::path::Path::new("pb.yaml"), &text)
            .unwrap_or_else(|e| panic!("{e}"));
        crate::connectors::configure::validate_offline(loaded).unwrap_or_else(|e| panic!("{e}"))
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

    /// users <- orders (PK region, num) <- order_lines through (region, num).
    fn composite() -> Catalog {
        let col = |n: &str| Column {
            name: n.into(),
            data_type: "INTEGER".into(),
            nullable: false,
            sampled: None,
        };
        let table = |name: &str, cols: &[&str], pk: &[&str], fks: Vec<ForeignKey>| Table {
            name: name.into(),
            columns: cols.iter().map(|c| col(c)).collect(),
            primary_key: pk.iter().map(|c| c.to_string()).collect(),
            foreign_keys: fks,
        };
        let fk = |cols: &[&str], t: &str, refs: &[&str]| ForeignKey {
            columns: cols.iter().map(|c| c.to_string()).collect(),
            ref_table: t.into(),
            ref_columns: refs.iter().map(|c| c.to_string()).collect(),
        };
        let mut users = table("users", &["id", "email"], &["id"], vec![]);
        users.columns[1].data_type = "TEXT".into();
        Catalog {
            dialect: Dialect::Sqlite,
            schema: "main".into(),
            database: "a".into(),
            unsampled: Vec::new(),
            tables: vec![
                table(
                    "order_lines",
                    &["line_no", "region", "num"],
                    &["region", "num", "line_no"],
                    vec![fk(&["region", "num"], "orders", &["region", "num"])],
                ),
                table(
                    "orders",
                    &["region", "num", "user_id"],
                    &["region", "num"],
                    vec![fk(&["user_id"], "users", &["id"])],
                ),
                users,
            ],
        }
    }

    /// The composite shop's collections, with `lines` for order_lines (empty: none).
    fn composite_playbook(lines: &str) -> Validated {
        playbook(&format!(
            "      users:\n        match: {{ email: identity.email }}\n        provides: {{ user_id: id }}\n      orders:\n        match: {{ user_id: users.user_id }}\n        provides: {{ order_region: region, order_num: num, order_ref: num }}\n{lines}"
        ))
    }

    fn gaps(lines: &str) -> Vec<(GapKind, String, Option<KeyRef>)> {
        let c = composite();
        let r = compare(&composite_playbook(lines).systems["a"], &c, &analyse(&c));
        assert_eq!(r.covered, r.gaps.is_empty());
        r.gaps
            .into_iter()
            .map(|g| (g.kind, g.table, g.foreign_key))
            .collect()
    }

    fn key() -> Option<KeyRef> {
        Some(KeyRef {
            columns: vec!["region".into(), "num".into()],
            ref_table: "orders".into(),
        })
    }

    #[test]
    fn a_composite_key_matched_as_a_whole_covers_its_table() {
        let whole = "      order_lines:\n        match: { region: orders.order_region, num: orders.order_num }\n";
        assert_eq!(gaps(whole), []);
    }

    #[test]
    fn a_table_reached_through_a_composite_key_must_be_in_the_playbook() {
        assert_eq!(
            gaps(""),
            [(GapKind::UncoveredTable, "order_lines".to_string(), None)]
        );
    }

    #[test]
    fn part_of_a_composite_key_is_a_gap() {
        let part = "      order_lines:\n        match: { num: orders.order_num }\n";
        assert_eq!(
            gaps(part),
            [(GapKind::PartialKey, "order_lines".to_string(), key())]
        );
        // Both columns, but region gets the order number.
        let crossed = "      order_lines:\n        match: { region: orders.order_num, num: orders.order_region }\n";
        assert_eq!(
            gaps(crossed),
            [(GapKind::PartialKey, "order_lines".to_string(), key())]
        );
        // Both columns from the right collection, but num through another name for it.
        let renamed = "      order_lines:\n        match: { region: orders.order_region, num: orders.order_ref }\n";
        assert_eq!(gaps(renamed), []);
    }

    #[test]
    fn a_composite_child_matched_some_other_way_is_a_gap() {
        // Only through its key does a line belong to a person: matching other columns does
        // not show that these rows are the person's.
        let other = "      order_lines:\n        match: { line_no: users.user_id }\n";
        assert_eq!(
            gaps(other),
            [(GapKind::PartialKey, "order_lines".to_string(), key())]
        );
    }

    fn postgres_playbook(schema: &str) -> Validated {
        let text = format!(
            "version: 1\norganisation: O\nidentities: [email]\nsystems:\n  a:\n    connector: postgres\n    url: postgres://h/x\n{schema}    purpose: p\n    legal_basis: contract\n    retention: r\n    collections:\n      users:\n        match: {{ email: identity.email }}\n"
        );
        let loaded = crate::playbook::load::parse(std::path::Path::new("pb.yaml"), &text)
            .unwrap_or_else(|e| panic!("{e}"));
        crate::connectors::configure::validate_offline(loaded).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn the_systems_schema_is_read_and_holds_its_unqualified_tables() {
        let v = postgres_playbook("    schema: shop\n");
        let a = &v.systems["a"];
        assert_eq!(schema_to_read(a, None), Some("shop"));
        assert_eq!(schema_to_read(a, Some("other")), Some("other"));
        let none = postgres_playbook("");
        assert_eq!(schema_to_read(&none.systems["a"], None), None);
        // SQLite reads `main` whatever the system says.
        let sqlite = playbook("      users:\n        match: { email: identity.email }\n");
        assert_eq!(schema_to_read(&sqlite.systems["a"], None), None);

        let mut c = catalog();
        c.dialect = Dialect::Postgres;
        c.schema = "shop".into();
        let r = compare(a, &c, &analyse(&c));
        assert!(r.covered, "{:?}", r.gaps);
        // Another schema of the same database: `users` there is not the playbook's.
        c.schema = "public".into();
        let r = compare(a, &c, &analyse(&c));
        let kinds: Vec<GapKind> = r.gaps.iter().map(|g| g.kind).collect();
        assert_eq!(kinds, [GapKind::UncoveredTable]);
        // Without `schema:`, unqualified tables are in the schema the connection reads.
        let r = compare(&none.systems["a"], &c, &analyse(&c));
        assert!(r.covered, "{:?}", r.gaps);
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
