//! Evidence of a request: the signed report (checked by the real `ssh-keygen` and by
//! `dsr verify`), deadlines, the ledger and the audit log.

use crate::export_sqlite::demo_workspace;
use crate::support::{Ran, Workspace, read_json, run};
use std::path::{Path, PathBuf};
use std::process::Command;

const SSH_KEYGEN: &str = "/usr/bin/ssh-keygen";

/// Exports alice (or `who`) into `out` with extra flags; asserts success.
fn export(ws: &Workspace, who: &str, out: &str, extra: &[&str]) -> Ran {
    let r = run(ws
        .dsr()
        .args(["export", who, "--playbook", "demo.yaml", "--out", out, "-q"])
        .args(extra));
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    r
}

fn state(ws: &Workspace) -> PathBuf {
    ws.path().join(".dsr-state")
}

fn ssh_verify(allowed_signers: &Path, signer: &str, report: &Path) -> std::process::Output {
    let mut sig = report.as_os_str().to_owned();
    sig.push(".sig");
    Command::new(SSH_KEYGEN)
        .args(["-Y", "verify", "-f"])
        .arg(allowed_signers)
        .args(["-I", signer, "-n", "dsr-report", "-s"])
        .arg(sig)
        .stdin(std::fs::File::open(report).unwrap())
        .output()
        .expect("ssh-keygen is installed (apt-get install openssh-client)")
}

fn flip_byte(path: &Path, needle: &[u8]) {
    let mut bytes = std::fs::read(path).unwrap();
    let at = bytes
        .windows(needle.len())
        .position(|w| w == needle)
        .unwrap_or_else(|| panic!("{} lacks {:?}", path.display(), needle));
    bytes[at] ^= 0x01;
    std::fs::write(path, bytes).unwrap();
}

#[test]
fn ssh_keygen_accepts_a_demo_report_and_rejects_one_flipped_byte() {
    let ws = demo_workspace();
    let r = export(&ws, "alice@example.com", "b", &[]);
    // The key was created on first use, and the user was told in one line.
    let notes: Vec<&str> = r
        .stderr
        .lines()
        .filter(|l| l.contains("signing key"))
        .collect();
    assert_eq!(notes.len(), 1, "{}", r.stderr);
    assert!(!r.stderr.contains("PRIVATE KEY"));
    let report = ws.path().join("b/report.json");
    let allowed = state(&ws).join("allowed_signers");
    let ok = ssh_verify(&allowed, "dsr", &report);
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    assert!(String::from_utf8_lossy(&ok.stdout).contains("Good \"dsr-report\" signature for dsr"));
    // A second export reuses the key: no second note.
    let r = export(&ws, "bob@example.com", "b2", &[]);
    assert!(!r.stderr.contains("signing key"), "{}", r.stderr);

    flip_byte(&report, b"\"done\"");
    let bad = ssh_verify(&allowed, "dsr", &report);
    assert!(!bad.status.success());
    let r = run(ws.dsr().args(["verify", "b/report.json"]));
    assert_eq!(r.code, 1, "{}", r.stdout);
    assert!(
        r.stdout
            .contains("report.json was changed after it was signed"),
        "{}",
        r.stdout
    );
}

#[test]
fn verify_accepts_an_intact_bundle_and_names_each_changed_missing_or_extra_file() {
    let ws = demo_workspace();
    export(&ws, "alice@example.com", "b", &[]);
    let r = run(ws.dsr().args(["verify", "b/report.json"]));
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("VALID"), "{}", r.stdout);
    assert!(r.stdout.contains("20 of 20 listed files"), "{}", r.stdout);

    // Copy the report elsewhere and point --bundle at the bundle.
    std::fs::copy(ws.path().join("b/report.json"), ws.path().join("r.json")).unwrap();
    std::fs::copy(
        ws.path().join("b/report.json.sig"),
        ws.path().join("r.json.sig"),
    )
    .unwrap();
    flip_byte(&ws.path().join("b/shop/orders.json"), b"5001");
    std::fs::remove_file(ws.path().join("b/support/tickets.csv")).unwrap();
    ws.write("b/notes.txt", "added later");
    let r = run(ws.dsr().args(["verify", "r.json", "--bundle", "b"]));
    assert_eq!(r.code, 1, "{}", r.stdout);
    for needle in [
        "ok: signature of r.json by dsr",
        "FAILED: changed: shop/orders.json",
        "FAILED: missing: support/tickets.csv",
        "FAILED: extra: notes.txt",
        "INVALID",
    ] {
        assert!(r.stdout.contains(needle), "lacks {needle}:\n{}", r.stdout);
    }
    // Nothing else is blamed.
    assert_eq!(r.stdout.matches("FAILED").count(), 3, "{}", r.stdout);

    // Machine-readable too.
    let r = run(ws
        .dsr()
        .args(["--json", "verify", "r.json", "--bundle", "b"]));
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["valid"], false);
    assert_eq!(v["problems"].as_array().unwrap().len(), 3);
}

#[test]
fn verify_names_a_wrong_key_and_a_missing_signature() {
    let ws = demo_workspace();
    export(&ws, "alice@example.com", "b", &[]);
    let r = run(ws
        .dsr()
        .args(["keys", "generate", "--out", "other", "--signer", "mallory"]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    let r = run(ws
        .dsr()
        .args(["verify", "b/report.json", "--key", "other/signing_key.pub"]));
    assert_eq!(r.code, 1);
    assert!(
        r.stdout.contains("signed by a different key"),
        "{}",
        r.stdout
    );
    // The auditor's allowed_signers file works as --key too.
    let allowed = state(&ws).join("allowed_signers");
    let r = run(ws
        .dsr()
        .args(["verify", "b/report.json", "--key"])
        .arg(&allowed));
    assert_eq!(r.code, 0, "{}", r.stdout);

    std::fs::remove_file(ws.path().join("b/report.json.sig")).unwrap();
    let r = run(ws.dsr().args(["verify", "b/report.json"]));
    assert_eq!(r.code, 1);
    assert!(
        r.stdout.contains("report.json.sig is missing"),
        "{}",
        r.stdout
    );

    // Usage errors exit 2.
    let r = run(ws.dsr().args(["verify", "nope.json"]));
    assert_eq!(r.code, 2);
    let r = run(ws.dsr().arg("verify"));
    assert_eq!(r.code, 2);
}

#[cfg(unix)]
#[test]
fn keys_generate_writes_a_private_key_it_never_prints_and_never_replaces() {
    use std::os::unix::fs::PermissionsExt;
    let ws = Workspace::new();
    let r = run(ws.dsr().args([
        "keys",
        "generate",
        "--signer",
        "privacy@example.com",
        "--out",
        "k",
    ]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(!r.stdout.contains("PRIVATE KEY") && !r.stderr.contains("PRIVATE KEY"));
    assert!(r.stdout.contains(
        "ssh-keygen -Y verify -f allowed_signers -I privacy@example.com -n dsr-report -s report.json.sig < report.json"
    ), "{}", r.stdout);
    let mode = |p: &str| {
        std::fs::metadata(ws.path().join(p))
            .unwrap()
            .permissions()
            .mode()
            & 0o777
    };
    assert_eq!(mode("k/signing_key"), 0o600);
    assert_eq!(mode("k"), 0o700);
    let key = std::fs::read_to_string(ws.path().join("k/signing_key")).unwrap();
    assert!(key.starts_with("-----BEGIN OPENSSH PRIVATE KEY-----"));
    let line = std::fs::read_to_string(ws.path().join("k/allowed_signers")).unwrap();
    assert!(line.starts_with("privacy@example.com namespaces=\"dsr-report\" ssh-ed25519 "));
    let again = run(ws.dsr().args(["keys", "generate", "--out", "k"]));
    assert_eq!(again.code, 2);
    assert!(again.stderr.contains("already exists"), "{}", again.stderr);
    assert_eq!(
        std::fs::read_to_string(ws.path().join("k/signing_key")).unwrap(),
        key
    );
}

#[test]
fn a_real_report_validates_against_the_published_schema() {
    let schema: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(crate::support::repo().join("schemas/report.schema.json"))
            .unwrap(),
    )
    .unwrap();
    let validator = jsonschema::validator_for(&schema).expect("the schema compiles");
    let ws = demo_workspace();
    export(
        &ws,
        "alice@example.com",
        "b",
        &["--operator", "dpo@acme-tea.example"],
    );
    export(&ws, "nobody@example.com", "n", &["--include-identity"]);
    // An erase report has the counts of what changed; both shapes are described.
    let r = run(ws.dsr().args([
        "erase",
        "alice@example.com",
        "--playbook",
        "demo.yaml",
        "--yes",
        "--out",
        "e",
        "-q",
    ]));
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    for bundle in ["b", "n", "e"] {
        let report = read_json(&ws.path().join(bundle).join("report.json"));
        let errors: Vec<String> = validator
            .iter_errors(&report)
            .map(|e| format!("{} at {}", e, e.instance_path))
            .collect();
        assert!(errors.is_empty(), "{bundle}: {errors:#?}");
    }
    // The schema is strict: an unknown field is an error.
    let mut report = read_json(&ws.path().join("b/report.json"));
    report["surprise"] = serde_json::json!(1);
    assert!(!validator.is_valid(&report));
    // An export with an erase count, or an erase without one, is not a report dsr writes.
    let mut report = read_json(&ws.path().join("b/report.json"));
    report["systems"][0]["collections"][0]["verified_erased"] = serde_json::json!(true);
    assert!(!validator.is_valid(&report));
    let mut report = read_json(&ws.path().join("e/report.json"));
    let collection = report["systems"][0]["collections"][0]
        .as_object_mut()
        .unwrap();
    assert!(collection.remove("verified_erased").is_some());
    assert!(!validator.is_valid(&report));

    let b = read_json(&ws.path().join("b/report.json"));
    assert_eq!(b["operator"], "dpo@acme-tea.example");
    assert_eq!(b["action"], "export");
    assert_eq!(b["subject"]["identities"], serde_json::Value::Null);
    let orders = b["systems"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "shop")
        .unwrap()["collections"][0]
        .clone();
    assert_eq!(orders["collection"], "orders");
    assert_eq!(orders["strategy"], "mask");
    assert_eq!(
        orders["because"],
        "Tax law requires invoices to be kept for 10 years."
    );
    assert_eq!(orders["records_exported"], 2);
    // An export changed nothing: the counts of a change are not in its report at all.
    for erase_only in [
        "records_deleted",
        "records_masked",
        "records_kept",
        "records_updated",
        "verified_erased",
    ] {
        assert!(orders.get(erase_only).is_none(), "{erase_only}: {orders}");
    }
    assert_eq!(orders["files"].as_array().unwrap().len(), 2);
    // Canonical bytes: re-serialising with sorted keys gives the same bytes.
    let bytes = std::fs::read(ws.path().join("b/report.json")).unwrap();
    assert!(!bytes.contains(&b'\n'));
    let text = String::from_utf8(bytes).unwrap();
    assert!(text.starts_with("{\"action\":\"export\",\"completed\":"));
    assert!(!text.contains("alice@example.com"));
    // With --include-identity, and only then, the values are there.
    let n = read_json(&ws.path().join("n/report.json"));
    assert_eq!(
        n["subject"]["identities"],
        serde_json::json!({"email": ["nobody@example.com"]})
    );
}

#[test]
fn the_same_person_gets_the_same_subject_hash_and_another_person_another() {
    let ws = demo_workspace();
    export(&ws, "alice@example.com", "a1", &[]);
    export(&ws, "Alice@Example.com", "a2", &[]);
    export(&ws, "bob@example.com", "b", &[]);
    let hash =
        |b: &str| read_json(&ws.path().join(b).join("report.json"))["subject"]["hash"].clone();
    assert_eq!(hash("a1"), hash("a2"));
    assert_ne!(hash("a1"), hash("b"));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(state(&ws).join("subject-hmac.key"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}

#[test]
fn deadlines_follow_the_regulation_received_date_and_extension() {
    let ws = demo_workspace();
    export(&ws, "alice@example.com", "g", &["--received", "2026-01-31"]);
    let g = read_json(&ws.path().join("g/report.json"));
    assert_eq!(g["regulation"], "gdpr");
    assert_eq!(g["received"], "2026-01-31T00:00:00.000Z");
    assert_eq!(g["due"], "2026-02-28T00:00:00.000Z");
    // Answered long after February 2026.
    assert_eq!(g["deadline_met"], false);

    // An extension is accepted only within the original period: received 10 days ago.
    let received = days_ago(10);
    export(
        &ws,
        "alice@example.com",
        "c",
        &[
            "--received",
            &format!("{received}T09:30:00-08:00"),
            "--regulation",
            "ccpa",
            "--extension-reason",
            "needs records from the paper archive",
        ],
    );
    let c = read_json(&ws.path().join("c/report.json"));
    // Computed in the offset it was received in (45 + 45 days), written in UTC.
    let due = received.parse::<jiff::civil::Date>().unwrap() + jiff::Span::new().days(90);
    assert_eq!(c["due"], format!("{due}T17:30:00.000Z"));
    assert_eq!(
        c["extension_reason"],
        "needs records from the paper archive"
    );

    for (args, needle) in [
        (
            vec!["--received", "2026-01-31T09:30:00"],
            "not an RFC 3339 date",
        ),
        (
            vec!["--regulation", "lgpd", "--extension-reason", "x"],
            "lgpd allows no extension",
        ),
        (vec!["--regulation", "gpdr"], "unknown regulation 'gpdr'"),
        (vec!["--received", "2999-01-01"], "in the future"),
    ] {
        let r = run(ws
            .dsr()
            .args(["export", "alice@example.com", "--playbook", "demo.yaml"])
            .args(&args));
        assert_eq!(r.code, 2, "{args:?}");
        assert!(r.stderr.contains(needle), "{args:?}: {}", r.stderr);
    }
}

#[test]
fn playbook_deadline_policies_are_used_and_validated() {
    let ws = demo_workspace();
    let demo = std::fs::read_to_string(ws.path().join("demo.yaml")).unwrap();
    ws.write(
        "house.yaml",
        &demo.replace(
            "regulation: gdpr\n",
            "regulation: house\ndeadlines:\n  house: { days: 10, extension_days: 5 }\n",
        ),
    );
    let r = run(ws.dsr().args([
        "export",
        "alice@example.com",
        "--playbook",
        "house.yaml",
        "--out",
        "h",
        "-q",
        "--received",
        &days_ago(3),
        "--extension-reason",
        "busy",
    ]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    let h = read_json(&ws.path().join("h/report.json"));
    assert_eq!(h["regulation"], "house");
    let due = days_ago(3).parse::<jiff::civil::Date>().unwrap() + jiff::Span::new().days(15);
    assert_eq!(h["due"], format!("{due}T00:00:00.000Z"));

    ws.write(
        "bad.yaml",
        &demo.replace(
            "regulation: gdpr\n",
            "regulation: gdpr\ndeadlines:\n  odd: { days: 10, months: 1 }\n",
        ),
    );
    let r = run(ws.dsr().args(["validate", "bad.yaml"]));
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("bad.yaml:10:3: deadlines.odd:")
            && r.stderr
                .contains("deadline policy 'odd': give exactly one of `days` or `months`"),
        "{}",
        r.stderr
    );
}

#[test]
fn requests_list_shows_both_exports_with_their_deadlines() {
    let ws = demo_workspace();
    export(&ws, "alice@example.com", "a", &["--received", "2026-01-31"]);
    export(&ws, "bob@example.com", "b", &[]);
    let id = |b: &str| {
        read_json(&ws.path().join(b).join("report.json"))["request_id"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let r = run(ws.dsr().args(["--json", "requests", "list"]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    let rows: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.len(), 2);
    let a = rows.iter().find(|r| r["id"] == id("a")).unwrap();
    let b = rows.iter().find(|r| r["id"] == id("b")).unwrap();
    assert_eq!(a["action"], "export");
    assert_eq!(a["status"], "done");
    assert_eq!(a["due"], "2026-02-28T00:00:00+00:00");
    assert_eq!(a["deadline_met"], false);
    assert_eq!(a["overdue"], true);
    assert_eq!(b["deadline_met"], true);
    assert_eq!(b["overdue"], false);
    assert_eq!(a["outcomes"]["shop"], "done");
    assert!(
        a["report_path"]
            .as_str()
            .unwrap()
            .ends_with("a/report.json")
    );
    assert_ne!(a["subject_hash"], b["subject_hash"]);
    let text = r.stdout;
    assert!(!text.contains("alice@") && !text.contains("bob@"));

    // The table, with a short subject hash and no colour when not a terminal.
    let r = run(ws.dsr().args(["requests", "list"]));
    assert_eq!(r.code, 0);
    assert!(r.stdout.contains("│ days left │"), "{}", r.stdout);
    assert!(r.stdout.contains("done (late)"), "{}", r.stdout);
    assert!(!r.stdout.contains('\x1b'));
    let short = &a["subject_hash"].as_str().unwrap()[12..24];
    assert!(r.stdout.contains(short), "{}", r.stdout);

    let r = run(ws.dsr().args(["requests", "show", &id("a")]));
    assert_eq!(r.code, 0);
    assert!(r.stdout.contains("Due         2026-02-28T00:00:00+00:00"));
    assert!(r.stdout.contains("Status      done (late)"), "{}", r.stdout);
    let r = run(ws.dsr().args(["requests", "show", "no-such-id"]));
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("no request with id no-such-id"));
}

fn audit_lines(ws: &Workspace) -> Vec<String> {
    std::fs::read_to_string(state(ws).join("audit.jsonl"))
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect()
}

fn verify_log(ws: &Workspace, lines: &[String]) -> Ran {
    let path = ws.path().join("tampered.jsonl");
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    run(ws.dsr().args(["verify", "--audit-log", "tampered.jsonl"]))
}

#[test]
fn the_audit_log_records_each_event_and_detects_every_kind_of_tampering() {
    let ws = demo_workspace();
    export(&ws, "alice@example.com", "a", &[]);
    let lines = audit_lines(&ws);
    let events: Vec<String> = lines
        .iter()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["event"].to_string())
        .collect();
    // received, started, one per system (4), completed.
    assert_eq!(
        events,
        [
            "\"received\"",
            "\"started\"",
            "\"system_finished\"",
            "\"system_finished\"",
            "\"system_finished\"",
            "\"system_finished\"",
            "\"completed\""
        ]
    );
    assert!(!lines.iter().any(|l| l.contains("alice")));
    let r = run(ws
        .dsr()
        .args(["verify", "--audit-log"])
        .arg(state(&ws).join("audit.jsonl")));
    assert_eq!(r.code, 0, "{}", r.stdout);
    assert!(r.stdout.contains("7 lines, chain intact"), "{}", r.stdout);

    let edited = {
        let mut l = lines.clone();
        l[2] = l[2].replace("\"records\":5", "\"records\":4");
        assert_ne!(l[2], lines[2]);
        l
    };
    let deleted = {
        let mut l = lines.clone();
        l.remove(3);
        l
    };
    let inserted = {
        let mut l = lines.clone();
        l.insert(4, lines[1].clone());
        l
    };
    let reordered = {
        let mut l = lines.clone();
        l.swap(4, 5);
        l
    };
    for (name, tampered, line) in [
        ("edited", edited, 3),
        ("deleted", deleted, 4),
        ("inserted", inserted, 5),
        ("reordered", reordered, 5),
    ] {
        let r = verify_log(&ws, &tampered);
        assert_eq!(r.code, 1, "{name}: {}", r.stdout);
        assert!(
            r.stdout.contains(&format!("tampered.jsonl: line {line}:")),
            "{name}: {}",
            r.stdout
        );
    }
}

#[test]
fn report_md_reads_well() {
    let ws = demo_workspace();
    export(
        &ws,
        "alice@example.com",
        "b",
        &["--received", "2026-01-31", "--operator", "dpo"],
    );
    let md = std::fs::read_to_string(ws.path().join("b/report.md")).unwrap();
    // An export changes nothing: columns for what an erase did would only read as zeroes.
    let header = md
        .lines()
        .find(|l| l.starts_with("| system |"))
        .unwrap_or_else(|| panic!("no systems table:\n{md}"));
    for erase_only in ["deleted", "masked", "kept", "verified"] {
        assert!(!header.contains(erase_only), "{header}");
    }
    assert_md_snapshot("report_md_reads_well", &md);
}

/// Snapshots a report.md as `name`, with what differs between runs (ids, times, hashes, keys,
/// temporary paths) filtered.
fn assert_md_snapshot(name: &str, md: &str) {
    insta::with_settings!({filters => vec![
        (r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", "[ID]"),
        (r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z", "[TIME]"),
        (r"SHA256:[A-Za-z0-9+/]{43}", "[FINGERPRINT]"),
        (r"[0-9a-f]{64}", "[SHA256]"),
        (r"\| \d+ ms \|", "| [MS] |"),
        (r"/[^ `|]*/\.tmp[A-Za-z0-9]+", "[TMP]"),
    ]}, {
        insta::assert_snapshot!(name, md);
    });
}

#[test]
fn erase_report_md_shows_each_collections_verification() {
    let ws = demo_workspace();
    let r = run(ws.dsr().args([
        "erase",
        "alice@example.com",
        "--playbook",
        "demo.yaml",
        "--yes",
        "--out",
        "e",
        "-q",
        "--received",
        "2026-01-31",
        "--operator",
        "dpo",
    ]));
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let md = std::fs::read_to_string(ws.path().join("e/report.md")).unwrap();
    let json = read_json(&ws.path().join("e/report.json"));
    // The verification report.json records per collection is in the table people read.
    let lines: Vec<&str> = md.lines().collect();
    let header = lines
        .iter()
        .position(|l| l.starts_with("| system |"))
        .unwrap_or_else(|| panic!("no systems table:\n{md}"));
    let columns: Vec<&str> = lines[header].split('|').map(str::trim).collect();
    let verified = columns
        .iter()
        .position(|c| *c == "verified")
        .unwrap_or_else(|| panic!("no verified column: {}", lines[header]));
    assert!(!columns.contains(&"exported"), "{}", lines[header]);
    for s in json["systems"].as_array().unwrap() {
        for c in s["collections"].as_array().unwrap() {
            let row = lines[header + 2..]
                .iter()
                .map(|l| l.split('|').map(str::trim).collect::<Vec<_>>())
                .find(|cells| cells[1] == s["name"] && cells[2] == c["collection"])
                .unwrap_or_else(|| panic!("no row for {} {}", s["name"], c["collection"]));
            let expected = match c["verified_erased"].as_bool() {
                Some(true) => "yes",
                Some(false) => "NO",
                None => "—",
            };
            assert_eq!(row[verified], expected, "{}.{}", s["name"], c["collection"]);
        }
    }
    assert_md_snapshot("erase_report_md_reads_well", &md);
}

#[test]
fn the_operator_is_the_login_name_of_the_uid_when_user_and_logname_are_unset() {
    let ws = demo_workspace();
    let r = run(ws
        .dsr()
        .env_remove("USER")
        .env_remove("LOGNAME")
        .args(["export", "alice@example.com", "--playbook", "demo.yaml"])
        .args(["--out", "b", "-q"]));
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    // What the system's user database calls this uid, asked another way than dsr does.
    let id = Command::new("id").arg("-un").output().expect("id(1)");
    assert!(id.status.success());
    let login = String::from_utf8(id.stdout).unwrap().trim().to_string();
    assert!(!login.is_empty());
    let report = read_json(&ws.path().join("b/report.json"));
    assert_eq!(report["operator"], login.as_str());
    let md = std::fs::read_to_string(ws.path().join("b/report.md")).unwrap();
    assert!(md.contains(&format!("| Operator | {login} |")), "{md}");
}

/// The shell commands of README.md's Evidence section, in order: every line of its ```sh
/// blocks, with backslash-continued lines joined, blank and comment-only lines left out.
fn readme_evidence_commands() -> Vec<String> {
    let readme = std::fs::read_to_string(crate::support::repo().join("README.md")).unwrap();
    let start = readme
        .find("\n## Evidence")
        .expect("README.md has an Evidence section");
    let section = &readme[start + 1..];
    let section = match section[1..].find("\n## ") {
        Some(end) => &section[..end + 1],
        None => section,
    };
    let mut commands = Vec::new();
    let mut in_sh = false;
    let mut pending = String::new();
    for line in section.lines() {
        let line = line.trim_end();
        if !in_sh {
            in_sh = line == "```sh";
            continue;
        }
        if line.starts_with("```") {
            assert!(pending.is_empty(), "a README command ends in '\\'");
            in_sh = false;
            continue;
        }
        if let Some(head) = line.strip_suffix('\\') {
            pending.push_str(head);
            continue;
        }
        pending.push_str(line);
        let command = std::mem::take(&mut pending);
        let trimmed = command.trim();
        if !trimmed.is_empty() && !trimmed.starts_with('#') {
            commands.push(trimmed.to_string());
        }
    }
    commands
}

/// The bundle the README's commands name, and what the test puts in its place.
const README_BUNDLE: &str = "alice-export";

#[test]
fn the_readme_evidence_commands_work_as_written() {
    let commands = readme_evidence_commands();
    for needed in ["dsr export ", "ssh-keygen -Y verify ", "dsr verify "] {
        assert!(
            commands.iter().any(|c| c.starts_with(needed)),
            "the Evidence section shows no `{needed}…`: {commands:#?}"
        );
    }
    // A fresh user: a home of their own (so `~/.local/state/dsr` is the state directory),
    // and a working directory laid out like the repository, for `playbooks/demo.yaml`.
    let root = tempfile::tempdir().unwrap();
    let home = root.path().join("home");
    let work = root.path().join("work");
    std::fs::create_dir_all(&home).unwrap();
    let demo = crate::support::repo().join("playbooks");
    std::fs::create_dir_all(work.join("playbooks/demo")).unwrap();
    std::fs::copy(demo.join("demo.yaml"), work.join("playbooks/demo.yaml")).unwrap();
    for f in ["accounts.sql", "shop.sql", "support.sql", "newsletter.sql"] {
        std::fs::copy(
            demo.join("demo").join(f),
            work.join("playbooks/demo").join(f),
        )
        .unwrap();
    }
    // The one substitution: the bundle the README names becomes a directory of this test.
    let bundle = work.join("bundle");
    let substitute = |command: &str| command.replace(README_BUNDLE, &bundle.display().to_string());

    let dsr = assert_cmd::cargo::cargo_bin("dsr");
    let path = format!(
        "{}:{}",
        dsr.parent().unwrap().display(),
        std::env::var("PATH").unwrap_or_else(|_| "/usr/bin:/bin".into())
    );
    for command in &commands {
        let command = substitute(command);
        let out = Command::new("sh")
            .arg("-c")
            .arg(&command)
            .current_dir(&work)
            .env_clear()
            .env("PATH", &path)
            .env("HOME", &home)
            .env("NO_COLOR", "1")
            .output()
            .expect("sh");
        assert!(
            out.status.success(),
            "README command failed ({}): {command}\n{}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // They ran against a real demo export.
    let report = read_json(&bundle.join("report.json"));
    assert_eq!(report["action"], "export");
    assert_ne!(report["systems"].as_array().map(Vec::len), Some(0));
}

/// The files of a tar stream: path -> bytes.
fn untar(bytes: &[u8]) -> std::collections::BTreeMap<String, Vec<u8>> {
    use std::io::Read;
    let mut out = std::collections::BTreeMap::new();
    let mut archive = tar::Archive::new(bytes);
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        if entry.header().entry_type().is_file() {
            let path = entry.path().unwrap().display().to_string();
            let mut data = Vec::new();
            entry.read_to_end(&mut data).unwrap();
            out.insert(path, data);
        }
    }
    out
}

#[test]
fn an_encrypted_bundle_opens_with_the_age_cli() {
    let ws = demo_workspace();
    let keygen = Command::new("age-keygen")
        .arg("-o")
        .arg(ws.path().join("person.key"))
        .output()
        .expect("age-keygen is installed (apt-get install age)");
    assert!(keygen.status.success());
    let public = Command::new("age-keygen")
        .arg("-y")
        .arg(ws.path().join("person.key"))
        .output()
        .unwrap();
    let recipient = String::from_utf8(public.stdout).unwrap().trim().to_string();
    assert!(recipient.starts_with("age1"));
    let r = run(ws.dsr().args([
        "--json",
        "export",
        "alice@example.com",
        "--playbook",
        "demo.yaml",
        "--out",
        "b",
        "--encrypt-to",
        &recipient,
    ]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["encrypted"], "b.tar.age");
    let sealed = std::fs::read(ws.path().join("b.tar.age")).unwrap();
    assert!(sealed.starts_with(b"age-encryption.org/v1"));
    assert!(!sealed.windows(5).any(|w| w == b"Alice"));
    let opened = Command::new("age")
        .arg("-d")
        .arg("-i")
        .arg(ws.path().join("person.key"))
        .arg(ws.path().join("b.tar.age"))
        .output()
        .expect("age is installed (apt-get install age)");
    assert!(
        opened.status.success(),
        "{}",
        String::from_utf8_lossy(&opened.stderr)
    );
    let files = untar(&opened.stdout);
    for name in [
        "b/report.json",
        "b/report.json.sig",
        "b/manifest.json",
        "b/shop/orders.json",
    ] {
        let inside = files.get(name).unwrap_or_else(|| panic!("no {name}"));
        assert_eq!(
            inside,
            &std::fs::read(ws.path().join(name)).unwrap(),
            "{name}"
        );
    }
    // A bad recipient is refused before anything runs.
    let r = run(ws.dsr().args([
        "export",
        "alice@example.com",
        "--playbook",
        "demo.yaml",
        "--out",
        "x",
        "--encrypt-to",
        "age1nope",
    ]));
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("not an age recipient"), "{}", r.stderr);
    assert!(!ws.path().join("x").exists());
}

#[test]
fn a_passphrase_encrypted_bundle_opens_with_that_passphrase_only() {
    let ws = demo_workspace();
    ws.write("pass.txt", "correct horse battery staple\n");
    let r = run(ws.dsr().args([
        "export",
        "alice@example.com",
        "--playbook",
        "demo.yaml",
        "--out",
        "b",
        "--passphrase-file",
        "pass.txt",
    ]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(!r.stdout.contains("correct horse") && !r.stderr.contains("correct horse"));
    let decrypt = |pass: &str| -> Result<Vec<u8>, String> {
        use std::io::Read;
        let file = std::fs::File::open(ws.path().join("b.tar.age")).unwrap();
        let d = age::Decryptor::new(std::io::BufReader::new(file)).map_err(|e| e.to_string())?;
        let id = age::scrypt::Identity::new(age::secrecy::SecretString::from(pass.to_string()));
        let mut reader = d
            .decrypt(std::iter::once(&id as &dyn age::Identity))
            .map_err(|e| e.to_string())?;
        let mut out = Vec::new();
        reader.read_to_end(&mut out).map_err(|e| e.to_string())?;
        Ok(out)
    };
    assert!(decrypt("wrong").is_err());
    let files = untar(&decrypt("correct horse battery staple").unwrap());
    assert_eq!(
        files["b/report.json"],
        std::fs::read(ws.path().join("b/report.json")).unwrap()
    );
}

/// A date `days` before today (UTC), as `--received` takes it.
fn days_ago(days: i64) -> String {
    (jiff::Timestamp::now() - jiff::SignedDuration::from_hours(24 * days))
        .strftime("%Y-%m-%d")
        .to_string()
}

/// A playbook whose only system is a manual step.
const MANUAL_ONLY: &str = "version: 1
organisation: Acme Tea Ltd
identities: [email]
systems:
  paper_archive:
    connector: manual
    instructions: Copy the signed contract from the archive box for this customer
    purpose: Signed contracts
    legal_basis: contract
    retention: 6 years
    collections:
      contracts:
        match: { email: identity.email }
        erase: delete
";

/// A system whose database refuses connections: it fails, at once.
fn refused_system() -> String {
    crate::support::system(
        "crm",
        "postgres",
        "postgres://postgres@127.0.0.1:1/test",
        "    retries: 1\n    timeout: 2s\n",
        "      people:\n        match: { email: identity.email }\n        erase: delete\n",
    )
}

fn json_lines(r: &Ran) -> serde_json::Value {
    serde_json::from_str(&r.stdout).unwrap_or_else(|e| panic!("{e}: {}\n{}", r.stdout, r.stderr))
}

/// The request id an export printed with --json.
fn export_id(r: &Ran) -> String {
    json_lines(r)["request_id"].as_str().unwrap().to_string()
}

#[test]
fn the_ledger_lists_every_request_in_every_state() {
    every_state_on(None);
}

/// Requests in every state at once: queued, running, stale (killed), waiting, partial,
/// failed, done, closed. One list shows them all, open ones first, with days left or overdue;
/// `show` knows every id; the killed export is resumed, another is closed with a reason.
pub fn every_state_on(ledger: Option<&str>) {
    use crate::due::dsr_on;
    use serde_json::Value;
    let (fake, url) = crate::fakes::stripe::start();
    let (ws, _) = crate::saas::example(
        "stripe.yaml",
        &url,
        &[("STRIPE_API_KEY", crate::fakes::stripe::KEY)],
    );
    let stripe = std::fs::read_to_string(ws.path().join("pb.yaml")).unwrap();
    ws.write("manual.yaml", MANUAL_ONLY);
    ws.write(
        "refused.yaml",
        &(crate::support::HEADER.to_string() + &refused_system()),
    );
    ws.write("partial.yaml", &(stripe + &refused_system()));
    let dsr = || dsr_on(&ws, ledger);
    let ran = |args: &[&str]| run(dsr().args(args));

    let add = |who: &str| {
        let r = ran(&[
            "--json",
            "requests",
            "add",
            "export",
            who,
            "--not-before",
            "2999-01-01",
            "--playbook",
            "pb.yaml",
        ]);
        assert_eq!(r.code, 0, "{}", r.stderr);
        assert!(
            r.stderr
                .contains("warning: this request will be overdue when it runs"),
            "{}",
            r.stderr
        );
        let v = json_lines(&r);
        assert!(
            v["warnings"][0]
                .as_str()
                .unwrap()
                .contains("will be overdue"),
            "{v}"
        );
        v["request_id"].as_str().unwrap().to_string()
    };
    let queued = add("queued@example.com");
    let withdrawn = add("withdrawn@example.com");
    let export = |who: &str, pb: &str, extra: &[&str], code: i32| {
        let out = who.split('@').next().unwrap().to_string();
        let r = run(dsr()
            .args(["--json", "export", who, "--playbook", pb, "--out", &out])
            .args(extra));
        assert_eq!(r.code, code, "{}\n{}", r.stdout, r.stderr);
        export_id(&r)
    };
    let done = export("done@example.com", "pb.yaml", &[], 0);
    let waiting = export("waiting@example.com", "manual.yaml", &[], 1);
    let received = days_ago(60);
    let failed = export(
        "failed@example.com",
        "refused.yaml",
        &["--received", &received],
        1,
    );
    let partial = export("partial@example.com", "partial.yaml", &[], 1);
    let r = ran(&[
        "requests",
        "close",
        &withdrawn,
        "--reason",
        "withdrawn by the person",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);

    // Two exports held up by the payment API (told to come back in 30 s); one is killed.
    fake.throttle_next(2, "30");
    let spawn = |who: &str| {
        let mut cmd = std::process::Command::new(assert_cmd::cargo::cargo_bin("dsr"));
        cmd.args(["--json", "export", who, "--playbook", "pb.yaml", "--out"])
            .arg(who.split('@').next().unwrap())
            .current_dir(ws.path())
            .env("DSR_STATE_DIR", ws.path().join(".dsr-state"))
            .env_remove("DSR_LEDGER")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
        if let Some(url) = ledger {
            cmd.env("DSR_LEDGER", url);
        }
        cmd.spawn().unwrap()
    };
    let list = || -> Vec<Value> {
        let r = ran(&["--json", "requests", "list"]);
        assert_eq!(r.code, 0, "{}", r.stderr);
        serde_json::from_str(&r.stdout).unwrap()
    };
    let throttled = |n: usize| {
        let start = std::time::Instant::now();
        while fake.calls("GET /v1/customers") < n {
            assert!(
                start.elapsed().as_secs() < 30,
                "the export did not call the API"
            );
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    };
    let before = fake.calls("GET /v1/customers");
    let mut killed = spawn("killed@example.com");
    throttled(before + 1);
    let mut running = spawn("running@example.com");
    throttled(before + 2);
    killed.kill().unwrap();
    killed.wait().unwrap();
    let by_status = |rows: &[Value]| -> std::collections::BTreeMap<String, String> {
        rows.iter()
            .map(|r| {
                (
                    r["status"].as_str().unwrap().to_string(),
                    r["id"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    };
    let rows = list();
    let statuses = by_status(&rows);
    let ids = |s: &str| {
        statuses
            .get(s)
            .cloned()
            .unwrap_or_else(|| panic!("no {s} request: {rows:?}"))
    };
    assert_eq!(ids("queued"), queued);
    assert_eq!(ids("waiting"), waiting);
    assert_eq!(ids("failed"), failed);
    assert_eq!(ids("partial"), partial);
    assert_eq!(ids("done"), done);
    assert_eq!(ids("closed"), withdrawn);
    let stale = ids("stale");
    let live = ids("running");
    assert_eq!(statuses.len(), 8, "{statuses:?}");
    // Open ones first, soonest due first: the overdue one leads; finished ones last.
    let order: Vec<&str> = rows.iter().map(|r| r["status"].as_str().unwrap()).collect();
    assert_eq!(&order[..2], ["failed", "queued"], "{order:?}");
    assert_eq!(&order[6..], ["closed", "done"], "{order:?}");
    for r in &rows {
        let open = r["open"].as_bool().unwrap();
        assert_eq!(
            open,
            !matches!(r["status"].as_str(), Some("done" | "closed")),
            "{r}"
        );
        assert_eq!(r["days_left"].is_i64(), open, "{r}");
        let late = r["id"] == failed.as_str();
        assert_eq!(r["days_overdue"].is_i64(), late, "{r}");
        assert_eq!(r["overdue"], late, "{r}");
    }
    let failed_row = rows.iter().find(|r| r["id"] == failed.as_str()).unwrap();
    assert!(
        failed_row["days_left"].as_i64().unwrap() < -25,
        "{failed_row}"
    );
    assert_eq!(
        failed_row["next"][0].as_str().unwrap(),
        format!("dsr resume {failed}")
    );

    let table = ran(&["requests", "list"]).stdout;
    let mut settings = insta::Settings::clone_current();
    // Replacements as wide as what they replace, so that the columns stay aligned.
    settings.add_filter(
        r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}",
        format!("{:<36}", "[id]"),
    );
    settings.add_filter(r"[0-9a-f]{12}", "[hash]      ");
    settings.add_filter(r"\d{4}-\d{2}-\d{2}", "[date]    ");
    settings.add_filter(r"│ \d\d( overdue)? ", "│ NN$1 ");
    settings.bind(|| insta::assert_snapshot!("ledger_in_every_state", table));

    // `show` knows every id, and says what to run next.
    for id in [
        &queued, &live, &stale, &waiting, &failed, &partial, &done, &withdrawn,
    ] {
        let r = ran(&["requests", "show", id]);
        assert_eq!(r.code, 0, "{id}: {}", r.stderr);
        assert!(
            r.stdout.contains(&format!("Request     {id}")),
            "{}",
            r.stdout
        );
    }
    let r = ran(&["requests", "show", &waiting]);
    assert!(
        r.stdout.contains(&format!(
            "then: dsr requests confirm {waiting} paper_archive --note"
        )) && r.stdout.contains(&format!("then: dsr resume {waiting}")),
        "{}",
        r.stdout
    );
    let r = ran(&["requests", "show", &withdrawn]);
    assert!(
        r.stdout.contains("Closed      withdrawn by the person"),
        "{}",
        r.stdout
    );

    // Filters.
    let filtered = |args: &[&str]| -> Vec<String> {
        let r = ran(&[&["--json", "requests", "list"], args].concat());
        assert_eq!(r.code, 0, "{}", r.stderr);
        let rows: Vec<Value> = serde_json::from_str(&r.stdout).unwrap();
        let mut ids: Vec<String> = rows
            .iter()
            .map(|r| r["id"].as_str().unwrap().to_string())
            .collect();
        ids.sort();
        ids
    };
    let sorted = |mut v: Vec<&String>| {
        v.sort();
        v.into_iter().cloned().collect::<Vec<String>>()
    };
    assert_eq!(
        filtered(&["--open"]),
        sorted(vec![&queued, &live, &stale, &waiting, &failed, &partial])
    );
    assert_eq!(filtered(&["--overdue"]), [failed.as_str()]);
    assert_eq!(filtered(&["--status", "stale"]), [stale.as_str()]);
    assert_eq!(
        filtered(&["--status", "closed", "--action", "export"]),
        [withdrawn.as_str()]
    );
    assert!(filtered(&["--action", "erase"]).is_empty());
    let r = ran(&["requests", "list", "--status", "late"]);
    assert_eq!(r.code, 2);

    // A running request cannot be closed; once its process is gone, it can.
    let r = ran(&["requests", "close", &live, "--reason", "x"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("is running"), "{}", r.stderr);
    running.kill().unwrap();
    running.wait().unwrap();
    let r = ran(&["requests", "close", &live, "--reason", "answered by post"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let r = ran(&["requests", "close", &live, "--reason", "again"]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("is closed; there is nothing to close"),
        "{}",
        r.stderr
    );
    let r = ran(&["requests", "close", "no-such-id", "--reason", "x"]);
    assert_eq!(r.code, 2);

    // The killed export is resumed: it finishes its bundle and signs it.
    let r = ran(&["--json", "resume", &stale, "--playbook", "pb.yaml"]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let out = json_lines(&r);
    assert_eq!(out["outcome"], "done");
    let report = out["report"].as_str().unwrap().to_string();
    let r = ran(&["verify", &report]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let statuses = by_status(&list());
    assert!(
        !statuses.contains_key("stale") && !statuses.contains_key("running"),
        "{statuses:?}"
    );

    // The audit log records the closings, and its chain holds.
    let log = std::fs::read_to_string(state(&ws).join("audit.jsonl")).unwrap();
    let closed: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("\"event\":\"closed\""))
        .collect();
    assert_eq!(closed.len(), 2, "{log}");
    assert!(
        closed[0].contains("withdrawn by the person"),
        "{}",
        closed[0]
    );
    let r = run(ws
        .dsr()
        .args(["verify", "--audit-log"])
        .arg(state(&ws).join("audit.jsonl")));
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
}

#[test]
fn an_export_with_a_manual_step_is_confirmed_and_resumed() {
    manual_export_on(None);
}

/// An export with a manual step waits for it (exit 1) and says what to run; a person confirms
/// it; `dsr resume` finishes the same bundle, keeping what was exported, with a new index page
/// and signed report.
pub fn manual_export_on(ledger: Option<&str>) {
    let ws = demo_workspace();
    let demo = std::fs::read_to_string(ws.path().join("demo.yaml")).unwrap();
    let archive = MANUAL_ONLY.split_once("systems:\n").unwrap().1;
    ws.write(
        "manual.yaml",
        &demo.replacen("systems:\n", &format!("systems:\n{archive}"), 1),
    );
    let dsr = || crate::due::dsr_on(&ws, ledger);
    let r = run(dsr().args([
        "--json",
        "export",
        "alice@example.com",
        "--playbook",
        "manual.yaml",
        "--out",
        "a",
    ]));
    assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
    let out = json_lines(&r);
    assert_eq!(out["outcome"], "waiting");
    let id = out["request_id"].as_str().unwrap().to_string();
    assert_eq!(
        out["next"],
        serde_json::json!([
            format!("dsr requests confirm {id} paper_archive --note \"…\""),
            format!("dsr resume {id}")
        ])
    );
    let index = std::fs::read_to_string(ws.path().join("a/index.html")).unwrap();
    assert!(index.contains("collecting this part by hand"), "{index}");
    let users = std::fs::read(ws.path().join("a/accounts/users.json")).unwrap();
    let r = run(dsr().args(["requests", "show", &id]));
    assert!(r.stdout.contains("Status      waiting"), "{}", r.stdout);
    assert!(r.stdout.contains("Days left   "), "{}", r.stdout);

    // People read what to do next.
    let r = run(dsr().args([
        "export",
        "bob@example.com",
        "--playbook",
        "manual.yaml",
        "--out",
        "b",
    ]));
    assert_eq!(r.code, 1);
    assert!(
        r.stdout
            .contains("paper_archive.contracts: waiting for a person: Copy the signed contract")
            && r.stdout.contains("then: dsr requests confirm ")
            && r.stdout.contains("then: dsr resume "),
        "{}",
        r.stdout
    );

    let r = run(dsr().args(["requests", "confirm", &id, "paper_archiv", "--note", "x"]));
    assert_eq!(r.code, 2);
    assert!(
        r.stderr
            .contains("has no manual step of paper_archiv waiting")
            && r.stderr.contains("waiting: paper_archive"),
        "{}",
        r.stderr
    );
    let r = run(dsr().args([
        "requests",
        "confirm",
        &id,
        "paper_archive",
        "--note",
        "Copied, box 12",
        "--operator",
        "dpo",
    ]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stdout.contains(&format!("then: dsr resume {id}")),
        "{}",
        r.stdout
    );
    let r = run(dsr().args(["--json", "resume", &id, "--playbook", "manual.yaml"]));
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let out = json_lines(&r);
    assert_eq!(out["outcome"], "done");
    assert_eq!(out["next"], serde_json::json!([]));
    let bundle = ws.path().join("a");
    let report = read_json(&bundle.join("report.json"));
    assert_eq!(report["outcome"], "done");
    assert!(
        report.to_string().contains("confirmed: Copied, box 12")
            && report.to_string().contains("by dpo"),
        "{report}"
    );
    // What the first run exported is kept as it was, and everything checks out.
    assert_eq!(
        std::fs::read(bundle.join("accounts/users.json")).unwrap(),
        users
    );
    let index = std::fs::read_to_string(bundle.join("index.html")).unwrap();
    assert!(!index.contains("by hand"), "{index}");
    crate::support::assert_manifest_matches(&bundle);
    let r = run(dsr().args(["verify", "a/report.json"]));
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let r = run(dsr().args(["--json", "requests", "show", &id]));
    let shown = json_lines(&r);
    assert_eq!(shown["status"], "done");
    assert_eq!(shown["open"], false);
    // Done: nothing left to resume, and the journal no longer holds the identities.
    let r = run(dsr().args(["resume", &id, "--playbook", "manual.yaml"]));
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("nothing to resume"), "{}", r.stderr);
}

#[test]
fn late_requests_warn_and_a_late_extension_is_refused() {
    let ws = demo_workspace();
    // Received long ago: overdue already.
    let r = run(ws.dsr().args([
        "--json",
        "export",
        "alice@example.com",
        "--playbook",
        "demo.yaml",
        "--out",
        "old",
        "--received",
        &days_ago(45),
    ]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("warning: this request is already overdue"),
        "{}",
        r.stderr
    );
    let out = json_lines(&r);
    assert!(
        out["warnings"][0].as_str().unwrap().contains("days late"),
        "{out}"
    );
    let r = run(ws.dsr().args([
        "--json",
        "export",
        "alice@example.com",
        "--playbook",
        "demo.yaml",
        "--out",
        "new",
    ]));
    assert_eq!(json_lines(&r)["warnings"], serde_json::json!([]));
    assert!(!r.stderr.contains("warning: this request"), "{}", r.stderr);

    // GDPR Art. 12(3): an extension is decided within the first month, or not at all.
    let r = run(ws.dsr().args([
        "export",
        "alice@example.com",
        "--playbook",
        "demo.yaml",
        "--out",
        "late",
        "--received",
        &days_ago(45),
        "--extension-reason",
        "many systems",
    ]));
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("--extension-reason comes too late: the original deadline passed on")
            && r.stderr.contains("Art. 12(3)"),
        "{}",
        r.stderr
    );
    assert!(!ws.path().join("late").exists(), "nothing ran");
    for action in ["erase", "correct"] {
        let mut cmd = ws.dsr();
        cmd.args([
            action,
            "alice@example.com",
            "--playbook",
            "demo.yaml",
            "--yes",
        ])
        .args(["--received", &days_ago(45), "--extension-reason", "x"]);
        if action == "correct" {
            cmd.args(["--set", "identity.email=a@example.org"]);
        }
        let r = run(&mut cmd);
        assert_eq!(r.code, 2, "{action}: {}", r.stderr);
        assert!(
            r.stderr.contains("comes too late"),
            "{action}: {}",
            r.stderr
        );
    }

    // In time: accepted, recorded with when it was decided, and told to the person.
    let r = run(ws.dsr().args([
        "--json",
        "export",
        "alice@example.com",
        "--playbook",
        "demo.yaml",
        "--out",
        "ext",
        "--received",
        &days_ago(10),
        "--extension-reason",
        "records from the paper archive",
    ]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    let id = export_id(&r);
    let index = std::fs::read_to_string(ws.path().join("ext/index.html")).unwrap();
    assert!(
        index.contains("We have extended the time we take to answer")
            && index.contains("because records from the paper archive")
            && index.contains("We decided this on"),
        "{index}"
    );
    let r = run(ws.dsr().args(["--json", "requests", "show", &id]));
    let shown = json_lines(&r);
    assert_eq!(shown["extension_reason"], "records from the paper archive");
    let decided: jiff::Timestamp = shown["extension_decided"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        (jiff::Timestamp::now() - decided).get_seconds().abs() < 120,
        "{shown}"
    );
    let r = run(ws.dsr().args(["requests", "show", &id]));
    assert!(
        r.stdout
            .contains("Extended    records from the paper archive (decided "),
        "{}",
        r.stdout
    );
}
