//! A Redis system: `url` (by reference) and `max_keys`; each collection lists `keys:`, the key
//! templates its records are found by.

use super::RECORD_COLUMNS;
use crate::connectors::addressing::{self, Rules};
use crate::connectors::config::{self, Level};
use crate::connectors::template::Template;
use crate::connectors::{Capabilities, ConnectorKind, Help, KindInfo};
use crate::playbook::check::Checker;
use crate::playbook::model::{self, RawErase};
use serde::Deserialize;
use std::collections::BTreeMap;

pub const KIND: KindInfo = KindInfo {
    name: "redis",
    aliases: &[],
    system_keys: &["url", "max_keys"],
    collection_keys: &["keys"],
    capabilities: Capabilities {
        compares_columns: false,
        correct: true,
        http: false,
    },
    help: Help {
        summary: "Redis keys found by templates (SCAN), deleted with UNLINK",
        needs: &["url"],
    },
    misplaced: &[
        (
            "schema",
            "choose the database number in the url: redis://host:6379/2",
        ),
        (
            "table",
            "a Redis record is addressed by its key; list key templates under `keys:`",
        ),
        (
            "key",
            "a Redis record is addressed by its key; list key templates under `keys:`",
        ),
        ("auth", "database credentials go in `url`, by reference"),
    ],
};

#[derive(Debug, Clone)]
pub struct Config {
    /// May hold references, resolved when the connector opens.
    pub url: String,
    /// The most keys one collection may match for one request.
    pub max_keys: Option<u64>,
    /// Each collection's key templates.
    pub templates: BTreeMap<String, Vec<Template>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    #[serde(default)]
    url: Option<String>,
    #[serde(default)]
    max_keys: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCollection {
    #[serde(default)]
    keys: Option<Vec<String>>,
}

pub fn configure(c: &mut Checker<'_>, name: &str, sys: &model::System) -> Option<Config> {
    let base = ["systems", name];
    let kind = ConnectorKind::Redis;
    let raw = config::read::<Raw>(c, &base, kind, Level::System, &sys.settings);
    let templates = config::each_collection(c, name, sys, collection);
    let raw = raw?;
    addressing::check_max_keys(c, name, raw.max_keys);
    let Some(url) = raw.url else {
        if config::misspelt(&sys.settings, &["url"]) {
            return None;
        }
        c.at_key(
            &base,
            "a redis system needs `url`",
            Some("e.g. `url: ${env:REDIS_URL}` (redis://, or rediss:// for TLS)".into()),
        );
        return None;
    };
    config::check_url(c, &config::at(name, "url"), &url);
    Some(Config {
        url,
        max_keys: raw.max_keys,
        templates: templates?,
    })
}

fn collection(
    c: &mut Checker<'_>,
    base: &[&str],
    coll: &model::Collection,
) -> Option<Vec<Template>> {
    let before = c.count();
    let raw = config::read::<RawCollection>(
        c,
        base,
        ConnectorKind::Redis,
        Level::Collection,
        &coll.settings,
    )?;
    let mut keys_at = base.to_vec();
    keys_at.push("keys");
    let texts: Vec<(Vec<&str>, &String)> = match &raw.keys {
        Some(keys) if !keys.is_empty() => keys.iter().map(|k| (keys_at.clone(), k)).collect(),
        None if config::misspelt(&coll.settings, &["keys"]) => Vec::new(),
        _ => {
            c.at_key(
                base,
                "a redis collection needs `keys:`, the key templates its records are found by",
                Some("e.g. `keys: [\"session:{email}:*\", \"profile:{email}\"]` with `match: { email: identity.email }`".into()),
            );
            Vec::new()
        }
    };
    let rules = Rules {
        used_elsewhere: &[],
        no_placeholder_hint: None,
        text_check: None,
    };
    let templates = addressing::templates(c, base, &texts, coll, &rules);
    if let Some(RawErase::Detailed(d)) = &coll.erase {
        for col in d.mask.iter().flat_map(|m| m.keys()) {
            if RECORD_COLUMNS.contains(&col.as_str()) {
                let mut p = base.to_vec();
                p.extend(["erase", "mask", col.as_str()]);
                c.at_key(
                    &p,
                    format!("'{col}' cannot be masked: a redis mask names hash fields"),
                    Some("mask the hash fields that hold personal data, e.g. `mask: { email: 'null' }` (null deletes the field); use `erase: delete` to remove whole keys".into()),
                );
            }
        }
    }
    (c.count() == before).then_some(templates)
}

impl crate::connectors::KindSettings for Config {
    fn url(&self) -> Option<&str> {
        Some(&self.url)
    }
}
