//! The `opendsr` connector: hands the request to a processor that speaks OpenDSR (formerly
//! OpenGDPR).
//!
//! dsr acts as the controller: it reads the processor's `GET /discovery` to check that the
//! request type and identity types are supported, submits `POST /requests` with a fresh
//! lowercase UUID v4 as `subject_request_id`, and polls `GET /requests/{id}` every
//! `config.poll_interval` for at most `config.wait`. Status mapping: `completed` → done;
//! `pending` / `in_progress` still at the end of the wait → recorded as not finished (the
//! request id is in the outcome, so it can be followed up); `cancelled` → failed.
//!
//! Export submits an `access` request and records its status and `results_url`; erasure
//! submits `erasure` for the identities found. OpenDSR has no rectification.

use super::http::client::send_retrying;
use super::http::error::HttpError;
use super::{Connector, ConnectorError, FindRequest, Row, RowSink, WriteOutcome, WriteRequest};
use crate::playbook::interpolate::{self, Secret};
pub mod config;

use super::SystemSpec;
use crate::playbook::CollectionSpec;
use config::Config;
use serde_json::{Value, json};
use std::path::Path;
use std::time::{Duration, Instant};

pub const DEFAULT_POLL_INTERVAL: Duration = Duration::from_secs(5);
pub const DEFAULT_WAIT: Duration = Duration::from_secs(60);
/// `config:` keys an opendsr system may set.
pub const CONFIG_KEYS: [&str; 2] = ["poll_interval", "wait"];

pub struct OpenDsrConnector {
    system: String,
    base_url: String,
    token: Secret,
    regulation: String,
    http: reqwest::Client,
    /// The system's `timeout:`, set on each call.
    timeout: Duration,
    retries: u32,
    poll_interval: Duration,
    wait: Duration,
}

/// Where a submitted request ended up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Progress {
    Completed,
    Unfinished(String),
}

/// Maps an OpenDSR status: `Ok(None)` while it may still change.
pub fn map_status(status: &str) -> Result<Option<Progress>, String> {
    match status {
        "completed" => Ok(Some(Progress::Completed)),
        "pending" | "in_progress" => Ok(None),
        "cancelled" => Err("the processor cancelled the request".into()),
        other => Err(format!("unknown request status '{other}'")),
    }
}

impl OpenDsrConnector {
    pub fn open(
        system: &SystemSpec,
        cfg: &Config,
        regulation: Option<&str>,
        base_dir: &Path,
    ) -> Result<Self, ConnectorError> {
        let resolve = |what: &str, t: &str| {
            interpolate::resolve(t, base_dir)
                .map_err(|e| ConnectorError::Config(format!("{what}: {e}")))
        };
        let base_url = resolve("base_url", &cfg.base_url)?
            .expose()
            .trim_end_matches('/')
            .to_string();
        super::http::definition::transport_allowed(&base_url, false)
            .map_err(ConnectorError::Config)?;
        let token = resolve("auth", &cfg.token)?;
        let http = super::http::shared_client()?;
        Ok(Self {
            system: system.name.clone(),
            base_url,
            token,
            // OpenDSR knows gdpr and ccpa; UK GDPR requests travel as gdpr.
            regulation: match regulation {
                Some("ccpa") => "ccpa".into(),
                _ => "gdpr".into(),
            },
            http,
            timeout: system.timeout,
            retries: system.retries,
            poll_interval: cfg.poll_interval.unwrap_or(DEFAULT_POLL_INTERVAL),
            wait: cfg.wait.unwrap_or(DEFAULT_WAIT),
        })
    }

    /// One call; 429/5xx retried (Retry-After honoured), 401/403 fail at once.
    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        label: &str,
        body: Option<&Value>,
    ) -> Result<(u16, Value), HttpError> {
        let (status, text) = send_retrying(&self.system, label, self.retries, || {
            let rb = self
                .http
                .request(method.clone(), format!("{}{path}", self.base_url))
                .timeout(self.timeout)
                .bearer_auth(self.token.expose());
            match body {
                Some(b) => rb.json(b),
                None => rb,
            }
        })
        .await?;
        Ok((status, serde_json::from_str(&text).unwrap_or(Value::Null)))
    }

    /// Checks the processor supports this request type and these identity types.
    async fn check_discovery(
        &self,
        request_type: &str,
        identities: &[Value],
    ) -> Result<(), ConnectorError> {
        let (_, d) = self
            .call(reqwest::Method::GET, "/discovery", "GET /discovery", None)
            .await?;
        let types: Vec<&str> = d["supported_subject_request_types"]
            .as_array()
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        if !types.contains(&request_type) {
            return Err(ConnectorError::Config(format!(
                "the processor does not accept {request_type} requests (it accepts: {})",
                types.join(", ")
            )));
        }
        let supported: Vec<&str> = d["supported_identities"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter(|i| i["identity_format"].as_str().is_none_or(|f| f == "raw"))
                    .filter_map(|i| i["identity_type"].as_str())
                    .collect()
            })
            .unwrap_or_default();
        for id in identities {
            let t = id["identity_type"].as_str().unwrap_or("");
            if !supported.contains(&t) {
                return Err(ConnectorError::Config(format!(
                    "the processor does not accept identity type '{t}' (it accepts: {})",
                    supported.join(", ")
                )));
            }
        }
        Ok(())
    }

    /// Submits a request and follows it until it ends or the wait is over.
    async fn submit(
        &self,
        request_type: &str,
        identities: Vec<Value>,
    ) -> Result<(String, Progress, Value), ConnectorError> {
        self.check_discovery(request_type, &identities).await?;
        let id = uuid::Uuid::new_v4().to_string();
        let body = json!({
            "regulation": self.regulation,
            "subject_request_id": id,
            "subject_request_type": request_type,
            "submitted_time": jiff::Timestamp::now().to_string(),
            "subject_identities": identities,
        });
        self.call(
            reqwest::Method::POST,
            "/requests",
            "POST /requests",
            Some(&body),
        )
        .await?;
        let started = Instant::now();
        loop {
            let (_, status) = self
                .call(
                    reqwest::Method::GET,
                    &format!("/requests/{id}"),
                    "GET /requests/{id}",
                    None,
                )
                .await?;
            let text = status["request_status"]
                .as_str()
                .or_else(|| status["status"].as_str())
                .unwrap_or("")
                .to_string();
            match map_status(&text) {
                Err(message) => {
                    return Err(HttpError::Answer {
                        call: "GET /requests/{id}".into(),
                        message: format!("request {id}: {message}"),
                    }
                    .into());
                }
                Ok(Some(p)) => return Ok((id, p, status)),
                Ok(None) if started.elapsed() >= self.wait => {
                    return Ok((id, Progress::Unfinished(text), status));
                }
                Ok(None) => tokio::time::sleep(self.poll_interval).await,
            }
        }
    }
}

fn identities(matches: &[(String, Vec<Value>)]) -> Vec<Value> {
    matches
        .iter()
        .flat_map(|(kind, values)| {
            values.iter().filter_map(move |v| {
                super::http::definition::scalar_text(v).map(|text| {
                    json!({"identity_type": kind, "identity_value": text, "identity_format": "raw"})
                })
            })
        })
        .collect()
}

#[async_trait::async_trait]
impl Connector for OpenDsrConnector {
    async fn find(
        &self,
        req: &FindRequest<'_>,
        sink: &mut dyn RowSink,
    ) -> Result<u64, ConnectorError> {
        let ids = identities(&req.by_column());
        if ids.is_empty() {
            return Ok(0);
        }
        let (id, progress, status) = self.submit("access", ids.clone()).await?;
        let mut row = Row::new();
        row.insert("subject_request_id".into(), json!(id));
        row.insert("subject_request_type".into(), json!("access"));
        row.insert(
            "request_status".into(),
            json!(match &progress {
                Progress::Completed => "completed",
                Progress::Unfinished(s) => s.as_str(),
            }),
        );
        for key in ["expected_completion_time", "results_url", "results_count"] {
            if let Some(v) = status.get(key).filter(|v| !v.is_null()) {
                row.insert(key.into(), v.clone());
            }
        }
        row.insert("subject_identities".into(), Value::Array(ids));
        sink.row(row)?;
        Ok(1)
    }

    async fn key_columns(
        &self,
        _collection: &CollectionSpec,
    ) -> Result<Vec<String>, ConnectorError> {
        Ok(vec!["subject_identities".into()])
    }

    /// One erasure request to the processor for every identity found; OpenDSR has no
    /// rectification, so masks and corrections are refused.
    async fn write(
        &self,
        writes: &[WriteRequest<'_>],
    ) -> Result<Vec<WriteOutcome>, ConnectorError> {
        let mut out = Vec::new();
        for w in writes {
            out.push(self.erase_collection(w).await?);
        }
        Ok(out)
    }
}

impl OpenDsrConnector {
    async fn erase_collection(
        &self,
        req: &WriteRequest<'_>,
    ) -> Result<WriteOutcome, ConnectorError> {
        if req.changes.iter().any(|c| c.set.is_some()) {
            return Err(ConnectorError::Unsupported(
                "masking and correction (OpenDSR has no rectification)",
            ));
        }
        let mut all: Vec<Value> = Vec::new();
        for change in req.changes {
            for id in change
                .key
                .first()
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                if !all.contains(id) {
                    all.push(id.clone());
                }
            }
        }
        if all.is_empty() {
            return Ok(WriteOutcome::default());
        }
        let (id, progress, status) = self.submit("erasure", all).await?;
        Ok(match progress {
            Progress::Completed => WriteOutcome {
                changed: 1,
                notes: vec![format!("erasure request {id} completed")],
            },
            Progress::Unfinished(s) => WriteOutcome {
                changed: 0,
                notes: vec![format!(
                    "erasure request {id} is {s}; expected by {}",
                    status["expected_completion_time"]
                        .as_str()
                        .unwrap_or("an unknown time")
                )],
            },
        })
    }
}


/// Opens an opendsr system; requests carry the playbook's regulation.
pub async fn open(
    system: &SystemSpec,
    cfg: &Config,
    base_dir: &Path,
) -> Result<std::sync::Arc<dyn Connector>, ConnectorError> {
    Ok(std::sync::Arc::new(OpenDsrConnector::open(
        system,
        cfg,
        system.regulation.as_deref(),
        base_dir,
    )?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_statuses() {
        assert_eq!(map_status("completed"), Ok(Some(Progress::Completed)));
        assert_eq!(map_status("pending"), Ok(None));
        assert_eq!(map_status("in_progress"), Ok(None));
        assert!(map_status("cancelled").unwrap_err().contains("cancelled"));
        assert!(map_status("weird").is_err());
    }
}
