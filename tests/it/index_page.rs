//! The person's page, `index.html`: the one-line answer, the records themselves, categories in
//! words, what the playbook declares about automated decisions and transfers, and a page that
//! a real browser renders from the bundle alone.

use crate::export_sqlite::demo_workspace;
use crate::support::{Workspace, repo, run};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The demo export for alice@example.com; the bundle directory.
fn demo_bundle(ws: &Workspace, playbook: &str) -> (i32, PathBuf) {
    let r = run(ws.dsr().args([
        "export",
        "alice@example.com",
        "--playbook",
        playbook,
        "--out",
        "bundle",
    ]));
    assert!(r.code == 0 || r.code == 1, "{}\n{}", r.stdout, r.stderr);
    (r.code, ws.path().join("bundle"))
}

fn index(bundle: &Path) -> String {
    std::fs::read_to_string(bundle.join("index.html")).expect("index.html")
}

#[test]
fn the_page_answers_in_one_line_then_shows_the_records() {
    let ws = demo_workspace();
    let (code, bundle) = demo_bundle(&ws, "demo.yaml");
    assert_eq!(code, 0);
    let page = index(&bundle);
    let h1 = page.find("</h1>").expect("a heading");
    let answer = "<p class=\"answer\">We hold 14 records about you in 4 systems.</p>";
    assert_eq!(
        page.find(answer),
        Some(h1 + "</h1>\n".len()),
        "the answer comes first:\n{page}"
    );
    // The records themselves, headed by the playbook's field descriptions where it has them.
    for needle in [
        "<tr><th scope=\"row\" title=\"full_name\">Name</th><td>Alice Andersen</td></tr>",
        "<th scope=\"row\" title=\"marketing_opt_in\">Wants marketing emails</th>",
        "<th scope=\"col\" title=\"street\">Street</th>",
        "<td>12 Acacia Avenue</td>",
        "<td>Breakfast tea, 500 g</td>",
        "<td>Sorry for the wait — it was delivered this morning.</td>",
    ] {
        assert!(page.contains(needle), "index.html lacks {needle}\n{page}");
    }
    assert_eq!(
        page.matches("<tbody>").count(),
        5,
        "a table per collection of several records"
    );
    assert!(!page.contains("first 100"), "nothing is cut in the demo");
}

#[test]
fn categories_read_as_plain_words() {
    let ws = demo_workspace();
    let (_, bundle) = demo_bundle(&ws, "demo.yaml");
    let page = index(&bundle);
    assert!(
        page.contains(
            "<dt>Kinds of data</dt><dd>Account details, Account identifier, Browser and device, \
Date of birth, Email address, IP address, Marketing preferences, Name, Phone number, Postal \
address, When you did things</dd>"
        ),
        "{page}"
    );
    for code in ["identifier account", "contact email", "contact.email"] {
        assert!(!page.contains(code), "{code} is shown as a code");
    }
}

#[test]
fn automated_decisions_and_transfers_are_shown_as_the_playbook_declares_them() {
    let ws = demo_workspace();
    let (_, bundle) = demo_bundle(&ws, "demo.yaml");
    let page = index(&bundle);
    for needle in [
        "<h2>Automated decisions and profiling</h2>\n<p>We make no decisions about you based solely on automated processing.</p>",
        "<dt>Transfers outside the EU/EEA</dt><dd>United States, where our support desk software provider stores tickets.</dd>",
        "<dt>Safeguards for those transfers</dt><dd>Standard contractual clauses approved by the European Commission; ask privacy@acme-tea.example for a copy.</dd>",
    ] {
        assert!(page.contains(needle), "index.html lacks {needle}\n{page}");
    }
    assert_eq!(
        page.matches("<dt>Transfers outside").count(),
        1,
        "only the system that declares transfers"
    );

    // Undeclared: nothing claimed either way. Described: the words of the playbook.
    let demo = std::fs::read_to_string(repo().join("playbooks/demo.yaml")).unwrap();
    let undeclared = demo.replace("automated_decisions: none", "");
    assert_ne!(undeclared, demo, "the demo declares automated decisions");
    ws.write("undeclared.yaml", &undeclared);
    let r = run(ws.dsr().args([
        "export",
        "alice@example.com",
        "--playbook",
        "undeclared.yaml",
        "--out",
        "undeclared",
    ]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    let page = index(&ws.path().join("undeclared"));
    assert!(
        page.contains(
            "<p>This copy does not say whether we make decisions about you based solely on \
automated processing, including profiling. You may ask us at privacy@acme-tea.example.</p>"
        ),
        "{page}"
    );
    assert!(!page.contains("We make no decisions"));

    let described = demo.replace(
        "automated_decisions: none",
        "automated_decisions: \"We score orders for fraud <automatically>; a person reviews every refusal.\"",
    );
    ws.write("described.yaml", &described);
    let r = run(ws.dsr().args([
        "export",
        "alice@example.com",
        "--playbook",
        "described.yaml",
        "--out",
        "described",
    ]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    let page = index(&ws.path().join("described"));
    assert!(
        page.contains(
            "<p>We score orders for fraud &lt;automatically&gt;; a person reviews every refusal.</p>"
        ),
        "{page}"
    );
}

#[test]
fn the_answer_names_what_is_still_to_come() {
    let ws = demo_workspace();
    let demo = std::fs::read_to_string(repo().join("playbooks/demo.yaml")).unwrap();
    ws.write(
        "manual.yaml",
        &format!(
            "{demo}
  paper_archive:
    connector: manual
    description: Our paper archive
    instructions: Copy the signed contract in the archive box for this customer.
    purpose: Signed contracts
    legal_basis: contract
    retention: 6 years
    collections:
      contracts:
        match: {{ email: identity.email }}
        erase: delete
"
        ),
    );
    let (code, bundle) = demo_bundle(&ws, "manual.yaml");
    assert_eq!(code, 1, "a waiting step leaves the request open");
    let page = index(&bundle);
    assert!(
        page.contains(
            "<p class=\"answer\">We hold 14 records about you in 4 systems. Still to come: Our \
paper archive, which our staff are collecting by hand; we will send you what we find.</p>"
        ),
        "{page}"
    );

    // Nothing found yet, but a part still to come: not "we hold no data".
    let r = run(ws.dsr().args([
        "export",
        "nobody@example.com",
        "--playbook",
        "manual.yaml",
        "--out",
        "nobody",
    ]));
    assert_eq!(r.code, 1, "{}", r.stderr);
    let page = index(&ws.path().join("nobody"));
    assert!(
        page.contains("<p class=\"answer\">We have found no data about you so far. Still to come: Our paper archive"),
        "{page}"
    );
}

#[test]
fn a_person_with_no_data_is_told_so_first() {
    let ws = demo_workspace();
    let r = run(ws.dsr().args([
        "export",
        "nobody@example.com",
        "--playbook",
        "demo.yaml",
        "--out",
        "b",
    ]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    let page = index(&ws.path().join("b"));
    assert!(
        page.contains("<p class=\"answer\">We hold no data about you.</p>"),
        "{page}"
    );
    assert!(!page.contains("<table"), "{page}");
}

/// A collection of 150 records whose values and descriptions are markup.
fn markup_workspace() -> Workspace {
    let ws = Workspace::new();
    ws.write(
        "app.sql",
        "CREATE TABLE events (id INTEGER PRIMARY KEY, email TEXT, note TEXT, tier TEXT);
         WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < 150)
         INSERT INTO events (email, note, tier)
           SELECT 'a@x.example', '<script>alert(1)</script> & \"q\" ''s', 'gold' FROM c;
         INSERT INTO events (email, note, tier) VALUES ('b@x.example', 'not hers', 'tin');",
    );
    ws.write(
        "pb.yaml",
        r#"version: 1
organisation: "Tea & <Co>"
identities: [email]
systems:
  app:
    connector: sqlite
    path: app.db
    seed: app.sql
    purpose: p
    legal_basis: contract
    retention: r
    collections:
      events:
        match: { email: identity.email }
        fields:
          id: { category: identifier.internal }
          email: { category: contact.email }
          note: { category: content.free_text, description: "What you <wrote>" }
          tier: { category: loyalty.tier_level }
"#,
    );
    ws
}

#[test]
fn large_collections_show_a_bounded_sample_and_every_value_is_escaped() {
    let ws = markup_workspace();
    let r = run(ws.dsr().args([
        "export",
        "a@x.example",
        "--playbook",
        "pb.yaml",
        "--out",
        "bundle",
    ]));
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let page = index(&ws.path().join("bundle"));
    assert!(
        page.contains("<p class=\"answer\">We hold 150 records about you in 1 system.</p>"),
        "{page}"
    );
    assert!(
        page.contains(
            "<p>Showing the first 100 of 150 records; all are in <a href=\"app/events.json\">app/events.json</a>.</p>"
        ),
        "{page}"
    );
    assert_eq!(page.matches("<tr><td>").count(), 100, "100 rows shown");
    assert!(
        page.contains("<td>&lt;script&gt;alert(1)&lt;/script&gt; &amp; &quot;q&quot; &#39;s</td>")
    );
    assert!(page.contains("<th scope=\"col\" title=\"note\">What you &lt;wrote&gt;</th>"));
    assert!(page.contains("Tea &amp; &lt;Co&gt;"));
    assert!(
        !page.contains("<script") && !page.contains("<Co>"),
        "{page}"
    );
    assert!(
        page.contains(
            "<dd>Email address, Reference numbers, Text you wrote, Tier level (loyalty)</dd>"
        ),
        "unknown categories read as their words: {page}"
    );
    // Said by nothing in this playbook: no transfers are claimed, none denied.
    assert!(!page.contains("Transfers"), "{page}");
    assert!(!page.contains("not hers"));
}

#[test]
fn the_checksum_note_is_in_the_footer() {
    let ws = demo_workspace();
    let (_, bundle) = demo_bundle(&ws, "demo.yaml");
    let page = index(&bundle);
    let footer = page.find("<footer>").expect("a footer");
    let rights = page.find("<h2>Your rights</h2>").expect("the rights");
    assert!(rights < footer);
    let note = page.find("manifest.json").expect("the checksum note");
    assert!(note > footer, "{page}");
    assert_eq!(page.matches("SHA-256").count(), 1);
    assert!(
        page.trim_end().ends_with("</footer>\n</body></html>"),
        "{page}"
    );
}

/// Chromium from PATH (`chromium`, as Debian names it, or `chromium-browser`); a clear failure
/// when it is missing, since a page no browser was asked to render is not tested.
fn chromium() -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    for dir in std::env::split_paths(&path) {
        for name in ["chromium", "chromium-browser"] {
            let candidate = dir.join(name);
            if candidate.is_file() {
                return candidate;
            }
        }
    }
    panic!(
        "Chromium is needed to render the person's page: apt-get install chromium \
(scripts/services installs it when it runs as root)"
    );
}

/// Runs headless Chromium on `page` with `args`, offline and with a profile of its own; its
/// stdout. Fails after two minutes rather than hanging the suite.
fn headless(page: &Path, args: &[&str]) -> String {
    let profile = tempfile::tempdir().unwrap();
    let mut child = Command::new(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(args)
        .arg(format!("file://{}", page.display()))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("chromium starts");
    let started = Instant::now();
    loop {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        if started.elapsed() > Duration::from_secs(120) {
            let _ = child.kill();
            panic!("chromium did not finish within two minutes");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "chromium failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Every `src="…"`, `href="…"` and CSS `url(…)` / `@import` target in the page.
fn references(page: &str) -> Vec<String> {
    let mut out = Vec::new();
    for attr in ["src=\"", "href=\"", "url(", "@import"] {
        for (i, _) in page.match_indices(attr) {
            let rest = &page[i + attr.len()..];
            let end = rest.find(['"', ')', ';']).unwrap_or(rest.len());
            out.push(rest[..end].trim().trim_matches('\'').to_string());
        }
    }
    out
}

#[test]
fn chromium_renders_the_demo_page_from_the_bundle_alone() {
    let browser = chromium();
    let ws = demo_workspace();
    let (_, bundle) = demo_bundle(&ws, "demo.yaml");
    let page_path = bundle.join("index.html");
    let page = index(&bundle);

    // Self-contained: every reference is a file of the bundle; no scripts, no stylesheets or
    // fonts from elsewhere.
    let refs = references(&page);
    assert!(!refs.is_empty(), "the page links its files");
    for r in &refs {
        let lower = r.to_ascii_lowercase();
        assert!(
            !lower.contains("//") && !lower.starts_with("data:") && !lower.contains(':'),
            "{r} is not a file of the bundle"
        );
        assert!(bundle.join(r).is_file(), "{r} is not in the bundle");
    }
    for tag in ["<script", "<link", "<iframe", "<img", "<object"] {
        assert!(!page.contains(tag), "the page has {tag}");
    }

    let shot = ws.path().join("page.png");
    headless(
        &page_path,
        &[
            &format!("--screenshot={}", shot.display()),
            "--window-size=1200,2000",
        ],
    );
    let png = std::fs::read(&shot)
        .unwrap_or_else(|e| panic!("{} wrote no screenshot: {e}", browser.display()));
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n", "a PNG");
    let dim = |at: usize| u32::from_be_bytes([png[at], png[at + 1], png[at + 2], png[at + 3]]);
    assert_eq!((dim(16), dim(20)), (1200, 2000), "the window's size");
    // A blank page of that size compresses to a few kilobytes; text and tables do not.
    assert!(
        png.len() > 50_000,
        "a nearly empty screenshot: {} bytes",
        png.len()
    );

    let dom = headless(&page_path, &["--dump-dom"]);
    assert!(
        dom.contains("We hold 14 records about you in 4 systems."),
        "{dom}"
    );
    assert!(dom.contains("<td>Alice Andersen</td>"), "{dom}");
    assert!(dom.contains("<footer>"), "{dom}");
}
