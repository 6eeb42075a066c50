//! Writing records by key, once for every SQL database. The loop (per write request: chunked
//! DELETEs by key tuples, then one UPDATE per changed record, inside one transaction) is the
//! same everywhere; what differs (quoting, placeholders, how a value is bound, how long a
//! statement may wait) is each database's [`Dialect`].

use super::TableName;
use super::config::Table;
use super::{classify_values, split_changes, write_values};
use crate::connectors::{ConnectorError, MatchGroup, WriteOutcome, WriteRequest};
use futures::future::BoxFuture;
use serde_json::Value;
use sqlx::Database;
use std::collections::BTreeMap;
use std::time::Duration;

/// SQL text and its parameters, in placeholder order.
pub struct Statement<P> {
    pub sql: String,
    pub params: Vec<P>,
}

/// What one SQL database does its own way when records are found and written by key.
pub trait Dialect: Sync {
    type Db: Database;
    /// What must be known of a table before writing it: PostgreSQL casts every parameter to
    /// its column's type (so that indexes are used); the others need nothing.
    type Table: Sync;
    /// One bound parameter.
    type Param: Send + 'static;

    /// The table as statements name it, schema included, quoted.
    fn qualified(&self, table: &TableName) -> String;

    /// How many keys of `width` columns one statement matches at most.
    fn key_chunk(&self, width: usize) -> usize;

    /// The condition that `t`'s key columns are one of `keys`, with its parameters (numbered
    /// from the first, where the dialect numbers them).
    fn keys_in(
        &self,
        table: &Self::Table,
        key_columns: &[String],
        keys: &[&Vec<Value>],
    ) -> Statement<Self::Param>;

    /// How many values one find statement binds at most.
    fn find_batch(&self) -> usize;

    /// The condition that `t` matches one group of a find (lower-cased where the group folds
    /// case), with its parameters, numbered from `first` where the dialect numbers them.
    fn matches(
        &self,
        table: &Self::Table,
        group: &MatchGroup,
        first: usize,
    ) -> Statement<Self::Param>;

    /// `DELETE … FROM` the table, aliased `t` for [`Dialect::keys_in`].
    fn delete_from(&self, table: &str) -> String {
        format!("DELETE FROM {table} AS t")
    }

    /// What follows `UPDATE`: the table, with an alias where [`Dialect::assign`] uses one.
    fn update_target(&self, table: &str) -> String {
        table.to_string()
    }

    /// `column = <placeholder n>` (1-based), in a SET list or a WHERE condition.
    fn assign(&self, table: &Self::Table, column: &str, n: usize) -> String;

    /// A record's value as a parameter.
    fn param(value: &Value) -> Self::Param;

    /// The statement that bounds how long each write statement waits (for a lock), run first
    /// in the transaction, and that bound; none where the database has no such setting.
    fn time_limit(&self) -> Option<(String, Duration)>;

    /// Whether the server gave up on a statement because of [`Dialect::time_limit`].
    fn timed_out(&self, e: &sqlx::Error) -> bool;

    /// Runs one statement; the rows it affected.
    fn execute<'c>(
        conn: &'c mut <Self::Db as Database>::Connection,
        statement: Statement<Self::Param>,
    ) -> BoxFuture<'c, Result<u64, sqlx::Error>>;
}

/// A find condition with `?` placeholders (MySQL, SQLite): `t.c IN (?, …)`,
/// `lower(t.c) IN (…)` or `(t.a, t.b) IN (…)`, whose tuple list SQLite writes as
/// `VALUES (?, ?), …` (`values_keyword`) and MySQL as `(?, ?), …`.
pub fn question_match(
    g: &MatchGroup,
    quote: impl Fn(&str) -> String,
    lower: &str,
    values_keyword: bool,
) -> Statement<Value> {
    let marks = super::question_marks(g);
    let list = if values_keyword && g.columns.len() > 1 {
        format!("VALUES {marks}")
    } else {
        marks
    };
    Statement {
        sql: super::group_condition(
            g,
            |c| format!("t.{}", quote(c)),
            |e| format!("{lower}({e})"),
            &list,
        ),
        params: g.tuples.iter().flatten().cloned().collect(),
    }
}

/// `(t.a, t.b) IN ((?, ?), …)`: a key list in `?` placeholders, `values` written before the
/// tuples (SQLite wants `VALUES (?, ?), …`). Single columns are tuples of one, too.
pub fn question_tuples(
    quote: impl Fn(&str) -> String,
    key_columns: &[String],
    rows: usize,
    values: &str,
) -> String {
    let lhs: Vec<String> = key_columns
        .iter()
        .map(|k| format!("t.{}", quote(k)))
        .collect();
    let one = format!("({})", vec!["?"; key_columns.len()].join(", "));
    format!(
        "({}) IN ({values}{})",
        lhs.join(", "),
        vec![one; rows].join(", ")
    )
}

/// A find batch's condition: `t` matches any of its groups.
pub fn any_match<D: Dialect>(
    dialect: &D,
    table: &D::Table,
    batch: &[MatchGroup],
) -> Statement<D::Param> {
    let mut conditions = Vec::with_capacity(batch.len());
    let mut params = Vec::new();
    for group in batch {
        let one = dialect.matches(table, group, params.len() + 1);
        conditions.push(one.sql);
        params.extend(one.params);
    }
    Statement {
        sql: conditions.join(" OR "),
        params,
    }
}

/// Applies every write request in one transaction: per request, its deletes in chunks by key,
/// then one UPDATE per changed record; the rows affected per request. `configured` names each
/// collection's table; `tables` holds what the dialect knows of each request's table, in request order. Errors are scrubbed of every value
/// the writes carry.
pub async fn write_keyed<D: Dialect>(
    dialect: &D,
    pool: &sqlx::Pool<D::Db>,
    writes: &[WriteRequest<'_>],
    configured: &BTreeMap<String, Table>,
    tables: &[D::Table],
) -> Result<Vec<WriteOutcome>, ConnectorError> {
    let values = write_values(writes);
    // A write blocked on another session's lock would otherwise wait for as long as the server
    // lets it: past the limit the server cancels it and the transaction rolls back.
    let limit = dialect.time_limit();
    let err = |e: sqlx::Error| match &limit {
        Some((_, timeout)) if dialect.timed_out(&e) => ConnectorError::Timeout(*timeout),
        _ => classify_values(e, values.iter().copied()),
    };
    let mut tx = pool.begin().await.map_err(err)?;
    if let Some((sql, _)) = &limit {
        let statement = Statement {
            sql: sql.clone(),
            params: Vec::new(),
        };
        D::execute(&mut *tx, statement).await.map_err(err)?;
    }
    let mut counts = Vec::with_capacity(writes.len());
    for (w, types) in writes.iter().zip(tables) {
        let table = dialect.qualified(&super::config::table(configured, w.collection)?.name);
        let (deletes, updates) = split_changes(w.changes);
        let mut changed = 0u64;
        for chunk in deletes.chunks(dialect.key_chunk(w.key_columns.len())) {
            let keys = dialect.keys_in(types, w.key_columns, chunk);
            let statement = Statement {
                sql: format!("{} WHERE {}", dialect.delete_from(&table), keys.sql),
                params: keys.params,
            };
            changed += D::execute(&mut *tx, statement).await.map_err(err)?;
        }
        for (key, set) in updates {
            let mut n = 0;
            let mut assign = |column: &str| {
                n += 1;
                dialect.assign(types, column, n)
            };
            let assignments: Vec<String> = set.keys().map(|c| assign(c)).collect();
            let conditions: Vec<String> = w.key_columns.iter().map(|k| assign(k)).collect();
            let statement = Statement {
                sql: format!(
                    "UPDATE {} SET {} WHERE {}",
                    dialect.update_target(&table),
                    assignments.join(", "),
                    conditions.join(" AND ")
                ),
                params: set.values().chain(key.iter()).map(D::param).collect(),
            };
            // MySQL counts only rows whose values changed; a re-applied mask counts 0.
            changed += D::execute(&mut *tx, statement).await.map_err(err)?;
        }
        counts.push(WriteOutcome {
            changed,
            notes: Vec::new(),
        });
    }
    tx.commit().await.map_err(err)?;
    Ok(counts)
}
