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
        ws.run(cmd.split(' ').chain(["--help"]))
            .exits(0)
            .stderr_empty()
            .stdout_has("Example: dsr ");
    }
    ws.run(["--help"])
        .exits(0)
        .stderr_empty()
        .stdout_has("Exit codes");
}

#[test]
fn usage_errors_exit_2() {
    let ws = Workspace::new();
    ws.run(["frobnicate"])
        .exits(2)
        .stdout_empty()
        .stderr_has("frobnicate");
    ws.run(["plan", "export", "alice@example.com"])
        .exits(2)
        .stdout_empty()
        .stderr_has("no playbook given")
        .stderr_has("hint:");
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
        run(ws
            .dsr()
            .args(["plan", "export"])
            .args(&args)
            .arg("--playbook")
            .arg(&demo))
        .exits(2)
        .stdout_empty()
        .stderr_has(needle);
    }
}

#[test]
fn playbook_comes_from_the_environment_or_dsr_yaml() {
    let ws = Workspace::new();
    let demo = repo().join("playbooks/demo.yaml");
    run(ws
        .dsr()
        .args(["plan", "export", "alice@example.com"])
        .env("DSR_PLAYBOOK", &demo))
    .exits(0)
    .stderr_empty()
    .stdout_has("8 steps in 3 waves; nothing was run.");
    std::fs::copy(&demo, ws.path().join("dsr.yaml")).unwrap();
    // The copied playbook's seed paths no longer resolve: validation says so, naming the file.
    ws.run(["validate"])
        .exits(2)
        .stdout_empty()
        .stderr_has("dsr.yaml:")
        .stderr_has("seed file 'demo/accounts.sql' not found");
}
