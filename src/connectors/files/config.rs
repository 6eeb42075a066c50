//! A files system: `path`, the directory its collections' paths start from; each collection
//! has a `path:` template and, when its records are rows of CSV or JSON-lines files, a
//! `format:`.

use super::{FileFormat, check_relative};
use crate::connectors::addressing::{self, Rules};
use crate::connectors::config::{self, Level};
use crate::connectors::template::{Part, Template};
use crate::connectors::{Capabilities, ConnectorKind, Help, KindInfo};
use crate::playbook::check::{Checker, check_references, hint_for};
use crate::playbook::model;
use serde::Deserialize;
use std::collections::BTreeMap;

pub const KIND: KindInfo = KindInfo {
    name: "files",
    aliases: &[],
    system_keys: &["path"],
    collection_keys: &["path", "format"],
    capabilities: Capabilities {
        compares_columns: false,
        correct: true,
        http: false,
    },
    help: Help {
        summary: "files under a directory, or rows of CSV / JSON-lines files",
        needs: &["path"],
    },
    misplaced: &[
        ("table", "a file is addressed by its path; write `path:`"),
        ("key", "a file is addressed by its path; write `path:`"),
        ("keys", "a file is addressed by its path; write `path:`"),
    ],
};

#[derive(Debug, Clone)]
pub struct Config {
    /// The directory, relative to the playbook or absolute; may hold references.
    pub path: String,
    pub collections: BTreeMap<String, Collection>,
}

/// One collection of a files system.
#[derive(Debug, Clone)]
pub struct Collection {
    /// The path template (one), parsed.
    pub templates: Vec<Template>,
    /// The format whose rows are the records (`None`: whole files are).
    pub format: Option<FileFormat>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    #[serde(default)]
    path: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCollection {
    #[serde(default)]
    path: Option<String>,
    #[serde(default)]
    format: Option<String>,
}

pub fn configure(c: &mut Checker<'_>, name: &str, sys: &model::System) -> Option<Config> {
    let base = ["systems", name];
    let raw = config::read::<Raw>(c, &base, ConnectorKind::Files, Level::System, &sys.settings);
    let collections = config::each_collection(c, name, sys, collection);
    let Some(path) = raw?.path else {
        if config::misspelt(&sys.settings, &["path"]) {
            return None;
        }
        c.at_key(
            &base,
            "a files system needs `path`, the directory its collections' paths start from",
            Some("e.g. `path: /srv/app/data` or a path relative to the playbook".into()),
        );
        return None;
    };
    check_references(c, &config::at(name, "path"), &path);
    Some(Config {
        path,
        collections: collections?,
    })
}

fn collection(c: &mut Checker<'_>, base: &[&str], coll: &model::Collection) -> Option<Collection> {
    let before = c.count();
    let raw = config::read::<RawCollection>(
        c,
        base,
        ConnectorKind::Files,
        Level::Collection,
        &coll.settings,
    )?;
    let at = |f: &'static str| -> Vec<&str> { base.iter().copied().chain([f]).collect() };
    let format = match &raw.format {
        Some(f) => match FileFormat::parse(f) {
            Some(f) => Some(f),
            None => {
                c.at_value(
                    &at("format"),
                    format!("unknown file format '{f}'"),
                    hint_for(f, &FileFormat::NAMES),
                );
                None
            }
        },
        None => None,
    };
    addressing::refuse_mask(
        c,
        base,
        coll,
        "files collections support `delete` and `keep`, not `mask`",
        "a masked row would no longer match its fingerprint, so it could not be verified",
    );
    let Some(text) = &raw.path else {
        if config::misspelt(&coll.settings, &["path"]) {
            return None;
        }
        c.at_key(
            base,
            "a files collection needs `path:`, the path template its files are found by",
            Some(
                "e.g. `path: uploads/{user_id}/*` with `match: { user_id: users.user_id }`".into(),
            ),
        );
        return None;
    };
    let templates = if raw.format.is_some() {
        // Rows are matched by column; the path only names the file(s) to read.
        if text.contains(['{', '}']) {
            c.at_value(
                &at("path"),
                format!("'{text}' has a placeholder, but with `format:` the records are the rows whose `match` columns hold the identity"),
                Some("name the file itself, e.g. `path: exports/customers.csv` (`*` is allowed)".into()),
            );
            Vec::new()
        } else if let Some(problem) = check_relative(text) {
            c.at_value(&at("path"), problem, None);
            Vec::new()
        } else {
            vec![Template {
                parts: vec![Part::Text(text.clone())],
            }]
        }
    } else {
        let rules = Rules {
            used_elsewhere: &[],
            no_placeholder_hint: None,
            text_check: Some(check_relative),
        };
        addressing::templates(c, base, &[(at("path"), text)], coll, &rules)
    };
    (c.count() == before).then_some(Collection { templates, format })
}

impl crate::connectors::KindSettings for Config {
}
