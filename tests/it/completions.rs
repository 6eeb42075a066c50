//! `dsr completions SHELL` and `dsr man`, generated from the clap definitions.

use crate::support::Workspace;

const COMMANDS: &[&str] = &[
    "export", "erase", "validate", "discover", "init", "requests",
];

#[test]
fn bash_completion_defines_its_function_and_knows_the_commands() {
    let ws = Workspace::new();
    let mut r = ws
        .run(["completions", "bash"])
        .exits(0)
        .stderr_empty()
        .stdout_has("_dsr() {")
        .stdout_has("complete -F _dsr")
        // Global options complete too.
        .stdout_has("--playbook");
    for c in COMMANDS {
        r = r.stdout_has(c);
    }
}

#[test]
fn completions_for_zsh_fish_and_powershell() {
    let ws = Workspace::new();
    for (shell, marker) in [
        ("zsh", "#compdef dsr"),
        ("fish", "complete -c dsr"),
        ("powershell", "Register-ArgumentCompleter"),
    ] {
        ws.run(["completions", shell])
            .exits(0)
            .stderr_empty()
            .stdout_has(marker)
            .stdout_has("export");
    }
    ws.run(["completions", "tcsh"]).exits(2).stdout_empty();
}

#[test]
fn man_page_is_roff_and_names_the_commands() {
    let ws = Workspace::new();
    let mut r = ws
        .run(["man"])
        .exits(0)
        .stderr_empty()
        .stdout_has(".SH NAME")
        .stdout_has(".SH SUBCOMMANDS");
    // Only roff requests (string definitions) may come before the title.
    let mut lines = r.stdout.lines();
    let title = lines
        .by_ref()
        .find(|l| !l.starts_with(".ie") && !l.starts_with(".el"))
        .unwrap_or("");
    assert!(title.starts_with(".TH dsr 1"), "{}", r.stdout);
    for c in COMMANDS {
        r = r.stdout_has(format!("dsr\\-{c}(1)"));
    }
    let dir = ws.path().join("man1");
    std::fs::create_dir(&dir).unwrap();
    ws.run(["man", "--out-dir", "man1"]).exits(0).stderr_empty();
    for page in ["dsr.1", "dsr-export.1", "dsr-requests-list.1", "dsr-init.1"] {
        let text = std::fs::read_to_string(dir.join(page)).unwrap_or_default();
        assert!(text.contains(".TH"), "{page}: {text}");
    }
}

#[test]
fn help_of_init_completions_and_man_has_an_example() {
    let ws = Workspace::new();
    for cmd in ["init", "completions", "man"] {
        ws.run([cmd, "--help"])
            .exits(0)
            .stderr_empty()
            .stdout_has("Example: dsr ");
    }
}
