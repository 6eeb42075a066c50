//! dsr's own state: the request ledger, the journal of running requests and the queue, plus
//! key material.
//!
//! The ledger is an embedded SQLite database in the state directory, or, with `--ledger
//! postgres://…`, tables in PostgreSQL that several workers share (see [`postgres`]). Every
//! query is written once with `$N` placeholders, which both backends accept; [`on_pool!`]
//! runs it on whichever pool is open.
//!
//! The state directory is `--state-dir`, `DSR_STATE_DIR`, `$XDG_STATE_HOME/dsr`, or
//! `~/.local/state/dsr`, created 0700; it always holds the key material. dsr holds personal
//! data in the ledger only while a request runs; a finished request keeps evidence (hashes,
//! counts, outcomes), not the data.

/// Runs `$body` with `$p` bound to the open pool, whichever backend it is: the same query
/// text and binds serve SQLite and PostgreSQL.
macro_rules! on_pool {
    ($pool:expr, $p:ident => $body:expr) => {
        match $pool {
            $crate::state::Pool::Sqlite($p) => $body,
            $crate::state::Pool::Postgres($p) => $body,
        }
    };
}

pub mod ledger;
pub mod postgres;

use crate::output::bundle::create_private_dir;
use sqlx::postgres::PgPool;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Schema changes, applied in order; `PRAGMA user_version` records how many ran.
/// Append only: never edit an entry that has shipped.
const MIGRATIONS: &[&str] = &[
    // 1: bookkeeping of the schema itself.
    "CREATE TABLE IF NOT EXISTS dsr_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);",
    // 2: the journal of change requests (erase, correct).
    "CREATE TABLE journal_requests (
        id TEXT PRIMARY KEY,
        action TEXT NOT NULL,
        subject TEXT NOT NULL,
        playbook_sha256 TEXT NOT NULL,
        request TEXT,
        status TEXT NOT NULL,
        created TEXT NOT NULL,
        updated TEXT NOT NULL
     );
     CREATE INDEX journal_requests_open ON journal_requests (action, subject, playbook_sha256, status);
     CREATE TABLE journal_steps (
        request_id TEXT NOT NULL REFERENCES journal_requests(id),
        system TEXT NOT NULL,
        collection TEXT NOT NULL,
        outcome TEXT NOT NULL,
        provided TEXT,
        changes TEXT,
        PRIMARY KEY (request_id, system, collection)
     );
     CREATE TABLE journal_writes (
        request_id TEXT NOT NULL REFERENCES journal_requests(id),
        system TEXT NOT NULL,
        status TEXT NOT NULL,
        detail TEXT NOT NULL,
        PRIMARY KEY (request_id, system)
     );",
    // 3: the request ledger (see ledger.rs).
    "CREATE TABLE requests (
        id TEXT PRIMARY KEY,
        action TEXT NOT NULL,
        subject_hash TEXT NOT NULL,
        regulation TEXT NOT NULL,
        received TEXT NOT NULL,
        due TEXT NOT NULL,
        due_utc TEXT NOT NULL,
        extension_reason TEXT,
        status TEXT NOT NULL,
        completed TEXT,
        deadline_met INTEGER,
        outcomes TEXT NOT NULL DEFAULT '{}',
        report_path TEXT,
        created TEXT NOT NULL
     );
     CREATE INDEX requests_due ON requests (status, due_utc);
     CREATE INDEX requests_subject ON requests (subject_hash);",
    // 4: the queue of requests due later (`dsr requests add`, `dsr run-due`).
    "CREATE TABLE queue (
        id TEXT PRIMARY KEY,
        action TEXT NOT NULL,
        subject TEXT NOT NULL,
        request TEXT,
        not_before TEXT NOT NULL,
        status TEXT NOT NULL,
        claimed_by TEXT,
        lease_until TEXT,
        attempts INTEGER NOT NULL DEFAULT 0,
        last_error TEXT,
        created TEXT NOT NULL,
        updated TEXT NOT NULL
     );
     CREATE INDEX queue_due ON queue (status, not_before);",
    // 5: confirmations of manual steps (`dsr requests confirm`).
    "CREATE TABLE confirmations (
        request_id TEXT NOT NULL,
        system TEXT NOT NULL,
        note TEXT NOT NULL,
        operator TEXT,
        at TEXT NOT NULL,
        PRIMARY KEY (request_id, system)
     );",
    // 6: what the ledger needs to tell open work from finished work: the process running a
    // request (to tell a live run from a killed one), when an extension was decided, and why a
    // request was closed by hand. The journal records its runner too, for a request killed
    // before it reached the ledger. Plain ALTERs: the same text runs on PostgreSQL.
    "ALTER TABLE requests ADD COLUMN runner TEXT;
     ALTER TABLE requests ADD COLUMN extension_decided TEXT;
     ALTER TABLE requests ADD COLUMN closed_reason TEXT;
     ALTER TABLE journal_requests ADD COLUMN runner TEXT;",
];

pub mod journal;
pub mod queue;
pub mod status;

#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("cannot use the state directory {path}: {source}")]
    Dir {
        path: String,
        source: std::io::Error,
    },
    #[error("the state database failed: {0}")]
    Db(#[from] sqlx::Error),
    #[error("no state directory: set DSR_STATE_DIR or HOME")]
    NoHome,
    #[error("cannot use the shared ledger at {shown}: {source}")]
    Ledger { shown: String, source: sqlx::Error },
    #[error(
        "the {what} in {path} is not the one the shared ledger's other workers use (fingerprint {mine}, the ledger's {theirs})\n  hint: give every machine on one ledger the same key files (see \"Sharing keys\" in the README)"
    )]
    KeyMismatch {
        what: &'static str,
        path: String,
        mine: String,
        theirs: String,
    },
    #[error("cannot read the keys in the state directory: {0}")]
    Keys(String),
    #[error("the state database holds an {0}")]
    Unknown(#[from] status::UnknownText),
}

/// Where dsr keeps its state.
pub fn state_dir(explicit: Option<&Path>) -> Result<PathBuf, StateError> {
    if let Some(p) = explicit {
        return Ok(p.to_path_buf());
    }
    if let Some(p) = std::env::var_os("XDG_STATE_HOME").filter(|p| !p.is_empty()) {
        return Ok(PathBuf::from(p).join("dsr"));
    }
    match std::env::var_os("HOME").filter(|p| !p.is_empty()) {
        Some(home) => Ok(PathBuf::from(home).join(".local/state/dsr")),
        None => Err(StateError::NoHome),
    }
}

/// The ledger's database: embedded, or shared on PostgreSQL.
#[derive(Clone, Debug)]
pub enum Pool {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// The open state: the directory with the key material, and the ledger's database.
#[derive(Clone)]
pub struct State {
    pub dir: PathBuf,
    pub pool: Pool,
}

impl State {
    /// Opens (creating if needed) the state directory and the ledger, and migrates it: the
    /// shared ledger when one is configured ([`postgres::configure`]), else the embedded
    /// database in the directory.
    pub async fn open(dir: &Path) -> Result<Self, StateError> {
        create_private_dir(dir)
            .and_then(|()| crate::output::bundle::make_private(dir))
            .map_err(|source| StateError::Dir {
                path: dir.display().to_string(),
                source,
            })?;
        if let Some(pool) = postgres::shared_pool().await? {
            let state = Self {
                dir: dir.to_path_buf(),
                pool: Pool::Postgres(pool),
            };
            state.check_shared_keys().await?;
            return Ok(state);
        }
        let file = dir.join(DB_FILE);
        private_db_file(&file).map_err(|source| StateError::Dir {
            path: file.display().to_string(),
            source,
        })?;
        // secure_delete: the journal's personal data, once cleared, is overwritten with zeros
        // rather than left in free pages of the file.
        //
        // synchronous = NORMAL: in WAL mode a commit is written to the log but the log is
        // fsynced only at checkpoints, not at every commit. A commit survives the process being
        // killed (kill -9, a crash, an OOM kill: the log is in the operating system's cache);
        // an operating-system crash or power loss can lose the last commits, never corrupt the
        // file. For the journal that is safe: a lost `written` mark is found again on resume by
        // verifying that the changes are in effect, a lost read step is read again, and the
        // signed report and the audit log are still fsynced on their own. FULL (the default)
        // fsyncs every commit, some 25 per erased subject, which made the state database the
        // bottleneck of a batch.
        let options = SqliteConnectOptions::new()
            .filename(&file)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .pragma("secure_delete", "ON")
            .busy_timeout(Duration::from_secs(10));
        // One connection: SQLite has one writer at a time anyway, and several connections of
        // one process writing at once wait for each other in SQLite's busy handler, which
        // sleeps (1 ms, 2 ms, 5 ms, ... between tries) instead of queueing. With one connection
        // the statements of concurrent requests queue in the pool and run back to back.
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options)
            .await?;
        migrate(&pool).await?;
        Ok(Self {
            dir: dir.to_path_buf(),
            pool: Pool::Sqlite(pool),
        })
    }
}

impl State {
    /// Opens `ledger` rather than the process's configured ledger: a fresh pool, migrated.
    pub async fn open_postgres(
        dir: &Path,
        ledger: &postgres::PgLedger,
    ) -> Result<Self, StateError> {
        Ok(Self {
            dir: dir.to_path_buf(),
            pool: Pool::Postgres(ledger.connect().await?),
        })
    }
}

impl State {
    /// On a shared ledger every worker must hash subjects and sign reports with the same keys,
    /// or the ledger would hold one person under several hashes and reports under several
    /// signers. The first worker records the fingerprints of its keys in the ledger; a worker
    /// whose keys differ stops here. The subject key is created on first use as always; the
    /// signing key is checked once this machine has one.
    pub async fn check_shared_keys(&self) -> Result<(), StateError> {
        use sha2::{Digest, Sha256};
        static CHECKED: tokio::sync::OnceCell<()> = tokio::sync::OnceCell::const_new();
        if CHECKED.initialized() {
            return Ok(());
        }
        let key = crate::subject::load_or_create_key(&self.dir)
            .map_err(|e| StateError::Keys(e.to_string()))?;
        let subject = hex::encode(
            &Sha256::digest([b"dsr subject key fingerprint ".as_slice(), &key].concat())[..16],
        );
        self.same_key("subject key", crate::subject::KEY_FILE, &subject)
            .await?;
        let signing =
            crate::signing::load(&self.dir).map_err(|e| StateError::Keys(e.to_string()))?;
        if let Some(signing) = signing {
            let fp = crate::signing::fingerprint(signing.public_key());
            self.same_key("signing key", crate::signing::PRIVATE_FILE, &fp)
                .await?;
            let _ = CHECKED.set(());
        }
        Ok(())
    }

    async fn same_key(&self, what: &'static str, file: &str, mine: &str) -> Result<(), StateError> {
        let name = format!("key:{file}");
        let theirs: String = on_pool!(&self.pool, p => {
            sqlx::query("INSERT INTO dsr_meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING")
                .bind(&name)
                .bind(mine)
                .execute(p)
                .await?;
            sqlx::query_scalar("SELECT value FROM dsr_meta WHERE key = $1")
                .bind(&name)
                .fetch_one(p)
                .await
        })?;
        if theirs != mine {
            return Err(StateError::KeyMismatch {
                what,
                path: self.dir.join(file).display().to_string(),
                mine: mine.to_string(),
                theirs,
            });
        }
        Ok(())
    }
}

/// The state database's file name in the state directory.
pub const DB_FILE: &str = "state.db";

/// Creates the database file 0600 before SQLite does (it would use the umask, often 0644), and
/// tightens one made by an older dsr. SQLite gives its `-wal` and `-shm` files the database
/// file's mode.
fn private_db_file(path: &Path) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(false);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let file = options.open(path)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if file.metadata()?.permissions().mode() & 0o077 != 0 {
            file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
        }
    }
    drop(file);
    Ok(())
}

impl State {
    /// Moves everything from the write-ahead log into the database file and empties the log,
    /// so that cleared data does not linger in old log frames. Best effort: a reader in
    /// another process can keep the log from being emptied; the next finish empties it.
    /// On the shared ledger it does nothing: PostgreSQL's write-ahead log and dead row versions
    /// are the server's to manage (see the README on VACUUM).
    pub async fn checkpoint(&self) {
        let Pool::Sqlite(pool) = &self.pool else {
            return;
        };
        if let Err(e) = sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
            .execute(pool)
            .await
        {
            tracing::debug!(error = %e, "state database checkpoint failed");
        }
    }
}

impl State {
    /// Records that a person carried out a request's manual step.
    pub async fn confirm(
        &self,
        request_id: &str,
        system: &str,
        note: &str,
        operator: Option<&str>,
    ) -> Result<(), StateError> {
        let at = crate::timestamp::now();
        on_pool!(&self.pool, p => sqlx::query(
            "INSERT INTO confirmations (request_id, system, note, operator, at) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (request_id, system) DO UPDATE SET note = excluded.note, operator = excluded.operator, at = excluded.at",
        )
        .bind(request_id)
        .bind(system)
        .bind(note)
        .bind(operator)
        .bind(&at)
        .execute(p)
        .await
        .map(|_| ()))?;
        Ok(())
    }

    /// A request's confirmed manual steps: system -> "note (by operator, at time)".
    pub async fn confirmations(
        &self,
        request_id: &str,
    ) -> Result<std::collections::BTreeMap<String, String>, StateError> {
        let rows: Vec<(String, String, Option<String>, String)> = on_pool!(&self.pool, p => sqlx::query_as(
            "SELECT system, note, operator, at FROM confirmations WHERE request_id = $1",
        )
        .bind(request_id)
        .fetch_all(p)
        .await)?;
        Ok(rows
            .into_iter()
            .map(|(system, note, operator, at)| {
                let by = operator.map(|o| format!(" by {o}")).unwrap_or_default();
                (system, format!("{note} ({}{by})", &at[..at.len().min(19)]))
            })
            .collect())
    }
}

async fn migrate(pool: &SqlitePool) -> Result<(), StateError> {
    let mut tx = pool.begin().await?;
    let done: i64 = sqlx::query_scalar("PRAGMA user_version")
        .fetch_one(&mut *tx)
        .await?;
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(done.max(0) as usize) {
        sqlx::raw_sql(sql).execute(&mut *tx).await?;
        sqlx::raw_sql(&format!("PRAGMA user_version = {}", i + 1))
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(())
}

/// Test ledgers on the test PostgreSQL (`DSR_TEST_PG_URL`), each in a schema of its own that
/// is dropped afterwards.
#[cfg(test)]
pub(crate) mod testing {
    use super::*;

    pub fn pg_url() -> String {
        std::env::var("DSR_TEST_PG_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
    }

    /// A unique schema name and its ledger.
    pub fn pg_ledger(tag: &str) -> postgres::PgLedger {
        let schema = format!("dsr_unit_{tag}_{}", uuid::Uuid::new_v4().simple());
        format!("{}?schema={}", pg_url(), &schema[..schema.len().min(63)])
            .parse()
            .unwrap()
    }

    pub async fn drop_schema(state: &State, ledger: &postgres::PgLedger) {
        if let Pool::Postgres(p) = &state.pool {
            sqlx::raw_sql(&format!("DROP SCHEMA \"{}\" CASCADE", ledger.schema()))
                .execute(p)
                .await
                .unwrap();
        }
    }

    /// Runs `test` on the embedded ledger and on a fresh shared one.
    pub async fn on_both<F, Fut>(tag: &str, test: F)
    where
        F: Fn(State) -> Fut,
        Fut: std::future::Future<Output = ()>,
    {
        let dir = tempfile::tempdir().unwrap();
        test(State::open(dir.path()).await.unwrap()).await;
        let ledger = pg_ledger(tag);
        let state = State::open_postgres(dir.path(), &ledger)
            .await
            .unwrap_or_else(|e| {
                panic!(
                    "PostgreSQL at {}: {e}; start it with scripts/services",
                    pg_url()
                )
            });
        test(state.clone()).await;
        drop_schema(&state, &ledger).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn opens_and_migrates_idempotently() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state");
        let s = State::open(&path).await.unwrap();
        let Pool::Sqlite(pool) = &s.pool else {
            panic!("the embedded ledger is the default")
        };
        let v: i64 = sqlx::query_scalar("PRAGMA user_version")
            .fetch_one(pool)
            .await
            .unwrap();
        assert_eq!(v as usize, MIGRATIONS.len());
        drop(s);
        State::open(&path).await.unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(
                std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
                0o700
            );
            let db = path.join(DB_FILE);
            assert_eq!(
                std::fs::metadata(&db).unwrap().permissions().mode() & 0o777,
                0o600
            );
            // A database made by an older dsr (with the umask's 0644) is tightened.
            std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o644)).unwrap();
            State::open(&path).await.unwrap();
            assert_eq!(
                std::fs::metadata(&db).unwrap().permissions().mode() & 0o777,
                0o600
            );
        }
    }

    #[tokio::test]
    async fn shared_ledgers_started_together_migrate_once() {
        let dir = tempfile::tempdir().unwrap();
        let ledger = testing::pg_ledger("migrate");
        let opens: Vec<_> = (0..4)
            .map(|_| State::open_postgres(dir.path(), &ledger))
            .collect();
        let states = futures::future::join_all(opens).await;
        let states: Vec<State> = states.into_iter().map(Result::unwrap).collect();
        let Pool::Postgres(pool) = &states[0].pool else {
            panic!("a shared ledger")
        };
        let version: String =
            sqlx::query_scalar("SELECT value FROM dsr_meta WHERE key = 'schema_version'")
                .fetch_one(pool)
                .await
                .unwrap();
        assert_eq!(
            version,
            MIGRATIONS.len().to_string(),
            "in step with the embedded ledger's migrations"
        );
        let tables: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = $1",
        )
        .bind(ledger.schema())
        .fetch_one(pool)
        .await
        .unwrap();
        assert_eq!(
            tables, 7,
            "dsr_meta, three journal tables, requests, queue, confirmations"
        );
        // Opening again changes nothing.
        State::open_postgres(dir.path(), &ledger).await.unwrap();
        testing::drop_schema(&states[0], &ledger).await;
    }

    #[tokio::test]
    async fn confirmations_on_both_ledgers() {
        testing::on_both("confirm", |s| async move {
            s.confirm("r1", "archive", "Shredded", Some("ops"))
                .await
                .unwrap();
            s.confirm("r1", "archive", "Shredded, box 12", None)
                .await
                .unwrap();
            let c = s.confirmations("r1").await.unwrap();
            assert_eq!(c.len(), 1);
            assert!(c["archive"].starts_with("Shredded, box 12 ("), "{c:?}");
        })
        .await;
    }
}
