//! The catalog model every reader fills in, and the entry point that picks the reader from
//! the URL's scheme.

use super::DiscoverError;
use super::classify::ValueKind;

/// The database kinds discover reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Postgres,
    Mysql,
    Sqlite,
}

impl Dialect {
    /// From a URL: `postgres://`, `postgresql://`, `mysql://`, `mariadb://`, `sqlite:`.
    pub fn from_url(url: &str) -> Result<Self, DiscoverError> {
        let scheme = url.split(':').next().unwrap_or("").to_ascii_lowercase();
        match scheme.as_str() {
            "postgres" | "postgresql" => Ok(Self::Postgres),
            "mysql" | "mariadb" => Ok(Self::Mysql),
            "sqlite" => Ok(Self::Sqlite),
            _ => Err(DiscoverError::UnsupportedUrl(
                scheme.chars().take(20).collect(),
            )),
        }
    }

    /// The `connector:` a playbook names this database's kind with.
    pub fn connector(self) -> &'static str {
        match self {
            Self::Postgres => "postgres",
            Self::Mysql => "mysql",
            Self::Sqlite => "sqlite",
        }
    }
}

/// One column as the catalog describes it, plus the verdict on its sampled values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    pub name: String,
    /// The type as the database spells it (`character varying(100)`, `varchar(100)`, `TEXT`).
    pub data_type: String,
    pub nullable: bool,
    /// What most sampled values look like, if they agree; `None` when not sampled or unclear.
    pub sampled: Option<ValueKind>,
}

/// A foreign key: `columns` of this table reference `ref_columns` of `ref_table`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForeignKey {
    pub columns: Vec<String>,
    pub ref_table: String,
    pub ref_columns: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Table {
    pub name: String,
    pub columns: Vec<Column>,
    pub primary_key: Vec<String>,
    /// Only keys into tables of the same schema: the others cannot be followed in one system.
    pub foreign_keys: Vec<ForeignKey>,
}

impl Table {
    pub fn column(&self, name: &str) -> Option<&Column> {
        self.columns.iter().find(|c| c.name == name)
    }
}

/// Tables of one schema (PostgreSQL), database (MySQL) or file (SQLite), sorted by name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Catalog {
    pub dialect: Dialect,
    /// The schema or database read (`main` for SQLite).
    pub schema: String,
    /// Database name for naming the system (PostgreSQL/MySQL database, SQLite file stem).
    pub database: String,
    pub tables: Vec<Table>,
    /// Tables whose values could not be sampled, and why (no values in the reason).
    pub unsampled: Vec<String>,
}

impl Catalog {
    pub fn table(&self, name: &str) -> Option<&Table> {
        self.tables.iter().find(|t| t.name == name)
    }
}

/// How to read a catalog.
#[derive(Debug, Clone)]
pub struct ReadOptions<'a> {
    /// Schema (PostgreSQL) or database (MySQL); `None`: the connection's default.
    pub schema: Option<&'a str>,
    /// Values to sample per text column; 0 turns sampling off.
    pub sample: u32,
}

/// Reads the catalog behind `url` (which may hold a password: it is never printed).
pub async fn read(url: &str, opts: &ReadOptions<'_>) -> Result<Catalog, DiscoverError> {
    let mut catalog = match Dialect::from_url(url)? {
        Dialect::Postgres => super::postgres::read(url, opts).await?,
        Dialect::Mysql => super::mysql::read(url, opts).await?,
        Dialect::Sqlite => super::sqlite::read(url, opts).await?,
    };
    catalog.tables.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(catalog)
}

/// Tables from catalog rows of (table, column, type, nullable), in column order.
pub(crate) fn tables_from_columns(
    rows: impl IntoIterator<Item = (String, String, String, bool)>,
) -> std::collections::BTreeMap<String, Table> {
    let mut tables = std::collections::BTreeMap::new();
    for (table, name, data_type, nullable) in rows {
        tables
            .entry(table.clone())
            .or_insert_with(|| Table {
                name: table,
                columns: Vec::new(),
                primary_key: Vec::new(),
                foreign_keys: Vec::new(),
            })
            .columns
            .push(Column {
                name,
                data_type,
                nullable,
                sampled: None,
            });
    }
    tables
}

/// How long connecting may take: a host that drops packets would otherwise hang discover.
pub const CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// Connects within [`CONNECT_TIMEOUT`].
pub(crate) async fn connect<C, F>(connecting: F) -> Result<C, DiscoverError>
where
    F: std::future::Future<Output = Result<C, sqlx::Error>>,
{
    match tokio::time::timeout(CONNECT_TIMEOUT, connecting).await {
        Ok(r) => r.map_err(DiscoverError::db),
        Err(_) => Err(DiscoverError::Database(format!(
            "cannot connect: no answer within {}s",
            CONNECT_TIMEOUT.as_secs()
        ))),
    }
}

/// Why a table could not be sampled, for [`Catalog::unsampled`].
pub(crate) fn unsampled(table: &str, e: sqlx::Error) -> String {
    format!(
        "{table}: {}",
        crate::connectors::sql::classify_values(e, [])
    )
}

/// Turns sampled text into a verdict right away, so values never outlive the call.
pub(crate) fn verdict(values: Vec<Option<String>>) -> Option<ValueKind> {
    super::classify::verdict(values.iter().flatten().map(String::as_str))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dialect_from_url_scheme() {
        assert_eq!(
            Dialect::from_url("postgres://u@h/db").unwrap(),
            Dialect::Postgres
        );
        assert_eq!(
            Dialect::from_url("postgresql://h").unwrap(),
            Dialect::Postgres
        );
        assert_eq!(Dialect::from_url("mariadb://h/x").unwrap(), Dialect::Mysql);
        assert_eq!(Dialect::from_url("MySQL://h/x").unwrap(), Dialect::Mysql);
        assert_eq!(Dialect::from_url("sqlite:a.db").unwrap(), Dialect::Sqlite);
        let e = Dialect::from_url("oracle://scott:tiger@h").unwrap_err();
        assert_eq!(
            e.to_string(),
            "cannot tell the database kind from the url (it starts with 'oracle')"
        );
    }
}
