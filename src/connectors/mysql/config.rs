//! A MySQL or MariaDB system: `url` (by reference) and an optional default `schema` (database); its collections
//! are tables.

use crate::connectors::sql::config::{self as sql, COLLECTION_KEYS, SERVER_KEYS};
use crate::connectors::{ConnectorKind, Help, KindInfo};
use crate::playbook::check::Checker;
use crate::playbook::model;

pub const KIND: KindInfo = KindInfo {
    name: "mysql",
    aliases: &["mariadb"],
    system_keys: SERVER_KEYS,
    collection_keys: COLLECTION_KEYS,
    capabilities: sql::CAPABILITIES,
    help: Help {
        summary: "MySQL or MariaDB database",
        needs: &["url"],
    },
    misplaced: sql::MISPLACED,
};

pub type Config = sql::Server;

pub fn configure(c: &mut Checker<'_>, name: &str, sys: &model::System) -> Option<Config> {
    sql::server(c, name, ConnectorKind::Mysql, sys)
}
