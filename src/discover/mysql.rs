//! MySQL and MariaDB catalog: `information_schema` of one database.

use super::DiscoverError;
use super::catalog::{
    Catalog, Dialect, ForeignKey, ReadOptions, connect, tables_from_columns, unsampled, verdict,
};
use crate::connectors::sql::quote_backtick;
use sqlx::Connection;
use sqlx::mysql::{MySqlConnectOptions, MySqlConnection};
use std::collections::BTreeMap;
use std::str::FromStr;

fn is_text(data_type: &str) -> bool {
    let t = data_type.to_ascii_lowercase();
    t.starts_with("varchar") || t.starts_with("char") || t.ends_with("text")
}

/// sqlx names the scheme `mysql`; MariaDB users write `mariadb://`.
fn sqlx_url(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) if scheme.eq_ignore_ascii_case("mariadb") => format!("mysql://{rest}"),
        _ => url.to_string(),
    }
}

pub async fn read(url: &str, opts: &ReadOptions<'_>) -> Result<Catalog, DiscoverError> {
    let options = MySqlConnectOptions::from_str(&sqlx_url(url))
        .map_err(|_| DiscoverError::BadUrl("mysql"))?;
    let mut conn = connect(MySqlConnection::connect_with(&options)).await?;
    let catalog = read_from(&mut conn, opts).await;
    let _ = conn.close().await;
    catalog
}

/// Reads the catalog over a connection that is already open (discover's own, or one of a
/// connector's pool, so that `validate --connect` reads it the way the connector connects).
pub async fn read_from(
    conn: &mut MySqlConnection,
    opts: &ReadOptions<'_>,
) -> Result<Catalog, DiscoverError> {
    let schema: String = match opts.schema {
        Some(s) => s.to_string(),
        None => sqlx::query_scalar::<_, Option<String>>("SELECT DATABASE()")
            .fetch_one(&mut *conn)
            .await
            .map_err(DiscoverError::db)?
            .ok_or_else(|| {
                DiscoverError::NoSchema(
                    "the url names no database: add it to the url or pass --schema".into(),
                )
            })?,
    };
    let columns: Vec<(String, String, String, String)> = sqlx::query_as(
        "SELECT CAST(c.TABLE_NAME AS CHAR), CAST(c.COLUMN_NAME AS CHAR), CAST(c.COLUMN_TYPE AS CHAR), CAST(c.IS_NULLABLE AS CHAR) \
         FROM information_schema.COLUMNS c JOIN information_schema.TABLES t \
           ON t.TABLE_SCHEMA = c.TABLE_SCHEMA AND t.TABLE_NAME = c.TABLE_NAME AND t.TABLE_TYPE = 'BASE TABLE' \
         WHERE c.TABLE_SCHEMA = ? ORDER BY c.TABLE_NAME, c.ORDINAL_POSITION",
    )
    .bind(&schema)
    .fetch_all(&mut *conn)
    .await
    .map_err(DiscoverError::db)?;
    let mut tables = tables_from_columns(
        columns
            .into_iter()
            .map(|(t, c, ty, n)| (t, c, ty, n == "YES")),
    );
    if tables.is_empty() {
        return Err(DiscoverError::NoTables(format!("database '{schema}'")));
    }
    type KeyRow = (
        String,
        String,
        String,
        Option<String>,
        Option<String>,
        Option<String>,
    );
    let keys: Vec<KeyRow> = sqlx::query_as(
        "SELECT CAST(TABLE_NAME AS CHAR), CAST(CONSTRAINT_NAME AS CHAR), CAST(COLUMN_NAME AS CHAR), \
           CAST(REFERENCED_TABLE_SCHEMA AS CHAR), CAST(REFERENCED_TABLE_NAME AS CHAR), CAST(REFERENCED_COLUMN_NAME AS CHAR) \
         FROM information_schema.KEY_COLUMN_USAGE \
         WHERE TABLE_SCHEMA = ? AND (CONSTRAINT_NAME = 'PRIMARY' OR REFERENCED_TABLE_NAME IS NOT NULL) \
         ORDER BY TABLE_NAME, CONSTRAINT_NAME, ORDINAL_POSITION",
    )
    .bind(&schema)
    .fetch_all(&mut *conn)
    .await
    .map_err(DiscoverError::db)?;
    // Foreign keys by (table, constraint), columns in key order.
    let mut fks: BTreeMap<(String, String), ForeignKey> = BTreeMap::new();
    for (table, constraint, column, ref_schema, ref_table, ref_column) in keys {
        let Some(t) = tables.get_mut(&table) else {
            continue;
        };
        if constraint == "PRIMARY" {
            t.primary_key.push(column);
            continue;
        }
        if let (Some(rs), Some(rt), Some(rc)) = (ref_schema, ref_table, ref_column)
            && rs == schema
        {
            let fk = fks
                .entry((table, constraint))
                .or_insert_with(|| ForeignKey {
                    columns: Vec::new(),
                    ref_table: rt,
                    ref_columns: Vec::new(),
                });
            fk.columns.push(column);
            fk.ref_columns.push(rc);
        }
    }
    for ((table, _), fk) in fks {
        if let Some(t) = tables.get_mut(&table) {
            t.foreign_keys.push(fk);
        }
    }
    let mut unsampled_tables = Vec::new();
    if opts.sample > 0 {
        for t in tables.values_mut() {
            let qualified = format!("{}.{}", quote_backtick(&schema), quote_backtick(&t.name));
            for c in t.columns.iter_mut().filter(|c| is_text(&c.data_type)) {
                let col = quote_backtick(&c.name);
                let values: Result<Vec<Option<String>>, _> = sqlx::query_scalar(&format!(
                    "SELECT CAST(t.{col} AS CHAR) FROM {qualified} AS t WHERE t.{col} IS NOT NULL LIMIT ?"
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
        dialect: Dialect::Mysql,
        database: schema.clone(),
        schema,
        tables: tables.into_values().collect(),
        unsampled: unsampled_tables,
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn mariadb_urls_are_mysql_urls() {
        assert_eq!(
            super::sqlx_url("mariadb://root@h:3306/x"),
            "mysql://root@h:3306/x"
        );
        assert_eq!(super::sqlx_url("MariaDB://h"), "mysql://h");
        assert_eq!(super::sqlx_url("mysql://h/x"), "mysql://h/x");
    }
}
