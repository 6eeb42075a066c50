//! Manners on a terminal: tables that fit, the erase preview beside its question, Ctrl-C at
//! the prompt, and a version that names its commit.

use crate::support::{Workspace, repo, run};
use serde_json::Value;
use std::io::{Read as _, Write as _};
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

#[test]
fn tables_fit_columns() {
    let ws = Workspace::new();
    let demo = repo().join("playbooks/demo.yaml");
    for args in [
        vec!["plan", "export", "alice@example.com", "--playbook"],
        vec!["plan", "erase", "alice@example.com", "--playbook"],
        vec!["connectors", "list"],
    ] {
        let mut cmd = ws.dsr();
        cmd.args(&args).env("COLUMNS", "60");
        if args.last() == Some(&"--playbook") {
            cmd.arg(&demo);
        }
        let r = run(&mut cmd);
        assert_eq!(r.code, 0, "{args:?}: {}", r.stderr);
        for line in r.stdout.lines() {
            assert!(
                line.chars().count() <= 60,
                "{args:?}: {} characters:\n{line}\n\n{}",
                line.chars().count(),
                r.stdout
            );
        }
        // Wrapped, not cut: every step is still there.
        if args[0] == "plan" {
            assert!(r.stdout.contains("8 steps"), "{}", r.stdout);
        }
    }
    // Without a terminal or COLUMNS, nothing is wrapped.
    let r = run(ws.dsr().args(["connectors", "list"]));
    assert!(
        r.stdout.lines().any(|l| l.chars().count() > 60),
        "{}",
        r.stdout
    );
}

#[test]
fn plan_erase_shows_each_collections_strategy() {
    let ws = Workspace::new();
    let r = run(ws.dsr().current_dir(repo()).args([
        "plan",
        "erase",
        "alice@example.com",
        "--playbook",
        "playbooks/demo.yaml",
    ]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    insta::assert_snapshot!(r.stdout);
}

#[test]
fn plan_correct_shows_the_columns_it_sets() {
    let ws = Workspace::new();
    let r = run(ws.dsr().current_dir(repo()).args([
        "plan",
        "correct",
        "alice@example.com",
        "--set",
        "identity.email=alice@new.example",
        "--playbook",
        "playbooks/demo.yaml",
    ]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    let users = r
        .stdout
        .lines()
        .find(|l| l.contains("accounts.users"))
        .unwrap();
    assert!(users.contains("set email"), "{}", r.stdout);
    let tickets = r
        .stdout
        .lines()
        .find(|l| l.contains("support.tickets"))
        .unwrap();
    assert!(tickets.contains("set requester_email"), "{}", r.stdout);
    let r = run(ws.dsr().current_dir(repo()).args([
        "--json",
        "plan",
        "correct",
        "alice@example.com",
        "--set",
        "identity.email=alice@new.example",
        "--playbook",
        "playbooks/demo.yaml",
    ]));
    let v: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["steps"][0]["change"], "set email", "{v}");
    // --set is only for corrections.
    let r = run(ws.dsr().current_dir(repo()).args([
        "plan",
        "erase",
        "alice@example.com",
        "--set",
        "identity.email=x@example.com",
        "--playbook",
        "playbooks/demo.yaml",
    ]));
    assert_eq!(r.code, 2, "{}", r.stderr);
}

#[test]
fn version_names_the_commit() {
    let ws = Workspace::new();
    let r = run(ws.dsr().arg("--version"));
    assert_eq!(r.code, 0);
    let head = std::process::Command::new("git")
        .args(["rev-parse", "--short", "HEAD"])
        .current_dir(repo())
        .output();
    match head {
        Ok(out) if out.status.success() => {
            let hash = String::from_utf8_lossy(&out.stdout).trim().to_string();
            assert_eq!(
                r.stdout.trim(),
                format!("dsr {} ({hash})", env!("CARGO_PKG_VERSION"))
            );
        }
        // Not a git checkout (a source tarball): the version alone.
        _ => assert_eq!(
            r.stdout.trim(),
            format!("dsr {}", env!("CARGO_PKG_VERSION"))
        ),
    }
}

/// `dsr ARGS` on a pseudo-terminal (stdin and stderr; util-linux `script`), its stdout
/// redirected to `out.txt` in the workspace. What the terminal shows arrives on the channel.
pub(crate) fn on_a_terminal(ws: &Workspace, args: &str) -> (Child, mpsc::Receiver<Vec<u8>>) {
    let bin = assert_cmd::cargo::cargo_bin("dsr");
    let mut child = std::process::Command::new("script")
        .args([
            "-qec",
            &format!("exec '{}' --no-progress {args} > out.txt", bin.display()),
            "/dev/null",
        ])
        .current_dir(ws.path())
        .env("DSR_STATE_DIR", ws.path().join(".dsr-state"))
        .env("NO_COLOR", "1")
        .env_remove("DSR_LEDGER")
        .env_remove("DSR_PLAYBOOK")
        .env_remove("COLUMNS")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("script (util-linux) runs");
    let mut stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = stdout.read(&mut buf) {
            if n == 0 || tx.send(buf[..n].to_vec()).is_err() {
                break;
            }
        }
    });
    (child, rx)
}

/// Everything the terminal shows until `needle` appears.
pub(crate) fn wait_for(rx: &mpsc::Receiver<Vec<u8>>, needle: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut seen = Vec::new();
    while !String::from_utf8_lossy(&seen).contains(needle) {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(bytes) => seen.extend(bytes),
            Err(_) => panic!(
                "no '{needle}' on the terminal:\n{}",
                String::from_utf8_lossy(&seen)
            ),
        }
    }
    String::from_utf8_lossy(&seen).into_owned()
}

pub(crate) fn rest(rx: &mpsc::Receiver<Vec<u8>>) -> String {
    let mut seen = Vec::new();
    while let Ok(bytes) = rx.recv_timeout(Duration::from_secs(30)) {
        seen.extend(bytes);
    }
    String::from_utf8_lossy(&seen).into_owned()
}

/// What a dry run says would change: the data is as it was.
fn changes_left(ws: &Workspace) -> u64 {
    let r = run(ws.dsr().args([
        "--json",
        "erase",
        "alice@example.com",
        "--dry-run",
        "--playbook",
        "demo.yaml",
    ]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    let v: Value = serde_json::from_str(&r.stdout).unwrap();
    v["changes"].as_u64().unwrap()
}

/// The request id the run printed on stdout (`Request ID: erase for …`).
fn request_id(ws: &Workspace) -> String {
    let out = std::fs::read_to_string(ws.path().join("out.txt")).unwrap();
    out.lines()
        .find_map(|l| l.strip_prefix("Request "))
        .and_then(|l| l.split(':').next())
        .unwrap_or_else(|| panic!("no request id in stdout:\n{out}"))
        .to_string()
}

#[test]
fn the_erase_preview_goes_with_the_question_when_stdout_is_redirected() {
    let ws = crate::export_sqlite::demo_workspace();
    let before = changes_left(&ws);
    let (mut child, rx) = on_a_terminal(&ws, "erase alice@example.com --playbook demo.yaml");
    let shown = wait_for(&rx, "Type 'erase' to go ahead");
    child.stdin.take().unwrap().write_all(b"no\n").unwrap();
    let shown = shown + &rest(&rx);
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(2), "{shown}");
    // The table is on the terminal, before the question.
    let table = shown
        .find("will change")
        .expect("the preview on the terminal");
    assert!(table < shown.find("Type 'erase'").unwrap(), "{shown}");
    assert!(
        shown.contains("shop") && shown.contains("keep 3"),
        "{shown}"
    );
    assert!(shown.contains("Nothing was changed."), "{shown}");
    let out = std::fs::read_to_string(ws.path().join("out.txt")).unwrap();
    assert!(
        !out.contains("will change"),
        "not twice, not in the file: {out}"
    );
    assert_eq!(changes_left(&ws), before);
}

#[test]
fn ctrl_c_at_the_confirmation_exits_130_and_changes_nothing() {
    let ws = crate::export_sqlite::demo_workspace();
    let before = changes_left(&ws);
    assert!(before > 0);
    let (mut child, rx) = on_a_terminal(&ws, "erase alice@example.com --playbook demo.yaml");
    wait_for(&rx, "Type 'erase' to go ahead");
    // dsr is the only process under `script` (exec): the terminal's foreground.
    let dsr = std::fs::read_to_string(format!("/proc/{}/task/{0}/children", child.id()))
        .ok()
        .and_then(|c| c.split_whitespace().next().map(str::to_string))
        .expect("the dsr process under script");
    let sent = std::process::Command::new("kill")
        .args(["-INT", &dsr])
        .status()
        .unwrap();
    assert!(sent.success());
    // At once, without waiting for Enter.
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("still waiting at the prompt after Ctrl-C");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let shown = rest(&rx);
    assert_eq!(status.code(), Some(130), "{shown}");
    assert!(shown.contains("Nothing was changed."), "{shown}");
    drop(child.stdin.take());
    // The request is cancelled in the journal, its empty report directory gone, the data as
    // it was.
    let id = request_id(&ws);
    let r = run(ws
        .dsr()
        .args(["resume", &id, "--playbook", "demo.yaml", "--yes"]));
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("nothing to resume"), "{}", r.stderr);
    assert!(!ws.path().join(format!("dsr-erase-{id}")).exists());
    assert_eq!(changes_left(&ws), before);
}
