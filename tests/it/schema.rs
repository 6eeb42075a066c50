//! `schemas/playbook.schema.json` against the playbook types: the same keys in every mapping,
//! the same required ones, and every shipped playbook, `dsr discover` draft and `dsr init`
//! result valid under it. The Rust side is read from serde's own errors (`unknown field …,
//! expected one of …` and `missing field …`), so a field added to the types without the
//! schema, or the other way round, fails here.

use crate::support::{Workspace, repo, run};
use dsr::connectors::ConnectorKind;
use dsr::connectors::config::Level;
use dsr::playbook::model::{COLLECTION_KEYS, Playbook, SYSTEM_KEYS};
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// A small SQLite shop (users, their orders, products) in `dir`; its `sqlite:` URL.
pub fn sqlite_shop(dir: &Path) -> String {
    let url = format!("sqlite:{}", dir.join("shop.db").display());
    let create = url.clone();
    crate::support::runtime().block_on(async move {
        use sqlx::Connection;
        let opts: sqlx::sqlite::SqliteConnectOptions = create.parse().unwrap();
        let mut conn = sqlx::SqliteConnection::connect_with(&opts.create_if_missing(true))
            .await
            .unwrap();
        sqlx::raw_sql(
            "CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT NOT NULL, full_name TEXT);
             CREATE TABLE products (id INTEGER PRIMARY KEY, sku TEXT);
             CREATE TABLE orders (id INTEGER PRIMARY KEY, user_id INTEGER NOT NULL REFERENCES users(id),
                                  product_id INTEGER REFERENCES products(id), total INTEGER);
             INSERT INTO users VALUES (1, 'alice@example.com', 'Alice');
             INSERT INTO orders VALUES (10, 1, NULL, 42);",
        )
        .execute(&mut conn)
        .await
        .unwrap();
    });
    url
}

pub fn schema() -> Value {
    let text = std::fs::read_to_string(repo().join("schemas/playbook.schema.json"))
        .expect("schemas/playbook.schema.json");
    serde_json::from_str(&text).expect("the schema is JSON")
}

pub fn validator() -> jsonschema::Validator {
    jsonschema::draft202012::new(&schema()).expect("the schema compiles")
}

/// A YAML file as JSON, as an editor's language server sees it.
pub fn yaml_to_json(text: &str) -> Value {
    serde_saphyr::from_str(text).expect("YAML")
}

fn errors_of(v: &jsonschema::Validator, doc: &Value) -> Vec<String> {
    v.iter_errors(doc)
        .map(|e| format!("{} at {}", e, e.instance_path))
        .collect()
}

/// The playbook's mappings: where each sits in a document, and its definition in the schema.
const MAPPINGS: &[(&str, &str)] = &[
    ("", ""),
    ("/deadlines/d", "/$defs/deadline_policy"),
    ("/systems/s", "/$defs/system"),
    ("/systems/s/collections/c", "/$defs/collection"),
    ("/systems/s/collections/c/fields/f", "/$defs/field"),
    ("/systems/s/collections/c/erase", "/$defs/erase_detail"),
];

/// A valid playbook with `inner` in place of the mapping at `pointer` (`/systems/s` …).
fn nest(pointer: &str, inner: Value) -> Value {
    let mut doc = json!({
        "version": 1, "organisation": "o", "identities": ["email"],
        "systems": { "s": {
            "connector": "postgres", "purpose": "p", "legal_basis": "contract", "retention": "r",
            "collections": { "c": { "fields": { "f": { "category": "x" } }, "erase": {} } } } },
        "deadlines": { "d": {} }
    });
    *doc.pointer_mut(pointer)
        .expect("the pointer names a mapping") = inner;
    doc
}

/// serde's message for `doc`, if the playbook types refuse it.
fn serde_error(doc: &Value) -> Option<String> {
    serde_saphyr::from_str::<Playbook>(&doc.to_string())
        .err()
        .map(|e| e.to_string())
}

/// The names serde lists after `expected` (`expected one of a, b`, `expected \`a\` or \`b\``).
fn expected_names(message: &str) -> BTreeSet<String> {
    let Some(rest) = message
        .lines()
        .find_map(|l| l.split_once("expected ").map(|(_, r)| r))
    else {
        panic!("no `expected` in: {message}");
    };
    let rest = rest.strip_prefix("one of ").unwrap_or(rest);
    rest.split(", ")
        .flat_map(|p| p.split(" or "))
        .map(|n| n.trim().trim_matches('`').to_string())
        .filter(|n| !n.is_empty())
        .collect()
}

fn schema_keys(schema: &Value, def: &str) -> BTreeSet<String> {
    schema
        .pointer(&format!("{def}/properties"))
        .and_then(Value::as_object)
        .unwrap_or_else(|| panic!("{def} has no properties"))
        .keys()
        .cloned()
        .collect()
}

/// A value the schema allows for `prop`, to fill a required field with.
fn sample(schema: &Value, prop: &Value) -> Value {
    if let Some(r) = prop.get("$ref").and_then(Value::as_str) {
        return sample(schema, schema.pointer(&r[1..]).expect("$ref resolves"));
    }
    if let Some(c) = prop.get("const") {
        return c.clone();
    }
    if let Some(e) = prop.get("enum").and_then(Value::as_array) {
        return e[0].clone();
    }
    match prop.get("type").and_then(Value::as_str) {
        Some("string") => json!("x"),
        Some("integer") => json!(1),
        Some("boolean") => json!(true),
        Some("array") => json!(["x"]),
        Some("object") => json!({}),
        other => panic!("no sample for {other:?}: {prop}"),
    }
}

/// What dsr says of `doc`: serde's refusal, else the unknown key validation reports (or its
/// first problem).
fn dsr_error(doc: &Value) -> Option<String> {
    if let Some(e) = serde_error(doc) {
        return Some(e);
    }
    let loaded =
        dsr::playbook::load::parse(Path::new("pb.yaml"), &doc.to_string()).expect("parses");
    dsr::connectors::configure::validate_offline(loaded)
        .err()
        .map(|d| {
            let unknown = d.0.iter().find(|x| x.message.contains("unknown field"));
            unknown.unwrap_or(&d.0[0]).message.clone()
        })
}

/// The keys of systems or collections: the generic ones and every kind's own.
fn kind_keys(level: Level) -> BTreeSet<String> {
    let generic: &[&str] = match level {
        Level::System => &SYSTEM_KEYS,
        Level::Collection => &COLLECTION_KEYS,
    };
    generic
        .iter()
        .copied()
        .chain(
            ConnectorKind::ALL
                .iter()
                .flat_map(|k| k.keys(level).iter().copied()),
        )
        .map(String::from)
        .collect()
}

#[test]
fn playbook_schema_has_exactly_the_fields_of_the_playbook_types() {
    let schema = schema();
    for (at, def) in MAPPINGS {
        // Systems and collections keep their kind's keys for the kind to read: the Rust side
        // is the generic keys and every kind's, and the kind refuses the others.
        let level = match *at {
            "/systems/s" => Some(Level::System),
            "/systems/s/collections/c" => Some(Level::Collection),
            _ => None,
        };
        let inner = match level {
            Some(Level::System) => {
                let mut sys = nest("/deadlines/d", json!({}))["systems"]["s"].clone();
                sys["zz_not_a_field"] = json!(1);
                sys
            }
            _ => json!({ "zz_not_a_field": 1 }),
        };
        let doc = nest(at, inner);
        let message = dsr_error(&doc).unwrap_or_else(|| panic!("{at}: unknown key accepted"));
        assert!(message.contains("unknown field"), "{at}: {message}");
        let rust = match level {
            Some(level) => kind_keys(level),
            None => expected_names(&message),
        };
        let in_schema = schema_keys(&schema, def);
        assert_eq!(
            rust,
            in_schema,
            "{def} in schemas/playbook.schema.json differs from the Rust type at {at:?}:\n\
             only in Rust: {:?}\nonly in the schema: {:?}",
            rust.difference(&in_schema).collect::<Vec<_>>(),
            in_schema.difference(&rust).collect::<Vec<_>>(),
        );
        assert_eq!(
            schema.pointer(&format!("{def}/additionalProperties")),
            Some(&json!(false)),
            "{def} must deny unknown keys, as dsr does"
        );
    }
}

#[test]
fn playbook_schema_requires_exactly_what_the_playbook_types_require() {
    let schema = schema();
    for (at, def) in MAPPINGS {
        let props = schema.pointer(&format!("{def}/properties")).unwrap();
        // Fill in what serde says is missing, one field at a time, until it is content.
        let mut object = serde_json::Map::new();
        let mut required = BTreeSet::new();
        loop {
            let Some(message) = serde_error(&nest(at, Value::Object(object.clone()))) else {
                break;
            };
            let Some(field) = message
                .split_once("missing field `")
                .and_then(|(_, r)| r.split_once('`'))
                .map(|(f, _)| f.to_string())
            else {
                panic!("{at}: {message}");
            };
            assert!(required.insert(field.clone()), "{at}: {message}");
            let prop = props
                .get(&field)
                .unwrap_or_else(|| panic!("{def} lacks the required `{field}`"));
            object.insert(field, sample(&schema, prop));
        }
        let in_schema: BTreeSet<String> = schema
            .pointer(&format!("{def}/required"))
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default();
        assert_eq!(required, in_schema, "{def}: required fields");
    }
}

#[test]
fn playbook_schema_match_case_and_match_values_follow_the_types() {
    let schema = schema();
    let msg = serde_error(&nest("/systems/s", json!({ "match_case": "zz" }))).unwrap();
    let variants = expected_names(&msg);
    let in_schema: BTreeSet<String> = schema["$defs"]["match_case"]["enum"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    assert_eq!(variants, in_schema, "{msg}");
    let v = validator();
    let with_match = |m: Value| {
        json!({ "version": 1, "organisation": "o", "identities": ["email"], "systems": { "s": {
            "connector": "postgres", "purpose": "p", "legal_basis": "contract", "retention": "r",
            "collections": { "c": { "match": { "email": m } } } } } })
    };
    for ok in [json!("identity.email"), json!(["a.b", "c.d"])] {
        let doc = with_match(ok.clone());
        assert!(serde_error(&doc).is_none(), "{ok}");
        assert!(v.is_valid(&doc), "{ok}: {:?}", errors_of(&v, &doc));
    }
    for bad in [json!([]), json!(1), json!({ "a": "b" })] {
        let doc = with_match(bad.clone());
        assert!(serde_error(&doc).is_some(), "dsr takes {bad}");
        assert!(!v.is_valid(&doc), "the schema takes {bad}");
    }
}

/// Every shipped playbook: `playbooks/*.yaml` and `playbooks/examples/*.yaml`.
pub fn shipped_playbooks() -> Vec<PathBuf> {
    let mut out = Vec::new();
    for dir in ["playbooks", "playbooks/examples"] {
        for entry in std::fs::read_dir(repo().join(dir)).unwrap() {
            let p = entry.unwrap().path();
            if p.extension().is_some_and(|e| e == "yaml") {
                out.push(p);
            }
        }
    }
    out.sort();
    assert!(out.len() > 10, "{out:?}");
    out
}

#[test]
fn shipped_playbooks_are_valid_under_the_schema_and_name_it() {
    let v = validator();
    let schema_file = repo()
        .join("schemas/playbook.schema.json")
        .canonicalize()
        .unwrap();
    for p in shipped_playbooks() {
        let text = std::fs::read_to_string(&p).unwrap();
        let first = text.lines().next().unwrap_or("");
        let rel = first
            .strip_prefix("# yaml-language-server: $schema=")
            .unwrap_or_else(|| panic!("{} does not start by naming the schema", p.display()));
        let named = p.parent().unwrap().join(rel).canonicalize();
        assert_eq!(
            named.ok().as_ref(),
            Some(&schema_file),
            "{}: {rel}",
            p.display()
        );
        let doc = yaml_to_json(&text);
        let errors = errors_of(&v, &doc);
        assert!(errors.is_empty(), "{}: {errors:#?}", p.display());
    }
}

#[test]
fn discover_drafts_are_valid_under_the_schema_and_name_it() {
    let ws = Workspace::new();
    let url = sqlite_shop(ws.path());
    let r = run(ws.dsr().args(["discover", &url]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stdout.starts_with(&format!(
            "# yaml-language-server: $schema={}\n",
            dsr::playbook::SCHEMA_URL
        )),
        "{}",
        r.stdout
    );
    let v = validator();
    let errors = errors_of(&v, &yaml_to_json(&r.stdout));
    assert!(errors.is_empty(), "{errors:#?}\n{}", r.stdout);
    assert_eq!(
        schema()["$id"].as_str(),
        Some(dsr::playbook::SCHEMA_URL),
        "drafts name the schema by its $id"
    );
}

#[test]
fn init_drafts_are_valid_under_the_schema() {
    let ws = Workspace::new();
    let url = sqlite_shop(ws.path());
    let v = validator();
    for system in [format!("app_db={url}"), "crm=postgres".to_string()] {
        let out = format!("{}.yaml", &system[..3]);
        let r = run(ws.dsr().args([
            "init",
            "--organisation",
            "Acme Ltd",
            "--system",
            &system,
            "--out",
            &out,
        ]));
        assert_eq!(r.code, 0, "{}", r.stderr);
        let text = std::fs::read_to_string(ws.path().join(&out)).unwrap();
        assert!(
            text.starts_with("# yaml-language-server: $schema="),
            "{text}"
        );
        let errors = errors_of(&v, &yaml_to_json(&text));
        assert!(errors.is_empty(), "{errors:#?}\n{text}");
    }
}

#[test]
fn unknown_key_is_rejected_by_dsr_and_by_the_schema() {
    let ws = Workspace::new();
    let v = validator();
    let good = "version: 1\norganisation: Acme\nidentities: [email]\nsystems:\n  app:\n    \
                connector: sqlite\n    path: app.db\n    purpose: p\n    legal_basis: contract\n    \
                retention: r\n    collections:\n      users:\n        match: { email: identity.email }\n        \
                fields: { email: { category: contact.email } }\n        erase: delete\n";
    let p = ws.write("good.yaml", good);
    let r = run(ws.dsr().arg("validate").arg(&p));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        v.is_valid(&yaml_to_json(good)),
        "{:?}",
        errors_of(&v, &yaml_to_json(good))
    );
    for (typo, key) in [
        (
            "organisation: Acme\n",
            "organisation: Acme\norganization: Acme\n",
        ),
        ("    purpose: p\n", "    purpose: p\n    colections: {}\n"),
        (
            "        erase: delete\n",
            "        erase: delete\n        matches: {}\n",
        ),
        (
            "{ category: contact.email }",
            "{ category: contact.email, kind: x }",
        ),
        ("erase: delete", "erase: { delete: true, becuase: x }"),
    ] {
        let bad = good.replacen(typo, key, 1);
        assert_ne!(bad, good);
        let p = ws.write("bad.yaml", &bad);
        let r = run(ws.dsr().arg("validate").arg(&p));
        assert_eq!(r.code, 2, "dsr accepts:\n{bad}");
        assert!(r.stderr.contains("unknown field"), "{}", r.stderr);
        assert!(
            !v.is_valid(&yaml_to_json(&bad)),
            "the schema accepts:\n{bad}"
        );
    }
}

/// The same check with Python's `jsonschema` (another implementation of draft 2020-12), when
/// it is installed (`scripts/services` installs it with pip).
#[test]
fn python_jsonschema_agrees_on_the_schema_and_the_shipped_playbooks() {
    let has = std::process::Command::new("python3")
        .args(["-c", "import jsonschema"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !has {
        eprintln!(
            "NOTE: python3 with jsonschema is not installed; only the Rust validator checked the \
             schema (python3 -m pip install jsonschema)"
        );
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut files = Vec::new();
    for p in shipped_playbooks() {
        let doc = yaml_to_json(&std::fs::read_to_string(&p).unwrap());
        let name = p
            .file_name()
            .unwrap()
            .to_string_lossy()
            .replace(".yaml", ".json");
        let out = dir.path().join(format!("{}-{name}", files.len()));
        std::fs::write(&out, doc.to_string()).unwrap();
        files.push(out);
    }
    let bad = dir.path().join("bad.json");
    std::fs::write(
        &bad,
        json!({ "version": 1, "organisation": "o", "identities": ["email"], "systems": {},
                "colour": "red" })
        .to_string(),
    )
    .unwrap();
    let script = r#"
import json, sys
from jsonschema import Draft202012Validator
schema = json.load(open(sys.argv[1]))
Draft202012Validator.check_schema(schema)
v = Draft202012Validator(schema)
bad = 0
for f in sys.argv[3:]:
    for e in v.iter_errors(json.load(open(f))):
        print(f, e.message, list(e.absolute_path)); bad += 1
if v.is_valid(json.load(open(sys.argv[2]))):
    print("unknown key accepted"); bad += 1
sys.exit(1 if bad else 0)
"#;
    let schema_path: &Path = &repo().join("schemas/playbook.schema.json");
    let out = std::process::Command::new("python3")
        .arg("-c")
        .arg(script)
        .arg(schema_path)
        .arg(&bad)
        .args(&files)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
