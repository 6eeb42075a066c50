//! The http connector's mechanics beyond one vendor: SQL and SaaS in one request, ordered and
//! asynchronous erasure, token caching, masking by update, the page cap, 5xx retries, a
//! playbook's own definition file, validation errors, and `dsr connectors`.

use crate::fakes::{self, Fake, json as reply};
use crate::saas::Change;
use crate::saas::{connector, example, find, keys, open, still_there, write};
use crate::support::{Workspace, read_json, run, runtime};
use axum::Router;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use serde_json::json;
use std::collections::BTreeMap;
use std::sync::Arc;

#[test]
fn stripe_charges_are_found_from_the_customer_id_held_in_sqlite() {
    let (fake, url) = fakes::stripe::start();
    let (ws, _) = example(
        "billing-with-stripe.yaml",
        &url,
        &[("STRIPE_API_KEY", fakes::stripe::KEY)],
    );
    let r = run(ws.dsr().args([
        "export",
        "alice@example.com",
        "--playbook",
        "pb.yaml",
        "--out",
        "bundle",
    ]));
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let users = read_json(&ws.path().join("bundle/billing/users.json"));
    assert_eq!(users[0]["stripe_customer_id"], "cus_A1");
    let charges = read_json(&ws.path().join("bundle/stripe/charges.json"));
    let ids: Vec<&str> = charges
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["ch_1", "ch_2", "ch_3", "ch_4", "ch_5"]);
    // Only Alice's customer id was sent to Stripe, and the list was read page by page.
    let calls: Vec<String> = fake
        .requests()
        .into_iter()
        .filter(|c| c.starts_with("GET /v1/charges"))
        .collect();
    assert_eq!(calls.len(), 3, "{calls:?}");
    assert!(
        calls.iter().all(|c| c.contains("customer=cus_A1")),
        "{calls:?}"
    );
    assert!(calls[1].contains("starting_after=ch_2"), "{calls:?}");
    // The plan shows the SaaS step waiting for the database step.
    let r = run(ws.dsr().args([
        "plan",
        "export",
        "alice@example.com",
        "--playbook",
        "pb.yaml",
        "--json",
    ]));
    let plan: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    let step = plan["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["system"] == "stripe")
        .unwrap();
    assert_eq!(step["connector"], "http");
    assert_eq!(step["table"], "charges");
    assert_eq!(step["waits_for"], json!(["billing.users"]));
}

#[test]
fn zendesk_erasure_soft_deletes_before_the_permanent_delete() {
    let (fake, url) = fakes::zendesk::start();
    let (_ws, path) = example(
        "zendesk.yaml",
        &url,
        &[
            ("ZENDESK_AGENT", fakes::zendesk::USER),
            ("ZENDESK_API_TOKEN", fakes::zendesk::TOKEN),
        ],
    );
    let v = open(&path);
    runtime().block_on(async {
        let c = connector(&v, "zendesk").await;
        let keys = vec![serde_json::Map::from_iter([("id".to_string(), json!(101))])];
        let out = write(&v, c.as_ref(), "zendesk", "users", &keys, &Change::Delete)
            .await
            .unwrap();
        assert_eq!(out.changed, 1);
        assert_eq!(
            fake.requests(),
            [
                "DELETE /api/v2/users/101",
                "DELETE /api/v2/deleted_users/101"
            ]
        );
        assert!(fake.find("users", "id", "101").is_empty());
    });
}

#[test]
fn sendgrid_erasure_polls_the_job_until_it_completes() {
    let (fake, url) = fakes::sendgrid::start();
    let (_ws, path) = example(
        "sendgrid.yaml",
        &url,
        &[("SENDGRID_API_KEY", fakes::sendgrid::KEY)],
    );
    let v = open(&path);
    runtime().block_on(async {
        let c = connector(&v, "sendgrid").await;
        let keys = vec![serde_json::Map::from_iter([(
            "id".to_string(),
            json!("sg-a"),
        )])];
        let out = write(
            &v,
            c.as_ref(),
            "sendgrid",
            "contacts",
            &keys,
            &Change::Delete,
        )
        .await
        .unwrap();
        assert_eq!(out.changed, 1);
        assert_eq!(out.notes, ["job job-1 completed"]);
        assert_eq!(
            fake.requests(),
            [
                "DELETE /v3/marketing/contacts?ids=sg-a",
                "GET /v3/marketing/contacts/imports/job-1",
                "GET /v3/marketing/contacts/imports/job-1"
            ]
        );
        assert_eq!(
            still_there(&v, c.as_ref(), "sendgrid", "contacts", &keys)
                .await
                .unwrap(),
            0
        );
    });
}

#[test]
fn auth0_token_is_fetched_once_and_reused() {
    let (fake, url) = fakes::auth0::start();
    let (_ws, path) = example(
        "auth0.yaml",
        &url,
        &[
            ("AUTH0_CLIENT_ID", fakes::auth0::CLIENT_ID),
            ("AUTH0_CLIENT_SECRET", fakes::auth0::CLIENT_SECRET),
        ],
    );
    let v = open(&path);
    runtime().block_on(async {
        let c = connector(&v, "auth0").await;
        let m = [("email", vec![json!("alice@example.com")])];
        let rows = find(&v, c.as_ref(), "auth0", "users", &m).await.unwrap();
        assert_eq!(rows.len(), 2);
        let keys = keys(&v, c.as_ref(), "auth0", "users", &rows);
        write(&v, c.as_ref(), "auth0", "users", &keys, &Change::Delete)
            .await
            .unwrap();
        assert_eq!(fake.count("tokens"), 1);
        // The `|` in Auth0 ids is encoded: the id stays one path segment.
        assert!(
            fake.requests()
                .contains(&"DELETE /api/v2/users/google-oauth2%7Ca2".to_string()),
            "{:?}",
            fake.requests()
        );
    });
}

#[test]
fn hubspot_masks_fields_through_update_when_told_to() {
    let (fake, url) = fakes::hubspot::start();
    let (_ws, path) = example(
        "hubspot.yaml",
        &url,
        &[("HUBSPOT_TOKEN", fakes::hubspot::TOKEN)],
    );
    let v = open(&path);
    runtime().block_on(async {
        let c = connector(&v, "hubspot").await;
        let keys = vec![serde_json::Map::from_iter([(
            "id".to_string(),
            json!("501"),
        )])];
        // Masks are computed in the read phase; the connector writes the masked values.
        let mask = Change::Set(serde_json::Map::from_iter([
            ("firstname".to_string(), json!(dsr::erase::mask::REDACTED)),
            ("phone".to_string(), serde_json::Value::Null),
        ]));
        let out = write(&v, c.as_ref(), "hubspot", "contacts", &keys, &mask)
            .await
            .unwrap();
        assert_eq!(out.changed, 1);
        let contact = &fake.find("contacts", "id", "501")[0];
        assert_eq!(contact["properties"]["firstname"], "[redacted]");
        assert_eq!(contact["properties"]["phone"], serde_json::Value::Null);
        assert_eq!(contact["properties"]["email"], "alice@example.com");
        assert_eq!(fake.requests(), ["PATCH /crm/v3/objects/contacts/501"]);
    });
}

/// A small in-house API: page-numbered lists, API key in the query, 503s on demand.
fn tickets_api() -> (Arc<Fake>, String) {
    let fake = Arc::new(Fake::new(Box::new(|_, q| q.contains("key=k-good"))));
    let tickets = (1..=7)
        .map(|i| json!({"ref": format!("T{i}"), "email": "alice@example.com"}))
        .collect();
    fake.seed("tickets", tickets);
    async fn list(
        State(f): State<Arc<Fake>>,
        Query(q): Query<BTreeMap<String, String>>,
    ) -> Response {
        if f.count("fail") > f.count("failed") {
            f.bump("failed");
            return reply(StatusCode::SERVICE_UNAVAILABLE, json!({"error": "busy"}));
        }
        let all = f.find(
            "tickets",
            "email",
            q.get("email").map_or("", String::as_str),
        );
        let page: usize = q.get("page").and_then(|p| p.parse().ok()).unwrap_or(1);
        let (items, _) = fakes::page(&all, (page - 1) * fakes::PAGE);
        reply(StatusCode::OK, json!({"items": items}))
    }
    let url = fakes::serve(fake.clone(), Router::new().route("/tickets", get(list)));
    (fake, url)
}

const DEFINITION: &str = "name: helpdesk
title: In-house helpdesk
base_url: https://helpdesk.acme.example
auth: { type: api_key, query: key }
max_pages: 10
rate_limit: { per_second: 1000, burst: 5 }
resources:
  tickets:
    id: ref
    find:
      path: /tickets
      query: { email: '{match.email}' }
      records: items
      paginate: { type: page, param: page, size_param: per_page, size: 50 }
";

fn helpdesk(url: &str, definition: &str) -> (Workspace, std::path::PathBuf) {
    let ws = Workspace::new();
    ws.write("helpdesk.yaml", definition);
    ws.write("key", "k-good\n");
    let path = ws.write(
        "pb.yaml",
        &format!(
            "version: 1
organisation: Acme
identities: [email]
systems:
  helpdesk:
    connector: http
    definition: helpdesk.yaml
    base_url: {url}
    auth: {{ api_key: '${{file:key}}' }}
    retries: 2
    purpose: Support
    legal_basis: contract
    retention: 2 years
    collections:
      tickets:
        match: {{ email: identity.email }}
"
        ),
    );
    (ws, path)
}

#[test]
fn a_playbook_can_bring_its_own_definition() {
    let (fake, url) = tickets_api();
    let (_ws, path) = helpdesk(&url, DEFINITION);
    let v = open(&path);
    runtime().block_on(async {
        let c = connector(&v, "helpdesk").await;
        let m = [("email", vec![json!("alice@example.com")])];
        let rows = find(&v, c.as_ref(), "helpdesk", "tickets", &m)
            .await
            .unwrap();
        assert_eq!(rows.len(), 7);
        // Short pages (the server caps at 2) do not end the list; an empty page does.
        let calls = fake.requests();
        assert_eq!(calls.len(), 5, "{calls:?}");
        assert!(
            calls[0].contains("page=1") && calls[3].contains("page=4"),
            "{calls:?}"
        );
    });
}

#[test]
fn server_errors_are_retried_then_succeed() {
    let (fake, url) = tickets_api();
    fake.bump("fail");
    fake.bump("fail");
    let (_ws, path) = helpdesk(&url, DEFINITION);
    let v = open(&path);
    runtime().block_on(async {
        let c = connector(&v, "helpdesk").await;
        let m = [("email", vec![json!("alice@example.com")])];
        let rows = find(&v, c.as_ref(), "helpdesk", "tickets", &m)
            .await
            .unwrap();
        assert_eq!(rows.len(), 7);
        assert_eq!(fake.count("failed"), 2);
        let calls = fake.requests();
        assert_eq!(calls[0], calls[2], "{calls:?}");
    });
}

#[test]
fn server_errors_beyond_the_retries_fail_without_retrying_the_step() {
    let (fake, url) = tickets_api();
    for _ in 0..5 {
        fake.bump("fail");
    }
    let (_ws, path) = helpdesk(&url, DEFINITION);
    let v = open(&path);
    runtime().block_on(async {
        let c = connector(&v, "helpdesk").await;
        let m = [("email", vec![json!("alice@example.com")])];
        let err = find(&v, c.as_ref(), "helpdesk", "tickets", &m)
            .await
            .unwrap_err();
        // The call's retries are spent: retrying the step as well would multiply the calls.
        assert!(!err.is_transient());
        assert_eq!(
            err.to_string(),
            "GET /tickets answered HTTP 503 (after 3 calls)"
        );
        // One call and two retries.
        assert_eq!(fake.count("failed"), 3);
    });
}

#[test]
fn a_failing_system_gets_its_retries_once_not_once_per_step_attempt() {
    let (fake, url) = tickets_api();
    for _ in 0..5 {
        fake.bump("fail");
    }
    let (ws, _) = helpdesk(&url, DEFINITION);
    let r = run(ws.dsr().args([
        "--json",
        "export",
        "alice@example.com",
        "--playbook",
        "pb.yaml",
        "--out",
        "b",
    ]));
    assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
    assert_eq!(
        fake.count("failed"),
        3,
        "retries: 2 means three calls in all, not three per step attempt"
    );
    let report = read_json(&ws.path().join("b/report.json"));
    let tickets = &report["systems"][0]["collections"][0];
    assert_eq!(tickets["attempts"], 1, "{tickets}");
    assert_eq!(
        tickets["errors"][0],
        "GET /tickets answered HTTP 503 (after 3 calls)"
    );
}

#[test]
fn the_page_cap_stops_a_runaway_list_with_an_error() {
    let (_fake, url) = tickets_api();
    let (_ws, path) = helpdesk(&url, &DEFINITION.replace("max_pages: 10", "max_pages: 2"));
    let v = open(&path);
    runtime().block_on(async {
        let c = connector(&v, "helpdesk").await;
        let m = [("email", vec![json!("alice@example.com")])];
        let err = find(&v, c.as_ref(), "helpdesk", "tickets", &m).await.unwrap_err();
        assert_eq!(
            err.to_string(),
            "GET /tickets: more than 2 pages; raise `max_pages` in the definition if this is expected"
        );
    });
}

#[test]
fn validate_points_at_the_line_of_a_bad_definition() {
    let (_fake, url) = tickets_api();
    let (ws, _) = helpdesk(
        &url,
        &DEFINITION.replace("'{match.email}'", "'{identity.mail}'"),
    );
    let r = run(ws.dsr().args(["validate", "pb.yaml"]));
    assert_eq!(r.code, 2, "{}", r.stdout);
    assert!(
        r.stderr.contains("pb.yaml:15:7: systems.helpdesk.collections.tickets: resource 'tickets' uses {identity.mail}, but identity kind 'mail' is not declared"),
        "{}",
        r.stderr
    );
    let (ws, _) = helpdesk(
        &url,
        &DEFINITION.replace("records: items", "records: items\n      colour: red"),
    );
    let r = run(ws.dsr().args(["validate", "pb.yaml"]));
    assert_eq!(r.code, 2, "{}", r.stdout);
    assert!(
        r.stderr
            .contains("error: helpdesk.yaml:14:7: unknown field `colour`"),
        "{}",
        r.stderr
    );
    let r = run(ws.dsr().args(["connectors", "show", "helpdesk.yaml"]));
    assert_eq!(r.code, 2);
    assert!(
        r.stderr
            .contains("error: helpdesk.yaml:14:7: unknown field `colour`"),
        "{}",
        r.stderr
    );
}

#[test]
fn validate_rejects_inline_secrets_unknown_resources_and_plain_http() {
    let ws = Workspace::new();
    ws.write(
        "pb.yaml",
        "version: 1
organisation: Acme
identities: [email]
systems:
  stripe:
    connector: stripe
    base_url: http://api.stripe.example
    auth: { token: sk_live_inline_secret }
    purpose: Payments
    legal_basis: contract
    retention: 10 years
    collections:
      customer:
        match: { email: identity.email }
",
    );
    let r = run(ws.dsr().args(["validate", "pb.yaml"]));
    assert_eq!(r.code, 2);
    let expected = [
        "pb.yaml:7:15: systems.stripe.base_url: plain http to api.stripe.example is not allowed",
        "pb.yaml:8:20: systems.stripe.auth.token: `auth.token` holds a secret inline",
        "pb.yaml:13:7: systems.stripe.collections.customer: the stripe definition has no resource 'customer'\n  hint: set `resource:`; did you mean 'customers'?",
    ];
    for e in expected {
        assert!(r.stderr.contains(e), "missing {e:?} in\n{}", r.stderr);
    }
    // The secret is named by its key, never printed.
    assert!(!r.stderr.contains("sk_live_inline_secret"), "{}", r.stderr);
}

#[test]
fn connectors_list_and_show() {
    let ws = Workspace::new();
    let r = run(ws.dsr().args(["connectors", "list", "--json"]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    let names: Vec<&str> = v["definitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "auth0",
            "hubspot",
            "intercom",
            "klaviyo",
            "mailchimp",
            "segment",
            "sendgrid",
            "shopify",
            "stripe",
            "zendesk"
        ]
    );
    let kinds: Vec<&str> = v["kinds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        [
            "postgres", "mysql", "sqlite", "http", "webhook", "opendsr", "redis", "files", "s3",
            "manual"
        ]
    );

    let r = run(ws.dsr().args(["connectors", "show", "mailchimp", "--json"]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["auth"]["type"], "basic");
    assert_eq!(v["auth"]["playbook_keys"], json!(["username", "password"]));
    assert_eq!(v["config"]["list_id"], "Audience (list) id");
    let members = v["resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "members")
        .unwrap();
    assert_eq!(
        members["operations"],
        json!(["find", "verify", "mask/correct", "erase"])
    );

    let r = run(ws.dsr().args(["connectors", "show", "sendgrid"]));
    assert_eq!(r.code, 0);
    assert!(r.stdout.contains("erase (async job)"), "{}", r.stdout);
    assert!(
        r.stdout
            .contains("auth: bearer — playbook `auth: { token: ${env:…} }`"),
        "{}",
        r.stdout
    );

    let r = run(ws.dsr().args(["connectors", "show", "stripes"]));
    assert_eq!(r.code, 2);
    assert!(
        r.stderr
            .contains("error: no connector named 'stripes'\n  hint: did you mean 'stripe'?"),
        "{}",
        r.stderr
    );

    for args in [
        &["connectors", "--help"][..],
        &["connectors", "list", "--help"],
        &["connectors", "show", "--help"],
    ] {
        let r = run(ws.dsr().args(args));
        assert_eq!(r.code, 0);
        assert!(
            r.stdout.contains("Example: dsr connectors"),
            "{args:?}: {}",
            r.stdout
        );
    }
}

/// Every example playbook is valid once its secrets are in the environment.
#[test]
fn every_example_playbook_validates() {
    let dir = crate::support::repo().join("playbooks/examples");
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "yaml") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let ws = Workspace::new();
        let mut cmd = ws.dsr();
        cmd.args(["validate", "--json"]).arg(&path);
        for piece in text.split("${env:").skip(1) {
            let var = piece.split('}').next().unwrap();
            cmd.env(var, "set-for-validation");
        }
        let r = run(&mut cmd);
        assert_eq!(r.code, 0, "{}: {}", path.display(), r.stderr);
        let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
        assert_eq!(v["valid"], true);
        checked += 1;
    }
    assert!(checked >= 12, "{checked}");
}

/// A subject's identity cannot add conditions to a vendor's search query.
#[test]
fn identities_are_escaped_inside_search_queries() {
    let (fake, url) = fakes::stripe::start();
    let (_ws, path) = example(
        "stripe.yaml",
        &url,
        &[("STRIPE_API_KEY", fakes::stripe::KEY)],
    );
    let v = open(&path);
    runtime().block_on(async {
        let c = connector(&v, "stripe").await;
        let evil = "x' OR email:'bob@example.com";
        let rows = find(
            &v,
            c.as_ref(),
            "stripe",
            "customers",
            &[("email", vec![json!(evil)])],
        )
        .await
        .unwrap();
        assert!(rows.is_empty(), "{rows:?}");
        let sent = &fake.requests()[0];
        assert!(
            sent.contains("query=email%3A%27x%5C%27+OR+email%3A%5C%27bob%40example.com%27"),
            "{sent}"
        );
    });
}

/// A 2xx page that is not JSON (a proxy's sign-in page) fails the step instead of
/// exporting nothing.
#[test]
fn a_non_json_answer_fails_instead_of_exporting_nothing() {
    let fake = Arc::new(Fake::new(Box::new(|_, _| true)));
    let url = fakes::serve(
        fake,
        Router::new().route(
            "/tickets",
            get(|| async { axum::response::Html("<html>Sign in</html>") }),
        ),
    );
    let (_ws, path) = helpdesk(&url, DEFINITION);
    let v = open(&path);
    runtime().block_on(async {
        let c = connector(&v, "helpdesk").await;
        let m = [("email", vec![json!("alice@example.com")])];
        let err = find(&v, c.as_ref(), "helpdesk", "tickets", &m)
            .await
            .unwrap_err();
        assert_eq!(err.to_string(), "GET /tickets: the answer is not JSON");
    });
}

/// Vendors that answer 422 (or 400) for a person they do not know: listed answers mean
/// "nothing held"; other answers with the same status still fail.
#[test]
fn configured_no_data_answers_count_as_nothing_held() {
    let fake = Arc::new(Fake::new(Box::new(|_, _| true)));
    async fn tickets(Query(q): Query<BTreeMap<String, String>>) -> Response {
        match q.get("email").map(String::as_str) {
            Some("nobody@example.com") => reply(
                StatusCode::UNPROCESSABLE_ENTITY,
                json!({"error": "unknown requester"}),
            ),
            _ => reply(
                StatusCode::UNPROCESSABLE_ENTITY,
                json!({"error": "email is malformed"}),
            ),
        }
    }
    let url = fakes::serve(fake, Router::new().route("/tickets", get(tickets)));
    let definition = DEFINITION.replace(
        "      records: items\n",
        "      records: items\n      no_data: [{ status: 422, body_contains: unknown requester }]\n",
    );
    let (_ws, path) = helpdesk(&url, &definition);
    let v = open(&path);
    runtime().block_on(async {
        let c = connector(&v, "helpdesk").await;
        let m = [("email", vec![json!("nobody@example.com")])];
        let rows = find(&v, c.as_ref(), "helpdesk", "tickets", &m)
            .await
            .unwrap();
        assert!(rows.is_empty());
        let m = [("email", vec![json!("not-an-address")])];
        let err = find(&v, c.as_ref(), "helpdesk", "tickets", &m)
            .await
            .unwrap_err();
        assert_eq!(err.to_string(), "GET /tickets answered HTTP 422");
        assert!(!err.is_transient());
    });
}
