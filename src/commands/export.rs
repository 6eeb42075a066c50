use crate::cli::{Global, Subject};
use crate::error::{Exit, UsageError};
use crate::identity;
use crate::output::bundle::Bundle;
use crate::output::progress::Progress;
use crate::output::report::{self, Manifest, ReportInput};
use crate::output::{index, tables};
use crate::plan::{self, Action};
use crate::run::{self, Status};
use anyhow::Context;
use std::path::{Path, PathBuf};

pub async fn run(global: &Global, subject: &Subject, out: Option<&Path>) -> anyhow::Result<Exit> {
    let v = super::open_playbook(global, None)?;
    if !global.quiet {
        // The person reads purpose and retention in index.html: a TODO there is not an answer.
        for field in super::validate::todos(&v) {
            eprintln!(
                "warning: {}: {field} still says TODO; the bundle will show it to the person",
                v.loaded.display_path()
            );
        }
    }
    let ids = identity::parse(subject.identity.as_deref(), &subject.ids, v.identities())?;
    let plan = plan::build(&v, Action::Export, &ids);
    let request_id = uuid::Uuid::now_v7().to_string();
    let dir = out
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from(format!("dsr-export-{request_id}")));
    let bundle = Bundle::create(&dir).map_err(|e| {
        UsageError::new(format!("cannot create the bundle directory: {e}"))
            .with_hint("pass --out with a new or empty directory")
    })?;

    if !global.json && !global.quiet {
        println!(
            "Request {request_id}: export for {}",
            ids.kinds().join(", ")
        );
        println!("{}", tables::plan(&plan));
    }
    let started = jiff::Timestamp::now().to_string();
    let progress = Progress::new(&plan, !global.no_progress && !global.quiet && !global.json);
    let options = run::Options {
        concurrency: global.concurrency as usize,
    };
    let connectors = run::ConnectorSet::new(&v);
    let cx = run::Context {
        v: &v,
        ids: &ids,
        options: &options,
        connectors: &connectors,
        handler: &bundle,
        observer: &progress,
        cancel: None,
    };
    let outcomes = run::execute(&cx, &plan, run::Finished::new())
        .await
        .map_err(anyhow::Error::msg)?;
    progress.clear();

    let data_files = bundle.files();
    let html = index::render(&v, &request_id, &outcomes, &data_files);
    bundle
        .add("index.html", html.as_bytes())
        .context("writing index.html")?;
    let report = report::build(ReportInput {
        v: &v,
        plan: &plan,
        request_id: &request_id,
        started,
        outcomes: &outcomes,
        files: &data_files,
    });
    let report_json = serde_json::to_vec_pretty(&report)?;
    bundle
        .add("report.json", &report_json)
        .context("writing report.json")?;
    let manifest = Manifest {
        format: "dsr-manifest/1".into(),
        request_id: request_id.clone(),
        files: bundle.files(),
    };
    crate::output::bundle::write_file(
        bundle.dir(),
        "manifest.json",
        &serde_json::to_vec_pretty(&manifest)?,
    )
    .context("writing manifest.json")?;

    let exit = if report.outcome == Status::Done {
        Exit::Done
    } else {
        Exit::Partial
    };
    if global.json {
        println!(
            "{}",
            serde_json::json!({
                "request_id": request_id,
                "action": "export",
                "outcome": report.outcome,
                "bundle": dir.display().to_string(),
                "steps": outcomes,
            })
        );
    } else {
        println!("{}", tables::summary(&outcomes));
        let records: u64 = outcomes.iter().map(|o| o.records).sum();
        let failed: Vec<String> = report
            .systems
            .iter()
            .filter(|s| matches!(s.status, Status::Failed | Status::Partial))
            .map(|s| s.name.clone())
            .collect();
        if failed.is_empty() {
            println!("Exported {records} records into {}", dir.display());
        } else {
            println!(
                "Exported {records} records into {}; FAILED: {} (see report.json)",
                dir.display(),
                failed.join(", ")
            );
        }
    }
    Ok(exit)
}
