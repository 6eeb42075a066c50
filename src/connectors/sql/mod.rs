//! What the SQL connectors share: identifier quoting, error classification, value scrubbing,
//! streaming with an idle timeout, and (in [`dialect`]) the write loop by key.

pub mod config;
mod dialect;

pub use config::{Table, TableName};

pub use dialect::{Dialect, Statement, any_match, question_match, question_tuples, write_keyed};

use super::{ConnectorError, FindRequest, MatchGroup};
use serde_json::Value;
use std::time::Duration;

/// Quotes an identifier for PostgreSQL and SQLite (`"a""b"`).
pub fn quote_double(ident: &str) -> String {
    format!("\"{}\"", ident.replace('"', "\"\""))
}

/// Quotes an identifier for MySQL/MariaDB (`` `a``b` ``).
pub fn quote_backtick(ident: &str) -> String {
    format!("`{}`", ident.replace('`', "``"))
}

/// How many values go into one `IN (…)` list.
pub const IN_BATCH: usize = 1000;

/// Splits the match conditions into batches of at most `size` bound values in total, keeping
/// each tuple whole and each group's columns with it.
pub fn batches(matches: &[MatchGroup], size: usize) -> Vec<Vec<MatchGroup>> {
    let mut out = Vec::new();
    let mut current: Vec<MatchGroup> = Vec::new();
    let mut count = 0;
    for group in matches {
        let width = group.columns.len().max(1);
        let per_batch = (size / width).max(1);
        for chunk in group.tuples.chunks(per_batch) {
            let values = chunk.len() * width;
            if count + values > size && !current.is_empty() {
                out.push(std::mem::take(&mut current));
                count = 0;
            }
            count += values;
            match current
                .iter_mut()
                .find(|g| g.columns == group.columns && g.fold_case == group.fold_case)
            {
                Some(g) => g.tuples.extend(chunk.iter().cloned()),
                None => current.push(MatchGroup {
                    columns: group.columns.clone(),
                    tuples: chunk.to_vec(),
                    fold_case: group.fold_case,
                }),
            }
        }
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

/// Whether rows can come back twice across batches (a row matched by two conditions whose
/// values landed in different batches), so the connector must drop repeats.
pub fn needs_dedup(batches: &[Vec<MatchGroup>]) -> bool {
    batches.len() > 1
        && batches
            .iter()
            .flatten()
            .map(|g| (&g.columns, g.fold_case))
            .collect::<std::collections::BTreeSet<_>>()
            .len()
            > 1
}

/// The SQL condition for one group: `t.c IN (…)`, `lower(t.c) IN (…)` or
/// `(t.a, t.b) IN (…)`, with `values` the placeholder list the dialect writes for the tuples.
pub fn group_condition(
    group: &MatchGroup,
    column: impl Fn(&str) -> String,
    fold: impl Fn(String) -> String,
    values: &str,
) -> String {
    match group.columns.as_slice() {
        [one] if group.fold_case => format!("{} IN ({values})", fold(column(one))),
        [one] => format!("{} IN ({values})", column(one)),
        many => {
            let lhs: Vec<String> = many.iter().map(|c| column(c)).collect();
            format!("({}) IN ({values})", lhs.join(", "))
        }
    }
}

/// `?, ?` for single columns, `(?, ?), (?, ?)` for tuples: MySQL's and SQLite's lists.
pub fn question_marks(group: &MatchGroup) -> String {
    let width = group.columns.len();
    if width == 1 {
        return vec!["?"; group.tuples.len()].join(", ");
    }
    let one = format!("({})", vec!["?"; width].join(", "));
    vec![one; group.tuples.len()].join(", ")
}

/// A value as text, for databases that compare against text parameters.
pub fn value_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Words that are the database's own, never a person's: a value equal to one of them (a
/// column holding `true`, a masked `null`) is left in the message, which otherwise would lose
/// the words that say what went wrong ("violates not-null constraint").
const SQL_WORDS: &str = "null not true false and or default unknown key primary unique \
    foreign check constraint column table relation row value values index type for from into \
    set where select insert update delete violates cannot entry duplicate integer text";

/// Values shorter than this are left alone: they are not identifying on their own, and
/// replacing them would scramble numbers and words the message needs.
const SCRUB_MIN_LEN: usize = 3;

/// Letters and digits. An underscore counts as a separator: paths and key names are built as
/// `export_42.json` or `user_alice`, and a value there must still be found.
fn is_word_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric()
}

/// Removes the request's values (identities, keys, values written) from a database's
/// message: errors end up in reports and logs, which must not hold personal data. Matching
/// ignores ASCII case, since a database may echo a value as it was stored. A value made only
/// of letters and digits is replaced as a whole token (so key `42` leaves `1428` and `42x`
/// alone); one with other characters (an email, a name with a space) is replaced wherever it
/// appears, since a message holding it anywhere holds it.
pub fn scrub<'v>(message: &str, values: impl IntoIterator<Item = &'v Value>) -> String {
    let mut texts: Vec<String> = values
        .into_iter()
        .filter(|v| !matches!(v, Value::Null | Value::Bool(_)))
        .map(value_text)
        .filter(|t| {
            t.chars().count() >= SCRUB_MIN_LEN
                && !SQL_WORDS
                    .split_whitespace()
                    .any(|w| w.eq_ignore_ascii_case(t.trim()))
        })
        .collect();
    // Longest first: "Alice Smith" goes as a whole before "Alice" could leave "Smith" behind.
    texts.sort_by_key(|t| std::cmp::Reverse(t.len()));
    texts.dedup();
    let mut out = message.to_string();
    for text in texts {
        out = replace_value(&out, &text);
    }
    out
}

/// `message` with every occurrence of `value` (ASCII case ignored) replaced by `[value]`.
fn replace_value(message: &str, value: &str) -> String {
    // ASCII lowering keeps every byte where it was, so positions found in the lowered copy
    // are positions in the message, on the same character boundaries.
    let hay = message.to_ascii_lowercase();
    let needle = value.to_ascii_lowercase();
    let whole_token = needle.bytes().all(is_word_byte);
    let bytes = hay.as_bytes();
    let mut out = String::with_capacity(message.len());
    let mut copied = 0;
    let mut from = 0;
    while let Some(found) = hay[from..].find(&needle) {
        let start = from + found;
        let end = start + needle.len();
        let bounded = !whole_token
            || ((start == 0 || !is_word_byte(bytes[start - 1]))
                && (end == bytes.len() || !is_word_byte(bytes[end])));
        if bounded {
            out.push_str(&message[copied..start]);
            out.push_str("[value]");
            copied = end;
            from = end;
        } else {
            // Step past this match's first character (not byte) and search again.
            from = start + hay[start..].chars().next().map_or(1, char::len_utf8);
        }
    }
    out.push_str(&message[copied..]);
    out
}

/// The values a find searches for.
pub fn find_values<'r>(req: &'r FindRequest<'_>) -> impl Iterator<Item = &'r Value> {
    req.matches
        .iter()
        .flat_map(|g| g.tuples.iter().flat_map(|t| t.iter()))
}

/// Turns an sqlx error from a find into a connector error.
pub fn classify(e: sqlx::Error, req: &FindRequest<'_>) -> ConnectorError {
    classify_values(e, find_values(req))
}

/// Turns an sqlx error into a connector error, deciding whether a retry can help, with the
/// given values scrubbed from the message.
pub fn classify_values<'v>(
    e: sqlx::Error,
    values: impl IntoIterator<Item = &'v Value>,
) -> ConnectorError {
    use std::io::ErrorKind as K;
    match e {
        sqlx::Error::Io(io) => {
            let transient = matches!(
                io.kind(),
                K::ConnectionRefused
                    | K::ConnectionReset
                    | K::ConnectionAborted
                    | K::TimedOut
                    | K::BrokenPipe
                    | K::UnexpectedEof
                    | K::NotConnected
            );
            ConnectorError::Connect {
                message: io.kind().to_string(),
                transient,
            }
        }
        sqlx::Error::PoolTimedOut => ConnectorError::PoolTimeout,
        sqlx::Error::Tls(_) => ConnectorError::Connect {
            message: "TLS handshake failed".into(),
            transient: false,
        },
        sqlx::Error::Configuration(_) => {
            ConnectorError::Config("the connection url is not valid".into())
        }
        sqlx::Error::Database(db) => {
            let code = db.code().map(|c| c.to_string()).unwrap_or_default();
            // MySQL's SQLSTATE is often the catch-all HY000: its error number says more.
            let number = mysql_number(db.as_ref());
            // PostgreSQL: serialization failure, deadlock, shutdown, connection exceptions.
            // MySQL: deadlock (1213), lock wait timeout (1205), server gone (2006/2013).
            let transient = matches!(
                code.as_str(),
                "40001" | "40P01" | "57P01" | "57P02" | "57P03"
            ) || code.starts_with("08")
                || matches!(number, Some(1213 | 1205 | 2006 | 2013));
            let message = scrub(db.message(), values);
            let message = if code.is_empty() {
                message
            } else {
                format!("{message} (code {code})")
            };
            if !transient
                && (message.contains("Access denied") || code == "28P01" || code == "28000")
            {
                return ConnectorError::Connect {
                    message,
                    transient: false,
                };
            }
            ConnectorError::Query { message, transient }
        }
        other => ConnectorError::Query {
            message: scrub(&other.to_string(), values),
            transient: false,
        },
    }
}

/// The key columns to use: the playbook's `key:` when given (checked against the table), else
/// the table's primary key.
pub fn choose_key(
    table: &str,
    declared: Option<&[String]>,
    primary: Vec<String>,
    existing: &[String],
) -> Result<Vec<String>, ConnectorError> {
    if let Some(cols) = declared {
        for c in cols {
            if !existing.contains(c) {
                return Err(ConnectorError::NoColumn {
                    table: table.to_string(),
                    column: c.clone(),
                    available: existing.join(", "),
                });
            }
        }
        return Ok(cols.to_vec());
    }
    if primary.is_empty() {
        return Err(ConnectorError::Config(format!(
            "{table} has no primary key: name the columns that identify one record with `key:` in the playbook"
        )));
    }
    Ok(primary)
}

/// Keys to delete, and (key, new values) to update.
pub type SplitChanges<'a> = (Vec<&'a Vec<Value>>, Vec<(&'a Vec<Value>, &'a super::Row)>);

/// The keys deleted and the rows updated by one write request.
pub fn split_changes(changes: &[super::KeyedChange]) -> SplitChanges<'_> {
    let mut deletes = Vec::new();
    let mut updates = Vec::new();
    for c in changes {
        match &c.set {
            None => deletes.push(&c.key),
            Some(set) => updates.push((&c.key, set)),
        }
    }
    (deletes, updates)
}

/// Every value a write touches (keys and new values), for scrubbing error messages.
pub fn write_values<'a>(writes: &'a [super::WriteRequest<'_>]) -> Vec<&'a Value> {
    writes
        .iter()
        .flat_map(|w| w.changes.iter())
        .flat_map(|c| c.key.iter().chain(c.set.iter().flat_map(|s| s.values())))
        .collect()
}

/// A pool that cannot connect only says it timed out; one direct connection attempt tells
/// why (refused, unknown host, bad password), which is what an operator needs to see.
pub async fn explain_pool_timeout<C>(
    result: Result<u64, ConnectorError>,
    idle: Duration,
    req: &FindRequest<'_>,
    connect: C,
) -> Result<u64, ConnectorError>
where
    C: std::future::Future<Output = Result<(), sqlx::Error>>,
{
    match result {
        Err(ConnectorError::PoolTimeout) => match tokio::time::timeout(idle, connect).await {
            Ok(Err(e)) => Err(classify(e, req)),
            _ => Err(ConnectorError::PoolTimeout),
        },
        other => other,
    }
}

/// Where a database server listens, so that a refused connection fails at once. The driver's
/// pool takes "connection refused" for a server that is still starting and retries it until
/// its acquire timeout (the system's `timeout`), so a server that is down would cost that long
/// for every call and every retry. One TCP connect before the pool's first connection tells.
pub struct Reach {
    addr: Option<(String, u16)>,
    timeout: Duration,
}

impl Reach {
    /// From a connection URL; URLs that name a socket (`?host=/run/…`, `?socket=…`) or no host
    /// are left to the driver.
    pub fn new(url: &str, default_port: u16, timeout: Duration) -> Self {
        let addr = url::Url::parse(url).ok().and_then(|u| {
            if u.query_pairs().any(|(k, _)| k == "host" || k == "socket") {
                return None;
            }
            let host = u.host_str()?.trim_matches(['[', ']']).to_string();
            (!host.is_empty()).then(|| (host, u.port().unwrap_or(default_port)))
        });
        Self { addr, timeout }
    }

    /// Fails with a transient connect error when the server refuses connections; does nothing
    /// once the pool holds a connection, or when the address cannot be tried.
    pub async fn check(&self, open_connections: u32) -> Result<(), ConnectorError> {
        let Some((host, port)) = &self.addr else {
            return Ok(());
        };
        if open_connections > 0 {
            return Ok(());
        }
        let connect = tokio::net::TcpStream::connect((host.as_str(), *port));
        match tokio::time::timeout(self.timeout, connect).await {
            Ok(Err(e)) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
                Err(ConnectorError::Connect {
                    message: e.kind().to_string(),
                    transient: true,
                })
            }
            // Anything else (a slow network, a name that does not resolve) is the driver's to
            // report, with its own reasons.
            _ => Ok(()),
        }
    }
}

/// Drops rows already seen, for finds split into batches over several columns.
#[derive(Default)]
pub struct Dedup {
    active: bool,
    seen: std::collections::HashSet<[u8; 32]>,
}

impl Dedup {
    pub fn new(active: bool) -> Self {
        Self {
            active,
            seen: Default::default(),
        }
    }

    /// True when the row is new (always, when dedup is off).
    pub fn first_time(&mut self, row: &super::Row) -> bool {
        if !self.active {
            return true;
        }
        use sha2::{Digest, Sha256};
        let digest: [u8; 32] = Sha256::digest(serde_json::to_vec(row).unwrap_or_default()).into();
        self.seen.insert(digest)
    }
}

/// Hands a query's rows to `sink` as `decode` turns them into records, dropping repeats, and
/// counts them. Waiting longer than `idle` for the next row counts as hung; errors are
/// scrubbed of the request's `values`.
pub async fn drain<R>(
    mut rows: futures::stream::BoxStream<'_, Result<R, sqlx::Error>>,
    idle: Duration,
    values: &[&Value],
    dedup: &mut Dedup,
    sink: &mut dyn super::RowSink,
    mut decode: impl FnMut(R) -> Result<super::Row, ConnectorError>,
) -> Result<u64, ConnectorError> {
    use futures::StreamExt;
    let mut count = 0;
    loop {
        let next = match tokio::time::timeout(idle, rows.next()).await {
            Err(_) => return Err(ConnectorError::Timeout(idle)),
            Ok(None) => break,
            Ok(Some(r)) => r.map_err(|e| classify_values(e, values.iter().copied()))?,
        };
        let row = decode(next)?;
        if dedup.first_time(&row) {
            sink.row(row)?;
            count += 1;
        }
    }
    Ok(count)
}

/// Checks that every column the request names exists; the error lists what does.
pub fn check_columns(
    table: &str,
    existing: &[String],
    req: &FindRequest<'_>,
) -> Result<(), ConnectorError> {
    let wanted = req
        .matches
        .iter()
        .flat_map(|g| g.columns.iter())
        .chain(req.columns.into_iter().flatten());
    for column in wanted {
        if !existing.iter().any(|e| e == column) {
            return Err(ConnectorError::NoColumn {
                table: table.to_string(),
                column: column.clone(),
                available: existing.join(", "),
            });
        }
    }
    Ok(())
}

/// Hex text for binary values: `\x` then lower-case hex, as PostgreSQL prints bytea.
pub fn bytes_text(bytes: &[u8]) -> String {
    format!("\\x{}", hex::encode(bytes))
}

/// Parses a decimal as an exact JSON number; falls back to text for NaN and the like.
pub fn exact_number(text: &str) -> Value {
    match serde_json::from_str::<serde_json::Number>(text.trim()) {
        Ok(n) => Value::Number(n),
        Err(_) => Value::String(text.to_string()),
    }
}

/// A MySQL/MariaDB error's number (1205: lock wait timeout, ...), if `db` is one.
pub fn mysql_number(db: &dyn sqlx::error::DatabaseError) -> Option<u16> {
    db.try_downcast_ref::<sqlx::mysql::MySqlDatabaseError>()
        .map(sqlx::mysql::MySqlDatabaseError::number)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn quotes_identifiers() {
        assert_eq!(quote_double("Order\"s"), "\"Order\"\"s\"");
        assert_eq!(quote_backtick("se`lect"), "`se``lect`");
    }

    #[test]
    fn batches_keep_columns_and_sizes() {
        let m = vec![
            MatchGroup::single("a", vec![json!(1), json!(2), json!(3)]),
            MatchGroup::single("b", vec![json!(4)]),
        ];
        let b = batches(&m, 2);
        assert_eq!(b.len(), 2);
        assert_eq!(
            b[0],
            vec![MatchGroup::single("a", vec![json!(1), json!(2)])]
        );
        assert_eq!(
            b[1],
            vec![
                MatchGroup::single("a", vec![json!(3)]),
                MatchGroup::single("b", vec![json!(4)])
            ]
        );
        assert!(needs_dedup(&b));
        assert!(!needs_dedup(&batches(&m, 10)));
    }

    #[test]
    fn tuples_stay_whole_across_batches() {
        let pair = MatchGroup {
            columns: vec!["region".into(), "num".into()],
            tuples: vec![
                vec![json!("eu"), json!(1)],
                vec![json!("us"), json!(2)],
                vec![json!("eu"), json!(3)],
            ],
            fold_case: false,
        };
        let b = batches(std::slice::from_ref(&pair), 5);
        // Two tuples (four values) fit in five; the third starts a new batch.
        assert_eq!(b.len(), 2);
        assert_eq!(b[0][0].tuples.len(), 2);
        assert_eq!(b[1][0].tuples, vec![vec![json!("eu"), json!(3)]]);
        assert!(!needs_dedup(&b));
        assert_eq!(question_marks(&b[1][0]), "(?, ?)");
        let cond = group_condition(&b[1][0], |c| format!("t.{c}"), |e| e, "(?, ?)");
        assert_eq!(cond, "(t.region, t.num) IN ((?, ?))");
    }

    #[test]
    fn scrub_keeps_sql_words_and_short_values() {
        let pg =
            "null value in column \"born\" of relation \"people\" violates not-null constraint";
        let values = [
            json!(null),
            json!(true),
            json!(false),
            json!(1),
            json!("null"),
        ];
        assert_eq!(scrub(pg, &values), pg);
        let words = [json!("NOT"), json!("Default"), json!("column"), json!("ab")];
        assert_eq!(
            scrub("Column 'x' cannot be NULL by default", &words),
            "Column 'x' cannot be NULL by default"
        );
        // A key is replaced as a whole token only: it does not eat longer numbers or names.
        assert_eq!(
            scrub("row 1428 in column 428x: key 428 (428)", [&json!(428)]),
            "row 1428 in column 428x: key [value] ([value])"
        );
        assert_eq!(
            scrub("see Annual report", [&json!("Ann")]),
            "see Annual report"
        );
    }

    #[test]
    fn scrub_removes_personal_values() {
        let values = [
            json!("alice@example.com"),
            json!("Alice Smith"),
            json!(1234567),
            json!("u1234"),
            json!("Alice"),
        ];
        let scrubbed = |m: &str| scrub(m, &values);
        assert_eq!(
            scrubbed("Duplicate entry 'alice@example.com' for key 'email'"),
            "Duplicate entry '[value]' for key 'email'"
        );
        assert_eq!(
            scrubbed("Key (name)=(Alice Smith) already exists."),
            "Key (name)=([value]) already exists."
        );
        assert_eq!(scrubbed("user 1234567 is locked"), "user [value] is locked");
        assert_eq!(scrubbed("Alice's row"), "[value]'s row");
        // Inside a longer token: a value with punctuation is removed wherever it appears, and
        // an underscore separates (paths and key names are built like this).
        assert_eq!(
            scrubbed("cannot read x_alice@example.com.json"),
            "cannot read x_[value].json"
        );
        assert_eq!(
            scrubbed("cannot read exports/u1234_data.json"),
            "cannot read exports/[value]_data.json"
        );
        assert_eq!(scrubbed("to xalice@example.com"), "to x[value]");
        // Databases may echo a value in the case it was stored in.
        assert_eq!(scrubbed("entry 'Alice@Example.COM'"), "entry '[value]'");
    }

    #[test]
    fn exact_numbers_keep_every_digit() {
        assert_eq!(
            exact_number("12345678901234567890.123456789").to_string(),
            "12345678901234567890.123456789"
        );
        assert_eq!(exact_number("NaN"), json!("NaN"));
    }
}
