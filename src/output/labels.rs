//! Data categories in words the person understands. Playbooks name categories in dotted lower
//! case (`contact.email`, `financial.payment`); the index page shows "Email address", "Payment
//! details". Categories this table does not know still read as words, never as a code.

/// Categories the shipped playbooks, connectors and `dsr discover` use, and common others.
const KNOWN: &[(&str, &str)] = &[
    ("account.metadata", "Account details"),
    (
        "activity.email_engagement",
        "Which of our emails you opened",
    ),
    ("activity.time", "When you did things"),
    ("authentication.credentials", "Sign-in credentials"),
    ("biometric", "Biometric data"),
    ("consent.record", "Record of your consent"),
    ("contact.address", "Postal address"),
    ("contact.email", "Email address"),
    ("contact.phone", "Phone number"),
    ("content.free_text", "Text you wrote"),
    ("demographic.birth_date", "Date of birth"),
    ("demographic.gender", "Gender"),
    ("device.browser", "Browser and device"),
    ("device.identifier", "Device identifier"),
    ("financial.bank_account", "Bank account details"),
    ("financial.card_number", "Payment card number"),
    ("financial.payment", "Payment details"),
    ("financial.transaction", "Payments and transactions"),
    ("health", "Health data"),
    ("identifier.account", "Account identifier"),
    ("identifier.internal", "Reference numbers"),
    ("identifier.national", "National identification number"),
    ("identifier.username", "Username"),
    ("location.approximate", "Approximate location"),
    ("location.precise", "Precise location"),
    ("name", "Name"),
    ("network.ip_address", "IP address"),
    ("preference.marketing", "Marketing preferences"),
    ("record.detail", "Other details of your records"),
];

/// A category as plain words: the known label, else its words (`loyalty.tier_level` →
/// "Tier level (loyalty)"), the most specific part first since that is what the data is.
pub fn category(cat: &str) -> String {
    if let Some((_, label)) = KNOWN.iter().find(|(c, _)| *c == cat) {
        return (*label).to_string();
    }
    let mut parts: Vec<String> = cat
        .split('.')
        .map(|p| p.replace('_', " ").trim().to_string())
        .filter(|p| !p.is_empty())
        .collect();
    let Some(last) = parts.pop() else {
        return "Other details".to_string();
    };
    let head = capitalise(&last);
    if parts.is_empty() {
        head
    } else {
        format!("{head} ({})", parts.join(", "))
    }
}

/// A column name as a heading when the playbook gives no description: `full_name` → "Full name".
pub fn column(name: &str) -> String {
    let words = name.replace(['_', '-'], " ");
    let trimmed = words.trim();
    if trimmed.is_empty() {
        name.to_string()
    } else {
        capitalise(trimmed)
    }
}

/// A phrase as the start of a sentence: `our legitimate interests` → "Our legitimate interests".
pub fn capitalise(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn categories_read_as_words() {
        assert_eq!(category("contact.email"), "Email address");
        assert_eq!(category("identifier.account"), "Account identifier");
        assert_eq!(category("financial.payment"), "Payment details");
        assert_eq!(category("loyalty.tier_level"), "Tier level (loyalty)");
        assert_eq!(category("shoe_size"), "Shoe size");
        assert_eq!(category("a.b.c_d"), "C d (a, b)");
        assert_eq!(category(""), "Other details");
    }

    #[test]
    fn columns_read_as_headings() {
        assert_eq!(column("full_name"), "Full name");
        assert_eq!(column("id"), "Id");
        assert_eq!(column("_"), "_");
    }

    #[test]
    fn every_known_category_is_a_valid_playbook_category() {
        for (c, label) in KNOWN {
            assert!(
                c.split('.')
                    .all(|p| !p.is_empty()
                        && p.chars().all(|ch| ch.is_ascii_lowercase() || ch == '_')),
                "{c}"
            );
            assert!(!label.is_empty());
        }
        let mut sorted: Vec<&str> = KNOWN.iter().map(|(c, _)| *c).collect();
        sorted.sort_unstable();
        assert_eq!(
            sorted,
            KNOWN.iter().map(|(c, _)| *c).collect::<Vec<_>>(),
            "sorted, so duplicates show"
        );
    }
}
