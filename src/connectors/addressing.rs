//! Checks shared by the kinds whose records are addressed by name (Redis keys, object keys,
//! file paths): their templates are well formed, every placeholder is a `match` entry and
//! every `match` entry is used.

use super::template::{Template, TemplateError};
use crate::playbook::check::Checker;
use crate::playbook::diagnostic::did_you_mean;
use crate::playbook::model;

/// How a kind reads its templates.
pub struct Rules<'a> {
    /// `match` entries used otherwise than in a template (S3 metadata): with any, a template
    /// may name a fixed prefix, since they select the person's records.
    pub used_elsewhere: &'a [String],
    /// What to say when a template has no placeholder and nothing else selects the records.
    pub no_placeholder_hint: Option<&'static str>,
    /// A further check of each template's text (files: a relative path).
    pub text_check: Option<fn(&str) -> Option<String>>,
}

pub fn template_hint() -> Option<String> {
    Some("write `{NAME}` for a `match` entry's value, `*` or `?` as wildcards, `{{` and `}}` for literal braces".into())
}

/// Parses the templates written at `at` (one path per template), reporting every problem.
pub fn templates(
    c: &mut Checker<'_>,
    base: &[&str],
    texts: &[(Vec<&str>, &String)],
    coll: &model::Collection,
    rules: &Rules<'_>,
) -> Vec<Template> {
    let mut templates = Vec::new();
    let mut used = std::collections::BTreeSet::new();
    for (p, text) in texts {
        let parsed = match Template::parse(text) {
            Err(TemplateError::NoPlaceholder) if !rules.used_elsewhere.is_empty() => {
                Template::parse_fixed(text)
            }
            other => other,
        };
        match parsed {
            Err(TemplateError::NoPlaceholder) if rules.no_placeholder_hint.is_some() => c.at_value(
                p,
                format!("'{text}': {}", TemplateError::NoPlaceholder),
                rules.no_placeholder_hint.map(String::from),
            ),
            Err(e) => c.at_value(p, format!("'{text}': {e}"), template_hint()),
            Ok(t) => {
                let mut ok = true;
                for ph in t.placeholders() {
                    used.insert(ph.to_string());
                    if !coll.match_on.contains_key(ph) {
                        let names: Vec<&str> = coll.match_on.keys().map(String::as_str).collect();
                        let hint = match did_you_mean(ph, names.iter().copied()) {
                            Some(s) => format!("did you mean '{{{s}}}'?"),
                            None => format!(
                                "each placeholder names a `match` entry, e.g. `match: {{ {ph}: identity.{ph} }}`"
                            ),
                        };
                        c.at_value(
                            p,
                            format!("placeholder '{{{ph}}}' is not an entry of `match`"),
                            Some(hint),
                        );
                        ok = false;
                    }
                }
                if let Some(problem) = rules.text_check.and_then(|check| check(text)) {
                    c.at_value(p, problem, None);
                    ok = false;
                }
                if ok {
                    templates.push(t);
                }
            }
        }
    }
    used.extend(rules.used_elsewhere.iter().cloned());
    if !templates.is_empty() {
        for col in coll.match_on.keys() {
            if !used.contains(col) {
                let mut p = base.to_vec();
                p.extend(["match", col.as_str()]);
                c.at_key(
                    &p,
                    format!("match entry '{col}' is used by no template"),
                    Some(format!("use it as `{{{col}}}` in a template, or remove it")),
                );
            }
        }
    }
    templates
}

/// A `mask` erase, which stores of opaque records cannot carry out.
pub fn refuse_mask(
    c: &mut Checker<'_>,
    base: &[&str],
    coll: &model::Collection,
    message: &str,
    hint: &str,
) {
    if let Some(model::RawErase::Detailed(d)) = &coll.erase
        && d.mask.is_some()
    {
        let mut p = base.to_vec();
        p.push("erase");
        c.at_value(&p, message, Some(hint.into()));
    }
}

/// The `max_keys` setting: at least 1.
pub fn check_max_keys(c: &mut Checker<'_>, system: &str, max_keys: Option<u64>) {
    if max_keys == Some(0) {
        c.at_value(
            &super::config::at(system, "max_keys"),
            "max_keys must be at least 1",
            None,
        );
    }
}
