//! Real PostgreSQL and MariaDB: identity hops across databases, faithful types, quoting,
//! batching, a system that is down, and concurrency observed through step timings.

use crate::support::{
    HEADER, Workspace, assert_manifest_matches, mysql_exec, pg_exec, read_json, run, system,
};
use serde_json::{Value, json};

fn steps(stdout: &str) -> Vec<Value> {
    let v: Value = serde_json::from_str(stdout).unwrap_or_else(|e| panic!("{e}: {stdout}"));
    v["steps"].as_array().unwrap().clone()
}

fn find<'a>(steps: &'a [Value], system: &str, collection: &str) -> &'a Value {
    steps
        .iter()
        .find(|s| s["system"] == system && s["collection"] == collection)
        .unwrap_or_else(|| panic!("{system}.{collection}"))
}

#[test]
fn identity_hops_from_postgres_to_mariadb_with_faithful_types() {
    pg_exec(&[
        "DROP SCHEMA IF EXISTS dsr_it_hop CASCADE",
        "CREATE SCHEMA dsr_it_hop",
        r#"CREATE TABLE dsr_it_hop.users (id bigint PRIMARY KEY, email text NOT NULL, "Full Name" text,
            created_at timestamptz, balance numeric(30,8), prefs jsonb, avatar bytea, tags text[], note text)"#,
        r#"INSERT INTO dsr_it_hop.users VALUES
            (7, 'o''hara+dsr@example.com', 'Seán O''Hara', '2024-02-29 13:45:00+01', 1234567890123456789012.12345678,
             '{"theme": "dark", "n": [1, 2]}', '\x0102ff', ARRAY['a', 'b'], NULL),
            (8, 'other@example.com', 'Someone Else', now(), 1, '{}', NULL, NULL, 'not hers')"#,
        r#"CREATE TABLE dsr_it_hop."order" ("UserId" bigint, "select" text)"#,
        r#"INSERT INTO dsr_it_hop."order" VALUES (7, 'reserved words work'), (8, 'not hers')"#,
    ]);
    mysql_exec(&[
        "DROP DATABASE IF EXISTS dsr_it_hop",
        "CREATE DATABASE dsr_it_hop CHARACTER SET utf8mb4",
        "CREATE TABLE dsr_it_hop.`group` (id INT PRIMARY KEY, user_id BIGINT, total DECIMAL(12,2), placed_at DATETIME, \
         `select` VARCHAR(20), big BIGINT UNSIGNED, raw VARBINARY(8), ratio DOUBLE, flag TINYINT(1), doc JSON)",
        "INSERT INTO dsr_it_hop.`group` VALUES \
         (1, 7, 59.90, '2025-12-01 10:00:00', 'x', 18446744073709551615, 0x00ff10, 0.25, 1, '{\"k\": [1, 2]}'), \
         (2, 7, 0.10, NULL, NULL, 0, NULL, NULL, 0, NULL), (3, 8, 5.00, NULL, 'not hers', 1, NULL, NULL, 0, NULL)",
    ]);
    let ws = Workspace::new();
    let mut pb = HEADER.to_string();
    pb += &system(
        "app_pg",
        "postgres",
        "${env:DSR_TEST_PG_URL}",
        "    schema: dsr_it_hop\n",
        "      users:\n        match: { email: identity.email }\n        provides: { user_id: id }\n      order:\n        match: { UserId: users.user_id }\n",
    );
    pb += &system(
        "shop_my",
        "mariadb",
        "${env:DSR_TEST_MYSQL_URL}",
        "",
        "      group:\n        table: dsr_it_hop.group\n        match: { user_id: app_pg.users.user_id }\n",
    );
    ws.write("pb.yaml", &pb);
    let r = run(ws.dsr().args([
        "--json",
        "export",
        "o'hara+dsr@example.com",
        "--playbook",
        "pb.yaml",
        "--out",
        "b",
    ]));
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let s = steps(&r.stdout);
    assert_eq!(find(&s, "app_pg", "users")["records"], 1);
    assert_eq!(find(&s, "app_pg", "order")["records"], 1);
    assert_eq!(find(&s, "shop_my", "group")["records"], 2);
    let b = ws.path().join("b");
    assert_manifest_matches(&b);

    let users = read_json(&b.join("app_pg/users.json"));
    let u = &users[0];
    assert_eq!(u["Full Name"], "Seán O'Hara");
    assert_eq!(u["created_at"], "2024-02-29T12:45:00+00:00");
    assert_eq!(u["balance"].to_string(), "1234567890123456789012.12345678");
    assert_eq!(u["prefs"], json!({"theme": "dark", "n": [1, 2]}));
    assert_eq!(u["avatar"], "\\x0102ff");
    assert_eq!(u["tags"], json!(["a", "b"]));
    assert_eq!(u["note"], Value::Null);
    let keys: Vec<&String> = u.as_object().unwrap().keys().collect();
    assert_eq!(
        keys,
        [
            "id",
            "email",
            "Full Name",
            "created_at",
            "balance",
            "prefs",
            "avatar",
            "tags",
            "note"
        ],
        "column order kept"
    );
    assert_eq!(
        read_json(&b.join("app_pg/order.json"))[0]["select"],
        "reserved words work"
    );

    let orders = read_json(&b.join("shop_my/group.json"));
    let o = &orders[0];
    assert_eq!(o["total"].to_string(), "59.90");
    assert_eq!(o["placed_at"], "2025-12-01 10:00:00");
    assert_eq!(o["big"].to_string(), "18446744073709551615");
    assert_eq!(o["raw"], "\\x00ff10");
    assert_eq!(o["ratio"].to_string(), "0.25");
    assert_eq!(o["flag"], 1);
    assert_eq!(o["select"], "x");
    assert_eq!(orders[1]["total"].to_string(), "0.10");
    assert_eq!(orders[1]["placed_at"], Value::Null);
    let csv = std::fs::read_to_string(b.join("shop_my/group.csv")).unwrap();
    assert!(
        csv.starts_with("id,user_id,total,placed_at,select,big,raw,ratio,flag,doc\n"),
        "{csv}"
    );
    for file in [
        "app_pg/users.json",
        "app_pg/order.json",
        "shop_my/group.json",
    ] {
        assert!(
            !std::fs::read_to_string(b.join(file))
                .unwrap()
                .contains("not hers"),
            "{file} holds another person's row"
        );
    }
    pg_exec(&["DROP SCHEMA dsr_it_hop CASCADE"]);
    mysql_exec(&["DROP DATABASE dsr_it_hop"]);
}

#[test]
fn one_system_down_fails_alone_and_never_shows_its_secret() {
    pg_exec(&[
        "DROP SCHEMA IF EXISTS dsr_it_down CASCADE",
        "CREATE SCHEMA dsr_it_down",
        "CREATE TABLE dsr_it_down.people (id int, email text)",
        "INSERT INTO dsr_it_down.people VALUES (1, 'alice@example.com')",
    ]);
    let ws = Workspace::new();
    let mut pb = HEADER.to_string();
    pb += &system(
        "up_pg",
        "postgres",
        "${env:DSR_TEST_PG_URL}",
        "    schema: dsr_it_down\n",
        "      people:\n        match: { email: identity.email }\n",
    );
    pb += &system(
        "down_pg",
        "postgres",
        "postgres://dsr:${env:DSR_TEST_SECRET_PW}@127.0.0.1:1/nowhere",
        "    retries: 1\n    timeout: 2s\n",
        "      people:\n        match: { email: identity.email }\n        provides: { pid: id }\n      notes:\n        match: { person_id: people.pid }\n",
    );
    ws.write("pb.yaml", &pb);
    let secret = "S3cr3t-Pa55-do-not-print";
    let r = run(ws
        .dsr()
        .args([
            "export",
            "alice@example.com",
            "--playbook",
            "pb.yaml",
            "--out",
            "b",
            "-vv",
        ])
        .env("DSR_TEST_SECRET_PW", secret));
    assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("FAILED: down_pg"), "{}", r.stdout);
    let report = read_json(&ws.path().join("b/report.json"));
    assert_eq!(report["outcome"], "partial");
    let systems = report["systems"].as_array().unwrap();
    let down = systems.iter().find(|s| s["name"] == "down_pg").unwrap();
    assert_eq!(down["status"], "failed");
    let coll = |name: &str| {
        down["collections"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["collection"] == name)
            .unwrap()
            .clone()
    };
    let people = coll("people");
    let reason = people["reason"].as_str().unwrap();
    assert!(
        reason.starts_with("cannot connect: connection refused"),
        "{reason}"
    );
    assert!(reason.contains("after 2 attempts"), "{reason}");
    assert_eq!(people["attempts"], 2);
    assert_eq!(coll("notes")["status"], "skipped");
    assert_eq!(
        coll("notes")["reason"],
        "waits for down_pg.people, which failed"
    );
    let up = systems.iter().find(|s| s["name"] == "up_pg").unwrap();
    assert_eq!(up["status"], "done");
    assert_eq!(
        read_json(&ws.path().join("b/up_pg/people.json"))[0]["id"],
        1
    );
    let report_text = std::fs::read_to_string(ws.path().join("b/report.json")).unwrap();
    for text in [&r.stdout, &r.stderr, &report_text] {
        assert!(!text.contains(secret), "secret leaked");
        assert!(
            !text.contains("alice@example.com"),
            "identity leaked into output or report"
        );
    }
    pg_exec(&["DROP SCHEMA dsr_it_down CASCADE"]);
}

#[test]
fn many_keys_are_batched_and_wrong_columns_are_named() {
    let mut inserts = String::from("INSERT INTO dsr_it_batch.events (id, user_id) VALUES ");
    inserts += &(1..=2500)
        .map(|i| format!("({i}, 1)"))
        .collect::<Vec<_>>()
        .join(", ");
    let mut tags = String::from("INSERT INTO dsr_it_batch.event_tags (event_id, tag) VALUES ");
    tags += &(1..=2600)
        .map(|i| format!("({i}, 't{i}')"))
        .collect::<Vec<_>>()
        .join(", ");
    mysql_exec(&[
        "DROP DATABASE IF EXISTS dsr_it_batch",
        "CREATE DATABASE dsr_it_batch",
        "CREATE TABLE dsr_it_batch.users (id INT, email VARCHAR(100))",
        "INSERT INTO dsr_it_batch.users VALUES (1, 'alice@example.com'), (2, 'bob@example.com')",
        "CREATE TABLE dsr_it_batch.events (id INT, user_id INT)",
        &inserts,
        "CREATE TABLE dsr_it_batch.event_tags (event_id INT, tag VARCHAR(10))",
        &tags,
    ]);
    let ws = Workspace::new();
    let mut pb = HEADER.to_string();
    pb += &system(
        "my",
        "mysql",
        "${env:DSR_TEST_MYSQL_URL}",
        "    schema: dsr_it_batch\n",
        "      users:\n        match: { email: identity.email }\n        provides: { uid: id }\n      events:\n        match: { user_id: users.uid }\n        provides: { eid: id }\n      event_tags:\n        match: { event_id: events.eid }\n      broken:\n        table: events\n        match: { owner: users.uid }\n",
    );
    ws.write("pb.yaml", &pb);
    let r = run(ws.dsr().args([
        "--json",
        "export",
        "alice@example.com",
        "--playbook",
        "pb.yaml",
        "--out",
        "b",
    ]));
    assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
    let s = steps(&r.stdout);
    assert_eq!(find(&s, "my", "events")["records"], 2500);
    assert_eq!(find(&s, "my", "event_tags")["records"], 2500);
    let broken = find(&s, "my", "broken");
    assert_eq!(broken["status"], "failed");
    assert_eq!(
        broken["reason"],
        "column 'owner' not found in events (it has: id, user_id)"
    );
    let tags = read_json(&ws.path().join("b/my/event_tags.json"));
    assert_eq!(tags.as_array().unwrap().len(), 2500);
    mysql_exec(&["DROP DATABASE dsr_it_batch"]);
}

fn ts(v: &Value) -> jiff::Timestamp {
    v.as_str().unwrap().parse().unwrap()
}

/// Two independent systems run at once: their calls overlap in time. A dependent step starts
/// only after the step it needs has finished. With --concurrency 1 nothing overlaps.
#[test]
fn independent_systems_overlap_and_dependent_steps_wait() {
    pg_exec(&[
        "DROP SCHEMA IF EXISTS dsr_it_par CASCADE",
        "CREATE SCHEMA dsr_it_par",
        "CREATE TABLE dsr_it_par.people (id int, email text)",
        "INSERT INTO dsr_it_par.people VALUES (1, 'alice@example.com')",
        "CREATE FUNCTION dsr_it_par.slow(t text) RETURNS text LANGUAGE sql AS $$ SELECT pg_sleep(0.3); SELECT t $$",
        "CREATE VIEW dsr_it_par.slow_people AS SELECT id, dsr_it_par.slow(email) AS email FROM dsr_it_par.people",
        "CREATE TABLE dsr_it_par.notes (person_id int, body text)",
        "INSERT INTO dsr_it_par.notes VALUES (1, 'hello')",
    ]);
    let ws = Workspace::new();
    let mut pb = HEADER.to_string();
    for name in ["a", "b"] {
        pb += &system(
            name,
            "postgres",
            "${env:DSR_TEST_PG_URL}",
            "    schema: dsr_it_par\n",
            "      slow_people:\n        match: { email: identity.email }\n        provides: { pid: id }\n      notes:\n        match: { person_id: slow_people.pid }\n",
        );
    }
    ws.write("pb.yaml", &pb);

    let r = run(ws.dsr().args([
        "--json",
        "export",
        "alice@example.com",
        "--playbook",
        "pb.yaml",
        "--out",
        "par",
    ]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    let s = steps(&r.stdout);
    let (a, b) = (find(&s, "a", "slow_people"), find(&s, "b", "slow_people"));
    assert!(
        ts(&a["started"]) < ts(&b["finished"]) && ts(&b["started"]) < ts(&a["finished"]),
        "no overlap: {a}\n{b}"
    );
    for sys in ["a", "b"] {
        let (up, down) = (find(&s, sys, "slow_people"), find(&s, sys, "notes"));
        assert!(
            ts(&down["started"]) >= ts(&up["finished"]),
            "{sys}.notes started before its input was ready"
        );
        assert_eq!(down["records"], 1);
    }

    let r = run(ws.dsr().args([
        "--json",
        "--concurrency",
        "1",
        "export",
        "alice@example.com",
        "--playbook",
        "pb.yaml",
        "--out",
        "seq",
    ]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    let mut spans: Vec<(jiff::Timestamp, jiff::Timestamp)> = steps(&r.stdout)
        .iter()
        .map(|s| (ts(&s["started"]), ts(&s["finished"])))
        .collect();
    spans.sort();
    for w in spans.windows(2) {
        assert!(
            w[1].0 >= w[0].1,
            "with --concurrency 1 two calls overlapped: {w:?}"
        );
    }
    pg_exec(&["DROP SCHEMA dsr_it_par CASCADE"]);
}
