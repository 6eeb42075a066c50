//! Which columns hold personal data, and the analysis of a whole catalog: each table's
//! findings, and how it reaches a person ([`super::reach`]). Pure.
//!
//! A column is personal data when its name says so (`email`, `date_of_birth`, `shipping_zip`),
//! its type does (`inet`), or most of its sampled values have a telling shape (email
//! addresses, phone numbers, IP addresses, card numbers that pass the Luhn check). Some names
//! only count in context: a bare `name` is a person's name in a table that also holds an
//! email or phone, not in `products`; `country` is part of an address only next to other
//! address parts; free text (`body`, `notes`) only in a table that belongs to a person.

use super::catalog::{Catalog, Column, Table, ValueKind};
use super::reach::Link;
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

/// The category a sampled value's shape stands for (here, with the categories; the shapes
/// are the catalog's).
impl ValueKind {
    pub fn category(self) -> &'static str {
        match self {
            Self::Email => category::EMAIL,
            Self::Phone => category::PHONE,
            Self::Ipv4 | Self::Ipv6 => category::IP_ADDRESS,
            Self::CardNumber => category::CARD,
        }
    }
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
    let findings: Vec<BTreeMap<String, Finding>> =
        catalog.tables.iter().map(classify_table).collect();
    let identity: Vec<Vec<String>> = findings
        .iter()
        .map(|f| {
            f.iter()
                .filter(|(_, f)| f.category == category::EMAIL)
                .map(|(c, _)| c.clone())
                .collect()
        })
        .collect();
    let entry: Vec<bool> = identity.iter().map(|c| !c.is_empty()).collect();
    let routes = super::reach::routes(catalog, &entry);
    let mut tables: Vec<TableAnalysis> = catalog
        .tables
        .iter()
        .zip(findings)
        .zip(identity)
        .zip(routes)
        .map(|(((t, findings), identity_columns), route)| TableAnalysis {
            table: t.name.clone(),
            findings,
            identity_columns,
            links: route.links,
            unfollowed: route.unfollowed,
            depth: route.depth,
            referenced_by: route.referenced_by,
        })
        .collect();
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::discover::catalog::testing::{col, table};

    fn cat(t: &Table, c: &str) -> Option<&'static str> {
        classify_table(t).get(c).map(|f| f.category)
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
}
