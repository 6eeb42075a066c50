//! PostgreSQL. Rows are turned into JSON by the server (`to_json`), which keeps numeric
//! precision, time zones, arrays, JSON columns and bytea (as `\x…` hex) faithfully, and match
//! values are cast to the column's own type so that indexes are used.

use super::sql::{self, Dedup, quote_double};
use super::{Connector, ConnectorError, FindRequest, Row, RowSink};
use crate::playbook::SystemSpec;
use crate::playbook::interpolate::Secret;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use std::str::FromStr;

pub struct PostgresConnector {
    options: PgConnectOptions,
    pool: PgPool,
    schema: Option<String>,
}

impl PostgresConnector {
    pub fn open(system: &SystemSpec, url: Option<Secret>) -> Result<Self, ConnectorError> {
        let url = url.ok_or_else(|| ConnectorError::Config("no url".into()))?;
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
            options,
            pool,
            schema: system.config.schema.clone(),
        })
    }

    fn qualified(&self, req: &FindRequest<'_>) -> String {
        match req.table.schema.as_ref().or(self.schema.as_ref()) {
            Some(s) => format!("{}.{}", quote_double(s), quote_double(&req.table.name)),
            None => quote_double(&req.table.name),
        }
    }
}

#[async_trait::async_trait]
impl Connector for PostgresConnector {
    async fn find(
        &self,
        req: &FindRequest<'_>,
        sink: &mut dyn RowSink,
    ) -> Result<u64, ConnectorError> {
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
}

impl PostgresConnector {
    async fn find_rows(
        &self,
        req: &FindRequest<'_>,
        sink: &mut dyn RowSink,
    ) -> Result<u64, ConnectorError> {
        let table = self.qualified(req);
        let columns: Vec<(String, String)> = sqlx::query_as(
            "SELECT a.attname::text, format_type(a.atttypid, a.atttypmod) FROM pg_attribute a \
             WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum",
        )
        .bind(&table)
        .fetch_all(&self.pool)
        .await
        .map_err(|e| sql::classify(e, req))?;
        if columns.is_empty() {
            return Err(ConnectorError::NoTable(req.table.to_string()));
        }
        let names: Vec<String> = columns.iter().map(|(n, _)| n.clone()).collect();
        sql::check_columns(&req.table.to_string(), &names, req)?;
        let type_of = |col: &str| {
            columns
                .iter()
                .find(|(n, _)| n == col)
                .map(|(_, t)| t.clone())
                .unwrap_or_else(|| "text".into())
        };

        let select = match req.columns {
            None => "t.*".to_string(),
            Some(cols) => cols
                .iter()
                .map(|c| format!("t.{}", quote_double(c)))
                .collect::<Vec<_>>()
                .join(", "),
        };
        let batches = sql::batches(req.matches, 10_000);
        let mut dedup = Dedup::new(sql::needs_dedup(&batches));
        let mut count = 0u64;
        for batch in &batches {
            let conditions: Vec<String> = batch
                .iter()
                .enumerate()
                .map(|(i, (col, _))| {
                    format!(
                        "t.{} = ANY(${}::text[]::{}[])",
                        quote_double(col),
                        i + 1,
                        type_of(col)
                    )
                })
                .collect();
            let query = format!(
                "SELECT to_json(x)::text FROM (SELECT {select} FROM {table} AS t WHERE {}) AS x",
                conditions.join(" OR ")
            );
            let mut q = sqlx::query_scalar::<_, String>(&query);
            for (_, values) in batch {
                q = q.bind(values.iter().map(sql::value_text).collect::<Vec<_>>());
            }
            let mut stream = q.fetch(&self.pool);
            while let Some(text) = sql::next_within(&mut stream, req.idle_timeout, req).await? {
                let row: Row = serde_json::from_str(&text).map_err(|e| ConnectorError::Query {
                    message: format!("unreadable row from the server: {e}"),
                    transient: false,
                })?;
                if dedup.first_time(&row) {
                    sink.row(row)?;
                    count += 1;
                }
            }
        }
        Ok(count)
    }
}
