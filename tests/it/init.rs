//! `dsr init`: a first playbook from flags that passes `dsr validate`, never replaces a file,
//! and never holds the database URL it was given.

use crate::schema::sqlite_shop;
use crate::support::{Workspace, run};

#[test]
fn init_with_flags_writes_a_playbook_that_validates() {
    let ws = Workspace::new();
    let url = sqlite_shop(ws.path());
    let r = run(ws.dsr().args([
        "init",
        "--organisation",
        "Acme Ltd",
        "--regulation",
        "gdpr",
        "--contact",
        "privacy@acme.example",
        "--system",
        &format!("app_db={url}"),
    ]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stderr.contains("APP_DB_URL"), "{}", r.stderr);
    let text = std::fs::read_to_string(ws.path().join("dsr.yaml")).unwrap();
    assert!(text.contains("url: ${env:APP_DB_URL}"), "{text}");
    assert!(text.contains("organisation: \"Acme Ltd\""), "{text}");
    assert!(text.contains("contact: \"privacy@acme.example\""), "{text}");
    assert!(text.contains("regulation: gdpr"), "{text}");
    // The database's tables were drafted, as discover drafts them.
    assert!(
        text.contains("      users:\n") && text.contains("      orders:\n"),
        "{text}"
    );
    assert!(!text.contains("products:"), "{text}");
    let r = run(ws.dsr().arg("validate").env("APP_DB_URL", &url));
    assert_eq!(r.code, 0, "{}\n{text}", r.stderr);
    assert!(r.stdout.contains("2 collections"), "{}", r.stdout);
    // The draft can be used as it is.
    let r = run(ws
        .dsr()
        .args(["export", "alice@example.com", "--out", "alice"])
        .env("APP_DB_URL", &url));
    assert_eq!(r.code, 0, "{}", r.stderr);
}

#[test]
fn init_refuses_to_replace_an_existing_playbook() {
    let ws = Workspace::new();
    let args = [
        "init",
        "--organisation",
        "Acme",
        "--system",
        "app_db=postgres",
    ];
    let r = run(ws.dsr().args(args));
    assert_eq!(r.code, 0, "{}", r.stderr);
    let first = std::fs::read_to_string(ws.path().join("dsr.yaml")).unwrap();
    let r = run(ws
        .dsr()
        .args(["init", "--organisation", "Other", "--system", "x=mysql"]));
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("dsr.yaml already exists"), "{}", r.stderr);
    assert!(r.stderr.contains("hint:"), "{}", r.stderr);
    assert_eq!(
        std::fs::read_to_string(ws.path().join("dsr.yaml")).unwrap(),
        first
    );
    ws.write("mine.yaml", "# mine\n");
    let r = run(ws.dsr().args(args).args(["--out", "mine.yaml"]));
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert_eq!(
        std::fs::read_to_string(ws.path().join("mine.yaml")).unwrap(),
        "# mine\n"
    );
}

#[test]
fn init_never_writes_the_database_url_it_was_given() {
    let ws = Workspace::new();
    let secret = "postgres://app:s3cr3t-pw@db.invalid:5432/shop";
    let r = run(ws.dsr().args([
        "init",
        "--organisation",
        "Acme Ltd",
        "--system",
        &format!("app_db={secret}"),
    ]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    let text = std::fs::read_to_string(ws.path().join("dsr.yaml")).unwrap();
    for leak in ["s3cr3t", "db.invalid", "postgres://"] {
        assert!(!text.contains(leak), "{leak} in:\n{text}");
        assert!(
            !r.stdout.contains("s3cr3t") && !r.stderr.contains("s3cr3t"),
            "{}",
            r.stderr
        );
    }
    assert!(text.contains("url: ${env:APP_DB_URL}"), "{text}");
    // The database cannot be reached: a placeholder collection, and the file still validates.
    assert!(r.stderr.contains("export APP_DB_URL="), "{}", r.stderr);
    let r = run(ws.dsr().arg("validate").env("APP_DB_URL", secret));
    assert_eq!(r.code, 0, "{}\n{text}", r.stderr);
}

#[test]
fn init_without_a_terminal_needs_organisation_and_a_system() {
    let ws = Workspace::new();
    let r = run(ws.dsr().args(["init", "--system", "app_db=postgres"]));
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("--organisation"), "{}", r.stderr);
    let r = run(ws.dsr().args(["init", "--organisation", "Acme"]));
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("--system"), "{}", r.stderr);
    let r = run(ws
        .dsr()
        .args(["init", "--organisation", "Acme", "--system", "a=redis://h"]));
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("hint:"), "{}", r.stderr);
    let r = run(ws.dsr().args([
        "init",
        "--organisation",
        "Acme",
        "--system",
        "a=postgres",
        "--regulation",
        "martian",
    ]));
    assert_eq!(r.code, 2);
    assert!(!ws.path().join("dsr.yaml").exists());
}

/// On a terminal (a pseudo-terminal from util-linux `script`), init asks for what is missing.
#[test]
fn init_on_a_terminal_asks_for_what_the_flags_leave_out() {
    use std::io::Write as _;
    let ws = Workspace::new();
    let bin = assert_cmd::cargo::cargo_bin("dsr");
    let mut child = std::process::Command::new("script")
        .args([
            "-qec",
            &format!("'{}' init --out asked.yaml", bin.display()),
            "/dev/null",
        ])
        .current_dir(ws.path())
        .env_remove("CRM_DB_URL")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("script (util-linux) runs");
    // organisation, regulation, contact, system name, kind, variable
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"Acme Ltd\nccpa\n-\ncrm\nmysql\n\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{shown}");
    assert!(shown.contains("Organisation"), "{shown}");
    let text = std::fs::read_to_string(ws.path().join("asked.yaml")).unwrap();
    for want in [
        "organisation: \"Acme Ltd\"",
        "regulation: ccpa",
        "  crm:\n    connector: mysql\n    url: ${env:CRM_DB_URL}\n",
    ] {
        assert!(text.contains(want), "{want} not in:\n{text}");
    }
    assert!(!text.contains("contact:"), "{text}");
    let r = run(ws
        .dsr()
        .arg("validate")
        .arg("asked.yaml")
        .env("CRM_DB_URL", "mysql://u@h/db"));
    assert_eq!(r.code, 0, "{}", r.stderr);
}
