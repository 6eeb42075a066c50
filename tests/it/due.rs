//! The queue: `dsr requests add` and `dsr run-due`.

use crate::support::{Workspace, read_json, run};
use serde_json::Value;
use std::collections::BTreeSet;

fn ids_of(stdout: &str) -> Vec<String> {
    stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter_map(|v| v["request_id"].as_str().map(str::to_string))
        .collect()
}

/// `dsr` in `ws`, on the shared ledger `ledger` when given.
pub fn dsr_on(ws: &Workspace, ledger: Option<&str>) -> assert_cmd::Command {
    let mut cmd = ws.dsr();
    if let Some(url) = ledger {
        cmd.env("DSR_LEDGER", url);
    }
    cmd
}

#[test]
fn run_due_runs_only_what_is_due() {
    run_due_runs_only_what_is_due_on(None);
}

/// `requests add` queues, `run-due` runs only what is due, on the embedded ledger or a shared
/// one.
pub fn run_due_runs_only_what_is_due_on(ledger: Option<&str>) {
    let ws = crate::export_sqlite::demo_workspace();
    let r = run(dsr_on(&ws, ledger).args([
        "--json",
        "requests",
        "add",
        "erase",
        "alice@example.com",
        "--not-before",
        "2026-01-01",
        "--playbook",
        "demo.yaml",
    ]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    let alice: Value = serde_json::from_str(&r.stdout).unwrap();
    let r = run(dsr_on(&ws, ledger).args([
        "requests",
        "add",
        "erase",
        "bob@example.com",
        "--not-before",
        "2999-01-01",
        "--playbook",
        "demo.yaml",
    ]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    let bad = run(dsr_on(&ws, ledger).args([
        "requests",
        "add",
        "erase",
        "carol@example.com",
        "--not-before",
        "soon",
        "--playbook",
        "demo.yaml",
    ]));
    assert_eq!(bad.code, 2);
    assert!(
        bad.stderr.contains("--not-before: 'soon' is not a date"),
        "{}",
        bad.stderr
    );

    let r = run(dsr_on(&ws, ledger).args(["--json", "run-due", "--playbook", "demo.yaml"]));
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert_eq!(ids_of(&r.stdout), [alice["request_id"].as_str().unwrap()]);
    let line: Value = serde_json::from_str(r.stdout.lines().next().unwrap()).unwrap();
    assert_eq!(line["outcome"], "done");
    let report = read_json(std::path::Path::new(line["report"].as_str().unwrap()));
    assert_eq!(report["action"], "erase");

    let q = run(dsr_on(&ws, ledger).args(["--json", "requests", "queue"]));
    let queue: Vec<Value> = serde_json::from_str(&q.stdout).unwrap();
    let statuses: Vec<&str> = queue
        .iter()
        .map(|r| r["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["done", "queued"]);
    assert!(
        !q.stdout.contains("@example.com"),
        "the queue listing names no one"
    );
    // Nothing else is due: a second run does nothing.
    let r = run(dsr_on(&ws, ledger).args(["--json", "run-due", "--playbook", "demo.yaml"]));
    assert_eq!((r.code, ids_of(&r.stdout).len()), (0, 0));
    // Alice is gone, Bob is not.
    let r = run(dsr_on(&ws, ledger).args([
        "--json",
        "export",
        "bob@example.com",
        "--playbook",
        "demo.yaml",
        "--out",
        "bob",
    ]));
    assert_eq!(
        read_json(&ws.path().join("bob/accounts/users.json"))[0]["email"],
        "bob@example.com"
    );
    assert_eq!(r.code, 0);
}

#[test]
fn two_overlapping_run_dues_never_take_the_same_request() {
    two_overlapping_run_dues_never_take_the_same_request_on(None);
}

pub fn two_overlapping_run_dues_never_take_the_same_request_on(ledger: Option<&str>) {
    let ws = crate::export_sqlite::demo_workspace();
    let mut queued = BTreeSet::new();
    for i in 0..16 {
        let r = run(dsr_on(&ws, ledger).args([
            "--json",
            "requests",
            "add",
            "export",
            &format!("person{i}@example.com"),
            "--playbook",
            "demo.yaml",
        ]));
        assert_eq!(r.code, 0, "{}", r.stderr);
        let v: Value = serde_json::from_str(&r.stdout).unwrap();
        queued.insert(v["request_id"].as_str().unwrap().to_string());
    }
    let spawn = |out: &str| {
        let mut cmd = std::process::Command::new(assert_cmd::cargo::cargo_bin("dsr"));
        cmd.args(["--json", "run-due", "--playbook", "demo.yaml", "--out", out])
            .current_dir(ws.path())
            .env("DSR_STATE_DIR", ws.path().join(".dsr-state"))
            .env_remove("DSR_LEDGER")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        if let Some(url) = ledger {
            cmd.env("DSR_LEDGER", url);
        }
        cmd.spawn().unwrap()
    };
    let (a, b) = (spawn("a"), spawn("b"));
    let (a, b) = (a.wait_with_output().unwrap(), b.wait_with_output().unwrap());
    assert!(
        a.status.success() && b.status.success(),
        "{}{}",
        String::from_utf8_lossy(&a.stderr),
        String::from_utf8_lossy(&b.stderr)
    );
    let ran_a: BTreeSet<String> = ids_of(&String::from_utf8_lossy(&a.stdout))
        .into_iter()
        .collect();
    let ran_b: BTreeSet<String> = ids_of(&String::from_utf8_lossy(&b.stdout))
        .into_iter()
        .collect();
    assert!(
        ran_a.is_disjoint(&ran_b),
        "both ran {:?}",
        ran_a.intersection(&ran_b).collect::<Vec<_>>()
    );
    let all: BTreeSet<String> = ran_a.union(&ran_b).cloned().collect();
    assert_eq!(all, queued);
    let list = run(dsr_on(&ws, ledger).args(["--json", "requests", "list"]));
    let ledger: Vec<Value> = serde_json::from_str(&list.stdout).unwrap();
    assert_eq!(ledger.len(), 16, "one ledger row per request");
}
