//! The declarative definition of one SaaS API (`connectors/*.yaml`): where it lives, how to
//! authenticate, and per resource how to find, look up, update and erase a person's records.
//!
//! Definitions are data, not code: adding a vendor is a YAML file. Shipped definitions are
//! compiled into the binary; a playbook may also point at its own file. Every definition is
//! checked when loaded, with file:line:column for each problem, and the shipped ones are
//! checked by a unit test so a broken one never ships.

use super::template;
use crate::playbook::Diagnostics;
use crate::playbook::diagnostic::{Diagnostic, did_you_mean};
use crate::playbook::spans::{Pos, SpanIndex};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;

mod check;
mod json_path;

pub use check::{CallKind, check_variable, collect_strings, find_variables, transport_allowed};
pub use json_path::{scalar_text, select, set_path};

/// The definitions shipped with dsr: (name, YAML text).
pub const SHIPPED: &[(&str, &str)] = &[
    ("auth0", include_str!("../../../../connectors/auth0.yaml")),
    (
        "hubspot",
        include_str!("../../../../connectors/hubspot.yaml"),
    ),
    (
        "intercom",
        include_str!("../../../../connectors/intercom.yaml"),
    ),
    (
        "klaviyo",
        include_str!("../../../../connectors/klaviyo.yaml"),
    ),
    (
        "mailchimp",
        include_str!("../../../../connectors/mailchimp.yaml"),
    ),
    (
        "segment",
        include_str!("../../../../connectors/segment.yaml"),
    ),
    (
        "sendgrid",
        include_str!("../../../../connectors/sendgrid.yaml"),
    ),
    (
        "shopify",
        include_str!("../../../../connectors/shopify.yaml"),
    ),
    ("stripe", include_str!("../../../../connectors/stripe.yaml")),
    (
        "zendesk",
        include_str!("../../../../connectors/zendesk.yaml"),
    ),
];

/// Largest definition file read from disk.
pub const MAX_DEFINITION_BYTES: u64 = 1024 * 1024;
/// Pages read for one find when the definition does not say.
pub const DEFAULT_MAX_PAGES: u32 = 100;

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Definition {
    /// Short name, as a playbook's `connector:` names it.
    pub name: String,
    /// The vendor's name for people.
    pub title: String,
    /// Where the vendor documents the API this definition follows.
    #[serde(default)]
    pub docs: Option<String>,
    /// Base URL; may use `{config.NAME}`. A playbook's `base_url:` replaces it.
    pub base_url: String,
    /// Allow plain `http://` to hosts other than loopback (never for real vendors).
    #[serde(default)]
    pub insecure_http: bool,
    pub auth: AuthDef,
    /// Headers sent with every call (API versions and the like; never secrets).
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Settings a playbook must give under `config:`: name -> what it is.
    #[serde(default)]
    pub config: BTreeMap<String, String>,
    #[serde(default)]
    pub rate_limit: Option<RateLimitDef>,
    /// Most pages one find may read; more is an error, never a silent cut.
    #[serde(default)]
    pub max_pages: Option<u32>,
    pub resources: BTreeMap<String, Resource>,
}

/// How calls authenticate. The secret values come from the playbook's `auth:`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum AuthDef {
    None,
    /// `Authorization: Bearer <token>`; playbook `auth: { token }`.
    Bearer,
    /// HTTP basic; playbook `auth: { username, password }`.
    Basic,
    /// An API key in a header (with an optional prefix) or a query parameter; playbook
    /// `auth: { api_key }`.
    ApiKey {
        #[serde(default)]
        header: Option<String>,
        #[serde(default)]
        query: Option<String>,
        #[serde(default)]
        prefix: Option<String>,
    },
    /// OAuth2 client credentials; the token is cached until it expires. Playbook
    /// `auth: { client_id, client_secret }`.
    Oauth2ClientCredentials {
        /// Absolute, or relative to the base URL.
        token_url: String,
        #[serde(default)]
        scope: Option<String>,
        /// Sent as `audience` (Auth0); may use `{base_url}`.
        #[serde(default)]
        audience: Option<String>,
    },
}

impl AuthDef {
    pub fn kind(&self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Bearer => "bearer",
            Self::Basic => "basic",
            Self::ApiKey { .. } => "api_key",
            Self::Oauth2ClientCredentials { .. } => "oauth2_client_credentials",
        }
    }

    /// The keys a playbook's `auth:` must give.
    pub fn required_keys(&self) -> &'static [&'static str] {
        match self {
            Self::None => &[],
            Self::Bearer => &["token"],
            Self::Basic => &["username", "password"],
            Self::ApiKey { .. } => &["api_key"],
            Self::Oauth2ClientCredentials { .. } => &["client_id", "client_secret"],
        }
    }
}

#[derive(Debug, Clone, Copy, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimitDef {
    /// Sustained calls per second.
    pub per_second: f64,
    /// Calls allowed at once after a quiet period.
    #[serde(default = "one")]
    pub burst: u32,
}

fn one() -> u32 {
    1
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Resource {
    #[serde(default)]
    pub description: Option<String>,
    /// JSON path of the record's id inside a record: the key that erasure uses.
    #[serde(default = "default_id")]
    pub id: String,
    /// The API has no lookup: the match value itself is the record's id (one record per
    /// value, holding only the id).
    #[serde(default)]
    pub key_from_match: bool,
    #[serde(default)]
    pub find: Option<RequestDef>,
    /// Look one record up by `{id}`; 404 (or `gone_when`) means it no longer exists.
    #[serde(default)]
    pub get: Option<RequestDef>,
    /// Change fields of one record (`{id}`): used for masking and correction.
    #[serde(default)]
    pub update: Option<RequestDef>,
    /// Erase one record (`{id}`): one call, or several in order.
    #[serde(default)]
    pub erase: Option<OneOrMany>,
}

fn default_id() -> String {
    "id".into()
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(untagged)]
pub enum OneOrMany {
    One(Box<RequestDef>),
    Many(Vec<RequestDef>),
}

impl OneOrMany {
    pub fn steps(&self) -> Vec<&RequestDef> {
        match self {
            Self::One(r) => vec![r],
            Self::Many(v) => v.iter().collect(),
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Method {
    #[default]
    Get,
    Post,
    Put,
    Patch,
    Delete,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Get => "GET",
            Self::Post => "POST",
            Self::Put => "PUT",
            Self::Patch => "PATCH",
            Self::Delete => "DELETE",
        }
    }
}

/// One HTTP call.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RequestDef {
    #[serde(default)]
    pub method: Method,
    /// Path template, appended to the base URL.
    pub path: String,
    #[serde(default)]
    pub query: BTreeMap<String, String>,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// JSON body; every string in it is a template.
    #[serde(default)]
    pub body: Option<Value>,
    /// Form-encoded body (`application/x-www-form-urlencoded`).
    #[serde(default)]
    pub form: BTreeMap<String, String>,
    /// find: JSON path of the records (a list, or one object); empty for the whole body.
    #[serde(default)]
    pub records: Option<String>,
    #[serde(default)]
    pub paginate: Option<Paginate>,
    /// Answers that mean "nothing held about this person" rather than failure.
    /// 404 always counts on find and get.
    #[serde(default)]
    pub no_data: Vec<NoData>,
    /// A 2xx answer that still means the record is gone (`deleted: true` on get; "does not
    /// exist" on an erase that was already done).
    #[serde(default)]
    pub gone_when: Option<Condition>,
    /// A JSON path that, when present and not null/empty in a 2xx answer, means the call
    /// failed (GraphQL `userErrors`, for instance).
    #[serde(default)]
    pub error_when: Option<String>,
    /// update: where the changed fields go in the body (`properties` for HubSpot); the body
    /// root when absent.
    #[serde(default)]
    pub fields_under: Option<String>,
    /// update: send the changed fields as a form instead of JSON.
    #[serde(default)]
    pub fields_as_form: bool,
    /// erase: the call starts a job; poll until it ends.
    #[serde(default)]
    pub job: Option<AsyncJob>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct NoData {
    pub status: u16,
    /// Only when the body contains this text (vendors that answer 400 for many reasons).
    #[serde(default)]
    pub body_contains: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Condition {
    pub path: String,
    pub equals: Value,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Paginate {
    /// The next page's cursor is read from the answer at `cursor` and sent as `param` (a
    /// query parameter, or a dotted path in the JSON body when `in_body`). Stops when the
    /// cursor is missing or empty, or `has_more` is false.
    Cursor {
        cursor: String,
        param: String,
        #[serde(default)]
        in_body: bool,
        #[serde(default)]
        has_more: Option<String>,
    },
    /// `param` counts pages from `start`. Stops at an empty page, or once `total` (a JSON
    /// path to the record count) records were read. Servers may send fewer than `size`.
    Page {
        param: String,
        #[serde(default = "one_u64")]
        start: u64,
        #[serde(default)]
        size_param: Option<String>,
        size: u64,
        #[serde(default)]
        total: Option<String>,
    },
    /// `param` is the offset of the first record (advanced by the records received). Stops
    /// at an empty page, or once `total` records were read.
    Offset {
        param: String,
        limit_param: String,
        size: u64,
        #[serde(default)]
        total: Option<String>,
    },
    /// RFC 8288 `Link: <…>; rel="next"`.
    LinkHeader,
    /// The next page's full URL is in the answer at `path`.
    NextUrl { path: String },
}

fn one_u64() -> u64 {
    1
}

/// An erase that answers with a job to poll.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AsyncJob {
    /// JSON path of the job id in the erase answer.
    pub id: String,
    /// The status call; `{job_id}` is the job's id.
    pub poll: Box<RequestDef>,
    /// JSON path of the status in the poll answer.
    pub status: String,
    pub done: Vec<String>,
    #[serde(default)]
    pub failed: Vec<String>,
    /// Wait between polls, e.g. `5s` [default: 2s].
    #[serde(default)]
    pub interval: Option<String>,
    /// Give up after, e.g. `10m` [default: 5m].
    #[serde(default)]
    pub timeout: Option<String>,
}

/// Reads, parses and checks a definition file.
pub fn load_file(path: &Path) -> Result<Definition, Diagnostics> {
    let file = path.display().to_string();
    let one = |message: String| {
        Diagnostics(vec![Diagnostic {
            file: file.clone(),
            pos: None,
            field: String::new(),
            message,
            hint: None,
        }])
    };
    let meta = std::fs::metadata(path)
        .map_err(|e| one(format!("cannot read connector definition: {}", e.kind())))?;
    if meta.len() > MAX_DEFINITION_BYTES {
        return Err(one(format!(
            "definition is {} bytes; the limit is {MAX_DEFINITION_BYTES}",
            meta.len()
        )));
    }
    let text = std::fs::read_to_string(path)
        .map_err(|e| one(format!("cannot read connector definition: {}", e.kind())))?;
    parse(&file, &text)
}

/// A shipped definition by name.
pub fn shipped(name: &str) -> Option<Result<Definition, Diagnostics>> {
    SHIPPED
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(n, text)| parse(&format!("connectors/{n}.yaml"), text))
}

/// Parses and checks definition text; `file` is used in messages.
pub fn parse(file: &str, text: &str) -> Result<Definition, Diagnostics> {
    let def: Definition = serde_saphyr::from_str(text).map_err(|e| {
        let pos = e.location().map(|l| Pos {
            line: l.line() as usize,
            column: l.column() as usize,
        });
        let rendered = e.without_snippet().to_string();
        let first = rendered.lines().next().unwrap_or("invalid YAML").trim();
        let message = match first.rfind(" at line ") {
            Some(i) => first[..i].to_string(),
            None => first.to_string(),
        };
        Diagnostics(vec![Diagnostic {
            file: file.to_string(),
            pos,
            field: String::new(),
            message,
            hint: Some("see connectors/README.md for the definition format".into()),
        }])
    })?;
    let spans = SpanIndex::build(text);
    let mut out = Vec::new();
    let mut push = |path: &[&str], message: String| {
        let owned: Vec<String> = path.iter().map(|s| s.to_string()).collect();
        out.push(Diagnostic {
            file: file.to_string(),
            pos: spans.value(&owned),
            field: path.join("."),
            message,
            hint: None,
        });
    };
    check::check(&def, &mut push);
    if out.is_empty() {
        Ok(def)
    } else {
        out.sort_by_key(|d| d.pos.map(|p| (p.line, p.column)));
        Err(Diagnostics(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_shipped_definition_is_valid() {
        for (name, _) in SHIPPED {
            let def = shipped(name)
                .unwrap()
                .unwrap_or_else(|e| panic!("connectors/{name}.yaml:\n{e}"));
            assert_eq!(&def.name, name);
        }
    }

    /// The JSON Schema in connectors/ names exactly the fields this code reads.
    #[test]
    fn the_json_schema_matches_the_model() {
        let schema: Value = serde_json::from_str(include_str!(
            "../../../../connectors/definition.schema.json"
        ))
        .unwrap();
        let keys = |v: &Value| -> std::collections::BTreeSet<String> {
            v.as_object().unwrap().keys().cloned().collect()
        };
        let def = serde_json::to_value(shipped("sendgrid").unwrap().unwrap()).unwrap();
        assert_eq!(keys(&def), keys(&schema["properties"]));
        let res = &def["resources"]["contacts"];
        assert_eq!(keys(res), keys(&schema["$defs"]["resource"]["properties"]));
        let erase = &res["erase"];
        assert_eq!(keys(erase), keys(&schema["$defs"]["request"]["properties"]));
        assert_eq!(
            keys(&erase["job"]),
            keys(&schema["$defs"]["request"]["properties"]["job"]["properties"])
        );
    }

    #[test]
    fn selects_by_dotted_paths() {
        let v = json!({"data": [{"id": "a"}, {"id": "b"}], "paging": {"next": {"after": "9"}}});
        assert_eq!(select(&v, "data.-1.id"), Some(&json!("b")));
        assert_eq!(select(&v, "data.0.id"), Some(&json!("a")));
        assert_eq!(select(&v, "paging.next.after"), Some(&json!("9")));
        assert_eq!(select(&v, ""), Some(&v));
        assert_eq!(select(&v, "data.5.id"), None);
        let mut b = json!({"query": {}});
        set_path(&mut b, "pagination.starting_after", json!("x"));
        assert_eq!(b["pagination"]["starting_after"], "x");
    }

    #[test]
    fn plain_http_only_to_loopback() {
        assert!(transport_allowed("https://api.stripe.com", false).is_ok());
        assert!(transport_allowed("http://127.0.0.1:8080", false).is_ok());
        assert!(transport_allowed("http://localhost:1", false).is_ok());
        assert!(transport_allowed("http://[::1]:1", false).is_ok());
        let err = transport_allowed("http://api.example.com", false).unwrap_err();
        assert!(err.contains("plain http to api.example.com"), "{err}");
        assert!(transport_allowed("http://api.example.com", true).is_ok());
        assert!(transport_allowed("ftp://x", true).is_err());
    }

    #[test]
    fn bad_definitions_point_at_the_line() {
        let text = "name: x\ntitle: X\nbase_url: https://x.example\nauth: { type: bearer }\nresources:\n  users:\n    find:\n      path: /users/{nope}\n      records: data\n";
        let err = parse("x.yaml", text).unwrap_err().to_string();
        assert!(
            err.starts_with(
                "x.yaml:8:13: resources.users.find.path: unknown template variable 'nope'"
            ),
            "{err}"
        );
        let text = "name: x\ntitle: X\nbase_url: http://x.example\nauth: { type: bearer }\nresources:\n  users:\n    find: { path: /u, records: data, colour: red }\n";
        let err = parse("x.yaml", text).unwrap_err().to_string();
        assert!(err.contains("x.yaml:7:"), "{err}");
        assert!(err.contains("unknown field"), "{err}");
    }

    #[test]
    fn config_variables_must_be_declared() {
        let text = "name: x\ntitle: X\nbase_url: https://{config.shop}.example\nauth: { type: bearer }\nconfig: { shop: the shop }\nresources:\n  users:\n    find: { path: '/lists/{config.lst}/members', records: data }\n";
        let err = parse("x.yaml", text).unwrap_err().to_string();
        assert!(
            err.contains("unknown template variable 'config.lst'"),
            "{err}"
        );
        assert!(err.contains(":8:"), "{err}");
    }
}
