//! The playbook's serde types: exactly what a playbook file may say, nothing more.
//!
//! Every struct denies unknown keys, so a typo (`colections:`) is an error with a location
//! instead of a silently ignored section; for systems and collections the connector kind does
//! that, since only it knows its own keys. Cross-references (a `match` that names another
//! collection's `provides`) are plain strings here; `validate` resolves them.

use super::settings::Settings;
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
///
/// These are the keys every system has. The rest (`url`, `bucket`, `definition`, ...) belong
/// to its connector kind and are kept in `settings` until the kind reads them with its own
/// strict type, which is what reports an unknown key (see the connectors layer).
#[derive(Debug, Clone, Deserialize)]
pub struct System {
    /// Connector kind: `postgres`, `mysql` (also MariaDB), `sqlite`, `http`, `webhook`, `redis`, `files`, `s3`, or
    /// the name of a shipped SaaS definition (`stripe`, `zendesk`, ...).
    pub connector: String,
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
    /// How text identities are compared in every collection that does not say (`exact` or
    /// `insensitive`), for kinds that compare columns (SQL).
    #[serde(default)]
    pub match_case: Option<MatchCase>,
    /// The tables (or resources) that hold personal data.
    #[serde(default)]
    pub collections: BTreeMap<String, Collection>,
    /// The connector kind's own keys, as written.
    #[serde(flatten)]
    pub settings: Settings,
}

/// The keys every system has, in the order the reference lists them.
pub const SYSTEM_KEYS: [&str; 14] = [
    "connector",
    "description",
    "purpose",
    "legal_basis",
    "retention",
    "recipients",
    "source",
    "transfers",
    "safeguards",
    "concurrency",
    "timeout",
    "retries",
    "match_case",
    "collections",
];

/// The keys every collection has.
pub const COLLECTION_KEYS: [&str; 6] = [
    "description",
    "match",
    "match_case",
    "provides",
    "fields",
    "erase",
];

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

/// One table or resource inside a system: the keys every collection has; the kind's own
/// (`table`, `keys`, `path`, `resource`, ...) are kept in `settings`.
#[derive(Debug, Clone, Deserialize)]
pub struct Collection {
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
    /// The connector kind's own keys, as written.
    #[serde(flatten)]
    pub settings: Settings,
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
