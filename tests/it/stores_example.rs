//! `playbooks/examples/stores.yaml` against seed data made here: files on disk and Redis keys
//! (under the `example:` prefix, which only this test uses).

use crate::support::{
    Workspace, assert_manifest_matches, read_json, redis_clear, redis_conn, repo, run,
};
use serde_json::Value;
use std::fs;

fn redis(args: &[&str]) {
    let mut c = redis_conn();
    let mut cmd = redis::cmd(args[0]);
    for a in &args[1..] {
        cmd.arg(*a);
    }
    let _: redis::Value = cmd.query(&mut c).unwrap();
}

fn seed(ws: &Workspace) {
    fs::copy(
        repo().join("playbooks/examples/stores.yaml"),
        ws.path().join("stores.yaml"),
    )
    .unwrap();
    ws.write(
        "stores-data/customers.csv",
        "id,email,name\n7,alice@example.com,Alice\n8,bob@example.com,Bob\n",
    );
    ws.write("stores-data/uploads/7/passport.png", "alice's scan");
    ws.write("stores-data/uploads/8/passport.png", "bob's scan");
    ws.write(
        "stores-data/logs/app.jsonl",
        "{\"email\":\"alice@example.com\",\"action\":\"login\"}\n{\"email\":\"bob@example.com\",\"action\":\"login\"}\n",
    );
    redis_clear("example:");
    redis(&[
        "SET",
        "example:session:alice@example.com:s1",
        "t",
        "EX",
        "600",
    ]);
    redis(&["SET", "example:session:bob@example.com:s1", "t"]);
    redis(&[
        "HSET",
        "example:profile:7",
        "email",
        "alice@example.com",
        "name",
        "Alice",
        "plan",
        "tea",
    ]);
    redis(&[
        "HSET",
        "example:profile:8",
        "email",
        "bob@example.com",
        "name",
        "Bob",
    ]);
}

#[test]
fn the_stores_example_exports_and_erases_across_redis_and_files() {
    let ws = Workspace::new();
    seed(&ws);
    let url = crate::support::redis_url();
    let v = run(ws
        .dsr()
        .args(["validate", "stores.yaml"])
        .env("REDIS_URL", &url));
    assert_eq!(v.code, 0, "{}\n{}", v.stdout, v.stderr);

    let r = run(ws
        .dsr()
        .args([
            "--json",
            "export",
            "alice@example.com",
            "--playbook",
            "stores.yaml",
            "--out",
            "b",
        ])
        .env("REDIS_URL", &url));
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let out: Value = serde_json::from_str(&r.stdout).unwrap();
    let records: Vec<(String, u64)> = out["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                format!(
                    "{}.{}",
                    s["system"].as_str().unwrap(),
                    s["collection"].as_str().unwrap()
                ),
                s["records"].as_u64().unwrap(),
            )
        })
        .collect();
    for (step, n) in [
        ("accounts.customers", 1),
        ("uploads.documents", 1),
        ("uploads.audit_log", 1),
        ("cache.sessions", 1),
        ("cache.profile", 1),
    ] {
        assert!(
            records.contains(&(step.to_string(), n)),
            "{step}: {records:?}"
        );
    }
    let b = ws.path().join("b");
    assert_manifest_matches(&b);
    assert_eq!(
        fs::read_to_string(b.join("uploads/documents/uploads/7/passport.png")).unwrap(),
        "alice's scan"
    );
    assert_eq!(
        read_json(&b.join("cache/profile.json"))[0]["value"]["plan"],
        "tea"
    );

    let r = run(ws
        .dsr()
        .args([
            "--json",
            "erase",
            "alice@example.com",
            "--playbook",
            "stores.yaml",
            "--yes",
        ])
        .env("REDIS_URL", &url));
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let data = ws.path().join("stores-data");
    assert_eq!(
        fs::read_to_string(data.join("customers.csv")).unwrap(),
        "id,email,name\n8,bob@example.com,Bob\n"
    );
    assert!(!data.join("uploads/7").exists());
    assert!(data.join("uploads/8/passport.png").exists());
    assert!(
        fs::read_to_string(data.join("logs/app.jsonl"))
            .unwrap()
            .contains("alice@example.com"),
        "the audit log is kept, with its reason"
    );
    let mut c = redis_conn();
    let exists: i64 = redis::cmd("EXISTS")
        .arg("example:session:alice@example.com:s1")
        .query(&mut c)
        .unwrap();
    assert_eq!(exists, 0);
    let name: Option<String> = redis::cmd("HGET")
        .arg("example:profile:7")
        .arg("name")
        .query(&mut c)
        .unwrap();
    assert_eq!(name.as_deref(), Some("[redacted]"));
    let bob: Option<String> = redis::cmd("HGET")
        .arg("example:profile:8")
        .arg("name")
        .query(&mut c)
        .unwrap();
    assert_eq!(bob.as_deref(), Some("Bob"));
    redis_clear("example:");
}
