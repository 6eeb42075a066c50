//! PostgreSQL. Rows are turned into JSON by the server (`to_json`), which keeps numeric
//! precision, time zones, arrays, JSON columns and bytea (as `\x…` hex) faithfully, and values
//! are bound as text and cast to the column's own type so that indexes are used.

use super::sql::{self, Dedup, Dialect as _, Statement, quote_double};
use super::{
    ColumnInfo, ColumnKind, Connector, ConnectorError, FindRequest, KeyLookup, MatchGroup, Row,
    RowSink, WriteOutcome, WriteRequest,
};
use crate::playbook::interpolate::Secret;
pub mod config;

use super::SystemSpec;
use super::sql::{Table, TableName};
use crate::playbook::CollectionSpec;
use config::Config;
use futures::future::BoxFuture;
use serde_json::Value;
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPool, PgPoolOptions};
use std::collections::BTreeMap;
use std::str::FromStr;
use std::time::Duration;

pub struct PostgresConnector {
    tables: BTreeMap<String, Table>,
    options: PgConnectOptions,
    pool: PgPool,
    dialect: PgDialect,
    reach: sql::Reach,
}

/// PostgreSQL's SQL: `$n` placeholders, values bound as text and cast to the column's type.
struct PgDialect {
    schema: Option<String>,
    /// The system's `timeout`: also the longest one write statement may wait (for a lock).
    timeout: Duration,
}

/// A parameter: one value as text, or one key column's values as a text array (`unnest`).
enum PgParam {
    Text(Option<String>),
    Texts(Vec<Option<String>>),
}

/// A table's columns and their SQL types, in table order.
struct Columns(Vec<(String, String)>);

impl Columns {
    fn names(&self) -> Vec<String> {
        self.0.iter().map(|(n, _)| n.clone()).collect()
    }

    fn type_of(&self, col: &str) -> String {
        self.0
            .iter()
            .find(|(n, _)| n == col)
            .map(|(_, t)| t.clone())
            .unwrap_or_else(|| "text".into())
    }
}

/// A column's kind from its base type (through a domain): name, category and length limit.
fn column_kind(type_name: &str, category: &str, max: Option<i64>) -> ColumnKind {
    let max = max.and_then(|m| u64::try_from(m).ok());
    match category {
        "S" => ColumnKind::Text {
            max,
            // `char(n)` pads with spaces and reads back padded; a bare `bpchar` does not.
            padded: type_name == "bpchar" && max.is_some(),
        },
        "N" => ColumnKind::Number,
        "B" => ColumnKind::Boolean,
        "D" if matches!(type_name, "date" | "timestamp" | "timestamptz") => ColumnKind::Date,
        "U" => match type_name {
            "uuid" => ColumnKind::Uuid,
            "json" | "jsonb" => ColumnKind::Json,
            "bytea" => ColumnKind::Bytes,
            _ => ColumnKind::Other,
        },
        "A" => ColumnKind::Array,
        "E" => ColumnKind::Enum,
        _ => ColumnKind::Other,
    }
}

fn texts<'a>(values: impl IntoIterator<Item = &'a Value>) -> Vec<Option<String>> {
    values
        .into_iter()
        .map(|v| {
            if v.is_null() {
                None
            } else {
                Some(sql::value_text(v))
            }
        })
        .collect()
}

impl PostgresConnector {
    /// The collection's table, as configured.
    fn table(&self, collection: &CollectionSpec) -> Result<&Table, ConnectorError> {
        sql::config::table(&self.tables, collection)
    }

    pub fn open(system: &SystemSpec, cfg: &Config, url: Secret) -> Result<Self, ConnectorError> {
        let options = PgConnectOptions::from_str(url.expose())
            .map_err(|_| {
                ConnectorError::Config("the connection url is not a valid postgres url".into())
            })?
            .application_name("dsr");
        let pool = PgPoolOptions::new()
            .max_connections(system.concurrency as u32)
            .acquire_timeout(system.timeout)
            .connect_lazy_with(options.clone());
        Ok(Self {
            reach: sql::Reach::new(url.expose(), 5432, system.timeout),
            options,
            pool,
            tables: cfg.tables.clone(),
            dialect: PgDialect {
                schema: cfg.schema.clone(),
                timeout: system.timeout,
            },
        })
    }

    fn qualified(&self, table: &TableName) -> String {
        self.dialect.qualified(table)
    }

    async fn columns(&self, table: &TableName) -> Result<Columns, sqlx::Error> {
        let rows: Vec<(String, String)> = sqlx::query_as(
            "SELECT a.attname::text, format_type(a.atttypid, a.atttypmod) FROM pg_attribute a \
             WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum",
        )
        .bind(self.qualified(table))
        .fetch_all(&self.pool)
        .await?;
        Ok(Columns(rows))
    }

    async fn existing_columns(
        &self,
        table: &TableName,
        values: &[&Value],
    ) -> Result<Columns, ConnectorError> {
        let cols = self
            .columns(table)
            .await
            .map_err(|e| sql::classify_values(e, values.iter().copied()))?;
        if cols.0.is_empty() {
            return Err(ConnectorError::NoTable(table.to_string()));
        }
        Ok(cols)
    }

    fn select_list(columns: Option<&[String]>, extra: &[String]) -> String {
        match columns {
            None => "t.*".to_string(),
            Some(cols) => {
                let mut all: Vec<&String> = extra.iter().collect();
                all.extend(cols.iter().filter(|c| !extra.contains(c)));
                all.iter()
                    .map(|c| format!("t.{}", quote_double(c)))
                    .collect::<Vec<_>>()
                    .join(", ")
            }
        }
    }

    /// `(t.k1, t.k2) IN (SELECT * FROM unnest($n::text[]::T1[], …))`, binding one text array
    /// per key column.
    fn key_condition(cols: &Columns, key_columns: &[String], first_param: usize) -> String {
        let lhs: Vec<String> = key_columns
            .iter()
            .map(|k| format!("t.{}", quote_double(k)))
            .collect();
        let arrays: Vec<String> = key_columns
            .iter()
            .enumerate()
            .map(|(i, k)| format!("${}::text[]::{}[]", first_param + i, cols.type_of(k)))
            .collect();
        format!(
            "({}) IN (SELECT * FROM unnest({}))",
            lhs.join(", "),
            arrays.join(", ")
        )
    }

    async fn stream(
        &self,
        query: &str,
        binds: Vec<PgParam>,
        idle: Duration,
        req_values: &[&Value],
        dedup: &mut Dedup,
        sink: &mut dyn RowSink,
    ) -> Result<u64, ConnectorError> {
        let mut q = sqlx::query_scalar::<_, String>(query);
        for b in binds {
            q = match b {
                PgParam::Text(t) => q.bind(t),
                PgParam::Texts(t) => q.bind(t),
            };
        }
        sql::drain(q.fetch(&self.pool), idle, req_values, dedup, sink, |text| {
            serde_json::from_str::<Row>(&text).map_err(|e| ConnectorError::Query {
                message: format!("unreadable row from the server: {e}"),
                transient: false,
            })
        })
        .await
    }

    async fn find_rows(
        &self,
        req: &FindRequest<'_>,
        sink: &mut dyn RowSink,
    ) -> Result<u64, ConnectorError> {
        let tn = &self.table(req.collection)?.name;
        let values: Vec<&Value> = sql::find_values(req).collect();
        let cols = self.existing_columns(tn, &values).await?;
        sql::check_columns(&tn.to_string(), &cols.names(), req)?;
        let table = self.qualified(tn);
        let select = Self::select_list(req.columns, &[]);
        let batches = sql::batches(req.matches, self.dialect.find_batch());
        let mut dedup = Dedup::new(sql::needs_dedup(&batches));
        let mut count = 0u64;
        for batch in &batches {
            let condition = sql::any_match(&self.dialect, &cols, batch);
            let query = format!(
                "SELECT to_json(x)::text FROM (SELECT {select} FROM {table} AS t WHERE {}) AS x",
                condition.sql
            );
            count += self
                .stream(
                    &query,
                    condition.params,
                    req.idle_timeout,
                    &values,
                    &mut dedup,
                    sink,
                )
                .await?;
        }
        Ok(count)
    }

    async fn write_all(
        &self,
        writes: &[WriteRequest<'_>],
    ) -> Result<Vec<WriteOutcome>, ConnectorError> {
        let values = sql::write_values(writes);
        // Column types first: the transaction holds a connection, and a pool of one (a system
        // with `concurrency: 1`) has no second one to give.
        let mut types = Vec::new();
        for w in writes {
            types.push(
                self.existing_columns(&self.table(w.collection)?.name, &values)
                    .await?,
            );
        }
        sql::write_keyed(&self.dialect, &self.pool, writes, &self.tables, &types).await
    }
}

impl sql::Dialect for PgDialect {
    type Db = sqlx::Postgres;
    type Table = Columns;
    type Param = PgParam;

    fn qualified(&self, table: &TableName) -> String {
        match table.schema.as_ref().or(self.schema.as_ref()) {
            Some(s) => format!("{}.{}", quote_double(s), quote_double(&table.name)),
            None => quote_double(&table.name),
        }
    }

    fn key_chunk(&self, _width: usize) -> usize {
        // Each key column is one array parameter, however many keys it holds.
        5_000
    }

    fn keys_in(
        &self,
        cols: &Columns,
        key_columns: &[String],
        keys: &[&Vec<Value>],
    ) -> Statement<PgParam> {
        Statement {
            sql: PostgresConnector::key_condition(cols, key_columns, 1),
            params: (0..key_columns.len())
                .map(|i| PgParam::Texts(texts(keys.iter().map(|k| &k[i]))))
                .collect(),
        }
    }

    fn find_batch(&self) -> usize {
        10_000
    }

    fn matches(&self, cols: &Columns, g: &MatchGroup, first: usize) -> Statement<PgParam> {
        match g.columns.as_slice() {
            // Compared as text, lower-cased: the values are lower-cased already.
            [col] if g.fold_case => Statement {
                sql: format!(
                    "lower(t.{}::text) = ANY(${first}::text[])",
                    quote_double(col)
                ),
                params: vec![PgParam::Texts(texts(g.tuples.iter().flatten()))],
            },
            [col] => Statement {
                sql: format!(
                    "t.{} = ANY(${first}::text[]::{}[])",
                    quote_double(col),
                    cols.type_of(col)
                ),
                params: vec![PgParam::Texts(texts(g.tuples.iter().flatten()))],
            },
            many => Statement {
                sql: PostgresConnector::key_condition(cols, many, first),
                params: (0..many.len())
                    .map(|i| PgParam::Texts(texts(g.tuples.iter().map(|t| &t[i]))))
                    .collect(),
            },
        }
    }

    fn assign(&self, cols: &Columns, column: &str, n: usize) -> String {
        format!(
            "{} = ${n}::text::{}",
            quote_double(column),
            cols.type_of(column)
        )
    }

    fn param(value: &Value) -> PgParam {
        PgParam::Text((!value.is_null()).then(|| sql::value_text(value)))
    }

    fn time_limit(&self) -> Option<(String, Duration)> {
        let sql = format!(
            "SET LOCAL statement_timeout = {}",
            self.timeout.as_millis().max(1)
        );
        Some((sql, self.timeout))
    }

    fn timed_out(&self, e: &sqlx::Error) -> bool {
        // 57014: query_canceled, which is what statement_timeout raises.
        matches!(e, sqlx::Error::Database(db) if db.code().as_deref() == Some("57014"))
    }

    fn execute<'c>(
        conn: &'c mut PgConnection,
        statement: Statement<PgParam>,
    ) -> BoxFuture<'c, Result<u64, sqlx::Error>> {
        Box::pin(async move {
            let Statement { sql, params } = statement;
            let mut q = sqlx::query(&sql);
            for p in params {
                q = match p {
                    PgParam::Text(t) => q.bind(t),
                    PgParam::Texts(t) => q.bind(t),
                };
            }
            Ok(q.execute(conn).await?.rows_affected())
        })
    }
}

#[async_trait::async_trait]
impl Connector for PostgresConnector {
    async fn find(
        &self,
        req: &FindRequest<'_>,
        sink: &mut dyn RowSink,
    ) -> Result<u64, ConnectorError> {
        self.reach.check(self.pool.size()).await?;
        let result = self.find_rows(req, sink).await;
        sql::explain_pool_timeout(result, req.idle_timeout, req, async {
            use sqlx::Connection;
            sqlx::PgConnection::connect_with(&self.options)
                .await?
                .close()
                .await
        })
        .await
    }

    async fn key_columns(
        &self,
        collection: &CollectionSpec,
    ) -> Result<Vec<String>, ConnectorError> {
        self.reach.check(self.pool.size()).await?;
        let table = self.qualified(&self.table(collection)?.name);
        let kind: Option<String> =
            sqlx::query_scalar("SELECT relkind::text FROM pg_class WHERE oid = to_regclass($1)")
                .bind(&table)
                .fetch_optional(&self.pool)
                .await
                .map_err(|e| sql::classify_values(e, []))?;
        match kind.as_deref() {
            None => {
                return Err(ConnectorError::NoTable(
                    self.table(collection)?.name.to_string(),
                ));
            }
            Some("r") | Some("p") => {}
            Some(_) => {
                return Err(ConnectorError::Config(format!(
                    "{} is a view or other non-table relation; dsr changes records in tables only",
                    self.table(collection)?.name
                )));
            }
        }
        let primary: Vec<String> = sqlx::query_scalar(
            "SELECT a.attname::text FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey) \
             WHERE i.indrelid = to_regclass($1) AND i.indisprimary ORDER BY array_position(i.indkey::int2[], a.attnum)",
        )
        .bind(&table)
        .fetch_all(&self.pool)
        .await
        .map_err(|e| sql::classify_values(e, []))?;
        let existing = self
            .existing_columns(&self.table(collection)?.name, &[])
            .await?
            .names();
        sql::choose_key(
            &self.table(collection)?.name.to_string(),
            self.table(collection)?.key.as_deref(),
            primary,
            &existing,
        )
    }

    async fn column_types(
        &self,
        collection: &CollectionSpec,
    ) -> Result<Option<Vec<ColumnInfo>>, ConnectorError> {
        // The base type decides (a domain over text is text); a domain may add NOT NULL and
        // carry the length limit itself.
        let rows: Vec<(String, String, bool, String, String, Option<i64>)> = sqlx::query_as(
            "SELECT a.attname::text, format_type(a.atttypid, a.atttypmod), \
             NOT (a.attnotnull OR (t.typtype = 'd' AND t.typnotnull)), b.typname::text, b.typcategory::text, \
             CASE WHEN b.typname IN ('varchar', 'bpchar') \
                  THEN NULLIF(COALESCE(NULLIF(a.atttypmod, -1), t.typtypmod), -1)::int8 - 4 END \
             FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid \
             JOIN pg_type b ON b.oid = CASE WHEN t.typtype = 'd' THEN t.typbasetype ELSE t.oid END \
             WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum",
        )
        .bind(self.qualified(&self.table(collection)?.name))
        .fetch_all(&self.pool)
        .await
        .map_err(|e| sql::classify_values(e, []))?;
        if rows.is_empty() {
            return Err(ConnectorError::NoTable(
                self.table(collection)?.name.to_string(),
            ));
        }
        Ok(Some(
            rows.into_iter()
                .map(
                    |(name, declared, nullable, type_name, category, max)| ColumnInfo {
                        name,
                        declared,
                        kind: column_kind(&type_name, &category, max),
                        nullable,
                    },
                )
                .collect(),
        ))
    }

    async fn write(
        &self,
        writes: &[WriteRequest<'_>],
    ) -> Result<Vec<WriteOutcome>, ConnectorError> {
        self.reach.check(self.pool.size()).await?;
        self.write_all(writes).await
    }

    fn transactional(&self) -> bool {
        true
    }

    async fn catalog(&self, table: &TableName) -> Result<crate::discover::Catalog, ConnectorError> {
        let opts = crate::discover::catalog::ReadOptions {
            schema: table.schema.as_deref().or(self.dialect.schema.as_deref()),
            sample: 0,
        };
        let mut conn = self
            .pool
            .acquire()
            .await
            .map_err(|e| sql::classify_values(e, []))?;
        crate::discover::postgres::read_from(&mut conn, &opts)
            .await
            .map_err(ConnectorError::from)
    }

    async fn find_by_keys(
        &self,
        req: &KeyLookup<'_>,
        sink: &mut dyn RowSink,
    ) -> Result<u64, ConnectorError> {
        self.reach.check(self.pool.size()).await?;
        let values: Vec<&Value> = req.keys.iter().flatten().collect();
        let cols = self
            .existing_columns(&self.table(req.collection)?.name, &values)
            .await?;
        let table = self.qualified(&self.table(req.collection)?.name);
        let select = Self::select_list(req.columns, req.key_columns);
        let mut dedup = Dedup::new(false);
        let mut count = 0;
        let keys: Vec<&Vec<Value>> = req.keys.iter().collect();
        for chunk in keys.chunks(self.dialect.key_chunk(req.key_columns.len())) {
            let keys = self.dialect.keys_in(&cols, req.key_columns, chunk);
            let query = format!(
                "SELECT to_json(x)::text FROM (SELECT {select} FROM {table} AS t WHERE {}) AS x",
                keys.sql
            );
            count += self
                .stream(
                    &query,
                    keys.params,
                    req.idle_timeout,
                    &values,
                    &mut dedup,
                    sink,
                )
                .await?;
        }
        Ok(count)
    }
}

/// Opens a PostgreSQL system (lazily: nothing connects until the first call).
pub async fn open(
    system: &SystemSpec,
    cfg: &Config,
    base_dir: &std::path::Path,
) -> Result<std::sync::Arc<dyn Connector>, ConnectorError> {
    let url = super::resolve_url(&cfg.url, base_dir)?;
    Ok(std::sync::Arc::new(PostgresConnector::open(system, cfg, url)?))
}
