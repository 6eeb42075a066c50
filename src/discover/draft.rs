//! The analysis written as a draft playbook. Pure: catalog + analysis in, YAML text out.
//!
//! The draft passes `dsr validate` as it is, but it cannot know why the data is kept, on
//! which legal basis or for how long. Those keys say `TODO: …` (purpose, retention,
//! organisation) so that nobody mistakes them for answers; `legal_basis` must be one of the
//! six Art. 6 bases to validate, so it says `contract` with a `# TODO: confirm` comment, and
//! `dsr validate` warns about every value that still starts with `TODO`.

use super::catalog::{Catalog, Column, Dialect, Table};
use super::classify::{Analysis, Finding, TableAnalysis, category};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

/// The text `dsr validate` looks for in values that a person still has to write.
pub const TODO: &str = "TODO";

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DraftError {
    #[error(
        "found no table a person can be reached from: no email column, and no foreign keys to a table with one"
    )]
    NoEntryPoint,
}

#[derive(Debug, Clone)]
pub struct DraftOptions<'a> {
    /// The system's name in the playbook.
    pub system: &'a str,
    /// The environment variable the playbook reads the URL from.
    pub url_var: &'a str,
    /// `schema:` of the system, when one was chosen explicitly.
    pub schema: Option<&'a str>,
    /// How many values were sampled per column (0: none), for the header.
    pub sample: u32,
}

/// A name usable as a playbook key: lower case letters, digits and `_`.
pub fn system_name(database: &str) -> String {
    let mut s: String = database
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect();
    s = s.trim_matches('_').to_string();
    if s.is_empty() {
        return "app_db".into();
    }
    if s.starts_with(|c: char| c.is_ascii_digit()) {
        s.insert_str(0, "db_");
    }
    s
}

/// `shop` → `SHOP_DB_URL`, `app_db` → `APP_DB_URL`.
pub fn url_var(system: &str) -> String {
    let upper = system.to_ascii_uppercase();
    if upper.ends_with("_DB") {
        format!("{upper}_URL")
    } else {
        format!("{upper}_DB_URL")
    }
}

/// A YAML scalar: plain when that is unambiguous, else double-quoted (JSON strings are valid
/// YAML double-quoted scalars).
pub fn scalar(s: &str) -> String {
    let plain = s.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.')
        && !matches!(
            s.to_ascii_lowercase().as_str(),
            "true" | "false" | "yes" | "no" | "on" | "off" | "null" | "y" | "n"
        );
    if plain {
        s.to_string()
    } else {
        serde_json::Value::String(s.to_string()).to_string()
    }
}

/// A collection name the validator accepts; the real table name goes in `table:` when it
/// differs.
fn collection_name(table: &str, taken: &BTreeSet<String>) -> String {
    let mut base = crate::output::bundle::safe_name(table);
    if base.starts_with('-') {
        base.insert(0, 't');
    }
    let mut name = base.clone();
    let mut n = 2;
    while taken.contains(&name) {
        name = format!("{base}_{n}");
        n += 1;
    }
    name
}

fn is_texty(data_type: &str) -> bool {
    let t = data_type.to_ascii_lowercase();
    t.is_empty() || t.contains("char") || t.contains("text") || t.contains("clob") || t == "citext"
}

fn is_datey(data_type: &str) -> bool {
    let t = data_type.to_ascii_lowercase();
    t.contains("date") || t.contains("time")
}

/// How erasure should mask a column that other tables' rows keep pointing at.
pub fn mask_method(col: &Column, finding: &Finding) -> Option<&'static str> {
    if col.nullable {
        return Some("null");
    }
    if finding.category == category::BIRTH_DATE || is_datey(&col.data_type) {
        return Some("truncate_date");
    }
    if !is_texty(&col.data_type) {
        return None;
    }
    // Often unique: a fixed text would collide, a random value of the same shape does not.
    if [category::EMAIL, category::USERNAME, category::PHONE].contains(&finding.category) {
        return Some("random");
    }
    Some("redact")
}

/// Text for a YAML comment: a line break in a table name must not end the comment and
/// smuggle keys into the playbook.
fn comment(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

fn flow(map: &BTreeMap<String, String>) -> String {
    let parts: Vec<String> = map
        .iter()
        .map(|(k, v)| format!("{}: {}", scalar(k), scalar(v)))
        .collect();
    format!("{{ {} }}", parts.join(", "))
}

/// `match:` as a flow mapping: one reference as a scalar, several as a flow sequence.
fn match_flow(map: &BTreeMap<String, BTreeSet<String>>) -> String {
    let parts: Vec<String> = map
        .iter()
        .map(|(k, refs)| {
            let v = match refs.iter().collect::<Vec<_>>().as_slice() {
                [one] => scalar(one),
                many => format!(
                    "[{}]",
                    many.iter()
                        .map(|r| scalar(r))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            };
            format!("{}: {v}", scalar(k))
        })
        .collect();
    format!("{{ {} }}", parts.join(", "))
}

fn dialect_name(d: Dialect) -> &'static str {
    match d {
        Dialect::Postgres => "PostgreSQL",
        Dialect::Mysql => "MySQL/MariaDB",
        Dialect::Sqlite => "SQLite",
    }
}

/// The draft playbook.
pub fn render(
    catalog: &Catalog,
    analysis: &Analysis,
    opts: &DraftOptions<'_>,
) -> Result<String, DraftError> {
    let collections: Vec<(&Table, &TableAnalysis)> = catalog
        .tables
        .iter()
        .filter_map(|t| analysis.table(&t.name).map(|a| (t, a)))
        .filter(|(_, a)| a.reachable())
        .collect();
    if collections.is_empty() {
        return Err(DraftError::NoEntryPoint);
    }
    let mut names: BTreeMap<&str, String> = BTreeMap::new();
    let mut taken = BTreeSet::new();
    for (t, _) in &collections {
        let n = collection_name(&t.name, &taken);
        taken.insert(n.clone());
        names.insert(t.name.as_str(), n);
    }

    let mut y = String::new();
    let sampled = if opts.sample > 0 {
        format!(
            "and the shape of up to {} sampled values per column (the values were read, never written)",
            opts.sample
        )
    } else {
        "only (values were not sampled)".to_string()
    };
    let _ = writeln!(y, "{}", crate::playbook::schema_comment());
    let _ = writeln!(
        y,
        "# Draft playbook written by `dsr discover` from the {} catalog of '{}'.",
        dialect_name(catalog.dialect),
        comment(&catalog.schema)
    );
    let _ = writeln!(
        y,
        "# Personal data was recognised by column name, type {sampled}."
    );
    for note in &catalog.unsampled {
        let _ = writeln!(
            y,
            "# Not sampled, classified by name and type only: {}",
            comment(note)
        );
    }
    let _ = writeln!(y, "# Before you rely on it:");
    let _ = writeln!(
        y,
        "#   - replace every TODO: organisation, purpose, retention, recipients;"
    );
    let _ = writeln!(
        y,
        "#   - choose the legal basis: `contract` below is a placeholder, not a finding;"
    );
    let _ = writeln!(
        y,
        "#   - check each field's category and each erase strategy;"
    );
    let _ = writeln!(
        y,
        "#   - set {} to the database URL (it is never written here), then run",
        opts.url_var
    );
    let _ = writeln!(y, "#     `dsr validate` on this file.");
    let _ = writeln!(y, "version: 1");
    let _ = writeln!(y, "organisation: \"{TODO}: your organisation\"");
    let _ = writeln!(y, "identities: [email]");
    let _ = writeln!(y, "systems:");
    let _ = writeln!(y, "  {}:", scalar(opts.system));
    let _ = writeln!(y, "    connector: {}", catalog.dialect.connector());
    let _ = writeln!(y, "    url: ${{env:{}}}", opts.url_var);
    if let Some(s) = opts.schema {
        let _ = writeln!(y, "    schema: {}", scalar(s));
    }
    let _ = writeln!(y, "    purpose: \"{TODO}: why is this kept?\"");
    let _ = writeln!(
        y,
        "    legal_basis: contract  # {TODO}: confirm (one of: consent, contract, legal_obligation, vital_interests, public_task, legitimate_interests)"
    );
    let _ = writeln!(y, "    retention: \"{TODO}: how long is this kept?\"");
    let _ = writeln!(
        y,
        "    recipients: []  # {TODO}: who receives this data (processors, carriers, authorities)"
    );
    let _ = writeln!(y, "    collections:");
    for (t, a) in &collections {
        let name = &names[t.name.as_str()];
        let _ = writeln!(y, "      {}:", scalar(name));
        if *name != t.name {
            let _ = writeln!(y, "        table: {}", scalar(&t.name));
        }
        // Every column of a key refers to the name its parent provides for the column it
        // references, so a key of several columns is matched as a whole, row by row (the
        // playbook matches references to one collection together). A column in keys to
        // several tables takes a list: any of them leads to the person.
        let mut matches: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for c in &a.identity_columns {
            matches
                .entry(c.clone())
                .or_default()
                .insert("identity.email".to_string());
        }
        for l in &a.links {
            let target = &names[l.ref_table.as_str()];
            for (c, r) in l.pairs() {
                let provided = super::classify::provide_name(&l.ref_table, r);
                matches
                    .entry(c.to_string())
                    .or_default()
                    .insert(format!("{target}.{provided}"));
            }
        }
        let _ = writeln!(y, "        match: {}", match_flow(&matches));
        for l in &a.unfollowed {
            let _ = writeln!(
                y,
                "        # {TODO}: {} also references {}; references to one collection match together, row by row, so add a second collection on this table if those rows are the person's too",
                comment(&format!("({})", l.columns.join(", "))),
                comment(&l.ref_table)
            );
        }
        let provides = analysis.provides(&t.name);
        if !provides.is_empty() {
            let _ = writeln!(y, "        provides: {}", flow(&provides));
        }
        let keys: BTreeSet<&str> = t
            .primary_key
            .iter()
            .chain(t.foreign_keys.iter().flat_map(|fk| fk.columns.iter()))
            .map(String::as_str)
            .collect();
        let _ = writeln!(y, "        fields:");
        for col in &t.columns {
            let (cat, note) = match a.findings.get(&col.name) {
                Some(f) => (f.category, format!("  # {}", f.basis.describe())),
                None if keys.contains(col.name.as_str()) => (category::INTERNAL_ID, String::new()),
                None => (category::RECORD, String::new()),
            };
            let _ = writeln!(
                y,
                "          {}: {{ category: {cat} }}{note}",
                scalar(&col.name)
            );
        }
        write_erase(&mut y, t, a, &keys, &provides);
    }
    let neutral: Vec<&str> = analysis
        .tables
        .iter()
        .filter(|a| !a.reachable() && !a.has_personal_data())
        .map(|a| a.table.as_str())
        .collect();
    if !neutral.is_empty() {
        let _ = writeln!(
            y,
            "# Tables with no personal data found (not collections): {}",
            comment(&neutral.join(", "))
        );
    }
    let stranded: Vec<&TableAnalysis> = analysis
        .tables
        .iter()
        .filter(|a| !a.reachable() && a.has_personal_data())
        .collect();
    if !stranded.is_empty() {
        let _ = writeln!(
            y,
            "# {TODO}: personal data that no identity reaches (no email column, no foreign key to a"
        );
        let _ = writeln!(
            y,
            "# table with one). Add these as collections with a `match` you choose:"
        );
        for a in stranded {
            let cols: Vec<String> = a
                .findings
                .iter()
                .map(|(c, f)| format!("{c} ({})", f.category))
                .collect();
            let _ = writeln!(
                y,
                "#   {}",
                comment(&format!("{}: {}", a.table, cols.join(", ")))
            );
        }
    }
    Ok(y)
}

fn write_erase(
    y: &mut String,
    t: &Table,
    a: &TableAnalysis,
    keys: &BTreeSet<&str>,
    provides: &BTreeMap<String, String>,
) {
    if a.referenced_by.is_empty() {
        let _ = writeln!(y, "        erase: delete");
        return;
    }
    let mut mask = BTreeMap::new();
    let mut unmaskable = Vec::new();
    for (col, f) in &a.findings {
        if keys.contains(col.as_str()) || provides.values().any(|p| p == col) {
            continue;
        }
        let Some(c) = t.column(col) else { continue };
        match mask_method(c, f) {
            Some(m) => {
                mask.insert(col.clone(), m.to_string());
            }
            None => unmaskable.push(col.as_str()),
        }
    }
    let referers = a.referenced_by.join(", ");
    if !unmaskable.is_empty() {
        let _ = writeln!(
            y,
            "        # {TODO}: {} cannot be masked automatically (NOT NULL and neither text nor a date)",
            comment(&unmaskable.join(", "))
        );
    }
    if mask.is_empty() {
        let _ = writeln!(y, "        erase:");
        let _ = writeln!(y, "          keep: true");
        let _ = writeln!(
            y,
            "          because: {}",
            scalar(&format!(
                "Rows of {referers} refer to these rows, which hold no directly identifying columns. {TODO}: confirm"
            ))
        );
        return;
    }
    let _ = writeln!(y, "        erase:");
    let _ = writeln!(y, "          mask: {}", flow(&mask));
    let _ = writeln!(
        y,
        "          because: {}",
        scalar(&format!(
            "Rows of {referers} refer to these rows, so they are masked instead of deleted."
        ))
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::discover::catalog::{Catalog, Column, Dialect, ForeignKey, Table};
    use crate::discover::classify::{Basis, analyse};

    fn col(name: &str, data_type: &str, nullable: bool) -> Column {
        Column {
            name: name.into(),
            data_type: data_type.into(),
            nullable,
            sampled: None,
        }
    }

    fn shop() -> Catalog {
        let fk = |c: &str, t: &str| ForeignKey {
            columns: vec![c.into()],
            ref_table: t.into(),
            ref_columns: vec!["id".into()],
        };
        Catalog {
            dialect: Dialect::Postgres,
            schema: "shop".into(),
            database: "test".into(),
            unsampled: Vec::new(),
            tables: vec![
                Table {
                    name: "order items".into(),
                    columns: vec![
                        col("id", "integer", false),
                        col("order_id", "integer", false),
                        col("qty", "integer", false),
                    ],
                    primary_key: vec!["id".into()],
                    foreign_keys: vec![fk("order_id", "orders")],
                },
                Table {
                    name: "orders".into(),
                    columns: vec![
                        col("id", "integer", false),
                        col("user_id", "integer", false),
                        col("shipping_address", "text", false),
                        col("total", "numeric(10,2)", false),
                    ],
                    primary_key: vec!["id".into()],
                    foreign_keys: vec![fk("user_id", "users")],
                },
                Table {
                    name: "products".into(),
                    columns: vec![col("id", "integer", false), col("name", "text", false)],
                    primary_key: vec!["id".into()],
                    foreign_keys: vec![],
                },
                Table {
                    name: "users".into(),
                    columns: vec![
                        col("id", "integer", false),
                        col("email", "text", false),
                        col("name", "text", false),
                        col("birth_date", "date", true),
                        col("last_ip", "inet", false),
                        col("on", "text", true),
                    ],
                    primary_key: vec!["id".into()],
                    foreign_keys: vec![],
                },
                Table {
                    name: "visitors".into(),
                    columns: vec![col("id", "integer", false), col("phone", "text", true)],
                    primary_key: vec!["id".into()],
                    foreign_keys: vec![],
                },
            ],
        }
    }

    fn draft() -> String {
        let c = shop();
        render(
            &c,
            &analyse(&c),
            &DraftOptions {
                system: "shop",
                url_var: "SHOP_DB_URL",
                schema: Some("shop"),
                sample: 50,
            },
        )
        .unwrap()
    }

    #[test]
    fn draft_matches_provides_and_erases_sensibly() {
        let y = draft();
        assert!(y.contains("    url: ${env:SHOP_DB_URL}\n"), "{y}");
        assert!(y.contains("    schema: shop\n"));
        assert!(y.contains("      users:\n        match: { email: identity.email }\n        provides: { user_id: id }\n"), "{y}");
        assert!(y.contains("      orders:\n        match: { user_id: users.user_id }\n        provides: { order_id: id }\n"), "{y}");
        assert!(y.contains("      order_items:\n        table: \"order items\"\n        match: { order_id: orders.order_id }\n"), "{y}");
        assert!(
            y.contains("          email: { category: contact.email }  # by name\n"),
            "{y}"
        );
        assert!(
            y.contains("          name: { category: name }  # by name, in context\n"),
            "{y}"
        );
        assert!(
            y.contains("          last_ip: { category: network.ip_address }  # by name\n"),
            "{y}"
        );
        assert!(y.contains("          id: { category: identifier.internal }\n"));
        assert!(y.contains("          total: { category: record.detail }\n"));
        assert!(
            y.contains("          \"on\": { category: record.detail }\n"),
            "reserved YAML words are quoted: {y}"
        );
        // users is referenced by orders: masked. Non-null text email gets a random value of the
        // same shape, a nullable date becomes NULL; an inet NOT NULL cannot be masked.
        assert!(
            y.contains("          mask: { birth_date: \"null\", email: random, name: redact }\n"),
            "{y}"
        );
        assert!(
            y.contains("# TODO: last_ip cannot be masked automatically"),
            "{y}"
        );
        assert!(
            y.contains("          mask: { shipping_address: redact }\n"),
            "{y}"
        );
        assert!(y.contains("        match: { order_id: orders.order_id }\n        fields:\n          id: { category: identifier.internal }\n          order_id: { category: identifier.internal }\n          qty: { category: record.detail }\n        erase: delete\n"), "{y}");
        assert!(
            y.contains("# Tables with no personal data found (not collections): products\n"),
            "{y}"
        );
        assert!(y.contains("#   visitors: phone (contact.phone)\n"), "{y}");
        assert!(y.contains("    legal_basis: contract  # TODO: confirm"));
        assert!(y.contains("    purpose: \"TODO: why is this kept?\"\n"));
    }

    #[test]
    fn draft_is_a_valid_playbook() {
        let y = draft();
        // SAFETY: a variable only this test uses.
        unsafe { std::env::set_var("SHOP_DB_URL", "postgres://localhost/x") };
        let loaded = crate::playbook::load::parse(std::path::Path::new("draft.yaml"), &y)
            .unwrap_or_else(|e| panic!("{e}\n{y}"));
        let v =
            crate::connectors::configure::validate(loaded).unwrap_or_else(|e| panic!("{e}\n{y}"));
        let shop = &v.systems["shop"];
        assert_eq!(shop.collections.len(), 3);
        assert_eq!(
            shop.kind.tables().expect("a SQL system")["order_items"]
                .name
                .name,
            "order items"
        );
    }

    fn opts() -> DraftOptions<'static> {
        DraftOptions {
            system: "shop",
            url_var: "SHOP_DB_URL",
            schema: None,
            sample: 0,
        }
    }

    /// users <- orders (PK region, num) <- order_lines through (region, num).
    fn composite() -> Catalog {
        let int = |n: &str| col(n, "integer", false);
        Catalog {
            dialect: Dialect::Postgres,
            schema: "public".into(),
            database: "shop".into(),
            unsampled: Vec::new(),
            tables: vec![
                Table {
                    name: "order_lines".into(),
                    columns: vec![
                        int("line_no"),
                        col("region", "text", false),
                        int("num"),
                        int("qty"),
                    ],
                    primary_key: vec!["region".into(), "num".into(), "line_no".into()],
                    foreign_keys: vec![ForeignKey {
                        columns: vec!["region".into(), "num".into()],
                        ref_table: "orders".into(),
                        ref_columns: vec!["region".into(), "num".into()],
                    }],
                },
                Table {
                    name: "orders".into(),
                    columns: vec![col("region", "text", false), int("num"), int("user_id")],
                    primary_key: vec!["region".into(), "num".into()],
                    foreign_keys: vec![ForeignKey {
                        columns: vec!["user_id".into()],
                        ref_table: "users".into(),
                        ref_columns: vec!["id".into()],
                    }],
                },
                Table {
                    name: "users".into(),
                    columns: vec![int("id"), col("email", "text", false)],
                    primary_key: vec!["id".into()],
                    foreign_keys: vec![],
                },
            ],
        }
    }

    #[test]
    fn composite_keys_are_matched_row_by_row_and_provided() {
        let c = composite();
        let y = render(&c, &analyse(&c), &opts()).unwrap();
        assert!(
            y.contains("      order_lines:\n        match: { num: orders.order_num, region: orders.order_region }\n        fields:\n"),
            "{y}"
        );
        assert!(
            y.contains("      orders:\n        match: { user_id: users.user_id }\n        provides: { order_num: num, order_region: region }\n"),
            "{y}"
        );
        assert!(
            y.contains("          region: { category: identifier.internal }\n"),
            "{y}"
        );
        // SAFETY: a variable only these tests use, always set to the same value.
        unsafe { std::env::set_var("SHOP_DB_URL", "postgres://localhost/x") };
        let loaded = crate::playbook::load::parse(std::path::Path::new("draft.yaml"), &y)
            .unwrap_or_else(|e| panic!("{e}\n{y}"));
        crate::connectors::configure::validate(loaded).unwrap_or_else(|e| panic!("{e}\n{y}"));
    }

    #[test]
    fn a_column_with_several_references_lists_them() {
        let mut c = composite();
        // order_lines.region also references regions, which holds an email of its own.
        c.tables[0].foreign_keys.push(ForeignKey {
            columns: vec!["region".into()],
            ref_table: "regions".into(),
            ref_columns: vec!["code".into()],
        });
        c.tables.push(Table {
            name: "regions".into(),
            columns: vec![
                col("code", "text", false),
                col("manager_email", "text", false),
            ],
            primary_key: vec!["code".into()],
            foreign_keys: vec![],
        });
        let y = render(&c, &analyse(&c), &opts()).unwrap();
        assert!(
            y.contains("        match: { num: orders.order_num, region: [orders.order_region, regions.region_code] }\n"),
            "{y}"
        );
        let doc: serde_json::Value =
            serde_saphyr::from_str(&y).unwrap_or_else(|e| panic!("{e}\n{y}"));
        assert_eq!(
            doc["systems"]["shop"]["collections"]["order_lines"]["match"]["region"],
            serde_json::json!(["orders.order_region", "regions.region_code"])
        );
    }

    #[test]
    fn a_second_key_into_the_same_table_is_a_comment() {
        let mut c = shop();
        c.tables[1].columns.push(col("gift_for", "integer", true));
        c.tables[1].foreign_keys.push(ForeignKey {
            columns: vec!["gift_for".into()],
            ref_table: "users".into(),
            ref_columns: vec!["id".into()],
        });
        let y = render(&c, &analyse(&c), &opts()).unwrap();
        assert!(
            y.contains("      orders:\n        match: { user_id: users.user_id }\n        # TODO: (gift_for) also references users; references to one collection match together, row by row, so add a second collection on this table if those rows are the person's too\n        provides: { order_id: id }\n"),
            "{y}"
        );
    }

    #[test]
    fn nothing_to_start_from_is_an_error() {
        let mut c = shop();
        c.tables
            .retain(|t| t.name == "products" || t.name == "visitors");
        let a = analyse(&c);
        let e = render(
            &c,
            &a,
            &DraftOptions {
                system: "s",
                url_var: "S_DB_URL",
                schema: None,
                sample: 0,
            },
        )
        .unwrap_err();
        assert_eq!(e, DraftError::NoEntryPoint);
    }

    #[test]
    fn hostile_names_stay_inside_comments_and_quotes() {
        let mut c = shop();
        c.tables[2].name = "products\nsystems: {}".into();
        c.tables[3].columns[5].name = "on\"\n  evil: 1".into();
        let y = render(
            &c,
            &analyse(&c),
            &DraftOptions {
                system: "shop",
                url_var: "SHOP_DB_URL",
                schema: None,
                sample: 0,
            },
        )
        .unwrap();
        assert!(
            y.contains("(not collections): products?systems: {}\n"),
            "{y}"
        );
        assert!(
            y.contains("          \"on\\\"\\n  evil: 1\": { category: record.detail }\n"),
            "{y}"
        );
        assert!(
            !y.lines()
                .any(|l| l.starts_with("systems: {}") || l.trim_start().starts_with("evil"))
        );
        let loaded = crate::playbook::load::parse(std::path::Path::new("d.yaml"), &y)
            .unwrap_or_else(|e| panic!("{e}\n{y}"));
        assert!(
            loaded.playbook.systems["shop"].collections["users"]
                .fields
                .contains_key("on\"\n  evil: 1")
        );
    }

    #[test]
    fn names_and_variables() {
        assert_eq!(system_name("Shop-Prod"), "shop_prod");
        assert_eq!(system_name("2024"), "db_2024");
        assert_eq!(system_name("--"), "app_db");
        assert_eq!(url_var("shop"), "SHOP_DB_URL");
        assert_eq!(url_var("app_db"), "APP_DB_URL");
        assert_eq!(scalar("a b"), "\"a b\"");
        assert_eq!(scalar("Yes"), "\"Yes\"");
        assert_eq!(scalar("user_id"), "user_id");
        assert_eq!(scalar("identity.email"), "identity.email");
        assert_eq!(scalar("null"), "\"null\"");
        let f = Finding {
            category: category::EMAIL,
            basis: Basis::Name,
        };
        assert_eq!(
            mask_method(&col("e", "varchar(100)", false), &f),
            Some("random")
        );
        assert_eq!(
            mask_method(&col("e", "varchar(100)", true), &f),
            Some("null")
        );
    }
}
