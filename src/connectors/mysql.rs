//! MySQL and MariaDB. Column types are read from `information_schema` first, so every value
//! is selected in a form that decodes exactly: integers as integers, decimals and floats as
//! exact numbers (via their text), binary columns as `\x…` hex, JSON parsed, the rest as text.

use super::sql::{self, Dedup, quote_backtick};
use super::{Connector, ConnectorError, FindRequest, Row, RowSink};
use crate::playbook::SystemSpec;
use crate::playbook::interpolate::Secret;
use serde_json::Value;
use sqlx::Row as _;
use sqlx::mysql::{MySqlConnectOptions, MySqlPool, MySqlPoolOptions, MySqlRow};
use std::str::FromStr;

pub struct MysqlConnector {
    options: MySqlConnectOptions,
    pool: MySqlPool,
    schema: Option<String>,
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

impl MysqlConnector {
    pub fn open(system: &SystemSpec, url: Option<Secret>) -> Result<Self, ConnectorError> {
        let url = url.ok_or_else(|| ConnectorError::Config("no url".into()))?;
        let options = MySqlConnectOptions::from_str(url.expose()).map_err(|_| {
            ConnectorError::Config("the connection url is not a valid mysql url".into())
        })?;
        let pool = MySqlPoolOptions::new()
            .max_connections(system.concurrency as u32)
            .acquire_timeout(system.timeout)
            .connect_lazy_with(options.clone());
        Ok(Self {
            options,
            pool,
            schema: system.config.schema.clone(),
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
}

impl MysqlConnector {
    async fn find_rows(
        &self,
        req: &FindRequest<'_>,
        sink: &mut dyn RowSink,
    ) -> Result<u64, ConnectorError> {
        let schema = req.table.schema.as_ref().or(self.schema.as_ref());
        let columns: Vec<(String, String, String)> = sqlx::query_as(
            "SELECT CAST(COLUMN_NAME AS CHAR), CAST(DATA_TYPE AS CHAR), CAST(COLUMN_TYPE AS CHAR) \
             FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = COALESCE(?, DATABASE()) AND TABLE_NAME = ? \
             ORDER BY ORDINAL_POSITION",
        )
        .bind(schema)
        .bind(&req.table.name)
        .fetch_all(&self.pool)
        .await
        .map_err(|e| sql::classify(e, req))?;
        if columns.is_empty() {
            return Err(ConnectorError::NoTable(req.table.to_string()));
        }
        let names: Vec<String> = columns.iter().map(|(n, ..)| n.clone()).collect();
        sql::check_columns(&req.table.to_string(), &names, req)?;
        let selected: Vec<(String, Decode)> = columns
            .iter()
            .filter(|(n, ..)| req.columns.is_none_or(|cols| cols.contains(n)))
            .map(|(n, dt, ct)| {
                (
                    n.clone(),
                    decode_for(&dt.to_ascii_lowercase(), &ct.to_ascii_lowercase()),
                )
            })
            .collect();
        let select: Vec<String> = selected.iter().map(|(n, d)| select_expr(n, *d)).collect();
        let table = match schema {
            Some(s) => format!("{}.{}", quote_backtick(s), quote_backtick(&req.table.name)),
            None => quote_backtick(&req.table.name),
        };

        let batches = sql::batches(req.matches, sql::IN_BATCH);
        let mut dedup = Dedup::new(sql::needs_dedup(&batches));
        let mut count = 0u64;
        for batch in &batches {
            let conditions: Vec<String> = batch
                .iter()
                .map(|(col, values)| {
                    format!(
                        "t.{} IN ({})",
                        quote_backtick(col),
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
                    Value::Number(n) if n.as_u64().is_some() => q.bind(n.as_u64()),
                    Value::Bool(b) => q.bind(*b),
                    other => q.bind(sql::value_text(other)),
                };
            }
            let mut stream = q.fetch(&self.pool);
            while let Some(row) = sql::next_within(&mut stream, req.idle_timeout, req).await? {
                let mut out = Row::new();
                for (i, (name, decode)) in selected.iter().enumerate() {
                    let value =
                        decode_value(&row, i, *decode).map_err(|e| sql::classify(e, req))?;
                    out.insert(name.clone(), value);
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
