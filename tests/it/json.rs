//! The `--json` contract: every command prints JSON on stdout, or refuses with exit 2 and one
//! JSON error object on stderr. Errors under `--json` are JSON too.

use crate::support::{Ran, Workspace, run};
use serde_json::Value;

/// stdout as JSON: one document, or (for the commands that report as they go) one per line.
fn parse_stdout(r: &Ran) -> Result<Vec<Value>, String> {
    if let Ok(v) = serde_json::from_str::<Value>(&r.stdout) {
        return Ok(vec![v]);
    }
    let lines: Vec<&str> = r.stdout.lines().filter(|l| !l.trim().is_empty()).collect();
    if lines.is_empty() {
        return Err("stdout is empty".into());
    }
    lines
        .iter()
        .map(|l| serde_json::from_str(l).map_err(|e| format!("{e}: {l}")))
        .collect()
}

/// stderr as the one JSON error object of the contract.
fn error_object(stderr: &str) -> Value {
    let v: Value = serde_json::from_str(stderr.trim())
        .unwrap_or_else(|e| panic!("stderr is not one JSON object ({e}):\n{stderr}"));
    assert!(v["error"].is_string(), "{v}");
    assert!(v.get("hint").is_some(), "hint is always there: {v}");
    assert_eq!(v["exit_code"], 2, "{v}");
    v
}

/// The command paths (`requests list`, …) of every subcommand that does something itself.
fn every_command() -> Vec<String> {
    fn walk(prefix: &str, cmd: &clap::Command, out: &mut Vec<String>) {
        for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
            let path = format!("{prefix}{}", sub.get_name()).trim().to_string();
            if sub.has_subcommands() {
                walk(&format!("{path} "), sub, out);
            } else {
                out.push(path);
            }
        }
    }
    let mut out = Vec::new();
    walk(
        "",
        &<dsr::cli::Cli as clap::CommandFactory>::command(),
        &mut out,
    );
    out
}

#[test]
fn every_command_answers_json_or_refuses_it_as_json() {
    let ws = crate::export_sqlite::demo_workspace();
    ws.write("people.csv", "email\nbob@example.com\n");
    let no_id = "019a4f3e-7c2d-7b1a-9a44-5f0c2d1e8b77";
    // (command path, arguments after `dsr --json`), in an order where each finds what it
    // needs: the export before the verify and the discover (which reads the demo database).
    let mut cases: Vec<(&str, Vec<String>)> = Vec::new();
    let mut case = |name: &'static str, args: &str| {
        cases.push((name, args.split(' ').map(String::from).collect()));
    };
    case("validate", "validate demo.yaml");
    case("plan", "plan erase alice@example.com --playbook demo.yaml");
    case(
        "export",
        "export alice@example.com --playbook demo.yaml --out a",
    );
    case("verify", "verify a/report.json");
    case("keys generate", "keys generate --out k");
    case(
        "erase",
        "erase alice@example.com --dry-run --playbook demo.yaml",
    );
    case(
        "correct",
        "correct alice@example.com --set identity.email=alice@new.example --dry-run --playbook demo.yaml",
    );
    case("resume", &format!("resume {no_id} --playbook demo.yaml"));
    case("discover", "discover sqlite:demo/accounts.db --sample 0");
    case("map", "map demo.yaml");
    case("connectors list", "connectors list");
    case("connectors show", "connectors show stripe");
    case(
        "batch",
        "batch export people.csv --playbook demo.yaml --out b",
    );
    case(
        "requests add",
        "requests add erase bob@example.com --not-before 2099-01-01 --playbook demo.yaml",
    );
    case("requests list", "requests list");
    case("requests show", &format!("requests show {no_id}"));
    case("requests queue", "requests queue");
    case(
        "requests close",
        &format!("requests close {no_id} --reason withdrawn"),
    );
    case(
        "requests confirm",
        &format!("requests confirm {no_id} accounts --note done"),
    );
    case("run-due", "run-due --playbook demo.yaml --out due");
    case(
        "worker",
        "worker --playbook demo.yaml --out due --poll 1s --grace 1s",
    );
    case(
        "init",
        "init --no-input --organisation Acme --system app=sqlite --out init.yaml",
    );
    case("completions", "completions bash");
    case("man", "man");

    let covered: Vec<&str> = cases.iter().map(|(n, _)| *n).collect();
    for cmd in every_command() {
        assert!(
            covered.contains(&cmd.as_str()),
            "`dsr {cmd}` is not in this table"
        );
    }
    for (name, args) in &cases {
        let r = if *name == "worker" {
            // A worker runs until stopped: SIGTERM after a moment (exit 0 when stopped).
            run(assert_cmd::Command::new("timeout")
                .args(["--preserve-status", "-s", "TERM", "3"])
                .arg(assert_cmd::cargo::cargo_bin("dsr"))
                .arg("--json")
                .args(args)
                .current_dir(ws.path())
                .env("DSR_STATE_DIR", ws.path().join(".dsr-state"))
                .env_remove("DSR_LEDGER")
                .env_remove("DSR_PLAYBOOK"))
        } else {
            run(ws.dsr().arg("--json").args(args))
        };
        if r.code == 2 {
            assert!(
                r.stdout.is_empty(),
                "{name}: stdout under a refusal: {}",
                r.stdout
            );
            error_object(&r.stderr);
        } else {
            assert!(
                r.code == 0 || r.code == 1,
                "{name}: exit {}\n{}",
                r.code,
                r.stderr
            );
            if let Err(e) = parse_stdout(&r) {
                panic!("{name}: stdout is not JSON ({e}):\n{}", r.stdout);
            }
        }
    }
}

#[test]
fn map_json_is_the_record_of_processing() {
    let ws = crate::export_sqlite::demo_workspace();
    let r = run(ws.dsr().args(["--json", "map", "demo.yaml"]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    let v: Value = serde_json::from_str(&r.stdout).expect("JSON, not Markdown");
    assert_eq!(v["controller"], "Acme Tea Ltd");
    let shop = v["activities"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["system"] == "shop")
        .unwrap();
    let items = shop["erasure"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["collection"] == "order_items")
        .unwrap();
    assert_eq!(items["strategy"], "keep");
    assert!(items["because"].is_string(), "{items}");
    // A format that is not JSON cannot also be JSON.
    let r = run(ws
        .dsr()
        .args(["--json", "map", "demo.yaml", "--format", "html"]));
    assert_eq!(r.code, 2);
    assert!(r.stdout.is_empty());
    error_object(&r.stderr);
}

#[test]
fn completions_and_man_refuse_json() {
    let ws = Workspace::new();
    for args in [vec!["completions", "bash"], vec!["man"]] {
        let r = run(ws.dsr().arg("--json").args(&args));
        assert_eq!(r.code, 2, "{args:?}");
        assert!(r.stdout.is_empty(), "{args:?}: {}", r.stdout);
        let e = error_object(&r.stderr);
        assert!(
            e["error"].as_str().unwrap().contains("--json"),
            "{args:?}: {e}"
        );
        assert!(e["hint"].is_string(), "{e}");
    }
}

#[test]
fn run_due_json_says_what_ran_even_when_nothing_was_due() {
    let ws = crate::export_sqlite::demo_workspace();
    let r = run(ws
        .dsr()
        .args(["--json", "run-due", "--playbook", "demo.yaml"]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    let v: Value = serde_json::from_str(&r.stdout).expect("one JSON summary");
    assert_eq!(v["ran"], 0, "{v}");
    assert_eq!(v["did_not_finish"], 0, "{v}");
}

#[test]
fn errors_under_json_are_one_object_with_error_hint_and_exit_code() {
    let ws = Workspace::new();
    // A usage error with a hint.
    let r = run(ws
        .dsr()
        .args(["--json", "plan", "export", "alice@example.com"]));
    assert_eq!(r.code, 2);
    let e = error_object(&r.stderr);
    assert!(
        e["error"].as_str().unwrap().contains("no playbook given"),
        "{e}"
    );
    assert!(
        !e["error"].as_str().unwrap().contains("hint:"),
        "the hint is a field of its own: {e}"
    );
    assert!(e["hint"].is_string(), "{e}");
    assert!(e.get("diagnostics").is_none(), "{e}");
    // A command line clap refuses.
    let r = run(ws.dsr().args(["--json", "frobnicate"]));
    assert_eq!(r.code, 2);
    let e = error_object(&r.stderr);
    assert!(e["error"].as_str().unwrap().contains("frobnicate"), "{e}");
    // A playbook's diagnostics, each with its place.
    ws.write(
        "bad.yaml",
        "version: 1\norganisation: Acme\nidentities: [email]\nsystems:\n  app:\n    connector: nosuch\n",
    );
    let r = run(ws.dsr().args(["--json", "validate", "bad.yaml"]));
    assert_eq!(r.code, 2);
    let e = error_object(&r.stderr);
    let d = e["diagnostics"].as_array().expect("diagnostics");
    assert!(!d.is_empty(), "{e}");
    for one in d {
        assert_eq!(one["file"], "bad.yaml", "{one}");
        assert!(one["line"].is_u64() && one["column"].is_u64(), "{one}");
        assert!(
            one["field"].is_string() && one["message"].is_string(),
            "{one}"
        );
    }
    // Without --json, errors stay text.
    let r = run(ws.dsr().args(["validate", "bad.yaml"]));
    assert!(r.stderr.starts_with("error: "), "{}", r.stderr);
}
