//! Key and path templates for stores that address records by name rather than by column:
//! Redis keys (`session:{email}:*`) and file paths (`uploads/{user_id}/*`).
//!
//! Syntax, the same everywhere:
//! - `{NAME}` is replaced by each value of the collection's `match` entry `NAME`. The value is
//!   inserted literally: glob characters in it match only themselves.
//! - `*` matches any run of characters (for files: within one path segment), `?` one
//!   character. These come only from the template text, never from a value.
//! - `{{` and `}}` are literal braces (for Redis hash tags: `cart:{{{user_id}}}` → `cart:{42}`).
//!
//! A template must hold at least one placeholder: a template without one would match every
//! person's records. Values whose text is empty are never used, for the same reason
//! (`{email}*` with an empty value would be `*`).

use serde_json::Value;
use std::collections::BTreeMap;

/// One piece of a parsed template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Part {
    /// Template text; `*` and `?` in it are wildcards.
    Text(String),
    /// `{NAME}`: a match entry's values go here.
    Placeholder(String),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    #[error("unclosed '{{' in template (write '{{{{' for a literal brace)")]
    Unclosed,
    #[error("unmatched '}}' in template (write '}}}}' for a literal brace)")]
    Unmatched,
    #[error("empty placeholder '{{}}' in template")]
    Empty,
    #[error("'{0}' is not a placeholder name (use letters, digits, '_' and '-')")]
    BadName(String),
    #[error("the template has no placeholder, so it would match every person's records")]
    NoPlaceholder,
}

/// A parsed template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    pub parts: Vec<Part>,
}

impl Template {
    /// Parses a template; see the module docs for the syntax.
    pub fn parse(text: &str) -> Result<Self, TemplateError> {
        let t = Self::parse_fixed(text)?;
        if !t.parts.iter().any(|p| matches!(p, Part::Placeholder(_))) {
            return Err(TemplateError::NoPlaceholder);
        }
        Ok(t)
    }

    /// Parses a template that may lack a placeholder, for stores where something else (object
    /// metadata) selects the person's records.
    pub fn parse_fixed(text: &str) -> Result<Self, TemplateError> {
        let mut parts = Vec::new();
        let mut literal = String::new();
        let mut chars = text.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '{' if chars.peek() == Some(&'{') => {
                    chars.next();
                    literal.push('{');
                }
                '}' if chars.peek() == Some(&'}') => {
                    chars.next();
                    literal.push('}');
                }
                '}' => return Err(TemplateError::Unmatched),
                '{' => {
                    let mut name = String::new();
                    loop {
                        match chars.next() {
                            None => return Err(TemplateError::Unclosed),
                            Some('}') => break,
                            Some(c) => name.push(c),
                        }
                    }
                    if name.is_empty() {
                        return Err(TemplateError::Empty);
                    }
                    if !name
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
                    {
                        return Err(TemplateError::BadName(name));
                    }
                    if !literal.is_empty() {
                        parts.push(Part::Text(std::mem::take(&mut literal)));
                    }
                    parts.push(Part::Placeholder(name));
                }
                c => literal.push(c),
            }
        }
        if !literal.is_empty() {
            parts.push(Part::Text(literal));
        }
        Ok(Self { parts })
    }

    /// The placeholder names, in order of first use.
    pub fn placeholders(&self) -> Vec<&str> {
        let mut out: Vec<&str> = Vec::new();
        for p in &self.parts {
            if let Part::Placeholder(n) = p
                && !out.contains(&n.as_str())
            {
                out.push(n);
            }
        }
        out
    }

    /// Every pattern this template yields for the given values: one per combination of the
    /// placeholders' values, each value passed through `escape` (which makes wildcard
    /// characters in it literal for the store's pattern syntax). Values with empty text, and
    /// values `accept` refuses, are left out. At most `limit` patterns; `None` beyond that.
    pub fn expand(
        &self,
        values: &BTreeMap<String, Vec<Value>>,
        escape: impl Fn(&str) -> String,
        accept: impl Fn(&str) -> bool,
        limit: usize,
    ) -> Option<Vec<Pattern>> {
        let mut out = vec![Pattern::default()];
        for part in &self.parts {
            match part {
                Part::Text(t) => {
                    for p in &mut out {
                        p.pattern.push_str(t);
                        p.literal.push_str(t);
                        p.wild |= t.contains(['*', '?']);
                    }
                }
                Part::Placeholder(name) => {
                    let texts: Vec<String> = values
                        .get(name)
                        .into_iter()
                        .flatten()
                        .map(super::sql::value_text)
                        .filter(|t| !t.is_empty() && accept(t))
                        .collect();
                    if out.len().saturating_mul(texts.len()) > limit {
                        return None;
                    }
                    let escaped: Vec<String> = texts.iter().map(|t| escape(t)).collect();
                    out = out
                        .iter()
                        .flat_map(|p| {
                            texts.iter().zip(&escaped).map(move |(t, e)| Pattern {
                                pattern: format!("{}{e}", p.pattern),
                                literal: format!("{}{t}", p.literal),
                                wild: p.wild,
                            })
                        })
                        .collect();
                }
            }
        }
        Some(out)
    }
}

/// One expanded template.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Pattern {
    /// With values escaped for the store's glob syntax.
    pub pattern: String,
    /// With values as they are (the exact name, when `wild` is false).
    pub literal: String,
    /// Whether the template text has wildcards (else the pattern names exactly one record).
    pub wild: bool,
}

/// The values of each match entry, by entry name.
pub fn values_by_name(matches: &[(String, Vec<Value>)]) -> BTreeMap<String, Vec<Value>> {
    let mut out: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for (name, values) in matches {
        out.entry(name.clone()).or_default().extend(values.clone());
    }
    out
}

/// Glob matching with `*` and `?` over characters, with `\` escaping the next character
/// (Redis's MATCH syntax without classes, and what the files connector uses per segment).
pub fn glob_match(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() {
            match p[pi] {
                '*' => {
                    star = Some((pi, ti));
                    pi += 1;
                    continue;
                }
                '?' => {
                    pi += 1;
                    ti += 1;
                    continue;
                }
                '\\' if pi + 1 < p.len() && p[pi + 1] == t[ti] => {
                    pi += 2;
                    ti += 1;
                    continue;
                }
                c if c != '\\' && c == t[ti] => {
                    pi += 1;
                    ti += 1;
                    continue;
                }
                _ => {}
            }
        }
        match star {
            Some((sp, st)) => {
                pi = sp + 1;
                ti = st + 1;
                star = Some((sp, st + 1));
            }
            None => return false,
        }
    }
    while pi < p.len() && p[pi] == '*' {
        pi += 1;
    }
    pi == p.len()
}

/// Escapes the glob characters of Redis's MATCH syntax (`* ? [ ] \`), so a value matches
/// only itself.
pub fn escape_glob(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_placeholders_wildcards_and_literal_braces() {
        let t = Template::parse("cart:{{{user_id}}}:*").unwrap();
        assert_eq!(
            t.parts,
            vec![
                Part::Text("cart:{".into()),
                Part::Placeholder("user_id".into()),
                Part::Text("}:*".into())
            ]
        );
        assert_eq!(t.placeholders(), ["user_id"]);
        assert_eq!(Template::parse("a:{x"), Err(TemplateError::Unclosed));
        assert_eq!(Template::parse("a:x}"), Err(TemplateError::Unmatched));
        assert_eq!(Template::parse("a:{}"), Err(TemplateError::Empty));
        assert_eq!(
            Template::parse("a:{x y}"),
            Err(TemplateError::BadName("x y".into()))
        );
        assert_eq!(Template::parse("a:*"), Err(TemplateError::NoPlaceholder));
    }

    #[test]
    fn expands_every_combination_and_escapes_values() {
        let t = Template::parse("s:{email}:{id}:*").unwrap();
        let values = values_by_name(&[
            ("email".into(), vec![json!("a*b@x"), json!("")]),
            ("id".into(), vec![json!(1), json!(2)]),
        ]);
        let got = t.expand(&values, escape_glob, |_| true, 100).unwrap();
        let patterns: Vec<&str> = got.iter().map(|p| p.pattern.as_str()).collect();
        assert_eq!(patterns, ["s:a\\*b@x:1:*", "s:a\\*b@x:2:*"]);
        assert!(got[0].wild);
        assert_eq!(got[0].literal, "s:a*b@x:1:*");
        assert!(t.expand(&values, escape_glob, |_| true, 1).is_none());
        let exact = Template::parse("p:{id}").unwrap();
        let got = exact.expand(&values, escape_glob, |_| true, 10).unwrap();
        assert!(!got[0].wild);
        assert!(
            exact
                .expand(&values, escape_glob, |v| v != "1", 10)
                .unwrap()
                .iter()
                .all(|p| p.literal == "p:2")
        );
    }

    #[test]
    fn globs_match_like_redis() {
        assert!(glob_match("session:a\\*b:*", "session:a*b:123"));
        assert!(!glob_match("session:a\\*b:*", "session:axb:123"));
        assert!(glob_match("f?le.*", "file.csv"));
        assert!(!glob_match("profile:1", "profile:10"));
        assert!(glob_match("*", ""));
    }
}
