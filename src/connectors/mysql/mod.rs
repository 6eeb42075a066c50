//! MySQL and MariaDB. Column types are read from `information_schema` first, so every value
//! is selected in a form that decodes exactly: integers as integers, decimals and floats as
//! exact numbers (via their text), binary columns as `\x…` hex, JSON parsed, the rest as text.

use super::sql::{self, Dedup, Dialect as _, Statement, quote_backtick};
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
use sqlx::Row as _;
use sqlx::mysql::{
    MySql, MySqlArguments, MySqlConnectOptions, MySqlConnection, MySqlPool, MySqlPoolOptions,
    MySqlRow,
};
use sqlx::query::Query;
use std::collections::BTreeMap;
use std::str::FromStr;
use std::time::Duration;

pub struct MysqlConnector {
    tables: BTreeMap<String, Table>,
    options: MySqlConnectOptions,
    pool: MySqlPool,
    dialect: MysqlDialect,
    reach: sql::Reach,
}

/// MySQL's SQL: backtick quoting, `?` placeholders, values bound with their closest type.
struct MysqlDialect {
    schema: Option<String>,
    /// The system's `timeout`: also the longest one write statement waits for a row lock.
    timeout: Duration,
}

impl MysqlDialect {
    fn schema<'a>(&'a self, table: &'a TableName) -> Option<&'a String> {
        table.schema.as_ref().or(self.schema.as_ref())
    }
}

/// How a column is selected and decoded.
#[derive(Clone, Copy)]
enum Decode {
    Signed,
    Unsigned,
    Number,
    Json,
    Bytes,
    Text,
}

fn decode_for(data_type: &str, column_type: &str) -> Decode {
    let unsigned = column_type.contains("unsigned");
    match data_type {
        "tinyint" | "smallint" | "mediumint" | "int" | "integer" | "bigint" | "year" | "bit" => {
            if unsigned || data_type == "bit" {
                Decode::Unsigned
            } else {
                Decode::Signed
            }
        }
        "decimal" | "numeric" | "float" | "double" | "real" => Decode::Number,
        "json" => Decode::Json,
        "binary" | "varbinary" | "tinyblob" | "blob" | "mediumblob" | "longblob" => Decode::Bytes,
        _ => Decode::Text,
    }
}

fn select_expr(column: &str, decode: Decode) -> String {
    let c = format!("t.{}", quote_backtick(column));
    match decode {
        Decode::Signed => format!("CAST({c} AS SIGNED)"),
        Decode::Unsigned => format!("CAST({c} AS UNSIGNED)"),
        Decode::Bytes => format!("LOWER(HEX({c}))"),
        Decode::Number | Decode::Json | Decode::Text => format!("CAST({c} AS CHAR)"),
    }
}

fn decode_value(row: &MySqlRow, i: usize, decode: Decode) -> Result<Value, sqlx::Error> {
    Ok(match decode {
        Decode::Signed => row
            .try_get::<Option<i64>, _>(i)?
            .map(Value::from)
            .unwrap_or(Value::Null),
        Decode::Unsigned => row
            .try_get::<Option<u64>, _>(i)?
            .map(Value::from)
            .unwrap_or(Value::Null),
        Decode::Number => row
            .try_get::<Option<String>, _>(i)?
            .map(|s| sql::exact_number(&s))
            .unwrap_or(Value::Null),
        Decode::Json => row
            .try_get::<Option<String>, _>(i)?
            .map(|s| serde_json::from_str(&s).unwrap_or(Value::String(s)))
            .unwrap_or(Value::Null),
        Decode::Bytes => row
            .try_get::<Option<String>, _>(i)?
            .map(|h| Value::String(format!("\\x{h}")))
            .unwrap_or(Value::Null),
        Decode::Text => row
            .try_get::<Option<String>, _>(i)?
            .map(Value::String)
            .unwrap_or(Value::Null),
    })
}

/// A column's kind from its `DATA_TYPE`, and its length limit in characters.
fn column_kind(data_type: &str, max: Option<i64>) -> ColumnKind {
    match data_type {
        "char" | "varchar" | "tinytext" | "text" | "mediumtext" | "longtext" => ColumnKind::Text {
            max: max.and_then(|m| u64::try_from(m).ok()),
            // CHAR(n) pads on disk but reads back without the padding.
            padded: false,
        },
        "tinyint" | "smallint" | "mediumint" | "int" | "integer" | "bigint" | "decimal"
        | "numeric" | "float" | "double" | "real" | "bit" | "year" => ColumnKind::Number,
        "date" | "datetime" | "timestamp" => ColumnKind::Date,
        "json" => ColumnKind::Json,
        "binary" | "varbinary" | "tinyblob" | "blob" | "mediumblob" | "longblob" => {
            ColumnKind::Bytes
        }
        "enum" | "set" => ColumnKind::Enum,
        "uuid" => ColumnKind::Uuid,
        _ => ColumnKind::Other,
    }
}

/// Binds a JSON value with the closest MySQL type; text for anything else.
fn bind<'q>(
    q: Query<'q, MySql, MySqlArguments>,
    value: &Value,
) -> Query<'q, MySql, MySqlArguments> {
    match value {
        Value::Null => q.bind(None::<String>),
        Value::Number(n) if n.as_i64().is_some() => q.bind(n.as_i64()),
        Value::Number(n) if n.as_u64().is_some() => q.bind(n.as_u64()),
        Value::Bool(b) => q.bind(*b),
        other => q.bind(sql::value_text(other)),
    }
}

/// `(t.a, t.b) IN ((?, ?), (?, ?))` for `rows` keys.
fn key_condition(key_columns: &[String], rows: usize) -> String {
    sql::question_tuples(quote_backtick, key_columns, rows, "")
}

/// A table's columns: name, data type, column type.
struct Columns(Vec<(String, String, String)>);

impl Columns {
    fn names(&self) -> Vec<String> {
        self.0.iter().map(|(n, ..)| n.clone()).collect()
    }

    /// Selected columns with their decoding, in table order; `first` columns come first.
    fn selected(&self, columns: Option<&[String]>, first: &[String]) -> Vec<(String, Decode)> {
        let decode = |(n, dt, ct): &(String, String, String)| {
            (
                n.clone(),
                decode_for(&dt.to_ascii_lowercase(), &ct.to_ascii_lowercase()),
            )
        };
        let mut out: Vec<(String, Decode)> = first
            .iter()
            .filter_map(|k| self.0.iter().find(|(n, ..)| n == k))
            .map(decode)
            .collect();
        out.extend(
            self.0
                .iter()
                .filter(|(n, ..)| !first.contains(n) && columns.is_none_or(|cols| cols.contains(n)))
                .map(decode),
        );
        out
    }
}

impl MysqlConnector {
    /// The collection's table, as configured.
    fn table(&self, collection: &CollectionSpec) -> Result<&Table, ConnectorError> {
        sql::config::table(&self.tables, collection)
    }

    pub fn open(system: &SystemSpec, cfg: &Config, url: Secret) -> Result<Self, ConnectorError> {
        let options = MySqlConnectOptions::from_str(url.expose()).map_err(|_| {
            ConnectorError::Config("the connection url is not a valid mysql url".into())
        })?;
        let pool = MySqlPoolOptions::new()
            .max_connections(system.concurrency as u32)
            .acquire_timeout(system.timeout)
            .connect_lazy_with(options.clone());
        Ok(Self {
            reach: sql::Reach::new(url.expose(), 3306, system.timeout),
            options,
            pool,
            tables: cfg.tables.clone(),
            dialect: MysqlDialect {
                schema: cfg.schema.clone(),
                timeout: system.timeout,
            },
        })
    }

    fn schema<'a>(&'a self, table: &'a TableName) -> Option<&'a String> {
        self.dialect.schema(table)
    }

    fn qualified(&self, table: &TableName) -> String {
        self.dialect.qualified(table)
    }

    async fn columns(
        &self,
        table: &TableName,
        values: &[&Value],
    ) -> Result<Columns, ConnectorError> {
        let rows: Vec<(String, String, String)> = sqlx::query_as(
            "SELECT CAST(COLUMN_NAME AS CHAR), CAST(DATA_TYPE AS CHAR), CAST(COLUMN_TYPE AS CHAR) \
             FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = COALESCE(?, DATABASE()) AND TABLE_NAME = ? \
             ORDER BY ORDINAL_POSITION",
        )
        .bind(self.schema(table))
        .bind(&table.name)
        .fetch_all(&self.pool)
        .await
        .map_err(|e| sql::classify_values(e, values.iter().copied()))?;
        if rows.is_empty() {
            return Err(ConnectorError::NoTable(table.to_string()));
        }
        Ok(Columns(rows))
    }

    #[allow(clippy::too_many_arguments)]
    async fn stream(
        &self,
        query: &str,
        binds: &[&Value],
        selected: &[(String, Decode)],
        idle: Duration,
        values: &[&Value],
        dedup: &mut Dedup,
        sink: &mut dyn RowSink,
    ) -> Result<u64, ConnectorError> {
        let mut q = sqlx::query(query);
        for v in binds {
            q = bind(q, v);
        }
        let err = |e| sql::classify_values(e, values.iter().copied());
        sql::drain(q.fetch(&self.pool), idle, values, dedup, sink, |row| {
            let mut out = Row::new();
            for (i, (name, decode)) in selected.iter().enumerate() {
                out.insert(name.clone(), decode_value(&row, i, *decode).map_err(err)?);
            }
            Ok(out)
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
        let cols = self.columns(tn, &values).await?;
        sql::check_columns(&tn.to_string(), &cols.names(), req)?;
        let selected = cols.selected(req.columns, &[]);
        let select: Vec<String> = selected.iter().map(|(n, d)| select_expr(n, *d)).collect();
        let table = self.qualified(tn);
        let batches = sql::batches(req.matches, self.dialect.find_batch());
        let mut dedup = Dedup::new(sql::needs_dedup(&batches));
        let mut count = 0u64;
        for batch in &batches {
            let condition = sql::any_match(&self.dialect, &(), batch);
            let query = format!(
                "SELECT {} FROM {table} AS t WHERE {}",
                select.join(", "),
                condition.sql
            );
            let binds: Vec<&Value> = condition.params.iter().collect();
            count += self
                .stream(
                    &query,
                    &binds,
                    &selected,
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
        sql::write_keyed(
            &self.dialect,
            &self.pool,
            writes,
            &self.tables,
            &vec![(); writes.len()],
        )
        .await
    }
}

impl sql::Dialect for MysqlDialect {
    type Db = MySql;
    type Table = ();
    type Param = Value;

    fn qualified(&self, table: &TableName) -> String {
        match self.schema(table) {
            Some(s) => format!("{}.{}", quote_backtick(s), quote_backtick(&table.name)),
            None => quote_backtick(&table.name),
        }
    }

    fn key_chunk(&self, width: usize) -> usize {
        sql::IN_BATCH / width.max(1)
    }

    fn keys_in(&self, _: &(), key_columns: &[String], keys: &[&Vec<Value>]) -> Statement<Value> {
        Statement {
            sql: key_condition(key_columns, keys.len()),
            params: keys.iter().flat_map(|k| k.iter()).cloned().collect(),
        }
    }

    fn delete_from(&self, table: &str) -> String {
        // MySQL does not allow an alias on a single-table DELETE; name the table as `t`.
        format!("DELETE t FROM {table} AS t")
    }

    fn update_target(&self, table: &str) -> String {
        format!("{table} AS t")
    }

    fn find_batch(&self) -> usize {
        sql::IN_BATCH
    }

    fn matches(&self, _: &(), g: &MatchGroup, _first: usize) -> Statement<Value> {
        sql::question_match(g, quote_backtick, "LOWER", false)
    }

    fn assign(&self, _: &(), column: &str, _n: usize) -> String {
        format!("t.{} = ?", quote_backtick(column))
    }

    fn param(value: &Value) -> Value {
        value.clone()
    }

    fn time_limit(&self) -> Option<(String, Duration)> {
        // Whole seconds, at least one, instead of InnoDB's default 50 s.
        let sql = format!(
            "SET SESSION innodb_lock_wait_timeout = {}",
            self.timeout.as_millis().div_ceil(1000).max(1)
        );
        Some((sql, self.timeout))
    }

    fn timed_out(&self, e: &sqlx::Error) -> bool {
        // 1205: lock wait timeout exceeded.
        matches!(e, sqlx::Error::Database(db) if sql::mysql_number(db.as_ref()) == Some(1205))
    }

    fn execute<'c>(
        conn: &'c mut MySqlConnection,
        statement: Statement<Value>,
    ) -> BoxFuture<'c, Result<u64, sqlx::Error>> {
        Box::pin(async move {
            let Statement { sql, params } = statement;
            let mut q = sqlx::query(&sql);
            for v in &params {
                q = bind(q, v);
            }
            Ok(q.execute(conn).await?.rows_affected())
        })
    }
}

#[async_trait::async_trait]
impl Connector for MysqlConnector {
    async fn find(
        &self,
        req: &FindRequest<'_>,
        sink: &mut dyn RowSink,
    ) -> Result<u64, ConnectorError> {
        self.reach.check(self.pool.size()).await?;
        let result = self.find_rows(req, sink).await;
        sql::explain_pool_timeout(result, req.idle_timeout, req, async {
            use sqlx::Connection;
            sqlx::MySqlConnection::connect_with(&self.options)
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
        let table = &self.table(collection)?.name;
        let cols = self.columns(table, &[]).await?;
        let kind: Option<String> = sqlx::query_scalar(
            "SELECT CAST(TABLE_TYPE AS CHAR) FROM information_schema.TABLES WHERE TABLE_SCHEMA = COALESCE(?, DATABASE()) AND TABLE_NAME = ?",
        )
        .bind(self.schema(table))
        .bind(&table.name)
        .fetch_optional(&self.pool)
        .await
        .map_err(|e| sql::classify_values(e, []))?;
        if kind.as_deref() != Some("BASE TABLE") {
            return Err(ConnectorError::Config(format!(
                "{table} is a view or other non-table relation; dsr changes records in tables only"
            )));
        }
        let primary: Vec<String> = sqlx::query_scalar(
            "SELECT CAST(COLUMN_NAME AS CHAR) FROM information_schema.KEY_COLUMN_USAGE \
             WHERE TABLE_SCHEMA = COALESCE(?, DATABASE()) AND TABLE_NAME = ? AND CONSTRAINT_NAME = 'PRIMARY' ORDER BY ORDINAL_POSITION",
        )
        .bind(self.schema(table))
        .bind(&table.name)
        .fetch_all(&self.pool)
        .await
        .map_err(|e| sql::classify_values(e, []))?;
        sql::choose_key(
            &table.to_string(),
            self.table(collection)?.key.as_deref(),
            primary,
            &cols.names(),
        )
    }

    async fn column_types(
        &self,
        collection: &CollectionSpec,
    ) -> Result<Option<Vec<ColumnInfo>>, ConnectorError> {
        let table = &self.table(collection)?.name;
        let rows: Vec<(String, String, String, String, Option<i64>)> = sqlx::query_as(
            "SELECT CAST(COLUMN_NAME AS CHAR), CAST(DATA_TYPE AS CHAR), CAST(COLUMN_TYPE AS CHAR), \
             CAST(IS_NULLABLE AS CHAR), CAST(CHARACTER_MAXIMUM_LENGTH AS SIGNED) \
             FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = COALESCE(?, DATABASE()) AND TABLE_NAME = ? \
             ORDER BY ORDINAL_POSITION",
        )
        .bind(self.schema(table))
        .bind(&table.name)
        .fetch_all(&self.pool)
        .await
        .map_err(|e| sql::classify_values(e, []))?;
        if rows.is_empty() {
            return Err(ConnectorError::NoTable(table.to_string()));
        }
        // MariaDB's JSON is LONGTEXT with a `json_valid(col)` check; MySQL 8 has no
        // TABLE_NAME here and 5.7 no such table: there the type says JSON itself, and a failed
        // query only means no such checks are known.
        let checks: Vec<String> = sqlx::query_scalar(
            "SELECT CAST(CHECK_CLAUSE AS CHAR) FROM information_schema.CHECK_CONSTRAINTS \
             WHERE CONSTRAINT_SCHEMA = COALESCE(?, DATABASE()) AND TABLE_NAME = ?",
        )
        .bind(self.schema(table))
        .bind(&table.name)
        .fetch_all(&self.pool)
        .await
        .unwrap_or_default();
        Ok(Some(
            rows.into_iter()
                .map(|(name, data_type, column_type, nullable, max)| {
                    let json_check = format!("json_valid({})", quote_backtick(&name));
                    let (kind, declared) = if checks.iter().any(|c| c.trim() == json_check) {
                        (ColumnKind::Json, "json".to_string())
                    } else {
                        (
                            column_kind(&data_type.to_ascii_lowercase(), max),
                            column_type,
                        )
                    };
                    ColumnInfo {
                        name,
                        declared,
                        kind,
                        nullable: nullable.eq_ignore_ascii_case("YES"),
                    }
                })
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
            schema: self.schema(table).map(String::as_str),
            sample: 0,
        };
        let mut conn = self
            .pool
            .acquire()
            .await
            .map_err(|e| sql::classify_values(e, []))?;
        crate::discover::mysql::read_from(&mut conn, &opts)
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
            .columns(&self.table(req.collection)?.name, &values)
            .await?;
        let selected = cols.selected(req.columns, req.key_columns);
        let select: Vec<String> = selected.iter().map(|(n, d)| select_expr(n, *d)).collect();
        let table = self.qualified(&self.table(req.collection)?.name);
        let mut dedup = Dedup::new(false);
        let mut count = 0;
        let keys: Vec<&Vec<Value>> = req.keys.iter().collect();
        for chunk in keys.chunks(self.dialect.key_chunk(req.key_columns.len())) {
            let keys = self.dialect.keys_in(&(), req.key_columns, chunk);
            let query = format!(
                "SELECT {} FROM {table} AS t WHERE {}",
                select.join(", "),
                keys.sql
            );
            let binds: Vec<&Value> = keys.params.iter().collect();
            count += self
                .stream(
                    &query,
                    &binds,
                    &selected,
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

/// Opens a MySQL or MariaDB system (lazily: nothing connects until the first call).
pub async fn open(
    system: &SystemSpec,
    cfg: &Config,
    base_dir: &std::path::Path,
) -> Result<std::sync::Arc<dyn Connector>, ConnectorError> {
    let url = super::resolve_url(&cfg.url, base_dir)?;
    Ok(std::sync::Arc::new(MysqlConnector::open(system, cfg, url)?))
}
