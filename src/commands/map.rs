//! `dsr map`: the playbook as a record of processing activities (GDPR Art. 30).

use crate::cli::{Global, MapFormat};
use crate::error::Exit;
use std::path::Path;

pub fn run(
    global: &Global,
    file: Option<&Path>,
    format: MapFormat,
    out: Option<&Path>,
) -> anyhow::Result<Exit> {
    let v = super::open_playbook_offline(global, file)?;
    let text = match format {
        MapFormat::Md => crate::output::map::markdown(&v),
        MapFormat::Html => crate::output::map::html(&v),
        MapFormat::Csv => crate::output::map::csv(&v)?,
    };
    match out {
        Some(path) => std::fs::write(path, text)
            .map_err(|e| anyhow::anyhow!("cannot write {}: {}", path.display(), e.kind()))?,
        None => print!("{text}"),
    }
    Ok(Exit::Done)
}
