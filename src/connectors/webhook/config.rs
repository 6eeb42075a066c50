//! A webhook system: the service's `url`, the `auth.secret` its calls are signed with
//! (HMAC-SHA256) and optionally the `signature_header` that carries the signature.

use crate::connectors::config::{self, Level};
use crate::connectors::{Capabilities, ConnectorKind, Help, KindInfo};
use crate::playbook::check::Checker;
use crate::playbook::model;
use serde::Deserialize;
use std::collections::BTreeMap;

pub const KIND: KindInfo = KindInfo {
    name: "webhook",
    aliases: &[],
    system_keys: &["url", "auth", "signature_header"],
    collection_keys: &[],
    capabilities: Capabilities {
        compares_columns: false,
        correct: true,
        http: true,
    },
    help: Help {
        summary: "signed JSON POST to an internal service (HMAC-SHA256)",
        needs: &["url", "auth.secret"],
    },
    misplaced: &[],
};

#[derive(Debug, Clone)]
pub struct Config {
    /// May hold references.
    pub url: String,
    /// The signing secret, by reference.
    pub secret: String,
    /// [default: X-DSR-Signature]
    pub signature_header: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    #[serde(default)]
    url: Option<String>,
    #[serde(default)]
    auth: BTreeMap<String, String>,
    #[serde(default)]
    signature_header: Option<String>,
}

pub fn configure(c: &mut Checker<'_>, name: &str, sys: &model::System) -> Option<Config> {
    let base = ["systems", name];
    let raw = config::read::<Raw>(
        c,
        &base,
        ConnectorKind::Webhook,
        Level::System,
        &sys.settings,
    );
    let collections_ok = config::no_collection_keys(c, name, ConnectorKind::Webhook, sys);
    let raw = raw?;
    if raw.url.is_none() && !config::misspelt(&sys.settings, &["url"]) {
        c.at_key(
            &base,
            "a webhook system needs `url`",
            Some("e.g. `url: https://erasure.internal/dsr`".into()),
        );
    }
    if let Some(url) = &raw.url {
        config::check_url(c, &config::at(name, "url"), url);
    }
    if !raw.auth.contains_key("secret") {
        c.at_key(
            &base,
            "a webhook system needs `auth: { secret: ${env:VAR} }` to sign its calls",
            None,
        );
    }
    for key in raw.auth.keys().filter(|k| *k != "secret") {
        c.at_key(
            &["systems", name, "auth", key],
            format!("webhook auth takes only 'secret', not '{key}'"),
            None,
        );
    }
    config::check_auth(c, &base, &raw.auth);
    let secret = raw.auth.get("secret")?.clone();
    collections_ok.then_some(Config {
        url: raw.url?,
        secret,
        signature_header: raw.signature_header,
    })
}

impl crate::connectors::KindSettings for Config {
    fn url(&self) -> Option<&str> {
        Some(&self.url)
    }
}
