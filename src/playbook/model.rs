//! The playbook's serde types: exactly what a playbook file may say, nothing more.
//!
//! Every struct denies unknown keys, so a typo (`colections:`) is an error with a location
//! instead of a silently ignored section. Cross-references (a `match` that names another
//! collection's `provides`) are plain strings here; `validate` resolves them.

use serde::Deserialize;
use std::collections::BTreeMap;

/// A whole playbook file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Playbook {
    /// Format version; only `1` exists.
    pub version: u32,
    /// The controller: who answers the request.
    pub organisation: String,
    /// Where the person can reach the controller's privacy team (shown in the export index).
    #[serde(default)]
    pub contact: Option<String>,
    /// The supervisory authority the person may complain to (shown in the export index).
    #[serde(default)]
    pub supervisory_authority: Option<String>,
    /// Automated decision-making, including profiling (Art. 15(1)(h)): `none` when there is
    /// none, else what is decided, the logic involved and what it means for the person. Shown
    /// in the export index; when absent the index says it is not declared rather than guess.
    #[serde(default)]
    pub automated_decisions: Option<String>,
    /// Default regulation for deadlines (`gdpr`, `uk_gdpr`, `ccpa`, `lgpd`, ...).
    #[serde(default)]
    pub regulation: Option<String>,
    /// Secret key for the `hash` mask (keyed HMAC-SHA256), e.g. `${env:DSR_HASH_KEY}`.
    #[serde(default)]
    pub hash_key: Option<String>,
    /// A shared ledger on PostgreSQL, e.g. `${env:DSR_LEDGER_URL}` or
    /// `postgres://dsr@db/ops?schema=dsr`; `--ledger` / `DSR_LEDGER` override it. Without it
    /// the ledger is the embedded database in the state directory.
    #[serde(default)]
    pub ledger: Option<String>,
    /// Identity kinds a request may start from (`email`, `phone`, `user_id`, ...).
    pub identities: Vec<String>,
    /// Every system that holds customer data, by name.
    pub systems: BTreeMap<String, System>,
    /// Deadline policies of the playbook's own, by name (`regulation:` and `--regulation` may
    /// name one); an entry named like a built-in (`gdpr`, `ccpa`, ...) overrides it.
    #[serde(default)]
    pub deadlines: BTreeMap<String, DeadlinePolicy>,
}

/// A deadline rule: one of `days`/`months`, optionally one of `extension_days`/`extension_months`.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct DeadlinePolicy {
    #[serde(default)]
    pub days: Option<u32>,
    #[serde(default)]
    pub months: Option<u32>,
    #[serde(default)]
    pub extension_days: Option<u32>,
    #[serde(default)]
    pub extension_months: Option<u32>,
}

/// One system: a database, a SaaS account, a service.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct System {
    /// Connector kind: `postgres`, `mysql` (also MariaDB), `sqlite`, `http`, `webhook`, `redis`, `files`, `s3`, or
    /// the name of a shipped SaaS definition (`stripe`, `zendesk`, ...).
    pub connector: String,
    /// `http` only: the definition file (relative to the playbook) describing the API.
    #[serde(default)]
    pub definition: Option<String>,
    /// HTTP connectors: replaces the definition's base URL (e.g. a regional or test endpoint).
    /// May hold `${env:VAR}` / `${file:PATH}` references.
    #[serde(default)]
    pub base_url: Option<String>,
    /// HTTP and webhook connectors: credentials by reference only, e.g.
    /// `{ token: ${env:STRIPE_KEY} }`. Never printed.
    #[serde(default)]
    pub auth: BTreeMap<String, String>,
    /// HTTP connectors: the settings the definition asks for (`list_id`, `subdomain`, ...).
    #[serde(default)]
    pub config: BTreeMap<String, String>,
    /// Webhook only: the header that carries the HMAC-SHA256 signature
    /// [default: X-DSR-Signature].
    #[serde(default)]
    pub signature_header: Option<String>,
    /// Connection URL; may hold `${env:VAR}` / `${file:PATH}` references, never inline secrets.
    #[serde(default)]
    pub url: Option<String>,
    /// SQLite: path of the database file; files: the directory the collections' paths are
    /// relative to. Relative to the playbook, or absolute.
    #[serde(default)]
    pub path: Option<String>,
    /// SQLite only: SQL file (relative to the playbook) that creates the database when the file
    /// does not exist yet. Meant for demos and tests.
    #[serde(default)]
    pub seed: Option<String>,
    /// Default schema (PostgreSQL) or database (MySQL) for unqualified table names.
    #[serde(default)]
    pub schema: Option<String>,
    /// Manual systems: what the person carrying out the step must do.
    #[serde(default)]
    pub instructions: Option<String>,
    /// What the system is, in words the person understands.
    #[serde(default)]
    pub description: Option<String>,
    /// Why the data is kept (Art. 15(1)(a)).
    pub purpose: String,
    /// Legal basis under Art. 6 GDPR.
    pub legal_basis: String,
    /// How long the data is kept, or the criteria (Art. 15(1)(d)).
    pub retention: String,
    /// Who receives the data (Art. 15(1)(c)).
    #[serde(default)]
    pub recipients: Vec<String>,
    /// Where the data came from when not from the person (Art. 15(1)(g)).
    #[serde(default)]
    pub source: Option<String>,
    /// Transfers of the data to countries outside the EU/EEA or to international organisations
    /// (Art. 15(2)): where it goes, e.g. `United States (our support desk provider)`.
    #[serde(default)]
    pub transfers: Option<String>,
    /// The safeguards for those transfers (Art. 46), e.g. `Standard contractual clauses; ask
    /// privacy@… for a copy`.
    #[serde(default)]
    pub safeguards: Option<String>,
    /// How many calls may run against this system at once.
    #[serde(default)]
    pub concurrency: Option<usize>,
    /// Per-call time limit, e.g. `30s`, `2m`, `500ms`.
    #[serde(default)]
    pub timeout: Option<String>,
    /// How many times a transient failure is retried.
    #[serde(default)]
    pub retries: Option<u32>,
    /// Redis and S3: the most keys (objects) one collection may match for one request; more is
    /// an error, not a silent cut (default 10000).
    #[serde(default)]
    pub max_keys: Option<u64>,
    /// S3: the bucket. Credentials come from the standard AWS chain, never the playbook.
    #[serde(default)]
    pub bucket: Option<String>,
    /// S3: the endpoint of an S3-compatible store (MinIO, Ceph, ...); AWS when absent. May
    /// hold `${env:VAR}` references.
    #[serde(default)]
    pub endpoint: Option<String>,
    /// S3: the bucket's region; else the AWS chain's (`AWS_REGION`, the profile), else
    /// us-east-1.
    #[serde(default)]
    pub region: Option<String>,
    /// S3: path-style addressing (`endpoint/bucket/key`), which most S3-compatible stores need
    /// [default: true when an endpoint is set here or in `AWS_ENDPOINT_URL`, else false].
    #[serde(default)]
    pub path_style: Option<bool>,
    /// SQL systems: how text identities are compared in every collection that does not say
    /// (`exact` or `insensitive`).
    #[serde(default)]
    pub match_case: Option<MatchCase>,
    /// The tables (or resources) that hold personal data.
    #[serde(default)]
    pub collections: BTreeMap<String, Collection>,
}

/// How a text identity is compared with a column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MatchCase {
    /// Byte for byte (after the identity's normalisation): a plain index on the column serves.
    Exact,
    /// `lower(column)` compared with the lower-cased identity: finds `Alice@Example.com` for
    /// `alice@example.com`; an index on `lower(column)` keeps it fast.
    Insensitive,
}

/// The reference or references one `match` column takes its values from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct References(pub Vec<String>);

impl References {
    pub fn iter(&self) -> impl Iterator<Item = &String> {
        self.0.iter()
    }
}

impl<'de> Deserialize<'de> for References {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = References;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a reference such as `users.user_id`, or a list of references")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<References, E> {
                Ok(References(vec![v.to_string()]))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<References, A::Error> {
                let mut out = Vec::new();
                while let Some(r) = seq.next_element::<String>()? {
                    out.push(r);
                }
                if out.is_empty() {
                    return Err(serde::de::Error::invalid_length(0, &self));
                }
                Ok(References(out))
            }
        }
        d.deserialize_any(V)
    }
}

/// One table or resource inside a system.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Collection {
    /// Table name when it differs from the collection name; `schema.table` is allowed.
    #[serde(default)]
    pub table: Option<String>,
    /// Columns that identify one record, for tables without a primary key (erase, correct).
    #[serde(default)]
    pub key: Option<Vec<String>>,
    /// HTTP connectors: the definition's resource when it differs from the collection name.
    #[serde(default)]
    pub resource: Option<String>,
    /// Redis: key templates such as `session:{email}:*`; S3: object key templates such as
    /// `uploads/{user_id}/` (a prefix) or `avatars/{user_id}.png`. Each `{NAME}` takes the
    /// values of the `match` entry `NAME`.
    #[serde(default)]
    pub keys: Option<Vec<String>>,
    /// S3: `match` entries compared with the objects' user metadata (`x-amz-meta-NAME`)
    /// rather than put into a key template.
    #[serde(default)]
    pub metadata: Option<Vec<String>>,
    /// Files: a path template under the system's directory, such as `uploads/{user_id}/*`; with
    /// `format`, the file (or files, with `*`) whose rows are the records.
    #[serde(default)]
    pub path: Option<String>,
    /// Files: `csv` or `jsonl` when the records are rows of the file rather than whole files.
    #[serde(default)]
    pub format: Option<String>,
    /// What the collection holds, in plain words.
    #[serde(default)]
    pub description: Option<String>,
    /// column -> reference (`identity.email`, `users.user_id`, `app_db.users.user_id`), or a
    /// list of references (`[customers.address_id, orders.ship_to]`). Columns whose references
    /// name the same upstream collection match together, row by row (a composite key); the
    /// other entries each match on their own, and a row matches when any of them does.
    #[serde(default, rename = "match")]
    pub match_on: BTreeMap<String, References>,
    /// How text identities are compared: `insensitive` (lower-case on both sides) or `exact`
    /// [default: the system's setting, else insensitive for email and exact for the others].
    #[serde(default)]
    pub match_case: Option<MatchCase>,
    /// name -> column: values from the matched rows that later collections can match on.
    #[serde(default)]
    pub provides: BTreeMap<String, String>,
    /// column -> field description. When present, only these columns (and the provided ones)
    /// are exported; when absent, every column is.
    #[serde(default)]
    pub fields: BTreeMap<String, Field>,
    /// What erasure does to this collection.
    #[serde(default)]
    pub erase: Option<RawErase>,
}

/// What one column holds.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Field {
    /// Data category, dotted lower case: `contact.email`, `name`, `financial.payment`.
    pub category: String,
    #[serde(default)]
    pub description: Option<String>,
}

/// The erase strategy as written: `delete`, `keep`, or a map with `mask`/`keep` and `because`.
#[derive(Debug, Clone)]
pub enum RawErase {
    Word(String),
    Detailed(RawEraseDetail),
}

// Not `#[serde(untagged)]`: that reports every mistake inside the map (a misspelt `because`)
// as "data did not match any variant of untagged enum RawErase".
impl<'de> Deserialize<'de> for RawErase {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = RawErase;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(
                    "`delete`, `keep` or a map with `mask`, `keep` or `delete` and `because`",
                )
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<RawErase, E> {
                Ok(RawErase::Word(v.to_string()))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<RawErase, A::Error> {
                RawEraseDetail::deserialize(serde::de::value::MapAccessDeserializer::new(map))
                    .map(RawErase::Detailed)
            }
        }
        d.deserialize_any(V)
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawEraseDetail {
    /// column -> masking method (`null`, `redact`, `hash`, `random`, `truncate_date`).
    #[serde(default)]
    pub mask: Option<BTreeMap<String, String>>,
    /// Keep the rows untouched (a retention exception); requires `because`.
    #[serde(default)]
    pub keep: Option<bool>,
    /// Delete the rows.
    #[serde(default)]
    pub delete: Option<bool>,
    /// Why data is kept or only masked: recorded in every report.
    #[serde(default)]
    pub because: Option<String>,
}
