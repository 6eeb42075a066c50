//! `dsr map`: the playbook as a record of processing activities (GDPR Art. 30).

use crate::cli::{Global, MapFormat};
use crate::error::{Exit, UsageError};
use std::path::Path;

pub fn run(
    global: &Global,
    file: Option<&Path>,
    format: Option<MapFormat>,
    out: Option<&Path>,
) -> anyhow::Result<Exit> {
    if global.json
        && let Some(f @ (MapFormat::Html | MapFormat::Csv)) = format
    {
        let name = if f == MapFormat::Html { "html" } else { "csv" };
        return Err(UsageError::new(format!(
            "--json and --format {name} ask for two different outputs"
        ))
        .with_hint("give one of them")
        .into());
    }
    let v = super::open_playbook_offline(global, file)?;
    let text = match format.unwrap_or(MapFormat::Md) {
        _ if global.json => serde_json::to_string_pretty(&crate::output::map::json(&v))? + "\n",
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
