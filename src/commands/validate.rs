use crate::cli::Global;
use crate::error::Exit;
use crate::output::tables;
use crate::playbook::Severity;
use std::path::Path;

pub async fn run(global: &Global, file: Option<&Path>, connect: bool) -> anyhow::Result<Exit> {
    let v = super::open_playbook(global, file)?;
    let mut warnings = Vec::new();
    if connect {
        let checked = crate::live::check(&v).await;
        // Printed before any error: both are worth fixing, and the errors end the run.
        for w in checked.warnings.iter().filter(|_| !global.quiet) {
            eprintln!("{}: {w}", Severity::Warning.label());
        }
        if !checked.errors.is_empty() {
            return Err(crate::playbook::Diagnostics(checked.errors).into());
        }
        warnings = checked.warnings;
    }
    for field in crate::discover::todos::find(&v)
        .into_iter()
        .filter(|_| !global.quiet)
    {
        eprintln!(
            "warning: {}: {field} still says TODO",
            v.loaded.display_path()
        );
    }
    if global.json {
        let systems: Vec<serde_json::Value> = v
            .systems
            .values()
            .map(|s| {
                serde_json::json!({
                    "name": s.name,
                    "connector": s.kind.name(),
                    "collections": s.collections.values().map(|c| serde_json::json!({
                        "name": c.id.collection,
                        "table": s.kind.location_of(&c.id.collection),
                        "fields": c.fields.keys().collect::<Vec<_>>(),
                        "erase": c.erase.as_ref().map(ToString::to_string),
                    })).collect::<Vec<_>>(),
                })
            })
            .collect();
        println!(
            "{}",
            serde_json::json!({
                "valid": true,
                "playbook": v.loaded.display_path(),
                "sha256": v.loaded.sha256,
                "systems": systems,
                "warnings": warnings.iter().map(|w| w.to_json(Severity::Warning)).collect::<Vec<_>>(),
            })
        );
    } else {
        if !global.quiet {
            println!("{}", tables::systems(&v));
        }
        let n: usize = v.systems.values().map(|s| s.collections.len()).sum();
        println!(
            "{}: valid ({} systems, {n} collections)",
            v.loaded.display_path(),
            v.systems.len()
        );
    }
    Ok(Exit::Done)
}
