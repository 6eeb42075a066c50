//! How dsr is installed: the Dockerfile, the release workflow and the README's instructions.

use crate::support::repo;
use serde_json::Value;

fn read(path: &str) -> String {
    std::fs::read_to_string(repo().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The Dockerfile's instructions, continuation lines joined, comments left out.
fn instructions(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    for line in text.lines() {
        let t = line.trim();
        if t.starts_with('#') || (t.is_empty() && current.is_empty()) {
            continue;
        }
        match t.strip_suffix('\\') {
            Some(part) => {
                current.push_str(part);
                current.push(' ');
            }
            None => {
                current.push_str(t);
                out.push(std::mem::take(&mut current));
            }
        }
    }
    out
}

#[test]
fn dockerfile_builds_in_one_stage_and_runs_the_binary_alone_as_non_root() {
    let all = instructions(&read("Dockerfile"));
    let stages: Vec<usize> = (0..all.len())
        .filter(|&i| all[i].starts_with("FROM "))
        .collect();
    assert!(stages.len() >= 2, "multi-stage: {all:#?}");
    let builder = &all[stages[0]];
    assert!(
        builder.contains("rust:") && builder.ends_with(" AS builder"),
        "{builder}"
    );
    let build: Vec<&String> = all[stages[0]..stages[1]].iter().collect();
    assert!(
        build
            .iter()
            .any(|i| i.starts_with("RUN cargo build --release --locked")),
        "{build:#?}"
    );
    let last = &all[*stages.last().unwrap()..];
    assert!(
        last[0].starts_with("FROM debian:") && last[0].contains("-slim"),
        "{}",
        last[0]
    );
    let copies: Vec<&String> = last.iter().filter(|i| i.starts_with("COPY")).collect();
    assert_eq!(copies.len(), 1, "only the binary: {copies:#?}");
    assert!(
        copies[0].starts_with("COPY --from=builder ") && copies[0].contains("/release/dsr "),
        "{}",
        copies[0]
    );
    assert!(
        last.iter().any(|i| i.starts_with("RUN ")
            && i.contains("install")
            && i.contains("ca-certificates")),
        "{last:#?}"
    );
    let users: Vec<&String> = last.iter().filter(|i| i.starts_with("USER ")).collect();
    let user = users.last().expect("a USER in the final stage");
    let name = user["USER ".len()..].split(':').next().unwrap().trim();
    assert!(!["root", "0", ""].contains(&name), "{user}");
    let entry = last
        .iter()
        .rfind(|i| i.starts_with("ENTRYPOINT"))
        .expect("ENTRYPOINT");
    assert_eq!(entry, "ENTRYPOINT [\"dsr\"]");
    let ignore = read(".dockerignore");
    for needed in ["target/", ".git/"] {
        assert!(
            ignore.lines().any(|l| l.trim() == needed),
            "{needed} in .dockerignore"
        );
    }
}

#[test]
fn release_workflow_parses_and_builds_linux_and_macos_on_a_tag() {
    let text = read(".github/workflows/release.yml");
    let wf: Value = serde_saphyr::from_str(&text).expect("release.yml is YAML");
    let tags = wf
        .pointer("/on/push/tags")
        .and_then(Value::as_array)
        .expect("on.push.tags");
    assert!(!tags.is_empty());
    assert_eq!(
        wf.pointer("/permissions/contents"),
        Some(&Value::from("write"))
    );
    let jobs = wf["jobs"].as_object().expect("jobs");
    let targets: Vec<&str> = jobs
        .values()
        .filter_map(|j| j.pointer("/strategy/matrix/include")?.as_array())
        .flatten()
        .filter_map(|m| m["target"].as_str())
        .collect();
    for want in [
        "x86_64-unknown-linux-gnu",
        "aarch64-unknown-linux-gnu",
        "aarch64-apple-darwin",
    ] {
        assert!(targets.contains(&want), "{want} not in {targets:?}");
    }
    let steps: Vec<&Value> = jobs
        .values()
        .flat_map(|j| j["steps"].as_array().into_iter().flatten())
        .collect();
    let runs = |needle: &str| {
        steps
            .iter()
            .any(|s| s["run"].as_str().is_some_and(|r| r.contains(needle)))
    };
    assert!(runs("cargo build --release --locked"));
    assert!(
        steps.iter().any(|s| s["uses"]
            .as_str()
            .is_some_and(|u| u.starts_with("softprops/action-gh-release@"))),
        "a step attaches the archives to the release"
    );
    for job in jobs.values() {
        assert!(job["runs-on"].is_string(), "{job}");
    }
    // What the archive holds exists.
    for f in [
        "README.md",
        "playbooks/demo.yaml",
        "playbooks/demo/accounts.sql",
    ] {
        assert!(repo().join(f).exists(), "{f}");
    }
}

#[test]
fn readme_says_how_to_install_and_starts_with_what_works_from_a_binary() {
    let readme = read("README.md");
    let first_screen: String = readme.lines().take(45).collect::<Vec<_>>().join("\n");
    assert!(
        first_screen
            .lines()
            .any(|l| l.starts_with("dsr export alice@example.com --playbook playbooks/demo.yaml")),
        "the first screen runs the demo with the binary:\n{first_screen}"
    );
    assert!(
        first_screen.contains("cargo run --release -- export"),
        "{first_screen}"
    );
    let install = readme
        .split("\n## Install\n")
        .nth(1)
        .expect("an Install section")
        .split("\n## ")
        .next()
        .unwrap();
    for needle in [
        "cargo install --locked --path .",
        "cargo install --locked --git https://github.com/acme/dsr",
        "placeholder",
        "docker build",
        "dsr completions bash > ~/.local/share/bash-completion/completions/dsr",
        "dsr man > ~/.local/share/man/man1/dsr.1",
    ] {
        assert!(
            install.contains(needle),
            "Install lacks {needle}:\n{install}"
        );
    }
    // The Kubernetes examples run the image the Install section builds.
    let tag = install
        .lines()
        .find_map(|l| l.trim().strip_prefix("docker build -t "))
        .and_then(|rest| rest.split_whitespace().next())
        .expect("docker build -t IMAGE");
    let images: Vec<&str> = readme
        .lines()
        .filter_map(|l| l.trim().strip_prefix("image: "))
        .filter(|i| i.contains("dsr"))
        .map(|i| i.split_whitespace().next().unwrap())
        .collect();
    assert!(!images.is_empty());
    assert!(images.iter().all(|i| *i == tag), "{images:?} vs {tag}");
    for cmd in ["`dsr init", "`dsr completions", "`dsr man"] {
        assert!(
            readme.contains(&format!("| {cmd}")),
            "commands table lacks {cmd}"
        );
    }
}

/// The release archive's layout (binary, `playbooks/demo.yaml`, `playbooks/demo/*.sql`) runs
/// the README's first command as it is.
#[test]
fn demo_runs_from_the_release_archive_layout() {
    let ws = crate::support::Workspace::new();
    let wf = read(".github/workflows/release.yml");
    assert!(
        wf.contains("cp playbooks/demo.yaml \"$name/playbooks/\""),
        "{wf}"
    );
    assert!(
        wf.contains("cp playbooks/demo/*.sql \"$name/playbooks/demo/\""),
        "{wf}"
    );
    std::fs::create_dir_all(ws.path().join("playbooks/demo")).unwrap();
    std::fs::copy(
        repo().join("playbooks/demo.yaml"),
        ws.path().join("playbooks/demo.yaml"),
    )
    .unwrap();
    for entry in std::fs::read_dir(repo().join("playbooks/demo")).unwrap() {
        let p = entry.unwrap().path();
        if p.extension().is_some_and(|e| e == "sql") {
            std::fs::copy(
                &p,
                ws.path()
                    .join("playbooks/demo")
                    .join(p.file_name().unwrap()),
            )
            .unwrap();
        }
    }
    let r = crate::support::run(ws.dsr().args([
        "export",
        "alice@example.com",
        "--playbook",
        "playbooks/demo.yaml",
        "--out",
        "alice",
    ]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(ws.path().join("alice/report.json").is_file());
}
