//! `dsr map`: the playbook as a record of processing activities.

use crate::support::{Workspace, repo, run};

#[test]
fn map_of_the_demo_as_markdown() {
    let ws = Workspace::new();
    let r =
        run(ws
            .dsr()
            .current_dir(repo())
            .args(["map", "playbooks/demo.yaml", "--format", "md"]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    insta::with_settings!({filters => vec![(r"sha256 [0-9a-f]{64}", "sha256 [hash]")]}, {
        insta::assert_snapshot!(r.stdout);
    });
}

const HOSTILE: &str = r#"version: 1
organisation: "Evil <script>alert(1)</script> & Co"
identities: [email]
systems:
  app:
    connector: sqlite
    path: app.db
    purpose: "Track <img src=x onerror=alert(1)>, \"quoted\" | piped"
    legal_basis: legitimate_interests
    retention: 1 year
    recipients: [Carrier, "Tax office, on request"]
    collections:
      users:
        match: { email: identity.email }
        fields:
          email: { category: contact.email }
        erase:
          mask: { email: redact }
          because: "Fraud <checks>"
      orders:
        match: { email: identity.email }
        erase: { keep: true, because: "Tax law, 10 years" }
"#;

#[test]
fn map_html_is_self_contained_and_escaped() {
    let ws = Workspace::new();
    ws.write("pb.yaml", HOSTILE);
    let r = run(ws
        .dsr()
        .args(["map", "pb.yaml", "--format", "html", "--out", "ropa.html"]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    let html = std::fs::read_to_string(ws.path().join("ropa.html")).unwrap();
    assert!(html.starts_with("<!doctype html>"));
    for bad in [
        "<script", "<img", "<link", "<iframe", "href=", "http://", "https://", "@import", "url(",
    ] {
        assert!(!html.contains(bad), "{bad} in {html}");
    }
    assert!(
        html.contains("Evil &lt;script&gt;alert(1)&lt;/script&gt; &amp; Co"),
        "{html}"
    );
    assert!(html.contains("Fraud &lt;checks&gt;"));
    assert!(html.contains("Not recorded in the playbook"), "{html}");
    assert!(html.contains("legitimate_interests (our legitimate interests)"));
    assert!(
        html.contains("<td>keep</td><td>Tax law, 10 years</td>"),
        "{html}"
    );
}

#[test]
fn map_csv_has_one_row_per_collection() {
    let ws = Workspace::new();
    ws.write("pb.yaml", HOSTILE);
    let r = run(ws.dsr().args(["map", "pb.yaml", "--format", "csv"]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    let mut rd = csv::Reader::from_reader(r.stdout.as_bytes());
    let headers = rd.headers().unwrap().clone();
    assert_eq!(&headers[0], "system");
    assert_eq!(&headers[9], "erasure");
    let rows: Vec<csv::StringRecord> = rd.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 2);
    let orders = rows.iter().find(|r| &r[8] == "orders").unwrap();
    assert_eq!(
        &orders[3],
        "Track <img src=x onerror=alert(1)>, \"quoted\" | piped"
    );
    assert_eq!(&orders[5], "Carrier; Tax office, on request");
    assert_eq!(&orders[9], "keep");
    assert_eq!(&orders[10], "Tax law, 10 years");
    assert_eq!(&orders[2], "all columns of orders, contact.email");
    let users = rows.iter().find(|r| &r[8] == "users").unwrap();
    assert_eq!(&users[9], "mask email (redact)");
    // Markdown escapes table pipes.
    let r = run(ws.dsr().args(["map", "pb.yaml"]));
    assert!(r.stdout.contains("\"quoted\" \\| piped"), "{}", r.stdout);
}

#[test]
fn map_needs_no_secrets() {
    let ws = Workspace::new();
    let pb = HOSTILE.replace(
        "    path: app.db\n",
        "    url: ${env:DSR_TEST_SURELY_UNSET_URL}\n",
    );
    ws.write("pb.yaml", &pb);
    let r = run(ws.dsr().args(["validate", "pb.yaml"]));
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("DSR_TEST_SURELY_UNSET_URL is not set"),
        "{}",
        r.stderr
    );
    let r = run(ws.dsr().args(["map", "pb.yaml"]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("## app"), "{}", r.stdout);
    // A malformed reference is still an error.
    ws.write(
        "bad.yaml",
        &pb.replace("${env:DSR_TEST_SURELY_UNSET_URL}", "${vault:x}"),
    );
    let r = run(ws.dsr().args(["map", "bad.yaml"]));
    assert_eq!(r.code, 2, "{}", r.stdout);
}
