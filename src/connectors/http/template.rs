//! Templates in HTTP definitions: `/v1/customers/{id}`, `email:'{value}'`,
//! `{identity.email|lower|md5}`.
//!
//! A placeholder names a variable and optional filters. Variables come from the request
//! (`value`, `match.COLUMN`, `identity.KIND`), the found record (`id`), an async job
//! (`job_id`) and the system's settings (`config.NAME`). Values placed into a URL path are
//! percent-encoded as one segment each, so a value can never change which endpoint is called.
//! `{{` and `}}` stand for literal braces.

use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    #[error("unterminated '{{' in template")]
    Unterminated,
    #[error("empty placeholder '{{}}'")]
    Empty,
    #[error("unknown filter '{0}' (expected lower, upper, trim, md5, sha256, escape)")]
    UnknownFilter(String),
    #[error("unknown template variable '{0}'")]
    UnknownVariable(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Filter {
    Lower,
    Upper,
    Trim,
    Md5,
    Sha256,
    /// Backslash before `\`, `'` and `"`: for values placed inside a quoted string of a
    /// vendor's search language, so that a value cannot end the string and add conditions.
    Escape,
}

impl Filter {
    fn parse(s: &str) -> Result<Self, TemplateError> {
        Ok(match s.trim() {
            "lower" => Self::Lower,
            "upper" => Self::Upper,
            "trim" => Self::Trim,
            "md5" => Self::Md5,
            "sha256" => Self::Sha256,
            "escape" => Self::Escape,
            other => return Err(TemplateError::UnknownFilter(other.to_string())),
        })
    }

    fn apply(self, v: String) -> String {
        use sha2::Digest;
        match self {
            Self::Lower => v.to_lowercase(),
            Self::Upper => v.to_uppercase(),
            Self::Trim => v.trim().to_string(),
            Self::Md5 => hex::encode(md5::Md5::digest(v.as_bytes())),
            Self::Sha256 => hex::encode(sha2::Sha256::digest(v.as_bytes())),
            Self::Escape => {
                let mut out = String::with_capacity(v.len());
                for c in v.chars() {
                    if matches!(c, '\\' | '\'' | '"') {
                        out.push('\\');
                    }
                    out.push(c);
                }
                out
            }
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Text(String),
    Var { name: String, filters: Vec<Filter> },
}

fn parse(template: &str) -> Result<Vec<Part>, TemplateError> {
    let mut parts = Vec::new();
    let mut text = String::new();
    let mut chars = template.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        match c {
            '{' if matches!(chars.peek(), Some((_, '{'))) => {
                chars.next();
                text.push('{');
            }
            '}' if matches!(chars.peek(), Some((_, '}'))) => {
                chars.next();
                text.push('}');
            }
            '{' => {
                let rest = &template[i + 1..];
                let end = rest.find('}').ok_or(TemplateError::Unterminated)?;
                let inner = &rest[..end];
                let mut pieces = inner.split('|');
                let name = pieces.next().unwrap_or("").trim().to_string();
                if name.is_empty() {
                    return Err(TemplateError::Empty);
                }
                let filters = pieces.map(Filter::parse).collect::<Result<Vec<_>, _>>()?;
                if !text.is_empty() {
                    parts.push(Part::Text(std::mem::take(&mut text)));
                }
                parts.push(Part::Var { name, filters });
                // Skip the placeholder's characters.
                for _ in 0..inner.chars().count() + 1 {
                    chars.next();
                }
            }
            other => text.push(other),
        }
    }
    if !text.is_empty() {
        parts.push(Part::Text(text));
    }
    Ok(parts)
}

/// The variables a template uses, after checking its syntax.
pub fn variables(template: &str) -> Result<Vec<String>, TemplateError> {
    Ok(parse(template)?
        .into_iter()
        .filter_map(|p| match p {
            Part::Var { name, .. } => Some(name),
            Part::Text(_) => None,
        })
        .collect())
}

/// Variable values for one call.
#[derive(Debug, Clone, Default)]
pub struct Vars(BTreeMap<String, String>);

impl Vars {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn set(&mut self, name: impl Into<String>, value: impl Into<String>) -> &mut Self {
        self.0.insert(name.into(), value.into());
        self
    }

    pub fn with(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.set(name, value);
        self
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }
}

/// How substituted values are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// As they are (query parameters and bodies are encoded by the HTTP layer).
    Raw,
    /// Percent-encoded as a single path segment.
    PathSegment,
}

/// Fills a template. A variable without a value is an error naming the variable only.
pub fn render(template: &str, vars: &Vars, encoding: Encoding) -> Result<String, TemplateError> {
    let mut out = String::new();
    for part in parse(template)? {
        match part {
            Part::Text(t) => out.push_str(&t),
            Part::Var { name, filters } => {
                let mut v = vars
                    .get(&name)
                    .ok_or_else(|| TemplateError::UnknownVariable(name.clone()))?
                    .to_string();
                for f in filters {
                    v = f.apply(v);
                }
                match encoding {
                    Encoding::Raw => out.push_str(&v),
                    Encoding::PathSegment => out.push_str(&encode_segment(&v)),
                }
            }
        }
    }
    Ok(out)
}

/// Percent-encodes everything but RFC 3986 unreserved characters.
pub fn encode_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    // "." and ".." are path navigation even when encoded by some servers.
    match out.as_str() {
        "." => "%2E".into(),
        ".." => "%2E%2E".into(),
        _ => out,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fills_variables_with_filters() {
        let vars = Vars::new().with("identity.email", "Alice@Example.com");
        assert_eq!(
            render("/members/{identity.email|lower|md5}", &vars, Encoding::Raw).unwrap(),
            format!(
                "/members/{}",
                hex::encode(<md5::Md5 as sha2::Digest>::digest(b"alice@example.com"))
            )
        );
        assert_eq!(
            render("email:'{identity.email}' {{x}}", &vars, Encoding::Raw).unwrap(),
            "email:'Alice@Example.com' {x}"
        );
    }

    #[test]
    fn escaped_values_cannot_end_a_quoted_search_string() {
        let vars = Vars::new().with("value", "x' OR email:'bob@example.com");
        assert_eq!(
            render("email:'{value|escape}'", &vars, Encoding::Raw).unwrap(),
            "email:'x\\' OR email:\\'bob@example.com'"
        );
        let vars = Vars::new().with("value", r#"a"\b"#);
        assert_eq!(
            render("{value|escape}", &vars, Encoding::Raw).unwrap(),
            r#"a\"\\b"#
        );
    }

    #[test]
    fn path_values_cannot_escape_their_segment() {
        let vars = Vars::new().with("id", "../admin?x=1#y").with("dots", "..");
        assert_eq!(
            render("/users/{id}", &vars, Encoding::PathSegment).unwrap(),
            "/users/..%2Fadmin%3Fx%3D1%23y"
        );
        assert_eq!(
            render("/u/{dots}", &vars, Encoding::PathSegment).unwrap(),
            "/u/%2E%2E"
        );
        assert_eq!(encode_segment("auth0|123"), "auth0%7C123");
    }

    #[test]
    fn reports_syntax_errors_and_missing_variables() {
        assert_eq!(
            variables("/a/{id}/{config.x|lower}").unwrap(),
            ["id", "config.x"]
        );
        assert_eq!(variables("/a/{id"), Err(TemplateError::Unterminated));
        assert_eq!(variables("/a/{}"), Err(TemplateError::Empty));
        assert_eq!(
            variables("{id|rot13}"),
            Err(TemplateError::UnknownFilter("rot13".into()))
        );
        assert_eq!(
            render("{nope}", &Vars::new(), Encoding::Raw),
            Err(TemplateError::UnknownVariable("nope".into()))
        );
    }
}
