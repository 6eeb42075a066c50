//! An opendsr system: the processor's endpoint in `base_url`, `auth.token`, and optionally
//! `config.poll_interval` and `config.wait` (durations).

use super::CONFIG_KEYS;
use crate::connectors::config::{self, Level};
use crate::connectors::{Capabilities, ConnectorKind, Help, KindInfo, http};
use crate::playbook::check::{Checker, check_references, hint_for, parse_duration};
use crate::playbook::interpolate;
use crate::playbook::model;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::time::Duration;

pub const KIND: KindInfo = KindInfo {
    name: "opendsr",
    aliases: &["opengdpr"],
    system_keys: &["base_url", "auth", "config"],
    collection_keys: &[],
    capabilities: Capabilities {
        compares_columns: false,
        correct: false,
        http: true,
    },
    help: Help {
        summary: "processor speaking OpenDSR: access/erasure requests, polled",
        needs: &[
            "base_url",
            "auth.token",
            "config.poll_interval, config.wait (optional)",
        ],
    },
    misplaced: &[],
};

#[derive(Debug, Clone)]
pub struct Config {
    /// May hold references.
    pub base_url: String,
    /// By reference.
    pub token: String,
    pub poll_interval: Option<Duration>,
    pub wait: Option<Duration>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    #[serde(default)]
    base_url: Option<String>,
    #[serde(default)]
    auth: BTreeMap<String, String>,
    #[serde(default)]
    config: BTreeMap<String, String>,
}

pub fn configure(c: &mut Checker<'_>, name: &str, sys: &model::System) -> Option<Config> {
    let base = ["systems", name];
    let raw = config::read::<Raw>(
        c,
        &base,
        ConnectorKind::Opendsr,
        Level::System,
        &sys.settings,
    );
    let collections_ok = config::no_collection_keys(c, name, ConnectorKind::Opendsr, sys);
    let raw = raw?;
    match &raw.base_url {
        None if config::misspelt(&sys.settings, &["base_url"]) => {}
        None => c.at_key(
            &base,
            "an opendsr system needs `base_url` (the processor's OpenDSR endpoint)",
            None,
        ),
        Some(u) => {
            let at = config::at(name, "base_url");
            check_references(c, &at, u);
            if !interpolate::has_references(u)
                && let Err(e) = http::definition::transport_allowed(u, false)
            {
                c.at_value(&at, e, None);
            }
        }
    }
    if !raw.auth.contains_key("token") {
        c.at_key(
            &base,
            "an opendsr system needs `auth: { token: ${env:VAR} }`",
            None,
        );
    }
    for key in raw.auth.keys().filter(|k| *k != "token") {
        c.at_key(
            &["systems", name, "auth", key],
            format!("opendsr auth takes only 'token', not '{key}'"),
            None,
        );
    }
    config::check_auth(c, &base, &raw.auth);
    let mut durations = BTreeMap::new();
    for (key, value) in &raw.config {
        let at = ["systems", name, "config", key.as_str()];
        if !CONFIG_KEYS.contains(&key.as_str()) {
            c.at_key(
                &at,
                format!("opendsr takes no config '{key}'"),
                hint_for(key, &CONFIG_KEYS),
            );
        } else {
            match parse_duration(value) {
                Some(d) => {
                    durations.insert(key.as_str(), d);
                }
                None => c.at_value(
                    &at,
                    format!("'{value}' is not a duration"),
                    Some("write e.g. 30s, 500ms or 2m".into()),
                ),
            }
        }
    }
    let token = raw.auth.get("token")?.clone();
    collections_ok.then_some(Config {
        base_url: raw.base_url?,
        token,
        poll_interval: durations.get("poll_interval").copied(),
        wait: durations.get("wait").copied(),
    })
}

impl crate::connectors::KindSettings for Config {
}
