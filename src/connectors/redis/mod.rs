//! Redis. A collection's records are keys, found by key templates (`session:{email}:*`, see
//! [`super::template`]) filled in with the match values. A template without wildcards is looked
//! up directly; one with wildcards is walked with `SCAN … MATCH` (never `KEYS`, which blocks
//! the server), and more than `max_keys` matching keys is an error rather than a silent cut.
//!
//! One record per key: `{key, type, ttl_ms, value}`, where `value` is a string (binary as
//! `\x…` hex), a hash as an object, a list as an array, a set as a sorted array, a sorted set
//! as `[{member, score}]` in score order, a stream as `[{id, fields}]`, and `ttl_ms` is `null`
//! for keys that do not expire. Keys that are not UTF-8 (or that start with `\x`) are written
//! as `\x…` hex, so every key read can be addressed again exactly.
//!
//! Other column names a collection uses (in `provides`, `fields` or an erase `mask`) are hash
//! fields: each record carries that field's value (null for keys that are not hashes).
//!
//! Erase: `delete` UNLINKs the keys; `mask` rewrites the listed hash fields (`null` deletes the
//! field) and only if the key is still a hash, so a key that expired between reading and
//! writing is never brought back. All of a system's changes go in one MULTI/EXEC: none of
//! these commands can fail on their own, so the server applies all of them or, if the
//! connection is lost before EXEC, none.

use super::sql::{exact_number, scrub, value_text};
use super::template::{self, Template};
use super::{Connector, ConnectorError, FindRequest, KeyLookup, Row, RowSink, WriteRequest, timed};
use crate::playbook::interpolate::Secret;
pub mod config;

use super::SystemSpec;
use crate::playbook::CollectionSpec;
use config::Config;
use redis::Value as R;
use redis::aio::MultiplexedConnection;
use serde_json::Value;
use std::collections::BTreeMap;
use std::collections::BTreeSet;
use std::time::Duration;
use tokio::sync::OnceCell;

/// The columns of every Redis record; any other column name is a hash field.
pub const RECORD_COLUMNS: [&str; 4] = ["key", "type", "ttl_ms", "value"];

/// Keys one collection may match for one request, unless the system sets `max_keys`.
pub const DEFAULT_MAX_KEYS: u64 = 10_000;

/// Keys asked for per SCAN call (a hint to the server, not a limit).
const SCAN_COUNT: u64 = 1_000;

/// Keys read per pipelined round trip.
const BATCH: usize = 200;

/// Patterns one collection may expand to (values × templates).
const MAX_PATTERNS: usize = 10_000;

/// Rewrites listed fields of a hash, only if the key is (still) a hash. ARGV holds triples
/// (field, `set`|`del`, value). Returns 1 when the key was a hash, else 0.
const MASK_SCRIPT: &str = "\
if redis.call('TYPE', KEYS[1]).ok ~= 'hash' then return 0 end
for i = 1, #ARGV, 3 do
  if ARGV[i + 1] == 'del' then
    redis.call('HDEL', KEYS[1], ARGV[i])
  else
    redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 2])
  end
end
return 1";

pub struct RedisConnector {
    client: redis::Client,
    conn: OnceCell<MultiplexedConnection>,
    max_keys: u64,
    /// Each collection's key templates.
    templates: BTreeMap<String, Vec<Template>>,
    /// The system's `timeout`, for the write phase (whose requests carry none).
    timeout: Duration,
}

impl RedisConnector {
    pub fn open(system: &SystemSpec, cfg: &Config, url: Secret) -> Result<Self, ConnectorError> {
        let client = redis::Client::open(url.expose()).map_err(|_| {
            ConnectorError::Config(
                "the connection url is not a valid redis url (redis://[user@]host:port/db, or rediss:// for TLS)"
                    .into(),
            )
        })?;
        Ok(Self {
            client,
            conn: OnceCell::new(),
            max_keys: cfg.max_keys.unwrap_or(DEFAULT_MAX_KEYS),
            templates: cfg.templates.clone(),
            timeout: system.timeout,
        })
    }

    /// The shared connection, made on first use. A failed attempt is not kept: the next call
    /// (a retry) tries again.
    async fn conn(&self, idle: Duration) -> Result<MultiplexedConnection, ConnectorError> {
        self.conn
            .get_or_try_init(|| async {
                tokio::time::timeout(idle, self.client.get_multiplexed_async_connection())
                    .await
                    .map_err(|_| ConnectorError::Timeout(idle))?
                    .map_err(|e| match classify(e, std::iter::empty()) {
                        // Whatever went wrong before the first command, the system could not
                        // be reached: say so.
                        ConnectorError::Query { message, transient } => {
                            ConnectorError::Connect { message, transient }
                        }
                        other => other,
                    })
            })
            .await
            .cloned()
    }
}

/// Turns a Redis error into a connector error, deciding whether a retry can help, with the
/// searched-for values scrubbed from the message (key names hold identities).
fn classify<'v>(
    e: redis::RedisError,
    values: impl IntoIterator<Item = &'v Value>,
) -> ConnectorError {
    let code = e.code().unwrap_or_default().to_string();
    if e.kind() == redis::ErrorKind::AuthenticationFailed
        || matches!(code.as_str(), "NOAUTH" | "WRONGPASS")
    {
        return ConnectorError::Connect {
            message: "authentication failed: check the user and password the url names".into(),
            transient: false,
        };
    }
    if code == "NOPERM" {
        return ConnectorError::Query {
            message: format!(
                "the user lacks a permission dsr needs ({}); it needs SCAN, TYPE, PTTL, the read commands, UNLINK and EVAL",
                scrub(e.detail().unwrap_or("NOPERM"), values)
            ),
            transient: false,
        };
    }
    if e.is_timeout() {
        return ConnectorError::Query {
            message: "the server did not answer in time".into(),
            transient: true,
        };
    }
    if e.is_io_error() || e.is_connection_refusal() || e.is_connection_dropped() {
        return ConnectorError::Connect {
            message: scrub(&e.to_string(), values),
            transient: true,
        };
    }
    let transient = matches!(
        code.as_str(),
        "LOADING" | "BUSY" | "TRYAGAIN" | "MASTERDOWN" | "CLUSTERDOWN"
    );
    ConnectorError::Query {
        message: scrub(&e.to_string(), values),
        transient,
    }
}

/// A key as it appears in records: its text, or `\x…` hex when it is not UTF-8 (or could be
/// mistaken for hex).
pub fn key_text(bytes: &[u8]) -> String {
    match std::str::from_utf8(bytes) {
        Ok(s) if !s.starts_with("\\x") => s.to_string(),
        _ => format!("\\x{}", hex::encode(bytes)),
    }
}

/// The inverse of [`key_text`].
pub fn key_bytes(v: &Value) -> Option<Vec<u8>> {
    let s = v.as_str()?;
    match s.strip_prefix("\\x") {
        Some(h) => hex::decode(h).ok(),
        None => Some(s.as_bytes().to_vec()),
    }
}

/// Text for data: UTF-8 as it is, anything else as `\x…` hex (as binary columns elsewhere).
fn data(bytes: &[u8]) -> Value {
    match std::str::from_utf8(bytes) {
        Ok(s) => Value::String(s.to_string()),
        Err(_) => Value::String(super::sql::bytes_text(bytes)),
    }
}

fn unexpected(what: &str) -> ConnectorError {
    ConnectorError::Query {
        message: format!("unexpected answer from the server to {what}"),
        transient: false,
    }
}

/// A reply as JSON, for the value of any type.
fn reply(v: R) -> Value {
    match v {
        R::Nil => Value::Null,
        R::Int(i) => Value::from(i),
        R::BulkString(b) => data(&b),
        R::SimpleString(s) => Value::String(s),
        R::Okay => Value::String("OK".into()),
        R::Double(d) => serde_json::Number::from_f64(d)
            .map(Value::Number)
            .unwrap_or(Value::String(d.to_string())),
        R::Boolean(b) => Value::Bool(b),
        R::VerbatimString { text, .. } => Value::String(text),
        R::Array(items) | R::Set(items) => Value::Array(items.into_iter().map(reply).collect()),
        R::Map(pairs) => Value::Object(
            pairs
                .into_iter()
                .map(|(k, v)| (text_of(k), reply(v)))
                .collect(),
        ),
        other => Value::String(format!("{other:?}")),
    }
}

fn text_of(v: R) -> String {
    match reply(v) {
        Value::String(s) => s,
        other => other.to_string(),
    }
}

/// Field/value pairs from HGETALL or XRANGE entries: a RESP3 map or a RESP2 flat array.
fn pairs(v: R) -> Vec<(R, R)> {
    match v {
        R::Map(p) => p,
        R::Array(items) => {
            let mut out = Vec::with_capacity(items.len() / 2);
            let mut it = items.into_iter();
            while let (Some(k), Some(v)) = (it.next(), it.next()) {
                out.push((k, v));
            }
            out
        }
        _ => Vec::new(),
    }
}

/// A sorted set from ZRANGE … WITHSCORES: RESP2 gives a flat array, RESP3 pairs.
fn zset(v: R) -> Value {
    let entries: Vec<(R, R)> = match v {
        R::Array(items) if items.iter().all(|i| matches!(i, R::Array(_))) && !items.is_empty() => {
            items
                .into_iter()
                .filter_map(|i| match i {
                    R::Array(mut p) if p.len() == 2 => {
                        let s = p.pop()?;
                        let m = p.pop()?;
                        Some((m, s))
                    }
                    _ => None,
                })
                .collect()
        }
        other => pairs(other),
    };
    Value::Array(
        entries
            .into_iter()
            .map(|(m, s)| {
                let score = match s {
                    R::Double(d) => exact_number(&d.to_string()),
                    other => exact_number(&text_of(other)),
                };
                let mut o = Row::new();
                o.insert("member".into(), reply(m));
                o.insert("score".into(), score);
                Value::Object(o)
            })
            .collect(),
    )
}

/// A stream from XRANGE: `[{id, fields}]`.
fn stream(v: R) -> Value {
    let R::Array(entries) = v else {
        return reply(v);
    };
    Value::Array(
        entries
            .into_iter()
            .map(|e| match e {
                R::Array(mut p) if p.len() == 2 => {
                    let fields = p.pop().unwrap_or(R::Nil);
                    let id = p.pop().unwrap_or(R::Nil);
                    let mut o = Row::new();
                    o.insert("id".into(), reply(id));
                    o.insert(
                        "fields".into(),
                        Value::Object(
                            pairs(fields)
                                .into_iter()
                                .map(|(k, v)| (text_of(k), reply(v)))
                                .collect(),
                        ),
                    );
                    Value::Object(o)
                }
                other => reply(other),
            })
            .collect(),
    )
}

/// The value of one key, by type; `None` when the key vanished in between.
fn value_of(kind: &str, v: R) -> Option<Value> {
    if matches!(v, R::Nil) {
        return None;
    }
    Some(match kind {
        "hash" => Value::Object(
            pairs(v)
                .into_iter()
                .map(|(k, v)| (text_of(k), reply(v)))
                .collect(),
        ),
        "set" => {
            let mut members = match reply(v) {
                Value::Array(a) => a,
                other => vec![other],
            };
            // SMEMBERS has no order; sorted, the export is the same every time.
            members.sort_by_key(value_text);
            Value::Array(members)
        }
        "zset" => zset(v),
        "stream" => stream(v),
        _ => reply(v),
    })
}

/// The columns a record carries: the standard ones asked for (all when `None`) and the hash
/// fields named by the request, the collection's `provides` and its erase mask.
struct Shape {
    standard: Vec<&'static str>,
    hash_fields: Vec<String>,
}

impl Shape {
    fn new(columns: Option<&[String]>, collection: &CollectionSpec) -> Self {
        let standard = match columns {
            None => RECORD_COLUMNS.to_vec(),
            Some(cols) => RECORD_COLUMNS
                .iter()
                .copied()
                .filter(|c| *c == "key" || cols.iter().any(|x| x == c))
                .collect(),
        };
        let mut hash_fields: Vec<String> = Vec::new();
        let named = columns
            .into_iter()
            .flatten()
            .chain(collection.provides.values());
        for c in named {
            if !RECORD_COLUMNS.contains(&c.as_str()) && !hash_fields.contains(c) {
                hash_fields.push(c.clone());
            }
        }
        Self {
            standard,
            hash_fields,
        }
    }
}

impl RedisConnector {
    /// Every key the templates match, sorted and without repeats.
    async fn matching_keys(
        &self,
        conn: &mut MultiplexedConnection,
        req: &FindRequest<'_>,
    ) -> Result<Vec<Vec<u8>>, ConnectorError> {
        let values = template::values_by_name(&req.by_column());
        let idle = req.idle_timeout;
        let err_values: Vec<&Value> = super::sql::find_values(req).collect();
        let classify = |e| classify(e, err_values.iter().copied());
        let mut keys: BTreeSet<Vec<u8>> = BTreeSet::new();
        let too_many = |n: u64| {
            ConnectorError::Config(format!(
                "more than {n} keys match {}; raise `max_keys` for the system or narrow the key templates",
                req.collection.id
            ))
        };
        let templates = self
            .templates
            .get(&req.collection.id.collection)
            .map_or(&[][..], Vec::as_slice);
        for t in templates {
            let patterns = expand(t, &values).ok_or_else(|| {
                ConnectorError::Config(format!(
                    "the key templates of {} expand to more than {MAX_PATTERNS} patterns",
                    req.collection.id
                ))
            })?;
            for p in patterns {
                if !p.wild {
                    keys.insert(p.literal.into_bytes());
                } else {
                    let mut cursor: u64 = 0;
                    loop {
                        let (next, batch): (u64, Vec<Vec<u8>>) = timed(
                            idle,
                            redis::cmd("SCAN")
                                .arg(cursor)
                                .arg("MATCH")
                                .arg(&p.pattern)
                                .arg("COUNT")
                                .arg(SCAN_COUNT)
                                .query_async(conn),
                        )
                        .await?
                        .map_err(classify)?;
                        keys.extend(batch);
                        if keys.len() as u64 > self.max_keys {
                            return Err(too_many(self.max_keys));
                        }
                        if next == 0 {
                            break;
                        }
                        cursor = next;
                    }
                }
                if keys.len() as u64 > self.max_keys {
                    return Err(too_many(self.max_keys));
                }
            }
        }
        Ok(keys.into_iter().collect())
    }
}

/// Reads `keys` (those that exist) as records of `shape` into `sink`.
async fn read_keys(
    conn: &mut MultiplexedConnection,
    keys: &[Vec<u8>],
    shape: &Shape,
    with_values: bool,
    idle: Duration,
    err_values: &[&Value],
    sink: &mut dyn RowSink,
) -> Result<u64, ConnectorError> {
    let classify = |e| classify(e, err_values.iter().copied());
    let mut count = 0;
    for chunk in keys.chunks(BATCH) {
        let mut meta = redis::pipe();
        for k in chunk {
            meta.cmd("TYPE").arg(k).cmd("PTTL").arg(k);
        }
        let meta: Vec<R> = timed(idle, meta.query_async(conn))
            .await?
            .map_err(classify)?;
        if meta.len() != chunk.len() * 2 {
            return Err(unexpected("TYPE"));
        }
        let mut present: Vec<(&Vec<u8>, String, Value)> = Vec::new();
        let mut it = meta.into_iter();
        for k in chunk {
            let (Some(kind), Some(ttl)) = (it.next(), it.next()) else {
                return Err(unexpected("TYPE"));
            };
            let kind = text_of(kind);
            if kind == "none" {
                continue;
            }
            let ttl = match ttl {
                R::Int(ms) if ms >= 0 => Value::from(ms),
                _ => Value::Null,
            };
            present.push((k, kind, ttl));
        }
        let mut fetch = redis::pipe();
        for (k, kind, _) in &present {
            match kind.as_str() {
                _ if !with_values => fetch.cmd("EXISTS").arg(*k),
                "string" => fetch.cmd("GET").arg(*k),
                "hash" => fetch.cmd("HGETALL").arg(*k),
                "list" => fetch.cmd("LRANGE").arg(*k).arg(0).arg(-1),
                "set" => fetch.cmd("SMEMBERS").arg(*k),
                "zset" => fetch.cmd("ZRANGE").arg(*k).arg(0).arg(-1).arg("WITHSCORES"),
                "stream" => fetch.cmd("XRANGE").arg(*k).arg("-").arg("+"),
                _ => fetch.cmd("EXISTS").arg(*k),
            };
            if !shape.hash_fields.is_empty() {
                if kind == "hash" {
                    fetch.cmd("HMGET").arg(*k).arg(&shape.hash_fields);
                } else {
                    fetch.cmd("EXISTS").arg(*k);
                }
            }
        }
        let fetched: Vec<R> = if present.is_empty() {
            Vec::new()
        } else {
            timed(idle, fetch.query_async(conn))
                .await?
                .map_err(classify)?
        };
        let mut it = fetched.into_iter();
        for (k, kind, ttl) in present {
            let raw = it.next().ok_or_else(|| unexpected("a read"))?;
            let fields = if shape.hash_fields.is_empty() {
                None
            } else {
                Some(it.next().ok_or_else(|| unexpected("HMGET"))?)
            };
            let known = matches!(
                kind.as_str(),
                "string" | "hash" | "list" | "set" | "zset" | "stream"
            );
            let value = if !with_values {
                Value::Null
            } else if known {
                match value_of(&kind, raw) {
                    Some(v) => v,
                    None => continue, // expired between TYPE and the read
                }
            } else {
                // A module type (JSON, bloom filter, ...): listed, its value not read.
                Value::Null
            };
            let mut row = Row::new();
            for c in &shape.standard {
                let v = match *c {
                    "key" => Value::String(key_text(k)),
                    "type" => Value::String(kind.clone()),
                    "ttl_ms" => ttl.clone(),
                    _ => value.clone(),
                };
                row.insert((*c).to_string(), v);
            }
            let field_values = match fields {
                Some(R::Array(vs)) if kind == "hash" => vs.into_iter().map(reply).collect(),
                _ => vec![Value::Null; shape.hash_fields.len()],
            };
            for (f, v) in shape.hash_fields.iter().zip(field_values) {
                row.insert(f.clone(), v);
            }
            sink.row(row)?;
            count += 1;
        }
    }
    Ok(count)
}

fn expand(
    t: &Template,
    values: &std::collections::BTreeMap<String, Vec<Value>>,
) -> Option<Vec<template::Pattern>> {
    t.expand(values, template::escape_glob, |_| true, MAX_PATTERNS)
}

fn check_key_columns(key_columns: &[String]) -> Result<(), ConnectorError> {
    super::check_key_only("redis", key_columns)
}

#[async_trait::async_trait]
impl Connector for RedisConnector {
    async fn find(
        &self,
        req: &FindRequest<'_>,
        sink: &mut dyn RowSink,
    ) -> Result<u64, ConnectorError> {
        let mut conn = self.conn(req.idle_timeout).await?;
        let keys = self.matching_keys(&mut conn, req).await?;
        let shape = Shape::new(req.columns, req.collection);
        let values: Vec<&Value> = super::sql::find_values(req).collect();
        read_keys(
            &mut conn,
            &keys,
            &shape,
            true,
            req.idle_timeout,
            &values,
            sink,
        )
        .await
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
    ) -> Result<Vec<super::WriteOutcome>, ConnectorError> {
        let timeout = self.timeout;
        let mut conn = self.conn(timeout).await?;
        let mut pipe = redis::pipe();
        pipe.atomic();
        let mut per_request = Vec::new();
        for w in writes {
            check_key_columns(w.key_columns)?;
            per_request.push(w.changes.len());
            for change in w.changes {
                let key =
                    change.key.first().and_then(key_bytes).ok_or_else(|| {
                        ConnectorError::Config("a change has no usable key".into())
                    })?;
                match &change.set {
                    None => {
                        pipe.cmd("UNLINK").arg(key);
                    }
                    Some(set) => {
                        let cmd = pipe.cmd("EVAL").arg(MASK_SCRIPT).arg(1).arg(key);
                        for (field, v) in set {
                            match v {
                                Value::Null => cmd.arg(field).arg("del").arg(""),
                                other => cmd.arg(field).arg("set").arg(value_text(other)),
                            };
                        }
                    }
                }
            }
        }
        if per_request.iter().all(|n| *n == 0) {
            return Ok(writes
                .iter()
                .map(|_| super::WriteOutcome::default())
                .collect());
        }
        let values = super::sql::write_values(writes);
        let results: Vec<R> = timed(timeout, pipe.query_async(&mut conn))
            .await?
            .map_err(|e| classify(e, values.iter().copied()))?;
        let mut it = results.into_iter();
        let mut counts = Vec::new();
        for n in per_request {
            let mut changed = 0u64;
            for _ in 0..n {
                if let Some(R::Int(i)) = it.next() {
                    changed += i.max(0) as u64;
                }
            }
            counts.push(changed);
        }
        Ok(counts
            .into_iter()
            .map(|changed| super::WriteOutcome {
                changed,
                notes: Vec::new(),
            })
            .collect())
    }

    fn transactional(&self) -> bool {
        true
    }

    async fn find_by_keys(
        &self,
        req: &KeyLookup<'_>,
        sink: &mut dyn RowSink,
    ) -> Result<u64, ConnectorError> {
        check_key_columns(req.key_columns)?;
        let mut conn = self.conn(req.idle_timeout).await?;
        let keys: Vec<Vec<u8>> = req
            .keys
            .iter()
            .filter_map(|k| k.first().and_then(key_bytes))
            .collect();
        let hash_fields: Vec<String> = req
            .columns
            .into_iter()
            .flatten()
            .filter(|c| !RECORD_COLUMNS.contains(&c.as_str()))
            .cloned()
            .collect();
        let shape = Shape {
            standard: vec!["key", "type"],
            hash_fields,
        };
        let values: Vec<&Value> = req.keys.iter().flatten().collect();
        read_keys(
            &mut conn,
            &keys,
            &shape,
            false,
            req.idle_timeout,
            &values,
            sink,
        )
        .await
    }
}


/// Opens a Redis system (lazily: nothing connects until the first call).
pub async fn open(
    system: &SystemSpec,
    cfg: &Config,
    base_dir: &std::path::Path,
) -> Result<std::sync::Arc<dyn Connector>, ConnectorError> {
    let url = super::resolve_url(&cfg.url, base_dir)?;
    Ok(std::sync::Arc::new(RedisConnector::open(system, cfg, url)?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn keys_round_trip_through_their_text() {
        for k in [
            b"session:a@b".to_vec(),
            vec![0xff, 0x00, b'k'],
            b"\\xnot-hex".to_vec(),
        ] {
            let text = key_text(&k);
            assert_eq!(key_bytes(&Value::String(text)).unwrap(), k);
        }
        assert_eq!(key_text(b"profile:1"), "profile:1");
        assert_eq!(key_text(&[0xff]), "\\xff");
    }

    #[test]
    fn values_are_faithful_for_both_protocols() {
        let resp2 = R::Array(vec![
            R::BulkString(b"a".to_vec()),
            R::BulkString(b"1.5".to_vec()),
            R::BulkString(b"b".to_vec()),
            R::BulkString(b"inf".to_vec()),
        ]);
        let resp3 = R::Array(vec![
            R::Array(vec![R::BulkString(b"a".to_vec()), R::Double(1.5)]),
            R::Array(vec![R::BulkString(b"b".to_vec()), R::Double(f64::INFINITY)]),
        ]);
        let expected = json!([{"member": "a", "score": 1.5}, {"member": "b", "score": "inf"}]);
        assert_eq!(zset(resp2), expected);
        assert_eq!(zset(resp3), expected);
        let hash = R::Map(vec![(
            R::BulkString(b"f".to_vec()),
            R::BulkString(vec![0xff]),
        )]);
        assert_eq!(value_of("hash", hash), Some(json!({"f": "\\xff"})));
        let set = R::Array(vec![
            R::BulkString(b"b".to_vec()),
            R::BulkString(b"a".to_vec()),
        ]);
        assert_eq!(value_of("set", set), Some(json!(["a", "b"])));
        assert_eq!(value_of("string", R::Nil), None);
    }
}
