//! SaaS connectors against in-process fakes of each vendor's API.
//!
//! Every shipped definition is exercised through its example playbook
//! (`playbooks/examples/VENDOR.yaml`), pointed at the fake with `base_url:` and with its
//! `${env:…}` secrets turned into `${file:…}` files: export through the real binary
//! (pagination over several pages included), erase through the connector's `write` and
//! `find_by_keys`, a 429 with `Retry-After`, and a 401.

use crate::fakes::{self, Fake};
use crate::support::{Workspace, read_json, repo, run, runtime};
use dsr::connectors::Validated;
use dsr::connectors::{
    self, Connector, ConnectorError, FindRequest, KeyLookup, KeyedChange, Row, RowSink, SinkError,
    WriteOutcome, WriteRequest,
};
use dsr::playbook::CollectionId;
use serde_json::{Value, json};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// A copy of an example playbook that talks to the fake at `url`.
pub fn example(name: &str, url: &str, secrets: &[(&str, &str)]) -> (Workspace, PathBuf) {
    let ws = Workspace::new();
    let mut text = std::fs::read_to_string(repo().join("playbooks/examples").join(name))
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    let mut lines: Vec<String> = Vec::new();
    for line in text.lines() {
        lines.push(line.to_string());
        let t = line.trim_start();
        if t.starts_with("connector: ") && !t.contains("sqlite") && !t.contains("webhook") {
            let indent = &line[..line.len() - t.len()];
            lines.push(format!("{indent}base_url: {url}"));
        }
    }
    text = lines.join("\n") + "\n";
    if name == "webhook.yaml" {
        text = text.replace(
            "url: https://loyalty.internal.acme-tea.example/dsr",
            &format!("url: {url}"),
        );
    }
    for (var, value) in secrets {
        text = text.replace(
            &format!("${{env:{var}}}"),
            &format!("${{file:secrets/{var}}}"),
        );
        ws.write(&format!("secrets/{var}"), value);
    }
    let data = repo().join("playbooks/examples/data");
    for entry in std::fs::read_dir(&data).unwrap() {
        let entry = entry.unwrap();
        let file = entry.file_name().to_string_lossy().into_owned();
        if file.ends_with(".sql") {
            ws.write(
                &format!("data/{file}"),
                &std::fs::read_to_string(entry.path()).unwrap(),
            );
        }
    }
    let path = ws.write("pb.yaml", &text);
    (ws, path)
}

pub fn open(path: &std::path::Path) -> Validated {
    dsr::connectors::configure::open(path).unwrap_or_else(|e| panic!("{e}"))
}

#[derive(Default)]
pub struct Rows(pub Vec<Row>);

impl RowSink for Rows {
    fn row(&mut self, row: Row) -> Result<(), SinkError> {
        self.0.push(row);
        Ok(())
    }
    fn reset(&mut self) -> Result<(), SinkError> {
        self.0.clear();
        Ok(())
    }
}

pub async fn connector(v: &Validated, system: &str) -> Arc<dyn Connector> {
    connectors::open(&v.systems[system], &v.loaded.dir)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
}

fn id(system: &str, collection: &str) -> CollectionId {
    CollectionId {
        system: system.into(),
        collection: collection.into(),
    }
}

pub async fn find(
    v: &Validated,
    c: &dyn Connector,
    system: &str,
    collection: &str,
    matches: &[(&str, Vec<Value>)],
) -> Result<Vec<Row>, ConnectorError> {
    let spec = v.collection(&id(system, collection)).expect("collection");
    let matches: Vec<dsr::connectors::MatchGroup> = matches
        .iter()
        .map(|(c, v)| dsr::connectors::MatchGroup::single(*c, v.clone()))
        .collect();
    let req = FindRequest {
        collection: spec,
        columns: None,
        matches: &matches,
        idle_timeout: Duration::from_secs(10),
    };
    let mut rows = Rows::default();
    c.find(&req, &mut rows).await?;
    Ok(rows.0)
}

/// What a library-level write does to every key given.
pub enum Change {
    Delete,
    Set(Row),
}

/// The keys of `rows` as the connector names them.
pub fn keys(
    v: &Validated,
    c: &dyn Connector,
    system: &str,
    collection: &str,
    rows: &[Row],
) -> Vec<Row> {
    let spec = v.collection(&id(system, collection)).unwrap();
    let cols = futures::executor::block_on(c.key_columns(spec)).unwrap();
    rows.iter()
        .map(|r| {
            cols.iter()
                .map(|k| (k.clone(), r.get(k).cloned().unwrap_or(Value::Null)))
                .collect()
        })
        .collect()
}

fn key_values(keys: &[Row]) -> (Vec<String>, Vec<Vec<Value>>) {
    let columns: Vec<String> = keys
        .first()
        .map(|k| k.keys().cloned().collect())
        .unwrap_or_default();
    let values = keys
        .iter()
        .map(|k| {
            columns
                .iter()
                .map(|c| k.get(c).cloned().unwrap_or(Value::Null))
                .collect()
        })
        .collect();
    (columns, values)
}

pub async fn write(
    v: &Validated,
    c: &dyn Connector,
    system: &str,
    collection: &str,
    keys: &[Row],
    change: &Change,
) -> Result<WriteOutcome, ConnectorError> {
    let spec = v.collection(&id(system, collection)).unwrap();
    let (key_columns, values) = key_values(keys);
    let changes: Vec<KeyedChange> = values
        .into_iter()
        .map(|key| KeyedChange {
            key,
            set: match change {
                Change::Delete => None,
                Change::Set(row) => Some(row.clone()),
            },
        })
        .collect();
    let mut out = c
        .write(&[WriteRequest {
            collection: spec,
            key_columns: &key_columns,
            changes: &changes,
        }])
        .await?;
    Ok(out.remove(0))
}

pub async fn still_there(
    v: &Validated,
    c: &dyn Connector,
    system: &str,
    collection: &str,
    keys: &[Row],
) -> Result<u64, ConnectorError> {
    let spec = v.collection(&id(system, collection)).unwrap();
    let (key_columns, values) = key_values(keys);
    let mut rows = Rows::default();
    c.find_by_keys(
        &KeyLookup {
            collection: spec,
            key_columns: &key_columns,
            columns: None,
            keys: &values,
            idle_timeout: Duration::from_secs(10),
        },
        &mut rows,
    )
    .await
}

/// One vendor's test case.
pub struct Case {
    pub example: &'static str,
    pub system: &'static str,
    pub start: fn() -> (Arc<Fake>, String),
    pub secrets: &'static [(&'static str, &'static str)],
    /// The secret variable to spoil for the 401 test.
    pub secret_var: &'static str,
    /// The command line's subject.
    pub subject: &'static [&'static str],
    /// The request's identity as a match: (collection, column, value).
    pub entry: (&'static str, &'static str, &'static str),
    /// Bundle files and how many records each must hold.
    pub exported: &'static [(&'static str, usize)],
    /// A call that must have been made more than once (pagination), if the API pages.
    pub paged: Option<&'static str>,
}

impl Case {
    fn setup(&self, secrets: &[(&str, &str)]) -> (Arc<Fake>, Workspace, Validated) {
        let (fake, url) = (self.start)();
        let (ws, path) = example(self.example, &url, secrets);
        let v = open(&path);
        (fake, ws, v)
    }

    fn entry_match(&self) -> Vec<(&'static str, Vec<Value>)> {
        vec![(self.entry.1, vec![json!(self.entry.2)])]
    }

    /// Export through the binary: every expected file, several pages, nobody else's data.
    pub fn export(&self) {
        let (fake, url) = (self.start)();
        let (ws, _) = example(self.example, &url, self.secrets);
        let mut args = vec!["export"];
        args.extend(self.subject);
        args.extend(["--playbook", "pb.yaml", "--out", "bundle", "--json"]);
        let r = run(ws.dsr().args(&args));
        assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
        for (file, n) in self.exported {
            let rows = read_json(&ws.path().join("bundle").join(file));
            assert_eq!(rows.as_array().map(Vec::len), Some(*n), "{file}: {rows}");
            let text = rows.to_string();
            assert!(!text.contains("bob@example.com"), "{file}: {text}");
        }
        if let Some(call) = self.paged {
            let n = fake.calls(call);
            assert!(n >= 2, "{call} was called {n} times: {:?}", fake.requests());
        }
        // Secrets never reach the bundle or the output.
        for (_, secret) in self.secrets {
            assert!(!r.stdout.contains(secret) && !r.stderr.contains(secret));
            let report = std::fs::read_to_string(ws.path().join("bundle/report.json")).unwrap();
            assert!(!report.contains(secret));
        }
    }

    /// Erase through `write`, then verify with `find_by_keys` and a new find.
    pub fn erase(&self) {
        let (fake, _ws, v) = self.setup(self.secrets);
        let (coll, _, _) = self.entry;
        runtime().block_on(async {
            let c = connector(&v, self.system).await;
            let found = find(&v, c.as_ref(), self.system, coll, &self.entry_match())
                .await
                .unwrap();
            assert!(!found.is_empty(), "nothing found to erase");
            let keys = keys(&v, c.as_ref(), self.system, coll, &found);
            let before = fake.requests().len();
            let out = write(&v, c.as_ref(), self.system, coll, &keys, &Change::Delete)
                .await
                .unwrap();
            assert_eq!(out.changed, keys.len() as u64, "{out:?}");
            assert!(fake.requests().len() > before, "no erase call was made");
            let spec = v.collection(&id(self.system, coll)).unwrap();
            let def = v.systems[self.system].kind.definition().cloned().unwrap();
            if def.resources[&v.systems[self.system].kind.location_of(&spec.id.collection)]
                .get
                .is_some()
            {
                assert_eq!(
                    still_there(&v, c.as_ref(), self.system, coll, &keys)
                        .await
                        .unwrap(),
                    0
                );
            }
            if !def.resources[&v.systems[self.system].kind.location_of(&spec.id.collection)]
                .key_from_match
            {
                let again = find(&v, c.as_ref(), self.system, coll, &self.entry_match())
                    .await
                    .unwrap();
                assert!(again.is_empty(), "{again:?}");
                // Bob is untouched.
                let bob = find(
                    &v,
                    c.as_ref(),
                    self.system,
                    coll,
                    &[(self.entry.1, vec![json!("bob@example.com")])],
                )
                .await
                .unwrap();
                assert_eq!(bob.len(), 1, "{bob:?}");
            }
            // Erasing again is not an error: the records are already gone.
            let out = write(&v, c.as_ref(), self.system, coll, &keys, &Change::Delete)
                .await
                .unwrap();
            // Either the API said so (404 / gone), or it ran another job that found nothing.
            assert!(
                out.changed == 0 && out.notes == ["a record was already gone"]
                    || out.notes.iter().any(|n| n.starts_with("job ")),
                "{out:?}"
            );
        });
    }

    /// The first call gets 429 with `Retry-After: 1`: the call is repeated and succeeds.
    pub fn throttled(&self) {
        let (fake, _ws, v) = self.setup(self.secrets);
        let (coll, _, _) = self.entry;
        runtime().block_on(async {
            let c = connector(&v, self.system).await;
            let def = v.systems[self.system].kind.definition().cloned().unwrap();
            let spec = v.collection(&id(self.system, coll)).unwrap();
            fake.throttle_next(1, "1");
            if def.resources[&v.systems[self.system].kind.location_of(&spec.id.collection)]
                .key_from_match
            {
                let keys = vec![Row::from_iter([(
                    def.resources[&v.systems[self.system].kind.location_of(&spec.id.collection)]
                        .id
                        .clone(),
                    json!(self.entry.2),
                )])];
                let out = write(&v, c.as_ref(), self.system, coll, &keys, &Change::Delete)
                    .await
                    .unwrap();
                assert_eq!(out.changed, 1);
            } else {
                let rows = find(&v, c.as_ref(), self.system, coll, &self.entry_match())
                    .await
                    .unwrap();
                assert!(!rows.is_empty());
            }
            let log = fake.requests();
            assert!(log.len() >= 2, "{log:?}");
            assert_eq!(
                log[0], log[1],
                "the throttled call was not repeated: {log:?}"
            );
            assert_eq!(fake.throttle.load(std::sync::atomic::Ordering::SeqCst), 0);
        });
    }

    /// Wrong credentials: the step fails at once, naming the system and never the secret.
    pub fn unauthorized(&self) {
        let wrong = "wrong-secret-Zq9";
        let secrets: Vec<(&str, &str)> = self
            .secrets
            .iter()
            .map(|(k, s)| {
                if *k == self.secret_var {
                    (*k, wrong)
                } else {
                    (*k, *s)
                }
            })
            .collect();
        let (fake, _ws, v) = self.setup(&secrets);
        let (coll, _, _) = self.entry;
        runtime().block_on(async {
            let c = connector(&v, self.system).await;
            let def = v.systems[self.system].kind.definition().cloned().unwrap();
            let spec = v.collection(&id(self.system, coll)).unwrap();
            let err = if def.resources
                [&v.systems[self.system].kind.location_of(&spec.id.collection)]
                .key_from_match
            {
                let keys = vec![Row::from_iter([(
                    def.resources[&v.systems[self.system].kind.location_of(&spec.id.collection)]
                        .id
                        .clone(),
                    json!(self.entry.2),
                )])];
                write(&v, c.as_ref(), self.system, coll, &keys, &Change::Delete)
                    .await
                    .unwrap_err()
            } else {
                find(&v, c.as_ref(), self.system, coll, &self.entry_match())
                    .await
                    .unwrap_err()
            };
            let msg = err.to_string();
            assert!(!err.is_transient(), "{msg}");
            assert!(
                msg.starts_with(&format!(
                    "{} rejected the credentials (HTTP 401)",
                    self.system
                )),
                "{msg}"
            );
            assert!(!msg.contains(wrong), "{msg}");
            // Fail fast: one call, no retries.
            assert_eq!(fake.requests().len(), 1, "{:?}", fake.requests());
        });
    }
}

macro_rules! saas_tests {
    ($name:ident, $case:expr) => {
        mod $name {
            use super::*;
            #[test]
            fn export_through_the_binary() {
                $case.export();
            }
            #[test]
            fn erase_through_write_then_verify() {
                $case.erase();
            }
            #[test]
            fn honours_retry_after_on_429() {
                $case.throttled();
            }
            #[test]
            fn fails_fast_on_401_without_showing_the_secret() {
                $case.unauthorized();
            }
        }
    };
}

const STRIPE: Case = Case {
    example: "stripe.yaml",
    system: "stripe",
    start: fakes::stripe::start,
    secrets: &[("STRIPE_API_KEY", fakes::stripe::KEY)],
    secret_var: "STRIPE_API_KEY",
    subject: &["alice@example.com"],
    entry: ("customers", "email", "alice@example.com"),
    exported: &[
        ("stripe/customers.json", 3),
        ("stripe/charges.json", 5),
        ("stripe/invoices.json", 1),
    ],
    paged: Some("GET /v1/charges?"),
};
saas_tests!(stripe, STRIPE);

const ZENDESK: Case = Case {
    example: "zendesk.yaml",
    system: "zendesk",
    start: fakes::zendesk::start,
    secrets: &[
        ("ZENDESK_AGENT", fakes::zendesk::USER),
        ("ZENDESK_API_TOKEN", fakes::zendesk::TOKEN),
    ],
    secret_var: "ZENDESK_API_TOKEN",
    subject: &["alice@example.com"],
    entry: ("users", "email", "alice@example.com"),
    exported: &[("zendesk/users.json", 1), ("zendesk/tickets.json", 5)],
    paged: Some("GET /api/v2/users/101/tickets/requested"),
};
saas_tests!(zendesk, ZENDESK);

const HUBSPOT: Case = Case {
    example: "hubspot.yaml",
    system: "hubspot",
    start: fakes::hubspot::start,
    secrets: &[("HUBSPOT_TOKEN", fakes::hubspot::TOKEN)],
    secret_var: "HUBSPOT_TOKEN",
    subject: &["alice@example.com"],
    entry: ("contacts", "email", "alice@example.com"),
    exported: &[("hubspot/contacts.json", 3)],
    paged: Some("POST /crm/v3/objects/contacts/search"),
};
saas_tests!(hubspot, HUBSPOT);

const MAILCHIMP: Case = Case {
    example: "mailchimp.yaml",
    system: "mailchimp",
    start: fakes::mailchimp::start,
    secrets: &[("MAILCHIMP_API_KEY", fakes::mailchimp::KEY)],
    secret_var: "MAILCHIMP_API_KEY",
    subject: &["Alice@Example.com"],
    entry: ("members", "email", "alice@example.com"),
    exported: &[
        ("mailchimp/members.json", 1),
        ("mailchimp/activity.json", 5),
    ],
    paged: Some("GET /3.0/lists/a1b2c3d4e5/members/"),
};
saas_tests!(mailchimp, MAILCHIMP);

const INTERCOM: Case = Case {
    example: "intercom.yaml",
    system: "intercom",
    start: fakes::intercom::start,
    secrets: &[("INTERCOM_TOKEN", fakes::intercom::TOKEN)],
    secret_var: "INTERCOM_TOKEN",
    subject: &["alice@example.com"],
    entry: ("contacts", "email", "alice@example.com"),
    exported: &[("intercom/contacts.json", 3)],
    paged: Some("POST /contacts/search"),
};
saas_tests!(intercom, INTERCOM);

const SHOPIFY: Case = Case {
    example: "shopify.yaml",
    system: "shopify",
    start: fakes::shopify::start,
    secrets: &[("SHOPIFY_ADMIN_TOKEN", fakes::shopify::TOKEN)],
    secret_var: "SHOPIFY_ADMIN_TOKEN",
    subject: &["alice@example.com"],
    entry: ("customers", "email", "alice@example.com"),
    exported: &[("shopify/customers.json", 1), ("shopify/orders.json", 5)],
    paged: Some("GET /admin/api/2024-10/customers/7001/orders.json"),
};
saas_tests!(shopify, SHOPIFY);

const SENDGRID: Case = Case {
    example: "sendgrid.yaml",
    system: "sendgrid",
    start: fakes::sendgrid::start,
    secrets: &[("SENDGRID_API_KEY", fakes::sendgrid::KEY)],
    secret_var: "SENDGRID_API_KEY",
    subject: &["alice@example.com"],
    entry: ("contacts", "email", "alice@example.com"),
    exported: &[("sendgrid/contacts.json", 1)],
    // The contacts search answers with at most 50 contacts and has no pages.
    paged: None,
};
saas_tests!(sendgrid, SENDGRID);

const AUTH0: Case = Case {
    example: "auth0.yaml",
    system: "auth0",
    start: fakes::auth0::start,
    secrets: &[
        ("AUTH0_CLIENT_ID", fakes::auth0::CLIENT_ID),
        ("AUTH0_CLIENT_SECRET", fakes::auth0::CLIENT_SECRET),
    ],
    secret_var: "AUTH0_CLIENT_SECRET",
    subject: &["alice@example.com"],
    entry: ("users", "email", "alice@example.com"),
    exported: &[("auth0/users.json", 2)],
    // users-by-email returns every identity with the address in one list.
    paged: None,
};
saas_tests!(auth0, AUTH0);

const SEGMENT: Case = Case {
    example: "segment.yaml",
    system: "segment",
    start: fakes::segment::start,
    secrets: &[("SEGMENT_TOKEN", fakes::segment::TOKEN)],
    secret_var: "SEGMENT_TOKEN",
    subject: &["--id", "user_id=u-123"],
    entry: ("users", "user_id", "u-123"),
    exported: &[("segment/users.json", 1)],
    paged: None,
};
saas_tests!(segment, SEGMENT);

const KLAVIYO: Case = Case {
    example: "klaviyo.yaml",
    system: "klaviyo",
    start: fakes::klaviyo::start,
    secrets: &[("KLAVIYO_API_KEY", fakes::klaviyo::KEY)],
    secret_var: "KLAVIYO_API_KEY",
    subject: &["alice@example.com"],
    entry: ("profiles", "email", "alice@example.com"),
    exported: &[("klaviyo/profiles.json", 3)],
    paged: Some("GET /api/profiles?"),
};
saas_tests!(klaviyo, KLAVIYO);

/// The whole erase through the binary against a SaaS fake: plan, keyed deletes of the customers
/// found, charges and invoices kept with their reason, verification by GET, a signed report.
#[test]
fn stripe_erase_through_the_binary() {
    let (fake, url) = fakes::stripe::start();
    let (ws, _) = example("stripe.yaml", &url, STRIPE.secrets);
    let r = run(ws.dsr().args([
        "--json",
        "erase",
        "alice@example.com",
        "--playbook",
        "pb.yaml",
        "--yes",
    ]));
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let out: Value = serde_json::from_str(&r.stdout).unwrap();
    let stripe = &out["systems"][0];
    let coll = |name: &str| {
        stripe["collections"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["collection"] == name)
            .unwrap()
            .clone()
    };
    assert_eq!(coll("customers")["deleted"], 3);
    assert_eq!(coll("customers")["verified"], true);
    assert_eq!(coll("charges")["kept"], 5);
    assert!(
        fake.find("customers", "email", "alice@example.com")
            .is_empty(),
        "customers still at the fake"
    );
    assert!(
        !fake
            .find("customers", "email", "bob@example.com")
            .is_empty(),
        "someone else's customer was deleted"
    );
    let report = std::path::PathBuf::from(out["report"].as_str().unwrap());
    let v = run(ws.dsr().arg("verify").arg(&report));
    assert_eq!(v.code, 0, "{}{}", v.stdout, v.stderr);
}
