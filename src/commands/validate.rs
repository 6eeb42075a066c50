use crate::cli::Global;
use crate::error::Exit;
use crate::output::tables;
use crate::playbook::Severity;
use std::path::Path;

/// Values a person still has to write (a draft from `dsr discover` says `TODO: …`): valid,
/// but not an answer anyone should send to a data subject.
pub fn todos(v: &crate::connectors::Validated) -> Vec<String> {
    let is_todo = |s: &str| s.trim_start().starts_with(crate::discover::draft::TODO);
    let pb = &v.loaded.playbook;
    let mut out = Vec::new();
    if is_todo(&pb.organisation) {
        out.push("organisation".to_string());
    }
    if pb.automated_decisions.as_deref().is_some_and(is_todo) {
        out.push("automated_decisions".to_string());
    }
    for (name, sys) in &pb.systems {
        for (key, value) in [
            ("purpose", Some(&sys.purpose)),
            ("retention", Some(&sys.retention)),
            ("description", sys.description.as_ref()),
            ("source", sys.source.as_ref()),
            ("transfers", sys.transfers.as_ref()),
            ("safeguards", sys.safeguards.as_ref()),
        ] {
            if value.is_some_and(|t| is_todo(t)) {
                out.push(format!("systems.{name}.{key}"));
            }
        }
        for (coll, spec) in &v.systems[name].collections {
            let because = match &spec.erase {
                Some(crate::playbook::EraseStrategy::Keep { because }) => Some(because),
                Some(crate::playbook::EraseStrategy::Mask { because, .. }) => because.as_ref(),
                _ => None,
            };
            if because.is_some_and(|b| b.contains(crate::discover::draft::TODO)) {
                out.push(format!("systems.{name}.collections.{coll}.erase.because"));
            }
        }
    }
    out
}

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
    for field in todos(&v).into_iter().filter(|_| !global.quiet) {
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
