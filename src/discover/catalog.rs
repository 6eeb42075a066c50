//! The catalog model every reader fills in (with the shape its sampled values share), and the
//! entry point that picks the reader from the URL's scheme.

use super::DiscoverError;
use serde::Serialize;
use std::collections::BTreeMap;

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

/// The shape of a sampled value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ValueKind {
    Email,
    Phone,
    Ipv4,
    Ipv6,
    CardNumber,
}

impl ValueKind {
    pub fn name(self) -> &'static str {
        match self {
            Self::Email => "email",
            Self::Phone => "phone",
            Self::Ipv4 => "ipv4",
            Self::Ipv6 => "ipv6",
            Self::CardNumber => "card number",
        }
    }

    /// Kinds that count together in a verdict (IPv4 and IPv6 addresses: both are an IP
    /// address), in the order of the categories they stand for (`classify` names them).
    fn family(self) -> u8 {
        match self {
            Self::Email => 0,
            Self::Phone => 1,
            Self::CardNumber => 2,
            Self::Ipv4 | Self::Ipv6 => 3,
        }
    }
}

/// The Luhn checksum that payment card numbers carry.
pub fn luhn(digits: &str) -> bool {
    let mut sum = 0u32;
    for (i, c) in digits.chars().rev().enumerate() {
        let Some(mut d) = c.to_digit(10) else {
            return false;
        };
        if i % 2 == 1 {
            d *= 2;
            if d > 9 {
                d -= 9;
            }
        }
        sum += d;
    }
    !digits.is_empty() && sum.is_multiple_of(10)
}

fn looks_like_date(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() >= 10
        && b[..4].iter().all(u8::is_ascii_digit)
        && matches!(b[4], b'-' | b'/' | b'.')
        && b[7] == b[4]
        && b[5..7].iter().all(u8::is_ascii_digit)
        && b[8..10].iter().all(u8::is_ascii_digit)
}

/// The shape of one value, if it has a telling one.
pub fn value_kind(s: &str) -> Option<ValueKind> {
    let s = s.trim();
    if s.is_empty() || s.len() > 320 {
        return None;
    }
    if crate::identity::is_email(s) {
        return Some(ValueKind::Email);
    }
    // PostgreSQL prints inet host addresses with a prefix length when cast to text.
    let addr = s.split_once('/').map_or(s, |(a, _)| a);
    if let Ok(ip) = addr.parse::<std::net::IpAddr>() {
        return Some(if ip.is_ipv4() {
            ValueKind::Ipv4
        } else {
            ValueKind::Ipv6
        });
    }
    if !s
        .chars()
        .all(|c| c.is_ascii_digit() || matches!(c, ' ' | '-' | '+' | '(' | ')' | '.'))
        || looks_like_date(s)
    {
        return None;
    }
    let digits: String = s.chars().filter(char::is_ascii_digit).collect();
    let card_chars = s
        .chars()
        .all(|c| c.is_ascii_digit() || c == ' ' || c == '-');
    if card_chars && (13..=19).contains(&digits.len()) && luhn(&digits) {
        return Some(ValueKind::CardNumber);
    }
    let separated = s.contains([' ', '-', '(']);
    let plus = s.starts_with('+') && s[1..].chars().all(|c| c != '+');
    if (7..=15).contains(&digits.len()) && (plus || (separated && !s.contains(['+', '.']))) {
        return Some(ValueKind::Phone);
    }
    None
}

/// The kind most sampled values share, when at least 80% of the non-empty ones are of that
/// family (IPv4 and IPv6 addresses count together).
pub fn common_kind<'a>(values: impl IntoIterator<Item = &'a str>) -> Option<ValueKind> {
    let mut counts: BTreeMap<u8, (usize, ValueKind)> = BTreeMap::new();
    let mut total = 0usize;
    for v in values {
        if v.trim().is_empty() {
            continue;
        }
        total += 1;
        if let Some(k) = value_kind(v) {
            counts.entry(k.family()).or_insert((0, k)).0 += 1;
        }
    }
    let (n, kind) = counts.into_values().max_by_key(|(n, _)| *n)?;
    (total > 0 && n * 5 >= total * 4).then_some(kind)
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
    common_kind(values.iter().flatten().map(String::as_str))
}

/// Catalogs for the tests of what reads them.
#[cfg(test)]
pub(crate) mod testing {
    use super::{Catalog, Column, Dialect, ForeignKey, Table};

    pub fn col(name: &str, data_type: &str) -> Column {
        Column {
            name: name.into(),
            data_type: data_type.into(),
            nullable: true,
            sampled: None,
        }
    }

    pub fn table(name: &str, cols: &[&str], fks: &[(&str, &str)]) -> Table {
        Table {
            name: name.into(),
            columns: cols.iter().map(|c| col(c, "text")).collect(),
            primary_key: vec!["id".into()],
            foreign_keys: fks
                .iter()
                .map(|(c, t)| ForeignKey {
                    columns: vec![c.to_string()],
                    ref_table: t.to_string(),
                    ref_columns: vec!["id".into()],
                })
                .collect(),
        }
    }

    pub fn catalog(tables: Vec<Table>) -> Catalog {
        Catalog {
            dialect: Dialect::Sqlite,
            schema: "main".into(),
            database: "shop".into(),
            unsampled: Vec::new(),
            tables,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn luhn_accepts_card_numbers_and_rejects_typos() {
        assert!(luhn("4111111111111111"));
        assert!(luhn("79927398713"));
        assert!(!luhn("4111111111111112"));
        assert!(!luhn(""));
        assert!(!luhn("41x1"));
    }

    #[test]
    fn values_by_shape() {
        assert_eq!(value_kind("alice@example.com"), Some(ValueKind::Email));
        assert_eq!(value_kind("192.168.10.4"), Some(ValueKind::Ipv4));
        assert_eq!(value_kind("10.0.0.1/32"), Some(ValueKind::Ipv4));
        assert_eq!(value_kind("2001:db8::1"), Some(ValueKind::Ipv6));
        assert_eq!(
            value_kind("4111 1111 1111 1111"),
            Some(ValueKind::CardNumber)
        );
        assert_eq!(
            value_kind("4111-1111-1111-1112"),
            None,
            "fails Luhn, too long for a phone"
        );
        assert_eq!(value_kind("+44 20 7946 0018"), Some(ValueKind::Phone));
        assert_eq!(value_kind("(030) 1234-5678"), Some(ValueKind::Phone));
        assert_eq!(value_kind("+4915123456789"), Some(ValueKind::Phone));
        for neutral in [
            "2024-02-29",
            "2024-02-29 10:00:00",
            "TEA-001",
            "12.50",
            "1234567.89",
            "42",
            "hello world",
            "1.2.3",
        ] {
            assert_eq!(value_kind(neutral), None, "{neutral}");
        }
    }

    #[test]
    fn verdict_needs_four_in_five() {
        let mostly = [
            "a@example.com",
            "b@example.com",
            "c@example.com",
            "d@example.com",
            "n/a",
        ];
        assert_eq!(common_kind(mostly), Some(ValueKind::Email));
        let mixed = ["a@example.com", "b@example.com", "x", "y"];
        assert_eq!(common_kind(mixed), None);
        assert_eq!(common_kind(["", " "]), None);
        assert_eq!(
            common_kind(["192.0.2.1", "2001:db8::7", "10.0.0.1"]),
            Some(ValueKind::Ipv4)
        );
        assert_eq!(common_kind([]), None);
    }

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
