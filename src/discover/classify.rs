//! Which columns hold personal data, and how each table reaches a person. Pure.
//!
//! A column is personal data when its name says so (`email`, `date_of_birth`, `shipping_zip`),
//! its type does (`inet`), or most of its sampled values have a telling shape (email
//! addresses, phone numbers, IP addresses, card numbers that pass the Luhn check). Some names
//! only count in context: a bare `name` is a person's name in a table that also holds an
//! email or phone, not in `products`; `country` is part of an address only next to other
//! address parts; free text (`body`, `notes`) only in a table that belongs to a person.
//!
//! Tables reach a person through an email column (matched on `identity.email`) or through
//! foreign keys to a table that does, followed transitively. Links are chosen shortest path
//! first and never so that they form a cycle, because the playbook's identity graph must be
//! acyclic.

use super::catalog::{Catalog, Column, Table};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

/// Data categories discover assigns (dotted lower case, as the playbook validator requires).
pub mod category {
    pub const EMAIL: &str = "contact.email";
    pub const PHONE: &str = "contact.phone";
    pub const ADDRESS: &str = "contact.address";
    pub const NAME: &str = "name";
    pub const USERNAME: &str = "identifier.username";
    pub const NATIONAL_ID: &str = "identifier.national";
    pub const BIRTH_DATE: &str = "demographic.birth_date";
    pub const GENDER: &str = "demographic.gender";
    pub const IP_ADDRESS: &str = "network.ip_address";
    pub const DEVICE_ID: &str = "device.identifier";
    pub const BROWSER: &str = "device.browser";
    pub const LOCATION: &str = "location.precise";
    pub const CARD: &str = "financial.card_number";
    pub const BANK_ACCOUNT: &str = "financial.bank_account";
    pub const CREDENTIALS: &str = "authentication.credentials";
    pub const FREE_TEXT: &str = "content.free_text";
    /// Keys: the columns that tie a record to a person or to other records.
    pub const INTERNAL_ID: &str = "identifier.internal";
    /// Other columns of a table that belongs to a person: personal data by association.
    pub const RECORD: &str = "record.detail";
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

    pub fn category(self) -> &'static str {
        match self {
            Self::Email => category::EMAIL,
            Self::Phone => category::PHONE,
            Self::Ipv4 | Self::Ipv6 => category::IP_ADDRESS,
            Self::CardNumber => category::CARD,
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
/// category (IPv4 and IPv6 addresses count together).
pub fn verdict<'a>(values: impl IntoIterator<Item = &'a str>) -> Option<ValueKind> {
    let mut counts: BTreeMap<&'static str, (usize, ValueKind)> = BTreeMap::new();
    let mut total = 0usize;
    for v in values {
        if v.trim().is_empty() {
            continue;
        }
        total += 1;
        if let Some(k) = value_kind(v) {
            counts.entry(k.category()).or_insert((0, k)).0 += 1;
        }
    }
    let (n, kind) = counts.into_values().max_by_key(|(n, _)| *n)?;
    (total > 0 && n * 5 >= total * 4).then_some(kind)
}

/// How a column's category was found, shown next to it in the draft.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "by", content = "kind")]
pub enum Basis {
    Name,
    Type,
    Values(ValueKind),
    /// The name only counts next to other columns (a bare `name` beside an email).
    Context,
}

impl Basis {
    pub fn describe(self) -> String {
        match self {
            Self::Name => "by name".into(),
            Self::Type => "by type".into(),
            Self::Values(k) => format!("by sampled values: {}", k.name()),
            Self::Context => "by name, in context".into(),
        }
    }
}

/// One column that holds personal data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub category: &'static str,
    #[serde(flatten)]
    pub basis: Basis,
}

/// Splits `shippingZip`, `IPAddress`, `date-of birth` into lower-case words.
pub fn words(name: &str) -> Vec<String> {
    let chars: Vec<char> = name.chars().collect();
    let mut out = Vec::new();
    let mut cur = String::new();
    for (i, &c) in chars.iter().enumerate() {
        if !c.is_alphanumeric() {
            if !cur.is_empty() {
                out.push(std::mem::take(&mut cur));
            }
            continue;
        }
        let prev = i.checked_sub(1).map(|j| chars[j]);
        let next = chars.get(i + 1).copied();
        let boundary = c.is_uppercase()
            && prev.is_some_and(|p| {
                p.is_lowercase()
                    || p.is_ascii_digit()
                    || (p.is_uppercase() && next.is_some_and(char::is_lowercase))
            });
        if boundary && !cur.is_empty() {
            out.push(std::mem::take(&mut cur));
        }
        cur.extend(c.to_lowercase());
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// What a column name alone says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum NameVerdict {
    Sure(&'static str),
    /// Counts only in context (see the module docs).
    Bare(&'static str),
}

/// Last words that make a name about something else: `email_verified_at`, `phone_type`.
const NOT_PERSONAL_LAST: &[&str] = &[
    "at",
    "on",
    "verified",
    "confirmed",
    "count",
    "sent",
    "status",
    "type",
    "kind",
    "flag",
    "enabled",
    "disabled",
    "optin",
    "opt",
    "consent",
    "consented",
    "format",
    "bounced",
    "valid",
    "visible",
    "public",
];

const NAME_OWNERS: &[&str] = &[
    "first",
    "last",
    "full",
    "given",
    "family",
    "middle",
    "display",
    "maiden",
    "legal",
    "real",
    "contact",
    "recipient",
    "customer",
    "person",
    "owner",
    "holder",
    "cardholder",
    "billing",
    "shipping",
    "patient",
    "member",
    "employee",
    "client",
    "guardian",
    "sender",
    "requester",
];

fn by_name(name: &str) -> Option<NameVerdict> {
    use NameVerdict::{Bare, Sure};
    use category as c;
    let raw = words(name);
    // `address1` and `line2` mean the same as without the digit.
    let w: Vec<&str> = raw
        .iter()
        .map(|s| s.trim_end_matches(|ch: char| ch.is_ascii_digit()))
        .filter(|s| !s.is_empty())
        .collect();
    let joined = w.join("_");
    let last = *w.last()?;
    if NOT_PERSONAL_LAST.contains(&last) {
        return None;
    }
    let has = |set: &[&str]| {
        w.iter().any(|x| set.contains(x)) || raw.iter().any(|x| set.contains(&x.as_str()))
    };
    let contains = |set: &[&str]| set.iter().any(|s| joined.contains(s));
    let found = if has(&["email", "mail", "emailaddress"]) {
        c::EMAIL
    } else if has(&[
        "phone",
        "mobile",
        "telephone",
        "tel",
        "msisdn",
        "fax",
        "phonenumber",
        "cellphone",
    ]) {
        c::PHONE
    } else if has(&["pan", "ccnum"])
        || contains(&[
            "card_number",
            "cardnumber",
            "card_no",
            "cc_number",
            "credit_card",
            "creditcard",
        ])
    {
        c::CARD
    } else if has(&["iban"])
        || contains(&[
            "account_number",
            "bank_account",
            "sort_code",
            "routing_number",
        ])
    {
        c::BANK_ACCOUNT
    } else if has(&["ssn", "nino", "passport", "personnummer", "aadhaar"])
        || contains(&[
            "social_security",
            "national_id",
            "national_insurance",
            "tax_id",
            "taxpayer",
            "driver_license",
            "drivers_license",
            "driving_licence",
            "id_card",
            "id_number",
        ])
    {
        c::NATIONAL_ID
    } else if has(&["dob", "birthday", "birthdate", "birth", "born"]) {
        c::BIRTH_DATE
    } else if has(&["gender", "sex"]) {
        c::GENDER
    } else if has(&["ip", "ipv4", "ipv6", "ipaddr", "ipaddress"])
        || contains(&["remote_addr", "client_addr"])
    {
        c::IP_ADDRESS
    } else if contains(&["user_agent", "useragent"]) {
        c::BROWSER
    } else if has(&["idfa", "gaid", "imei", "udid", "imsi"])
        || contains(&[
            "advertising_id",
            "android_id",
            "mac_address",
            "macaddr",
            "push_token",
        ])
        || (has(&["device"]) && has(&["id", "token", "identifier", "fingerprint"]))
    {
        c::DEVICE_ID
    } else if has(&[
        "latitude",
        "longitude",
        "lat",
        "lng",
        "geolocation",
        "geo",
        "coordinates",
    ]) {
        c::LOCATION
    } else if has(&["password", "passwd"]) || contains(&["password_hash", "pwd_hash"]) {
        c::CREDENTIALS
    } else if matches!(
        joined.as_str(),
        "username" | "user_name" | "login" | "login_name" | "screen_name" | "handle" | "nickname"
    ) {
        c::USERNAME
    } else if has(&[
        "surname",
        "forename",
        "firstname",
        "lastname",
        "fullname",
        "givenname",
        "familyname",
        "middlename",
    ]) || (last == "name" && w.len() >= 2 && NAME_OWNERS.contains(&w[w.len() - 2]))
    {
        c::NAME
    } else if last != "id"
        && has(&[
            "street",
            "address",
            "addr",
            "postcode",
            "postal",
            "zip",
            "zipcode",
            "postalcode",
            "city",
            "town",
            "house",
            "apartment",
            "suburb",
        ])
    {
        c::ADDRESS
    } else if joined == "name" {
        return Some(Bare(c::NAME));
    } else if matches!(
        joined.as_str(),
        "country" | "state" | "region" | "county" | "province"
    ) {
        return Some(Bare(c::ADDRESS));
    } else {
        return None;
    };
    Some(Sure(found))
}

fn is_boolean(data_type: &str) -> bool {
    let t = data_type.to_ascii_lowercase();
    t.starts_with("bool") || t == "tinyint(1)" || t == "bit(1)"
}

fn by_type(data_type: &str) -> Option<&'static str> {
    match data_type.to_ascii_lowercase().as_str() {
        "inet" | "cidr" => Some(category::IP_ADDRESS),
        "macaddr" | "macaddr8" => Some(category::DEVICE_ID),
        _ => None,
    }
}

/// The findings of one table, before anything is known about how it reaches a person.
/// Foreign-key columns are links, not personal data of their own.
pub fn classify_table(table: &Table) -> BTreeMap<String, Finding> {
    let fk_columns: BTreeSet<&str> = table
        .foreign_keys
        .iter()
        .flat_map(|fk| fk.columns.iter().map(String::as_str))
        .collect();
    let mut sure = BTreeMap::new();
    let mut bare = Vec::new();
    for col in &table.columns {
        if fk_columns.contains(col.name.as_str()) || is_boolean(&col.data_type) {
            continue;
        }
        let found = match (by_name(&col.name), by_type(&col.data_type), col.sampled) {
            (Some(NameVerdict::Sure(c)), _, _) => Some(Finding {
                category: c,
                basis: Basis::Name,
            }),
            (_, Some(c), _) => Some(Finding {
                category: c,
                basis: Basis::Type,
            }),
            (_, _, Some(kind)) => Some(Finding {
                category: kind.category(),
                basis: Basis::Values(kind),
            }),
            (Some(NameVerdict::Bare(c)), None, None) => {
                bare.push((col, c));
                None
            }
            (None, None, None) => None,
        };
        if let Some(f) = found {
            sure.insert(col.name.clone(), f);
        }
    }
    let holds = |cats: &[&str]| sure.values().any(|f: &Finding| cats.contains(&f.category));
    let person_like = holds(&[category::EMAIL, category::PHONE, category::BIRTH_DATE]);
    let has_address = holds(&[category::ADDRESS]);
    let mut out = sure.clone();
    for (col, cat) in bare {
        let keep =
            (cat == category::NAME && person_like) || (cat == category::ADDRESS && has_address);
        if keep {
            out.insert(
                col.name.clone(),
                Finding {
                    category: cat,
                    basis: Basis::Context,
                },
            );
        }
    }
    out
}

fn free_text(col: &Column) -> bool {
    matches!(
        words(&col.name).join("_").as_str(),
        "subject"
            | "body"
            | "message"
            | "comment"
            | "comments"
            | "note"
            | "notes"
            | "content"
            | "text"
            | "message_body"
    )
}

/// A `match` through a foreign key: `columns` hold values of `ref_table`'s `ref_columns`,
/// paired by position. A key of several columns is matched as a whole, row by row: matching
/// its columns one by one would also take rows that share only part of the key (the lines of
/// another region's order 1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Link {
    pub columns: Vec<String>,
    pub ref_table: String,
    pub ref_columns: Vec<String>,
}

impl Link {
    /// (column, referenced column) pairs, in key order.
    pub fn pairs(&self) -> impl Iterator<Item = (&str, &str)> {
        self.columns
            .iter()
            .map(String::as_str)
            .zip(self.ref_columns.iter().map(String::as_str))
    }
}

/// What discover concluded about one table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TableAnalysis {
    pub table: String,
    /// Columns holding personal data.
    pub findings: BTreeMap<String, Finding>,
    /// Email columns: the table is matched on `identity.email` through them.
    pub identity_columns: Vec<String>,
    /// Foreign keys it is matched through, at most one per referenced table.
    pub links: Vec<Link>,
    /// Foreign keys into a table it is already matched through by another key. A playbook
    /// matches all references to one collection together, row by row, so a second key into
    /// the same table cannot join the first in one collection (see the draft's comment).
    pub unfollowed: Vec<Link>,
    /// Foreign keys through which one table reaches a person in fewer hops (for the path).
    pub depth: Option<usize>,
    /// Other tables with foreign keys into this one (deleting its rows would break them).
    pub referenced_by: Vec<String>,
}

impl TableAnalysis {
    /// Whether the draft makes it a collection: a person's data reachable from an identity.
    pub fn reachable(&self) -> bool {
        !self.identity_columns.is_empty() || !self.links.is_empty()
    }

    pub fn has_personal_data(&self) -> bool {
        !self.findings.is_empty()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Analysis {
    /// In catalog order (by table name).
    pub tables: Vec<TableAnalysis>,
}

impl Analysis {
    pub fn table(&self, name: &str) -> Option<&TableAnalysis> {
        self.tables.iter().find(|t| t.table == name)
    }

    /// `name -> column` of what each table must provide for the links into it.
    pub fn provides(&self, table: &str) -> BTreeMap<String, String> {
        let mut out = BTreeMap::new();
        for t in &self.tables {
            for l in t.links.iter().filter(|l| l.ref_table == table) {
                for (_, r) in l.pairs() {
                    out.insert(provide_name(table, r), r.to_string());
                }
            }
        }
        out
    }
}

/// `users` + `id` → `user_id`; `orders` + `order_no` → `order_no`; `people` + `uuid` →
/// `people_uuid`.
pub fn provide_name(table: &str, column: &str) -> String {
    let lower = words(table).join("_");
    let singular = if let Some(stem) = lower.strip_suffix("ies") {
        format!("{stem}y")
    } else if lower.ends_with("ss") || lower.ends_with("us") {
        lower.clone()
    } else if let Some(stem) = lower.strip_suffix("ses") {
        format!("{stem}s")
    } else {
        lower.strip_suffix('s').unwrap_or(&lower).to_string()
    };
    let singular = if singular.is_empty() {
        "row".to_string()
    } else {
        singular
    };
    let col = words(column).join("_");
    if col.starts_with(&singular) {
        col
    } else {
        format!("{singular}_{col}")
    }
}

/// Classifies every table and works out how each reaches a person.
pub fn analyse(catalog: &Catalog) -> Analysis {
    let mut tables: Vec<TableAnalysis> = catalog
        .tables
        .iter()
        .map(|t| {
            let findings = classify_table(t);
            let identity_columns = findings
                .iter()
                .filter(|(_, f)| f.category == category::EMAIL)
                .map(|(c, _)| c.clone())
                .collect::<Vec<_>>();
            let referenced_by = catalog
                .tables
                .iter()
                .filter(|o| {
                    o.name != t.name && o.foreign_keys.iter().any(|fk| fk.ref_table == t.name)
                })
                .map(|o| o.name.clone())
                .collect();
            TableAnalysis {
                table: t.name.clone(),
                findings,
                depth: (!identity_columns.is_empty()).then_some(0),
                identity_columns,
                links: Vec::new(),
                unfollowed: Vec::new(),
                referenced_by,
            }
        })
        .collect();
    let index: BTreeMap<&str, usize> = catalog
        .tables
        .iter()
        .enumerate()
        .map(|(i, t)| (t.name.as_str(), i))
        .collect();
    // Keys between different tables of this catalog, of one column or several: what a
    // `match` can follow. A key whose columns do not pair up with referenced ones (a catalog
    // the reader could not make sense of) is left out rather than guessed at.
    let edges: Vec<(usize, Link)> = catalog
        .tables
        .iter()
        .enumerate()
        .flat_map(|(i, t)| {
            t.foreign_keys
                .iter()
                .filter(move |fk| {
                    fk.ref_table != t.name
                        && !fk.columns.is_empty()
                        && fk.columns.len() == fk.ref_columns.len()
                })
                .map(move |fk| {
                    (
                        i,
                        Link {
                            columns: fk.columns.clone(),
                            ref_table: fk.ref_table.clone(),
                            ref_columns: fk.ref_columns.clone(),
                        },
                    )
                })
        })
        .filter(|(_, l)| index.contains_key(l.ref_table.as_str()))
        .collect();
    // Breadth first from the tables with an email column: shortest paths.
    let mut level = 0;
    loop {
        let mut next = Vec::new();
        for (i, l) in &edges {
            let r = index[l.ref_table.as_str()];
            if tables[*i].depth.is_none() && tables[r].depth == Some(level) {
                next.push(*i);
            }
        }
        if next.is_empty() {
            break;
        }
        level += 1;
        for i in next {
            tables[i].depth = Some(level);
        }
    }
    // Links: those that lead closer to a person first (they cannot form a cycle), then the
    // others where they do not close one.
    let mut candidates: Vec<(bool, usize, &Link)> = edges
        .iter()
        .filter_map(|(i, l)| {
            let r = index[l.ref_table.as_str()];
            match (tables[*i].depth, tables[r].depth) {
                (Some(d), Some(rd)) => Some((rd >= d, *i, l)),
                _ => None,
            }
        })
        .collect();
    // Of several keys into one table only one can be followed (see `unfollowed`): a key of
    // required columns first, since every row has an owner through it.
    let optional = |i: usize, l: &Link| {
        l.columns
            .iter()
            .any(|c| catalog.tables[i].column(c).is_none_or(|c| c.nullable))
    };
    candidates.sort_by(|a, b| {
        (a.0, &tables[a.1].table, optional(a.1, a.2), &a.2.columns).cmp(&(
            b.0,
            &tables[b.1].table,
            optional(b.1, b.2),
            &b.2.columns,
        ))
    });
    let mut deps: Vec<BTreeSet<usize>> = vec![BTreeSet::new(); tables.len()];
    for (_, i, l) in candidates {
        let r = index[l.ref_table.as_str()];
        if deps[i].contains(&r) {
            tables[i].unfollowed.push(l.clone());
            continue;
        }
        if reaches(&deps, r, i) {
            continue;
        }
        deps[i].insert(r);
        tables[i].links.push(l.clone());
    }
    // Free text belongs to the person in tables that are theirs.
    for (t, cat) in tables.iter_mut().zip(&catalog.tables) {
        if t.reachable() {
            for col in cat.columns.iter().filter(|c| free_text(c)) {
                t.findings.entry(col.name.clone()).or_insert(Finding {
                    category: category::FREE_TEXT,
                    basis: Basis::Context,
                });
            }
        }
    }
    Analysis { tables }
}

/// Whether `from` depends on `to` through the links chosen so far.
fn reaches(deps: &[BTreeSet<usize>], from: usize, to: usize) -> bool {
    let mut stack = vec![from];
    let mut seen = BTreeSet::new();
    while let Some(n) = stack.pop() {
        if n == to {
            return true;
        }
        if seen.insert(n) {
            stack.extend(deps[n].iter().copied());
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::discover::catalog::{Dialect, ForeignKey};

    fn col(name: &str, data_type: &str) -> Column {
        Column {
            name: name.into(),
            data_type: data_type.into(),
            nullable: true,
            sampled: None,
        }
    }

    fn table(name: &str, cols: &[&str], fks: &[(&str, &str)]) -> Table {
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

    fn catalog(tables: Vec<Table>) -> Catalog {
        Catalog {
            dialect: Dialect::Sqlite,
            schema: "main".into(),
            database: "shop".into(),
            unsampled: Vec::new(),
            tables,
        }
    }

    fn cat(t: &Table, c: &str) -> Option<&'static str> {
        classify_table(t).get(c).map(|f| f.category)
    }

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
        assert_eq!(verdict(mostly), Some(ValueKind::Email));
        let mixed = ["a@example.com", "b@example.com", "x", "y"];
        assert_eq!(verdict(mixed), None);
        assert_eq!(verdict(["", " "]), None);
        assert_eq!(
            verdict(["192.0.2.1", "2001:db8::7", "10.0.0.1"]),
            Some(ValueKind::Ipv4)
        );
        assert_eq!(verdict([]), None);
    }

    #[test]
    fn words_split_every_naming_style() {
        assert_eq!(words("shippingZip"), ["shipping", "zip"]);
        assert_eq!(words("IPAddress"), ["ip", "address"]);
        assert_eq!(words("Full Name"), ["full", "name"]);
        assert_eq!(words("date_of-birth"), ["date", "of", "birth"]);
    }

    #[test]
    fn names_that_mean_personal_data() {
        let t = table(
            "users",
            &[
                "id",
                "email",
                "E_Mail_Address",
                "mobile",
                "firstName",
                "last_name",
                "name",
                "date_of_birth",
                "dob",
                "gender",
                "last_ip",
                "user_agent",
                "device_id",
                "ssn",
                "passport_no",
                "card_number",
                "iban",
                "street",
                "address_line2",
                "postcode",
                "city",
                "country",
                "latitude",
                "password_hash",
                "username",
            ],
            &[],
        );
        let expect = [
            ("email", category::EMAIL),
            ("E_Mail_Address", category::EMAIL),
            ("mobile", category::PHONE),
            ("firstName", category::NAME),
            ("last_name", category::NAME),
            ("name", category::NAME),
            ("date_of_birth", category::BIRTH_DATE),
            ("dob", category::BIRTH_DATE),
            ("gender", category::GENDER),
            ("last_ip", category::IP_ADDRESS),
            ("user_agent", category::BROWSER),
            ("device_id", category::DEVICE_ID),
            ("ssn", category::NATIONAL_ID),
            ("passport_no", category::NATIONAL_ID),
            ("card_number", category::CARD),
            ("iban", category::BANK_ACCOUNT),
            ("street", category::ADDRESS),
            ("address_line2", category::ADDRESS),
            ("postcode", category::ADDRESS),
            ("city", category::ADDRESS),
            ("country", category::ADDRESS),
            ("latitude", category::LOCATION),
            ("password_hash", category::CREDENTIALS),
            ("username", category::USERNAME),
        ];
        for (c, want) in expect {
            assert_eq!(cat(&t, c), Some(want), "{c}");
        }
        assert_eq!(cat(&t, "id"), None);
        assert_eq!(classify_table(&t)["name"].basis, Basis::Context);
    }

    #[test]
    fn no_false_positives_on_neutral_names() {
        let t = table(
            "products",
            &[
                "id",
                "sku",
                "name",
                "description",
                "price",
                "country",
                "state",
                "created_at",
                "email_verified_at",
                "phone_type",
                "status",
                "shipping_address_id",
                "notes",
            ],
            &[],
        );
        assert!(classify_table(&t).is_empty(), "{:?}", classify_table(&t));
        let mut flags = table("users", &["email"], &[]);
        flags.columns.push(col("email_opt_in", "boolean"));
        flags.columns.push(col("phone_ok", "tinyint(1)"));
        assert_eq!(classify_table(&flags).len(), 1);
    }

    #[test]
    fn types_and_samples_classify_unhelpful_names() {
        let mut t = table("events", &["origin", "contact", "ref"], &[]);
        t.columns[0].data_type = "inet".into();
        t.columns[1].sampled = Some(ValueKind::Email);
        let f = classify_table(&t);
        assert_eq!(
            f["origin"],
            Finding {
                category: category::IP_ADDRESS,
                basis: Basis::Type
            }
        );
        assert_eq!(
            f["contact"],
            Finding {
                category: category::EMAIL,
                basis: Basis::Values(ValueKind::Email)
            }
        );
        assert!(!f.contains_key("ref"));
    }

    #[test]
    fn provide_names_read_well() {
        assert_eq!(provide_name("users", "id"), "user_id");
        assert_eq!(provide_name("addresses", "id"), "address_id");
        assert_eq!(provide_name("companies", "id"), "company_id");
        assert_eq!(provide_name("orders", "order_no"), "order_no");
        assert_eq!(provide_name("status", "id"), "status_id");
        assert_eq!(provide_name("People", "uuid"), "people_uuid");
    }

    fn shop() -> Catalog {
        catalog(vec![
            table(
                "addresses",
                &["id", "user_id", "street", "city"],
                &[("user_id", "users")],
            ),
            table(
                "audit_events",
                &["id", "user_id", "ip", "action"],
                &[("user_id", "users")],
            ),
            table(
                "order_items",
                &["id", "order_id", "product_id", "quantity"],
                &[("order_id", "orders"), ("product_id", "products")],
            ),
            table(
                "orders",
                &["id", "user_id", "total", "shipping_address_id"],
                &[("user_id", "users"), ("shipping_address_id", "addresses")],
            ),
            table("products", &["id", "sku", "name", "price"], &[]),
            table(
                "support_tickets",
                &["id", "user_id", "email", "subject", "body"],
                &[("user_id", "users")],
            ),
            table(
                "users",
                &["id", "email", "name", "default_address_id"],
                &[("default_address_id", "addresses")],
            ),
        ])
    }

    #[test]
    fn reaches_people_through_foreign_keys_without_cycles() {
        let a = analyse(&shop());
        let t = |n: &str| a.table(n).unwrap();
        assert_eq!(t("users").identity_columns, ["email"]);
        assert_eq!(t("users").depth, Some(0));
        assert!(
            t("users").links.is_empty(),
            "users -> addresses would close a cycle"
        );
        assert_eq!(t("addresses").depth, Some(1));
        assert_eq!(t("addresses").links[0].ref_table, "users");
        assert_eq!(t("order_items").depth, Some(2));
        assert_eq!(
            t("order_items").links.len(),
            1,
            "products is not a person's"
        );
        let orders: Vec<&str> = t("orders")
            .links
            .iter()
            .map(|l| l.ref_table.as_str())
            .collect();
        assert_eq!(orders, ["users", "addresses"]);
        let tickets = t("support_tickets");
        assert_eq!(tickets.identity_columns, ["email"]);
        assert_eq!(tickets.links[0].columns, ["user_id"]);
        assert_eq!(tickets.findings["body"].category, category::FREE_TEXT);
        assert!(!t("products").reachable());
        assert!(!t("products").has_personal_data());
        assert_eq!(
            t("users").referenced_by,
            ["addresses", "audit_events", "orders", "support_tickets"]
        );
        assert_eq!(
            a.provides("users"),
            BTreeMap::from([("user_id".to_string(), "id".to_string())])
        );
        assert_eq!(a.provides("products"), BTreeMap::new());
    }

    /// users <- orders (PK region, num) <- order_lines, whose key names the columns in the
    /// other order (num, region) and under other names.
    fn composite() -> Catalog {
        let mut orders = table(
            "orders",
            &["region", "num", "user_id"],
            &[("user_id", "users")],
        );
        orders.primary_key = vec!["region".into(), "num".into()];
        let mut lines = table("order_lines", &["line_no", "o_region", "o_num", "qty"], &[]);
        lines.foreign_keys.push(ForeignKey {
            columns: vec!["o_num".into(), "o_region".into()],
            ref_table: "orders".into(),
            ref_columns: vec!["num".into(), "region".into()],
        });
        catalog(vec![lines, orders, table("users", &["id", "email"], &[])])
    }

    #[test]
    fn composite_foreign_keys_are_followed_with_their_columns_paired() {
        let a = analyse(&composite());
        let lines = a.table("order_lines").unwrap();
        assert!(lines.reachable());
        assert_eq!(lines.depth, Some(2));
        assert_eq!(
            lines.links,
            [Link {
                columns: vec!["o_num".into(), "o_region".into()],
                ref_table: "orders".into(),
                ref_columns: vec!["num".into(), "region".into()],
            }]
        );
        assert_eq!(
            a.provides("orders"),
            BTreeMap::from([
                ("order_num".to_string(), "num".to_string()),
                ("order_region".to_string(), "region".to_string()),
            ])
        );
        assert_eq!(a.table("orders").unwrap().referenced_by, ["order_lines"]);
    }

    #[test]
    fn a_key_whose_columns_do_not_pair_up_is_not_followed() {
        let mut c = composite();
        c.tables[0].foreign_keys[0].ref_columns.pop();
        assert!(!analyse(&c).table("order_lines").unwrap().reachable());
    }

    #[test]
    fn one_key_per_referenced_table_the_others_are_noted() {
        // Two keys into addresses: in one collection their columns would be read as one
        // row-wise tuple (billing and shipping the same address), so only one is followed.
        let a = analyse(&catalog(vec![
            table(
                "addresses",
                &["id", "user_id", "street"],
                &[("user_id", "users")],
            ),
            table(
                "orders",
                &["id", "billing_address_id", "shipping_address_id"],
                &[
                    ("shipping_address_id", "addresses"),
                    ("billing_address_id", "addresses"),
                ],
            ),
            table("users", &["id", "email"], &[]),
        ]));
        let o = a.table("orders").unwrap();
        let cols: Vec<&[String]> = o.links.iter().map(|l| l.columns.as_slice()).collect();
        assert_eq!(cols, [["billing_address_id".to_string()]]);
        let other: Vec<&[String]> = o.unfollowed.iter().map(|l| l.columns.as_slice()).collect();
        assert_eq!(other, [["shipping_address_id".to_string()]]);
    }

    #[test]
    fn one_column_may_link_to_several_tables() {
        let mut profiles = table("profiles", &["user_id", "email"], &[]);
        profiles.primary_key = vec!["user_id".into()];
        let mut c = catalog(vec![
            table("notes", &["id", "user_id", "body"], &[("user_id", "users")]),
            profiles,
            table("users", &["id", "email"], &[]),
        ]);
        c.tables[0].foreign_keys.push(ForeignKey {
            columns: vec!["user_id".into()],
            ref_table: "profiles".into(),
            ref_columns: vec!["user_id".into()],
        });
        let a = analyse(&c);
        let targets: BTreeSet<&str> = a
            .table("notes")
            .unwrap()
            .links
            .iter()
            .map(|l| l.ref_table.as_str())
            .collect();
        assert_eq!(targets, BTreeSet::from(["profiles", "users"]));
    }

    #[test]
    fn personal_data_without_a_path_is_not_reachable() {
        let a = analyse(&catalog(vec![
            table("guests", &["id", "phone"], &[]),
            table("users", &["id", "email"], &[]),
        ]));
        let g = a.table("guests").unwrap();
        assert!(g.has_personal_data() && !g.reachable());
    }
}
