//! `dsr discover` against a small shop in real PostgreSQL, MariaDB and SQLite: every column
//! with personal data and every foreign-key path is found, the neutral tables are not, the
//! draft validates and exports the right rows, and `--diff` catches a migration.

use crate::support::{Workspace, mysql_exec, pg_exec, read_json, run};
use serde_json::Value;
use std::collections::BTreeSet;

/// The shop, with `{p}` for the schema prefix.
const SHOP: &[&str] = &[
    "CREATE TABLE {p}products (id INT PRIMARY KEY, sku VARCHAR(20) NOT NULL, name VARCHAR(100) NOT NULL, description VARCHAR(200), price DECIMAL(10,2))",
    "CREATE TABLE {p}exchange_rates (currency VARCHAR(3) PRIMARY KEY, rate DECIMAL(10,4), state VARCHAR(10))",
    "CREATE TABLE {p}users (id INT PRIMARY KEY, email VARCHAR(200) NOT NULL UNIQUE, full_name VARCHAR(200) NOT NULL, phone VARCHAR(40), birth_date DATE)",
    "CREATE TABLE {p}addresses (id INT PRIMARY KEY, user_id INT NOT NULL, street VARCHAR(200), city VARCHAR(100), postcode VARCHAR(20), country VARCHAR(2), FOREIGN KEY (user_id) REFERENCES {p}users(id))",
    "CREATE TABLE {p}orders (id INT PRIMARY KEY, user_id INT NOT NULL, placed_on DATE, total DECIMAL(10,2), shipping_address VARCHAR(300), FOREIGN KEY (user_id) REFERENCES {p}users(id))",
    "CREATE TABLE {p}order_items (id INT PRIMARY KEY, order_id INT NOT NULL, product_id INT NOT NULL, quantity INT, FOREIGN KEY (order_id) REFERENCES {p}orders(id), FOREIGN KEY (product_id) REFERENCES {p}products(id))",
    "CREATE TABLE {p}support_tickets (id INT PRIMARY KEY, user_id INT NULL, requester VARCHAR(200), subject VARCHAR(200), body TEXT, FOREIGN KEY (user_id) REFERENCES {p}users(id))",
    "CREATE TABLE {p}audit_events (id INT PRIMARY KEY, user_id INT NOT NULL, action VARCHAR(50), origin VARCHAR(45), FOREIGN KEY (user_id) REFERENCES {p}users(id))",
    "INSERT INTO {p}users VALUES (1, 'alice@example.com', 'Alice Andersen', '+44 20 7946 0018', '1988-04-12'), (2, 'bob@example.com', 'Bob Brown', NULL, NULL)",
    "INSERT INTO {p}addresses VALUES (10, 1, '12 Acacia Avenue', 'London', 'N1 7AA', 'GB'), (11, 2, '5 Rue de la Paix', 'Paris', '75002', 'FR')",
    "INSERT INTO {p}products VALUES (100, 'TEA-001', 'Earl Grey', 'Black tea', 4.50), (101, 'TEA-002', 'Sencha', 'Green tea', 5.00)",
    "INSERT INTO {p}exchange_rates VALUES ('EUR', 1.1700, 'live')",
    "INSERT INTO {p}orders VALUES (1000, 1, '2025-12-01', 59.90, '12 Acacia Avenue, London'), (1001, 1, '2026-01-02', 9.00, '12 Acacia Avenue, London'), (1002, 2, '2026-02-03', 5.00, '5 Rue de la Paix, Paris')",
    "INSERT INTO {p}order_items VALUES (1, 1000, 100, 2), (2, 1000, 101, 1), (3, 1001, 100, 1), (4, 1002, 101, 1)",
    "INSERT INTO {p}support_tickets VALUES (1, 1, 'alice@example.com', 'Late parcel', 'Where is my order?'), (2, NULL, 'alice@example.com', 'Guest question', 'Do you ship to Norway?'), (3, 2, 'bob@example.com', 'Refund', 'Please refund')",
    "INSERT INTO {p}audit_events VALUES (1, 1, 'login', '192.0.2.10'), (2, 1, 'logout', '192.0.2.10'), (3, 2, 'login', '2001:db8::7')",
];

/// Every (table, column, category) with personal data in the shop, and nothing else.
const PERSONAL: &[(&str, &str, &str)] = &[
    ("addresses", "city", "contact.address"),
    ("addresses", "country", "contact.address"),
    ("addresses", "postcode", "contact.address"),
    ("addresses", "street", "contact.address"),
    ("audit_events", "origin", "network.ip_address"),
    ("orders", "shipping_address", "contact.address"),
    ("support_tickets", "body", "content.free_text"),
    ("support_tickets", "requester", "contact.email"),
    ("support_tickets", "subject", "content.free_text"),
    ("users", "birth_date", "demographic.birth_date"),
    ("users", "email", "contact.email"),
    ("users", "full_name", "name"),
    ("users", "phone", "contact.phone"),
];

/// Values from the shop that must never show up in anything dsr prints or writes.
const SAMPLED: &[&str] = &[
    "alice@example.com",
    "bob@example.com",
    "192.0.2.10",
    "7946 0018",
    "Acacia",
];

/// Runs SQL statements against the database under test.
type Exec = Box<dyn Fn(&[&str])>;

/// One database under test.
struct Db {
    /// Runs statements, with `{p}` replaced by the schema prefix.
    exec: Exec,
    prefix: String,
    /// `discover` arguments naming the database, URL first.
    args: Vec<String>,
    /// The variable the URL is read from (set in the workspace's environment).
    var: &'static str,
    url: String,
}

impl Db {
    fn run(&self, statements: &[&str]) {
        let owned: Vec<String> = statements
            .iter()
            .map(|s| s.replace("{p}", &self.prefix))
            .collect();
        let refs: Vec<&str> = owned.iter().map(String::as_str).collect();
        (self.exec)(&refs);
    }
}

fn personal_fields(pb: &dsr::playbook::model::Playbook) -> BTreeSet<(String, String, String)> {
    let mut out = BTreeSet::new();
    for sys in pb.systems.values() {
        for (name, coll) in &sys.collections {
            let table = match coll.settings.get("table") {
                Some(dsr::playbook::settings::Raw::Text(t)) => t.clone(),
                _ => name.clone(),
            };
            for (col, f) in &coll.fields {
                if !["identifier.internal", "record.detail"].contains(&f.category.as_str()) {
                    out.insert((table.clone(), col.clone(), f.category.clone()));
                }
            }
        }
    }
    out
}

fn step_records(stdout: &str, collection: &str) -> u64 {
    let v: Value = serde_json::from_str(stdout).unwrap_or_else(|e| panic!("{e}: {stdout}"));
    v["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["collection"] == collection)
        .unwrap_or_else(|| panic!("{collection}: {stdout}"))["records"]
        .as_u64()
        .unwrap()
}

fn shop_round_trip(db: &Db) {
    db.run(SHOP);
    let ws = Workspace::new();
    let dsr = || {
        let mut c = ws.dsr();
        c.env(db.var, &db.url);
        c
    };

    // A literal URL: the draft reads it from a variable named after the database instead.
    let r = run(dsr()
        .arg("discover")
        .args(&db.args)
        .args(["--out", "literal.yaml"]));
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let literal = std::fs::read_to_string(ws.path().join("literal.yaml")).unwrap();
    assert!(!literal.contains(&db.url), "the url leaked into the draft");
    let var_line = literal
        .lines()
        .find(|l| l.trim_start().starts_with("url:"))
        .unwrap();
    assert!(
        var_line.trim().starts_with("url: ${env:") && var_line.ends_with("_URL}"),
        "{var_line}"
    );
    let var = var_line
        .trim()
        .trim_start_matches("url: ${env:")
        .trim_end_matches('}');
    assert!(
        r.stderr.contains(&format!("set {var} to the database url")),
        "{}",
        r.stderr
    );

    // `${env:VAR}`: the draft keeps that variable.
    let mut args = db.args.clone();
    args[0] = format!("${{env:{}}}", db.var);
    let r = run(dsr()
        .arg("discover")
        .args(&args)
        .args(["--out", "draft.yaml"]));
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let draft = std::fs::read_to_string(ws.path().join("draft.yaml")).unwrap();
    for text in [&draft, &literal, &r.stdout, &r.stderr] {
        for v in SAMPLED {
            assert!(
                !text.contains(v),
                "a sampled value ({v}) was printed or written:\n{text}"
            );
        }
    }
    assert!(
        draft.contains(&format!("url: ${{env:{}}}", db.var)),
        "{draft}"
    );

    // --json without --out: the summary with the draft in it, and still no sampled values.
    let r = run(dsr().args(["--json", "discover"]).args(&args));
    assert_eq!(r.code, 0, "{}", r.stderr);
    for v in SAMPLED {
        assert!(!r.stdout.contains(v), "{v} in --json output");
    }
    let j: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(j["url_variable"], db.var);
    assert_eq!(j["draft"].as_str(), Some(draft.as_str()));
    let tables = j["tables"].as_array().unwrap();
    assert_eq!(tables.len(), 8);
    let requester = &tables
        .iter()
        .find(|t| t["table"] == "support_tickets")
        .unwrap()["findings"]["requester"];
    assert_eq!(requester["category"], "contact.email");
    assert_eq!(requester["by"], "values");
    assert_eq!(requester["kind"], "email");

    // An existing file is never overwritten.
    let r = run(dsr()
        .arg("discover")
        .args(&args)
        .args(["--out", "draft.yaml"]));
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("draft.yaml already exists"),
        "{}",
        r.stderr
    );
    assert_eq!(
        std::fs::read_to_string(ws.path().join("draft.yaml")).unwrap(),
        draft
    );

    let loaded = dsr::playbook::load::parse(std::path::Path::new("draft.yaml"), &draft)
        .unwrap_or_else(|e| panic!("{e}\n{draft}"));
    let pb = &loaded.playbook;
    let want: BTreeSet<(String, String, String)> = PERSONAL
        .iter()
        .map(|(t, c, k)| (t.to_string(), c.to_string(), k.to_string()))
        .collect();
    assert_eq!(personal_fields(pb), want, "{draft}");
    let sys = pb.systems.values().next().unwrap();
    let names: Vec<&str> = sys.collections.keys().map(String::as_str).collect();
    assert_eq!(
        names,
        [
            "addresses",
            "audit_events",
            "order_items",
            "orders",
            "support_tickets",
            "users"
        ]
    );
    let m = |coll: &str| -> Vec<(String, String)> {
        sys.collections[coll]
            .match_on
            .iter()
            .flat_map(|(a, b)| b.iter().map(move |r| (a.clone(), r.clone())))
            .collect()
    };
    let pair = |a: &str, b: &str| (a.to_string(), b.to_string());
    assert_eq!(m("users"), [pair("email", "identity.email")]);
    assert_eq!(m("addresses"), [pair("user_id", "users.user_id")]);
    assert_eq!(m("orders"), [pair("user_id", "users.user_id")]);
    assert_eq!(
        m("order_items"),
        [pair("order_id", "orders.order_id")],
        "product_id is not followed"
    );
    assert_eq!(m("audit_events"), [pair("user_id", "users.user_id")]);
    assert_eq!(
        m("support_tickets"),
        [
            pair("requester", "identity.email"),
            pair("user_id", "users.user_id")
        ]
    );
    assert!(
        draft.contains(
            "# Tables with no personal data found (not collections): exchange_rates, products\n"
        ),
        "{draft}"
    );
    assert!(draft.contains("    legal_basis: contract  # TODO: confirm"));

    let r = run(dsr().args(["validate", "draft.yaml"]));
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert!(
        r.stderr.contains("still says TODO"),
        "validate warns about TODOs: {}",
        r.stderr
    );
    let r = run(dsr().args([
        "export",
        "alice@example.com",
        "--playbook",
        "draft.yaml",
        "--out",
        "todo",
        "-q",
    ]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        !r.stderr.contains("TODO"),
        "-q silences warnings: {}",
        r.stderr
    );
    let r = run(dsr().args([
        "export",
        "bob@example.com",
        "--playbook",
        "draft.yaml",
        "--out",
        "todo2",
    ]));
    assert!(
        r.stderr
            .contains("purpose still says TODO; the bundle will show it"),
        "export warns about TODOs: {}",
        r.stderr
    );

    // Decide what only a person can, then export one person.
    let decided = draft
        .replace("\"TODO: your organisation\"", "Acme Tea Ltd")
        .replace("\"TODO: why is this kept?\"", "To deliver orders.")
        .replace("\"TODO: how long is this kept?\"", "Six years.");
    ws.write("pb.yaml", &decided);
    let r = run(dsr().args(["validate", "pb.yaml"]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        !r.stderr.contains("purpose still says TODO"),
        "{}",
        r.stderr
    );
    let r = run(dsr().args([
        "--json",
        "export",
        "alice@example.com",
        "--playbook",
        "pb.yaml",
        "--out",
        "b",
    ]));
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    for (coll, n) in [
        ("users", 1),
        ("addresses", 1),
        ("orders", 2),
        ("order_items", 3),
        ("support_tickets", 2),
        ("audit_events", 2),
    ] {
        assert_eq!(step_records(&r.stdout, coll), n, "{coll}");
    }
    let tickets = read_json(
        &ws.path()
            .join("b")
            .join(pb.systems.keys().next().unwrap())
            .join("support_tickets.json"),
    );
    let ids: Vec<i64> = tickets
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids.len(), 2);
    assert!(ids.contains(&1) && ids.contains(&2), "{ids:?}");

    // Nightly CI: covered now.
    let diff = || run(dsr().args(["discover", "--diff", "pb.yaml"]).args(&args));
    let r = diff();
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("Covered"), "{}", r.stdout);

    // A migration adds a phone column and a sign-up table, and drops a column the playbook names.
    db.run(&[
        "ALTER TABLE {p}users ADD COLUMN mobile VARCHAR(40)",
        "CREATE TABLE {p}newsletter_signups (id INT PRIMARY KEY, email VARCHAR(200))",
        "ALTER TABLE {p}audit_events DROP COLUMN action",
        "ALTER TABLE {p}orders ADD COLUMN loyalty_points INT",
    ]);
    let r = run(dsr()
        .args(["--json", "discover", "--diff", "pb.yaml"])
        .args(&args));
    assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
    let report: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(report["covered"], false);
    assert_eq!(
        report["not_exported"],
        serde_json::json!(["orders.loyalty_points"])
    );
    let gaps: Vec<(String, String, String)> = report["gaps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| {
            (
                g["kind"].as_str().unwrap().to_string(),
                g["table"].as_str().unwrap().to_string(),
                g["column"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    assert_eq!(
        gaps,
        [
            (
                "missing_column".into(),
                "audit_events".into(),
                "action".into()
            ),
            (
                "uncovered_table".into(),
                "newsletter_signups".into(),
                String::new()
            ),
            ("uncovered_column".into(), "users".into(), "mobile".into()),
        ]
    );
    let r = diff();
    assert_eq!(r.code, 1);
    assert!(
        r.stdout.contains("column not in fields") && r.stdout.contains("3 gap(s)"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains(
            "Not exported (no personal data found, but left out of `fields`): orders.loyalty_points"
        ),
        "{}",
        r.stdout
    );

    // The playbook catches up: covered again.
    let fixed = decided
        .replace(
            "          phone: { category: contact.phone }  # by name\n",
            "          phone: { category: contact.phone }  # by name\n          mobile: { category: contact.phone }\n",
        )
        .replace("          action: { category: record.detail }\n", "")
        .replace(
            "    collections:\n",
            "    collections:\n      newsletter_signups:\n        match: { email: identity.email }\n        erase: delete\n",
        );
    ws.write("pb.yaml", &fixed);
    let r = diff();
    assert_eq!(r.code, 0, "{}\n{}\n{fixed}", r.stdout, r.stderr);

    // Another system of the same kind whose variable this job does not have: the system is
    // recognised by its resolved url, and the other one's secret is not needed.
    let kind = fixed
        .lines()
        .find_map(|l| l.trim().strip_prefix("connector: "))
        .unwrap();
    let other = format!(
        "  other:\n    connector: {kind}\n    url: ${{env:DSR_TEST_UNSET_OTHER_URL}}\n    purpose: x\n    legal_basis: contract\n    retention: x\n    collections:\n      people:\n        match: {{ email: identity.email }}\n"
    );
    ws.write("two.yaml", &format!("{fixed}{other}"));
    let r = run(dsr().args(["discover", "--diff", "two.yaml"]).args(&args));
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let r = run(dsr()
        .args(["discover", "--diff", "two.yaml", "--system", "other"])
        .args(&args));
    assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("table no longer exists"), "{}", r.stdout);
}

#[test]
fn discover_postgres_shop() {
    pg_exec(&[
        "DROP SCHEMA IF EXISTS dsr_it_disc CASCADE",
        "CREATE SCHEMA dsr_it_disc",
    ]);
    let url = crate::support::pg_url();
    shop_round_trip(&Db {
        exec: Box::new(pg_exec),
        prefix: "dsr_it_disc.".into(),
        args: vec![url.clone(), "--schema".into(), "dsr_it_disc".into()],
        var: "DSR_TEST_PG_URL",
        url,
    });
    pg_exec(&["DROP SCHEMA dsr_it_disc CASCADE"]);
}

#[test]
fn discover_mariadb_shop() {
    mysql_exec(&[
        "DROP DATABASE IF EXISTS dsr_it_disc",
        "CREATE DATABASE dsr_it_disc CHARACTER SET utf8mb4",
    ]);
    // MariaDB users write mariadb://; both spellings work.
    let url = crate::support::mysql_url().replacen("mysql://", "mariadb://", 1);
    shop_round_trip(&Db {
        exec: Box::new(mysql_exec),
        prefix: "dsr_it_disc.".into(),
        args: vec![url.clone(), "--schema".into(), "dsr_it_disc".into()],
        var: "DSR_TEST_MYSQL_URL",
        url,
    });
    mysql_exec(&["DROP DATABASE dsr_it_disc"]);
}

#[test]
fn discover_sqlite_shop() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("shop.db");
    let url = format!("sqlite:{}", file.display());
    let create = url.clone();
    crate::support::runtime().block_on(async {
        use sqlx::Connection;
        let opts: sqlx::sqlite::SqliteConnectOptions = create.parse().unwrap();
        let conn = sqlx::SqliteConnection::connect_with(&opts.create_if_missing(true))
            .await
            .unwrap();
        drop(conn);
    });
    let exec_url = url.clone();
    shop_round_trip(&Db {
        exec: Box::new(move |statements| {
            let url = exec_url.clone();
            crate::support::runtime().block_on(async move {
                use sqlx::Connection;
                let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
                for s in statements {
                    sqlx::raw_sql(s)
                        .execute(&mut conn)
                        .await
                        .unwrap_or_else(|e| panic!("{s}: {e}"));
                }
            });
        }),
        prefix: String::new(),
        args: vec![url.clone()],
        var: "DSR_TEST_SQLITE_URL",
        url,
    });
}

#[test]
fn discover_refuses_unknown_urls_and_existing_files_without_echoing_the_url() {
    let ws = Workspace::new();
    let r = run(ws.dsr().args(["discover", "oracle://scott:tiger@db/x"]));
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("cannot tell the database kind"),
        "{}",
        r.stderr
    );
    assert!(!r.stderr.contains("tiger"), "{}", r.stderr);
    let r = run(ws
        .dsr()
        .args(["discover", "postgres://u:pw-secret@127.0.0.1:1/x"]));
    assert_eq!(r.code, 2);
    assert!(!r.stderr.contains("pw-secret"), "{}", r.stderr);
    assert!(r.stderr.contains("hint:"), "{}", r.stderr);
}

/// `url` with its user replaced (the test servers trust local connections).
fn as_user(url: &str, user: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap();
    let host = rest.rsplit_once('@').map_or(rest, |(_, h)| h);
    format!("{scheme}://{user}@{host}")
}

#[test]
fn a_table_the_user_may_not_read_is_classified_without_samples() {
    pg_exec(&[
        "DROP SCHEMA IF EXISTS dsr_it_disc_priv CASCADE",
        "DROP ROLE IF EXISTS dsr_it_disc_reader",
        "CREATE ROLE dsr_it_disc_reader LOGIN",
        "CREATE SCHEMA dsr_it_disc_priv",
        "CREATE TABLE dsr_it_disc_priv.users (id INT PRIMARY KEY, email TEXT, contact TEXT)",
        "INSERT INTO dsr_it_disc_priv.users VALUES (1, 'alice@example.com', 'alice@example.com')",
        "CREATE TABLE dsr_it_disc_priv.notes (id INT PRIMARY KEY, user_id INT REFERENCES dsr_it_disc_priv.users(id), contact TEXT)",
        "INSERT INTO dsr_it_disc_priv.notes VALUES (1, 1, 'alice@example.com')",
        "GRANT USAGE ON SCHEMA dsr_it_disc_priv TO dsr_it_disc_reader",
        "GRANT SELECT ON dsr_it_disc_priv.users TO dsr_it_disc_reader",
    ]);
    let ws = Workspace::new();
    let url = as_user(&crate::support::pg_url(), "dsr_it_disc_reader");
    let r = run(ws
        .dsr()
        .args(["discover", &url, "--schema", "dsr_it_disc_priv"]));
    pg_exec(&[
        "DROP SCHEMA dsr_it_disc_priv CASCADE",
        "DROP ROLE dsr_it_disc_reader",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stderr.contains(
            "warning: not sampled, classified by name and type only: notes: permission denied"
        ),
        "{}",
        r.stderr
    );
    assert!(
        r.stdout
            .contains("# Not sampled, classified by name and type only: notes: permission denied"),
        "{}",
        r.stdout
    );
    let users = r.stdout.split("      users:").nth(1).unwrap();
    assert!(
        users.contains("contact: { category: contact.email }  # by sampled values: email"),
        "{}",
        r.stdout
    );
    let notes = r.stdout.split("      notes:").nth(1).unwrap();
    assert!(
        notes.contains("contact: { category: record.detail }\n"),
        "{}",
        r.stdout
    );
    assert!(!r.stdout.contains("alice@example.com") && !r.stderr.contains("alice@example.com"));
}

/// A shop whose order lines reach a person only through a two-column key, with `{p}` for the
/// schema prefix. The key columns are declared in a different order from the table's columns,
/// so a reader that pairs them by name or position in the table would get them wrong.
const COMPOSITE: &[&str] = &[
    "CREATE TABLE {p}users (id INT PRIMARY KEY, email VARCHAR(200) NOT NULL)",
    "CREATE TABLE {p}orders (region VARCHAR(10) NOT NULL, num INT NOT NULL, user_id INT NOT NULL, PRIMARY KEY (region, num), FOREIGN KEY (user_id) REFERENCES {p}users(id))",
    "CREATE TABLE {p}order_lines (line_no INT NOT NULL, num INT NOT NULL, region VARCHAR(10) NOT NULL, qty INT, PRIMARY KEY (region, num, line_no), FOREIGN KEY (region, num) REFERENCES {p}orders(region, num))",
    "INSERT INTO {p}users VALUES (1, 'alice@example.com'), (2, 'bob@example.com')",
    "INSERT INTO {p}orders VALUES ('eu', 1, 1), ('us', 1, 2)",
    "INSERT INTO {p}order_lines VALUES (1, 1, 'eu', 2), (2, 1, 'eu', 1), (1, 1, 'us', 5)",
];

/// The lines of a collection in a draft, from its name to the next collection (or the end of
/// the system).
fn collection_text<'a>(draft: &'a str, name: &str) -> &'a str {
    let head = format!("\n      {name}:\n");
    let start = draft
        .find(&head)
        .unwrap_or_else(|| panic!("no collection {name}:\n{draft}"))
        + 1;
    let mut end = start;
    for (n, line) in draft[start..].split_inclusive('\n').enumerate() {
        let indent = line.len() - line.trim_start().len();
        if n > 0 && indent <= 6 {
            break;
        }
        end += line.len();
    }
    &draft[start..end]
}

fn gaps_of(stdout: &str) -> Vec<(String, String, String)> {
    let report: Value = serde_json::from_str(stdout).unwrap_or_else(|e| panic!("{e}: {stdout}"));
    report["gaps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| {
            (
                g["kind"].as_str().unwrap().to_string(),
                g["table"].as_str().unwrap().to_string(),
                g["collection"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect()
}

fn composite_round_trip(db: &Db) {
    db.run(COMPOSITE);
    let ws = Workspace::new();
    let dsr = || {
        let mut c = ws.dsr();
        c.env(db.var, &db.url);
        c
    };
    let mut args = db.args.clone();
    args[0] = format!("${{env:{}}}", db.var);
    let r = run(dsr()
        .args(["discover", "--sample", "0"])
        .args(&args)
        .args(["--out", "draft.yaml"]));
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert!(r.stderr.contains("order_lines"), "{}", r.stderr);
    let draft = std::fs::read_to_string(ws.path().join("draft.yaml")).unwrap();

    // Both key columns, each to the name `orders` provides for the column it references,
    // so they match together, row by row.
    let lines = collection_text(&draft, "order_lines");
    assert!(
        lines.contains("        match: { num: orders.order_num, region: orders.order_region }\n"),
        "{draft}"
    );
    let orders = collection_text(&draft, "orders");
    assert!(
        orders.contains("        match: { user_id: users.user_id }\n"),
        "{draft}"
    );
    assert!(
        orders.contains("        provides: { order_num: num, order_region: region }\n"),
        "{draft}"
    );
    assert!(
        lines.contains("          region: { category: identifier.internal }\n"),
        "a key column, not an address part: {draft}"
    );
    let r = run(dsr().args(["validate", "draft.yaml"]));
    assert_eq!(r.code, 0, "{}\n{}\n{draft}", r.stdout, r.stderr);

    let diff = |file: &str| {
        run(dsr()
            .args(["--json", "discover", "--diff", file])
            .args(&args))
    };
    let r = diff("draft.yaml");
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);

    // The playbook's `schema:` says where its tables are: without --schema, --diff reads
    // that schema (database), not the connection's default.
    if let [url, _, schema] = args.as_slice() {
        assert!(
            draft.contains(&format!("    schema: {schema}\n")),
            "{draft}"
        );
        let r = run(dsr()
            .args(["--json", "discover", "--diff", "draft.yaml"])
            .arg(url));
        assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
        let report: Value = serde_json::from_str(&r.stdout).unwrap();
        assert_eq!(report["schema"], schema.as_str(), "{}", r.stdout);
        assert_eq!(report["covered"], true, "{}", r.stdout);
    }

    // Without order_lines: the table is reported, although no column of it is personal data.
    let without = draft.replace(lines, "");
    assert!(!without.contains("order_lines:"), "{without}");
    ws.write("without.yaml", &without);
    let r = diff("without.yaml");
    assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
    assert_eq!(
        gaps_of(&r.stdout),
        [(
            "uncovered_table".to_string(),
            "order_lines".to_string(),
            String::new()
        )]
    );
    let r = run(dsr()
        .args(["discover", "--diff", "without.yaml"])
        .args(&args));
    assert_eq!(r.code, 1);
    assert!(!r.stdout.contains("Covered"), "{}", r.stdout);

    // Matching on `num` alone would read other regions' lines: reported, not covered.
    let partial = draft.replace(
        "        match: { num: orders.order_num, region: orders.order_region }\n",
        "        match: { num: orders.order_num }\n",
    );
    assert_ne!(partial, draft);
    ws.write("partial.yaml", &partial);
    let r = diff("partial.yaml");
    assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
    assert_eq!(
        gaps_of(&r.stdout),
        [(
            "partial_key".to_string(),
            "order_lines".to_string(),
            "order_lines".to_string()
        )]
    );
    let report: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(
        report["gaps"][0]["foreign_key"],
        serde_json::json!({ "columns": ["region", "num"], "ref_table": "orders" })
    );
    let r = run(dsr()
        .args(["discover", "--diff", "partial.yaml"])
        .args(&args));
    assert_eq!(r.code, 1);
    assert!(
        !r.stdout.contains("Covered") && r.stdout.contains("(region, num) → orders"),
        "{}",
        r.stdout
    );

    // Both columns, but crossed over (region gets the order number): not the key either.
    let crossed = draft.replace(
        "        match: { num: orders.order_num, region: orders.order_region }\n",
        "        match: { num: orders.order_region, region: orders.order_num }\n",
    );
    ws.write("crossed.yaml", &crossed);
    let r = diff("crossed.yaml");
    assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
    assert_eq!(gaps_of(&r.stdout)[0].0, "partial_key", "{}", r.stdout);
}

#[test]
fn discover_postgres_composite_foreign_keys() {
    pg_exec(&[
        "DROP SCHEMA IF EXISTS dsr_it_disc_ck CASCADE",
        "CREATE SCHEMA dsr_it_disc_ck",
    ]);
    let url = crate::support::pg_url();
    composite_round_trip(&Db {
        exec: Box::new(pg_exec),
        prefix: "dsr_it_disc_ck.".into(),
        args: vec![url.clone(), "--schema".into(), "dsr_it_disc_ck".into()],
        var: "DSR_TEST_PG_URL",
        url,
    });
    pg_exec(&["DROP SCHEMA dsr_it_disc_ck CASCADE"]);
}

#[test]
fn discover_mariadb_composite_foreign_keys() {
    mysql_exec(&[
        "DROP DATABASE IF EXISTS dsr_it_disc_ck",
        "CREATE DATABASE dsr_it_disc_ck CHARACTER SET utf8mb4",
    ]);
    let url = crate::support::mysql_url();
    composite_round_trip(&Db {
        exec: Box::new(mysql_exec),
        prefix: "dsr_it_disc_ck.".into(),
        args: vec![url.clone(), "--schema".into(), "dsr_it_disc_ck".into()],
        var: "DSR_TEST_MYSQL_URL",
        url,
    });
    mysql_exec(&["DROP DATABASE dsr_it_disc_ck"]);
}

#[test]
fn discover_sqlite_composite_foreign_keys() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite:{}", dir.path().join("ck.db").display());
    let exec_url = url.clone();
    composite_round_trip(&Db {
        exec: Box::new(move |statements| {
            let url = exec_url.clone();
            crate::support::runtime().block_on(async move {
                use sqlx::Connection;
                let opts: sqlx::sqlite::SqliteConnectOptions = url.parse().unwrap();
                let mut conn = sqlx::SqliteConnection::connect_with(&opts.create_if_missing(true))
                    .await
                    .unwrap();
                for s in statements {
                    sqlx::raw_sql(s)
                        .execute(&mut conn)
                        .await
                        .unwrap_or_else(|e| panic!("{s}: {e}"));
                }
            });
        }),
        prefix: String::new(),
        args: vec![url.clone()],
        var: "DSR_TEST_SQLITE_URL",
        url,
    });
}
