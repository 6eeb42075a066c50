//! One module per command: each takes parsed arguments and returns an exit code.

pub mod batch;
pub mod change;
pub mod completions;
pub mod connectors;
pub mod discover;
pub mod due;
pub mod export;
pub mod init;
pub mod keys;
pub mod map;
pub mod plan;
pub mod requests;
pub mod validate;
pub mod verify;

use crate::cli::Global;
use crate::connectors::Validated;
use crate::error::UsageError;
use crate::playbook;
use std::path::{Path, PathBuf};

/// The playbook path: `--playbook`, `DSR_PLAYBOOK`, or `./dsr.yaml`.
pub fn playbook_path(global: &Global, explicit: Option<&Path>) -> Result<PathBuf, UsageError> {
    if let Some(p) = explicit.or(global.playbook.as_deref()) {
        return Ok(p.to_path_buf());
    }
    let default = PathBuf::from("dsr.yaml");
    if default.is_file() {
        return Ok(default);
    }
    Err(UsageError::new("no playbook given").with_hint("pass --playbook FILE, set DSR_PLAYBOOK, or create ./dsr.yaml (try --playbook playbooks/demo.yaml)"))
}

/// Loads and validates; validation errors become one error listing them all.
pub fn open_playbook(global: &Global, explicit: Option<&Path>) -> anyhow::Result<Validated> {
    let path = playbook_path(global, explicit)?;
    Ok(crate::connectors::configure::open(&path)?)
}

/// The state directory from `--state-dir` / `DSR_STATE_DIR` or the platform default.
pub fn state_dir(global: &Global) -> Result<PathBuf, UsageError> {
    crate::state::state_dir(global.state_dir.as_deref()).map_err(|e| {
        UsageError::new(e.to_string()).with_hint("pass --state-dir DIR or set DSR_STATE_DIR")
    })
}

/// Loads and validates, not requiring the secrets the playbook names to be available (for
/// commands that do not connect to every system).
pub fn open_playbook_offline(
    global: &Global,
    explicit: Option<&Path>,
) -> anyhow::Result<Validated> {
    let path = playbook_path(global, explicit)?;
    Ok(crate::connectors::configure::open_offline(&path)?)
}

/// Points this process at the shared ledger, if one is named: `--ledger` / `DSR_LEDGER`, else
/// the playbook's `ledger:`. Without one, the embedded ledger in the state directory is used.
/// A playbook that names a ledger is validated first, so a mistake there points at its line.
/// `from_playbook`: whether to look in the playbook (commands that use no ledger do not).
pub fn configure_ledger(global: &Global, from_playbook: bool) -> anyhow::Result<()> {
    use crate::state::postgres::{self, PgLedger};
    if let Some(url) = &global.ledger {
        let ledger: PgLedger = url.parse().map_err(|e| {
            UsageError::new(format!("--ledger: {e}")).with_hint(
                "write postgres://USER@HOST/DB, optionally with ?schema=NAME (default dsr)",
            )
        })?;
        postgres::configure(ledger);
        return Ok(());
    }
    if !from_playbook {
        return Ok(());
    }
    // A playbook that cannot be read is the command's to report.
    let Ok(path) = playbook_path(global, None) else {
        return Ok(());
    };
    match playbook::load::load(&path) {
        Ok(loaded) if loaded.playbook.ledger.is_some() => {}
        _ => return Ok(()),
    }
    let v = crate::connectors::configure::open_offline(&path)?;
    let Some(template) = &v.loaded.playbook.ledger else {
        return Ok(());
    };
    let url = playbook::interpolate::resolve(template, &v.loaded.dir)
        .map_err(|e| UsageError::new(format!("{}: ledger: {e}", v.loaded.display_path())))?;
    let ledger: PgLedger = url
        .expose()
        .parse()
        .map_err(|e| UsageError::new(format!("{}: ledger: {e}", v.loaded.display_path())))?;
    postgres::configure(ledger);
    Ok(())
}
