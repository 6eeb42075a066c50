//! PostgreSQL catalog: `pg_class`, `pg_attribute` and `pg_constraint` of one schema.

use super::DiscoverError;
use super::catalog::{
    Catalog, Dialect, ForeignKey, ReadOptions, connect, tables_from_columns, unsampled, verdict,
};
use crate::connectors::sql::quote_double;
use sqlx::Connection;
use sqlx::postgres::{PgConnectOptions, PgConnection};
use std::str::FromStr;

/// Types whose text can hold an email, a phone number, an address or a card number.
fn is_text(data_type: &str) -> bool {
    let t = data_type.to_ascii_lowercase();
    t == "text" || t.starts_with("character") || t == "citext" || t.starts_with("varchar")
}

pub async fn read(url: &str, opts: &ReadOptions<'_>) -> Result<Catalog, DiscoverError> {
    let options = PgConnectOptions::from_str(url)
        .map_err(|_| DiscoverError::BadUrl("postgres"))?
        .application_name("dsr discover");
    let mut conn = connect(PgConnection::connect_with(&options)).await?;
    let catalog = read_from(&mut conn, opts).await;
    let _ = conn.close().await;
    catalog
}

/// Reads the catalog over a connection that is already open (discover's own, or one of a
/// connector's pool, so that `validate --connect` reads it the way the connector connects).
pub async fn read_from(
    conn: &mut PgConnection,
    opts: &ReadOptions<'_>,
) -> Result<Catalog, DiscoverError> {
    let (schema, database): (String, String) = match opts.schema {
        Some(s) => (
            s.to_string(),
            sqlx::query_scalar("SELECT current_database()::text")
                .fetch_one(&mut *conn)
                .await
                .map_err(DiscoverError::db)?,
        ),
        None => {
            sqlx::query_as("SELECT COALESCE(current_schema()::text, ''), current_database()::text")
                .fetch_one(&mut *conn)
                .await
                .map_err(DiscoverError::db)?
        }
    };
    let exists: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)")
            .bind(&schema)
            .fetch_one(&mut *conn)
            .await
            .map_err(DiscoverError::db)?;
    if !exists {
        return Err(DiscoverError::NoSchema(format!(
            "schema '{schema}' does not exist"
        )));
    }
    let columns: Vec<(String, String, String, bool)> = sqlx::query_as(
        "SELECT c.relname::text, a.attname::text, format_type(a.atttypid, a.atttypmod), NOT a.attnotnull \
         FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE n.nspname = $1 AND c.relkind IN ('r', 'p') AND NOT c.relispartition AND a.attnum > 0 AND NOT a.attisdropped \
         ORDER BY c.relname, a.attnum",
    )
    .bind(&schema)
    .fetch_all(&mut *conn)
    .await
    .map_err(DiscoverError::db)?;
    let mut tables = tables_from_columns(columns);
    if tables.is_empty() {
        return Err(DiscoverError::NoTables(format!("schema '{schema}'")));
    }
    type KeyRow = (
        String,
        String,
        Vec<String>,
        Option<String>,
        Option<String>,
        Option<Vec<String>>,
    );
    let keys: Vec<KeyRow> = sqlx::query_as(
        "SELECT c.relname::text, con.contype::text, \
           ARRAY(SELECT a.attname::text FROM unnest(con.conkey) WITH ORDINALITY k(n, o) \
                 JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.n ORDER BY k.o), \
           rc.relname::text, rn.nspname::text, \
           CASE WHEN con.contype = 'f' THEN ARRAY(SELECT a.attname::text FROM unnest(con.confkey) WITH ORDINALITY k(n, o) \
                 JOIN pg_attribute a ON a.attrelid = con.confrelid AND a.attnum = k.n ORDER BY k.o) END \
         FROM pg_constraint con JOIN pg_class c ON c.oid = con.conrelid JOIN pg_namespace n ON n.oid = c.relnamespace \
         LEFT JOIN pg_class rc ON rc.oid = con.confrelid LEFT JOIN pg_namespace rn ON rn.oid = rc.relnamespace \
         WHERE n.nspname = $1 AND con.contype IN ('p', 'f') ORDER BY c.relname, con.conname",
    )
    .bind(&schema)
    .fetch_all(&mut *conn)
    .await
    .map_err(DiscoverError::db)?;
    for (table, kind, cols, ref_table, ref_schema, ref_cols) in keys {
        let Some(t) = tables.get_mut(&table) else {
            continue;
        };
        match (kind.as_str(), ref_table, ref_cols) {
            ("p", _, _) => t.primary_key = cols,
            ("f", Some(rt), Some(rc)) if ref_schema.as_deref() == Some(schema.as_str()) => {
                t.foreign_keys.push(ForeignKey {
                    columns: cols,
                    ref_table: rt,
                    ref_columns: rc,
                })
            }
            _ => {}
        }
    }
    let mut unsampled_tables = Vec::new();
    if opts.sample > 0 {
        for t in tables.values_mut() {
            let qualified = format!("{}.{}", quote_double(&schema), quote_double(&t.name));
            for c in t.columns.iter_mut().filter(|c| is_text(&c.data_type)) {
                let col = quote_double(&c.name);
                let values: Result<Vec<Option<String>>, _> = sqlx::query_scalar(&format!(
                    "SELECT t.{col}::text FROM {qualified} AS t WHERE t.{col} IS NOT NULL LIMIT $1"
                ))
                .bind(i64::from(opts.sample))
                .fetch_all(&mut *conn)
                .await;
                // A table the user may not read (permissions) is classified without samples.
                match values {
                    Ok(values) => c.sampled = verdict(values),
                    Err(e) => {
                        unsampled_tables.push(unsampled(&t.name, e));
                        break;
                    }
                }
            }
        }
    }
    Ok(Catalog {
        dialect: Dialect::Postgres,
        schema,
        database,
        tables: tables.into_values().collect(),
        unsampled: unsampled_tables,
    })
}
