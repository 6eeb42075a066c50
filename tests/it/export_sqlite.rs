//! The embedded demo: SQLite databases seeded on first use, no server needed.

use crate::support::{Workspace, assert_manifest_matches, read_json, repo, run};
use std::path::Path;

/// A copy of the demo playbook and its seed files in a fresh workspace (so that the seeded
/// database files are created there, not in the repository).
pub fn demo_workspace() -> Workspace {
    let ws = Workspace::new();
    let src = repo().join("playbooks");
    ws.write(
        "demo.yaml",
        &std::fs::read_to_string(src.join("demo.yaml")).unwrap(),
    );
    for f in ["accounts.sql", "shop.sql", "support.sql", "newsletter.sql"] {
        ws.write(
            &format!("demo/{f}"),
            &std::fs::read_to_string(src.join("demo").join(f)).unwrap(),
        );
    }
    ws
}

fn step<'a>(steps: &'a serde_json::Value, system: &str, collection: &str) -> &'a serde_json::Value {
    steps
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["system"] == system && s["collection"] == collection)
        .unwrap_or_else(|| panic!("no step {system}.{collection}"))
}

#[test]
fn demo_export_follows_the_identity_across_systems() {
    let ws = demo_workspace();
    let r = run(ws.dsr().args([
        "export",
        "alice@example.com",
        "--playbook",
        "demo.yaml",
        "--out",
        "bundle",
    ]));
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    // The plan, then the summary, are printed.
    assert!(r.stdout.contains("│ wave │"), "{}", r.stdout);
    assert!(
        r.stdout.contains("Exported 14 records into bundle"),
        "{}",
        r.stdout
    );
    let bundle = ws.path().join("bundle");
    assert_manifest_matches(&bundle);

    // email -> users.id -> orders (another database) -> order_items.
    let orders = read_json(&bundle.join("shop/orders.json"));
    let ids: Vec<i64> = orders
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids, vec![5001, 5002]);
    assert_eq!(orders[0]["total"].to_string(), "59.9");
    let items = read_json(&bundle.join("shop/order_items.json"));
    assert_eq!(items.as_array().unwrap().len(), 3);
    // Only the listed fields (plus provided keys) are exported when fields are listed.
    let users = read_json(&bundle.join("accounts/users.json"));
    assert_eq!(users[0]["full_name"], "Alice Andersen");
    // Bob's data never appears.
    let all = std::fs::read_dir(bundle.join("accounts")).unwrap().count();
    assert_eq!(all, 6);
    for entry in walk(&bundle) {
        let text = std::fs::read_to_string(&entry).unwrap();
        assert!(
            !text.contains("bob@example.com") && !text.contains("Bob Brown"),
            "{}",
            entry.display()
        );
    }
    let csv = std::fs::read_to_string(bundle.join("accounts/addresses.csv")).unwrap();
    assert_eq!(
        csv.lines().next().unwrap(),
        "kind,street,city,postcode,country"
    );
    assert_eq!(csv.lines().count(), 3);

    let report = read_json(&bundle.join("report.json"));
    assert_eq!(report["outcome"], "done");
    assert_eq!(
        report["subject"]["identity_kinds"],
        serde_json::json!(["email"])
    );
    let text = std::fs::read_to_string(bundle.join("report.json")).unwrap();
    assert!(
        !text.contains("alice@example.com"),
        "the report must not hold the identity"
    );

    let index = std::fs::read_to_string(bundle.join("index.html")).unwrap();
    for needle in [
        "Acme Tea Ltd",
        "Why we keep it",
        "10 years after the order",
        "Parcel carrier",
        "shop/orders.json",
        "supervisory authority",
    ] {
        assert!(index.contains(needle), "index.html lacks {needle}");
    }
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p))
        } else {
            out.push(p)
        }
    }
    out
}

#[test]
fn a_person_with_no_data_gets_a_clean_nothing_found() {
    let ws = demo_workspace();
    let r = run(ws.dsr().args([
        "--json",
        "export",
        "nobody@example.com",
        "--playbook",
        "demo.yaml",
        "--out",
        "b",
    ]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    let out: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(out["outcome"], "done");
    let steps = &out["steps"];
    assert_eq!(step(steps, "accounts", "users")["records"], 0);
    assert_eq!(
        step(steps, "shop", "orders")["reason"],
        "no keys reached this collection"
    );
    let bundle = ws.path().join("b");
    assert_manifest_matches(&bundle);
    assert!(
        !bundle.join("accounts").exists(),
        "no data files for no data"
    );
    let index = std::fs::read_to_string(bundle.join("index.html")).unwrap();
    assert!(index.contains("We hold no data about you here."));
}

#[test]
fn identities_with_quotes_and_unicode_are_matched_exactly() {
    let ws = demo_workspace();
    let r = run(ws.dsr().args([
        "--json",
        "export",
        "zoë.o'neill@example.org",
        "--playbook",
        "demo.yaml",
        "--out",
        "z",
    ]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    let users = read_json(&ws.path().join("z/accounts/users.json"));
    assert_eq!(users[0]["full_name"], "Zoë O'Neill");
    let subs = read_json(&ws.path().join("z/newsletter/subscribers.json"));
    assert_eq!(subs.as_array().unwrap().len(), 1);
    // SQL metacharacters are data, not SQL: no match, no error.
    for nasty in [
        "x'OR'1'='1@example.com",
        "a\";DROP/**/TABLE/**/users;--@example.com",
        "user_id=1 OR 1=1",
        "user_id=1'; DELETE FROM users; --",
    ] {
        let out = format!("o{}", nasty.len());
        let r = run(ws.dsr().args([
            "--json",
            "export",
            nasty,
            "--playbook",
            "demo.yaml",
            "--out",
            &out,
        ]));
        assert_eq!(r.code, 0, "{nasty}: {}", r.stderr);
        let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
        assert_eq!(
            step(&v["steps"], "accounts", "users")["records"],
            0,
            "{nasty}"
        );
    }
    // The users table is still there and intact.
    let r = run(ws.dsr().args([
        "--json",
        "export",
        "bob@example.com",
        "--playbook",
        "demo.yaml",
        "--out",
        "bob",
    ]));
    assert_eq!(r.code, 0);
    assert_eq!(
        read_json(&ws.path().join("bob/accounts/users.json"))[0]["email"],
        "bob@example.com"
    );
}

#[test]
fn an_existing_bundle_is_never_overwritten() {
    let ws = demo_workspace();
    ws.write("taken/keep.txt", "mine");
    let r = run(ws.dsr().args([
        "export",
        "alice@example.com",
        "--playbook",
        "demo.yaml",
        "--out",
        "taken",
    ]));
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("not empty"), "{}", r.stderr);
    assert_eq!(
        std::fs::read_to_string(ws.path().join("taken/keep.txt")).unwrap(),
        "mine"
    );
}

#[test]
fn plan_orders_dependent_steps_after_what_they_need() {
    let ws = demo_workspace();
    let r = run(ws.dsr().args([
        "--json",
        "plan",
        "export",
        "alice@example.com",
        "--playbook",
        "demo.yaml",
    ]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    let plan: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    let steps = plan["steps"].as_array().unwrap();
    let pos = |name: &str| {
        steps
            .iter()
            .position(|s| {
                format!(
                    "{}.{}",
                    s["system"].as_str().unwrap(),
                    s["collection"].as_str().unwrap()
                ) == name
            })
            .unwrap()
    };
    assert!(pos("accounts.users") < pos("shop.orders"));
    assert!(pos("shop.orders") < pos("shop.order_items"));
    assert_eq!(steps[pos("shop.order_items")]["wave"], 3);
    assert_eq!(
        steps[pos("shop.order_items")]["waits_for"],
        serde_json::json!(["shop.orders"])
    );
    // Planning touches nothing: no database file was created.
    assert!(!ws.path().join("demo/data").exists());
}

#[cfg(unix)]
#[test]
fn bundle_files_are_private() {
    use std::os::unix::fs::PermissionsExt;
    let ws = demo_workspace();
    let r = run(ws.dsr().args([
        "export",
        "alice@example.com",
        "--playbook",
        "demo.yaml",
        "--out",
        "p",
        "-q",
    ]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    let mode = |p: &str| {
        std::fs::metadata(ws.path().join(p))
            .unwrap()
            .permissions()
            .mode()
            & 0o777
    };
    assert_eq!(mode("p"), 0o700);
    assert_eq!(mode("p/accounts"), 0o700);
    assert_eq!(mode("p/accounts/users.json"), 0o600);
    assert_eq!(mode("p/manifest.json"), 0o600);
}

#[test]
fn quiet_prints_only_the_result_line() {
    let ws = demo_workspace();
    let r = run(ws.dsr().args([
        "-q",
        "export",
        "alice@example.com",
        "--playbook",
        "demo.yaml",
        "--out",
        "q",
    ]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.stdout, "Exported 14 records into q\n");
    let r = run(ws.dsr().args([
        "export",
        "bob@example.com",
        "--playbook",
        "demo.yaml",
        "--out",
        "b",
        "--received",
        "2026-01-31",
    ]));
    assert!(
        r.stdout.starts_with("Request ")
            && r.stdout.contains(", due 2026-02-28T00:00:00+00:00 (gdpr)"),
        "{}",
        r.stdout
    );
}
