//! Connectors: one implementation of [`Connector`] per kind of system.
//!
//! The executor only knows the trait. Each kind lives in its own folder: the connector, and in
//! `config.rs` its strict configuration, the checks of its own keys, its help text and its
//! capabilities ([`KindInfo`]). The closed [`ConnectorKind`] enum is the list a playbook may
//! name; one list in this file (`kinds!`) declares it, and the only matches on kinds are the
//! ones that list generates. [`configure`] runs the playbook's generic rules and every kind's
//! checks together.

pub mod addressing;
pub mod config;
pub mod configure;
pub mod sql;
pub mod template;

pub use configure::{Validated, open as open_playbook, open_offline as open_playbook_offline};
pub use sql::TableName;

use crate::playbook::CollectionSpec;
use crate::playbook::check::Checker;
use crate::playbook::model;
use config::Level;
use serde::Serialize;
use serde_json::Value;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// A system as connectors are opened with it: the generic part and its kind's configuration.
pub type SystemSpec = crate::playbook::validate::SystemSpec<KindConfig>;

/// One record as exported: column name -> value, in the source's column order.
pub type Row = serde_json::Map<String, Value>;

/// Declares the kinds: each one's module (its folder), its variant of [`ConnectorKind`] and
/// of [`KindConfig`], and the dispatch to its `config::KIND`, `config::configure` and `open`.
/// Adding a kind is its folder and one line in the list below.
macro_rules! kinds {
    ($( $(#[$doc:meta])* $variant:ident => $module:ident ),+ $(,)?) => {
        $( pub mod $module; )+

        /// The connector kinds a playbook may name.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
        #[serde(rename_all = "snake_case")]
        pub enum ConnectorKind {
            $( $(#[$doc])* $variant, )+
        }

        /// A system's kind with what it made of its own keys.
        #[derive(Debug, Clone)]
        pub enum KindConfig {
            $( $variant($module::config::Config), )+
        }

        impl ConnectorKind {
            /// Every kind, in the order `dsr connectors list` shows them.
            pub const ALL: &'static [ConnectorKind] = &[$( ConnectorKind::$variant ),+];

            /// What the kind declares of itself.
            pub fn info(self) -> &'static KindInfo {
                match self {
                    $( Self::$variant => &$module::config::KIND, )+
                }
            }

            /// Reads and checks a system's own keys (and its collections'), reporting to `c`.
            fn configure(
                self,
                c: &mut Checker<'_>,
                name: &str,
                sys: &model::System,
            ) -> Option<KindConfig> {
                Some(match self {
                    $( Self::$variant => KindConfig::$variant($module::config::configure(c, name, sys)?), )+
                })
            }
        }

        impl KindConfig {
            /// The kind this configuration is of.
            pub fn kind(&self) -> ConnectorKind {
                match self {
                    $( Self::$variant(_) => ConnectorKind::$variant, )+
                }
            }

            /// What the configuration tells the layers above.
            fn settings(&self) -> &dyn KindSettings {
                match self {
                    $( Self::$variant(c) => c, )+
                }
            }

            async fn open_connector(
                &self,
                system: &SystemSpec,
                base_dir: &Path,
            ) -> Result<Arc<dyn Connector>, ConnectorError> {
                match self {
                    $( Self::$variant(cfg) => $module::open(system, cfg, base_dir).await, )+
                }
            }
        }
    };
}

kinds! {
    Postgres => postgres,
    Mysql => mysql,
    Sqlite => sqlite,
    /// A SaaS API described by a YAML definition (`connectors/*.yaml`).
    Http => http,
    /// A signed JSON POST to an internal service.
    Webhook => webhook,
    /// A processor that speaks OpenDSR (formerly OpenGDPR).
    Opendsr => opendsr,
    Redis => redis,
    Files => files,
    /// Objects in an S3-compatible bucket.
    S3 => s3,
    /// A step a person carries out (a paper archive, a vendor reached by email): listed in the
    /// plan with its instructions; the request waits until someone confirms it.
    Manual => manual,
}

/// What a kind's configuration tells the layers above its connector (the plan, discover,
/// `validate --connect`); a kind answers what applies to it.
pub trait KindSettings {
    /// The collections' tables (SQL kinds).
    fn tables(&self) -> Option<&std::collections::BTreeMap<String, sql::Table>> {
        None
    }
    /// The default schema of unqualified table names.
    fn schema(&self) -> Option<&str> {
        None
    }
    /// The connection URL as written (with its references).
    fn url(&self) -> Option<&str> {
        None
    }
    /// The name `collection` has in the system, when it is not the collection's own.
    fn resource(&self, _collection: &str) -> Option<&str> {
        None
    }
    /// An API definition (http).
    fn definition(&self) -> Option<&Arc<http::definition::Definition>> {
        None
    }
    /// What a person must do (manual).
    fn instructions(&self) -> Option<&str> {
        None
    }
}

/// What a kind can do, for the plan, the executor and the generic rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Capabilities {
    /// Finds rows by comparing columns in a query: columns may match together row by row,
    /// text identities may be compared in any case.
    pub compares_columns: bool,
    /// Can change fields of a record (`dsr correct`); opaque objects cannot.
    pub correct: bool,
    /// Speaks HTTP through the shared client.
    pub http: bool,
}

/// What `dsr connectors list|show` says of a kind.
#[derive(Debug, Clone, Copy)]
pub struct Help {
    /// What the kind is, in one line.
    pub summary: &'static str,
    /// What a playbook must give it.
    pub needs: &'static [&'static str],
}

/// Everything about a kind that is not its connector: declared once, in its `config.rs`.
#[derive(Debug, Clone, Copy)]
pub struct KindInfo {
    pub name: &'static str,
    /// Other spellings `connector:` accepts.
    pub aliases: &'static [&'static str],
    /// The keys of a system of this kind besides the generic ones.
    pub system_keys: &'static [&'static str],
    /// The keys of one of its collections besides the generic ones.
    pub collection_keys: &'static [&'static str],
    pub capabilities: Capabilities,
    pub help: Help,
    /// For keys of other kinds written here by mistake: what to write instead.
    pub misplaced: &'static [(&'static str, &'static str)],
}

impl ConnectorKind {
    /// Parses a playbook's `connector:`; `mariadb` and `postgresql` are accepted spellings.
    /// A shipped definition's name (`stripe`) is an `http` connector; see
    /// [`http::definition::shipped`].
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL
            .iter()
            .copied()
            .find(|k| k.name() == s || k.info().aliases.contains(&s))
    }

    /// What `connector:` names: a kind, or a shipped definition (an `http` system).
    pub fn of_connector(s: &str) -> Option<Self> {
        Self::parse(s).or_else(|| {
            http::definition::SHIPPED
                .iter()
                .any(|(n, _)| *n == s)
                .then_some(Self::Http)
        })
    }

    pub fn name(self) -> &'static str {
        self.info().name
    }

    pub fn capabilities(self) -> Capabilities {
        self.info().capabilities
    }

    pub fn help(self) -> Help {
        self.info().help
    }

    /// The kind's own keys at `level`.
    pub fn keys(self, level: Level) -> &'static [&'static str] {
        match level {
            Level::System => self.info().system_keys,
            Level::Collection => self.info().collection_keys,
        }
    }

    /// What to write instead of `key`, a key of another kind.
    pub fn misplaced_hint(self, key: &str) -> Option<&'static str> {
        self.info()
            .misplaced
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, hint)| *hint)
    }

    /// Every name a playbook's `connector:` accepts: the kinds and the shipped definitions.
    pub fn names() -> Vec<&'static str> {
        let mut names: Vec<&'static str> = Self::ALL.iter().map(|k| k.name()).collect();
        names.extend(http::definition::SHIPPED.iter().map(|(n, _)| *n));
        names
    }
}

impl KindConfig {
    pub fn name(&self) -> &'static str {
        self.kind().name()
    }

    pub fn capabilities(&self) -> Capabilities {
        self.kind().capabilities()
    }

    /// The collections' tables, for the SQL kinds.
    pub fn tables(&self) -> Option<&std::collections::BTreeMap<String, sql::Table>> {
        self.settings().tables()
    }

    /// The default schema of unqualified table names (postgres, mysql).
    pub fn schema(&self) -> Option<&str> {
        self.settings().schema()
    }

    /// The connection URL as written (with its references), for the kinds that have one.
    pub fn url(&self) -> Option<&str> {
        self.settings().url()
    }

    /// Where `collection` lives, in the system's own terms: the table of a SQL system, the
    /// resource of an http one, else the collection's name.
    pub fn location_of(&self, collection: &str) -> String {
        if let Some(t) = self.tables().and_then(|t| t.get(collection)) {
            return t.name.to_string();
        }
        self.settings()
            .resource(collection)
            .unwrap_or(collection)
            .to_string()
    }

    /// An http system's API definition.
    pub fn definition(&self) -> Option<&Arc<http::definition::Definition>> {
        self.settings().definition()
    }

    /// A manual system's instructions.
    pub fn instructions(&self) -> Option<&str> {
        self.settings().instructions()
    }
}

/// Receives rows as a connector streams them, so memory does not grow with row count.
pub trait RowSink: Send {
    fn row(&mut self, row: Row) -> Result<(), SinkError>;
    /// Forget everything received so far (a retry starts over).
    fn reset(&mut self) -> Result<(), SinkError>;

    /// Receives a whole file that belongs to the record sent next (connectors whose records
    /// are files). `name` is a relative `/`-separated path, unique within the collection. A
    /// sink that keeps files (the export bundle) reads `content` to its end and returns true;
    /// the default keeps nothing, reads nothing and returns false.
    fn file(&mut self, _name: &str, _content: &mut dyn std::io::Read) -> Result<bool, SinkError> {
        Ok(false)
    }
}

#[derive(Debug, thiserror::Error)]
#[error("cannot write the export: {0}")]
pub struct SinkError(#[from] pub std::io::Error);

/// One condition of a find: rows whose `columns`, taken together, equal one of `tuples`.
///
/// A single column with many values is the common case (`email IN (…)`). Several columns come
/// from one upstream collection's rows (a composite key such as `(region, num)`): they match
/// row by row, never column by column, so a line of order (eu, 2) is not found because the
/// person has an order in `eu` and another numbered 2.
#[derive(Debug, Clone, PartialEq)]
pub struct MatchGroup {
    pub columns: Vec<String>,
    /// Each as long as `columns`; distinct; no nulls (a null never equals anything).
    pub tuples: Vec<Vec<Value>>,
    /// Compare `lower(column)` with the (already lower-cased) values; single columns only.
    pub fold_case: bool,
}

impl MatchGroup {
    /// One column compared with each of `values`.
    pub fn single(column: impl Into<String>, values: Vec<Value>) -> Self {
        Self {
            columns: vec![column.into()],
            tuples: values.into_iter().map(|v| vec![v]).collect(),
            fold_case: false,
        }
    }
}

/// A find: records of `collection` that satisfy any of `matches`. Each connector knows from
/// its own configuration where the collection lives (a table, key templates, a resource).
pub struct FindRequest<'a> {
    pub collection: &'a CollectionSpec,
    /// `None`: every column.
    pub columns: Option<&'a [String]>,
    pub matches: &'a [MatchGroup],
    /// Longest wait for the next row (or the first) before the call counts as hung.
    pub idle_timeout: Duration,
}

impl FindRequest<'_> {
    /// Each column with the values it is compared with, for connectors whose collections match
    /// on single columns only (validation refuses composite matches for them).
    pub fn by_column(&self) -> Vec<(String, Vec<Value>)> {
        let mut out: Vec<(String, Vec<Value>)> = Vec::new();
        for g in self.matches {
            for (i, column) in g.columns.iter().enumerate() {
                let values = g.tuples.iter().filter_map(|t| t.get(i).cloned());
                match out.iter_mut().find(|(c, _)| c == column) {
                    Some((_, v)) => v.extend(values),
                    None => out.push((column.clone(), values.collect())),
                }
            }
        }
        out
    }
}

/// What a write did.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct WriteOutcome {
    /// Records changed or erased (or erase jobs completed).
    pub changed: u64,
    /// Facts for the report (no personal data): jobs, already-gone records, responses.
    pub notes: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ConnectorError {
    #[error("cannot connect: {message}")]
    Connect { message: String, transient: bool },
    #[error("{message}")]
    Query { message: String, transient: bool },
    #[error("table {0} not found")]
    NoTable(String),
    #[error("column '{column}' not found in {table} (it has: {available})")]
    NoColumn {
        table: String,
        column: String,
        available: String,
    },
    #[error("cannot connect: timed out waiting for a connection")]
    PoolTimeout,
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    #[error(transparent)]
    Sink(#[from] SinkError),
    #[error("{0}")]
    Config(String),
    #[error("{0} is not supported by this connector")]
    Unsupported(&'static str),
}

impl ConnectorError {
    /// Worth retrying: the same call may succeed later.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Connect { transient, .. } | Self::Query { transient, .. } => *transient,
            Self::Timeout(_) | Self::PoolTimeout => true,
            _ => false,
        }
    }
}

/// A catalog read that failed. Discover's messages hold no secret and no value already; the
/// conversion lives here, above both, so the SQL helpers that discover uses know nothing of
/// discover.
impl From<crate::discover::DiscoverError> for ConnectorError {
    fn from(e: crate::discover::DiscoverError) -> Self {
        ConnectorError::Query {
            message: e.to_string(),
            transient: false,
        }
    }
}

/// One change to one record found in the read phase, addressed by its key.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct KeyedChange {
    /// Values of the key columns, in `WriteRequest::key_columns` order.
    pub key: Vec<Value>,
    /// `None` deletes the record; `Some` sets these columns to these values.
    pub set: Option<Row>,
}

/// The changes to one collection.
pub struct WriteRequest<'a> {
    pub collection: &'a CollectionSpec,
    pub key_columns: &'a [String],
    pub changes: &'a [KeyedChange],
}

/// Records of one collection looked up by key (verification after a write).
pub struct KeyLookup<'a> {
    pub collection: &'a CollectionSpec,
    pub key_columns: &'a [String],
    /// Columns to return besides the key (`None`: every column).
    pub columns: Option<&'a [String]>,
    pub keys: &'a [Vec<Value>],
    pub idle_timeout: Duration,
}

/// A column as the database declares it: what a planned write has to fit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColumnInfo {
    pub name: String,
    /// The type as the database shows it (`numeric(10,2)`, `varchar(5)`), for messages.
    pub declared: String,
    pub kind: ColumnKind,
    pub nullable: bool,
}

/// What kind of value a column holds, as far as masking cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnKind {
    /// Text, of at most `max` characters when limited; `padded` when the database pads shorter
    /// values with spaces and reads them back padded (PostgreSQL's `char(n)`).
    Text {
        max: Option<u64>,
        padded: bool,
    },
    /// Integers, decimals and floats.
    Number,
    /// SQLite's INTEGER and REAL columns outside STRICT tables: any text is stored as given,
    /// but text that reads as a number becomes that number.
    LooseNumber,
    Boolean,
    /// A date or a timestamp.
    Date,
    Uuid,
    Json,
    /// Binary data.
    Bytes,
    /// One of a fixed list of labels (enum, set).
    Enum,
    Array,
    /// Anything else (intervals, network addresses, types an extension adds): not checked.
    Other,
}

/// What every connector kind does.
#[async_trait::async_trait]
pub trait Connector: Send + Sync {
    /// Streams the matching rows into `sink`; returns how many there were.
    async fn find(
        &self,
        req: &FindRequest<'_>,
        sink: &mut dyn RowSink,
    ) -> Result<u64, ConnectorError>;

    /// The columns that address one record (primary key, resource id). The playbook's `key:`
    /// wins when it gives one.
    async fn key_columns(
        &self,
        _collection: &CollectionSpec,
    ) -> Result<Vec<String>, ConnectorError> {
        Err(ConnectorError::Unsupported("addressing records by key"))
    }

    /// Applies one system's writes in the order given (children before parents), in one
    /// transaction where the system has them: all or nothing. Returns, per request, the
    /// records changed and any facts worth reporting (jobs, records already gone).
    async fn write(
        &self,
        _writes: &[WriteRequest<'_>],
    ) -> Result<Vec<WriteOutcome>, ConnectorError> {
        Err(ConnectorError::Unsupported("changing records"))
    }

    /// The columns of the collection's table with their kinds and nullability, so that masks
    /// can be checked against them before anything is written. `None`: this kind of system has
    /// no typed columns to check.
    async fn column_types(
        &self,
        _collection: &CollectionSpec,
    ) -> Result<Option<Vec<ColumnInfo>>, ConnectorError> {
        Ok(None)
    }

    /// Whether `write` is all-or-nothing for a system.
    fn transactional(&self) -> bool {
        false
    }

    /// Streams the records that still exist among `keys` (what verification compares).
    async fn find_by_keys(
        &self,
        _req: &KeyLookup<'_>,
        _sink: &mut dyn RowSink,
    ) -> Result<u64, ConnectorError> {
        Err(ConnectorError::Unsupported("looking records up by key"))
    }

    /// The tables, primary keys and foreign keys of the schema `table` is in (for a name
    /// without one, the schema a find would use), read over this connector's own connections
    /// with nothing sampled. SQL systems only.
    async fn catalog(
        &self,
        _table: &TableName,
    ) -> Result<crate::discover::Catalog, ConnectorError> {
        Err(ConnectorError::Unsupported("reading the catalog"))
    }
}

/// Awaits `f` for at most `idle`; past it, the call counts as hung.
pub(crate) async fn timed<T>(
    idle: Duration,
    f: impl std::future::Future<Output = T>,
) -> Result<T, ConnectorError> {
    tokio::time::timeout(idle, f)
        .await
        .map_err(|_| ConnectorError::Timeout(idle))
}

/// For stores whose records are addressed by one `key` column (Redis keys, object keys).
pub(crate) fn check_key_only(kind: &str, key_columns: &[String]) -> Result<(), ConnectorError> {
    if key_columns != ["key"] {
        return Err(ConnectorError::Config(format!(
            "{kind} records are addressed by `key` only"
        )));
    }
    Ok(())
}

/// Makes ring the process's rustls crypto provider, once (later calls do nothing). Every TLS
/// client dsr has (HTTP, Redis, S3) speaks through rustls with ring, so only one provider is
/// compiled in; the HTTP client asks for the process's provider rather than choosing one.
pub fn install_tls_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// A connection URL with its references resolved.
pub(crate) fn resolve_url(
    url: &str,
    base_dir: &Path,
) -> Result<crate::playbook::interpolate::Secret, ConnectorError> {
    crate::playbook::interpolate::resolve(url, base_dir)
        .map_err(|e| ConnectorError::Config(e.to_string()))
}

/// Opens the connector for a system. Connections are made lazily, on the first call, so that
/// a system that is down fails its own steps and nothing else.
pub async fn open(
    system: &SystemSpec,
    base_dir: &Path,
) -> Result<Arc<dyn Connector>, ConnectorError> {
    if system.kind.capabilities().http {
        http::shared_client_ready().await?;
    }
    system.kind.open_connector(system, base_dir).await
}

#[cfg(test)]
mod tests {
    use super::http::definition::SHIPPED;

    /// The playbook layer knows no connector kind: nothing in it names this module or its
    /// kinds, so the kinds' configuration cannot creep back into it.
    #[test]
    fn the_playbook_layer_imports_nothing_of_the_connectors() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/playbook");
        let mut read = 0;
        for entry in std::fs::read_dir(&dir).expect("src/playbook") {
            let path = entry.expect("a directory entry").path();
            let text = std::fs::read_to_string(&path).expect("a source file");
            read += 1;
            for banned in ["crate::connectors", "ConnectorKind"] {
                assert!(!text.contains(banned), "{} names {banned}", path.display());
            }
        }
        assert!(read >= 10, "only {read} files read in {}", dir.display());
    }

    /// A definition dropped into `connectors/` but not embedded would never reach users, and
    /// an embedded one without its file would not be reviewable: the two lists must agree.
    #[test]
    fn every_definition_file_is_shipped() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("connectors");
        let mut on_disk: Vec<String> = std::fs::read_dir(&dir)
            .expect("the connectors directory")
            .map(|entry| entry.expect("a directory entry").path())
            .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
            .filter_map(|p| p.file_stem().map(|s| s.to_string_lossy().into_owned()))
            .collect();
        on_disk.sort();
        let mut shipped: Vec<String> = SHIPPED.iter().map(|(n, _)| n.to_string()).collect();
        shipped.sort();
        assert_eq!(on_disk, shipped, "connectors/*.yaml and SHIPPED differ");
    }
}
