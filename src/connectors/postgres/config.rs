//! A PostgreSQL system: `url` (by reference) and an optional default `schema`; its collections
//! are tables.

use crate::connectors::sql::config::{self as sql, COLLECTION_KEYS, SERVER_KEYS};
use crate::connectors::{ConnectorKind, Help, KindInfo};
use crate::playbook::check::Checker;
use crate::playbook::model;

pub const KIND: KindInfo = KindInfo {
    name: "postgres",
    aliases: &["postgresql"],
    system_keys: SERVER_KEYS,
    collection_keys: COLLECTION_KEYS,
    capabilities: sql::CAPABILITIES,
    help: Help {
        summary: "PostgreSQL database",
        needs: &["url"],
    },
    misplaced: sql::MISPLACED,
};

pub type Config = sql::Server;

pub fn configure(c: &mut Checker<'_>, name: &str, sys: &model::System) -> Option<Config> {
    sql::server(c, name, ConnectorKind::Postgres, sys)
}
