//! SQLite. Values are decoded by their stored type (SQLite is dynamically typed), so an
//! integer stays an integer and a blob becomes `\x…` hex. A system may name a `seed` SQL
//! file: when the database file does not exist yet it is created from it, atomically.

use super::sql::{self, Dedup, Dialect as _, Statement, quote_double};
use super::{
    ColumnInfo, ColumnKind, Connector, ConnectorError, FindRequest, KeyLookup, MatchGroup, Row,
    RowSink, WriteOutcome, WriteRequest,
};
use crate::playbook::interpolate;
pub mod config;

use super::SystemSpec;
use super::sql::{Table, TableName};
use crate::playbook::CollectionSpec;
use config::{Config, Location};
use futures::future::BoxFuture;
use serde_json::Value;
use sqlx::Sqlite;
use sqlx::query::Query;
use sqlx::sqlite::SqliteArguments;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteConnection, SqlitePool, SqlitePoolOptions, SqliteRow,
};
use sqlx::{Row as _, TypeInfo, ValueRef};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

pub struct SqliteConnector {
    pool: SqlitePool,
    tables: BTreeMap<String, Table>,
}

impl SqliteConnector {
    /// The collection's table, as configured.
    fn table(&self, collection: &CollectionSpec) -> Result<&Table, ConnectorError> {
        sql::config::table(&self.tables, collection)
    }

    pub async fn open(
        system: &SystemSpec,
        cfg: &Config,
        base_dir: &Path,
    ) -> Result<Self, ConnectorError> {
        let resolve = |t: &str| {
            interpolate::resolve(t, base_dir).map_err(|e| ConnectorError::Config(e.to_string()))
        };
        let options = match &cfg.location {
            Location::Url(url) => {
                SqliteConnectOptions::from_str(resolve(url)?.expose()).map_err(|_| {
                    ConnectorError::Config("the connection url is not a valid sqlite url".into())
                })?
            }
            Location::Path(path) => {
                let file = base_dir.join(resolve(path)?.expose());
                if let Some(seed) = &cfg.seed {
                    seed_if_missing(&file, &base_dir.join(seed)).await?;
                }
                if !file.is_file() {
                    return Err(ConnectorError::Config(format!(
                        "database file {} not found",
                        file.display()
                    )));
                }
                SqliteConnectOptions::new().filename(file)
            }
        };
        let pool = SqlitePoolOptions::new()
            .max_connections(system.concurrency as u32)
            .acquire_timeout(system.timeout)
            .connect_lazy_with(options);
        Ok(Self {
            pool,
            tables: cfg.tables.clone(),
        })
    }
}

/// Creates `file` from the SQL in `seed` unless it exists. Written to a temporary file and
/// renamed, so a concurrent run never sees a half-seeded database.
async fn seed_if_missing(file: &Path, seed: &Path) -> Result<(), ConnectorError> {
    if file.exists() {
        return Ok(());
    }
    let sql_text = tokio::fs::read_to_string(seed).await.map_err(|e| {
        ConnectorError::Config(format!("cannot read seed {}: {}", seed.display(), e.kind()))
    })?;
    if let Some(dir) = file.parent() {
        tokio::fs::create_dir_all(dir).await.map_err(|e| {
            ConnectorError::Config(format!("cannot create {}: {}", dir.display(), e.kind()))
        })?;
    }
    let tmp = PathBuf::from(format!("{}.seed-{}", file.display(), std::process::id()));
    let options = SqliteConnectOptions::new()
        .filename(&tmp)
        .create_if_missing(true);
    let result = async {
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options)
            .await?;
        sqlx::raw_sql(&sql_text).execute(&pool).await?;
        pool.close().await;
        Ok::<(), sqlx::Error>(())
    }
    .await;
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(ConnectorError::Config(format!(
            "seeding {} failed: {e}",
            file.display()
        )));
    }
    std::fs::rename(&tmp, file).map_err(|e| {
        ConnectorError::Config(format!("cannot create {}: {}", file.display(), e.kind()))
    })?;
    Ok(())
}

fn decode(row: &SqliteRow, i: usize) -> Result<Value, sqlx::Error> {
    let raw = row.try_get_raw(i)?;
    if raw.is_null() {
        return Ok(Value::Null);
    }
    let kind = raw.type_info().name().to_string();
    Ok(match kind.as_str() {
        "INTEGER" => Value::from(row.try_get_unchecked::<i64, _>(i)?),
        "REAL" => serde_json::Number::from_f64(row.try_get_unchecked::<f64, _>(i)?)
            .map(Value::Number)
            .unwrap_or(Value::Null),
        "BLOB" => Value::String(sql::bytes_text(&row.try_get_unchecked::<Vec<u8>, _>(i)?)),
        _ => Value::String(row.try_get_unchecked::<String, _>(i)?),
    })
}

/// Binds a JSON value with the closest SQLite type.
fn bind<'q>(
    q: Query<'q, Sqlite, SqliteArguments<'q>>,
    value: &Value,
) -> Query<'q, Sqlite, SqliteArguments<'q>> {
    match value {
        Value::Null => q.bind(None::<String>),
        Value::Number(n) if n.as_i64().is_some() => q.bind(n.as_i64()),
        Value::Number(n) if n.as_f64().is_some() => q.bind(n.as_f64()),
        Value::Bool(b) => q.bind(*b),
        other => q.bind(sql::value_text(other)),
    }
}

/// A column's kind from its declared type. Outside STRICT tables SQLite stores any value in
/// any column, so only the numeric affinities matter (text that reads as a number becomes
/// one); STRICT tables refuse values of another type, like the other databases.
fn column_kind(declared: &str, strict: bool) -> ColumnKind {
    let t = declared.to_ascii_uppercase();
    if strict {
        return match t.as_str() {
            "INT" | "INTEGER" | "REAL" => ColumnKind::Number,
            "TEXT" => ColumnKind::Text {
                max: None,
                padded: false,
            },
            "BLOB" => ColumnKind::Bytes,
            _ => ColumnKind::Other,
        };
    }
    // SQLite's affinity rules, in their order (https://sqlite.org/datatype3.html).
    if t.contains("INT") {
        ColumnKind::LooseNumber
    } else if t.contains("CHAR") || t.contains("CLOB") || t.contains("TEXT") {
        ColumnKind::Text {
            max: None,
            padded: false,
        }
    } else if t.contains("BLOB") || t.is_empty() {
        ColumnKind::Other
    } else if t.contains("REAL") || t.contains("FLOA") || t.contains("DOUB") {
        ColumnKind::LooseNumber
    } else {
        ColumnKind::Other
    }
}

/// `(t.a, t.b) IN (VALUES (?, ?), (?, ?))` for `rows` keys: SQLite's tuple list.
fn key_condition(key_columns: &[String], rows: usize) -> String {
    sql::question_tuples(quote_double, key_columns, rows, "VALUES ")
}

/// SQLite's SQL: double-quoted identifiers, `?` placeholders, values bound with their closest
/// type. It has no per-statement time limit to set: a locked database is waited for as long
/// as the connection's busy timeout says.
struct SqliteDialect;

impl SqliteConnector {
    fn qualified(table: &TableName) -> (String, String) {
        let schema = table.schema.clone().unwrap_or_else(|| "main".into());
        let q = format!("{}.{}", quote_double(&schema), quote_double(&table.name));
        (schema, q)
    }

    async fn column_names(
        &self,
        table: &TableName,
        values: &[&Value],
    ) -> Result<Vec<String>, ConnectorError> {
        let (schema, _) = Self::qualified(table);
        let names: Vec<String> = sqlx::query_scalar("SELECT name FROM pragma_table_info(?, ?)")
            .bind(&table.name)
            .bind(&schema)
            .fetch_all(&self.pool)
            .await
            .map_err(|e| sql::classify_values(e, values.iter().copied()))?;
        if names.is_empty() {
            return Err(ConnectorError::NoTable(table.to_string()));
        }
        Ok(names)
    }

    #[allow(clippy::too_many_arguments)]
    async fn stream(
        &self,
        query: &str,
        binds: &[&Value],
        selected: &[String],
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
            for (i, name) in selected.iter().enumerate() {
                out.insert(name.clone(), decode(&row, i).map_err(err)?);
            }
            Ok(out)
        })
        .await
    }

    async fn write_all(
        &self,
        writes: &[WriteRequest<'_>],
    ) -> Result<Vec<WriteOutcome>, ConnectorError> {
        sql::write_keyed(
            &SqliteDialect,
            &self.pool,
            writes,
            &self.tables,
            &vec![(); writes.len()],
        )
        .await
    }
}

impl sql::Dialect for SqliteDialect {
    type Db = Sqlite;
    type Table = ();
    type Param = Value;

    fn qualified(&self, table: &TableName) -> String {
        SqliteConnector::qualified(table).1
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

    fn find_batch(&self) -> usize {
        sql::IN_BATCH
    }

    fn matches(&self, _: &(), g: &MatchGroup, _first: usize) -> Statement<Value> {
        sql::question_match(g, quote_double, "lower", true)
    }

    fn assign(&self, _: &(), column: &str, _n: usize) -> String {
        format!("{} = ?", quote_double(column))
    }

    fn param(value: &Value) -> Value {
        value.clone()
    }

    fn time_limit(&self) -> Option<(String, Duration)> {
        None
    }

    fn timed_out(&self, _: &sqlx::Error) -> bool {
        false
    }

    fn execute<'c>(
        conn: &'c mut SqliteConnection,
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
impl Connector for SqliteConnector {
    async fn find(
        &self,
        req: &FindRequest<'_>,
        sink: &mut dyn RowSink,
    ) -> Result<u64, ConnectorError> {
        let tn = &self.table(req.collection)?.name;
        let values: Vec<&Value> = sql::find_values(req).collect();
        let names = self.column_names(tn, &values).await?;
        sql::check_columns(&tn.to_string(), &names, req)?;
        let selected: Vec<String> = match req.columns {
            Some(cols) => names.iter().filter(|n| cols.contains(n)).cloned().collect(),
            None => names.clone(),
        };
        let select: Vec<String> = selected
            .iter()
            .map(|c| format!("t.{}", quote_double(c)))
            .collect();
        let (_, table) = Self::qualified(tn);
        let batches = sql::batches(req.matches, SqliteDialect.find_batch());
        let mut dedup = Dedup::new(sql::needs_dedup(&batches));
        let mut count = 0u64;
        for batch in &batches {
            let condition = sql::any_match(&SqliteDialect, &(), batch);
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

    async fn key_columns(
        &self,
        collection: &CollectionSpec,
    ) -> Result<Vec<String>, ConnectorError> {
        let table = &self.table(collection)?.name;
        let (schema, _) = Self::qualified(table);
        let names = self.column_names(table, &[]).await?;
        let master = if schema == "main" {
            "sqlite_schema".to_string()
        } else {
            format!("{}.sqlite_schema", quote_double(&schema))
        };
        let kind: Option<String> =
            sqlx::query_scalar(&format!("SELECT type FROM {master} WHERE name = ?"))
                .bind(&table.name)
                .fetch_optional(&self.pool)
                .await
                .map_err(|e| sql::classify_values(e, []))?;
        if kind.as_deref() != Some("table") {
            return Err(ConnectorError::Config(format!(
                "{table} is a view or other non-table relation; dsr changes records in tables only"
            )));
        }
        let primary: Vec<String> =
            sqlx::query_scalar("SELECT name FROM pragma_table_info(?, ?) WHERE pk > 0 ORDER BY pk")
                .bind(&table.name)
                .bind(&schema)
                .fetch_all(&self.pool)
                .await
                .map_err(|e| sql::classify_values(e, []))?;
        sql::choose_key(
            &table.to_string(),
            self.table(collection)?.key.as_deref(),
            primary,
            &names,
        )
    }

    async fn column_types(
        &self,
        collection: &CollectionSpec,
    ) -> Result<Option<Vec<ColumnInfo>>, ConnectorError> {
        let table = &self.table(collection)?.name;
        let (schema, _) = Self::qualified(table);
        let rows: Vec<(String, String, bool)> =
            sqlx::query_as("SELECT name, type, \"notnull\" FROM pragma_table_info(?, ?)")
                .bind(&table.name)
                .bind(&schema)
                .fetch_all(&self.pool)
                .await
                .map_err(|e| sql::classify_values(e, []))?;
        if rows.is_empty() {
            return Err(ConnectorError::NoTable(table.to_string()));
        }
        // pragma_table_list is newer than some SQLite builds: without it, no table is STRICT.
        let strict: bool = sqlx::query_scalar(
            "SELECT strict FROM pragma_table_list WHERE schema = ? AND name = ?",
        )
        .bind(&schema)
        .bind(&table.name)
        .fetch_optional(&self.pool)
        .await
        .ok()
        .flatten()
        .unwrap_or(false);
        Ok(Some(
            rows.into_iter()
                .map(|(name, declared, not_null)| ColumnInfo {
                    kind: column_kind(&declared, strict),
                    declared: if declared.is_empty() {
                        "no declared type".into()
                    } else {
                        declared
                    },
                    name,
                    nullable: !not_null,
                })
                .collect(),
        ))
    }

    async fn write(
        &self,
        writes: &[WriteRequest<'_>],
    ) -> Result<Vec<WriteOutcome>, ConnectorError> {
        self.write_all(writes).await
    }

    fn transactional(&self) -> bool {
        true
    }

    async fn catalog(&self, table: &TableName) -> Result<crate::discover::Catalog, ConnectorError> {
        let (schema, _) = Self::qualified(table);
        let opts = crate::discover::catalog::ReadOptions {
            schema: Some(&schema),
            sample: 0,
        };
        let mut conn = self
            .pool
            .acquire()
            .await
            .map_err(|e| sql::classify_values(e, []))?;
        // The database name only names a system in a draft playbook: none is needed here.
        crate::discover::sqlite::read_from(&mut conn, &opts, String::new())
            .await
            .map_err(ConnectorError::from)
    }

    async fn find_by_keys(
        &self,
        req: &KeyLookup<'_>,
        sink: &mut dyn RowSink,
    ) -> Result<u64, ConnectorError> {
        let values: Vec<&Value> = req.keys.iter().flatten().collect();
        let names = self
            .column_names(&self.table(req.collection)?.name, &values)
            .await?;
        let mut selected: Vec<String> = req.key_columns.to_vec();
        selected.extend(
            names.into_iter().filter(|n| {
                !req.key_columns.contains(n) && req.columns.is_none_or(|c| c.contains(n))
            }),
        );
        let select: Vec<String> = selected
            .iter()
            .map(|c| format!("t.{}", quote_double(c)))
            .collect();
        let (_, table) = Self::qualified(&self.table(req.collection)?.name);
        let mut dedup = Dedup::new(false);
        let mut count = 0;
        let keys: Vec<&Vec<Value>> = req.keys.iter().collect();
        for chunk in keys.chunks(SqliteDialect.key_chunk(req.key_columns.len())) {
            let keys = SqliteDialect.keys_in(&(), req.key_columns, chunk);
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

/// Opens a SQLite system, creating its file from the seed when it names one.
pub async fn open(
    system: &SystemSpec,
    cfg: &Config,
    base_dir: &Path,
) -> Result<std::sync::Arc<dyn Connector>, ConnectorError> {
    Ok(std::sync::Arc::new(
        SqliteConnector::open(system, cfg, base_dir).await?,
    ))
}
