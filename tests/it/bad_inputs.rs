//! The bad-input corpus (`tests/bad-inputs/`): every malformed, hostile or surprising input
//! gives its documented exit code and message, and none makes dsr panic or hang.

use crate::support::{Ran, Workspace, repo, run};
use std::path::Path;
use std::time::Duration;

/// What a case's `.expect` file asks for.
#[derive(Debug, Default)]
struct Expect {
    exit: Option<i32>,
    stderr: Vec<String>,
    stdout: Vec<String>,
    stderr_lacks: Vec<String>,
}

fn parse_expect(path: &Path) -> Expect {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut e = Expect::default();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim_end();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (key, value) = line
            .split_once(": ")
            .unwrap_or_else(|| panic!("{}:{}: not `key: value`", path.display(), n + 1));
        match key {
            "exit" => e.exit = Some(value.parse().expect("exit code")),
            "stderr contains" => e.stderr.push(value.to_string()),
            "stdout contains" => e.stdout.push(value.to_string()),
            "stderr lacks" => e.stderr_lacks.push(value.to_string()),
            other => panic!("{}:{}: unknown key '{other}'", path.display(), n + 1),
        }
    }
    assert!(e.exit.is_some(), "{}: no `exit:` line", path.display());
    e
}

/// One argument per line, with `\xNN`, `\n`, `\r`, `\t`, `\e` and `\\` unescaped.
fn parse_args(text: &str) -> Vec<String> {
    text.lines()
        .map(|line| {
            let mut out = String::new();
            let mut chars = line.chars();
            while let Some(c) = chars.next() {
                if c != '\\' {
                    out.push(c);
                    continue;
                }
                match chars.next() {
                    Some('n') => out.push('\n'),
                    Some('r') => out.push('\r'),
                    Some('t') => out.push('\t'),
                    Some('e') => out.push('\u{1b}'),
                    Some('\\') => out.push('\\'),
                    Some('x') => {
                        let hex: String = chars.by_ref().take(2).collect();
                        out.push(char::from(u8::from_str_radix(&hex, 16).expect("\\xNN")));
                    }
                    other => panic!("unknown escape \\{other:?} in {line}"),
                }
            }
            out
        })
        .collect()
}

/// The assertions every case shares: a clean exit (no signal, no panic) with the expected
/// code and messages.
#[track_caller]
fn check(name: &str, r: &Ran, e: &Expect) {
    let context = format!("case {name}\nstdout:\n{}\nstderr:\n{}", r.stdout, r.stderr);
    assert!(!r.stderr.contains("panicked"), "{context}");
    assert!(!r.stderr.contains("RUST_BACKTRACE"), "{context}");
    assert_eq!(Some(r.code), e.exit, "{context}");
    for needle in &e.stderr {
        assert!(
            r.stderr.contains(needle.as_str()),
            "stderr lacks {needle:?}\n{context}"
        );
    }
    for needle in &e.stderr_lacks {
        assert!(
            !r.stderr.contains(needle.as_str()),
            "stderr has {needle:?}\n{context}"
        );
    }
    for needle in &e.stdout {
        assert!(
            r.stdout.contains(needle.as_str()),
            "stdout lacks {needle:?}\n{context}"
        );
    }
    if e.exit == Some(2) {
        assert!(r.stderr.starts_with("error: "), "{context}");
    }
}

/// A copy of the corpus to run in: cases may create files (the seeded database, bundles).
fn corpus_workspace() -> Workspace {
    let ws = Workspace::new();
    for entry in std::fs::read_dir(repo().join("tests/bad-inputs")).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), ws.path().join(entry.file_name())).unwrap();
    }
    ws
}

fn dsr_bounded(ws: &Workspace) -> assert_cmd::Command {
    let mut cmd = ws.dsr();
    // A bound on a hang, not a timing assertion: every case ends in well under a second.
    cmd.timeout(Duration::from_secs(120));
    cmd
}

#[test]
fn every_case_in_the_corpus_gives_its_exit_code_and_message() {
    let ws = corpus_workspace();
    let mut names: Vec<String> = std::fs::read_dir(ws.path())
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .collect();
    names.sort();
    let mut ran = 0;
    for file in &names {
        let (name, kind) = file.rsplit_once('.').unwrap_or((file, ""));
        if !matches!(kind, "yaml" | "args") || name == "good" {
            continue;
        }
        let expect = parse_expect(&ws.path().join(format!("{name}.expect")));
        let args: Vec<String> = match kind {
            "yaml" => vec!["validate".into(), file.clone()],
            _ => parse_args(&std::fs::read_to_string(ws.path().join(file)).unwrap()),
        };
        let r = run(dsr_bounded(&ws).args(&args));
        check(name, &r, &expect);
        ran += 1;
    }
    // Every expectation has its case (a renamed input must not silently stop being tested).
    for file in &names {
        if let Some(name) = file.strip_suffix(".expect") {
            assert!(
                names.contains(&format!("{name}.yaml")) || names.contains(&format!("{name}.args")),
                "{file} has no input"
            );
        }
    }
    assert!(ran >= 40, "only {ran} cases ran");
}

#[test]
fn the_valid_playbook_of_the_corpus_is_valid() {
    // Otherwise the `.args` cases would fail for the wrong reason.
    let ws = corpus_workspace();
    let r = run(dsr_bounded(&ws).args(["validate", "good.yaml"]));
    assert_eq!(r.code, 0, "{}", r.stderr);
}

#[test]
fn a_playbook_over_4_mib_is_refused_before_it_is_parsed() {
    let ws = Workspace::new();
    // Valid YAML all the way (comments), so only the size can be the reason.
    let line = format!("# {}\n", "x".repeat(1021));
    let text = "version: 1\n".to_string() + &line.repeat(4 * 1024 + 1);
    assert!(text.len() > 4 * 1024 * 1024);
    ws.write("huge.yaml", &text);
    let r = run(dsr_bounded(&ws).args(["validate", "huge.yaml"]));
    check(
        "huge",
        &r,
        &Expect {
            exit: Some(2),
            stderr: vec![format!(
                "huge.yaml: playbook is {} bytes; the limit is 4194304 bytes",
                text.len()
            )],
            stdout: vec![],
            stderr_lacks: vec![],
        },
    );
    // Exactly at the limit is still read (and then judged on its content).
    let mut at_limit =
        "version: 1\norganisation: x\nidentities: [email]\nsystems: {}\n".to_string();
    at_limit += &"#".repeat(4 * 1024 * 1024 - at_limit.len() - 1);
    at_limit.push('\n');
    assert_eq!(at_limit.len(), 4 * 1024 * 1024);
    ws.write("limit.yaml", &at_limit);
    let r = run(dsr_bounded(&ws).args(["validate", "limit.yaml"]));
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("no systems declared"), "{}", r.stderr);
}

#[test]
fn secret_files_outside_the_playbook_are_read_only_from_allowed_directories() {
    let ws = Workspace::new();
    let secrets = tempfile::tempdir().unwrap();
    std::fs::write(secrets.path().join("db-password"), "pw\n").unwrap();
    let pb = format!(
        "version: 1\norganisation: x\nidentities: [email]\nsystems:\n  app:\n    connector: postgres\n    url: postgres://dsr:${{file:{}}}@db.internal/app\n    purpose: p\n    legal_basis: contract\n    retention: r\n    collections:\n      users:\n        match: {{ email: identity.email }}\n        erase: delete\n",
        secrets.path().join("db-password").display()
    );
    ws.write("pb.yaml", &pb);
    let refused = run(dsr_bounded(&ws).args(["validate", "pb.yaml"]));
    assert_eq!(refused.code, 2, "{}", refused.stderr);
    assert!(
        refused
            .stderr
            .contains("is outside the playbook's directory"),
        "{}",
        refused.stderr
    );
    let allowed = run(dsr_bounded(&ws)
        .args(["validate", "pb.yaml"])
        .env("DSR_SECRET_DIRS", secrets.path()));
    assert_eq!(allowed.code, 0, "{}", allowed.stderr);
    // A link beside the playbook that leads out is no way around the rule.
    #[cfg(unix)]
    {
        std::os::unix::fs::symlink(secrets.path().join("db-password"), ws.path().join("pw"))
            .unwrap();
        ws.write(
            "pb.yaml",
            &pb.replace(
                &secrets.path().join("db-password").display().to_string(),
                "pw",
            ),
        );
        let r = run(dsr_bounded(&ws).args(["validate", "pb.yaml"]));
        assert_eq!(r.code, 2, "{}", r.stderr);
        assert!(
            r.stderr.contains("secret file 'pw' is outside"),
            "{}",
            r.stderr
        );
    }
}
