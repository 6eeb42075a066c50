//! `dsr discover`: a draft playbook from a database's catalog, or, with `--diff`, what the
//! database holds that a playbook does not cover.

use crate::cli::{DiscoverArgs, Global};
use crate::discover::catalog::{self, ReadOptions};
use crate::discover::{classify, diff, draft};
use crate::error::{Exit, UsageError};
use std::io::Write as _;

/// The URL to connect to, and the variable the playbook should read it from when the user
/// named one (`${env:VAR}`).
fn resolve_url(arg: &str) -> Result<(String, Option<String>), UsageError> {
    let trimmed = arg.trim();
    if let Some(var) = trimmed
        .strip_prefix("${env:")
        .and_then(|r| r.strip_suffix('}'))
        .filter(|v| {
            v.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
                && v.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        })
    {
        return match std::env::var(var) {
            Ok(url) => Ok((url, Some(var.to_string()))),
            Err(_) => Err(
                UsageError::new(format!("environment variable {var} is not set"))
                    .with_hint(format!("export {var}=… before running dsr")),
            ),
        };
    }
    Ok((trimmed.to_string(), None))
}

fn read_error(e: crate::discover::DiscoverError) -> anyhow::Error {
    use crate::discover::DiscoverError as E;
    let hint = match &e {
        E::UnsupportedUrl(_) | E::BadUrl(_) => {
            "write postgres://USER@HOST/DB, mysql://USER@HOST/DB, mariadb://… or sqlite:PATH"
        }
        E::Database(_) => {
            "check that the database is running and the url, user and password are right"
        }
        E::NoSchema(_) | E::NoTables(_) => {
            "pass --schema with the schema (PostgreSQL) or database (MySQL) to read"
        }
    };
    UsageError::new(e.to_string()).with_hint(hint).into()
}

pub async fn run(global: &Global, args: &DiscoverArgs) -> anyhow::Result<Exit> {
    let (url, named_var) = resolve_url(&args.url)?;
    if let Some(out) = &args.out
        && out.exists()
    {
        return Err(UsageError::new(format!("{} already exists", out.display()))
            .with_hint("pass --out with a file that does not exist yet")
            .into());
    }
    // --diff picks the playbook's system before reading, so that without --schema the
    // schema (database) read is the one the system's unqualified tables are in.
    let target = match &args.diff {
        Some(playbook) => {
            let v = super::open_playbook_offline(global, Some(playbook))?;
            let dialect = catalog::Dialect::from_url(&url).map_err(read_error)?;
            let system =
                diff::pick_system(&v, args.system.as_deref(), &url, dialect).map_err(|e| {
                    UsageError::new(e.to_string()).with_hint("name it with --system NAME")
                })?;
            Some((v, system))
        }
        None => None,
    };
    let opts = ReadOptions {
        schema: match &target {
            Some((v, system)) => diff::schema_to_read(&v.systems[system], args.schema.as_deref()),
            None => args.schema.as_deref(),
        },
        sample: args.sample,
    };
    let catalog = crate::discover::read(&url, &opts)
        .await
        .map_err(read_error)?;
    let analysis = classify::analyse(&catalog);
    if !global.quiet && !global.json {
        for note in &catalog.unsampled {
            eprintln!("warning: not sampled, classified by name and type only: {note}");
        }
    }
    if let Some((v, system)) = &target {
        return diff_command(global, &v.systems[system], &catalog, &analysis);
    }
    let system = draft::system_name(&catalog.database);
    let var = named_var.unwrap_or_else(|| draft::url_var(&system));
    let text = draft::render(
        &catalog,
        &analysis,
        &draft::DraftOptions {
            system: &system,
            url_var: &var,
            schema: args.schema.as_deref(),
            sample: args.sample,
        },
    )
    .map_err(|e| {
        UsageError::new(e.to_string())
            .with_hint("write the playbook by hand; `dsr discover --diff` can then check it")
    })?;
    let collections: Vec<&str> = analysis
        .tables
        .iter()
        .filter(|t| t.reachable())
        .map(|t| t.table.as_str())
        .collect();
    match &args.out {
        Some(path) => {
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(path)
                .map_err(|e| {
                    UsageError::new(format!("cannot create {}: {}", path.display(), e.kind()))
                        .with_hint("pass --out with a file that does not exist yet")
                })?;
            f.write_all(text.as_bytes())?;
        }
        None if !global.json => print!("{text}"),
        None => {}
    }
    if global.json {
        println!(
            "{}",
            serde_json::json!({
                "system": system,
                "url_variable": var,
                "out": args.out.as_ref().map(|p| p.display().to_string()),
                "draft": if args.out.is_none() { Some(&text) } else { None },
                "tables": analysis.tables,
                "unsampled": catalog.unsampled,
            })
        );
    } else if !global.quiet {
        let others = analysis.tables.len() - collections.len();
        eprintln!(
            "Found {} tables: {} with a person's data ({}), {others} other.",
            analysis.tables.len(),
            collections.len(),
            collections.join(", ")
        );
        match &args.out {
            Some(file) => eprintln!(
                "Next: replace the TODOs in {0}, set {var} to the database url, and run `dsr validate {0}`.",
                file.display()
            ),
            None => eprintln!(
                "Next: save the draft (or pass --out FILE), replace its TODOs, set {var} to the database url, and run `dsr validate FILE`."
            ),
        }
    }
    Ok(Exit::Done)
}

fn diff_command(
    global: &Global,
    system: &crate::connectors::SystemSpec,
    catalog: &crate::discover::Catalog,
    analysis: &classify::Analysis,
) -> anyhow::Result<Exit> {
    let report = diff::compare(system, catalog, analysis);
    if global.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        if !report.gaps.is_empty() {
            println!("{}", diff::table(&report));
        }
        println!("{}", report.summary());
        if !report.not_exported.is_empty() {
            println!(
                "Not exported (no personal data found, but left out of `fields`): {}",
                report.not_exported.join(", ")
            );
        }
    }
    Ok(if report.covered {
        Exit::Done
    } else {
        Exit::Partial
    })
}
