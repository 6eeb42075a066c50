//! Unit tests of the s3 connector.

use super::*;
use serde_json::json;

fn patterns(text: &str, value: &str) -> Vec<(String, bool, bool)> {
    let t = Template::parse(text).unwrap();
    let values = template::values_by_name(&[("id".into(), vec![json!(value)])]);
    expand(&t, &values)
        .unwrap()
        .iter()
        .map(|p| {
            let (prefix, select) = selection(p);
            let probe = format!("{prefix}x/y.png");
            (prefix, select.keeps(&probe), select.keeps(&p.literal))
        })
        .collect()
}

#[test]
fn templates_select_a_prefix_one_key_or_a_pattern() {
    // A trailing `/`: everything under the prefix.
    assert_eq!(
        patterns("uploads/{id}/", "42"),
        [("uploads/42/".into(), true, true)]
    );
    // No wildcard: that key only.
    assert_eq!(
        patterns("avatars/{id}.png", "42"),
        [("avatars/42.png".into(), false, true)]
    );
    // Wildcards list the literal prefix; a `*` in a value is not one.
    assert_eq!(
        patterns("logs/{id}-*.gz", "a*b"),
        [("logs/a*b-".into(), false, true)]
    );
    let t = Template::parse("logs/{id}-*.gz").unwrap();
    let values = template::values_by_name(&[("id".into(), vec![json!("a*b")])]);
    let (_, select) = selection(&expand(&t, &values).unwrap()[0]);
    assert!(select.keeps("logs/a*b-2024/01.gz"));
    assert!(!select.keeps("logs/aXb-2024.gz"));
}
