//! `playbooks/examples/stores.yaml` against seed data made here: files on disk, Redis keys
//! (under the `example:` prefix, which only this test uses) and a versioned bucket on the
//! tests' own S3-compatible server.

use crate::s3::{create_bucket, delete, get, put, versions};
use crate::support::{
    S3_ENV, Workspace, assert_manifest_matches, moto_endpoint, read_json, redis_clear, redis_conn,
    repo, run,
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

/// The example's bucket.
const BUCKET: &str = "acme-tea-media";

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
    // The server is the test run's own, so the example's fixed bucket name is free.
    let bucket = BUCKET;
    create_bucket(bucket, true);
    put(bucket, "avatars/7.jpg", b"alice's old face", &[]);
    put(bucket, "avatars/7.jpg", b"alice's face", &[]);
    put(bucket, "photos/7/teapot.jpg", b"teapot", &[]);
    put(bucket, "avatars/8.jpg", b"bob's face", &[]);
    put(
        bucket,
        "receipts/r1.pdf",
        b"alice's receipt",
        &[("customer", "alice@example.com")],
    );
    put(
        bucket,
        "receipts/r2.pdf",
        b"bob's receipt",
        &[("customer", "bob@example.com")],
    );
    put(
        bucket,
        "receipts/r3.pdf",
        b"deleted receipt",
        &[("customer", "alice@example.com")],
    );
    delete(bucket, "receipts/r3.pdf");
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
        .env("REDIS_URL", &url)
        .envs(S3_ENV)
        .env("AWS_ENDPOINT_URL", moto_endpoint()));
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
        .env("REDIS_URL", &url)
        .envs(S3_ENV)
        .env("AWS_ENDPOINT_URL", moto_endpoint()));
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
        ("media.photos", 2),
        // r3 was deleted in the app, but its old version still holds her data.
        ("media.receipts", 2),
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
    assert_eq!(
        fs::read_to_string(b.join("media/photos/avatars/7.jpg")).unwrap(),
        "alice's face"
    );
    assert_eq!(read_json(&b.join("media/photos.json"))[0]["versions"], 2);
    assert_eq!(
        fs::read_to_string(b.join("media/receipts/receipts/r1.pdf")).unwrap(),
        "alice's receipt"
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
        .env("REDIS_URL", &url)
        .envs(S3_ENV)
        .env("AWS_ENDPOINT_URL", moto_endpoint()));
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
    let left: Vec<String> = versions(BUCKET, "").into_keys().collect();
    assert_eq!(
        left,
        ["avatars/8.jpg", "receipts/r2.pdf"],
        "every version of her photos and receipts is gone, the deleted receipt's too"
    );
    assert_eq!(get(BUCKET, "avatars/8.jpg").unwrap(), b"bob's face");
}
