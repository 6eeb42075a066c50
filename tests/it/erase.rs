//! Erase and correct against real PostgreSQL, MariaDB and the SQLite demo: strategies,
//! foreign-key order, dry runs, verification, transactions and resuming after a kill.

use crate::support::{
    HEADER, Workspace, mysql_exec, mysql_strings, pg_exec, pg_strings, read_json, run, system,
};
use serde_json::Value;
use std::time::{Duration, Instant};

fn json_out(r: &crate::support::Ran) -> Value {
    serde_json::from_str(&r.stdout)
        .unwrap_or_else(|e| panic!("{e}: stdout={} stderr={}", r.stdout, r.stderr))
}

fn collection<'a>(out: &'a Value, system: &str, name: &str) -> &'a Value {
    out["systems"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["system"] == system)
        .and_then(|s| {
            s["collections"]
                .as_array()
                .unwrap()
                .iter()
                .find(|c| c["collection"] == name)
        })
        .unwrap_or_else(|| panic!("{system}.{name} in {out}"))
}

/// Rows as text, to compare other people's data byte for byte.
fn snapshot(schema: &str) -> Vec<String> {
    let mut out = Vec::new();
    for table in ["users", "orders", "order_items", "user_flags"] {
        out.extend(pg_strings(&format!(
            "SELECT '{table}:' || t::text FROM {schema}.{table} t ORDER BY t::text"
        )));
    }
    out
}

fn fk_schema(schema: &str) {
    pg_exec(&[
        &format!("DROP SCHEMA IF EXISTS {schema} CASCADE"),
        &format!("CREATE SCHEMA {schema}"),
        &format!(
            "CREATE TABLE {schema}.users (id int PRIMARY KEY, email text NOT NULL, name text)"
        ),
        &format!(
            "CREATE TABLE {schema}.orders (id int PRIMARY KEY, user_id int NOT NULL REFERENCES {schema}.users(id), address text, total numeric(10,2))"
        ),
        &format!(
            "CREATE TABLE {schema}.order_items (order_id int REFERENCES {schema}.orders(id), line int, sku text, PRIMARY KEY (order_id, line))"
        ),
        &format!(
            "CREATE TABLE {schema}.user_flags (id serial PRIMARY KEY, user_id int NOT NULL REFERENCES {schema}.users(id) ON DELETE RESTRICT, flag text)"
        ),
        &format!(
            "INSERT INTO {schema}.users VALUES (1, 'alice@example.com', 'Alice'), (2, 'bob@example.com', 'Bob')"
        ),
        &format!(
            "INSERT INTO {schema}.orders VALUES (10, 1, '1 Main St', 9.99), (11, 1, '2 High St', 5.00), (20, 2, '9 Elm St', 1.00)"
        ),
        &format!(
            "INSERT INTO {schema}.order_items VALUES (10, 1, 'A'), (10, 2, 'B'), (11, 1, 'C'), (20, 1, 'Z')"
        ),
        &format!("INSERT INTO {schema}.user_flags (user_id, flag) VALUES (1, 'vip'), (2, 'new')"),
    ]);
}

fn fk_playbook(ws: &Workspace, schema: &str) {
    let mut pb = HEADER.to_string();
    pb += &system(
        "shop",
        "postgres",
        "${env:DSR_TEST_PG_URL}",
        &format!("    schema: {schema}\n"),
        "      users:\n        match: { email: identity.email }\n        provides: { uid: id }\n        erase: delete\n\
         \x20     orders:\n        match: { user_id: users.uid }\n        provides: { oid: id }\n        erase: delete\n\
         \x20     order_items:\n        match: { order_id: orders.oid }\n        erase: delete\n\
         \x20     user_flags:\n        match: { user_id: users.uid }\n        erase: delete\n",
    );
    ws.write("pb.yaml", &pb);
}

#[test]
fn erase_deletes_children_before_parents_and_leaves_others_untouched() {
    let schema = "dsr_it_erase_fk";
    fk_schema(schema);
    let ws = Workspace::new();
    fk_playbook(&ws, schema);
    // Bob's rows: user 2, order 20 and its items, his flag.
    let bob = [
        "users:(2,",
        "orders:(20,",
        "order_items:(20,",
        "user_flags:(2,2,",
    ];
    let others = |rows: Vec<String>| -> Vec<String> {
        rows.into_iter()
            .filter(|r| bob.iter().any(|b| r.starts_with(b)))
            .collect()
    };
    let before_all = snapshot(schema);

    // A dry run changes nothing, and says what the real run will do.
    let dry = run(ws.dsr().args([
        "--json",
        "erase",
        "alice@example.com",
        "--playbook",
        "pb.yaml",
        "--dry-run",
    ]));
    assert_eq!(dry.code, 0, "{}", dry.stderr);
    assert_eq!(snapshot(schema), before_all, "the dry run changed data");
    let dry = json_out(&dry);
    assert_eq!(dry["changes"], 7);

    // Without a terminal and without --yes, nothing happens.
    let refused = run(ws
        .dsr()
        .args(["erase", "alice@example.com", "--playbook", "pb.yaml"]));
    assert_eq!(refused.code, 2);
    assert!(
        refused
            .stderr
            .contains("refusing to erase without confirmation"),
        "{}",
        refused.stderr
    );
    assert_eq!(snapshot(schema), before_all);

    let r = run(ws.dsr().args([
        "--json",
        "erase",
        "alice@example.com",
        "--playbook",
        "pb.yaml",
        "--yes",
        "--out",
        "rep",
    ]));
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let out = json_out(&r);
    let deleted: u64 = ["users", "orders", "order_items", "user_flags"]
        .iter()
        .map(|c| collection(&out, "shop", c)["deleted"].as_u64().unwrap())
        .sum();
    assert_eq!(
        deleted, 7,
        "the dry run's count is what the real run changed"
    );
    for c in ["users", "orders", "order_items", "user_flags"] {
        assert_eq!(collection(&out, "shop", c)["verified"], true, "{c}");
    }
    let after = snapshot(schema);
    assert!(
        after
            .iter()
            .all(|r| !r.contains("alice") && !r.contains("'1 Main St'")),
        "{after:?}"
    );
    assert_eq!(
        after,
        others(before_all.clone()),
        "other people's rows changed"
    );
    assert_eq!(
        pg_strings(&format!(
            "SELECT count(*)::text FROM {schema}.order_items WHERE order_id IN (10, 11)"
        )),
        ["0"]
    );
    let report = read_json(&ws.path().join("rep/report.json"));
    assert_eq!(report["outcome"], "done");
    assert!(
        !std::fs::read_to_string(ws.path().join("rep/report.json"))
            .unwrap()
            .contains("alice@example.com")
    );

    // The journal keeps evidence, not data: no identities or keys once the request is done.
    let journal = std::fs::read(ws.path().join(".dsr-state/state.db")).unwrap();
    assert!(!String::from_utf8_lossy(&journal).contains("alice@example.com"));
    pg_exec(&[&format!("DROP SCHEMA {schema} CASCADE")]);
}

#[test]
fn masks_leave_the_expected_values_and_keep_records_its_reason() {
    let schema = "dsr_it_masks";
    pg_exec(&[
        &format!("DROP SCHEMA IF EXISTS {schema} CASCADE"),
        &format!("CREATE SCHEMA {schema}"),
        &format!(
            "CREATE TABLE {schema}.profiles (id int PRIMARY KEY, email text, name text, phone text, born date, seen timestamptz, note text, nickname text)"
        ),
        &format!(
            "INSERT INTO {schema}.profiles VALUES (1, 'alice@example.com', 'Alice', '07700900123', '1988-04-12', '2024-02-29 13:45:10+00', 'likes tea', 'Al'), \
             (2, 'bob@example.com', 'Bob', '07700900999', '1990-01-01', now(), 'x', 'B')"
        ),
        &format!("CREATE TABLE {schema}.invoices (id int PRIMARY KEY, email text, amount int)"),
        &format!("INSERT INTO {schema}.invoices VALUES (7, 'alice@example.com', 100)"),
    ]);
    let ws = Workspace::new();
    let mut pb = "hash_key: ${env:DSR_TEST_HASH_KEY}\n".to_string() + HEADER;
    pb += &system(
        "crm",
        "postgres",
        "${env:DSR_TEST_PG_URL}",
        &format!("    schema: {schema}\n"),
        "      profiles:\n        match: { email: identity.email }\n        erase:\n          mask: { email: hash, name: redact, phone: random, born: truncate_date, seen: truncate_date, note: 'null' }\n          because: account statistics\n\
         \x20     invoices:\n        match: { email: identity.email }\n        erase: { keep: true, because: Tax law requires invoices for 10 years. }\n",
    );
    ws.write("pb.yaml", &pb);
    let bob_before = pg_strings(&format!(
        "SELECT t::text FROM {schema}.profiles t WHERE id = 2"
    ));
    let r = run(ws
        .dsr()
        .args([
            "--json",
            "erase",
            "alice@example.com",
            "--playbook",
            "pb.yaml",
            "--yes",
        ])
        .env("DSR_TEST_HASH_KEY", "k3y"));
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let out = json_out(&r);
    assert_eq!(collection(&out, "crm", "profiles")["masked"], 1);
    assert_eq!(collection(&out, "crm", "profiles")["verified"], true);
    let kept = collection(&out, "crm", "invoices");
    assert_eq!(
        (kept["kept"].as_u64(), kept["because"].as_str()),
        (Some(1), Some("Tax law requires invoices for 10 years."))
    );

    let row = pg_strings(&format!(
        "SELECT concat_ws('|', email, name, phone, born::text, to_char(seen AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS'), coalesce(note, 'NULL'), nickname) FROM {schema}.profiles WHERE id = 1"
    ));
    let parts: Vec<&str> = row[0].split('|').collect();
    assert_eq!(
        parts[0],
        dsr::erase::mask::hmac_hex(b"k3y", "alice@example.com")
    );
    assert_eq!(parts[1], "[redacted]");
    assert!(
        parts[2].len() == 11
            && parts[2].chars().all(|c| c.is_ascii_digit())
            && parts[2] != "07700900123",
        "{}",
        parts[2]
    );
    assert_eq!(parts[3], "1988-04-01");
    assert_eq!(parts[4], "2024-02-01 00:00:00");
    assert_eq!(parts[5], "NULL");
    assert_eq!(parts[6], "Al", "columns without a mask are untouched");
    assert_eq!(
        pg_strings(&format!(
            "SELECT t::text FROM {schema}.profiles t WHERE id = 2"
        )),
        bob_before
    );
    assert_eq!(
        pg_strings(&format!("SELECT t::text FROM {schema}.invoices t")),
        ["(7,alice@example.com,100)"]
    );
    pg_exec(&[&format!("DROP SCHEMA {schema} CASCADE")]);
}

#[test]
fn a_failed_write_rolls_back_and_a_rerun_finishes_it() {
    mysql_exec(&[
        "DROP DATABASE IF EXISTS dsr_it_rollback",
        "CREATE DATABASE dsr_it_rollback",
        "CREATE TABLE dsr_it_rollback.users (id INT PRIMARY KEY, email VARCHAR(100))",
        "CREATE TABLE dsr_it_rollback.visits (id INT PRIMARY KEY, user_id INT, page VARCHAR(50))",
        "INSERT INTO dsr_it_rollback.users VALUES (1, 'alice@example.com'), (2, 'bob@example.com')",
        "INSERT INTO dsr_it_rollback.visits VALUES (1, 1, '/a'), (2, 1, '/b'), (3, 2, '/c')",
        "CREATE TRIGGER dsr_it_rollback.no_delete BEFORE DELETE ON dsr_it_rollback.users FOR EACH ROW SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'deletes are blocked'",
    ]);
    let ws = Workspace::new();
    let mut pb = HEADER.to_string();
    pb += &system(
        "site",
        "mariadb",
        "${env:DSR_TEST_MYSQL_URL}",
        "    schema: dsr_it_rollback\n    retries: 0\n",
        "      users:\n        match: { email: identity.email }\n        provides: { uid: id }\n        erase: delete\n      visits:\n        match: { user_id: users.uid }\n        erase: delete\n",
    );
    ws.write("pb.yaml", &pb);
    let r = run(ws.dsr().args([
        "--json",
        "erase",
        "alice@example.com",
        "--playbook",
        "pb.yaml",
        "--yes",
    ]));
    assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
    let out = json_out(&r);
    let site = &out["systems"][0];
    assert_eq!(site["status"], "failed");
    let error = site["error"].as_str().unwrap();
    assert!(
        error.contains("deletes are blocked") && error.contains("rolled back"),
        "{error}"
    );
    // All or nothing: the visits deleted before the failing statement came back.
    assert_eq!(
        mysql_strings("SELECT CAST(COUNT(*) AS CHAR) FROM dsr_it_rollback.visits"),
        ["3"]
    );

    mysql_exec(&["DROP TRIGGER dsr_it_rollback.no_delete"]);
    let r = run(ws.dsr().args([
        "--json",
        "erase",
        "alice@example.com",
        "--playbook",
        "pb.yaml",
        "--yes",
    ]));
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert!(r.stderr.contains("Resuming request"), "{}", r.stderr);
    assert_eq!(
        mysql_strings(
            "SELECT CAST(GROUP_CONCAT(id ORDER BY id) AS CHAR) FROM dsr_it_rollback.visits"
        ),
        ["3"]
    );
    assert_eq!(
        mysql_strings("SELECT email FROM dsr_it_rollback.users"),
        ["bob@example.com"]
    );
    mysql_exec(&["DROP DATABASE dsr_it_rollback"]);
}

#[test]
fn correcting_an_email_reaches_every_system_and_verification_catches_a_revert() {
    pg_exec(&[
        "DROP SCHEMA IF EXISTS dsr_it_correct CASCADE",
        "CREATE SCHEMA dsr_it_correct",
        "CREATE TABLE dsr_it_correct.accounts (id int PRIMARY KEY, email text, name text)",
        "INSERT INTO dsr_it_correct.accounts VALUES (1, 'alice@example.com', 'Alice'), (2, 'bob@example.com', 'Bob')",
        "CREATE TABLE dsr_it_correct.stubborn (id int PRIMARY KEY, email text)",
        "INSERT INTO dsr_it_correct.stubborn VALUES (5, 'alice@example.com')",
        "CREATE FUNCTION dsr_it_correct.revert() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN NEW.email := OLD.email; RETURN NEW; END $$",
        "CREATE TRIGGER keep_email BEFORE UPDATE ON dsr_it_correct.stubborn FOR EACH ROW EXECUTE FUNCTION dsr_it_correct.revert()",
    ]);
    mysql_exec(&[
        "DROP DATABASE IF EXISTS dsr_it_correct",
        "CREATE DATABASE dsr_it_correct",
        "CREATE TABLE dsr_it_correct.subscribers (id INT PRIMARY KEY, email VARCHAR(100), list VARCHAR(20))",
        "INSERT INTO dsr_it_correct.subscribers VALUES (1, 'alice@example.com', 'news'), (2, 'bob@example.com', 'news')",
    ]);
    let ws = Workspace::new();
    let mut pb = HEADER.to_string();
    pb += &system(
        "app",
        "postgres",
        "${env:DSR_TEST_PG_URL}",
        "    schema: dsr_it_correct\n",
        "      accounts:\n        match: { email: identity.email }\n        erase: delete\n",
    );
    pb += &system(
        "mail",
        "mysql",
        "${env:DSR_TEST_MYSQL_URL}",
        "    schema: dsr_it_correct\n",
        "      subscribers:\n        match: { email: identity.email }\n        erase: delete\n",
    );
    ws.write("pb.yaml", &pb);
    let r = run(ws.dsr().args([
        "--json",
        "correct",
        "alice@example.com",
        "--set",
        "identity.email=alice@new.example",
        "--playbook",
        "pb.yaml",
        "--yes",
    ]));
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert_eq!(
        pg_strings("SELECT email FROM dsr_it_correct.accounts ORDER BY id"),
        ["alice@new.example", "bob@example.com"]
    );
    assert_eq!(
        mysql_strings("SELECT email FROM dsr_it_correct.subscribers ORDER BY id"),
        ["alice@new.example", "bob@example.com"]
    );
    for text in [&r.stdout, &r.stderr] {
        assert!(
            !text.contains("alice@new.example"),
            "values are shown only on a terminal"
        );
    }

    // A system whose write silently does not apply fails verification.
    pb += &system(
        "legacy",
        "postgres",
        "${env:DSR_TEST_PG_URL}",
        "    schema: dsr_it_correct\n",
        "      stubborn:\n        match: { email: identity.email }\n        erase: delete\n",
    );
    ws.write("pb.yaml", &pb);
    let r = run(ws.dsr().args([
        "--json",
        "correct",
        "alice@example.com",
        "--set",
        "legacy.stubborn.email=alice@new.example",
        "--playbook",
        "pb.yaml",
        "--yes",
    ]));
    assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
    let out = json_out(&r);
    let c = collection(&out, "legacy", "stubborn");
    assert_eq!(c["verified"], false);
    assert_eq!(c["problem"], "email do not hold the values written");
    pg_exec(&["DROP SCHEMA dsr_it_correct CASCADE"]);
    mysql_exec(&["DROP DATABASE dsr_it_correct"]);
}

#[test]
fn the_demo_erase_masks_keeps_and_deletes() {
    let ws = crate::export_sqlite::demo_workspace();
    let r = run(ws.dsr().args([
        "--json",
        "erase",
        "alice@example.com",
        "--playbook",
        "demo.yaml",
        "--yes",
    ]));
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let out = json_out(&r);
    assert_eq!(collection(&out, "shop", "orders")["masked"], 2);
    assert_eq!(collection(&out, "shop", "order_items")["kept"], 3);
    assert_eq!(collection(&out, "accounts", "users")["deleted"], 1);
    // The erase leaves a signed report that `dsr verify` accepts, naming no one.
    let report = std::path::PathBuf::from(out["report"].as_str().unwrap());
    let bundle = report.parent().unwrap();
    let v = run(ws
        .dsr()
        .arg("verify")
        .arg(&report)
        .arg("--bundle")
        .arg(bundle));
    assert_eq!(v.code, 0, "{}\n{}", v.stdout, v.stderr);
    let signed = read_json(&report);
    assert_eq!(signed["action"], "erase");
    let users = signed["systems"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "accounts")
        .unwrap()["collections"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["collection"] == "users")
        .unwrap()
        .clone();
    assert_eq!(
        (
            users["records_deleted"].as_u64(),
            users["verified_erased"].as_bool()
        ),
        (Some(1), Some(true))
    );
    assert!(
        !std::fs::read_to_string(&report)
            .unwrap()
            .contains("alice@example.com")
    );
    let list = run(ws.dsr().args(["--json", "requests", "list"]));
    assert!(list.stdout.contains("\"erase\""), "{}", list.stdout);
    // Alice is gone; Bob is still there.
    let r = run(ws.dsr().args([
        "--json",
        "export",
        "alice@example.com",
        "--playbook",
        "demo.yaml",
        "--out",
        "a",
    ]));
    let total: u64 = json_out(&r)["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["records"].as_u64().unwrap())
        .sum();
    assert_eq!(total, 0);
    let r = run(ws.dsr().args([
        "--json",
        "export",
        "bob@example.com",
        "--playbook",
        "demo.yaml",
        "--out",
        "b",
    ]));
    let orders = read_json(&ws.path().join("b/shop/orders.json"));
    assert_eq!(
        orders[0]["shipping_address"],
        "5 Rue de la Paix, 75002 Paris"
    );
    assert_eq!(r.code, 0);
}

/// Runs SQL in a transaction the test keeps open (holding its locks) until it rolls back.
pub(crate) fn hold_locks(rt: &tokio::runtime::Runtime, sql: &str) -> sqlx::PgConnection {
    rt.block_on(async {
        use sqlx::Connection;
        let mut c = sqlx::PgConnection::connect(&crate::support::pg_url())
            .await
            .unwrap();
        sqlx::raw_sql(&format!("BEGIN; {sql}"))
            .execute(&mut c)
            .await
            .unwrap();
        c
    })
}

/// `dsr erase alice@example.com --yes` in the background, to be killed.
fn spawn_erase(ws: &Workspace) -> std::process::Child {
    std::process::Command::new(assert_cmd::cargo::cargo_bin("dsr"))
        .args([
            "--json",
            "erase",
            "alice@example.com",
            "--playbook",
            "pb.yaml",
            "--yes",
        ])
        .current_dir(ws.path())
        .env("DSR_STATE_DIR", ws.path().join(".dsr-state"))
        .env("DSR_TEST_PG_URL", crate::support::pg_url())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap()
}

/// One value from the workspace's journal, read while dsr may be running.
pub(crate) fn journal_value(
    rt: &tokio::runtime::Runtime,
    ws: &Workspace,
    query: &str,
) -> Option<String> {
    let journal = ws.path().join(".dsr-state/state.db");
    rt.block_on(async {
        let pool = sqlx::SqlitePool::connect(&format!("sqlite:{}?mode=ro", journal.display()))
            .await
            .ok()?;
        let value: Option<String> = sqlx::query_scalar(query)
            .fetch_optional(&pool)
            .await
            .ok()
            .flatten();
        pool.close().await;
        value
    })
}

/// Polls `check` until it holds (bounded; this waits for a state, it does not time anything).
pub(crate) fn wait_until(what: &str, mut check: impl FnMut() -> bool) {
    let start = Instant::now();
    while !check() {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "gave up waiting for: {what}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Kill -9 in the middle of the write phase (one system written, the other blocked on a row
/// lock the test holds), then run the same command again: the request completes, the system
/// already written is not written again, nothing is missed.
#[test]
fn a_killed_erase_resumes_without_writing_twice() {
    let schema = "dsr_it_kill";
    pg_exec(&[
        &format!("DROP SCHEMA IF EXISTS {schema} CASCADE"),
        &format!("CREATE SCHEMA {schema}"),
        &format!("CREATE TABLE {schema}.users (id int PRIMARY KEY, email text, name text)"),
        &format!("CREATE TABLE {schema}.notes (id int PRIMARY KEY, email text, body text)"),
        &format!("CREATE TABLE {schema}.writes (tbl text, id int)"),
        &format!(
            "INSERT INTO {schema}.users VALUES (1, 'alice@example.com', 'Alice'), (2, 'bob@example.com', 'Bob')"
        ),
        &format!(
            "INSERT INTO {schema}.notes VALUES (1, 'alice@example.com', 'a'), (2, 'alice@example.com', 'b'), (3, 'bob@example.com', 'c')"
        ),
        &format!(
            "CREATE FUNCTION {schema}.log() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN INSERT INTO {schema}.writes VALUES (TG_TABLE_NAME, OLD.id); RETURN NULL; END $$"
        ),
        &format!(
            "CREATE TRIGGER log_users AFTER UPDATE OR DELETE ON {schema}.users FOR EACH ROW EXECUTE FUNCTION {schema}.log()"
        ),
        &format!(
            "CREATE TRIGGER log_notes AFTER UPDATE OR DELETE ON {schema}.notes FOR EACH ROW EXECUTE FUNCTION {schema}.log()"
        ),
    ]);
    let ws = Workspace::new();
    let mut pb = HEADER.to_string();
    pb += &system(
        "accounts",
        "postgres",
        "${env:DSR_TEST_PG_URL}",
        &format!("    schema: {schema}\n"),
        "      users:\n        match: { email: identity.email }\n        erase:\n          mask: { name: redact }\n",
    );
    pb += &system(
        "journal_app",
        "postgres",
        "${env:DSR_TEST_PG_URL}",
        &format!("    schema: {schema}\n    timeout: 120s\n"),
        "      notes:\n        match: { email: identity.email }\n        erase: delete\n",
    );
    ws.write("pb.yaml", &pb);

    // The test holds a row lock on one of Alice's notes: reads pass, the DELETE waits.
    let rt = crate::support::runtime();
    let mut locker = hold_locks(
        &rt,
        &format!("SELECT * FROM {schema}.notes WHERE id = 2 FOR UPDATE;"),
    );
    let mut child = spawn_erase(&ws);
    wait_until("accounts written and the notes delete blocked", || {
        let users_done = pg_strings(&format!(
            "SELECT count(*)::text FROM {schema}.writes WHERE tbl = 'users'"
        )) == ["1"];
        let blocked = pg_strings(&format!(
            "SELECT count(*)::text FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE 'DELETE FROM \"{schema}\".\"notes\"%'"
        )) == ["1"];
        users_done && blocked
    });
    // Kill without warning once the journal shows the first system done (or killing before the
    // journal write: the rerun must then notice the change is already in effect).
    wait_until("the journal records the accounts write", || {
        journal_value(
            &rt,
            &ws,
            "SELECT status FROM journal_writes WHERE system = 'accounts'",
        )
        .as_deref()
            == Some("verified")
    });
    child.kill().unwrap();
    child.wait().unwrap();
    rt.block_on(async {
        sqlx::raw_sql("ROLLBACK")
            .execute(&mut locker)
            .await
            .unwrap()
    });
    assert_eq!(
        pg_strings(&format!(
            "SELECT count(*)::text FROM {schema}.notes WHERE email = 'alice@example.com'"
        )),
        ["2"],
        "the killed transaction must not have applied"
    );

    let r = run(ws.dsr().args([
        "--json",
        "erase",
        "alice@example.com",
        "--playbook",
        "pb.yaml",
        "--yes",
    ]));
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert!(r.stderr.contains("Resuming request"), "{}", r.stderr);
    assert_eq!(
        pg_strings(&format!("SELECT body FROM {schema}.notes ORDER BY id")),
        ["c"]
    );
    assert_eq!(
        pg_strings(&format!("SELECT name FROM {schema}.users ORDER BY id")),
        ["[redacted]", "Bob"]
    );
    // Each record was written exactly once across both runs.
    assert_eq!(
        pg_strings(&format!(
            "SELECT tbl || ':' || id FROM {schema}.writes ORDER BY tbl, id"
        )),
        ["notes:1", "notes:2", "users:1"]
    );
    pg_exec(&[&format!("DROP SCHEMA {schema} CASCADE")]);
}

/// Kill -9 during the read phase (the second collection's read blocked by a table lock), then
/// run again: the finished read step comes from the journal, the rest runs, all is erased.
#[test]
fn a_erase_killed_while_reading_resumes_from_the_journal() {
    let schema = "dsr_it_kill_read";
    pg_exec(&[
        &format!("DROP SCHEMA IF EXISTS {schema} CASCADE"),
        &format!("CREATE SCHEMA {schema}"),
        &format!("CREATE TABLE {schema}.users (id int PRIMARY KEY, email text)"),
        &format!("CREATE TABLE {schema}.notes (id int PRIMARY KEY, user_id int, body text)"),
        &format!(
            "INSERT INTO {schema}.users VALUES (1, 'alice@example.com'), (2, 'bob@example.com')"
        ),
        &format!("INSERT INTO {schema}.notes VALUES (1, 1, 'a'), (2, 2, 'b')"),
    ]);
    let ws = Workspace::new();
    let mut pb = HEADER.to_string();
    pb += &system(
        "app",
        "postgres",
        "${env:DSR_TEST_PG_URL}",
        &format!("    schema: {schema}\n    timeout: 120s\n"),
        "      users:\n        match: { email: identity.email }\n        provides: { uid: id }\n        erase: delete\n      notes:\n        match: { user_id: users.uid }\n        erase: delete\n",
    );
    ws.write("pb.yaml", &pb);
    let rt = crate::support::runtime();
    let mut locker = hold_locks(
        &rt,
        &format!("LOCK TABLE {schema}.notes IN ACCESS EXCLUSIVE MODE;"),
    );
    let mut child = spawn_erase(&ws);
    let users_started = std::cell::RefCell::new(String::new());
    wait_until("users read and journaled, notes read blocked", || {
        let journaled = journal_value(
            &rt,
            &ws,
            "SELECT outcome FROM journal_steps WHERE collection = 'users'",
        );
        let blocked = pg_strings(&format!(
            "SELECT count(*)::text FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE '%{schema}%notes%'"
        )) == ["1"];
        match journaled {
            Some(o) if blocked => {
                let v: Value = serde_json::from_str(&o).unwrap();
                *users_started.borrow_mut() = v["started"].as_str().unwrap().to_string();
                true
            }
            _ => false,
        }
    });
    child.kill().unwrap();
    child.wait().unwrap();
    rt.block_on(async {
        sqlx::raw_sql("ROLLBACK")
            .execute(&mut locker)
            .await
            .unwrap()
    });
    assert_eq!(
        pg_strings(&format!("SELECT count(*)::text FROM {schema}.users")),
        ["2"],
        "nothing is written before the read phase ends"
    );

    let r = run(ws.dsr().args([
        "--json",
        "erase",
        "alice@example.com",
        "--playbook",
        "pb.yaml",
        "--yes",
    ]));
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let out = json_out(&r);
    let read = out["read"].as_array().unwrap();
    let users = read.iter().find(|o| o["collection"] == "users").unwrap();
    assert_eq!(
        users["started"].as_str().unwrap(),
        users_started.borrow().as_str(),
        "the finished read step was not redone"
    );
    assert_eq!(
        pg_strings(&format!("SELECT email FROM {schema}.users")),
        ["bob@example.com"]
    );
    assert_eq!(
        pg_strings(&format!("SELECT body FROM {schema}.notes")),
        ["b"]
    );
    pg_exec(&[&format!("DROP SCHEMA {schema} CASCADE")]);
}

#[test]
fn validate_connect_finds_strategies_that_cannot_apply() {
    let ws = Workspace::new();
    ws.write(
        "seed.sql",
        "CREATE TABLE people (id INTEGER PRIMARY KEY, email TEXT, phone TEXT);\n\
         CREATE TABLE visits (email TEXT, page TEXT);\n\
         CREATE VIEW people_view AS SELECT id, email FROM people;\n",
    );
    let pb = r#"version: 1
organisation: T
identities: [email]
systems:
  app:
    connector: sqlite
    path: app.db
    seed: seed.sql
    purpose: p
    legal_basis: contract
    retention: r
    collections:
      people:
        match: { email: identity.email }
        erase:
          mask: { phnoe: redact }
      visits:
        match: { email: identity.email }
        erase: delete
      people_view:
        match: { email: identity.email }
        erase: delete
"#;
    ws.write("pb.yaml", pb);
    let r = run(ws.dsr().args(["validate", "--connect", "pb.yaml"]));
    assert_eq!(r.code, 2, "{}", r.stdout);
    assert_eq!(
        r.stderr,
        "error: pb.yaml:16:19: systems.app.collections.people.erase.mask.phnoe: column 'phnoe' not found in people (it has: id, email, phone)\n  hint: did you mean 'phone'?\n\
         pb.yaml:19:9: systems.app.collections.visits.erase: cannot erase: visits has no primary key: name the columns that identify one record with `key:` in the playbook\n\
         pb.yaml:22:9: systems.app.collections.people_view.erase: cannot erase: people_view is a view or other non-table relation; dsr changes records in tables only\n\
         3 errors\n"
    );
    // Without --connect the playbook is valid: these checks need the database.
    assert_eq!(run(ws.dsr().args(["validate", "pb.yaml"])).code, 0);
}

/// Ctrl-C while a read step is running: that step finishes, no new step starts, nothing is
/// changed, exit 130 with the resume command; `dsr resume` then completes the request.
#[test]
fn ctrl_c_stops_cleanly_and_resume_completes() {
    let schema = "dsr_it_sigint";
    pg_exec(&[
        &format!("DROP SCHEMA IF EXISTS {schema} CASCADE"),
        &format!("CREATE SCHEMA {schema}"),
        &format!("CREATE TABLE {schema}.users (id int PRIMARY KEY, email text)"),
        &format!("CREATE TABLE {schema}.notes (id int PRIMARY KEY, user_id int, body text)"),
        &format!("CREATE TABLE {schema}.tags (id int PRIMARY KEY, user_id int, tag text)"),
        &format!(
            "INSERT INTO {schema}.users VALUES (1, 'alice@example.com'), (2, 'bob@example.com')"
        ),
        &format!("INSERT INTO {schema}.notes VALUES (1, 1, 'a'), (2, 2, 'b')"),
        &format!("INSERT INTO {schema}.tags VALUES (1, 1, 'x')"),
    ]);
    let ws = Workspace::new();
    let mut pb = HEADER.to_string();
    pb += &system(
        "app",
        "postgres",
        "${env:DSR_TEST_PG_URL}",
        &format!("    schema: {schema}\n    timeout: 120s\n    concurrency: 1\n"),
        "      users:\n        match: { email: identity.email }\n        provides: { uid: id }\n        erase: delete\n      notes:\n        match: { user_id: users.uid }\n        erase: delete\n      tags:\n        match: { user_id: users.uid }\n        erase: delete\n",
    );
    ws.write("pb.yaml", &pb);
    let rt = crate::support::runtime();
    let mut locker = hold_locks(
        &rt,
        &format!("LOCK TABLE {schema}.notes IN ACCESS EXCLUSIVE MODE;"),
    );
    let child = spawn_erase(&ws);
    wait_until("the notes read is blocked", || {
        pg_strings(&format!(
            "SELECT count(*)::text FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE '%{schema}%notes%'"
        )) == ["1"]
    });
    let status = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    // Give the signal time to land before the blocked call can finish (if it landed late, the
    // assertions below on `tags` fail: they do not pass by luck).
    std::thread::sleep(Duration::from_millis(300));
    rt.block_on(async {
        sqlx::raw_sql("ROLLBACK")
            .execute(&mut locker)
            .await
            .unwrap()
    });
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130));
    assert_eq!(
        pg_strings(&format!("SELECT count(*)::text FROM {schema}.users")),
        ["2"],
        "nothing changed"
    );
    let id = journal_value(&rt, &ws, "SELECT id FROM journal_requests").unwrap();
    assert_eq!(
        journal_value(
            &rt,
            &ws,
            "SELECT outcome FROM journal_steps WHERE collection = 'notes'"
        )
        .map(|o| o.contains("\"done\"")),
        Some(true),
        "the running step finished and was recorded"
    );
    assert!(
        journal_value(
            &rt,
            &ws,
            "SELECT outcome FROM journal_steps WHERE collection = 'tags'"
        )
        .unwrap()
        .contains("interrupted")
    );

    let r = run(ws
        .dsr()
        .args(["--json", "resume", &id, "--playbook", "pb.yaml", "--yes"]));
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert_eq!(
        pg_strings(&format!("SELECT email FROM {schema}.users")),
        ["bob@example.com"]
    );
    assert_eq!(
        pg_strings(&format!("SELECT count(*)::text FROM {schema}.tags")),
        ["0"]
    );
    assert_eq!(
        pg_strings(&format!("SELECT body FROM {schema}.notes")),
        ["b"]
    );
    pg_exec(&[&format!("DROP SCHEMA {schema} CASCADE")]);
}

#[test]
fn the_plan_says_when_a_connector_cannot_do_the_action() {
    let ws = Workspace::new();
    let pb = crate::support::repo().join("playbooks/examples/opendsr.yaml");
    let r = run(ws
        .dsr()
        .args([
            "--json",
            "plan",
            "correct",
            "alice@example.com",
            "--playbook",
        ])
        .arg(&pb)
        .env("ADTECH_OPENDSR_TOKEN", "t"));
    assert_eq!(r.code, 0, "{}", r.stderr);
    let plan: Value = serde_json::from_str(&r.stdout).unwrap();
    let skips: Vec<&str> = plan["steps"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| s["skip"].as_str())
        .collect();
    assert_eq!(skips, ["the opendsr connector cannot correct"]);
    let r = run(ws
        .dsr()
        .args(["--json", "plan", "erase", "alice@example.com", "--playbook"])
        .arg(&pb)
        .env("ADTECH_OPENDSR_TOKEN", "t"));
    let plan: Value = serde_json::from_str(&r.stdout).unwrap();
    assert!(
        plan["steps"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["skip"].is_null())
    );
}

/// A manual step: the plan lists it, the erase waits for it (exit 1, ledger `waiting`), a
/// person confirms it, and `dsr resume` finishes the request with the note in the report.
#[test]
fn a_manual_step_waits_for_a_person_and_is_recorded() {
    let ws = crate::export_sqlite::demo_workspace();
    let pb = r#"version: 1
organisation: Acme Tea Ltd
identities: [email]
systems:
  newsletter:
    connector: sqlite
    path: demo/data/newsletter.db
    seed: demo/newsletter.sql
    purpose: Newsletter
    legal_basis: consent
    retention: Until you unsubscribe
    collections:
      subscribers:
        match: { email: identity.email }
        erase: delete
  paper_archive:
    connector: manual
    instructions: Shred the signed contract in the archive box for this customer
    purpose: Signed contracts
    legal_basis: contract
    retention: 6 years
    collections:
      contracts:
        match: { email: identity.email }
        erase: delete
"#;
    ws.write("manual.yaml", pb);
    let r = run(ws.dsr().args([
        "--json",
        "erase",
        "alice@example.com",
        "--playbook",
        "manual.yaml",
        "--yes",
    ]));
    assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
    let out = json_out(&r);
    assert_eq!(out["outcome"], "waiting");
    let id = out["request_id"].as_str().unwrap().to_string();
    let paper = out["systems"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["system"] == "paper_archive")
        .unwrap();
    assert_eq!(paper["status"], "waiting");
    assert!(
        paper["error"]
            .as_str()
            .unwrap()
            .contains("Shred the signed contract"),
        "{paper}"
    );
    let list = run(ws.dsr().args(["--json", "requests", "list"]));
    assert!(list.stdout.contains("\"waiting\""), "{}", list.stdout);

    let bad = run(ws.dsr().args([
        "requests",
        "confirm",
        "no-such-request",
        "paper_archive",
        "--note",
        "x",
    ]));
    assert_eq!(bad.code, 2);
    let c = run(ws.dsr().args([
        "requests",
        "confirm",
        &id,
        "paper_archive",
        "--note",
        "Shredded, box 12",
        "--operator",
        "dpo",
    ]));
    assert_eq!(c.code, 0, "{}", c.stderr);
    let r = run(ws.dsr().args([
        "--json",
        "resume",
        &id,
        "--playbook",
        "manual.yaml",
        "--yes",
    ]));
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let out = json_out(&r);
    assert_eq!(out["outcome"], "done");
    let report = std::fs::read_to_string(out["report"].as_str().unwrap()).unwrap();
    assert!(
        report.contains("confirmed: Shredded, box 12") && report.contains("by dpo"),
        "{report}"
    );
    let r = run(ws.dsr().args([
        "plan",
        "erase",
        "bob@example.com",
        "--playbook",
        "manual.yaml",
    ]));
    assert!(
        r.stdout.contains("paper_archive.contracts") && r.stdout.contains("manual"),
        "{}",
        r.stdout
    );
}

/// A write the database refuses (NOT NULL, a duplicate): the error shown and recorded keeps
/// the database's own words, and the person's values are not in it.
#[test]
fn write_errors_read_as_the_database_wrote_them_without_the_persons_values() {
    let schema = "dsr_it_scrub";
    pg_exec(&[
        &format!("DROP SCHEMA IF EXISTS {schema} CASCADE"),
        &format!("CREATE SCHEMA {schema}"),
        &format!(
            "CREATE TABLE {schema}.people (id int PRIMARY KEY, email text NOT NULL, born text NOT NULL)"
        ),
        &format!(
            "INSERT INTO {schema}.people VALUES (1, 'alice@example.com', 'unknown'), (2, 'bob@example.com', '1990-01-01')"
        ),
    ]);
    mysql_exec(&[
        &format!("DROP DATABASE IF EXISTS {schema}"),
        &format!("CREATE DATABASE {schema}"),
        &format!(
            "CREATE TABLE {schema}.people (id INT PRIMARY KEY, email VARCHAR(100) NOT NULL UNIQUE, born VARCHAR(20) NOT NULL)"
        ),
        &format!(
            "INSERT INTO {schema}.people VALUES (1, 'alice@example.com', 'unknown'), (2, 'bob@example.com', '1990-01-01')"
        ),
    ]);
    // `truncate_date` of a text that is no date is NULL, which the NOT NULL column refuses
    // when the write runs.
    let collections = "      people:\n        match: { email: identity.email }\n        fields: { email: { category: contact.email } }\n        erase:\n          mask: { born: truncate_date }\n";
    let no_personal_data = |r: &crate::support::Ran, report: &str, values: &[&str]| {
        for v in values {
            for (what, text) in [
                ("stdout", &r.stdout),
                ("stderr", &r.stderr),
                ("report", &report.to_string()),
            ] {
                assert!(!text.contains(v), "{v} in {what}: {text}");
            }
        }
    };
    let report_of = |ws: &Workspace, out: &Value| {
        std::fs::read_to_string(ws.path().join(out["report"].as_str().unwrap())).unwrap()
    };
    for (connector, url, readable) in [
        (
            "postgres",
            "${env:DSR_TEST_PG_URL}",
            "null value in column \"born\" of relation \"people\" violates not-null constraint (code 23502)",
        ),
        (
            "mariadb",
            "${env:DSR_TEST_MYSQL_URL}",
            "Column 'born' cannot be null (code 23000)",
        ),
    ] {
        let ws = Workspace::new();
        let mut pb = HEADER.to_string();
        pb += &system(
            "app",
            connector,
            url,
            &format!("    schema: {schema}\n    retries: 0\n"),
            collections,
        );
        ws.write("pb.yaml", &pb);
        let r = run(ws.dsr().args([
            "--json",
            "erase",
            "alice@example.com",
            "--playbook",
            "pb.yaml",
            "--yes",
        ]));
        assert_eq!(r.code, 1, "{connector}: {}\n{}", r.stdout, r.stderr);
        let out = json_out(&r);
        let error = out["systems"][0]["error"].as_str().unwrap();
        assert!(error.contains(readable), "{connector}: {error}");
        let report = report_of(&ws, &out);
        let recorded: Value = serde_json::from_str(&report).unwrap();
        let reason = recorded["systems"][0]["collections"][0]["reason"]
            .as_str()
            .unwrap_or_default();
        assert!(reason.contains(readable), "{connector}: {report}");
        no_personal_data(&r, &report, &["alice@example.com", "[value]"]);
    }

    // A correction to an address someone else has: MariaDB names the duplicate value, which
    // is the new address, so it is replaced.
    let ws = Workspace::new();
    let mut pb = HEADER.to_string();
    pb += &system(
        "app",
        "mariadb",
        "${env:DSR_TEST_MYSQL_URL}",
        &format!("    schema: {schema}\n    retries: 0\n"),
        collections,
    );
    ws.write("pb.yaml", &pb);
    let r = run(ws.dsr().args([
        "--json",
        "correct",
        "alice@example.com",
        "--set",
        "identity.email=bob@example.com",
        "--playbook",
        "pb.yaml",
        "--yes",
    ]));
    assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
    let out = json_out(&r);
    let error = out["systems"][0]["error"].as_str().unwrap();
    assert!(
        error.starts_with("Duplicate entry '[value]' for key 'email' (code 23000)"),
        "{error}"
    );
    no_personal_data(
        &r,
        &report_of(&ws, &out),
        &["alice@example.com", "bob@example.com"],
    );
    assert_eq!(
        mysql_strings(&format!("SELECT email FROM {schema}.people ORDER BY id")),
        ["alice@example.com", "bob@example.com"]
    );
    pg_exec(&[&format!("DROP SCHEMA {schema} CASCADE")]);
    mysql_exec(&[&format!("DROP DATABASE {schema}")]);
}

/// A correction that failed stays resumable, but a correction with other values is a request
/// of its own: it must not pick up the old one and write the old values.
#[test]
fn a_different_correction_is_a_new_request_and_the_failed_one_stays_resumable() {
    let schema = "dsr_it_recorrect";
    pg_exec(&[
        &format!("DROP SCHEMA IF EXISTS {schema} CASCADE"),
        &format!("CREATE SCHEMA {schema}"),
        &format!(
            "CREATE TABLE {schema}.users (id int PRIMARY KEY, email text, \"Full Name\" text)"
        ),
        &format!(
            "INSERT INTO {schema}.users VALUES (1, 'alice@example.com', 'Alice'), (2, 'bob@example.com', 'Bob')"
        ),
    ]);
    let ws = Workspace::new();
    let mut pb = HEADER.to_string();
    pb += &system(
        "crm",
        "postgres",
        "${env:DSR_TEST_PG_URL}",
        &format!("    schema: {schema}\n    timeout: 1s\n    retries: 0\n"),
        "      users:\n        match: { email: identity.email }\n        fields: { \"Full Name\": { category: name } }\n        erase: delete\n",
    );
    ws.write("pb.yaml", &pb);
    let correct = |name: &str| {
        run(ws.dsr().args([
            "--json",
            "correct",
            "alice@example.com",
            "--set",
            &format!("crm.users.Full Name={name}"),
            "--playbook",
            "pb.yaml",
            "--yes",
        ]))
    };
    let name = || {
        pg_strings(&format!(
            "SELECT \"Full Name\" FROM {schema}.users WHERE id = 1"
        ))
    };

    // The row is locked by another session: the write gives up after the system's timeout.
    let rt = crate::support::runtime();
    let lock = hold_locks(
        &rt,
        &format!("SELECT 1 FROM {schema}.users WHERE id = 1 FOR UPDATE"),
    );
    let r = correct("AAA");
    assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
    let first = json_out(&r)["request_id"].as_str().unwrap().to_string();
    // The same correction again continues that request.
    let r = correct("AAA");
    assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
    assert!(
        r.stderr.contains(&format!("Resuming request {first}")),
        "{}",
        r.stderr
    );
    assert_eq!(name(), ["Alice"]);
    rt.block_on(async {
        use sqlx::Connection;
        lock.close().await.unwrap();
    });

    // Another value: a new request, which writes the new value.
    let r = correct("BBB");
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert!(!r.stderr.contains("Resuming"), "{}", r.stderr);
    assert_ne!(json_out(&r)["request_id"], first.as_str());
    assert_eq!(name(), ["BBB"]);

    // The failed request is still there, with its own values, for whoever means to finish it.
    let r = run(ws
        .dsr()
        .args(["--json", "--playbook", "pb.yaml", "resume", &first, "--yes"]));
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert!(
        r.stderr.contains(&format!("Resuming request {first}")),
        "{}",
        r.stderr
    );
    assert_eq!(name(), ["AAA"]);
    pg_exec(&[&format!("DROP SCHEMA {schema} CASCADE")]);
}
