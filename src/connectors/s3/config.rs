//! An s3 system: its `bucket` and, for S3-compatible stores, an http(s) `endpoint`, `region`
//! and `path_style`; credentials come from the AWS chain, so nothing here may hold one. Each
//! collection lists `keys:`, object key templates, and optionally `metadata:`, the `match`
//! entries compared with the objects' user metadata.

use super::{RECORD_COLUMNS, is_bucket_name};
use crate::connectors::addressing::{self, Rules};
use crate::connectors::config::{self, Level};
use crate::connectors::template::Template;
use crate::connectors::{Capabilities, ConnectorKind, Help, KindInfo};
use crate::playbook::check::{Checker, check_references, inline_password};
use crate::playbook::diagnostic::did_you_mean;
use crate::playbook::interpolate;
use crate::playbook::model;
use serde::Deserialize;
use std::collections::BTreeMap;

pub const KIND: KindInfo = KindInfo {
    name: "s3",
    aliases: &[],
    system_keys: &["bucket", "endpoint", "region", "path_style", "max_keys"],
    collection_keys: &["keys", "metadata"],
    capabilities: Capabilities {
        compares_columns: false,
        // Objects are opaque: there is no field in them to correct.
        correct: false,
        http: false,
    },
    help: Help {
        summary: "objects in an S3(-compatible) bucket, by key template or metadata",
        needs: &[
            "bucket",
            "endpoint, region, path_style (optional)",
            "AWS credentials (environment, profile)",
        ],
    },
    misplaced: &[
        (
            "auth",
            "s3 credentials come from the AWS environment or profile (AWS_ACCESS_KEY_ID, AWS_PROFILE)",
        ),
        (
            "url",
            "name the store with `bucket` (and `endpoint` for S3-compatible stores)",
        ),
        (
            "path",
            "name the store with `bucket` (and `endpoint` for S3-compatible stores)",
        ),
        (
            "table",
            "an object is addressed by its key; list key templates under `keys:`",
        ),
        (
            "key",
            "an object is addressed by its key; list key templates under `keys:`",
        ),
    ],
};

#[derive(Debug, Clone)]
pub struct Config {
    /// May hold references.
    pub bucket: String,
    /// May hold references.
    pub endpoint: Option<String>,
    pub region: Option<String>,
    pub path_style: Option<bool>,
    pub max_keys: Option<u64>,
    pub collections: BTreeMap<String, Collection>,
}

/// One collection of an s3 system.
#[derive(Debug, Clone)]
pub struct Collection {
    pub templates: Vec<Template>,
    /// The `match` entries compared with user metadata.
    pub metadata: Vec<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    #[serde(default)]
    bucket: Option<String>,
    #[serde(default)]
    endpoint: Option<String>,
    #[serde(default)]
    region: Option<String>,
    #[serde(default)]
    path_style: Option<bool>,
    #[serde(default)]
    max_keys: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCollection {
    #[serde(default)]
    keys: Option<Vec<String>>,
    #[serde(default)]
    metadata: Option<Vec<String>>,
}

pub fn configure(c: &mut Checker<'_>, name: &str, sys: &model::System) -> Option<Config> {
    let base = ["systems", name];
    let raw = config::read::<Raw>(c, &base, ConnectorKind::S3, Level::System, &sys.settings);
    let collections = config::each_collection(c, name, sys, collection);
    let raw = raw?;
    addressing::check_max_keys(c, name, raw.max_keys);
    let bucket_at = config::at(name, "bucket");
    match &raw.bucket {
        None if config::misspelt(&sys.settings, &["bucket"]) => {}
        None => c.at_key(
            &base,
            "an s3 system needs `bucket`",
            Some(
                "e.g. `bucket: acme-uploads`; credentials come from the AWS environment or profile"
                    .into(),
            ),
        ),
        Some(b) if interpolate::has_references(b) => check_references(c, &bucket_at, b),
        Some(b) if !is_bucket_name(b) => c.at_value(
            &bucket_at,
            format!("'{b}' is not a bucket name"),
            Some("write the bucket's name only, e.g. `bucket: acme-uploads`".into()),
        ),
        Some(_) => {}
    }
    if let Some(e) = &raw.endpoint {
        let at = config::at(name, "endpoint");
        check_references(c, &at, e);
        let web = e.starts_with("http://") || e.starts_with("https://");
        if !web && !interpolate::has_references(e) {
            c.at_value(
                &at,
                format!("'{e}' is not an http(s) URL"),
                Some("e.g. `endpoint: http://127.0.0.1:9000` for MinIO".into()),
            );
        } else if inline_password(e) {
            c.at_value(
                &at,
                "the endpoint holds a password inline",
                Some("credentials come from the AWS environment or profile".into()),
            );
        }
    }
    let bucket = raw.bucket?;
    Some(Config {
        bucket,
        endpoint: raw.endpoint,
        region: raw.region,
        path_style: raw.path_style,
        max_keys: raw.max_keys,
        collections: collections?,
    })
}

fn collection(c: &mut Checker<'_>, base: &[&str], coll: &model::Collection) -> Option<Collection> {
    let before = c.count();
    let raw = config::read::<RawCollection>(
        c,
        base,
        ConnectorKind::S3,
        Level::Collection,
        &coll.settings,
    )?;
    let at = |f: &'static str| -> Vec<&str> { base.iter().copied().chain([f]).collect() };
    let metadata = raw.metadata.clone().unwrap_or_default();
    for m in &metadata {
        if !coll.match_on.contains_key(m) {
            let names: Vec<&str> = coll.match_on.keys().map(String::as_str).collect();
            c.at_value(
                &at("metadata"),
                format!("metadata entry '{m}' is not an entry of `match`"),
                Some(match did_you_mean(m, names.iter().copied()) {
                    Some(s) => format!("did you mean '{s}'?"),
                    None => format!(
                        "name the metadata in `match`, e.g. `match: {{ {m}: identity.email }}`"
                    ),
                }),
            );
        }
    }
    let hint = || {
        Some(format!(
            "an object's record has: {}",
            RECORD_COLUMNS.join(", ")
        ))
    };
    for f in coll.fields.keys() {
        if !RECORD_COLUMNS.contains(&f.as_str()) {
            let p: Vec<&str> = base.iter().copied().chain(["fields", f.as_str()]).collect();
            c.at_key(&p, format!("'{f}' is not a column of s3 records"), hint());
        }
    }
    for (name, col) in &coll.provides {
        if !RECORD_COLUMNS.contains(&col.as_str()) {
            let p: Vec<&str> = base
                .iter()
                .copied()
                .chain(["provides", name.as_str()])
                .collect();
            c.at_value(&p, format!("'{col}' is not a column of s3 records"), hint());
        }
    }
    if raw.metadata.as_ref().is_some_and(Vec::is_empty) {
        c.at_value(
            &at("metadata"),
            "`metadata` is empty",
            Some("list the `match` entries compared with the objects' user metadata".into()),
        );
    }
    let keys_at = at("keys");
    let texts: Vec<(Vec<&str>, &String)> = match &raw.keys {
        Some(keys) if !keys.is_empty() => keys.iter().map(|k| (keys_at.clone(), k)).collect(),
        None if config::misspelt(&coll.settings, &["keys"]) => Vec::new(),
        _ => {
            c.at_key(
                base,
                "an s3 collection needs `keys:`, the object key templates its objects are found by",
                Some("e.g. `keys: [\"uploads/{user_id}/\", \"avatars/{user_id}.png\"]` with `match: { user_id: users.id }`".into()),
            );
            Vec::new()
        }
    };
    let rules = Rules {
        used_elsewhere: &metadata,
        no_placeholder_hint: Some(
            "put a `{NAME}` in it, or select the person's objects by `metadata:`",
        ),
        text_check: None,
    };
    let templates = addressing::templates(c, base, &texts, coll, &rules);
    addressing::refuse_mask(
        c,
        base,
        coll,
        "s3 collections support `delete` and `keep`, not `mask`",
        "objects are opaque: dsr cannot change what is inside them; use `erase: delete`",
    );
    (c.count() == before).then_some(Collection {
        templates,
        metadata,
    })
}

impl crate::connectors::KindSettings for Config {
}
