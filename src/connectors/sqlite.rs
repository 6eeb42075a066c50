//! SQLite. Values are decoded by their stored type (SQLite is dynamically typed), so an
//! integer stays an integer and a blob becomes `\x…` hex. A system may name a `seed` SQL
//! file: when the database file does not exist yet it is created from it, atomically.

use super::sql::{self, Dedup, quote_double};
use super::{Connector, ConnectorError, FindRequest, Row, RowSink};
use crate::playbook::SystemSpec;
use crate::playbook::interpolate::{self, Secret};
use serde_json::Value;
use sqlx::sqlite::{SqliteConnectOptions, SqlitePool, SqlitePoolOptions, SqliteRow};
use sqlx::{Row as _, TypeInfo, ValueRef};
use std::path::{Path, PathBuf};
use std::str::FromStr;

pub struct SqliteConnector {
    pool: SqlitePool,
}

impl SqliteConnector {
    pub async fn open(
        system: &SystemSpec,
        url: Option<Secret>,
        base_dir: &Path,
    ) -> Result<Self, ConnectorError> {
        let options = match (&url, &system.config.path) {
            (Some(url), _) => SqliteConnectOptions::from_str(url.expose()).map_err(|_| {
                ConnectorError::Config("the connection url is not a valid sqlite url".into())
            })?,
            (None, Some(path)) => {
                let path = interpolate::resolve(path, base_dir)
                    .map_err(|e| ConnectorError::Config(e.to_string()))?;
                let file = base_dir.join(path.expose());
                if let Some(seed) = &system.config.seed {
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
            (None, None) => return Err(ConnectorError::Config("no path or url".into())),
        };
        let pool = SqlitePoolOptions::new()
            .max_connections(system.concurrency as u32)
            .acquire_timeout(system.timeout)
            .connect_lazy_with(options.read_only(true));
        Ok(Self { pool })
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

#[async_trait::async_trait]
impl Connector for SqliteConnector {
    async fn find(
        &self,
        req: &FindRequest<'_>,
        sink: &mut dyn RowSink,
    ) -> Result<u64, ConnectorError> {
        let schema = req.table.schema.clone().unwrap_or_else(|| "main".into());
        let names: Vec<String> = sqlx::query_scalar("SELECT name FROM pragma_table_info(?, ?)")
            .bind(&req.table.name)
            .bind(&schema)
            .fetch_all(&self.pool)
            .await
            .map_err(|e| sql::classify(e, req))?;
        if names.is_empty() {
            return Err(ConnectorError::NoTable(req.table.to_string()));
        }
        sql::check_columns(&req.table.to_string(), &names, req)?;
        let selected: Vec<String> = match req.columns {
            Some(cols) => names.iter().filter(|n| cols.contains(n)).cloned().collect(),
            None => names.clone(),
        };
        let select: Vec<String> = selected
            .iter()
            .map(|c| format!("t.{}", quote_double(c)))
            .collect();
        let table = format!(
            "{}.{}",
            quote_double(&schema),
            quote_double(&req.table.name)
        );
        let batches = sql::batches(req.matches, sql::IN_BATCH);
        let mut dedup = Dedup::new(sql::needs_dedup(&batches));
        let mut count = 0u64;
        for batch in &batches {
            let conditions: Vec<String> = batch
                .iter()
                .map(|(col, values)| {
                    format!(
                        "t.{} IN ({})",
                        quote_double(col),
                        vec!["?"; values.len()].join(", ")
                    )
                })
                .collect();
            let query = format!(
                "SELECT {} FROM {table} AS t WHERE {}",
                select.join(", "),
                conditions.join(" OR ")
            );
            let mut q = sqlx::query(&query);
            for value in batch.iter().flat_map(|(_, v)| v) {
                q = match value {
                    Value::Number(n) if n.as_i64().is_some() => q.bind(n.as_i64()),
                    Value::Number(n) if n.as_f64().is_some() => q.bind(n.as_f64()),
                    Value::Bool(b) => q.bind(*b),
                    other => q.bind(sql::value_text(other)),
                };
            }
            let mut stream = q.fetch(&self.pool);
            while let Some(row) = sql::next_within(&mut stream, req.idle_timeout, req).await? {
                let mut out = Row::new();
                for (i, name) in selected.iter().enumerate() {
                    out.insert(
                        name.clone(),
                        decode(&row, i).map_err(|e| sql::classify(e, req))?,
                    );
                }
                if dedup.first_time(&out) {
                    sink.row(out)?;
                    count += 1;
                }
            }
        }
        Ok(count)
    }
}
