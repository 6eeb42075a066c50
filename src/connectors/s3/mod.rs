//! Objects in an S3-compatible bucket (AWS S3, MinIO, Ceph, ...), through the AWS SDK.
//!
//! A collection's `keys:` are object key templates (see [`super::template`]): one that ends
//! with `/` (`uploads/{user_id}/`) is a prefix and stands for every object under it; one with
//! `*` or `?` lists the prefix before the first wildcard and keeps the keys the whole pattern
//! matches (`*` also matches `/`); any other names one object (`avatars/{user_id}.png`).
//! `metadata: [NAME, ...]` names `match` entries compared with the objects' user metadata
//! (`x-amz-meta-NAME`) instead: every listed candidate then costs one HEAD request, and more
//! than `max_keys` candidates is an error, never a silent cut.
//!
//! One record per key: `{key, size, etag, last_modified, content_type, metadata, sha256,
//! version_id, versions}`. Export streams each current object into the bundle (the record's
//! `sha256` is that of the bytes written; memory holds one network chunk at a time) and reads
//! it as listed (by version id, or only if its ETag is unchanged), so the copy matches the
//! record.
//!
//! On a versioned bucket (versioning enabled or suspended) `versions` counts the stored
//! versions and delete markers of the key, and keys whose current version is a delete marker
//! are records too (their older versions still hold data): erase deletes every version and
//! delete marker of each key, so nothing is recoverable; only current objects are exported.
//! Verification lists the keys again and expects nothing, no version either. Objects are
//! opaque: masks and corrections are refused.

pub mod body;
pub mod client;

use super::files::HashingReader;
use super::template::{self, Template};
use super::{
    Connector, ConnectorError, FindRequest, KeyLookup, Row, RowSink, WriteOutcome, WriteRequest,
    timed,
};
use crate::playbook::interpolate;
pub mod config;

use super::SystemSpec;
use crate::playbook::CollectionSpec;
use aws_sdk_s3::Client;
use aws_sdk_s3::types::{Delete, ObjectIdentifier};
use body::{Headers, ObjectReader};
use client::{Settings, classify, from_code};
use config::{Collection, Config};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;
use tokio::sync::OnceCell;

/// The columns of every S3 record.
pub const RECORD_COLUMNS: [&str; 9] = [
    "key",
    "size",
    "etag",
    "last_modified",
    "content_type",
    "metadata",
    "sha256",
    "version_id",
    "versions",
];

/// Objects one collection may match (or, with a metadata filter, list as candidates) for one
/// request, unless the system sets `max_keys`.
pub const DEFAULT_MAX_KEYS: u64 = 10_000;

/// Patterns one collection may expand to (values × templates).
const MAX_PATTERNS: usize = 10_000;

/// Objects per DeleteObjects call (the API's limit).
const DELETE_BATCH: usize = 1_000;

pub struct S3Connector {
    settings: Settings,
    client: OnceCell<Client>,
    versioned: OnceCell<bool>,
    max_keys: u64,
    /// Per collection: its key templates and the `match` entries compared with user metadata.
    collections: BTreeMap<String, Collection>,
    /// The system's `timeout`, for the write phase (whose requests carry none).
    timeout: Duration,
}

/// What a listing found for one key.
#[derive(Debug, Default)]
struct Entry {
    /// The current object, when the key has one (not a delete marker).
    current: Option<Current>,
    /// Versioned buckets: the newest version that is not a delete marker.
    newest_version: Option<String>,
    /// Versioned buckets: every version id and delete marker id of the key.
    version_ids: Vec<String>,
}

#[derive(Debug, Default)]
struct Current {
    version_id: Option<String>,
    etag: Option<String>,
    size: Option<i64>,
    last_modified: Option<String>,
}

/// How a pattern selects keys from a listing of `prefix`.
enum Select {
    Exact(String),
    Prefix,
    Glob(String),
}

impl Select {
    fn keeps(&self, key: &str) -> bool {
        match self {
            Self::Exact(k) => key == k,
            Self::Prefix => true,
            Self::Glob(p) => template::glob_match(p, key),
        }
    }
}

/// The listing one expanded template needs: the prefix to list and how to keep keys from it.
fn selection(p: &template::Pattern) -> (String, Select) {
    if !p.wild {
        if p.literal.ends_with('/') {
            return (p.literal.clone(), Select::Prefix);
        }
        return (p.literal.clone(), Select::Exact(p.literal.clone()));
    }
    // The literal text before the first wildcard that is not escaped.
    let mut prefix = String::new();
    let mut chars = p.pattern.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                if let Some(n) = chars.next() {
                    prefix.push(n);
                }
            }
            '*' | '?' => break,
            c => prefix.push(c),
        }
    }
    (prefix, Select::Glob(p.pattern.clone()))
}

fn text(t: Option<&str>) -> Value {
    t.map_or(Value::Null, |s| Value::String(s.to_string()))
}

/// An ETag without the quotes S3 puts around it.
fn etag(t: Option<&str>) -> Option<String> {
    t.map(|s| s.trim_matches('"').to_string())
}

fn date(d: Option<&aws_sdk_s3::primitives::DateTime>) -> Option<String> {
    d.and_then(|d| d.fmt(aws_sdk_s3::primitives::DateTimeFormat::DateTime).ok())
}

/// Whether `name` can be a bucket's name: not empty, and no `/` or blanks (the store itself
/// judges the rest).
pub fn is_bucket_name(name: &str) -> bool {
    !name.is_empty() && !name.contains(['/', ' ', '\t', '\n', '\r'])
}

fn check_key_columns(key_columns: &[String]) -> Result<(), ConnectorError> {
    super::check_key_only("s3", key_columns)
}

impl S3Connector {
    pub fn open(
        system: &SystemSpec,
        cfg: &Config,
        base_dir: &Path,
    ) -> Result<Self, ConnectorError> {
        let resolve = |field: &str, t: &str| {
            interpolate::resolve(t, base_dir)
                .map(|v| v.expose().to_string())
                .map_err(|e| ConnectorError::Config(format!("{field}: {e}")))
        };
        let bucket = resolve("bucket", &cfg.bucket)?;
        if !is_bucket_name(&bucket) {
            return Err(ConnectorError::Config(
                "bucket: the value it refers to is not a bucket name".into(),
            ));
        }
        let endpoint = match &cfg.endpoint {
            Some(t) => Some(resolve("endpoint", t)?),
            None => None,
        };
        Ok(Self {
            settings: Settings {
                bucket,
                // S3-compatible stores mostly need path-style addressing; AWS itself prefers
                // virtual-hosted buckets.
                path_style: cfg.path_style.unwrap_or(
                    endpoint.is_some()
                        || ["AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3"]
                            .iter()
                            .any(|v| std::env::var_os(v).is_some_and(|x| !x.is_empty())),
                ),
                endpoint,
                region: cfg.region.clone(),
            },
            client: OnceCell::new(),
            versioned: OnceCell::new(),
            max_keys: cfg.max_keys.unwrap_or(DEFAULT_MAX_KEYS),
            collections: cfg.collections.clone(),
            timeout: system.timeout,
        })
    }

    async fn client(&self) -> &Client {
        self.client
            .get_or_init(|| client::build(&self.settings))
            .await
    }

    fn bucket(&self) -> &str {
        &self.settings.bucket
    }

    /// Whether the bucket keeps versions (enabled, or suspended with versions kept). Asked
    /// once; a store without versioning (NotImplemented) keeps none.
    async fn versioned(&self, idle: Duration) -> Result<bool, ConnectorError> {
        self.versioned
            .get_or_try_init(|| async {
                let answer = timed(
                    idle,
                    self.client()
                        .await
                        .get_bucket_versioning()
                        .bucket(self.bucket())
                        .send(),
                )
                .await?;
                match answer {
                    Ok(out) => Ok(out.status().is_some()),
                    Err(e) => {
                        use aws_sdk_s3::error::ProvideErrorMetadata;
                        if e.code() == Some("NotImplemented") {
                            return Ok(false);
                        }
                        // Some S3-compatible servers answer for a bucket that never had
                        // versioning with a document the SDK does not parse (moto:
                        // `<GetBucketVersioningResponse/>`). A success names the status when
                        // there is one.
                        if let Some(raw) = e.raw_response()
                            && raw.status().as_u16() == 200
                            && let Some(body) = raw.body().bytes()
                        {
                            let has = |w: &[u8]| body.windows(w.len()).any(|x| x == w);
                            return Ok(has(b"Enabled") || has(b"Suspended"));
                        }
                        let what = format!("read the versioning of bucket {}", self.bucket());
                        Err(classify(&what, e, std::iter::empty()))
                    }
                }
            })
            .await
            .copied()
    }

    /// Lists `prefix` and adds the keys `select` keeps to `out`; more than `max_keys` in `out`
    /// is an error.
    #[allow(clippy::too_many_arguments)]
    async fn list(
        &self,
        prefix: &str,
        select: &Select,
        versioned: bool,
        idle: Duration,
        values: &[&Value],
        out: &mut BTreeMap<String, Entry>,
        what: &str,
    ) -> Result<(), ConnectorError> {
        let client = self.client().await;
        let list_what = format!("list objects in bucket {}", self.bucket());
        let too_many = || {
            ConnectorError::Config(format!(
                "more than {} objects match {what}; raise `max_keys` for the system or narrow the key templates",
                self.max_keys
            ))
        };
        if !versioned {
            let mut token: Option<String> = None;
            loop {
                let page = timed(
                    idle,
                    client
                        .list_objects_v2()
                        .bucket(self.bucket())
                        .prefix(prefix)
                        .set_continuation_token(token.take())
                        .send(),
                )
                .await?
                .map_err(|e| classify(&list_what, e, values.iter().copied()))?;
                for o in page.contents() {
                    let Some(key) = o.key() else { continue };
                    if !select.keeps(key) {
                        continue;
                    }
                    out.entry(key.to_string()).or_default().current = Some(Current {
                        version_id: None,
                        etag: etag(o.e_tag()),
                        size: o.size(),
                        last_modified: date(o.last_modified()),
                    });
                    if out.len() as u64 > self.max_keys {
                        return Err(too_many());
                    }
                }
                match page.next_continuation_token() {
                    Some(t) if page.is_truncated() == Some(true) => token = Some(t.to_string()),
                    _ => return Ok(()),
                }
            }
        }
        let mut key_marker: Option<String> = None;
        let mut version_marker: Option<String> = None;
        loop {
            let page = timed(
                idle,
                client
                    .list_object_versions()
                    .bucket(self.bucket())
                    .prefix(prefix)
                    .set_key_marker(key_marker.take())
                    .set_version_id_marker(version_marker.take())
                    .send(),
            )
            .await?
            .map_err(|e| classify(&list_what, e, values.iter().copied()))?;
            for v in page.versions() {
                let Some(key) = v.key() else { continue };
                if !select.keeps(key) {
                    continue;
                }
                let entry = out.entry(key.to_string()).or_default();
                let id = v.version_id().unwrap_or("null").to_string();
                if entry.newest_version.is_none() {
                    entry.newest_version = Some(id.clone());
                }
                if v.is_latest() == Some(true) {
                    entry.current = Some(Current {
                        version_id: Some(id.clone()),
                        etag: etag(v.e_tag()),
                        size: v.size(),
                        last_modified: date(v.last_modified()),
                    });
                }
                entry.version_ids.push(id);
            }
            for m in page.delete_markers() {
                let Some(key) = m.key() else { continue };
                if select.keeps(key) {
                    let entry = out.entry(key.to_string()).or_default();
                    entry
                        .version_ids
                        .push(m.version_id().unwrap_or("null").to_string());
                }
            }
            if out.len() as u64 > self.max_keys {
                return Err(too_many());
            }
            if page.is_truncated() != Some(true) {
                return Ok(());
            }
            key_marker = page.next_key_marker().map(String::from);
            version_marker = page.next_version_id_marker().map(String::from);
            if key_marker.is_none() {
                return Ok(());
            }
        }
    }

    /// Every key the collection's templates select, with what the listings said about it.
    async fn matching(
        &self,
        req: &FindRequest<'_>,
        versioned: bool,
        values: &[&Value],
    ) -> Result<BTreeMap<String, Entry>, ConnectorError> {
        let by_name = template::values_by_name(&req.by_column());
        let mut out = BTreeMap::new();
        let what = req.collection.id.to_string();
        let templates = self
            .collections
            .get(&req.collection.id.collection)
            .map_or(&[][..], |c| c.templates.as_slice());
        for t in templates {
            let patterns = expand(t, &by_name).ok_or_else(|| {
                ConnectorError::Config(format!(
                    "the key templates of {what} expand to more than {MAX_PATTERNS} patterns"
                ))
            })?;
            for p in patterns {
                let (prefix, select) = selection(&p);
                self.list(
                    &prefix,
                    &select,
                    versioned,
                    req.idle_timeout,
                    values,
                    &mut out,
                    &what,
                )
                .await?;
            }
        }
        Ok(out)
    }

    /// The object's user metadata and content type (HEAD), or `None` when it is gone.
    async fn head(
        &self,
        key: &str,
        version_id: Option<&str>,
        idle: Duration,
        values: &[&Value],
    ) -> Result<Option<Headers>, ConnectorError> {
        let answer = timed(
            idle,
            self.client()
                .await
                .head_object()
                .bucket(self.bucket())
                .key(key)
                .set_version_id(version_id.map(String::from))
                .send(),
        )
        .await?;
        match answer {
            Ok(out) => Ok(Some(Headers {
                content_type: out.content_type().map(String::from),
                metadata: out
                    .metadata()
                    .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
                    .unwrap_or_default(),
            })),
            Err(e) if e.as_service_error().is_some_and(|s| s.is_not_found()) => Ok(None),
            Err(e) => Err(classify(
                "read an object's metadata",
                e,
                values.iter().copied(),
            )),
        }
    }

    async fn find_objects(
        &self,
        req: &FindRequest<'_>,
        sink: &mut dyn RowSink,
    ) -> Result<u64, ConnectorError> {
        let values: Vec<&Value> = super::sql::find_values(req).collect();
        let idle = req.idle_timeout;
        let versioned = self.versioned(idle).await?;
        let entries = self.matching(req, versioned, &values).await?;
        let by_name = template::values_by_name(&req.by_column());
        let filter: Vec<(String, Vec<String>)> = self
            .collections
            .get(&req.collection.id.collection)
            .map(|c| &c.metadata)
            .into_iter()
            .flatten()
            .map(|name| {
                let wanted = by_name
                    .get(name)
                    .into_iter()
                    .flatten()
                    .map(super::sql::value_text)
                    .filter(|t| !t.is_empty())
                    .collect();
                (name.to_ascii_lowercase(), wanted)
            })
            .collect();
        let wanted = |c: &str| {
            req.columns
                .is_none_or(|cols| c == "key" || cols.iter().any(|x| x == c))
        };
        let client = self.client().await;
        let mut count = 0;
        for (key, entry) in &entries {
            let mut headers = None;
            if !filter.is_empty() {
                let version = match &entry.current {
                    Some(c) => c.version_id.clone(),
                    None => entry.newest_version.clone(),
                };
                if versioned && version.is_none() {
                    continue; // only delete markers: no metadata to compare
                }
                let Some(h) = self.head(key, version.as_deref(), idle, &values).await? else {
                    continue;
                };
                let hit = filter.iter().any(|(name, wanted)| {
                    h.metadata
                        .iter()
                        .any(|(k, v)| k.eq_ignore_ascii_case(name) && wanted.contains(v))
                });
                if !hit {
                    continue;
                }
                headers = Some(h);
            }
            let mut sha256 = None;
            if let Some(current) = &entry.current {
                let (hash, fetched) =
                    self.copy(client, key, current, versioned, idle, &values, sink)?;
                sha256 = hash;
                if fetched.is_some() {
                    headers = fetched;
                }
            }
            let row = record(key, entry, headers.as_ref(), sha256, versioned, &wanted);
            sink.row(row)?;
            count += 1;
        }
        Ok(count)
    }

    /// Offers the current object to the sink as a file (downloaded only if the sink reads it);
    /// the SHA-256 of what the sink kept, and what the download said about the object.
    #[allow(clippy::too_many_arguments)]
    fn copy(
        &self,
        client: &Client,
        key: &str,
        current: &Current,
        versioned: bool,
        idle: Duration,
        values: &[&Value],
        sink: &mut dyn RowSink,
    ) -> Result<(Option<String>, Option<Headers>), ConnectorError> {
        body::blocking(|handle| {
            // Read as listed: that version, or that ETag (else the step is retried).
            let if_match = if versioned {
                None
            } else {
                current.etag.as_deref()
            };
            let reader = ObjectReader::new(
                client,
                self.bucket(),
                key,
                current.version_id.as_deref(),
                if_match,
                idle,
                values,
                handle,
            );
            let mut hashing = HashingReader {
                inner: reader,
                hasher: Sha256::new(),
                bytes: 0,
            };
            let kept = sink.file(&body::file_name(key), &mut hashing);
            if let Some(e) = hashing.inner.error.take() {
                return Err(e);
            }
            let kept = kept?;
            let fetched = hashing.inner.headers.take();
            let hash = (kept && fetched.is_some()).then(|| hex::encode(hashing.hasher.finalize()));
            Ok((hash, fetched))
        })
    }

    /// What is stored under exactly `key` now.
    async fn stored(
        &self,
        key: &str,
        versioned: bool,
        idle: Duration,
        values: &[&Value],
    ) -> Result<Option<Entry>, ConnectorError> {
        let mut out = BTreeMap::new();
        let select = Select::Exact(key.to_string());
        self.list(key, &select, versioned, idle, values, &mut out, "a key")
            .await?;
        Ok(out.remove(key))
    }

    async fn delete(
        &self,
        writes: &[WriteRequest<'_>],
    ) -> Result<Vec<WriteOutcome>, ConnectorError> {
        let idle = self.timeout;
        let versioned = self.versioned(idle).await?;
        let client = self.client().await;
        let mut outcomes = Vec::new();
        for w in writes {
            check_key_columns(w.key_columns)?;
            let mut targets: Vec<ObjectIdentifier> = Vec::new();
            let mut changed = 0u64;
            let mut gone = 0u64;
            for c in w.changes {
                if c.set.is_some() {
                    return Err(ConnectorError::Unsupported(
                        "changing the content of objects (masks, corrections)",
                    ));
                }
                let key = c
                    .key
                    .first()
                    .and_then(Value::as_str)
                    .ok_or_else(|| ConnectorError::Config("a change has no key".into()))?;
                let values: Vec<&Value> = c.key.iter().collect();
                let Some(entry) = self.stored(key, versioned, idle, &values).await? else {
                    gone += 1;
                    continue;
                };
                changed += 1;
                if versioned {
                    for id in entry.version_ids {
                        targets.push(identifier(key, Some(id))?);
                    }
                } else {
                    targets.push(identifier(key, None)?);
                }
            }
            let removed = targets.len();
            for batch in targets.chunks(DELETE_BATCH) {
                let delete = Delete::builder()
                    .set_objects(Some(batch.to_vec()))
                    .quiet(true)
                    .build()
                    .map_err(|e| ConnectorError::Config(e.to_string()))?;
                let values = super::sql::write_values(std::slice::from_ref(w));
                let what = format!("delete objects in bucket {}", self.bucket());
                let answer = timed(
                    idle,
                    client
                        .delete_objects()
                        .bucket(self.bucket())
                        .delete(delete)
                        .send(),
                )
                .await?
                .map_err(|e| classify(&what, e, values.iter().copied()))?;
                if let Some(err) = answer.errors().first() {
                    return Err(from_code(
                        &what,
                        err.code().unwrap_or_default(),
                        None,
                        err.message().unwrap_or_default(),
                        values.iter().copied(),
                    ));
                }
            }
            let mut notes = Vec::new();
            if versioned && removed > 0 {
                notes.push(format!("versions and delete markers removed: {removed}"));
            }
            if gone > 0 {
                notes.push(format!("objects already gone: {gone}"));
            }
            outcomes.push(WriteOutcome { changed, notes });
        }
        Ok(outcomes)
    }
}

/// One object's record: the columns `wanted` keeps.
fn record(
    key: &str,
    entry: &Entry,
    headers: Option<&Headers>,
    sha256: Option<String>,
    versioned: bool,
    wanted: &dyn Fn(&str) -> bool,
) -> Row {
    let current = entry.current.as_ref();
    let mut row = Row::new();
    for c in RECORD_COLUMNS.iter().copied().filter(|c| wanted(c)) {
        let v = match c {
            "key" => Value::String(key.to_string()),
            "size" => current
                .and_then(|c| c.size)
                .map_or(Value::Null, Value::from),
            "etag" => text(current.and_then(|c| c.etag.as_deref())),
            "last_modified" => text(current.and_then(|c| c.last_modified.as_deref())),
            "content_type" => text(headers.and_then(|h| h.content_type.as_deref())),
            "metadata" => headers.map_or(Value::Null, |h| {
                Value::Object(
                    h.metadata
                        .iter()
                        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
                        .collect(),
                )
            }),
            "sha256" => text(sha256.as_deref()),
            "version_id" => text(current.and_then(|c| c.version_id.as_deref())),
            _ if versioned => Value::from(entry.version_ids.len()),
            _ => Value::Null,
        };
        row.insert(c.to_string(), v);
    }
    row
}

fn identifier(key: &str, version_id: Option<String>) -> Result<ObjectIdentifier, ConnectorError> {
    ObjectIdentifier::builder()
        .key(key)
        .set_version_id(version_id)
        .build()
        .map_err(|e| ConnectorError::Config(e.to_string()))
}

fn expand(t: &Template, values: &BTreeMap<String, Vec<Value>>) -> Option<Vec<template::Pattern>> {
    t.expand(values, template::escape_glob, |_| true, MAX_PATTERNS)
}

#[async_trait::async_trait]
impl Connector for S3Connector {
    async fn find(
        &self,
        req: &FindRequest<'_>,
        sink: &mut dyn RowSink,
    ) -> Result<u64, ConnectorError> {
        self.find_objects(req, sink).await
    }

    async fn key_columns(
        &self,
        _collection: &CollectionSpec,
    ) -> Result<Vec<String>, ConnectorError> {
        Ok(vec!["key".into()])
    }

    async fn write(
        &self,
        writes: &[WriteRequest<'_>],
    ) -> Result<Vec<WriteOutcome>, ConnectorError> {
        self.delete(writes).await
    }

    async fn find_by_keys(
        &self,
        req: &KeyLookup<'_>,
        sink: &mut dyn RowSink,
    ) -> Result<u64, ConnectorError> {
        check_key_columns(req.key_columns)?;
        let idle = req.idle_timeout;
        let versioned = self.versioned(idle).await?;
        let mut count = 0;
        for k in req.keys {
            let Some(key) = k.first().and_then(Value::as_str) else {
                continue;
            };
            let values: Vec<&Value> = k.iter().collect();
            if let Some(entry) = self.stored(key, versioned, idle, &values).await? {
                let mut row = Row::new();
                row.insert("key".into(), Value::String(key.to_string()));
                if versioned {
                    row.insert("versions".into(), Value::from(entry.version_ids.len()));
                }
                sink.row(row)?;
                count += 1;
            }
        }
        Ok(count)
    }
}


/// Opens an s3 system (lazily: nothing connects until the first call).
pub async fn open(
    system: &SystemSpec,
    cfg: &Config,
    base_dir: &Path,
) -> Result<std::sync::Arc<dyn Connector>, ConnectorError> {
    Ok(std::sync::Arc::new(S3Connector::open(system, cfg, base_dir)?))
}

#[cfg(test)]
mod tests;
