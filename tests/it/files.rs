//! The files connector in a temporary directory: whole files by path template copied into the
//! bundle with their hashes, CSV and JSON-lines rows, erase that deletes files and rewrites row
//! files atomically, verification, other people's data byte for byte, symbolic links never
//! followed, playbook errors with lines, and flat memory over a 100 MB CSV.

use crate::support::{HEADER, Workspace, assert_manifest_matches, peak_rss_kib, read_json, run};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::fs;
use std::path::Path;

const CSV: &str = "id,email,name,note\n\
42,alice@example.com,Alice,\"likes tea,\nand \"\"cake\"\"\"\n\
43,bob@example.com,Bob,plain\n\
\n\
44,alice@example.com,Alice A.,second account\r\n\
45,alice@example.com.evil,Mallory,near miss\n";

const CSV_WITHOUT_ALICE: &str = "id,email,name,note\n\
43,bob@example.com,Bob,plain\n\
\n\
45,alice@example.com.evil,Mallory,near miss\n";

const JSONL: &str = "{\"email\":\"alice@example.com\",\"event\":\"login\",\"n\":1}\n\
{\"email\":\"bob@example.com\",\"event\":\"login\",\"n\":2}\n\
{\"email\":\"alice@example.com\",\"event\":\"logout\",\"n\":3}";

/// Alice (user 42 and 44) and Bob (43): uploads, a CSV export of customers, an event log.
fn seed(ws: &Workspace) {
    let data = ws.path().join("data");
    for (rel, body) in [
        (
            "uploads/42/passport.jpg",
            &b"\xff\xd8\xff binary \x00 photo"[..],
        ),
        ("uploads/42/letters/2024-01.txt", b"Dear Alice"),
        ("uploads/44/cv.pdf", b"%PDF-1.7 alice"),
        ("uploads/43/bob.txt", b"Bob's file"),
        ("uploads/420/other.txt", b"not hers"),
        ("crm/customers.csv", CSV.as_bytes()),
        ("logs/events.jsonl", JSONL.as_bytes()),
    ] {
        let p = data.join(rel);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, body).unwrap();
    }
    // A link inside Alice's folder to a file outside the system's directory: never followed.
    fs::write(ws.path().join("outside.txt"), "secret elsewhere").unwrap();
    #[cfg(unix)]
    std::os::unix::fs::symlink(
        ws.path().join("outside.txt"),
        data.join("uploads/42/link.txt"),
    )
    .unwrap();
    let pb = format!(
        "{HEADER}  disk:\n    connector: files\n    path: data\n    purpose: Documents you sent us\n    legal_basis: contract\n    retention: 1 year\n    collections:\n\
         \x20     customers:\n        path: crm/customers.csv\n        format: csv\n        match: {{ email: identity.email }}\n        provides: {{ uid: id }}\n        erase: delete\n\
         \x20     events:\n        path: logs/*.jsonl\n        format: jsonl\n        match: {{ email: identity.email }}\n        erase: delete\n\
         \x20     uploads:\n        path: uploads/{{uid}}/*\n        match: {{ uid: customers.uid }}\n        erase: delete\n"
    );
    ws.write("pb.yaml", &pb);
}

fn sha(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

fn by(records: &Value, key: &str) -> std::collections::BTreeMap<String, Value> {
    records
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r[key].as_str().unwrap().to_string(), r.clone()))
        .collect()
}

#[test]
fn files_export_copies_files_and_rows_into_the_bundle() {
    let ws = Workspace::new();
    seed(&ws);
    let r = run(ws.dsr().args([
        "--json",
        "export",
        "alice@example.com",
        "--playbook",
        "pb.yaml",
        "--out",
        "b",
    ]));
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let b = ws.path().join("b");
    assert_manifest_matches(&b);

    let customers = read_json(&b.join("disk/customers.json"));
    let rows = customers.as_array().unwrap();
    assert_eq!(rows.len(), 2, "{customers}");
    assert_eq!(rows[0]["note"], "likes tea,\nand \"cake\"");
    assert_eq!(rows[0]["_file"], "crm/customers.csv");
    assert_eq!(
        rows[0]["_row"],
        sha(b"42,alice@example.com,Alice,\"likes tea,\nand \"\"cake\"\"\"")
    );
    assert_eq!(rows[1]["id"], "44");
    let events = read_json(&b.join("disk/events.json"));
    assert_eq!(events.as_array().unwrap().len(), 2);
    assert_eq!(events[1]["n"], 3, "JSON values keep their types");

    let uploads = by(&read_json(&b.join("disk/uploads.json")), "path");
    assert_eq!(
        uploads.keys().map(String::as_str).collect::<Vec<_>>(),
        [
            "uploads/42/letters/2024-01.txt",
            "uploads/42/passport.jpg",
            "uploads/44/cv.pdf"
        ],
        "her files only; the link is not followed"
    );
    for (rel, rec) in &uploads {
        let original = fs::read(ws.path().join("data").join(rel)).unwrap();
        let copied = fs::read(b.join("disk/uploads").join(rel)).unwrap();
        assert_eq!(copied, original, "{rel} copied byte for byte");
        assert_eq!(rec["sha256"], sha(&original));
        assert_eq!(rec["bytes"], original.len());
    }
    let manifest = fs::read_to_string(b.join("manifest.json")).unwrap();
    assert!(manifest.contains("disk/uploads/uploads/42/passport.jpg"));
    assert!(!manifest.contains("link.txt") && !manifest.contains("secret"));
    let index = fs::read_to_string(b.join("index.html")).unwrap();
    assert!(
        index.contains("disk/uploads/uploads/44/cv.pdf"),
        "the index links her files"
    );
}

#[test]
fn files_erase_deletes_files_and_rewrites_rows_leaving_others_byte_for_byte() {
    let ws = Workspace::new();
    seed(&ws);
    let data = ws.path().join("data");
    let bob = fs::read(data.join("uploads/43/bob.txt")).unwrap();
    let r = run(ws.dsr().args([
        "--json",
        "erase",
        "alice@example.com",
        "--playbook",
        "pb.yaml",
        "--yes",
    ]));
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let out: Value = serde_json::from_str(&r.stdout).unwrap();
    let disk = &out["systems"][0];
    assert_eq!(disk["status"], "done", "{disk}");
    for c in disk["collections"].as_array().unwrap() {
        assert_eq!(c["verified"], true, "{c}");
    }
    let deleted: Vec<u64> = disk["collections"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["deleted"].as_u64().unwrap())
        .collect();
    assert_eq!(deleted, [2, 2, 3], "customers, events, uploads");
    // The signed report records each rewrite: the file, the rows removed, and its hashes.
    let notes = |i: usize| disk["collections"][i]["notes"].clone();
    assert_eq!(
        notes(0),
        serde_json::json!([format!(
            "rewrote crm/customers.csv without 2 rows: {} -> {} bytes, sha256 {} -> {}",
            CSV.len(),
            CSV_WITHOUT_ALICE.len(),
            sha(CSV.as_bytes()),
            sha(CSV_WITHOUT_ALICE.as_bytes())
        )]),
        "{disk}"
    );
    let events_after = "{\"email\":\"bob@example.com\",\"event\":\"login\",\"n\":2}\n";
    assert_eq!(
        notes(1),
        serde_json::json!([format!(
            "rewrote a row file without 2 rows: {} -> {} bytes, sha256 {} -> {}",
            JSONL.len(),
            events_after.len(),
            sha(JSONL.as_bytes()),
            sha(events_after.as_bytes())
        )]),
        "a file found by a wildcard is not named"
    );
    assert_eq!(
        notes(2),
        Value::Null,
        "deleted files need no rewrite record"
    );
    let signed = read_json(Path::new(out["report"].as_str().unwrap()));
    let text = signed.to_string();
    assert!(
        text.contains(&sha(CSV_WITHOUT_ALICE.as_bytes())) && text.contains(&sha(JSONL.as_bytes())),
        "the signed report carries the rewrite records: {signed}"
    );
    let md =
        fs::read_to_string(Path::new(out["report"].as_str().unwrap()).with_file_name("report.md"))
            .unwrap();
    assert!(
        md.contains("- disk.customers: rewrote crm/customers.csv without 2 rows"),
        "{md}"
    );

    assert_eq!(
        fs::read_to_string(data.join("crm/customers.csv")).unwrap(),
        CSV_WITHOUT_ALICE
    );
    assert_eq!(
        fs::read_to_string(data.join("logs/events.jsonl")).unwrap(),
        "{\"email\":\"bob@example.com\",\"event\":\"login\",\"n\":2}\n"
    );
    assert!(!data.join("uploads/42/passport.jpg").exists());
    assert!(
        !data.join("uploads/44").exists(),
        "a folder named after her is removed once empty"
    );
    assert!(
        data.join("uploads/42/link.txt").symlink_metadata().is_ok(),
        "the link was not hers to follow or delete"
    );
    assert_eq!(
        fs::read_to_string(ws.path().join("outside.txt")).unwrap(),
        "secret elsewhere"
    );
    assert_eq!(fs::read(data.join("uploads/43/bob.txt")).unwrap(), bob);
    assert_eq!(
        fs::read_to_string(data.join("uploads/420/other.txt")).unwrap(),
        "not hers"
    );
    let leftovers: Vec<String> = walk(&data)
        .into_iter()
        .filter(|p| p.contains(".dsr-"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

fn walk(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for e in fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() && !p.is_symlink() {
            out.extend(walk(&p));
        } else {
            out.push(p.display().to_string());
        }
    }
    out
}

#[test]
fn files_settings_are_checked_with_their_lines() {
    let ws = Workspace::new();
    ws.write(
        "pb.yaml",
        r#"version: 1
organisation: T
identities: [email]
systems:
  disk:
    connector: files
    url: ${env:HOME}
    purpose: P
    legal_basis: contract
    retention: 1 day
    collections:
      a:
        path: ../etc/{email}
        match: { email: identity.email }
      b:
        path: "exports/{email}.csv"
        format: csv
        match: { email: identity.email }
      c:
        path: "x/{email}"
        format: xml
        match: { email: identity.email }
        erase: { mask: { email: redact } }
      d:
        keys: ["k:{email}"]
        match: { email: identity.email }
"#,
    );
    let r = run(ws.dsr().args(["validate", "pb.yaml"]));
    assert_eq!(r.code, 2, "{}\n{}", r.stdout, r.stderr);
    for e in [
        "pb.yaml:5:3: systems.disk: a files system needs `path`",
        "pb.yaml:7:5: systems.disk.url: `url` does not apply to files systems",
        "pb.yaml:13:15: systems.disk.collections.a.path: '../etc/{email}' has an empty, '.' or '..' segment",
        "pb.yaml:16:15: systems.disk.collections.b.path: 'exports/{email}.csv' has a placeholder, but with `format:`",
        "pb.yaml:21:17: systems.disk.collections.c.format: unknown file format 'xml'",
        "pb.yaml:23:16: systems.disk.collections.c.erase: files collections support `delete` and `keep`, not `mask`",
        "pb.yaml:25:9: systems.disk.collections.d.keys: `keys` does not apply to files systems",
        "pb.yaml:24:7: systems.disk.collections.d: a files collection needs `path:`",
    ] {
        assert!(r.stderr.contains(e), "missing {e:?} in:\n{}", r.stderr);
    }
}

/// A ~100 MB CSV with a few of Alice's rows spread through it: export and erase stream it, so
/// the process stays far below the file's size.
#[test]
fn files_a_100_mb_csv_is_exported_and_rewritten_in_flat_memory() {
    use std::io::Write;
    let ws = Workspace::new();
    let data = ws.path().join("data");
    fs::create_dir_all(&data).unwrap();
    let path = data.join("big.csv");
    let mut w = std::io::BufWriter::new(fs::File::create(&path).unwrap());
    writeln!(w, "id,email,name,comment").unwrap();
    let filler = "x".repeat(60);
    let rows = 1_200_000u64;
    let mut alice = 0;
    for i in 0..rows {
        if i % 100_000 == 7 {
            writeln!(w, "{i},alice@example.com,Alice,\"row {i}, hers\"").unwrap();
            alice += 1;
        } else {
            writeln!(w, "{i},user{i}@example.com,User {i},{filler}").unwrap();
        }
    }
    drop(w);
    let before = fs::metadata(&path).unwrap().len();
    assert!(before > 100_000_000, "{before} bytes");
    let pb = format!(
        "{HEADER}  disk:\n    connector: files\n    path: data\n    purpose: P\n    legal_basis: contract\n    retention: 1 day\n    timeout: 5m\n    collections:\n      big:\n        path: big.csv\n        format: csv\n        match: {{ email: identity.email }}\n        erase: delete\n"
    );
    ws.write("pb.yaml", &pb);

    let (code, out, kib) = peak_rss_kib(
        &ws,
        &[],
        &[
            "--no-progress",
            "export",
            "alice@example.com",
            "--playbook",
            "pb.yaml",
            "--out",
            "b",
        ],
    );
    assert_eq!(code, 0, "{out}");
    assert!(kib < 150 * 1024, "export peaked at {kib} KiB");
    let exported = read_json(&ws.path().join("b/disk/big.json"));
    assert_eq!(exported.as_array().unwrap().len(), alice);

    let (code, out, kib) = peak_rss_kib(
        &ws,
        &[],
        &[
            "--no-progress",
            "erase",
            "alice@example.com",
            "--playbook",
            "pb.yaml",
            "--yes",
        ],
    );
    assert_eq!(code, 0, "{out}");
    assert!(kib < 150 * 1024, "erase peaked at {kib} KiB");
    let text = fs::read_to_string(&path).unwrap();
    assert!(!text.contains("alice@example.com"));
    assert_eq!(text.lines().count() as u64, 1 + rows - alice as u64);
    let removed: u64 = (0..rows)
        .filter(|i| i % 100_000 == 7)
        .map(|i| format!("{i},alice@example.com,Alice,\"row {i}, hers\"\n").len() as u64)
        .sum();
    assert_eq!(fs::metadata(&path).unwrap().len(), before - removed);
    assert!(text.starts_with("id,email,name,comment\n0,user0@example.com,User 0,"));
}

#[test]
fn files_refuse_corrections_and_change_nothing() {
    let ws = Workspace::new();
    seed(&ws);
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
    assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
    let out: Value = serde_json::from_str(&r.stdout).unwrap();
    let error = out["systems"][0]["error"].as_str().unwrap();
    assert!(
        error.contains("changing rows of files (masks, corrections) is not supported"),
        "{error}"
    );
    assert_eq!(
        fs::read_to_string(ws.path().join("data/crm/customers.csv")).unwrap(),
        CSV
    );
}
