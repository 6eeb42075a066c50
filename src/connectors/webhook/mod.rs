//! The `webhook` connector: hands a request to an internal service as a signed JSON POST.
//!
//! The body is canonical JSON; `X-DSR-Timestamp` carries the Unix time and the signature
//! header (default `X-DSR-Signature`) carries `sha256=` + hex HMAC-SHA256 of
//! `TIMESTAMP.BODY` under the shared secret, so the service can reject forged and replayed
//! calls. Any 2xx answer means done. On export, a JSON answer's `records` list is the data;
//! on writes, the answer (truncated) is kept in the outcome's notes for the report.

use super::http::client::send_retrying;
use super::{
    Connector, ConnectorError, FindRequest, KeyLookup, Row, RowSink, WriteOutcome, WriteRequest,
};
use crate::playbook::interpolate::{self, Secret};
pub mod config;

use super::SystemSpec;
use crate::playbook::CollectionSpec;
use config::Config;
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;
use std::path::Path;

/// How much of a service's answer is kept in the outcome.
pub const MAX_NOTE_CHARS: usize = 500;
pub const DEFAULT_SIGNATURE_HEADER: &str = "X-DSR-Signature";

pub struct WebhookConnector {
    system: String,
    url: Secret,
    secret: Secret,
    header: String,
    http: reqwest::Client,
    /// The system's `timeout:`, set on each call.
    timeout: std::time::Duration,
    retries: u32,
}

/// `sha256=` + hex HMAC-SHA256 of `timestamp.body`.
pub fn signature(secret: &[u8], timestamp: i64, body: &[u8]) -> String {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret).expect("HMAC takes any key length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

impl WebhookConnector {
    pub fn open(
        system: &SystemSpec,
        cfg: &Config,
        url: Secret,
        base_dir: &Path,
    ) -> Result<Self, ConnectorError> {
        super::http::definition::transport_allowed(url.expose(), false)
            .map_err(ConnectorError::Config)?;
        let secret = interpolate::resolve(&cfg.secret, base_dir)
            .map_err(|e| ConnectorError::Config(format!("auth: {e}")))?;
        let http = super::http::shared_client()?;
        Ok(Self {
            system: system.name.clone(),
            url,
            secret,
            header: cfg
                .signature_header
                .clone()
                .unwrap_or_else(|| DEFAULT_SIGNATURE_HEADER.into()),
            http,
            timeout: system.timeout,
            retries: system.retries,
        })
    }

    /// POSTs a signed payload; returns the answer's text. Retries 429 and 5xx.
    async fn post(&self, payload: &Value) -> Result<String, ConnectorError> {
        let body = serde_json::to_vec(payload)
            .map_err(|e| ConnectorError::Config(format!("cannot encode the payload: {e}")))?;
        let (_, text) = send_retrying(&self.system, "POST webhook", self.retries, || {
            let ts = jiff::Timestamp::now().as_second();
            let sig = signature(self.secret.expose().as_bytes(), ts, &body);
            self.http
                .post(self.url.expose())
                .timeout(self.timeout)
                .header("content-type", "application/json")
                .header("X-DSR-Timestamp", ts.to_string())
                .header(self.header.as_str(), sig)
                .body(body.clone())
        })
        .await?;
        Ok(text)
    }

    fn base(&self, action: &str, collection: &CollectionSpec) -> serde_json::Map<String, Value> {
        let mut m = serde_json::Map::new();
        m.insert("action".into(), json!(action));
        m.insert("system".into(), json!(self.system));
        m.insert("collection".into(), json!(collection.id.collection));
        m
    }
}

/// The first characters of an answer, for the report.
pub fn truncate(text: &str) -> String {
    let mut out: String = text.chars().take(MAX_NOTE_CHARS).collect();
    if text.chars().count() > MAX_NOTE_CHARS {
        out.push('…');
    }
    out
}

fn records(text: &str, sink: &mut dyn RowSink) -> Result<u64, ConnectorError> {
    let Ok(body) = serde_json::from_str::<Value>(text) else {
        return Ok(0);
    };
    let mut n = 0;
    if let Some(list) = body.get("records").and_then(Value::as_array) {
        for r in list {
            let row: Row = match r {
                Value::Object(m) => m.clone(),
                other => {
                    let mut row = Row::new();
                    row.insert("value".into(), other.clone());
                    row
                }
            };
            sink.row(row)?;
            n += 1;
        }
    }
    Ok(n)
}

#[async_trait::async_trait]
impl Connector for WebhookConnector {
    async fn find(
        &self,
        req: &FindRequest<'_>,
        sink: &mut dyn RowSink,
    ) -> Result<u64, ConnectorError> {
        let mut payload = self.base("export", req.collection);
        let matches: serde_json::Map<String, Value> = req
            .by_column()
            .into_iter()
            .map(|(c, v)| (c, Value::Array(v)))
            .collect();
        payload.insert("match".into(), Value::Object(matches));
        let text = self.post(&Value::Object(payload)).await?;
        records(&text, sink)
    }

    async fn key_columns(
        &self,
        _collection: &CollectionSpec,
    ) -> Result<Vec<String>, ConnectorError> {
        Ok(vec!["id".into()])
    }

    /// One POST per collection for its deletions (`erase`, with every key), and one per
    /// changed record (`correct`, with its key and new field values).
    async fn write(
        &self,
        writes: &[WriteRequest<'_>],
    ) -> Result<Vec<WriteOutcome>, ConnectorError> {
        let mut out = Vec::new();
        for w in writes {
            let key_row = |key: &[Value]| -> Value {
                Value::Object(
                    w.key_columns
                        .iter()
                        .cloned()
                        .zip(key.iter().cloned())
                        .collect(),
                )
            };
            let mut outcome = WriteOutcome::default();
            let deletes: Vec<Value> = w
                .changes
                .iter()
                .filter(|c| c.set.is_none())
                .map(|c| key_row(&c.key))
                .collect();
            let mut posts: Vec<(&str, Vec<Value>, Option<Value>)> = Vec::new();
            if !deletes.is_empty() {
                posts.push(("erase", deletes, None));
            }
            for c in w.changes.iter().filter(|c| c.set.is_some()) {
                posts.push((
                    "correct",
                    vec![key_row(&c.key)],
                    c.set.clone().map(Value::Object),
                ));
            }
            for (action, keys, fields) in posts {
                let mut payload = self.base(action, w.collection);
                let n = keys.len() as u64;
                payload.insert("keys".into(), Value::Array(keys));
                if let Some(fields) = fields {
                    payload.insert("fields".into(), fields);
                }
                let text = self.post(&Value::Object(payload)).await?;
                if !text.trim().is_empty() {
                    outcome
                        .notes
                        .push(format!("response: {}", truncate(text.trim())));
                }
                outcome.changed += n;
            }
            out.push(outcome);
        }
        Ok(out)
    }

    async fn find_by_keys(
        &self,
        req: &KeyLookup<'_>,
        sink: &mut dyn RowSink,
    ) -> Result<u64, ConnectorError> {
        let mut payload = self.base("lookup", req.collection);
        let keys: Vec<Value> = req
            .keys
            .iter()
            .map(|k| {
                Value::Object(
                    req.key_columns
                        .iter()
                        .cloned()
                        .zip(k.iter().cloned())
                        .collect(),
                )
            })
            .collect();
        payload.insert("keys".into(), Value::Array(keys));
        let text = self.post(&Value::Object(payload)).await?;
        records(&text, sink)
    }
}


/// Opens a webhook system.
pub async fn open(
    system: &SystemSpec,
    cfg: &Config,
    base_dir: &Path,
) -> Result<std::sync::Arc<dyn Connector>, ConnectorError> {
    let url = super::resolve_url(&cfg.url, base_dir)?;
    Ok(std::sync::Arc::new(WebhookConnector::open(
        system, cfg, url, base_dir,
    )?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signs_timestamp_and_body() {
        // HMAC-SHA256("key", "1700000000.{}") computed independently.
        let sig = signature(b"key", 1_700_000_000, b"{}");
        assert!(sig.starts_with("sha256="));
        assert_eq!(sig.len(), "sha256=".len() + 64);
        assert_ne!(sig, signature(b"key", 1_700_000_001, b"{}"));
        assert_ne!(sig, signature(b"other", 1_700_000_000, b"{}"));
    }

    #[test]
    fn truncates_long_answers() {
        let long = "x".repeat(MAX_NOTE_CHARS + 10);
        let t = truncate(&long);
        assert_eq!(t.chars().count(), MAX_NOTE_CHARS + 1);
        assert!(t.ends_with('…'));
        assert_eq!(truncate("ok"), "ok");
    }
}
