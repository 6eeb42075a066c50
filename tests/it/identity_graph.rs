//! The identity graph reaches exactly the person, on PostgreSQL, MariaDB and SQLite: columns
//! of a composite key match together (row by row), a column may take several references, and
//! identities are compared after normalisation (case, Unicode form). Every test also erases
//! and checks that the other people's rows are byte-identical afterwards.

use crate::support::{HEADER, Workspace, mysql_exec, mysql_strings, pg_exec, pg_strings, run};
use serde_json::Value;

#[derive(Clone, Copy, Debug)]
pub enum Db {
    Postgres,
    Mariadb,
    Sqlite,
}

/// A schema in which the OR of the columns of a composite key reaches other people's rows:
/// Alice has orders (eu, 1) and (us, 2), Bob has (eu, 2) and (us, 1).
const TABLES: [&str; 4] = [
    "CREATE TABLE users (id INTEGER PRIMARY KEY, email VARCHAR(100) NOT NULL, address_id INTEGER)",
    "CREATE TABLE orders (region VARCHAR(10) NOT NULL, num INTEGER NOT NULL, user_id INTEGER NOT NULL REFERENCES users(id), ship_to INTEGER, PRIMARY KEY (region, num))",
    "CREATE TABLE order_lines (region VARCHAR(10) NOT NULL, num INTEGER NOT NULL, line_no INTEGER NOT NULL, sku VARCHAR(20), PRIMARY KEY (region, num, line_no), FOREIGN KEY (region, num) REFERENCES orders(region, num))",
    "CREATE TABLE addresses (id INTEGER PRIMARY KEY, line VARCHAR(100))",
];

const DATA: [&str; 4] = [
    "INSERT INTO users VALUES (1, 'Alice@Example.com', 100), (2, 'bob@example.com', 200), (3, 'zo\u{eb}@example.org', 300)",
    "INSERT INTO orders VALUES ('eu', 1, 1, 100), ('us', 2, 1, 101), ('eu', 2, 2, 200), ('us', 1, 2, 201), ('eu', 3, 3, 300)",
    "INSERT INTO order_lines VALUES ('eu', 1, 1, 'A1'), ('us', 2, 1, 'A2'), ('eu', 2, 1, 'B1'), ('us', 1, 1, 'B2'), ('us', 1, 2, 'B3'), ('eu', 3, 1, 'Z1')",
    "INSERT INTO addresses VALUES (100, 'Alice home'), (101, 'Alice office'), (200, 'Bob home'), (201, 'Bob office'), (300, 'Zoe home')",
];

/// The tables and their columns, for byte-for-byte comparisons.
const COLUMNS: [(&str, &str); 4] = [
    ("users", "id, email, address_id"),
    ("orders", "region, num, user_id, ship_to"),
    ("order_lines", "region, num, line_no, sku"),
    ("addresses", "id, line"),
];

pub const COLLECTIONS: &str = "      users:\n        match: { email: identity.email }\n        provides: { uid: id, addr: address_id }\n        erase: delete\n\
\x20     orders:\n        match: { user_id: users.uid }\n        provides: { region: region, num: num, ship: ship_to }\n        erase: delete\n\
\x20     order_lines:\n        match: { region: orders.region, num: orders.num }\n        erase: delete\n\
\x20     addresses:\n        match: { id: [users.addr, orders.ship] }\n        erase: delete\n";

pub struct Fixture {
    pub db: Db,
    pub name: String,
    pub ws: Workspace,
}

impl Fixture {
    /// Creates the schema and data, and a playbook with `collections` over it.
    pub fn new(db: Db, name: &str, tables: &[&str], data: &[&str], collections: &str) -> Self {
        let ws = Workspace::new();
        let (connector, url, extra) = match db {
            Db::Postgres => {
                let mut all = vec![
                    format!("DROP SCHEMA IF EXISTS {name} CASCADE"),
                    format!("CREATE SCHEMA {name}"),
                    format!("SET search_path TO {name}"),
                ];
                all.extend(tables.iter().chain(data).map(|s| s.to_string()));
                // One connection: the search path holds for every statement.
                let joined = all.join(";\n");
                pg_exec(&[&joined]);
                (
                    "postgres",
                    "${env:DSR_TEST_PG_URL}".to_string(),
                    format!("    schema: {name}\n"),
                )
            }
            Db::Mariadb => {
                let mut all = vec![
                    format!("DROP DATABASE IF EXISTS {name}"),
                    format!("CREATE DATABASE {name} CHARACTER SET utf8mb4"),
                    format!("USE {name}"),
                ];
                all.extend(tables.iter().chain(data).map(|s| s.to_string()));
                let joined = all.join(";\n");
                mysql_exec(&[&joined]);
                (
                    "mariadb",
                    "${env:DSR_TEST_MYSQL_URL}".to_string(),
                    format!("    schema: {name}\n"),
                )
            }
            Db::Sqlite => {
                let seed: String = tables
                    .iter()
                    .chain(data)
                    .map(|s| format!("{s};\n"))
                    .collect();
                ws.write("seed.sql", &format!("PRAGMA foreign_keys = ON;\n{seed}"));
                ("sqlite", String::new(), String::new())
            }
        };
        let location = match db {
            Db::Sqlite => "    path: app.db\n    seed: seed.sql\n".to_string(),
            _ => format!("    url: {url}\n"),
        };
        let pb = format!(
            "{HEADER}  app:\n    connector: {connector}\n{location}{extra}    purpose: Testing\n    legal_basis: contract\n    retention: 1 day\n    collections:\n{collections}"
        );
        ws.write("pb.yaml", &pb);
        Self {
            db,
            name: name.to_string(),
            ws,
        }
    }

    /// Every row of `table` as `a|b|c` text, sorted.
    pub fn rows(&self, table: &str, columns: &str) -> Vec<String> {
        let cols: Vec<&str> = columns.split(", ").collect();
        match self.db {
            Db::Postgres => {
                let list: Vec<String> = cols.iter().map(|c| format!("{c}::text")).collect();
                pg_strings(&format!(
                    "SELECT concat_ws('|', {}) FROM {}.{table} ORDER BY 1",
                    list.join(", "),
                    self.name
                ))
            }
            Db::Mariadb => mysql_strings(&format!(
                "SELECT CONCAT_WS('|', {columns}) FROM {}.{table} ORDER BY 1",
                self.name
            )),
            Db::Sqlite => {
                let list: Vec<String> = cols.iter().map(|c| format!("ifnull({c}, '')")).collect();
                let file = self.ws.path().join("app.db");
                if !file.exists() {
                    // Seeded on first use by dsr: read the seed's rows the same way.
                    let r = run(self.ws.dsr().args(["validate", "--connect", "pb.yaml"]));
                    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
                }
                crate::support::runtime().block_on(async {
                    use sqlx::Connection;
                    let mut conn =
                        sqlx::SqliteConnection::connect(&format!("sqlite:{}", file.display()))
                            .await
                            .unwrap();
                    let rows: Vec<String> = sqlx::query_scalar(&format!(
                        "SELECT {} FROM {table} ORDER BY 1",
                        list.join(" || '|' || ")
                    ))
                    .fetch_all(&mut conn)
                    .await
                    .unwrap();
                    rows
                })
            }
        }
    }

    pub fn dsr(&self, args: &[&str]) -> crate::support::Ran {
        let mut all = vec!["--no-progress"];
        all.extend_from_slice(args);
        all.extend(["--playbook", "pb.yaml"]);
        run(self.ws.dsr().args(&all))
    }

    /// The exported rows of one collection, as `a|b|c` text over `columns`, sorted.
    pub fn exported(&self, bundle: &str, collection: &str, columns: &str) -> Vec<String> {
        let path = self
            .ws
            .path()
            .join(bundle)
            .join("app")
            .join(format!("{collection}.json"));
        let rows: Vec<Value> = match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).unwrap(),
            Err(_) => Vec::new(),
        };
        let mut out: Vec<String> = rows
            .iter()
            .map(|r| {
                columns
                    .split(", ")
                    .map(|c| match &r[c] {
                        Value::String(s) => s.clone(),
                        Value::Null => String::new(),
                        other => other.to_string(),
                    })
                    .collect::<Vec<_>>()
                    .join("|")
            })
            .collect();
        out.sort();
        out
    }
}

pub fn shop(db: Db, name: &str) -> Fixture {
    Fixture::new(db, name, &TABLES, &DATA, COLLECTIONS)
}

pub fn all_rows(f: &Fixture) -> Vec<String> {
    COLUMNS
        .iter()
        .flat_map(|(t, c)| f.rows(t, c).into_iter().map(move |r| format!("{t}:{r}")))
        .collect()
}

/// Alice's rows and nobody else's, once each, whichever way her email is typed.
fn exports_exactly_the_person(db: Db, name: &str) {
    let f = shop(db, name);
    for (i, typed) in ["alice@example.com", "ALICE@Example.COM"]
        .iter()
        .enumerate()
    {
        let out = format!("b{i}");
        let r = f.dsr(&["--json", "export", typed, "--out", &out]);
        assert_eq!(r.code, 0, "{db:?} {typed}: {}{}", r.stdout, r.stderr);
        assert_eq!(
            f.exported(&out, "users", "id, email"),
            ["1|Alice@Example.com"],
            "{db:?} {typed}"
        );
        assert_eq!(
            f.exported(&out, "orders", "region, num"),
            ["eu|1", "us|2"],
            "{db:?}"
        );
        assert_eq!(
            f.exported(&out, "order_lines", "region, num, sku"),
            ["eu|1|A1", "us|2|A2"],
            "{db:?}: only the lines of her own orders (region and num together)"
        );
        assert_eq!(
            f.exported(&out, "addresses", "id"),
            ["100", "101"],
            "{db:?}: address 100 is reached through users and orders, and exported once"
        );
        let summary: Value = serde_json::from_str(&r.stdout).unwrap();
        let records = |c: &str| {
            summary["steps"]
                .as_array()
                .unwrap()
                .iter()
                .find(|s| s["collection"] == c)
                .map(|s| s["records"].clone())
        };
        assert_eq!(records("order_lines"), Some(2.into()), "{db:?}");
        assert_eq!(records("addresses"), Some(2.into()), "{db:?}");
    }
    // The Unicode form of an identity does not matter either (NFD typed, NFC stored).
    let r = f.dsr(&["export", "zoe\u{0308}@example.org", "--out", "z"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert_eq!(f.exported("z", "users", "id"), ["3"], "{db:?}");
    assert_eq!(f.exported("z", "order_lines", "sku"), ["Z1"], "{db:?}");
}

/// Erasing Alice deletes her rows and leaves every other row byte-identical.
fn erases_exactly_the_person(db: Db, name: &str) {
    let f = shop(db, name);
    let before = all_rows(&f);
    let alice = |r: &String| {
        [
            "users:1|",
            "orders:eu|1|",
            "orders:us|2|",
            "order_lines:eu|1|",
            "order_lines:us|2|",
            "addresses:100|",
            "addresses:101|",
        ]
        .iter()
        .any(|p| r.starts_with(p))
    };
    let r = f.dsr(&["erase", "ALICE@example.com", "--yes"]);
    assert_eq!(r.code, 0, "{db:?}: {}{}", r.stdout, r.stderr);
    let after = all_rows(&f);
    let expected: Vec<String> = before.iter().filter(|r| !alice(r)).cloned().collect();
    assert_eq!(after, expected, "{db:?}: other people's rows changed");
    assert_eq!(
        before.len() - after.len(),
        7,
        "{db:?}: all of Alice's rows go"
    );
}

#[test]
fn composite_keys_match_row_by_row_on_postgres() {
    exports_exactly_the_person(Db::Postgres, "dsr_it_graph_export");
    erases_exactly_the_person(Db::Postgres, "dsr_it_graph_erase");
}

#[test]
fn composite_keys_match_row_by_row_on_mariadb() {
    exports_exactly_the_person(Db::Mariadb, "dsr_it_graph_export");
    erases_exactly_the_person(Db::Mariadb, "dsr_it_graph_erase");
}

#[test]
fn composite_keys_match_row_by_row_on_sqlite() {
    exports_exactly_the_person(Db::Sqlite, "unused");
    erases_exactly_the_person(Db::Sqlite, "unused");
}

#[test]
fn the_plan_shows_tuple_any_and_case_conditions() {
    let f = shop(Db::Sqlite, "unused");
    let r = f.dsr(&["plan", "export", "alice@example.com"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    for wanted in [
        "email = identity.email (any case)",
        "(num, region) = (num, region) of one app.orders row",
        "id = any of app.orders.ship, app.users.addr",
    ] {
        assert!(r.stdout.contains(wanted), "{wanted} in\n{}", r.stdout);
    }
}

#[test]
fn match_case_exact_compares_byte_for_byte() {
    let exact = COLLECTIONS.replacen(
        "match: { email: identity.email }",
        "match: { email: identity.email }\n        match_case: exact",
        1,
    );
    let f = Fixture::new(Db::Sqlite, "unused", &TABLES, &DATA, &exact);
    let r = f.dsr(&["export", "alice@example.com", "--out", "b"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    // Stored as Alice@Example.com: an exact comparison with the normalised email misses it.
    assert!(f.exported("b", "users", "id").is_empty());
    let r = f.dsr(&["plan", "export", "alice@example.com"]);
    assert!(
        r.stdout.contains("email = identity.email") && !r.stdout.contains("(any case)"),
        "{}",
        r.stdout
    );
}

#[test]
fn a_match_that_cannot_be_expressed_safely_is_refused_with_its_line() {
    let ws = Workspace::new();
    let pb = format!(
        "{HEADER}  app:\n    connector: sqlite\n    path: app.db\n    purpose: p\n    legal_basis: contract\n    retention: r\n    collections:\n\
         \x20     orders:\n        match: {{ email: identity.email }}\n        provides: {{ a: a, b: b }}\n\
         \x20     lines:\n        match:\n          x: [orders.a, orders.b]\n          y: orders.a\n"
    );
    ws.write("pb.yaml", &pb);
    let r = run(ws.dsr().args(["validate", "pb.yaml"]));
    assert_eq!(r.code, 2, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stderr.contains("pb.yaml:16:9:")
            && r.stderr
                .contains("reference app.orders in a way that is neither one key"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("hint:"), "{}", r.stderr);
}

#[test]
fn redis_cannot_match_columns_together_and_says_so() {
    let ws = Workspace::new();
    let pb = format!(
        "{HEADER}  app:\n    connector: sqlite\n    path: app.db\n    purpose: p\n    legal_basis: contract\n    retention: r\n    collections:\n\
         \x20     orders:\n        match: {{ email: identity.email }}\n        provides: {{ a: a, b: b }}\n\
         \x20 cache:\n    connector: redis\n    url: redis://127.0.0.1:6379\n    purpose: p\n    legal_basis: contract\n    retention: r\n    collections:\n\
         \x20     carts:\n        keys: [\"cart:{{a}}:{{b}}\"]\n        match: {{ a: app.orders.a, b: app.orders.b }}\n        erase: delete\n"
    );
    ws.write("pb.yaml", &pb);
    let r = run(ws.dsr().args(["validate", "pb.yaml"]));
    assert_eq!(r.code, 2, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stderr.contains(
            "a, b match together on one row of app.orders, which a redis system cannot do"
        ),
        "{}",
        r.stderr
    );
}

#[test]
fn columns_that_take_the_same_value_match_each_on_its_own() {
    // A buyer or a seller: both columns take the person's user id, and either may hold it.
    let tables = [
        "CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT)",
        "CREATE TABLE trades (id INTEGER PRIMARY KEY, buyer_id INTEGER, seller_id INTEGER)",
    ];
    let data = [
        "INSERT INTO users VALUES (1, 'alice@example.com'), (2, 'bob@example.com'), (3, 'carol@example.com')",
        "INSERT INTO trades VALUES (10, 1, 2), (11, 2, 1), (12, 2, 3), (13, 1, 1)",
    ];
    let collections = "      users:\n        match: { email: identity.email }\n        provides: { uid: id }\n        erase: delete\n\
\x20     trades:\n        match: { buyer_id: users.uid, seller_id: users.uid }\n        erase: delete\n";
    let f = Fixture::new(Db::Sqlite, "unused", &tables, &data, collections);
    let r = f.dsr(&["plan", "export", "alice@example.com"]);
    assert!(
        r.stdout.contains("buyer_id = app.users.uid")
            && r.stdout.contains("seller_id = app.users.uid"),
        "{}",
        r.stdout
    );
    let r = f.dsr(&["export", "alice@example.com", "--out", "b"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(f.exported("b", "trades", "id"), ["10", "11", "13"]);
    let r = f.dsr(&["erase", "alice@example.com", "--yes"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert_eq!(f.rows("trades", "id, buyer_id, seller_id"), ["12|2|3"]);
}
