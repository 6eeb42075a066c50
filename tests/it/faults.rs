//! Fault injection with the real binary and real servers: a connection killed mid-request, a
//! system that hangs on a lock, a full disk, and kill -9 at several points of one request.
//! In every case nothing is lost, nothing is done twice, and the exit code and the report tell
//! the truth. Every wait is for a state (a blocked query, a journal row), never a sleep.

use crate::erase::{hold_locks, journal_value, wait_until};
use crate::support::{
    HEADER, Workspace, assert_manifest_matches, pg_exec, pg_strings, read_json, system,
};
use serde_json::Value;
use std::process::{Child, Command, Stdio};

/// A report collection's errors, as one text.
fn errors(collection: &Value) -> String {
    collection["errors"]
        .as_array()
        .unwrap_or_else(|| panic!("errors in {collection}"))
        .iter()
        .map(|e| e.as_str().unwrap_or_default())
        .collect::<Vec<_>>()
        .join("; ")
}

/// `dsr ARGS` in the background in `ws`, its output captured.
fn spawn(ws: &Workspace, args: &[&str]) -> Child {
    Command::new(assert_cmd::cargo::cargo_bin("dsr"))
        .args(args)
        .current_dir(ws.path())
        .env("DSR_STATE_DIR", ws.path().join(".dsr-state"))
        .env("DSR_TEST_PG_URL", crate::support::pg_url())
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

struct Finished {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

fn finish(child: Child) -> Finished {
    let out = child.wait_with_output().unwrap();
    let f = Finished {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    assert!(!f.stderr.contains("panicked"), "{}", f.stderr);
    f
}

fn json(f: &Finished) -> Value {
    serde_json::from_str(&f.stdout)
        .unwrap_or_else(|e| panic!("{e}: stdout={} stderr={}", f.stdout, f.stderr))
}

/// Process ids of dsr's PostgreSQL sessions that wait for a lock while running `query_like`.
fn blocked_pids(query_like: &str) -> Vec<String> {
    pg_strings(&format!(
        "SELECT pid::text FROM pg_stat_activity WHERE application_name = 'dsr' AND wait_event_type = 'Lock' AND query LIKE '{query_like}'"
    ))
}

fn terminate(pid: &str) {
    assert_eq!(
        pg_strings(&format!("SELECT pg_terminate_backend({pid})::text")),
        ["true"]
    );
}

fn rollback(rt: &tokio::runtime::Runtime, mut locker: sqlx::PgConnection) {
    rt.block_on(async {
        sqlx::raw_sql("ROLLBACK")
            .execute(&mut locker)
            .await
            .unwrap()
    });
}

/// users (email) -> notes (user_id), with a log of every row changed, for "nothing twice".
fn notes_schema(schema: &str) {
    pg_exec(&[
        &format!("DROP SCHEMA IF EXISTS {schema} CASCADE"),
        &format!("CREATE SCHEMA {schema}"),
        &format!("CREATE TABLE {schema}.users (id int PRIMARY KEY, email text, name text)"),
        &format!("CREATE TABLE {schema}.notes (id int PRIMARY KEY, user_id int, body text)"),
        &format!("CREATE TABLE {schema}.writes (tbl text, id int)"),
        &format!(
            "INSERT INTO {schema}.users VALUES (1, 'alice@example.com', 'Alice'), (2, 'bob@example.com', 'Bob')"
        ),
        &format!(
            "INSERT INTO {schema}.notes VALUES (1, 1, 'a1'), (2, 1, 'a2'), (3, 1, 'a3'), (4, 2, 'b1')"
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
}

fn notes_playbook(ws: &Workspace, schema: &str, settings: &str) {
    let mut pb = HEADER.to_string();
    pb += &system(
        "app",
        "postgres",
        "${env:DSR_TEST_PG_URL}",
        &format!("    schema: {schema}\n{settings}"),
        "      users:\n        match: { email: identity.email }\n        provides: { uid: id }\n        erase: delete\n      notes:\n        match: { user_id: users.uid }\n        erase: delete\n",
    );
    ws.write("pb.yaml", &pb);
}

fn writes(schema: &str) -> Vec<String> {
    pg_strings(&format!(
        "SELECT tbl || ':' || id FROM {schema}.writes ORDER BY tbl, id"
    ))
}

fn report_collection<'a>(report: &'a Value, system: &str, collection: &str) -> &'a Value {
    report["systems"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == system)
        .and_then(|s| {
            s["collections"]
                .as_array()
                .unwrap()
                .iter()
                .find(|c| c["collection"] == collection)
        })
        .unwrap_or_else(|| panic!("{system}.{collection} in {report}"))
}

/// The connection reading `notes` is terminated by the server while it waits for a lock: the
/// read is retried on a new connection and the export is complete, as if nothing happened.
#[test]
fn a_connection_killed_mid_read_is_retried_and_the_export_is_complete() {
    let schema = "dsr_it_fault_read";
    notes_schema(schema);
    let ws = Workspace::new();
    notes_playbook(&ws, schema, "    timeout: 120s\n    retries: 1\n");
    let rt = crate::support::runtime();
    let locker = hold_locks(
        &rt,
        &format!("LOCK TABLE {schema}.notes IN ACCESS EXCLUSIVE MODE;"),
    );
    let child = spawn(
        &ws,
        &[
            "--json",
            "export",
            "alice@example.com",
            "--playbook",
            "pb.yaml",
            "--out",
            "bundle",
        ],
    );
    let pattern = format!("%{schema}%notes%");
    let mut first = Vec::new();
    wait_until("the notes read waits for the lock", || {
        first = blocked_pids(&pattern);
        first.len() == 1
    });
    terminate(&first[0]);
    wait_until("the notes read is retried on a new connection", || {
        let now = blocked_pids(&pattern);
        now.len() == 1 && now != first
    });
    rollback(&rt, locker);
    let f = finish(child);
    assert_eq!(f.code, Some(0), "{}\n{}", f.stdout, f.stderr);
    let out = json(&f);
    let notes = out["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["collection"] == "notes")
        .unwrap();
    assert_eq!(
        (notes["attempts"].as_u64(), notes["records"].as_u64()),
        (Some(2), Some(3))
    );
    let bundle = ws.path().join("bundle");
    let exported = read_json(&bundle.join("app/notes.json"));
    let bodies: Vec<&str> = exported
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["body"].as_str().unwrap())
        .collect();
    assert_eq!(bodies, ["a1", "a2", "a3"], "nothing lost, nothing twice");
    assert_manifest_matches(&bundle);
    assert_eq!(read_json(&bundle.join("report.json"))["outcome"], "done");
    pg_exec(&[&format!("DROP SCHEMA {schema} CASCADE")]);
}

/// The connection writing is terminated while its DELETE waits for a lock: the transaction
/// rolls back, the system is reported failed (exit 1), and running again finishes the request
/// with every record changed exactly once.
#[test]
fn a_connection_killed_mid_write_rolls_back_and_a_rerun_finishes_once() {
    let schema = "dsr_it_fault_write";
    notes_schema(schema);
    let ws = Workspace::new();
    notes_playbook(&ws, schema, "    timeout: 120s\n    retries: 0\n");
    let rt = crate::support::runtime();
    let locker = hold_locks(
        &rt,
        &format!("SELECT * FROM {schema}.notes WHERE id = 2 FOR UPDATE;"),
    );
    let args = [
        "--json",
        "erase",
        "alice@example.com",
        "--playbook",
        "pb.yaml",
        "--yes",
        "--out",
        "report",
    ];
    let child = spawn(&ws, &args);
    let mut pids = Vec::new();
    wait_until("the notes delete waits for the lock", || {
        pids = blocked_pids(&format!("DELETE FROM \"{schema}\".\"notes\"%"));
        pids.len() == 1
    });
    terminate(&pids[0]);
    let f = finish(child);
    rollback(&rt, locker);
    assert_eq!(f.code, Some(1), "{}\n{}", f.stdout, f.stderr);
    let out = json(&f);
    assert_eq!(out["outcome"], "failed");
    let app = &out["systems"][0];
    assert_eq!(app["status"], "failed");
    assert!(
        app["error"]
            .as_str()
            .unwrap()
            .contains("rolled back, nothing changed"),
        "{app}"
    );
    assert!(
        writes(schema).is_empty(),
        "the killed transaction changed nothing"
    );
    let report = read_json(&ws.path().join("report/report.json"));
    assert_ne!(report["outcome"], "done");
    let notes = report_collection(&report, "app", "notes");
    assert!(notes["records_deleted"].is_null(), "{notes}");
    assert_eq!(notes["status"], "failed", "{notes}");
    assert!(
        errors(notes).contains("rolled back, nothing changed"),
        "{notes}"
    );

    let f = finish(spawn(&ws, &args));
    assert_eq!(f.code, Some(0), "{}\n{}", f.stdout, f.stderr);
    assert!(f.stderr.contains("Resuming request"), "{}", f.stderr);
    assert_eq!(writes(schema), ["notes:1", "notes:2", "notes:3", "users:1"]);
    assert_eq!(
        read_json(&ws.path().join("report/report.json"))["outcome"],
        "done"
    );
    pg_exec(&[&format!("DROP SCHEMA {schema} CASCADE")]);
}

/// A read that waits longer than the system's `timeout:` fails with a timeout; the collection
/// before it is exported, the report says which failed and why, exit 1.
#[test]
fn a_hanging_read_fails_with_a_timeout_and_the_report_says_so() {
    let schema = "dsr_it_fault_hang_read";
    notes_schema(schema);
    let ws = Workspace::new();
    notes_playbook(&ws, schema, "    timeout: 1s\n    retries: 0\n");
    let rt = crate::support::runtime();
    let locker = hold_locks(
        &rt,
        &format!("LOCK TABLE {schema}.notes IN ACCESS EXCLUSIVE MODE;"),
    );
    let f = finish(spawn(
        &ws,
        &[
            "--json",
            "export",
            "alice@example.com",
            "--playbook",
            "pb.yaml",
            "--out",
            "bundle",
        ],
    ));
    rollback(&rt, locker);
    assert_eq!(f.code, Some(1), "{}\n{}", f.stdout, f.stderr);
    let report = read_json(&ws.path().join("bundle/report.json"));
    assert_eq!(report["outcome"], "partial");
    let notes = report_collection(&report, "app", "notes");
    assert_eq!(notes["status"], "failed", "{notes}");
    assert!(errors(notes).contains("no answer within 1s"), "{notes}");
    assert_eq!(report_collection(&report, "app", "users")["status"], "done");
    assert!(!ws.path().join("bundle/app/notes.json").exists());
    assert_manifest_matches(&ws.path().join("bundle"));
    pg_exec(&[&format!("DROP SCHEMA {schema} CASCADE")]);
}

/// A write that waits longer than the system's `timeout:` is cancelled by the server: the
/// transaction rolls back, exit 1, and a later run (lock gone) finishes it once.
#[test]
fn a_hanging_write_times_out_rolls_back_and_a_rerun_finishes_once() {
    let schema = "dsr_it_fault_hang_write";
    notes_schema(schema);
    let ws = Workspace::new();
    notes_playbook(&ws, schema, "    timeout: 1s\n    retries: 0\n");
    let rt = crate::support::runtime();
    let locker = hold_locks(
        &rt,
        &format!("SELECT * FROM {schema}.notes WHERE id = 2 FOR UPDATE;"),
    );
    let args = [
        "--json",
        "erase",
        "alice@example.com",
        "--playbook",
        "pb.yaml",
        "--yes",
    ];
    let f = finish(spawn(&ws, &args));
    rollback(&rt, locker);
    assert_eq!(f.code, Some(1), "{}\n{}", f.stdout, f.stderr);
    let error = json(&f)["systems"][0]["error"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        error.contains("no answer within 1s") && error.contains("rolled back"),
        "{error}"
    );
    assert!(writes(schema).is_empty());
    let f = finish(spawn(&ws, &args));
    assert_eq!(f.code, Some(0), "{}\n{}", f.stdout, f.stderr);
    assert_eq!(writes(schema), ["notes:1", "notes:2", "notes:3", "users:1"]);
    pg_exec(&[&format!("DROP SCHEMA {schema} CASCADE")]);
}

/// The export directory fills up (a file-size limit stands in for a full disk): the collection
/// that could not be written fails with a clear reason, its partial files are removed, nothing
/// is reported as done that was not, exit 1.
#[test]
fn a_full_disk_fails_the_collection_clearly_and_reports_nothing_false() {
    let schema = "dsr_it_fault_disk";
    notes_schema(schema);
    // About 4 MB of Alice's notes: more than the 1 MiB limit below.
    pg_exec(&[&format!(
        "INSERT INTO {schema}.notes SELECT g, 1, repeat('x', 10000) FROM generate_series(100, 500) g"
    )]);
    let ws = Workspace::new();
    notes_playbook(&ws, schema, "    retries: 0\n");
    let out = Command::new("prlimit")
        .arg("--fsize=1048576")
        .arg("--")
        .arg(assert_cmd::cargo::cargo_bin("dsr"))
        .args([
            "--json",
            "export",
            "alice@example.com",
            "--playbook",
            "pb.yaml",
            "--out",
            "bundle",
        ])
        .current_dir(ws.path())
        .env("DSR_STATE_DIR", ws.path().join(".dsr-state"))
        .env("DSR_TEST_PG_URL", crate::support::pg_url())
        .stdin(Stdio::null())
        .output()
        .expect("prlimit (util-linux) runs");
    let f = Finished {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    assert!(!f.stderr.contains("panicked"), "{}", f.stderr);
    assert_eq!(
        f.code,
        Some(1),
        "not killed by SIGXFSZ\n{}\n{}",
        f.stdout,
        f.stderr
    );
    let report = read_json(&ws.path().join("bundle/report.json"));
    assert_eq!(report["outcome"], "partial");
    let notes = report_collection(&report, "app", "notes");
    assert_eq!(notes["status"], "failed", "{notes}");
    assert!(errors(notes).contains("File too large"), "{notes}");
    assert_eq!(report_collection(&report, "app", "users")["status"], "done");
    assert!(!ws.path().join("bundle/app/notes.json").exists());
    assert!(!ws.path().join("bundle/app/notes.csv").exists());
    assert_manifest_matches(&ws.path().join("bundle"));
    pg_exec(&[&format!("DROP SCHEMA {schema} CASCADE")]);
}

/// One erase killed with -9 at several points in turn (each run resumes the same request and
/// is killed at the next point), then run to the end: one request, every record changed
/// exactly once, nothing missed.
#[test]
fn kill_9_at_several_points_of_one_erase_then_resume_changes_everything_once() {
    let schema = "dsr_it_fault_kills";
    notes_schema(schema);
    pg_exec(&[
        &format!("CREATE TABLE {schema}.tags (id int PRIMARY KEY, user_id int, tag text)"),
        &format!("INSERT INTO {schema}.tags VALUES (1, 1, 'x'), (2, 1, 'y'), (3, 2, 'z')"),
        &format!(
            "CREATE TRIGGER log_tags AFTER UPDATE OR DELETE ON {schema}.tags FOR EACH ROW EXECUTE FUNCTION {schema}.log()"
        ),
        &format!("CREATE TABLE {schema}.subscribers (id int PRIMARY KEY, email text)"),
        &format!(
            "INSERT INTO {schema}.subscribers VALUES (1, 'alice@example.com'), (2, 'bob@example.com')"
        ),
        &format!(
            "CREATE TRIGGER log_subscribers AFTER UPDATE OR DELETE ON {schema}.subscribers FOR EACH ROW EXECUTE FUNCTION {schema}.log()"
        ),
    ]);
    let ws = Workspace::new();
    let mut pb = HEADER.to_string();
    pb += &system(
        "app",
        "postgres",
        "${env:DSR_TEST_PG_URL}",
        &format!("    schema: {schema}\n    timeout: 120s\n"),
        "      users:\n        match: { email: identity.email }\n        provides: { uid: id }\n        erase: delete\n      notes:\n        match: { user_id: users.uid }\n        erase: delete\n      tags:\n        match: { user_id: users.uid }\n        erase:\n          mask: { tag: redact }\n",
    );
    pb += &system(
        "mail",
        "postgres",
        "${env:DSR_TEST_PG_URL}",
        &format!("    schema: {schema}\n    timeout: 120s\n"),
        "      subscribers:\n        match: { email: identity.email }\n        erase: delete\n",
    );
    ws.write("pb.yaml", &pb);
    let args = [
        "--json",
        "erase",
        "alice@example.com",
        "--playbook",
        "pb.yaml",
        "--yes",
        "--out",
        "report",
    ];
    let rt = crate::support::runtime();
    let step_done = |collection: &str| {
        journal_value(
            &rt,
            &ws,
            &format!("SELECT outcome FROM journal_steps WHERE collection = '{collection}'"),
        )
        .is_some_and(|o| o.contains("\"done\""))
    };
    let write_state = |system: &str| {
        journal_value(
            &rt,
            &ws,
            &format!("SELECT status FROM journal_writes WHERE system = '{system}'"),
        )
    };
    // Each kill point: a lock the test holds, and the state to wait for before kill -9.
    type Ready<'a> = Box<dyn Fn() -> bool + 'a>;
    let points: Vec<(&str, String, Ready)> = vec![
        (
            "reading notes and tags, users read and journaled",
            format!("LOCK TABLE {schema}.notes, {schema}.tags IN ACCESS EXCLUSIVE MODE;"),
            Box::new(|| {
                step_done("users") && blocked_pids(&format!("%{schema}%notes%")).len() == 1
            }),
        ),
        (
            "reading tags, notes read and journaled",
            format!("LOCK TABLE {schema}.tags IN ACCESS EXCLUSIVE MODE;"),
            Box::new(|| step_done("notes") && blocked_pids(&format!("%{schema}%tags%")).len() == 1),
        ),
        (
            "writing app, mail written and verified",
            format!("SELECT * FROM {schema}.tags WHERE id = 1 FOR UPDATE;"),
            Box::new(|| {
                write_state("mail").as_deref() == Some("verified")
                    && !blocked_pids(&format!("UPDATE \"{schema}\".\"tags\"%")).is_empty()
            }),
        ),
        (
            "writing app again, after a resume",
            format!("SELECT * FROM {schema}.notes WHERE id = 3 FOR UPDATE;"),
            Box::new(|| blocked_pids(&format!("DELETE FROM \"{schema}\".\"notes\"%")).len() == 1),
        ),
    ];
    for (i, (what, lock, ready)) in points.iter().enumerate() {
        let locker = hold_locks(&rt, lock);
        let mut child = spawn(&ws, &args);
        wait_until(what, ready);
        child.kill().unwrap();
        let f = finish(child);
        assert_eq!(f.code, None, "killed by a signal at: {what}");
        if i > 0 {
            assert!(
                f.stderr.contains("Resuming request"),
                "{what}: {}",
                f.stderr
            );
        }
        rollback(&rt, locker);
        // Only the mail system may have been written, and only once.
        let w = writes(schema);
        assert!(
            w.is_empty() || w == ["subscribers:1"],
            "after the kill at {what}: {w:?}"
        );
    }
    let f = finish(spawn(&ws, &args));
    assert_eq!(f.code, Some(0), "{}\n{}", f.stdout, f.stderr);
    assert!(f.stderr.contains("Resuming request"), "{}", f.stderr);
    assert_eq!(
        writes(schema),
        [
            "notes:1",
            "notes:2",
            "notes:3",
            "subscribers:1",
            "tags:1",
            "tags:2",
            "users:1"
        ],
        "every record changed exactly once"
    );
    assert_eq!(
        pg_strings(&format!("SELECT tag FROM {schema}.tags ORDER BY id")),
        ["[redacted]", "[redacted]", "z"]
    );
    assert_eq!(
        journal_value(
            &rt,
            &ws,
            "SELECT count(*) || ':' || min(status) FROM journal_requests"
        )
        .as_deref(),
        Some("1:done"),
        "one request from the first run to the last"
    );
    let report = read_json(&ws.path().join("report/report.json"));
    assert_eq!(report["outcome"], "done");
    assert_eq!(
        report_collection(&report, "app", "notes")["records_deleted"],
        3
    );
    pg_exec(&[&format!("DROP SCHEMA {schema} CASCADE")]);
}

/// The same on MariaDB: a write waiting for a row lock longer than `timeout:` gives up (InnoDB's
/// lock wait, set from the timeout), rolls back, exit 1; a rerun finishes it.
#[test]
fn a_hanging_mariadb_write_times_out_and_rolls_back() {
    use crate::support::{mysql_exec, mysql_strings};
    use sqlx::Connection;
    let db = "dsr_it_fault_hang_mysql";
    mysql_exec(&[
        &format!("DROP DATABASE IF EXISTS {db}"),
        &format!("CREATE DATABASE {db}"),
        &format!("CREATE TABLE {db}.users (id INT PRIMARY KEY, email VARCHAR(100))"),
        &format!("CREATE TABLE {db}.visits (id INT PRIMARY KEY, user_id INT, page VARCHAR(50))"),
        &format!("INSERT INTO {db}.users VALUES (1, 'alice@example.com'), (2, 'bob@example.com')"),
        &format!("INSERT INTO {db}.visits VALUES (1, 1, '/a'), (2, 1, '/b'), (3, 2, '/c')"),
    ]);
    let ws = Workspace::new();
    let mut pb = HEADER.to_string();
    pb += &system(
        "site",
        "mariadb",
        "${env:DSR_TEST_MYSQL_URL}",
        &format!("    schema: {db}\n    timeout: 1s\n    retries: 0\n"),
        "      users:\n        match: { email: identity.email }\n        provides: { uid: id }\n        erase: delete\n      visits:\n        match: { user_id: users.uid }\n        erase: delete\n",
    );
    ws.write("pb.yaml", &pb);
    let rt = crate::support::runtime();
    let mut locker = rt.block_on(async {
        let mut c = sqlx::MySqlConnection::connect(&crate::support::mysql_url())
            .await
            .unwrap();
        sqlx::raw_sql(&format!(
            "BEGIN; SELECT * FROM {db}.visits WHERE id = 2 FOR UPDATE;"
        ))
        .execute(&mut c)
        .await
        .unwrap();
        c
    });
    let args = [
        "--json",
        "erase",
        "alice@example.com",
        "--playbook",
        "pb.yaml",
        "--yes",
    ];
    let run = || {
        let out = Command::new(assert_cmd::cargo::cargo_bin("dsr"))
            .args(args)
            .current_dir(ws.path())
            .env("DSR_STATE_DIR", ws.path().join(".dsr-state"))
            .env("DSR_TEST_MYSQL_URL", crate::support::mysql_url())
            .stdin(Stdio::null())
            .output()
            .unwrap();
        Finished {
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    };
    let f = run();
    rt.block_on(async {
        sqlx::raw_sql("ROLLBACK")
            .execute(&mut locker)
            .await
            .unwrap()
    });
    assert_eq!(f.code, Some(1), "{}\n{}", f.stdout, f.stderr);
    let error = json(&f)["systems"][0]["error"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        error.contains("no answer within 1s") && error.contains("rolled back"),
        "{error}"
    );
    assert_eq!(
        mysql_strings(&format!("SELECT CAST(COUNT(*) AS CHAR) FROM {db}.visits")),
        ["3"]
    );
    let f = run();
    assert_eq!(f.code, Some(0), "{}\n{}", f.stdout, f.stderr);
    assert_eq!(
        mysql_strings(&format!(
            "SELECT CAST(GROUP_CONCAT(id) AS CHAR) FROM {db}.visits"
        )),
        ["3"]
    );
    mysql_exec(&[&format!("DROP DATABASE {db}")]);
}

/// A playbook with one PostgreSQL and one MariaDB system on ports where nothing listens.
fn refused_playbook(ws: &Workspace) {
    let mut pb = HEADER.to_string();
    for (name, connector, url) in [
        ("pg", "postgres", "postgres://postgres@127.0.0.1:1/test"),
        ("my", "mariadb", "mysql://root@127.0.0.1:2/test"),
    ] {
        // The driver's pool would wait out the whole timeout for each of the four calls.
        pb += &system(
            name,
            connector,
            url,
            "    timeout: 20s\n",
            "      users:\n        match: { email: identity.email }\n        erase: delete\n",
        );
    }
    ws.write("pb.yaml", &pb);
}

#[test]
fn a_refused_connection_fails_at_once_and_says_what_is_retried() {
    let ws = Workspace::new();
    refused_playbook(&ws);
    let r = crate::support::run(ws.dsr().args(["validate", "--connect", "pb.yaml"]));
    assert_eq!(r.code, 2, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stderr.contains(
            "pb.yaml:13:7: systems.pg.collections.users: cannot connect: connection refused"
        ) && r.stderr.contains(
            "pb.yaml:24:7: systems.my.collections.users: cannot connect: connection refused"
        ),
        "{}",
        r.stderr
    );

    let r = crate::support::run(ws.dsr().env_remove("NO_COLOR").args([
        "export",
        "alice@example.com",
        "--playbook",
        "pb.yaml",
        "--no-progress",
        "--out",
        "b",
    ]));
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    // Each retry is shown, with what failed; in a pipe, without colour codes.
    let retries: Vec<&str> = r
        .stderr
        .lines()
        .filter(|l| l.contains("transient failure, retrying"))
        .collect();
    assert_eq!(retries.len(), 6, "{}", r.stderr);
    for line in &retries {
        assert!(
            line.contains("error=cannot connect: connection refused"),
            "{line}"
        );
    }
    assert!(
        !r.stderr.contains('\u{1b}'),
        "colour codes in a pipe: {}",
        r.stderr
    );
    let report = read_json(&ws.path().join("b/report.json"));
    for sys in ["pg", "my"] {
        let c = report_collection(&report, sys, "users");
        assert!(
            errors(c).contains("cannot connect: connection refused (after 4 attempts)"),
            "{c}"
        );
        // Refused is known at once: all four calls end before one call's timeout would.
        let ms = c["duration_ms"]
            .as_u64()
            .unwrap_or_else(|| panic!("duration in {c}"));
        assert!(ms < 20_000, "{sys}: {ms} ms for a refused connection");
    }
}

#[test]
fn slow_statement_warnings_of_the_driver_show_only_with_verbose() {
    let schema = "dsr_it_slow";
    pg_exec(&[
        &format!("DROP SCHEMA IF EXISTS {schema} CASCADE"),
        &format!("CREATE SCHEMA {schema}"),
        &format!("CREATE TABLE {schema}.people (id int PRIMARY KEY, email text)"),
        &format!("INSERT INTO {schema}.people VALUES (1, 'alice@example.com')"),
        // Reading the view takes over a second: the driver calls that a slow statement.
        &format!(
            "CREATE VIEW {schema}.slow_people AS SELECT p.*, pg_sleep(1.2)::text AS waited FROM {schema}.people p"
        ),
    ]);
    let ws = Workspace::new();
    let mut pb = HEADER.to_string();
    pb += &system(
        "app",
        "postgres",
        "${env:DSR_TEST_PG_URL}",
        &format!("    schema: {schema}\n"),
        "      slow_people:\n        match: { email: identity.email }\n        erase: { keep: true, because: test }\n",
    );
    ws.write("pb.yaml", &pb);
    let export = |extra: &[&str], out: &str| {
        let mut args = extra.to_vec();
        args.extend([
            "export",
            "alice@example.com",
            "--playbook",
            "pb.yaml",
            "--no-progress",
            "--out",
            out,
        ]);
        crate::support::run(ws.dsr().args(&args))
    };
    let quiet = export(&[], "a");
    assert_eq!(quiet.code, 0, "{}", quiet.stderr);
    assert!(!quiet.stderr.contains("slow statement"), "{}", quiet.stderr);
    let verbose = crate::support::run(ws.dsr().env_remove("NO_COLOR").args([
        "-v",
        "export",
        "alice@example.com",
        "--playbook",
        "pb.yaml",
        "--no-progress",
        "--out",
        "b",
    ]));
    assert_eq!(verbose.code, 0, "{}", verbose.stderr);
    assert!(
        verbose.stderr.contains("slow statement"),
        "{}",
        verbose.stderr
    );
    assert!(!verbose.stderr.contains('\u{1b}'), "{}", verbose.stderr);
}
