//! The `http` connector kind: interprets a declarative definition of a SaaS API.
//!
//! - [`definition`]: the YAML format, loading and checks (with file:line errors).
//! - [`template`]: `{identity.email|lower|md5}` placeholders, path-safe.
//! - [`auth`]: bearer, basic, API key, OAuth2 client credentials (token cached).
//! - [`client`]: one call — credentials, rate limit, retries, error mapping.
//! - [`ratelimit`]: the token bucket all calls of a run share.
//!
//! A find runs the resource's `find` call once per match value and follows its pagination;
//! records are de-duplicated by their `id`. Erasure works on those ids: one `erase` call (or
//! several, or an async job that is polled) per id, or an `update` that masks fields for
//! APIs that cannot delete. Verification looks each id up with `get`, where 404 means gone.

pub mod auth;
pub mod client;
pub mod config;
pub mod definition;
pub mod error;
pub mod ratelimit;
pub mod template;

use super::SystemSpec;
use super::{
    Connector, ConnectorError, FindRequest, KeyLookup, Row, RowSink, WriteOutcome, WriteRequest,
};
use crate::playbook::interpolate;
use crate::playbook::{CollectionSpec, Source};
use client::{Client, PageParams, Reply, Target};
use config::Config;
use definition::{Definition, Paginate, RequestDef, Resource, scalar_text, select};
use error::HttpError;
use serde_json::Value;
use std::collections::{BTreeMap, HashSet};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};
use template::Vars;

/// The HTTP client every connector of the process shares, built once. Building one loads and
/// parses the system's CA certificates (5 to 15 ms of CPU), so one per system made each
/// system's first call wait for that, one system after another; one shared client also reuses
/// idle connections to a host that several systems share. Timeouts are per system, so they are
/// set on each request.
pub fn shared_client() -> Result<reqwest::Client, ConnectorError> {
    CLIENT
        .get_or_init(|| {
            super::install_tls_provider();
            reqwest::Client::builder()
                .user_agent(concat!("dsr/", env!("CARGO_PKG_VERSION")))
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .map_err(|e| format!("cannot set up the HTTP client: {e}"))
        })
        .clone()
        .map_err(ConnectorError::Config)
}

static CLIENT: std::sync::OnceLock<Result<reqwest::Client, String>> = std::sync::OnceLock::new();

/// Waits until the shared client is built, on a blocking thread when it is not yet, so that a
/// step opening its connector does not hold up the steps running beside it.
pub async fn shared_client_ready() -> Result<(), ConnectorError> {
    if CLIENT.get().is_none() {
        tokio::task::spawn_blocking(shared_client)
            .await
            .map_err(|e| ConnectorError::Config(format!("cannot set up the HTTP client: {e}")))??;
    }
    Ok(())
}

/// Builds the shared client on a blocking thread now, while the caller does other work, when
/// a playbook will need it.
pub fn warm_up() {
    if let Ok(rt) = tokio::runtime::Handle::try_current() {
        rt.spawn_blocking(|| {
            let _ = shared_client();
        });
    }
}

pub struct HttpConnector {
    def: Arc<Definition>,
    client: Client,
    /// `config.*` and `base_url` variables.
    base_vars: Vars,
    max_pages: u32,
    /// The definition's resource of each collection, by collection name.
    resources: BTreeMap<String, String>,
}

impl HttpConnector {
    pub fn open(
        system: &SystemSpec,
        cfg: &Config,
        base_dir: &Path,
    ) -> Result<Self, ConnectorError> {
        let def = cfg.definition.clone();
        let resolve = |what: &str, t: &str| {
            interpolate::resolve(t, base_dir)
                .map_err(|e| ConnectorError::Config(format!("{what}: {e}")))
        };
        let mut vars = Vars::new();
        for (k, v) in &cfg.config {
            vars.set(format!("config.{k}"), resolve("config", v)?.expose());
        }
        let base_url = match &cfg.base_url {
            Some(t) => resolve("base_url", t)?.expose().to_string(),
            None => template::render(&def.base_url, &vars, template::Encoding::PathSegment)
                .map_err(|e| ConnectorError::Config(format!("base_url: {e}")))?,
        };
        definition::transport_allowed(&base_url, def.insecure_http)
            .map_err(ConnectorError::Config)?;
        vars.set("base_url", base_url.trim_end_matches('/'));
        let mut secrets = BTreeMap::new();
        for (k, v) in &cfg.auth {
            secrets.insert(k.clone(), resolve("auth", v)?);
        }
        let auth = auth::Auth::new(
            &def.auth,
            secrets,
            &base_url,
            system.retries,
            system.timeout,
        )?;
        let client = Client {
            system: system.name.clone(),
            base_url,
            insecure_http: def.insecure_http,
            http: shared_client()?,
            timeout: system.timeout,
            auth,
            limiter: ratelimit::RateLimiter::new(def.rate_limit.map(|r| (r.per_second, r.burst))),
            headers: def
                .headers
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            retries: system.retries,
        };
        Ok(Self {
            resources: cfg.resources.clone(),
            max_pages: def.max_pages.unwrap_or(definition::DEFAULT_MAX_PAGES),
            def,
            client,
            base_vars: vars,
        })
    }

    /// The definition's resource name of `collection`.
    fn resource_name<'a>(&'a self, collection: &'a CollectionSpec) -> &'a str {
        self.resources
            .get(&collection.id.collection)
            .map_or(collection.id.collection.as_str(), String::as_str)
    }

    fn resource(&self, collection: &CollectionSpec) -> Result<&Resource, ConnectorError> {
        let name = self.resource_name(collection);
        self.def.resources.get(name).ok_or_else(|| {
            ConnectorError::Config(format!(
                "the {} definition has no resource '{name}'",
                self.def.name
            ))
        })
    }

    /// Reads every page of one find, sending each new record to `sink`.
    #[allow(clippy::too_many_arguments)]
    async fn find_pages(
        &self,
        res: &Resource,
        req: &RequestDef,
        vars: &Vars,
        columns: Option<&[String]>,
        seen: &mut HashSet<String>,
        sink: &mut dyn RowSink,
    ) -> Result<u64, ConnectorError> {
        let label = Client::label(req);
        let mut count = 0;
        let mut page = PageParams::default();
        let mut next_url: Option<String> = None;
        let mut read: u64 = 0;
        let mut number: u64 = match &req.paginate {
            Some(Paginate::Page { start, .. }) => *start,
            _ => 0,
        };
        if let Some(p) = &req.paginate {
            set_page(p, number, &mut page);
        }
        for pages in 0.. {
            if pages >= self.max_pages {
                return Err(HttpError::TooManyPages {
                    call: label,
                    max: self.max_pages,
                }
                .into());
            }
            let target = match &next_url {
                Some(u) => Target::Url(u),
                None => Target::Path,
            };
            let answer = match self.client.call(req, vars, target, &page, None).await? {
                Reply::NoData => break,
                Reply::Ok(a) => a,
            };
            let records: Vec<&Value> =
                match select(&answer.body, req.records.as_deref().unwrap_or("")) {
                    None | Some(Value::Null) => Vec::new(),
                    Some(Value::Array(a)) => a.iter().collect(),
                    Some(one) => vec![one],
                };
            let n = records.len() as u64;
            for r in records {
                let row = to_row(r, columns);
                let fresh = match select(r, &res.id).and_then(scalar_text) {
                    Some(id) => seen.insert(id),
                    None => true,
                };
                if fresh {
                    sink.row(row)?;
                    count += 1;
                }
            }
            let Some(p) = &req.paginate else { break };
            if n == 0 {
                break;
            }
            match p {
                Paginate::Cursor {
                    cursor,
                    param,
                    in_body,
                    has_more,
                } => {
                    if let Some(flag) = has_more
                        && select(&answer.body, flag) != Some(&Value::Bool(true))
                    {
                        break;
                    }
                    let Some(c) = select(&answer.body, cursor)
                        .and_then(scalar_text)
                        .filter(|c| !c.is_empty())
                    else {
                        break;
                    };
                    page = PageParams::default();
                    if *in_body {
                        page.body.push((param.clone(), Value::String(c)));
                    } else {
                        page.query.push((param.clone(), c));
                    }
                }
                Paginate::Page { total, .. } | Paginate::Offset { total, .. } => {
                    // A short page is not the end: servers cap page sizes below what was
                    // asked. Only an empty page, or the announced total, is.
                    read += n;
                    if let Some(t) = total
                        && select(&answer.body, t)
                            .and_then(Value::as_u64)
                            .is_some_and(|t| read >= t)
                    {
                        break;
                    }
                    number += if matches!(p, Paginate::Page { .. }) {
                        1
                    } else {
                        n
                    };
                    set_page(p, number, &mut page);
                }
                Paginate::LinkHeader => match client::link_next(&answer.headers) {
                    Some(u) => {
                        next_url = Some(u);
                        page = PageParams::default();
                    }
                    None => break,
                },
                Paginate::NextUrl { path } => {
                    match select(&answer.body, path).and_then(Value::as_str) {
                        Some(u) if !u.is_empty() => {
                            next_url = Some(u.to_string());
                            page = PageParams::default();
                        }
                        _ => break,
                    }
                }
            }
        }
        Ok(count)
    }

    fn id_vars(&self, id: &str) -> Vars {
        self.base_vars.clone().with("id", id)
    }

    /// Runs an erase call for one id; polls its job when it has one.
    async fn erase_one(&self, step: &RequestDef, id: &str) -> Result<Option<String>, HttpError> {
        let vars = self.id_vars(id);
        let answer = match self
            .client
            .call(step, &vars, Target::Path, &PageParams::default(), None)
            .await?
        {
            Reply::NoData => return Ok(Some("already gone".into())),
            Reply::Ok(a) => a,
        };
        let Some(job) = &step.job else {
            return Ok(None);
        };
        let label = Client::label(step);
        let job_id = select(&answer.body, &job.id)
            .and_then(scalar_text)
            .ok_or_else(|| HttpError::Answer {
                call: label.clone(),
                message: format!("no job id at `{}`", job.id),
            })?;
        let interval = job
            .interval
            .as_deref()
            .and_then(crate::playbook::check::parse_duration)
            .unwrap_or(Duration::from_secs(2));
        let timeout = job
            .timeout
            .as_deref()
            .and_then(crate::playbook::check::parse_duration)
            .unwrap_or(Duration::from_secs(300));
        let poll_vars = vars.with("job_id", job_id.clone());
        let started = Instant::now();
        loop {
            let poll_label = Client::label(&job.poll);
            let status = match self
                .client
                .call(
                    &job.poll,
                    &poll_vars,
                    Target::Path,
                    &PageParams::default(),
                    None,
                )
                .await?
            {
                Reply::NoData => {
                    return Err(HttpError::Answer {
                        call: poll_label,
                        message: "the job is unknown to the API".into(),
                    });
                }
                Reply::Ok(a) => select(&a.body, &job.status).and_then(scalar_text),
            };
            match status {
                Some(s) if job.done.contains(&s) => return Ok(Some(format!("job {job_id} {s}"))),
                Some(s) if job.failed.contains(&s) => {
                    return Err(HttpError::Answer {
                        call: poll_label,
                        message: format!("job {job_id} ended with status '{s}'"),
                    });
                }
                _ => {}
            }
            if started.elapsed() >= timeout {
                return Err(HttpError::JobTimeout {
                    call: poll_label,
                    seconds: timeout.as_secs(),
                });
            }
            tokio::time::sleep(interval).await;
        }
    }
}

fn set_page(p: &Paginate, number: u64, page: &mut PageParams) {
    page.query.clear();
    match p {
        Paginate::Page {
            param,
            size_param,
            size,
            ..
        } => {
            page.query.push((param.clone(), number.to_string()));
            if let Some(sp) = size_param {
                page.query.push((sp.clone(), size.to_string()));
            }
        }
        Paginate::Offset {
            param,
            limit_param,
            size,
            ..
        } => {
            page.query.push((param.clone(), number.to_string()));
            page.query.push((limit_param.clone(), size.to_string()));
        }
        _ => {}
    }
}

/// A record as a row: an object's keys (only `columns` when given), anything else as `value`.
fn to_row(record: &Value, columns: Option<&[String]>) -> Row {
    match record {
        Value::Object(m) => match columns {
            None => m.clone(),
            Some(cols) => m
                .iter()
                .filter(|(k, _)| cols.contains(k))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        },
        other => {
            let mut row = Row::new();
            row.insert("value".into(), other.clone());
            row
        }
    }
}

/// The value a masking method writes. Erasure works from ids, not from the old values, so
/// `hash` is a stable pseudonym derived from the record id and field name.

#[async_trait::async_trait]
impl Connector for HttpConnector {
    async fn find(
        &self,
        req: &FindRequest<'_>,
        sink: &mut dyn RowSink,
    ) -> Result<u64, ConnectorError> {
        let res = self.resource(req.collection)?;
        let mut seen = HashSet::new();
        let mut count = 0;
        for (column, values) in &req.by_column() {
            let identity = req.collection.inputs.iter().find_map(|i| match &i.source {
                Source::Identity(kind) if &i.column == column => Some(kind.clone()),
                _ => None,
            });
            for value in values {
                let Some(text) = scalar_text(value) else {
                    continue;
                };
                if res.key_from_match {
                    if seen.insert(text.clone()) {
                        let mut row = Row::new();
                        row.insert(res.id.clone(), value.clone());
                        sink.row(row)?;
                        count += 1;
                    }
                    continue;
                }
                let Some(find) = &res.find else {
                    return Err(ConnectorError::Unsupported("find"));
                };
                let mut vars = self.base_vars.clone();
                vars.set("value", text.clone());
                vars.set(format!("match.{column}"), text.clone());
                if let Some(kind) = &identity {
                    vars.set(format!("identity.{kind}"), text.clone());
                }
                count += self
                    .find_pages(res, find, &vars, req.columns, &mut seen, sink)
                    .await?;
            }
        }
        Ok(count)
    }

    async fn key_columns(
        &self,
        collection: &CollectionSpec,
    ) -> Result<Vec<String>, ConnectorError> {
        Ok(vec![self.resource(collection)?.id.clone()])
    }

    async fn write(
        &self,
        writes: &[WriteRequest<'_>],
    ) -> Result<Vec<WriteOutcome>, ConnectorError> {
        let mut out = Vec::new();
        for w in writes {
            out.push(self.write_collection(w).await?);
        }
        Ok(out)
    }

    async fn find_by_keys(
        &self,
        req: &KeyLookup<'_>,
        sink: &mut dyn RowSink,
    ) -> Result<u64, ConnectorError> {
        let res = self.resource(req.collection)?;
        let get = res.get.as_ref().ok_or_else(|| {
            ConnectorError::Config(format!(
                "resource '{}' of {} has no `get` call to verify with",
                self.resource_name(req.collection),
                self.def.name
            ))
        })?;
        let mut count = 0;
        for key in req.keys {
            let id = key_text(key)?;
            let answer = match self
                .client
                .call(
                    get,
                    &self.id_vars(&id),
                    Target::Path,
                    &PageParams::default(),
                    None,
                )
                .await?
            {
                Reply::NoData => continue,
                Reply::Ok(a) => a,
            };
            let record = select(&answer.body, get.records.as_deref().unwrap_or(""))
                .cloned()
                .unwrap_or(Value::Null);
            sink.row(to_row(&record, None))?;
            count += 1;
        }
        Ok(count)
    }
}

impl HttpConnector {
    /// One collection's changes: an erase call (or calls, or an async job) per deleted
    /// record, an update call with the new field values per masked or corrected record.
    async fn write_collection(&self, w: &WriteRequest<'_>) -> Result<WriteOutcome, ConnectorError> {
        let res = self.resource(w.collection)?;
        let mut outcome = WriteOutcome::default();
        for change in w.changes {
            let id = key_text(&change.key)?;
            match &change.set {
                None => {
                    let erase = res.erase.as_ref().ok_or_else(|| {
                        ConnectorError::Config(format!(
                            "resource '{}' of {} cannot be erased (no `erase` call); mask it or keep it",
                            self.resource_name(w.collection), self.def.name
                        ))
                    })?;
                    let mut gone_already = false;
                    for step in erase.steps() {
                        if let Some(note) = self.erase_one(step, &id).await? {
                            if note == "already gone" {
                                gone_already = true;
                            } else {
                                outcome.notes.push(note);
                            }
                        }
                    }
                    if gone_already {
                        outcome.notes.push("a record was already gone".into());
                    } else {
                        outcome.changed += 1;
                    }
                }
                Some(fields) => {
                    let update = res.update.as_ref().ok_or_else(|| {
                        ConnectorError::Config(format!(
                            "resource '{}' of {} cannot be updated (no `update` call)",
                            self.resource_name(w.collection),
                            self.def.name
                        ))
                    })?;
                    match self
                        .client
                        .call(
                            update,
                            &self.id_vars(&id),
                            Target::Path,
                            &PageParams::default(),
                            Some(fields),
                        )
                        .await?
                    {
                        Reply::Ok(_) => outcome.changed += 1,
                        Reply::NoData => outcome.notes.push("a record was already gone".into()),
                    }
                }
            }
        }
        dedup_notes(&mut outcome.notes);
        Ok(outcome)
    }
}

/// A record's id: the one key value, as text.
fn key_text(key: &[Value]) -> Result<String, ConnectorError> {
    key.first()
        .and_then(scalar_text)
        .ok_or_else(|| ConnectorError::Config("a key has no id value".into()))
}

fn dedup_notes(notes: &mut Vec<String>) {
    let mut seen = HashSet::new();
    notes.retain(|n| seen.insert(n.clone()));
}

/// Opens an http system.
pub async fn open(
    system: &SystemSpec,
    cfg: &Config,
    base_dir: &Path,
) -> Result<Arc<dyn super::Connector>, ConnectorError> {
    Ok(Arc::new(HttpConnector::open(system, cfg, base_dir)?))
}
