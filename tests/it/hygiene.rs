//! Secrets and personal data stay where they belong: every command, at `-vv`, against the
//! SQLite demo and one PostgreSQL system, with known secret values and a distinctive person.
//! Secrets never reach output, reports, manifests, the audit log or the state database; the
//! person appears only in the export bundle's data files; key, bundle and state files are
//! private.

use crate::support::{Ran, pg_exec, pg_url, run};
use std::path::{Path, PathBuf};

const PASSWORD: &str = "pw-Hyg13ne-7c41d0e5";
const HASH_KEY: &str = "hk-Hyg13ne-91be2a77";
const PERSON: &str = "zq.hygiene.4417@example.net";
const SCHEMA: &str = "dsr_it_hygiene";

/// The PostgreSQL URL as a template whose password comes from `${env:DSR_HYG_PASSWORD}`, and
/// that password's value (the test server trusts local connections, so any password works;
/// a server that checks one keeps its own).
fn pg_template() -> (String, String) {
    let url = pg_url();
    let (scheme, rest) = url.split_once("://").expect("a URL");
    let (userinfo, host) = rest.split_once('@').expect("a user in DSR_TEST_PG_URL");
    let (user, password) = match userinfo.split_once(':') {
        Some((u, p)) => (u.to_string(), p.to_string()),
        None => (userinfo.to_string(), PASSWORD.to_string()),
    };
    (
        format!("{scheme}://{user}:${{env:DSR_HYG_PASSWORD}}@{host}"),
        password,
    )
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let p = entry.unwrap().path();
        if p.is_dir() {
            walk(&p, out);
        } else {
            out.push(p);
        }
    }
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

#[cfg(unix)]
fn mode(p: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

#[test]
fn secrets_and_the_person_stay_out_of_output_logs_reports_and_state() {
    pg_exec(&[
        &format!("DROP SCHEMA IF EXISTS {SCHEMA} CASCADE"),
        &format!("CREATE SCHEMA {SCHEMA}"),
        &format!("CREATE TABLE {SCHEMA}.profiles (id int PRIMARY KEY, email text, name text)"),
        &format!(
            "INSERT INTO {SCHEMA}.profiles VALUES (1, '{PERSON}', 'Hy Giene'), (2, 'bob@example.com', 'Bob')"
        ),
    ]);
    let ws = crate::export_sqlite::demo_workspace();
    // The person is in the demo's accounts and support databases too.
    for (file, sql) in [
        (
            "demo/accounts.sql",
            format!(
                "INSERT INTO users (id, email, full_name, phone, birth_date, marketing_opt_in, created_at) VALUES (9001, '{PERSON}', 'Hy Giene', '+44 20 7946 0999', '1990-02-03', 1, '2024-01-01T00:00:00Z');\n"
            ),
        ),
        (
            "demo/support.sql",
            format!(
                "INSERT INTO tickets (id, requester_email, subject, status, created_at) VALUES (9001, '{PERSON}', 'Where is my tea?', 'open', '2024-01-02T00:00:00Z');\n"
            ),
        ),
    ] {
        let text = std::fs::read_to_string(ws.path().join(file)).unwrap() + &sql;
        ws.write(file, &text);
    }
    let (template, password) = pg_template();
    let demo = std::fs::read_to_string(ws.path().join("demo.yaml"))
        .unwrap()
        .replacen(
            "regulation: gdpr\n",
            "regulation: gdpr\nhash_key: ${env:DSR_HYG_HASH_KEY}\n",
            1,
        )
        + &format!(
            "  crm:\n    connector: postgres\n    url: {template}\n    schema: {SCHEMA}\n    purpose: Customer relationship.\n    legal_basis: contract\n    retention: 2 years.\n    collections:\n      profiles:\n        match: {{ email: identity.email }}\n        fields:\n          email: {{ category: contact.email }}\n          name: {{ category: name }}\n        erase:\n          mask: {{ email: hash, name: redact }}\n          because: Statistics need the row.\n"
        );
    ws.write("demo.yaml", &demo);
    let dsr = || {
        let mut c = ws.dsr();
        c.env("DSR_HYG_PASSWORD", &password)
            .env("DSR_HYG_HASH_KEY", HASH_KEY)
            .arg("-vv")
            .args(["--playbook", "demo.yaml"]);
        c
    };
    let mut outputs: Vec<(String, Ran)> = Vec::new();
    let mut step = |name: &str, args: &[&str], code: i32| -> Ran {
        let r = run(dsr().args(args));
        assert_eq!(r.code, code, "{name}\n{}\n{}", r.stdout, r.stderr);
        outputs.push((name.to_string(), r.clone()));
        r
    };
    step("validate", &["validate"], 0);
    step("plan", &["plan", "erase", PERSON], 0);
    let export = step("export", &["export", PERSON, "--out", "bundle"], 0);
    assert!(export.stdout.contains("Exported"), "{}", export.stdout);
    step("erase --dry-run", &["erase", PERSON, "--dry-run"], 0);
    step(
        "correct",
        &[
            "correct",
            PERSON,
            "--set",
            "crm.profiles.name=Hy Renamed",
            "--yes",
            "--out",
            "corrected",
        ],
        0,
    );
    step("erase", &["erase", PERSON, "--yes", "--out", "erased"], 0);
    let list = step("requests list", &["--json", "requests", "list"], 0);
    let ids: Vec<String> = serde_json::from_str::<serde_json::Value>(&list.stdout)
        .unwrap()
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(ids.len(), 3, "{}", list.stdout);
    for id in &ids {
        step("requests show", &["requests", "show", id], 0);
    }
    step("requests list (table)", &["requests", "list"], 0);
    for dir in ["bundle", "corrected", "erased"] {
        let report = format!("{dir}/report.json");
        step("verify", &["verify", &report], 0);
    }
    let audit = ws.path().join(".dsr-state/audit.jsonl");
    step(
        "verify --audit-log",
        &["verify", "--audit-log", audit.to_str().unwrap()],
        0,
    );

    // The writes really happened: the PostgreSQL row was corrected, then masked.
    let row = crate::support::pg_strings(&format!(
        "SELECT email || '|' || name FROM {SCHEMA}.profiles WHERE id = 1"
    ));
    assert_eq!(
        row,
        [format!(
            "{}|[redacted]",
            dsr::erase::mask::hmac_hex(HASH_KEY.as_bytes(), PERSON)
        )]
    );

    for (name, r) in &outputs {
        for secret in [password.as_str(), HASH_KEY] {
            assert!(
                !r.stdout.contains(secret) && !r.stderr.contains(secret),
                "{name} printed a secret"
            );
        }
        assert!(
            !r.stdout.contains(PERSON) && !r.stderr.contains(PERSON),
            "{name} printed the person's identity:\n{}\n{}",
            r.stdout,
            r.stderr
        );
    }
    // -vv did log something (the test would be empty otherwise).
    assert!(
        outputs.iter().any(|(_, r)| r.stderr.contains(" INFO ")),
        "no log output at -vv"
    );

    // Every file dsr wrote: bundles, reports, manifests, the state directory.
    let bundle_data: Vec<PathBuf> = {
        let manifest = crate::support::read_json(&ws.path().join("bundle/manifest.json"));
        manifest["files"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["path"].as_str().unwrap())
            .filter(|p| p.contains('/'))
            .map(|p| ws.path().join("bundle").join(p))
            // The person's own page shows them their records.
            .chain([ws.path().join("bundle/index.html")])
            .collect()
    };
    assert!(!bundle_data.is_empty());
    let mut files = Vec::new();
    for dir in ["bundle", "corrected", "erased", ".dsr-state"] {
        walk(&ws.path().join(dir), &mut files);
    }
    assert!(files.iter().any(|f| f.ends_with("state.db")));
    let mut person_found_in_data = false;
    for f in &files {
        let bytes = std::fs::read(f).unwrap();
        for secret in [password.as_str(), HASH_KEY] {
            assert!(!contains(&bytes, secret), "a secret is in {}", f.display());
        }
        if bundle_data.contains(f) {
            person_found_in_data |= contains(&bytes, PERSON);
        } else {
            assert!(
                !contains(&bytes, PERSON),
                "the person's identity is in {}",
                f.display()
            );
        }
    }
    assert!(
        person_found_in_data,
        "the export bundle holds the person's data (by design)"
    );

    #[cfg(unix)]
    {
        let state = ws.path().join(".dsr-state");
        assert_eq!(mode(&state), 0o700);
        for private in ["signing_key", "subject-hmac.key", "audit.jsonl", "state.db"] {
            assert_eq!(mode(&state.join(private)), 0o600, "{private}");
        }
        for f in std::fs::read_dir(&state).unwrap() {
            let p = f.unwrap().path();
            let name = p.file_name().unwrap().to_string_lossy().to_string();
            if name.starts_with("state.db") {
                assert_eq!(mode(&p), 0o600, "{name}");
            }
        }
        for dir in ["bundle", "corrected", "erased"] {
            let mut inside = Vec::new();
            walk(&ws.path().join(dir), &mut inside);
            assert_eq!(mode(&ws.path().join(dir)), 0o700, "{dir}");
            for f in inside {
                assert_eq!(mode(&f), 0o600, "{}", f.display());
                assert_eq!(mode(f.parent().unwrap()), 0o700, "{}", f.display());
            }
        }
    }
    pg_exec(&[&format!("DROP SCHEMA {SCHEMA} CASCADE")]);
}

/// An empty directory given with `--out` becomes private like a new one: it is about to hold
/// the person's data.
#[cfg(unix)]
#[test]
fn an_existing_empty_out_directory_is_made_private() {
    use std::os::unix::fs::PermissionsExt;
    let ws = crate::export_sqlite::demo_workspace();
    let out = ws.path().join("shared-out");
    std::fs::create_dir(&out).unwrap();
    std::fs::set_permissions(&out, std::fs::Permissions::from_mode(0o755)).unwrap();
    let r = run(ws.dsr().args([
        "export",
        "alice@example.com",
        "--playbook",
        "demo.yaml",
        "--out",
        "shared-out",
    ]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(mode(&out), 0o700);
    assert!(out.join("accounts/users.json").exists());
}

/// On a shared ledger whose URL carries a password: the password is never printed (at -vv),
/// and once the requests have run, neither it nor the person is in the ledger's tables.
#[test]
fn the_shared_ledger_keeps_no_password_and_no_identities() {
    let schema = format!(
        "dsr_it_hyg_ledger_{}",
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    );
    let url = pg_url();
    let (scheme, rest) = url.split_once("://").expect("a URL");
    let (userinfo, host) = rest.split_once('@').expect("a user in DSR_TEST_PG_URL");
    // The test server trusts local connections, so any password gets in; one that checks
    // passwords keeps its own.
    let ledger = match userinfo.split_once(':') {
        Some(_) => format!("{url}?schema={schema}"),
        None => format!("{scheme}://{userinfo}:{PASSWORD}@{host}?schema={schema}"),
    };
    let password = ledger
        .split_once("://")
        .and_then(|(_, r)| r.split_once('@'))
        .and_then(|(u, _)| u.split_once(':'))
        .map(|(_, p)| p.to_string())
        .unwrap();
    let ws = crate::export_sqlite::demo_workspace();
    let sql = format!(
        "INSERT INTO users (id, email, full_name, phone, birth_date, marketing_opt_in, created_at) VALUES (9001, '{PERSON}', 'Hy Giene', '+44 20 7946 0999', '1990-02-03', 1, '2024-01-01T00:00:00Z');\n"
    );
    let text = std::fs::read_to_string(ws.path().join("demo/accounts.sql")).unwrap() + &sql;
    ws.write("demo/accounts.sql", &text);
    let mut outputs = Vec::new();
    for args in [
        &["requests", "add", "erase", PERSON][..],
        &["requests", "add", "export", PERSON],
        &["requests", "queue"],
        &["run-due", "--lease", "3s"],
        &["--json", "requests", "list"],
        &[
            "--ledger",
            "postgres://nobody:wrong-Hyg13ne@127.0.0.1:1/x",
            "requests",
            "list",
        ],
    ] {
        let r = run(ws
            .dsr()
            .env("DSR_LEDGER", &ledger)
            .arg("-vv")
            .args(["--playbook", "demo.yaml"])
            .args(args));
        outputs.push((args.join(" "), r));
    }
    let codes: Vec<i32> = outputs.iter().map(|(_, r)| r.code).collect();
    assert_eq!(
        codes,
        [0, 0, 0, 0, 0, 2],
        "{:?}",
        outputs.last().map(|(_, r)| &r.stderr)
    );
    let listed: Vec<serde_json::Value> = serde_json::from_str(&outputs[4].1.stdout).unwrap();
    assert_eq!(listed.len(), 2, "both requests are in the shared ledger");
    for row in &listed {
        let id = row["id"].as_str().unwrap();
        let r = run(ws
            .dsr()
            .env("DSR_LEDGER", &ledger)
            .args(["-vv", "requests", "show", id]));
        assert_eq!(r.code, 0, "{}", r.stderr);
        assert!(r.stdout.contains(id), "{}", r.stdout);
        outputs.push((format!("requests show {id}"), r));
    }
    for (name, r) in &outputs {
        for secret in [password.as_str(), "wrong-Hyg13ne"] {
            assert!(
                !r.stdout.contains(secret) && !r.stderr.contains(secret),
                "{name} printed the ledger's password"
            );
        }
        assert!(
            !r.stdout.contains(PERSON) && !r.stderr.contains(PERSON),
            "{name} printed the person"
        );
    }
    let rows = crate::support::pg_strings(&format!(
        "SELECT string_agg(row_to_json(t)::text, ' ') FROM (SELECT * FROM \"{schema}\".queue) t \
         UNION ALL SELECT string_agg(row_to_json(t)::text, ' ') FROM (SELECT * FROM \"{schema}\".journal_requests) t \
         UNION ALL SELECT string_agg(row_to_json(t)::text, ' ') FROM (SELECT * FROM \"{schema}\".journal_steps) t \
         UNION ALL SELECT string_agg(row_to_json(t)::text, ' ') FROM (SELECT * FROM \"{schema}\".requests) t \
         UNION ALL SELECT string_agg(row_to_json(t)::text, ' ') FROM (SELECT * FROM \"{schema}\".dsr_meta) t"
    ))
    .join("\n");
    assert!(rows.contains("\"status\":\"done\""), "{rows}");
    assert!(
        !rows.contains(PERSON),
        "the person is still in the ledger: {rows}"
    );
    assert!(!rows.contains(&password), "the password is in the ledger");
    assert!(!ws.path().join(".dsr-state/state.db").exists());
    pg_exec(&[&format!("DROP SCHEMA \"{schema}\" CASCADE")]);
}
