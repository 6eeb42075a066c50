//! Snapshots of what dsr prints for people: plans, the run summary, the erase preview, the
//! connector and request listings, validation errors and every command's `--help`.
//!
//! Each snapshot is a transcript of one run: the command, its exit code, stdout and stderr.
//! What changes from run to run is replaced before comparing: the temporary workspace and the
//! repository (`[WORKSPACE]`, `[REPO]`), request ids (`00000000-0000-0000-0000-00000000000N`,
//! numbered in order of appearance, so a table keeps its width and one request keeps one
//! number), timestamps (`[TIMESTAMP]`), dates (`YYYY-MM-DD`), keyed subject hashes, the
//! version, and table columns of durations or days left (`[duration]`, `[days]`).
//!
//! Write or update them with `INSTA_UPDATE=always cargo test --test it snapshots_human`, then
//! read the changed `.snap` files under `tests/it/snapshots/` before committing them.

use crate::export_sqlite::demo_workspace;
use crate::support::{Ran, Workspace, repo, run};

/// The run as one text: the command, exit code and both streams, with the workspace and
/// repository paths and the request ids replaced (see the module comment).
fn transcript(ws: &Workspace, r: &Ran) -> String {
    number_uuids(&as_printed(ws, r))
}

/// [`transcript`] with only the paths replaced.
fn as_printed(ws: &Workspace, r: &Ran) -> String {
    let stream = |text: &str| {
        if text.is_empty() {
            "(nothing)\n".to_string()
        } else if text.ends_with('\n') {
            text.to_string()
        } else {
            format!("{text}\n(no newline at the end)\n")
        }
    };
    let text = format!(
        "$ {}\nexit code: {}\n── stdout ──\n{}── stderr ──\n{}",
        r.command,
        r.code,
        stream(&r.stdout),
        stream(&r.stderr)
    );
    unpath(ws, &text)
}

/// The workspace (also as the state directory's parent) and the repository, by name.
fn unpath(ws: &Workspace, text: &str) -> String {
    let mut text = text.replace(&ws.path().display().to_string(), "[WORKSPACE]");
    if let Ok(real) = ws.path().canonicalize() {
        text = text.replace(&real.display().to_string(), "[WORKSPACE]");
    }
    text.replace(&repo().display().to_string(), "[REPO]")
}

/// Every UUID (request ids) as `00000000-0000-0000-0000-00000000000N`, N counting the distinct
/// ids in order of first appearance: as wide as an id, and the same id keeps its number.
fn number_uuids(text: &str) -> String {
    fn is_uuid(s: &[u8]) -> bool {
        s.len() == 36
            && s.iter().enumerate().all(|(i, &b)| match i {
                8 | 13 | 18 | 23 => b == b'-',
                _ => b.is_ascii_digit() || (b'a'..=b'f').contains(&b),
            })
    }
    let bytes = text.as_bytes();
    let mut seen: Vec<&str> = Vec::new();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < bytes.len() {
        let boundary = i == 0 || !bytes[i - 1].is_ascii_alphanumeric();
        let end = i + 36;
        if boundary
            && end <= bytes.len()
            && is_uuid(&bytes[i..end])
            && bytes.get(end).is_none_or(|b| !b.is_ascii_alphanumeric())
        {
            let id = &text[i..end];
            let n = match seen.iter().position(|s| *s == id) {
                Some(n) => n + 1,
                None => {
                    seen.push(id);
                    seen.len()
                }
            };
            out.push_str(&format!("00000000-0000-0000-0000-{n:012}"));
            i = end;
        } else {
            let c = text[i..].chars().next().unwrap();
            out.push(c);
            i += c.len_utf8();
        }
    }
    out
}

/// Every table (box drawing, as dsr prints them) with a column headed `header`: each
/// non-empty cell of it replaced by `replace(cell)`, and the column resized to fit, so that a
/// column of timings does not change the table's width from run to run.
fn mask_column(text: &str, header: &str, replace: impl Fn(&str) -> String) -> String {
    let lines: Vec<Vec<char>> = text.lines().map(|l| l.chars().collect()).collect();
    let mut out: Vec<String> = lines.iter().map(|l| l.iter().collect()).collect();
    let mut i = 0;
    while i < lines.len() {
        if lines[i].first() != Some(&'┌') {
            i += 1;
            continue;
        }
        let end = (i..lines.len())
            .find(|&j| lines[j].first() == Some(&'└'))
            .expect("a table's bottom border");
        let top = &lines[i];
        let edges: Vec<usize> = (0..top.len())
            .filter(|&k| matches!(top[k], '┌' | '┬' | '┐'))
            .collect();
        let cell = |line: &[char], c: usize| -> String {
            line[edges[c] + 1..edges[c + 1]]
                .iter()
                .collect::<String>()
                .trim()
                .to_string()
        };
        let Some(col) = (0..edges.len() - 1).find(|&c| cell(&lines[i + 1], c) == header) else {
            i = end + 1;
            continue;
        };
        let is_border = |line: &[char]| line.get(edges[col]).is_some_and(|c| "┌┬├┼└┴".contains(*c));
        let cells: Vec<Option<String>> = (i..=end)
            .map(|j| {
                let line = &lines[j];
                if is_border(line) {
                    None
                } else {
                    let c = cell(line, col);
                    Some(if j == i + 1 || c.is_empty() {
                        c
                    } else {
                        replace(&c)
                    })
                }
            })
            .collect();
        let width = cells
            .iter()
            .flatten()
            .map(|c| c.chars().count())
            .max()
            .unwrap_or(0)
            + 2;
        for (j, new) in (i..=end).zip(cells) {
            let line = &lines[j];
            let middle = match new {
                None => "─".repeat(width),
                Some(c) => format!(" {c:<w$} ", w = width - 2),
            };
            let before: String = line[..=edges[col]].iter().collect();
            let after: String = line[edges[col + 1]..].iter().collect();
            out[j] = format!("{before}{middle}{after}");
        }
        i = end + 1;
    }
    let mut joined = out.join("\n");
    if text.ends_with('\n') {
        joined.push('\n');
    }
    joined
}

/// Filters for what the clock and the random keys change: timestamps, then dates (as wide as
/// a date), keyed subject hashes, tempfile names that escaped [`unpath`], the version.
fn settings() -> insta::Settings {
    let mut s = insta::Settings::clone_current();
    s.add_filter(
        r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})",
        "[TIMESTAMP]",
    );
    s.add_filter(r"\b\d{4}-\d{2}-\d{2}\b", "YYYY-MM-DD");
    s.add_filter(r"hmac-sha256:[0-9a-f]{64}", "hmac-sha256:[SUBJECT-HASH]");
    s.add_filter(r"\.tmp[A-Za-z0-9]{6}", "[TEMP]");
    s.add_filter(
        &format!(
            r"dsr {}( \([0-9a-f]+\))?",
            env!("CARGO_PKG_VERSION").replace('.', r"\.")
        ),
        "dsr [VERSION]",
    );
    s
}

/// `insta::assert_snapshot!` of `$text` under `$name`, with [`settings`].
macro_rules! snapshot {
    ($name:expr, $text:expr) => {
        settings().bind(|| insta::assert_snapshot!($name, $text))
    };
}

/// `dsr ARGS` in the repository (so the demo playbook is `playbooks/demo.yaml`).
fn in_repo(ws: &Workspace, args: &[&str]) -> Ran {
    run(ws.dsr().current_dir(repo()).args(args))
}

// ---------------------------------------------------------------------------------------------
// Plans

#[test]
fn plan_export_of_the_demo() {
    let ws = Workspace::new();
    let r = in_repo(
        &ws,
        &[
            "plan",
            "export",
            "alice@example.com",
            "--playbook",
            "playbooks/demo.yaml",
        ],
    )
    .exits(0)
    .stderr_empty();
    snapshot!("plan_export", transcript(&ws, &r));
}

#[test]
fn plan_erase_of_the_demo() {
    let ws = Workspace::new();
    let r = in_repo(
        &ws,
        &[
            "plan",
            "erase",
            "alice@example.com",
            "--playbook",
            "playbooks/demo.yaml",
        ],
    )
    .exits(0)
    .stderr_empty();
    snapshot!("plan_erase", transcript(&ws, &r));
}

#[test]
fn plan_correct_of_the_demo() {
    let ws = Workspace::new();
    let r = in_repo(
        &ws,
        &[
            "plan",
            "correct",
            "alice@example.com",
            "--set",
            "identity.email=alice@new.example",
            "--playbook",
            "playbooks/demo.yaml",
        ],
    )
    .exits(0)
    .stderr_empty();
    snapshot!("plan_correct", transcript(&ws, &r));
}

// ---------------------------------------------------------------------------------------------
// Runs

#[test]
fn export_of_the_demo_prints_the_plan_then_the_summary() {
    let ws = demo_workspace();
    let r = ws
        .run([
            "export",
            "alice@example.com",
            "--playbook",
            "demo.yaml",
            "--out",
            "bundle",
        ])
        .exits(0)
        .stdout_has("Exported 14 records into bundle");
    let text = mask_column(&transcript(&ws, &r), "time", |_| "[duration]".into());
    snapshot!("export_summary", text);
}

#[test]
fn erase_dry_run_of_the_demo_previews_every_change() {
    let ws = demo_workspace();
    let r = ws
        .run([
            "erase",
            "alice@example.com",
            "--playbook",
            "demo.yaml",
            "--dry-run",
        ])
        .exits(0)
        .stdout_has("nothing was changed");
    snapshot!("erase_dry_run", transcript(&ws, &r));
}

#[test]
fn erase_without_a_terminal_or_yes_refuses() {
    let ws = demo_workspace();
    let r = ws
        .run(["erase", "alice@example.com", "--playbook", "demo.yaml"])
        .exits(2)
        .stderr_has("refusing to erase without confirmation");
    snapshot!("erase_refused_without_a_terminal", transcript(&ws, &r));
}

/// On a terminal, answering anything but `erase`: the preview and the question on the
/// terminal, the request id on stdout, nothing changed.
#[test]
fn erase_on_a_terminal_answered_no() {
    use crate::terminal::{on_a_terminal, rest, wait_for};
    use std::io::Write as _;
    let ws = demo_workspace();
    let args = "erase alice@example.com --playbook demo.yaml";
    let (mut child, rx) = on_a_terminal(&ws, args);
    let shown = wait_for(&rx, "Type 'erase' to go ahead");
    child.stdin.take().unwrap().write_all(b"no\n").unwrap();
    let shown = (shown + &rest(&rx)).replace("\r\n", "\n");
    let status = child.wait().unwrap();
    let stdout = std::fs::read_to_string(ws.path().join("out.txt")).unwrap();
    let text = format!(
        "$ dsr --no-progress {args} > out.txt   (typing `no` at the question)\nexit code: {}\n\
         ── the terminal ──\n{shown}── out.txt ──\n{stdout}",
        status.code().unwrap_or(-1)
    );
    assert_eq!(status.code(), Some(2), "{text}");
    snapshot!("erase_answered_no", number_uuids(&unpath(&ws, &text)));
}

// ---------------------------------------------------------------------------------------------
// Connectors

#[test]
fn connectors_list() {
    let ws = Workspace::new();
    let r = ws.run(["connectors", "list"]).exits(0).stderr_empty();
    snapshot!("connectors_list", transcript(&ws, &r));
}

#[test]
fn connectors_show_a_definition_and_a_kind() {
    let ws = Workspace::new();
    for name in ["stripe", "s3"] {
        let r = ws.run(["connectors", "show", name]).exits(0).stderr_empty();
        snapshot!(format!("connectors_show_{name}"), transcript(&ws, &r));
    }
}

// ---------------------------------------------------------------------------------------------
// Requests

#[test]
fn requests_list_and_show() {
    let ws = demo_workspace();
    let r = ws.run(["requests", "list"]).exits(0).stderr_empty();
    snapshot!("requests_list_empty", transcript(&ws, &r));

    let export = ws
        .run([
            "--json",
            "export",
            "alice@example.com",
            "--playbook",
            "demo.yaml",
            "--out",
            "bundle",
        ])
        .exits(0)
        .json();
    let id = export["request_id"]
        .as_str()
        .unwrap_or_else(|| panic!("no request_id in {export}"))
        .to_string();
    ws.run([
        "requests",
        "add",
        "erase",
        "bob@example.com",
        "--not-before",
        "2099-01-01",
        "--playbook",
        "demo.yaml",
    ])
    .exits(0);

    // The listing: the queued erase (open, days left) before the finished export.
    let r = ws.run(["requests", "list"]).exits(0).stderr_empty();
    let text = mask_column(&transcript(&ws, &r), "days left", |c| {
        if c.parse::<i64>().is_ok() {
            "[days]".into()
        } else {
            c.into()
        }
    });
    let text = mask_column(&text, "subject", |_| "[hash]".into());
    snapshot!("requests_list", text);

    let r = ws.run(["requests", "show", &id]).exits(0).stderr_empty();
    snapshot!("requests_show_export", transcript(&ws, &r));
}

// ---------------------------------------------------------------------------------------------
// Validation errors

/// `dsr validate pb.yaml` of `text` in a fresh workspace: exit 2, nothing on stdout.
fn invalid(text: &str) -> (Workspace, Ran) {
    let ws = Workspace::new();
    ws.write("pb.yaml", text);
    let r = ws.run(["validate", "pb.yaml"]).exits(2).stdout_empty();
    (ws, r)
}

/// A sqlite and an s3 system, each with settings of the other kinds: every one is named.
#[test]
fn validate_settings_of_another_kind_in_a_sqlite_and_an_s3_system() {
    let (ws, r) = invalid(
        "version: 1
organisation: Acme
identities: [email, user_id]
systems:
  app:
    connector: sqlite
    path: app.db
    bucket: uploads
    region: eu-west-1
    purpose: Accounts.
    legal_basis: contract
    retention: 30 days.
    collections:
      users:
        match: { email: identity.email }
        provides: { user_id: id }
        keys: [\"user:{email}\"]
        format: csv
        erase: delete
  uploads:
    connector: s3
    url: postgres://db/x
    path: /srv/uploads
    purpose: Uploads.
    legal_basis: contract
    retention: 30 days.
    collections:
      avatars:
        keys: [\"avatars/\"]
        table: avatars
        match: { user_id: app.users.user_id }
        fields: { owner: { category: contact.email } }
        erase: { mask: { key: redact } }
",
    );
    snapshot!("validate_settings_of_another_kind", transcript(&ws, &r));
}

/// A misspelt key is the first error the YAML reader meets: reported alone, with the keys a
/// system takes and the close one.
#[test]
fn validate_unknown_keys_in_a_sqlite_and_an_s3_system() {
    let system = |connector: &str, settings: &str| {
        format!(
            "version: 1
organisation: Acme
identities: [email]
systems:
  app:
    connector: {connector}
{settings}    purpose: Accounts.
    legal_basis: contract
    retention: 30 days.
    collections:
      users:
        match: {{ email: identity.email }}
        erase: delete
"
        )
    };
    for (name, text) in [
        ("sqlite", system("sqlite", "    pth: app.db\n")),
        (
            "s3",
            system("s3", "    bucekt: acme-uploads\n    region: eu-west-1\n"),
        ),
    ] {
        let (ws, r) = invalid(&text);
        snapshot!(format!("validate_unknown_key_{name}"), transcript(&ws, &r));
    }
}

// ---------------------------------------------------------------------------------------------
// Help and version

/// The subcommands a `--help` lists under `Commands:` (without `help`).
fn subcommands(help: &str) -> Vec<String> {
    help.lines()
        .skip_while(|l| *l != "Commands:")
        .skip(1)
        .take_while(|l| !l.trim().is_empty())
        // Names are indented by two; wrapped descriptions by more.
        .filter(|l| l.starts_with("  ") && !l.starts_with("   "))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|name| *name != "help")
        .map(str::to_string)
        .collect()
}

/// `dsr --help`, and `--help` of every command it lists and of theirs in turn, one snapshot
/// each. Only the workspace path (the state directory's variable) is replaced: help is
/// compared as it is printed.
#[test]
fn help_of_every_command() {
    let ws = Workspace::new();
    let mut todo: Vec<Vec<String>> = vec![vec![]];
    let mut done = Vec::new();
    while let Some(cmd) = todo.pop() {
        let r = ws
            .run(cmd.iter().map(String::as_str).chain(["--help"]))
            .exits(0)
            .stderr_empty();
        for sub in subcommands(&r.stdout) {
            todo.push(cmd.iter().cloned().chain([sub]).collect());
        }
        let name = std::iter::once("dsr")
            .chain(cmd.iter().map(String::as_str))
            .collect::<Vec<_>>()
            .join("_")
            .replace('-', "_");
        insta::assert_snapshot!(format!("help_{name}"), as_printed(&ws, &r));
        done.push(cmd.join(" "));
    }
    // The listing was read: the top level, its commands and the nested ones.
    for cmd in [
        "",
        "validate",
        "export",
        "erase",
        "run-due",
        "man",
        "keys generate",
        "requests list",
        "requests confirm",
        "connectors show",
    ] {
        assert!(
            done.iter().any(|d| d == cmd),
            "no help of '{cmd}': {done:?}"
        );
    }
}

#[test]
fn version() {
    let ws = Workspace::new();
    let r = ws.run(["--version"]).exits(0).stderr_empty();
    snapshot!("version", transcript(&ws, &r));
}
