//! Masking methods: what a masked field holds after erasure. Pure functions of the old value
//! (and, for `hash`, a secret key), so a masked value can be computed in the read phase,
//! journaled, written, and then verified byte for byte.

use hmac::{Hmac, Mac};
use rand::Rng;
use rand::distr::Alphanumeric;
use serde_json::Value;
use sha2::Sha256;

/// The fixed text of `redact`.
pub const REDACTED: &str = "[redacted]";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Null,
    Redact,
    Hash,
    Random,
    TruncateDate,
}

impl Method {
    pub const ALL: [Method; 5] = [
        Method::Null,
        Method::Redact,
        Method::Hash,
        Method::Random,
        Method::TruncateDate,
    ];

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "null" => Some(Self::Null),
            "redact" => Some(Self::Redact),
            "hash" => Some(Self::Hash),
            "random" => Some(Self::Random),
            "truncate_date" => Some(Self::TruncateDate),
            _ => None,
        }
    }
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The masked value for `old`. NULL stays NULL for every method but `redact`: there is
/// nothing to hide, and writing a value where there was none would invent data.
pub fn apply(method: Method, old: &Value, hash_key: Option<&[u8]>) -> Value {
    if old.is_null() && method != Method::Redact {
        return Value::Null;
    }
    match method {
        Method::Null => Value::Null,
        Method::Redact => Value::String(REDACTED.into()),
        Method::Hash => Value::String(hmac_hex(hash_key.unwrap_or_default(), &text(old))),
        Method::Random => Value::String(random_like(&text(old))),
        Method::TruncateDate => truncate_date(&text(old))
            .map(Value::String)
            .unwrap_or(Value::Null),
    }
}

/// Keyed HMAC-SHA256 as lower-case hex: the same input always maps to the same output (joins
/// and counts still work) but no dictionary of emails reverses it without the key.
pub fn hmac_hex(key: &[u8], value: &str) -> String {
    let mut mac =
        <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC accepts keys of any length");
    mac.update(value.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// A random value of the same kind: an email stays an email, digits stay digits of the same
/// length, anything else becomes letters and digits of the same length (at least 8).
pub fn random_like(old: &str) -> String {
    let mut rng = rand::rng();
    let mut alnum = |n: usize| -> String {
        (&mut rng)
            .sample_iter(&Alphanumeric)
            .take(n)
            .map(char::from)
            .collect::<String>()
    };
    if crate::identity::is_email(old) {
        return format!("{}@example.invalid", alnum(12).to_ascii_lowercase());
    }
    let len = old.chars().count();
    if len > 0 && old.chars().all(|c| c.is_ascii_digit()) {
        let mut rng = rand::rng();
        return (0..len)
            .map(|_| char::from(b'0' + rng.random_range(0..10u8)))
            .collect();
    }
    alnum(len.clamp(8, 64))
}

/// Keeps year and month: `1988-04-12` → `1988-04-01`, `2021-03-02T09:15:00+01:00` →
/// `2021-03-01T00:00:00+01:00`. The format (and any offset) is kept so the value reads back
/// exactly as written. `None` when the value does not start with a date.
pub fn truncate_date(old: &str) -> Option<String> {
    let b = old.as_bytes();
    let date_like = b.len() >= 10
        && b[..4].iter().all(u8::is_ascii_digit)
        && b[4] == b'-'
        && b[5..7].iter().all(u8::is_ascii_digit)
        && b[7] == b'-'
        && b[8..10].iter().all(u8::is_ascii_digit);
    if !date_like {
        return None;
    }
    let mut out = format!("{}-01", &old[..7]);
    let rest = &old[10..];
    // Zero the time of day, up to a time-zone designator.
    let mut in_zone = false;
    for (i, c) in rest.char_indices() {
        if i > 0 && matches!(c, '+' | '-' | 'Z') {
            in_zone = true;
        }
        out.push(if !in_zone && c.is_ascii_digit() {
            '0'
        } else {
            c
        });
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_method_masks() {
        assert_eq!(apply(Method::Null, &json!("x"), None), Value::Null);
        assert_eq!(
            apply(Method::Redact, &json!("12 Acacia Avenue"), None),
            json!("[redacted]")
        );
        let h = apply(Method::Hash, &json!("alice@example.com"), Some(b"k1"));
        assert_eq!(
            h,
            apply(Method::Hash, &json!("alice@example.com"), Some(b"k1"))
        );
        assert_ne!(
            h,
            apply(Method::Hash, &json!("alice@example.com"), Some(b"k2"))
        );
        assert_eq!(h.as_str().unwrap().len(), 64);
        assert_eq!(
            apply(Method::TruncateDate, &json!("1988-04-12"), None),
            json!("1988-04-01")
        );
        assert_eq!(apply(Method::Hash, &Value::Null, Some(b"k")), Value::Null);
    }

    #[test]
    fn random_keeps_the_kind() {
        let e = random_like("alice@example.com");
        assert!(crate::identity::is_email(&e) && e.ends_with("@example.invalid"));
        let d = random_like("0123456789");
        assert_eq!(d.len(), 10);
        assert!(d.chars().all(|c| c.is_ascii_digit()));
        assert_eq!(random_like("Bob").len(), 8);
        assert_ne!(random_like("Alice Andersen"), random_like("Alice Andersen"));
    }

    #[test]
    fn truncates_dates_and_keeps_their_format() {
        assert_eq!(
            truncate_date("2021-03-02T09:15:00Z").as_deref(),
            Some("2021-03-01T00:00:00Z")
        );
        assert_eq!(
            truncate_date("2021-03-02T09:15:00.123+01:00").as_deref(),
            Some("2021-03-01T00:00:00.000+01:00")
        );
        assert_eq!(
            truncate_date("2025-12-01 10:00:00").as_deref(),
            Some("2025-12-01 00:00:00")
        );
        assert_eq!(
            truncate_date("2024-02-29T12:45:00-05:30").as_deref(),
            Some("2024-02-01T00:00:00-05:30")
        );
        assert_eq!(truncate_date("yesterday"), None);
    }
}
