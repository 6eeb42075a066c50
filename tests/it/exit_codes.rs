//! Exit codes tell the truth: 2 only when nothing was changed, 1 when something was changed
//! and something else failed (with a report or a failed ledger entry, never "in progress"),
//! 130 for an interrupted read phase. Each case checks the data as well as the code.

use crate::identity_graph::{Db, all_rows, shop};
use serde_json::Value;

fn ledger(f: &crate::identity_graph::Fixture) -> Vec<Value> {
    let r = f.dsr(&["--json", "requests", "list"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    serde_json::from_str::<Value>(&r.stdout)
        .unwrap()
        .as_array()
        .cloned()
        .unwrap_or_default()
}

#[test]
fn an_erase_whose_report_directory_cannot_be_made_is_refused_before_anything_changes() {
    let f = shop(Db::Sqlite, "unused");
    let before = all_rows(&f);
    f.ws.write("a-file", "not a directory");
    let r = f.dsr(&[
        "erase",
        "bob@example.com",
        "--yes",
        "--out",
        "a-file/report",
    ]);
    assert_eq!(r.code, 2, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stderr
            .contains("cannot create the report directory a-file/report")
            && r.stderr.contains("nothing was changed")
            && r.stderr.contains("hint: choose another --out"),
        "{}",
        r.stderr
    );
    assert_eq!(all_rows(&f), before, "nothing may change");
    assert!(ledger(&f).is_empty(), "no request entered the ledger");
}

#[test]
fn a_report_that_cannot_be_written_after_the_change_is_exit_1_and_a_failed_request() {
    let f = shop(Db::Sqlite, "unused");
    let before = all_rows(&f);
    // The report directory can be made, but report.json cannot be written into it.
    std::fs::create_dir_all(f.ws.path().join("out/report.json")).unwrap();
    let r = f.dsr(&["erase", "bob@example.com", "--yes", "--out", "out"]);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stderr
            .contains("the systems above were changed, but the signed report could not be written"),
        "{}",
        r.stderr
    );
    // Bob's rows are gone: the summary said so, and the ledger does not say "in progress".
    assert!(all_rows(&f).len() < before.len());
    let rows = ledger(&f);
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0]["status"], "failed", "{rows:?}");
}

#[test]
fn report_times_are_in_order_and_in_one_format() {
    let f = shop(Db::Sqlite, "unused");
    for args in [
        vec!["erase", "alice@example.com", "--yes", "--out", "e"],
        vec!["export", "bob@example.com", "--out", "x"],
    ] {
        let r = f.dsr(&args);
        assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
        let dir = args[args.len() - 1];
        let report = crate::support::read_json(&f.ws.path().join(dir).join("report.json"));
        let stamp = |v: &Value| -> String {
            let s = v
                .as_str()
                .unwrap_or_else(|| panic!("a time: {v}"))
                .to_string();
            // RFC 3339, UTC, Z, milliseconds: 2026-12-03T10:25:00.123Z
            assert!(
                s.len() == 24 && s.ends_with('Z') && s.as_bytes()[19] == b'.',
                "{s} in {dir}"
            );
            s
        };
        let received = stamp(&report["received"]);
        let started = stamp(&report["started"]);
        let completed = stamp(&report["completed"]);
        stamp(&report["due"]);
        assert!(
            received <= started,
            "{dir}: received {received} > started {started}"
        );
        for sys in report["systems"].as_array().unwrap() {
            for c in sys["collections"].as_array().unwrap() {
                for key in ["started", "finished"] {
                    if !c[key].is_null() {
                        let t = stamp(&c[key]);
                        assert!(
                            started <= t && t <= completed,
                            "{dir}: {key} {t} outside {started}..{completed}"
                        );
                    }
                }
            }
        }
        assert!(started <= completed);
        let md = std::fs::read_to_string(f.ws.path().join(dir).join("report.md")).unwrap();
        assert!(
            !md.lines().any(|l| l.contains(".")
                && l.split(['.', 'Z'])
                    .any(|p| p.len() == 9 && p.bytes().all(|b| b.is_ascii_digit()))),
            "nanoseconds in report.md:\n{md}"
        );
    }
}

/// One SQLite system that answers and one PostgreSQL system that refuses connections.
fn half_down() -> crate::identity_graph::Fixture {
    let f = shop(Db::Sqlite, "unused");
    let pb = std::fs::read_to_string(f.ws.path().join("pb.yaml")).unwrap();
    let down = "  down:\n    connector: postgres\n    url: postgres://postgres@127.0.0.1:1/test\n    purpose: p\n    legal_basis: contract\n    retention: r\n    retries: 0\n    collections:\n      people:\n        match: { email: identity.email }\n        erase: delete\n";
    f.ws.write("half.yaml", &format!("{pb}{down}"));
    f.ws.write("people.csv", "email\nalice@example.com\n");
    f
}

/// Every command that runs requests: 2 for input dsr refuses before running anything, 1 when
/// a system failed and the others were done, 0 when all went well.
#[test]
fn every_request_command_exits_0_1_or_2_as_documented() {
    type Case = (&'static str, Vec<&'static str>);
    let cases: Vec<Case> = vec![
        (
            "export",
            vec!["export", "alice@example.com", "--out", "OUT"],
        ),
        (
            "erase",
            vec!["erase", "alice@example.com", "--yes", "--out", "OUT"],
        ),
        (
            "correct",
            vec![
                "correct",
                "alice@example.com",
                "--set",
                "identity.email=alice2@example.com",
                "--yes",
                "--out",
                "OUT",
            ],
        ),
        (
            "batch export",
            vec!["batch", "export", "people.csv", "--out", "OUT"],
        ),
        (
            "batch erase",
            vec!["batch", "erase", "people.csv", "--yes", "--out", "OUT"],
        ),
    ];
    for (name, args) in &cases {
        for (playbook, want) in [("missing.yaml", 2), ("half.yaml", 1), ("pb.yaml", 0)] {
            let f = half_down();
            let out = format!("out-{}", playbook.trim_end_matches(".yaml"));
            let mut all: Vec<&str> = args
                .iter()
                .map(|a| if *a == "OUT" { out.as_str() } else { a })
                .collect();
            all.extend(["--playbook", playbook, "--no-progress"]);
            let r = crate::support::run(f.ws.dsr().args(&all));
            assert_eq!(
                r.code, want,
                "{name} with {playbook}: {}{}",
                r.stdout, r.stderr
            );
        }
    }
    // Queued requests: run-due says 0 when all that was due finished, 1 when one did not.
    for (playbook, want) in [("pb.yaml", 0), ("half.yaml", 1)] {
        let f = half_down();
        let r = crate::support::run(f.ws.dsr().args([
            "requests",
            "add",
            "export",
            "alice@example.com",
            "--playbook",
            playbook,
        ]));
        assert_eq!(r.code, 0, "{}", r.stderr);
        let r = crate::support::run(f.ws.dsr().args([
            "run-due",
            "--playbook",
            playbook,
            "--no-progress",
        ]));
        assert_eq!(
            r.code, want,
            "run-due with {playbook}: {}{}",
            r.stdout, r.stderr
        );
    }
    // A worker that cannot start (no playbook) says so and exits 2 at once; its exits on
    // SIGTERM (0) and with unfinished requests (1) are tested with the shared ledger.
    let f = half_down();
    for command in ["run-due", "worker"] {
        let r = crate::support::run(f.ws.dsr().args([command, "--playbook", "missing.yaml"]));
        assert_eq!(r.code, 2, "{command}: {}", r.stderr);
    }
}
