//! `dsr connectors list|show`: what a playbook's `connector:` may name, and what each needs.

use crate::cli::{ConnectorsCommand, Global};
use crate::connectors::http::definition::{self, Definition, OneOrMany, SHIPPED};
use crate::connectors::{ConnectorKind, Help};
use crate::error::{Exit, UsageError};
use crate::playbook::diagnostic::did_you_mean;
use serde_json::{Value, json};
use std::path::Path;

fn operations(def: &Definition) -> Vec<Value> {
    def.resources
        .iter()
        .map(|(name, r)| {
            let mut ops = Vec::new();
            if r.find.is_some() {
                ops.push("find".to_string());
            } else if r.key_from_match {
                ops.push("find (the match value is the id)".to_string());
            }
            if r.get.is_some() {
                ops.push("verify".to_string());
            }
            if r.update.is_some() {
                ops.push("mask/correct".to_string());
            }
            if let Some(e) = &r.erase {
                let asynchronous = e.steps().iter().any(|s| s.job.is_some());
                ops.push(match (e, asynchronous) {
                    (_, true) => "erase (async job)".to_string(),
                    (OneOrMany::Many(v), false) => format!("erase ({} calls)", v.len()),
                    (OneOrMany::One(_), false) => "erase".to_string(),
                });
            }
            json!({
                "name": name,
                "description": r.description,
                "id": r.id,
                "operations": ops,
            })
        })
        .collect()
}

fn describe(def: &Definition, source: &str) -> Value {
    json!({
        "name": def.name,
        "kind": "http",
        "title": def.title,
        "source": source,
        "docs": def.docs,
        "base_url": def.base_url,
        "auth": {
            "type": def.auth.kind(),
            "playbook_keys": def.auth.required_keys(),
        },
        "config": def.config,
        "rate_limit": def.rate_limit.map(|r| json!({"per_second": r.per_second, "burst": r.burst})),
        "max_pages": def.max_pages.unwrap_or(definition::DEFAULT_MAX_PAGES),
        "resources": operations(def),
    })
}

fn shipped_all() -> anyhow::Result<Vec<Definition>> {
    SHIPPED
        .iter()
        .map(|(n, _)| {
            definition::shipped(n)
                .unwrap_or_else(|| unreachable!("listed in SHIPPED"))
                .map_err(anyhow::Error::from)
        })
        .collect()
}

pub fn run(global: &Global, command: &ConnectorsCommand) -> anyhow::Result<Exit> {
    match command {
        ConnectorsCommand::List => list(global),
        ConnectorsCommand::Show { name } => show(global, name),
    }
}

fn list(global: &Global) -> anyhow::Result<Exit> {
    let defs = shipped_all()?;
    if global.json {
        let kinds: Vec<Value> = ConnectorKind::ALL
            .iter()
            .map(|k| {
                let Help {
                    summary: what,
                    needs,
                } = k.help();
                json!({"name": k.name(), "kind": k.name(), "description": what, "needs": needs})
            })
            .collect();
        let saas: Vec<Value> = defs
            .iter()
            .map(|d| {
                json!({
                    "name": d.name,
                    "kind": "http",
                    "title": d.title,
                    "auth": d.auth.kind(),
                    "resources": d.resources.keys().collect::<Vec<_>>(),
                })
            })
            .collect();
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({"kinds": kinds, "definitions": saas}))?
        );
        return Ok(Exit::Done);
    }
    let mut rows: Vec<Vec<String>> = ConnectorKind::ALL
        .iter()
        .map(|k| {
            let Help {
                summary: what,
                needs,
            } = k.help();
            vec![
                k.name().to_string(),
                "native".into(),
                what.to_string(),
                needs.join(", "),
            ]
        })
        .collect();
    for d in &defs {
        let mut needs: Vec<String> = d
            .auth
            .required_keys()
            .iter()
            .map(|k| format!("auth.{k}"))
            .collect();
        needs.extend(d.config.keys().map(|k| format!("config.{k}")));
        rows.push(vec![
            d.name.clone(),
            "http".into(),
            format!(
                "{} ({})",
                d.title,
                d.resources.keys().cloned().collect::<Vec<_>>().join(", ")
            ),
            needs.join(", "),
        ]);
    }
    println!(
        "{}",
        crate::output::tables::render(&["connector", "kind", "what", "playbook needs"], rows)
    );
    if !global.quiet {
        // Two short lines rather than one long one: they fit beside a narrow table.
        println!("Details: dsr connectors show NAME.");
        println!("Add a SaaS API in YAML: see connectors/README.md.");
    }
    Ok(Exit::Done)
}

fn show(global: &Global, name: &str) -> anyhow::Result<Exit> {
    let (value, def) = if name.ends_with(".yaml") || name.ends_with(".yml") || name.contains('/') {
        let def = definition::load_file(Path::new(name))?;
        (describe(&def, name), Some(def))
    } else if let Some(found) = definition::shipped(name) {
        let def = found?;
        (describe(&def, "shipped"), Some(def))
    } else if let Some(kind) = ConnectorKind::parse(name) {
        let Help {
            summary: what,
            needs,
        } = kind.help();
        (
            json!({"name": kind.name(), "kind": kind.name(), "description": what, "needs": needs}),
            None,
        )
    } else {
        let names = ConnectorKind::names();
        let hint = match did_you_mean(name, names.iter().copied()) {
            Some(s) => format!("did you mean '{s}'?"),
            None => format!("known: {}", names.join(", ")),
        };
        return Err(UsageError::new(format!("no connector named '{name}'"))
            .with_hint(hint)
            .into());
    };
    if global.json {
        println!("{}", serde_json::to_string_pretty(&value)?);
        return Ok(Exit::Done);
    }
    let Some(def) = def else {
        println!(
            "{}: {}",
            value["name"].as_str().unwrap_or(name),
            value["description"].as_str().unwrap_or("")
        );
        println!("playbook needs: {}", native_needs(&value));
        return Ok(Exit::Done);
    };
    println!("{} — {} (http connector)", def.name, def.title);
    if let Some(d) = &def.docs {
        println!("docs: {d}");
    }
    println!("base url: {}", def.base_url);
    let keys: Vec<String> = def
        .auth
        .required_keys()
        .iter()
        .map(|k| format!("{k}: ${{env:…}}"))
        .collect();
    println!(
        "auth: {} — playbook `auth: {{ {} }}`",
        def.auth.kind(),
        keys.join(", ")
    );
    if def.config.is_empty() {
        println!("config: none");
    } else {
        println!("config:");
        for (k, what) in &def.config {
            println!("  {k}: {what}");
        }
    }
    if let Some(r) = def.rate_limit {
        println!("rate limit: {} calls/s, burst {}", r.per_second, r.burst);
    }
    let rows = operations(&def)
        .iter()
        .map(|r| {
            vec![
                r["name"].as_str().unwrap_or("").to_string(),
                r["id"].as_str().unwrap_or("").to_string(),
                r["operations"]
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .filter_map(Value::as_str)
                            .collect::<Vec<_>>()
                            .join(", ")
                    })
                    .unwrap_or_default(),
                r["description"].as_str().unwrap_or("").to_string(),
            ]
        })
        .collect();
    println!(
        "{}",
        crate::output::tables::render(&["resource", "id", "operations", "holds"], rows)
    );
    Ok(Exit::Done)
}

fn native_needs(v: &Value) -> String {
    v["needs"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_default()
}
