//! Command-line surface: help, usage errors and their exit codes.

use crate::support::{Workspace, repo, run};

#[test]
fn help_of_every_command_has_an_example() {
    let ws = Workspace::new();
    for cmd in [
        "validate",
        "plan",
        "export",
        "keys",
        "keys generate",
        "verify",
        "requests",
        "requests list",
        "requests show",
        "discover",
        "map",
        "connectors",
        "connectors list",
        "connectors show",
        "erase",
        "correct",
        "resume",
        "batch",
        "run-due",
        "requests add",
        "requests queue",
        "requests confirm",
    ] {
        let r = run(ws.dsr().args(cmd.split(' ')).arg("--help"));
        assert_eq!(r.code, 0, "{cmd}");
        assert!(
            r.stdout.contains("Example: dsr "),
            "{cmd} --help has no example:\n{}",
            r.stdout
        );
    }
    let r = run(ws.dsr().arg("--help"));
    assert!(r.stdout.contains("Exit codes"), "{}", r.stdout);
}

#[test]
fn usage_errors_exit_2() {
    let ws = Workspace::new();
    let r = run(ws.dsr().arg("frobnicate"));
    assert_eq!(r.code, 2);
    let r = run(ws.dsr().args(["plan", "export", "alice@example.com"]));
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("no playbook given"), "{}", r.stderr);
    assert!(r.stderr.contains("hint:"), "{}", r.stderr);
}

#[test]
fn bad_identities_exit_2_with_a_hint() {
    let ws = Workspace::new();
    let demo = repo().join("playbooks/demo.yaml");
    for (args, needle) in [
        (vec!["alice"], "cannot tell what kind of identity"),
        (vec!["alice@nowhere"], "not a valid email"),
        (
            vec!["--id", "phone=+44123"],
            "identity kind 'phone' is not declared",
        ),
        (vec!["--id", "user_id"], "--id takes KIND=VALUE"),
    ] {
        let r = run(ws
            .dsr()
            .args(["plan", "export"])
            .args(&args)
            .arg("--playbook")
            .arg(&demo));
        assert_eq!(r.code, 2, "{args:?}");
        assert!(r.stderr.contains(needle), "{args:?}: {}", r.stderr);
    }
}

#[test]
fn playbook_comes_from_the_environment_or_dsr_yaml() {
    let ws = Workspace::new();
    let demo = repo().join("playbooks/demo.yaml");
    let r = run(ws
        .dsr()
        .args(["plan", "export", "alice@example.com"])
        .env("DSR_PLAYBOOK", &demo));
    assert_eq!(r.code, 0, "{}", r.stderr);
    std::fs::copy(&demo, ws.path().join("dsr.yaml")).unwrap();
    // The copied playbook's seed paths no longer resolve: validation says so, naming the file.
    let r = run(ws.dsr().args(["validate"]));
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("dsr.yaml:"), "{}", r.stderr);
    assert!(
        r.stderr.contains("seed file 'demo/accounts.sql' not found"),
        "{}",
        r.stderr
    );
}
