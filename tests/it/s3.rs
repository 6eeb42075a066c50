//! The S3 connector against a real S3-compatible server (moto in server mode, see
//! [`crate::support::moto_endpoint`]): objects by key templates and by user metadata copied
//! into the bundle byte for byte with their hashes, erase and verification on unversioned and
//! versioned buckets (every version and delete marker gone), other people's objects untouched,
//! wildcard templates, a large object streamed in bounded memory, a throttled store retried,
//! and playbook errors with their lines.

use crate::support::{
    S3_ENV, Workspace, assert_manifest_matches, moto_endpoint, peak_rss_kib, read_json, run,
    runtime,
};
use aws_sdk_s3::Client;
use aws_sdk_s3::primitives::ByteStream;
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

/// A client of the test server, as the tests' own hands (seeding and checking).
fn client() -> Client {
    let conf = aws_sdk_s3::Config::builder()
        .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
        .region(aws_sdk_s3::config::Region::new("us-east-1"))
        .endpoint_url(moto_endpoint())
        .force_path_style(true)
        .credentials_provider(aws_sdk_s3::config::Credentials::new(
            "testing", "testing", None, None, "tests",
        ))
        .http_client(aws_smithy_http_client::Builder::new().build_http())
        .build();
    Client::from_conf(conf)
}

/// A bucket of its own for each test (they share one server).
fn bucket(name: &str, versioned: bool) -> String {
    let bucket = format!("{name}-{}", std::process::id());
    create_bucket(&bucket, versioned);
    bucket
}

pub fn create_bucket(bucket: &str, versioned: bool) {
    runtime().block_on(async {
        let c = client();
        c.create_bucket().bucket(bucket).send().await.unwrap();
        if versioned {
            c.put_bucket_versioning()
                .bucket(bucket)
                .versioning_configuration(
                    aws_sdk_s3::types::VersioningConfiguration::builder()
                        .status(aws_sdk_s3::types::BucketVersioningStatus::Enabled)
                        .build(),
                )
                .send()
                .await
                .unwrap();
        }
    });
}

pub fn put(bucket: &str, key: &str, body: &[u8], meta: &[(&str, &str)]) {
    runtime().block_on(async {
        let mut req = client()
            .put_object()
            .bucket(bucket)
            .key(key)
            .body(ByteStream::from(body.to_vec()));
        for (k, v) in meta {
            req = req.metadata(*k, *v);
        }
        req.send().await.unwrap();
    });
}

pub fn delete(bucket: &str, key: &str) {
    runtime().block_on(async {
        client()
            .delete_object()
            .bucket(bucket)
            .key(key)
            .send()
            .await
            .unwrap();
    });
}

pub fn get(bucket: &str, key: &str) -> Option<Vec<u8>> {
    runtime().block_on(async {
        let out = client().get_object().bucket(bucket).key(key).send().await;
        match out {
            Ok(o) => Some(o.body.collect().await.unwrap().into_bytes().to_vec()),
            Err(_) => None,
        }
    })
}

/// Every stored version and delete marker under `prefix`: key -> (content of each version,
/// newest first; number of delete markers).
pub fn versions(bucket: &str, prefix: &str) -> BTreeMap<String, (Vec<Vec<u8>>, usize)> {
    runtime().block_on(async {
        let c = client();
        let out = c
            .list_object_versions()
            .bucket(bucket)
            .prefix(prefix)
            .send()
            .await
            .unwrap();
        let mut found: BTreeMap<String, (Vec<Vec<u8>>, usize)> = BTreeMap::new();
        for v in out.versions() {
            let key = v.key().unwrap().to_string();
            let body = c
                .get_object()
                .bucket(bucket)
                .key(&key)
                .set_version_id(v.version_id().map(String::from))
                .send()
                .await
                .unwrap()
                .body
                .collect()
                .await
                .unwrap()
                .into_bytes()
                .to_vec();
            found.entry(key).or_default().0.push(body);
        }
        for m in out.delete_markers() {
            found.entry(m.key().unwrap().to_string()).or_default().1 += 1;
        }
        found
    })
}

fn sha(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

fn playbook(ws: &Workspace, bucket: &str, extra: &str, collections: &str) {
    ws.write(
        "pb.yaml",
        &format!(
            "version: 1\norganisation: Test Org\nidentities: [email, user_id]\nsystems:\n  store:\n    connector: s3\n    bucket: {bucket}\n    endpoint: ${{env:DSR_TEST_S3_ENDPOINT}}\n{extra}    purpose: Documents you sent us\n    legal_basis: contract\n    retention: 1 year\n    collections:\n{collections}"
        ),
    );
}

const UPLOADS: &str = "      uploads:\n        keys: [\"uploads/{user_id}/\", \"avatars/{user_id}.png\"]\n        match: { user_id: identity.user_id }\n        erase: delete\n";

fn dsr(ws: &Workspace, args: &[&str]) -> crate::support::Ran {
    let mut cmd = ws.dsr();
    cmd.envs(S3_ENV)
        .env("DSR_TEST_S3_ENDPOINT", moto_endpoint())
        .args(args);
    // Nothing from the developer's own AWS setup.
    for v in [
        "AWS_PROFILE",
        "AWS_SESSION_TOKEN",
        "AWS_ENDPOINT_URL",
        "AWS_ENDPOINT_URL_S3",
        "AWS_ROLE_ARN",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
    ] {
        cmd.env_remove(v);
    }
    run(&mut cmd)
}

/// `dsr export` for Alice (user 42) into `b`, with `flags` first.
fn try_export(ws: &Workspace, flags: &[&str]) -> crate::support::Ran {
    let mut args = flags.to_vec();
    args.extend([
        "--json",
        "export",
        "alice@example.com",
        "--id",
        "user_id=42",
        "--playbook",
        "pb.yaml",
        "--out",
        "b",
    ]);
    dsr(ws, &args)
}

fn export(ws: &Workspace) -> Value {
    let r = try_export(ws, &[]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert_manifest_matches(&ws.path().join("b"));
    read_json(&ws.path().join("b/store/uploads.json"))
}

fn erase(ws: &Workspace) -> Value {
    let r = dsr(
        ws,
        &[
            "--json",
            "erase",
            "alice@example.com",
            "--id",
            "user_id=42",
            "--playbook",
            "pb.yaml",
            "--yes",
        ],
    );
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let out: Value = serde_json::from_str(&r.stdout).unwrap();
    let store = out["systems"][0].clone();
    assert_eq!(store["status"], "done", "{store}");
    store
}

fn by_key(records: &Value) -> BTreeMap<String, Value> {
    records
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["key"].as_str().unwrap().to_string(), r.clone()))
        .collect()
}

#[test]
fn s3_export_and_erase_on_an_unversioned_bucket_leave_others_byte_for_byte() {
    let b = bucket("plain", false);
    let passport = b"\xff\xd8\xff binary \x00 photo".to_vec();
    put(&b, "uploads/42/passport.jpg", &passport, &[]);
    put(
        &b,
        "uploads/42/letters/2024-01.txt",
        b"Dear Alice",
        &[("source", "scanner")],
    );
    put(&b, "uploads/42/", b"", &[]);
    put(&b, "avatars/42.png", b"PNG alice", &[]);
    let others = [
        ("avatars/42.png.bak", &b"not an exact match"[..]),
        ("uploads/420/other.txt", b"not hers"),
        ("uploads/43/bob.txt", b"Bob's file"),
    ];
    for (k, body) in others {
        put(&b, k, body, &[]);
    }
    let ws = Workspace::new();
    playbook(&ws, &b, "", UPLOADS);

    let records = by_key(&export(&ws));
    assert_eq!(
        records.keys().map(String::as_str).collect::<Vec<_>>(),
        [
            "avatars/42.png",
            "uploads/42/",
            "uploads/42/letters/2024-01.txt",
            "uploads/42/passport.jpg"
        ]
    );
    let bundle = ws.path().join("b/store/uploads");
    for (key, body) in [
        ("uploads/42/passport.jpg", &passport[..]),
        ("uploads/42/letters/2024-01.txt", b"Dear Alice"),
        ("avatars/42.png", b"PNG alice"),
    ] {
        assert_eq!(std::fs::read(bundle.join(key)).unwrap(), body, "{key}");
        assert_eq!(records[key]["sha256"], sha(body), "{key}");
        assert_eq!(records[key]["size"], body.len(), "{key}");
        assert!(records[key]["etag"].as_str().is_some_and(|e| !e.is_empty()));
    }
    assert_eq!(
        records["uploads/42/letters/2024-01.txt"]["metadata"]["source"],
        "scanner"
    );
    // A folder marker (a key ending in `/`) has a file name of its own in the bundle.
    assert_eq!(std::fs::read(bundle.join("uploads/42/%")).unwrap(), b"");
    assert!(records["uploads/42/passport.jpg"]["versions"].is_null());

    let store = erase(&ws);
    let coll = &store["collections"][0];
    assert_eq!(coll["deleted"], 4, "{coll}");
    assert_eq!(coll["verified"], true, "{coll}");
    for key in records.keys() {
        assert_eq!(get(&b, key), None, "{key} is gone");
    }
    for (k, body) in others {
        assert_eq!(get(&b, k).as_deref(), Some(body), "{k} untouched");
    }
}

#[test]
fn s3_erase_on_a_versioned_bucket_removes_every_version_and_delete_marker() {
    let b = bucket("versioned", true);
    for n in 1..=3 {
        put(&b, "uploads/42/cv.txt", format!("cv v{n}").as_bytes(), &[]);
    }
    // Deleted long ago, but its old version still holds her data.
    put(&b, "uploads/42/old.txt", b"old letter", &[]);
    delete(&b, "uploads/42/old.txt");
    put(&b, "uploads/43/cv.txt", b"bob v1", &[]);
    put(&b, "uploads/43/cv.txt", b"bob v2", &[]);
    let bob_before = versions(&b, "uploads/43/");
    let ws = Workspace::new();
    // The bucket's name by reference, as a playbook shared between environments has it.
    ws.write("bucket-name", &b);
    playbook(&ws, "${file:bucket-name}", "", UPLOADS);

    let records = by_key(&export(&ws));
    assert_eq!(records.len(), 2, "{records:?}");
    let cv = &records["uploads/42/cv.txt"];
    assert_eq!(cv["versions"], 3);
    assert_eq!(
        cv["sha256"],
        sha(b"cv v3"),
        "the current version is exported"
    );
    assert!(cv["version_id"].as_str().is_some());
    assert_eq!(
        std::fs::read(ws.path().join("b/store/uploads/uploads/42/cv.txt")).unwrap(),
        b"cv v3"
    );
    let old = &records["uploads/42/old.txt"];
    assert_eq!(old["versions"], 2, "one version and its delete marker");
    assert!(old["sha256"].is_null() && old["size"].is_null());
    assert!(
        !ws.path()
            .join("b/store/uploads/uploads/42/old.txt")
            .exists()
    );

    let store = erase(&ws);
    let coll = &store["collections"][0];
    assert_eq!(coll["deleted"], 2, "{coll}");
    assert_eq!(coll["verified"], true, "{coll}");
    let notes = coll["notes"].to_string();
    assert!(
        notes.contains("versions and delete markers removed: 5"),
        "{coll}"
    );
    assert!(
        versions(&b, "uploads/42/").is_empty(),
        "no version or delete marker of hers is left"
    );
    let bob_after = versions(&b, "uploads/43/");
    assert_eq!(bob_after, bob_before, "Bob's versions untouched");
    assert_eq!(bob_after["uploads/43/cv.txt"].0.len(), 2);
}

#[test]
fn s3_objects_selected_by_metadata_and_bounded_by_max_keys() {
    let b = bucket("metadata", false);
    put(
        &b,
        "documents/a.pdf",
        b"%PDF alice",
        &[("owner", "alice@example.com")],
    );
    put(
        &b,
        "documents/b.pdf",
        b"%PDF bob",
        &[("owner", "bob@example.com")],
    );
    put(&b, "documents/c.pdf", b"%PDF nobody", &[]);
    let collection = "      uploads:\n        keys: [\"documents/\"]\n        metadata: [owner]\n        match: { owner: identity.email }\n        erase: delete\n";
    let ws = Workspace::new();
    playbook(&ws, &b, "", collection);
    let records = by_key(&export(&ws));
    assert_eq!(
        records.keys().map(String::as_str).collect::<Vec<_>>(),
        ["documents/a.pdf"]
    );
    assert_eq!(
        records["documents/a.pdf"]["metadata"]["owner"],
        "alice@example.com"
    );

    // More candidates than `max_keys`: an error, not a silent cut.
    let capped = Workspace::new();
    playbook(&capped, &b, "    max_keys: 2\n", collection);
    let r = try_export(&capped, &[]);
    assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
    assert!(
        r.stdout.contains("more than 2 objects match"),
        "{}",
        r.stdout
    );

    let store = erase(&ws);
    assert_eq!(store["collections"][0]["deleted"], 1);
    assert_eq!(get(&b, "documents/a.pdf"), None);
    assert_eq!(get(&b, "documents/b.pdf").unwrap(), b"%PDF bob");
    assert_eq!(get(&b, "documents/c.pdf").unwrap(), b"%PDF nobody");
}

/// A 40 MB object is streamed into the bundle: byte for byte, and the process never holds it
/// (its peak memory stays within a few MB of a run that exports 5 bytes).
#[test]
fn s3_a_large_object_is_exported_byte_for_byte_in_bounded_memory() {
    let b = bucket("large", false);
    let mut body = Vec::with_capacity(40 << 20);
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    while body.len() < 40 << 20 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        body.extend_from_slice(&x.to_le_bytes());
    }
    put(&b, "uploads/42/video.bin", &body, &[]);
    put(&b, "uploads/7/note.txt", b"small", &[]);
    let ws = Workspace::new();
    playbook(&ws, &b, "    timeout: 2m\n", UPLOADS);
    let endpoint = moto_endpoint();
    let mut env: Vec<(&str, &str)> = S3_ENV.to_vec();
    env.push(("DSR_TEST_S3_ENDPOINT", endpoint));
    let export = |user: &str, out: &str| {
        let id = format!("user_id={user}");
        peak_rss_kib(
            &ws,
            &env,
            &[
                "--no-progress",
                "export",
                "alice@example.com",
                "--id",
                &id,
                "--playbook",
                "pb.yaml",
                "--out",
                out,
            ],
        )
    };
    // What the process needs anyway, with a 5-byte object.
    let (code, out, baseline) = export("7", "small");
    assert_eq!(code, 0, "{out}");
    let (code, out, kib) = export("42", "b");
    assert_eq!(code, 0, "{out}");
    let copied = std::fs::read(ws.path().join("b/store/uploads/uploads/42/video.bin")).unwrap();
    assert!(copied == body, "copied byte for byte");
    let records = by_key(&read_json(&ws.path().join("b/store/uploads.json")));
    assert_eq!(records["uploads/42/video.bin"]["sha256"], sha(&body));
    assert_manifest_matches(&ws.path().join("b"));
    assert!(
        kib < baseline + 16 * 1024,
        "export of a 40 MB object peaked at {kib} KiB, {baseline} KiB with a small one"
    );
}

#[test]
fn s3_playbook_errors_name_the_line_and_field() {
    let ws = Workspace::new();
    for (extra, collections, needle, line) in [
        (
            "",
            "      uploads:\n        keys: [\"uploads/{user_id}/\"]\n        match: { user_id: identity.user_id }\n        erase: { mask: { key: redact } }\n",
            "s3 collections support `delete` and `keep`, not `mask`",
            ":16:",
        ),
        (
            "    bucekt: other\n",
            UPLOADS,
            "did you mean 'bucket'?",
            ":9:",
        ),
        (
            "",
            "      uploads:\n        keys: [\"documents/\"]\n        match: { user_id: identity.user_id }\n",
            "put a `{NAME}` in it, or select the person's objects by `metadata:`",
            ":14:",
        ),
        (
            "",
            "      uploads:\n        keys: [\"uploads/{user_id}/\"]\n        match: { user_id: identity.user_id }\n        fields: { owner: { category: contact.email } }\n",
            "'owner' is not a column of s3 records",
            ":16:",
        ),
    ] {
        playbook(&ws, "b", extra, collections);
        let r = dsr(&ws, &["validate", "--playbook", "pb.yaml"]);
        assert_eq!(r.code, 2, "{}\n{}", r.stdout, r.stderr);
        assert!(r.stderr.contains(needle), "{}", r.stderr);
        assert!(r.stderr.contains(&format!("pb.yaml{line}")), "{}", r.stderr);
    }
    // No bucket at all.
    let text = std::fs::read_to_string(ws.path().join("pb.yaml")).unwrap();
    ws.write("pb.yaml", &text.replace("    bucket: b\n", ""));
    let r = dsr(&ws, &["validate", "--playbook", "pb.yaml"]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("pb.yaml:5:") && r.stderr.contains("an s3 system needs `bucket`"),
        "{}",
        r.stderr
    );
}

#[test]
fn s3_a_missing_bucket_fails_clearly_and_corrections_are_skipped() {
    let ws = Workspace::new();
    playbook(&ws, &format!("absent-{}", std::process::id()), "", UPLOADS);
    let r = try_export(&ws, &["-vv"]);
    assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
    assert!(
        r.stdout.contains("the bucket does not exist"),
        "{}",
        r.stdout
    );
    let report = std::fs::read_to_string(ws.path().join("b/report.json")).unwrap();
    for text in [&r.stdout, &r.stderr, &report] {
        assert!(
            !text.contains("dsr-test-secret-key"),
            "no credential in output, logs or the report"
        );
    }
    let r = dsr(
        &ws,
        &[
            "plan",
            "correct",
            "alice@example.com",
            "--id",
            "user_id=42",
            "--playbook",
            "pb.yaml",
        ],
    );
    assert!(
        r.stdout.contains("the s3 connector cannot correct"),
        "{}\n{}",
        r.stdout,
        r.stderr
    );
}

/// A store that answers the first `busy` requests with 503 SlowDown and passes the rest to
/// the test server: the endpoint, and how many requests were throttled.
fn throttling_proxy(busy: u32) -> (String, std::sync::Arc<std::sync::atomic::AtomicU32>) {
    use axum::body::{Body, to_bytes};
    use axum::extract::Request;
    use axum::response::Response;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU32, Ordering};
    let left = Arc::new(AtomicU32::new(busy));
    let throttled = Arc::new(AtomicU32::new(0));
    let upstream = moto_endpoint().to_string();
    let (l, t) = (left.clone(), throttled.clone());
    let app = axum::Router::new().fallback(move |req: Request| {
        let (l, t, upstream) = (l.clone(), t.clone(), upstream.clone());
        async move {
            if l.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                .is_ok()
            {
                t.fetch_add(1, Ordering::SeqCst);
                return Response::builder()
                    .status(503)
                    .header("content-type", "application/xml")
                    .body(Body::from(
                        "<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>",
                    ))
                    .unwrap();
            }
            let (parts, body) = req.into_parts();
            let url = format!(
                "{upstream}{}",
                parts.uri.path_and_query().map_or("/", |p| p.as_str())
            );
            let body = to_bytes(body, usize::MAX).await.unwrap();
            dsr::connectors::install_tls_provider();
            let mut out = reqwest::Client::new().request(parts.method, url).body(body);
            for (k, v) in &parts.headers {
                if k != "host" {
                    out = out.header(k, v);
                }
            }
            let answer = out.send().await.unwrap();
            let mut resp = Response::builder().status(answer.status());
            for (k, v) in answer.headers() {
                resp = resp.header(k, v);
            }
            resp.body(Body::from(answer.bytes().await.unwrap()))
                .unwrap()
        }
    });
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        runtime().block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            axum::serve(listener, app).await.unwrap();
        });
    });
    (format!("http://{addr}"), throttled)
}

/// The uploads playbook with the store at `endpoint`.
fn playbook_at(ws: &Workspace, bucket: &str, endpoint: &str, extra: &str) {
    playbook(ws, bucket, extra, UPLOADS);
    let text = std::fs::read_to_string(ws.path().join("pb.yaml")).unwrap();
    ws.write(
        "pb.yaml",
        &text.replace("${env:DSR_TEST_S3_ENDPOINT}", endpoint),
    );
}

#[test]
fn s3_a_throttled_store_is_retried_and_the_export_is_complete() {
    let b = bucket("busy", false);
    put(&b, "uploads/42/a.txt", b"alice", &[]);
    let (endpoint, throttled) = throttling_proxy(1);
    let ws = Workspace::new();
    playbook_at(&ws, &b, &endpoint, "    retries: 2\n");
    let records = by_key(&export(&ws));
    assert_eq!(throttled.load(std::sync::atomic::Ordering::SeqCst), 1);
    assert_eq!(records["uploads/42/a.txt"]["sha256"], sha(b"alice"));
    let report = read_json(&ws.path().join("b/report.json"));
    let coll = &report["systems"][0]["collections"][0];
    assert_eq!(coll["attempts"], 2, "{coll}");

    // Busy for longer than the retries: a failure that says so.
    let (endpoint, _) = throttling_proxy(100);
    let busy = Workspace::new();
    playbook_at(&busy, &b, &endpoint, "    retries: 1\n");
    let r = try_export(&busy, &[]);
    assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
    assert!(
        r.stdout.contains("SlowDown (the store is busy)"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("after 2 attempts"), "{}", r.stdout);
}

#[test]
fn s3_wildcard_templates_keep_only_the_keys_they_match() {
    let b = bucket("wildcards", false);
    for k in [
        "logs/42-2024.gz",
        "logs/42-2025/01.gz",
        "logs/420-2024.gz",
        "logs/42-notes.txt",
    ] {
        put(&b, k, k.as_bytes(), &[]);
    }
    let ws = Workspace::new();
    playbook(
        &ws,
        &b,
        "",
        "      uploads:\n        keys: [\"logs/{user_id}-*.gz\"]\n        match: { user_id: identity.user_id }\n        erase: delete\n",
    );
    let records = by_key(&export(&ws));
    assert_eq!(
        records.keys().map(String::as_str).collect::<Vec<_>>(),
        ["logs/42-2024.gz", "logs/42-2025/01.gz"],
        "`*` matches across `/`; 420 and .txt do not match"
    );
    assert_eq!(erase(&ws)["collections"][0]["deleted"], 2);
    assert!(get(&b, "logs/420-2024.gz").is_some() && get(&b, "logs/42-notes.txt").is_some());
}
