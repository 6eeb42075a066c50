//! The shared ledger on PostgreSQL: `--ledger postgres://USER@HOST/DB?schema=NAME` keeps the
//! requests, the journal and the queue in tables there, so that `dsr worker` and `dsr
//! run-due` processes on several machines share one queue.
//!
//! The tables live in a schema of their own (`dsr` unless the URL's `schema` parameter names
//! another), created on first use. Migrations run under a transaction-scoped advisory lock, so
//! workers that start together migrate once; the applied count is kept in `dsr_meta`.
//!
//! The URL may carry a password; dsr never shows it: [`PgLedger`]'s `Display` masks it, and
//! errors name the ledger by that masked form only.

use super::StateError;
use sha2::{Digest, Sha256};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use std::fmt;
use std::str::FromStr;
use std::sync::OnceLock;
use std::time::Duration;
use tokio::sync::OnceCell;

/// The default schema of the ledger's tables.
pub const DEFAULT_SCHEMA: &str = "dsr";

/// Schema changes on PostgreSQL, in step with the embedded ledger's migrations (entry N here
/// is entry N there, with PostgreSQL's types). Append only: never edit an entry that has
/// shipped. Text that is compared or sorted (ids, times) uses the "C" collation, so that it
/// orders byte by byte as on SQLite whatever the database's locale.
const MIGRATIONS: &[&str] = &[
    // 1: bookkeeping of the schema itself (made before the count is read; kept for the count).
    super::MIGRATIONS[0],
    // 2: the journal of change requests (erase, correct).
    r#"CREATE TABLE journal_requests (
        id TEXT COLLATE "C" PRIMARY KEY,
        action TEXT NOT NULL,
        subject TEXT NOT NULL,
        playbook_sha256 TEXT NOT NULL,
        request TEXT,
        status TEXT NOT NULL,
        created TEXT COLLATE "C" NOT NULL,
        updated TEXT COLLATE "C" NOT NULL
     );
     CREATE INDEX journal_requests_open ON journal_requests (action, subject, playbook_sha256, status);
     CREATE TABLE journal_steps (
        request_id TEXT COLLATE "C" NOT NULL REFERENCES journal_requests(id),
        system TEXT NOT NULL,
        collection TEXT NOT NULL,
        outcome TEXT NOT NULL,
        provided TEXT,
        changes TEXT,
        PRIMARY KEY (request_id, system, collection)
     );
     CREATE TABLE journal_writes (
        request_id TEXT COLLATE "C" NOT NULL REFERENCES journal_requests(id),
        system TEXT NOT NULL,
        status TEXT NOT NULL,
        detail TEXT NOT NULL,
        PRIMARY KEY (request_id, system)
     );"#,
    // 3: the request ledger.
    r#"CREATE TABLE requests (
        id TEXT COLLATE "C" PRIMARY KEY,
        action TEXT NOT NULL,
        subject_hash TEXT NOT NULL,
        regulation TEXT NOT NULL,
        received TEXT NOT NULL,
        due TEXT NOT NULL,
        due_utc TEXT COLLATE "C" NOT NULL,
        extension_reason TEXT,
        status TEXT NOT NULL,
        completed TEXT,
        deadline_met BOOLEAN,
        outcomes TEXT NOT NULL DEFAULT '{}',
        report_path TEXT,
        created TEXT COLLATE "C" NOT NULL
     );
     CREATE INDEX requests_due ON requests (status, due_utc);
     CREATE INDEX requests_subject ON requests (subject_hash);"#,
    // 4: the queue of requests due later.
    r#"CREATE TABLE queue (
        id TEXT COLLATE "C" PRIMARY KEY,
        action TEXT NOT NULL,
        subject TEXT NOT NULL,
        request TEXT,
        not_before TEXT COLLATE "C" NOT NULL,
        status TEXT NOT NULL,
        claimed_by TEXT,
        lease_until TEXT COLLATE "C",
        attempts BIGINT NOT NULL DEFAULT 0,
        last_error TEXT,
        created TEXT COLLATE "C" NOT NULL,
        updated TEXT COLLATE "C" NOT NULL
     );
     CREATE INDEX queue_due ON queue (status, not_before);"#,
    // 5: confirmations of manual steps (the same on both).
    super::MIGRATIONS[4],
    // 6: runner, extension decision and closing reason (the same on both).
    super::MIGRATIONS[5],
];

/// A bad `--ledger` / `DSR_LEDGER` / `ledger:` value. Names the URL only in masked form.
#[derive(Debug, thiserror::Error)]
pub enum LedgerUrlError {
    #[error("the ledger '{0}' is not a PostgreSQL URL")]
    NotPostgres(String),
    #[error("the ledger URL cannot be read: {0}")]
    Unreadable(String),
    #[error("the ledger's schema '{0}' is not a plain name")]
    BadSchema(String),
}

/// A shared ledger: where it is and the schema of its tables.
#[derive(Clone)]
pub struct PgLedger {
    options: PgConnectOptions,
    schema: String,
    shown: String,
}

impl fmt::Display for PgLedger {
    /// The URL with its password masked.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.shown)
    }
}

impl fmt::Debug for PgLedger {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PgLedger({})", self.shown)
    }
}

/// The URL with any password (in the user part or a `password` parameter) replaced by `***`.
pub fn masked(url: &url::Url) -> String {
    let mut shown = url.clone();
    if shown.password().is_some() {
        let _ = shown.set_password(Some("***"));
    }
    if shown.query_pairs().any(|(k, _)| k == "password") {
        let pairs: Vec<(String, String)> = shown
            .query_pairs()
            .map(|(k, v)| {
                let v = if k == "password" { "***".into() } else { v };
                (k.into_owned(), v.into_owned())
            })
            .collect();
        shown.query_pairs_mut().clear().extend_pairs(pairs);
    }
    shown.to_string()
}

/// A schema name dsr accepts: lower case letters, digits and `_`, starting with a letter or
/// `_`, at most 63 bytes (PostgreSQL's limit). It is still quoted wherever it is used.
fn plain_name(s: &str) -> bool {
    let mut chars = s.chars();
    s.len() <= 63
        && matches!(chars.next(), Some(c) if c.is_ascii_lowercase() || c == '_')
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

impl FromStr for PgLedger {
    type Err = LedgerUrlError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let url =
            url::Url::parse(text.trim()).map_err(|e| LedgerUrlError::Unreadable(e.to_string()))?;
        let shown = masked(&url);
        if !matches!(url.scheme(), "postgres" | "postgresql") {
            return Err(LedgerUrlError::NotPostgres(shown));
        }
        let mut schema = DEFAULT_SCHEMA.to_string();
        let mut rest = url.clone();
        let pairs: Vec<(String, String)> = url
            .query_pairs()
            .filter_map(|(k, v)| {
                if k == "schema" {
                    schema = v.into_owned();
                    None
                } else {
                    Some((k.into_owned(), v.into_owned()))
                }
            })
            .collect();
        if !plain_name(&schema) {
            return Err(LedgerUrlError::BadSchema(schema));
        }
        rest.set_query(None);
        if !pairs.is_empty() {
            rest.query_pairs_mut().extend_pairs(pairs);
        }
        // The driver's own message could quote the URL with its password: not shown.
        let options = PgConnectOptions::from_str(rest.as_str())
            .map_err(|_| {
                LedgerUrlError::Unreadable(format!(
                    "'{shown}' has settings PostgreSQL connections do not take"
                ))
            })?
            .options([("search_path", schema.as_str())])
            .application_name("dsr");
        Ok(Self {
            options,
            schema,
            shown,
        })
    }
}

impl PgLedger {
    pub fn schema(&self) -> &str {
        &self.schema
    }

    /// Connects and migrates. The first connection is made directly, so that a ledger that
    /// cannot be reached is an error at once rather than after the pool's retries.
    pub async fn connect(&self) -> Result<PgPool, StateError> {
        use sqlx::Connection;
        let wrap = |source| StateError::Ledger {
            shown: self.shown.clone(),
            source,
        };
        let mut first = sqlx::PgConnection::connect_with(&self.options)
            .await
            .map_err(wrap)?;
        migrate(&mut first, &self.schema).await.map_err(wrap)?;
        let _ = first.close().await;
        Ok(PgPoolOptions::new()
            .max_connections(8)
            .acquire_timeout(Duration::from_secs(30))
            .connect_lazy_with(self.options.clone()))
    }
}

/// The advisory lock that serialises migrations of one schema: a key derived from its name.
fn lock_key(schema: &str) -> i64 {
    let digest = Sha256::digest(format!("dsr ledger {schema}").as_bytes());
    let mut bytes = [0u8; 8];
    bytes.copy_from_slice(&digest[..8]);
    i64::from_be_bytes(bytes)
}

async fn migrate(conn: &mut sqlx::PgConnection, schema: &str) -> Result<(), sqlx::Error> {
    use sqlx::Connection;
    let mut tx = conn.begin().await?;
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(lock_key(schema))
        .execute(&mut *tx)
        .await?;
    // Only what is missing is created, so that once migrated the user needs no CREATE rights.
    let (has_schema, has_meta): (bool, bool) = sqlx::query_as(
        "SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1), \
                to_regclass(quote_ident($1) || '.dsr_meta') IS NOT NULL",
    )
    .bind(schema)
    .fetch_one(&mut *tx)
    .await?;
    if !has_schema {
        sqlx::raw_sql(&format!("CREATE SCHEMA \"{schema}\""))
            .execute(&mut *tx)
            .await?;
    }
    if !has_meta {
        sqlx::raw_sql(MIGRATIONS[0]).execute(&mut *tx).await?;
    }
    let done: Option<String> =
        sqlx::query_scalar("SELECT value FROM dsr_meta WHERE key = 'schema_version'")
            .fetch_optional(&mut *tx)
            .await?;
    let done: usize = done.and_then(|d| d.parse().ok()).unwrap_or(0);
    if done >= MIGRATIONS.len() {
        return tx.commit().await;
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(done.max(1)) {
        sqlx::raw_sql(sql).execute(&mut *tx).await?;
        tracing::debug!(schema, migration = i + 1, "shared ledger migrated");
    }
    sqlx::query(
        "INSERT INTO dsr_meta (key, value) VALUES ('schema_version', $1) \
         ON CONFLICT (key) DO UPDATE SET value = excluded.value",
    )
    .bind(MIGRATIONS.len().to_string())
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}

static CONFIGURED: OnceLock<PgLedger> = OnceLock::new();
static POOL: OnceCell<PgPool> = OnceCell::const_new();

/// Makes every [`super::State::open`] in this process use the shared ledger. The first call
/// wins (`--ledger`/`DSR_LEDGER` are configured before a playbook's `ledger:` is read).
pub fn configure(ledger: PgLedger) {
    let _ = CONFIGURED.set(ledger);
}

/// The shared ledger this process uses, if any.
pub fn configured() -> Option<&'static PgLedger> {
    CONFIGURED.get()
}

/// The process's connection pool to the shared ledger, connected and migrated on first use;
/// `None` when the embedded ledger is in use.
pub(super) async fn shared_pool() -> Result<Option<PgPool>, StateError> {
    let Some(ledger) = CONFIGURED.get() else {
        return Ok(None);
    };
    POOL.get_or_try_init(|| ledger.connect())
        .await
        .cloned()
        .map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_schema_and_never_shows_the_password() {
        let l: PgLedger =
            "postgres://dsr:s3cret@db.internal:5432/ops?schema=dsr_eu&sslmode=require"
                .parse()
                .unwrap();
        assert_eq!(l.schema(), "dsr_eu");
        assert_eq!(
            l.to_string(),
            "postgres://dsr:***@db.internal:5432/ops?schema=dsr_eu&sslmode=require"
        );
        assert!(!format!("{l:?}").contains("s3cret"));
        let l: PgLedger = "postgresql://u@h/db".parse().unwrap();
        assert_eq!(l.schema(), DEFAULT_SCHEMA);
        let e = "postgres://u:pw@h/db?schema=x;drop"
            .parse::<PgLedger>()
            .unwrap_err();
        assert!(matches!(e, LedgerUrlError::BadSchema(_)), "{e}");
        let e = "mysql://u:pw@h/db".parse::<PgLedger>().unwrap_err();
        assert_eq!(
            e.to_string(),
            "the ledger 'mysql://u:***@h/db' is not a PostgreSQL URL"
        );
        let e = "postgres://u@h/db?password=hunter2&schema=A"
            .parse::<PgLedger>()
            .unwrap_err();
        assert!(matches!(e, LedgerUrlError::BadSchema(_)));
        let l: PgLedger = "postgres://u@h/db?password=hunter2".parse().unwrap();
        assert!(!l.to_string().contains("hunter2"), "{l}");
        assert!("not a url".parse::<PgLedger>().is_err());
    }
}
