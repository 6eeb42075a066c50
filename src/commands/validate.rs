use crate::cli::Global;
use crate::error::Exit;
use crate::output::tables;
use std::path::Path;

pub async fn run(global: &Global, file: Option<&Path>, connect: bool) -> anyhow::Result<Exit> {
    let v = super::open_playbook(global, file)?;
    if connect {
        let problems = crate::playbook::live::check(&v).await;
        if !problems.is_empty() {
            return Err(crate::playbook::Diagnostics(problems).into());
        }
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
                        "table": c.table.to_string(),
                        "fields": c.fields.keys().collect::<Vec<_>>(),
                        "erase": c.erase.as_ref().map(ToString::to_string),
                    })).collect::<Vec<_>>(),
                })
            })
            .collect();
        println!(
            "{}",
            serde_json::json!({ "valid": true, "playbook": v.loaded.display_path(), "sha256": v.loaded.sha256, "systems": systems })
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
