//! A manual system: what the person carrying out the step must do.

use crate::connectors::config::{self, Level};
use crate::connectors::{Capabilities, ConnectorKind, Help, KindInfo};
use crate::playbook::check::Checker;
use crate::playbook::model;
use serde::Deserialize;

pub const KIND: KindInfo = KindInfo {
    name: "manual",
    aliases: &[],
    system_keys: &["instructions"],
    collection_keys: &[],
    capabilities: Capabilities {
        compares_columns: false,
        correct: true,
        http: false,
    },
    help: Help {
        summary: "a step a person carries out, confirmed with `dsr requests confirm`",
        needs: &["instructions"],
    },
    misplaced: &[],
};

#[derive(Debug, Clone)]
pub struct Config {
    /// What the person must do.
    pub instructions: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    #[serde(default)]
    instructions: Option<String>,
}

pub fn configure(c: &mut Checker<'_>, name: &str, sys: &model::System) -> Option<Config> {
    let base = ["systems", name];
    let raw = config::read::<Raw>(
        c,
        &base,
        ConnectorKind::Manual,
        Level::System,
        &sys.settings,
    );
    let ok = config::no_collection_keys(c, name, ConnectorKind::Manual, sys);
    let instructions = raw?.instructions.filter(|i| !i.trim().is_empty());
    let Some(instructions) = instructions else {
        c.at_key(
            &base,
            "a manual system needs `instructions`: what the person must do",
            Some("e.g. `instructions: Shred the contract in archive box 12`".into()),
        );
        return None;
    };
    ok.then_some(Config { instructions })
}

impl crate::connectors::KindSettings for Config {
    fn instructions(&self) -> Option<&str> {
        Some(&self.instructions)
    }
}
