//! The identities a request starts from: `alice@example.com`, or `--id kind=value`.

use crate::error::UsageError;
use std::collections::BTreeMap;

/// Identity kind -> values given in the request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestIdentities(pub BTreeMap<String, Vec<String>>);

impl RequestIdentities {
    pub fn get(&self, kind: &str) -> &[String] {
        self.0.get(kind).map(Vec::as_slice).unwrap_or(&[])
    }

    pub fn kinds(&self) -> Vec<&str> {
        self.0.keys().map(String::as_str).collect()
    }
}

/// An identity value as dsr compares it: trimmed and in Unicode NFC (so `zoë` typed with a
/// combining diaeresis is the same person as `zoë` typed with one character); emails also
/// lower-cased, because people and mail providers treat addresses case-insensitively.
pub fn normalise_value(kind: &str, value: &str) -> String {
    use unicode_normalization::UnicodeNormalization;
    let nfc: String = value.trim().nfc().collect();
    if kind == "email" {
        nfc.to_lowercase()
    } else {
        nfc
    }
}

/// A plausible email address: one `@`, a non-empty local part, a dotted domain, no spaces.
pub fn is_email(s: &str) -> bool {
    let Some((local, domain)) = s.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && local.len() <= 64
        && domain.len() <= 253
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !domain.contains('@')
        && !s.chars().any(|c| c.is_whitespace() || c.is_control())
}

/// Parses the positional identity and `--id kind=value` flags against the playbook's kinds.
pub fn parse(
    positional: Option<&str>,
    ids: &[String],
    declared: &[String],
) -> Result<RequestIdentities, UsageError> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut add = |kind: &str, value: &str| -> Result<(), UsageError> {
        let value = value.trim();
        if value.is_empty() {
            return Err(UsageError::new(format!("the {kind} identity is empty")));
        }
        if value.chars().any(char::is_control) {
            return Err(UsageError::new(format!(
                "the {kind} identity contains control characters"
            )));
        }
        if value.len() > 1024 {
            return Err(UsageError::new(format!(
                "the {kind} identity is longer than 1024 bytes"
            )));
        }
        if kind == "email" && !is_email(value) {
            return Err(
                UsageError::new("the email identity is not a valid email address")
                    .with_hint("write it as name@example.com"),
            );
        }
        if !declared.iter().any(|d| d == kind) {
            return Err(UsageError::new(format!(
                "identity kind '{kind}' is not declared in the playbook"
            ))
            .with_hint(format!("the playbook declares: {}", declared.join(", "))));
        }
        let value = normalise_value(kind, value);
        let values = out.entry(kind.to_string()).or_default();
        if !values.contains(&value) {
            values.push(value);
        }
        Ok(())
    };
    if let Some(p) = positional {
        if p.contains('@') {
            add("email", p)?;
        } else if let Some((kind, value)) = p.split_once('=') {
            add(kind.trim(), value)?;
        } else {
            return Err(
                UsageError::new("cannot tell what kind of identity this is").with_hint(
                    "give an email address, or use --id KIND=VALUE (e.g. --id user_id=42)",
                ),
            );
        }
    }
    for id in ids {
        let Some((kind, value)) = id.split_once('=') else {
            return Err(
                UsageError::new("--id takes KIND=VALUE").with_hint("e.g. --id phone=+441234567890")
            );
        };
        add(kind.trim(), value)?;
    }
    if out.is_empty() {
        return Err(UsageError::new("no identity given")
            .with_hint("dsr export alice@example.com, or --id KIND=VALUE"));
    }
    Ok(RequestIdentities(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn declared() -> Vec<String> {
        vec!["email".into(), "user_id".into()]
    }

    #[test]
    fn parses_email_and_ids() {
        let ids = parse(
            Some("alice@example.com"),
            &["user_id=42".into()],
            &declared(),
        )
        .unwrap();
        assert_eq!(ids.get("email"), ["alice@example.com"]);
        assert_eq!(ids.get("user_id"), ["42"]);
    }

    #[test]
    fn normalises_case_and_unicode_form() {
        let ids = parse(
            Some(" ALICE@Example.COM "),
            &[
                "email=zoe\u{0308}@example.org".into(),
                "user_id= 42 ".into(),
            ],
            &declared(),
        )
        .unwrap();
        assert_eq!(
            ids.get("email"),
            ["alice@example.com", "zo\u{eb}@example.org"]
        );
        assert_eq!(ids.get("user_id"), ["42"]);
        // Other kinds keep their case: only emails are case-insensitive by nature.
        assert_eq!(normalise_value("user_id", "AbC"), "AbC");
    }

    #[test]
    fn rejects_bad_identities() {
        assert!(parse(Some("alice"), &[], &declared()).is_err());
        assert!(parse(Some("alice@nodot"), &[], &declared()).is_err());
        assert!(parse(Some("a\u{7}@example.com"), &[], &declared()).is_err());
        assert!(parse(None, &["phone=1".into()], &declared()).is_err());
        assert!(parse(None, &[], &declared()).is_err());
    }
}
