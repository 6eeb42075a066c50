//! `dsr completions SHELL` and `dsr man`, generated from the clap definitions.

use crate::support::{Workspace, run};

const COMMANDS: &[&str] = &[
    "export", "erase", "validate", "discover", "init", "requests",
];

#[test]
fn bash_completion_defines_its_function_and_knows_the_commands() {
    let ws = Workspace::new();
    let r = run(ws.dsr().args(["completions", "bash"]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("_dsr() {"), "{}", r.stdout);
    assert!(r.stdout.contains("complete -F _dsr"), "{}", r.stdout);
    for c in COMMANDS {
        assert!(r.stdout.contains(c), "no {c} in the bash completion");
    }
    assert!(
        r.stdout.contains("--playbook"),
        "global options complete too"
    );
}

#[test]
fn completions_for_zsh_fish_and_powershell() {
    let ws = Workspace::new();
    for (shell, marker) in [
        ("zsh", "#compdef dsr"),
        ("fish", "complete -c dsr"),
        ("powershell", "Register-ArgumentCompleter"),
    ] {
        let r = run(ws.dsr().args(["completions", shell]));
        assert_eq!(r.code, 0, "{shell}: {}", r.stderr);
        assert!(r.stdout.contains(marker), "{shell}:\n{}", r.stdout);
        assert!(r.stdout.contains("export"), "{shell}");
    }
    let r = run(ws.dsr().args(["completions", "tcsh"]));
    assert_eq!(r.code, 2);
}

#[test]
fn man_page_is_roff_and_names_the_commands() {
    let ws = Workspace::new();
    let r = run(ws.dsr().arg("man"));
    assert_eq!(r.code, 0, "{}", r.stderr);
    // Only roff requests (string definitions) may come before the title.
    let mut lines = r.stdout.lines();
    let title = lines
        .by_ref()
        .find(|l| !l.starts_with(".ie") && !l.starts_with(".el"))
        .unwrap_or("");
    assert!(title.starts_with(".TH dsr 1"), "{}", r.stdout);
    assert!(r.stdout.contains(".SH NAME"), "{}", r.stdout);
    assert!(r.stdout.contains(".SH SUBCOMMANDS"), "{}", r.stdout);
    for c in COMMANDS {
        assert!(
            r.stdout.contains(&format!("dsr\\-{c}(1)")),
            "no {c} in:\n{}",
            r.stdout
        );
    }
    let dir = ws.path().join("man1");
    std::fs::create_dir(&dir).unwrap();
    let r = run(ws.dsr().args(["man", "--out-dir", "man1"]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    for page in ["dsr.1", "dsr-export.1", "dsr-requests-list.1", "dsr-init.1"] {
        let text = std::fs::read_to_string(dir.join(page)).unwrap_or_default();
        assert!(text.contains(".TH"), "{page}: {text}");
    }
}

#[test]
fn help_of_init_completions_and_man_has_an_example() {
    let ws = Workspace::new();
    for cmd in ["init", "completions", "man"] {
        let r = run(ws.dsr().args([cmd, "--help"]));
        assert_eq!(r.code, 0, "{cmd}");
        assert!(r.stdout.contains("Example: dsr "), "{cmd}:\n{}", r.stdout);
    }
}
