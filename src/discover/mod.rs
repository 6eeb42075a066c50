//! `dsr discover`: read a database's catalog, find the columns that hold personal data, and
//! write a draft playbook (or compare the database with an existing playbook).
//!
//! The work is split so that everything but reading the catalog is pure and tested without a
//! server:
//!
//! - [`catalog`] holds the catalog model; [`read`] opens the right reader for a URL, and
//!   [`postgres`], [`mysql`] and [`sqlite`] read tables, columns, keys and value samples.
//!   Samples are turned into a verdict ("these look like email addresses") as soon as they are
//!   read and then dropped: no sampled value is ever printed, logged or written.
//! - [`classify`] decides, per column, whether it holds personal data and of which category,
//!   from its name, its type and the sample verdict, and puts a catalog's analysis together.
//! - [`reach`] works out how each table reaches a person (an email column, or foreign keys
//!   leading to a table that has one).
//! - [`draft`] writes that analysis as a playbook that `dsr validate` accepts, with TODO
//!   markers where only a person can decide (purpose, legal basis, retention).
//! - [`todos`] finds the values of a playbook that still say `TODO` (`dsr validate` and
//!   `dsr export` warn about them).
//! - [`diff`] compares the analysis with a playbook: what personal data it does not cover,
//!   and what it names that no longer exists.

pub mod catalog;
pub mod classify;
pub mod diff;
pub mod draft;
pub mod mysql;
pub mod postgres;
pub mod reach;
pub mod sqlite;
pub mod todos;

pub use catalog::{Catalog, Column, Dialect, ForeignKey, ReadOptions, Table};

/// Reads the catalog behind `url` (which may hold a password: it is never printed).
pub async fn read(url: &str, opts: &ReadOptions<'_>) -> Result<Catalog, DiscoverError> {
    let mut catalog = match Dialect::from_url(url)? {
        Dialect::Postgres => postgres::read(url, opts).await?,
        Dialect::Mysql => mysql::read(url, opts).await?,
        Dialect::Sqlite => sqlite::read(url, opts).await?,
    };
    catalog.tables.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(catalog)
}

/// What can go wrong while discovering; every message is free of secrets and sampled values.
#[derive(Debug, thiserror::Error)]
pub enum DiscoverError {
    #[error("cannot tell the database kind from the url (it starts with '{0}')")]
    UnsupportedUrl(String),
    #[error("the url is not a valid {0} url")]
    BadUrl(&'static str),
    #[error("cannot read the catalog: {0}")]
    Database(String),
    #[error("{0}")]
    NoSchema(String),
    #[error("no tables found in {0}")]
    NoTables(String),
}

impl DiscoverError {
    pub(crate) fn db(e: sqlx::Error) -> Self {
        DiscoverError::Database(crate::connectors::sql::classify_values(e, []).to_string())
    }
}
