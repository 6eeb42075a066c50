//! SQLite catalog: `sqlite_schema` and the table-valued pragmas. The file is opened read-only
//! and never created.

use super::DiscoverError;
use super::catalog::{Catalog, Column, Dialect, ForeignKey, ReadOptions, Table, connect, verdict};
use crate::connectors::sql::quote_double;
use sqlx::Connection;
use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection};
use std::str::FromStr;

pub async fn read(url: &str, opts: &ReadOptions<'_>) -> Result<Catalog, DiscoverError> {
    let options = SqliteConnectOptions::from_str(url)
        .map_err(|_| DiscoverError::BadUrl("sqlite"))?
        .read_only(true)
        .create_if_missing(false);
    let database = options
        .get_filename()
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "app".into());
    let mut conn = connect(SqliteConnection::connect_with(&options)).await?;
    let catalog = read_from(&mut conn, opts, database).await;
    let _ = conn.close().await;
    catalog
}

/// Reads the catalog over a connection that is already open (discover's own, or one of a
/// connector's pool, so that `validate --connect` reads it the way the connector connects);
/// `database` names the system in a draft.
pub async fn read_from(
    conn: &mut SqliteConnection,
    opts: &ReadOptions<'_>,
    database: String,
) -> Result<Catalog, DiscoverError> {
    let schema = opts.schema.unwrap_or("main").to_string();
    let master = format!("{}.sqlite_schema", quote_double(&schema));
    let names: Vec<String> = sqlx::query_scalar(&format!(
        "SELECT name FROM {master} WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name"
    ))
    .fetch_all(&mut *conn)
    .await
    .map_err(DiscoverError::db)?;
    if names.is_empty() {
        return Err(DiscoverError::NoTables(format!(
            "the database file ({schema})"
        )));
    }
    let mut tables = Vec::new();
    for name in names {
        let cols: Vec<(String, String, bool, i64)> = sqlx::query_as(
            "SELECT name, type, \"notnull\", pk FROM pragma_table_info(?, ?) ORDER BY cid",
        )
        .bind(&name)
        .bind(&schema)
        .fetch_all(&mut *conn)
        .await
        .map_err(DiscoverError::db)?;
        let mut pk: Vec<(i64, String)> = cols
            .iter()
            .filter(|c| c.3 > 0)
            .map(|c| (c.3, c.0.clone()))
            .collect();
        pk.sort();
        let primary_key: Vec<String> = pk.into_iter().map(|(_, n)| n).collect();
        let fk_rows: Vec<(i64, String, String, Option<String>)> = sqlx::query_as(
            "SELECT id, \"table\", \"from\", \"to\" FROM pragma_foreign_key_list(?, ?) ORDER BY id, seq",
        )
        .bind(&name)
        .bind(&schema)
        .fetch_all(&mut *conn)
        .await
        .map_err(DiscoverError::db)?;
        let mut foreign_keys: Vec<(i64, ForeignKey)> = Vec::new();
        for (id, ref_table, from, to) in fk_rows {
            match foreign_keys.last_mut() {
                Some((last, fk)) if *last == id => {
                    fk.columns.push(from);
                    fk.ref_columns.extend(to);
                }
                _ => foreign_keys.push((
                    id,
                    ForeignKey {
                        columns: vec![from],
                        ref_table,
                        ref_columns: to.into_iter().collect(),
                    },
                )),
            }
        }
        let mut columns = Vec::new();
        for (col, data_type, notnull, _) in &cols {
            let sampled = if opts.sample > 0 {
                // SQLite is dynamically typed: sample the values stored as text, whatever the
                // declared type.
                let c = quote_double(col);
                let values: Vec<Option<String>> = sqlx::query_scalar(&format!(
                    "SELECT t.{c} FROM {}.{} AS t WHERE typeof(t.{c}) = 'text' LIMIT ?",
                    quote_double(&schema),
                    quote_double(&name)
                ))
                .bind(i64::from(opts.sample))
                .fetch_all(&mut *conn)
                .await
                .map_err(DiscoverError::db)?;
                verdict(values)
            } else {
                None
            };
            columns.push(Column {
                name: col.clone(),
                data_type: data_type.clone(),
                nullable: !notnull,
                sampled,
            });
        }
        tables.push(Table {
            name,
            columns,
            primary_key,
            foreign_keys: foreign_keys.into_iter().map(|(_, fk)| fk).collect(),
        });
    }
    // `REFERENCES users` without columns means the referenced table's primary key. SQLite
    // keeps the names as the REFERENCES clause spells them (`Users (ID)`), and compares them
    // without regard to ASCII case: the key names the table and columns as they are declared.
    let snapshot = tables.clone();
    let declared = |names: &[Column], name: &mut String| {
        if let Some(c) = names.iter().find(|c| c.name.eq_ignore_ascii_case(name)) {
            name.clone_from(&c.name);
        }
    };
    for t in &mut tables {
        for fk in &mut t.foreign_keys {
            for c in &mut fk.columns {
                declared(&t.columns, c);
            }
            let Some(r) = snapshot
                .iter()
                .find(|r| r.name.eq_ignore_ascii_case(&fk.ref_table))
            else {
                continue;
            };
            fk.ref_table.clone_from(&r.name);
            if fk.ref_columns.is_empty() {
                fk.ref_columns = r.primary_key.clone();
            }
            for c in &mut fk.ref_columns {
                declared(&r.columns, c);
            }
        }
    }
    Ok(Catalog {
        dialect: Dialect::Sqlite,
        schema,
        database,
        tables,
        unsampled: Vec::new(),
    })
}
