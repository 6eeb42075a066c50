//! `dsr export` and `dsr resume` of an export: the plan table, the progress bar, delivery and
//! the summary around [`crate::export::export_one`].

use crate::cli::{Global, RequestArgs, Subject};
use crate::error::{Exit, UsageError};
use crate::evidence::{self, RequestOptions};
use crate::export::{Exported, export_one};
use crate::identity;
use crate::output::bundle::Bundle;
use crate::output::encrypt::{Encryption, encrypt_bundle};
use crate::output::progress::Progress;
use crate::output::tables;
use crate::plan::{self, Action};
use crate::run::{self, Status};
use crate::state::State;
use crate::state::journal::JournalRequest;
use anyhow::Context;
use std::path::{Path, PathBuf};

/// How the finished bundle is delivered: optionally as an age-encrypted tar.
pub struct Delivery<'a> {
    pub encrypt_to: &'a [String],
    pub passphrase_file: Option<&'a Path>,
}

pub async fn run(
    global: &Global,
    subject: &Subject,
    out: Option<&Path>,
    request: &RequestArgs,
    delivery: &Delivery<'_>,
) -> anyhow::Result<Exit> {
    let v = super::open_playbook(global, None)?;
    // Opened first: the HTTP client is built in the background while the request is set up.
    let connectors = run::ConnectorSet::new(&v, global.concurrency as usize);
    if !global.quiet {
        // The person reads purpose and retention in index.html: a TODO there is not an answer.
        for field in crate::discover::todos::find(&v) {
            eprintln!(
                "warning: {}: {field} still says TODO; the bundle will show it to the person",
                v.loaded.display_path()
            );
        }
    }
    let ids = identity::parse(subject.identity.as_deref(), &subject.ids, v.identities())?;
    let options = RequestOptions::from(request);
    let warnings = crate::deadline::warnings(
        &evidence::deadline_for(&v, &options)?,
        jiff::Timestamp::now(),
        None,
    );
    if !global.quiet {
        for w in &warnings {
            eprintln!("warning: {w}");
        }
    }
    let encryption =
        Encryption::from_args(delivery.encrypt_to, delivery.passphrase_file).map_err(|e| {
            UsageError::new(e.to_string())
                .with_hint("age recipients look like age1…; a passphrase file holds one line")
        })?;
    let state = crate::state::State::open(&super::state_dir(global)?).await?;
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
        let deadline = evidence::deadline_for(&v, &options)?;
        println!(
            "Request {request_id}: export for {}, due {} ({})",
            ids.kinds().join(", "),
            deadline.due_rfc3339(),
            deadline.policy.name
        );
        println!("{}", tables::plan(&plan));
    }
    let progress = Progress::new(&plan, !global.no_progress && !global.quiet && !global.json);
    let done = export_one(
        &v,
        &connectors,
        &state,
        &ids,
        &request_id,
        &bundle,
        &options,
        &progress,
        None,
    )
    .await?;
    progress.clear();
    let archive = match &encryption {
        Some(how) => {
            Some(encrypt_bundle(bundle.dir(), how).context("writing the encrypted bundle")?)
        }
        None => None,
    };
    Ok(print_outcome(
        global,
        &request_id,
        &dir,
        &done,
        archive.as_deref(),
        &warnings,
    ))
}

/// `dsr resume ID` of an export: the steps that did not finish run again (a manual step a
/// person has confirmed now counts as done) into the same bundle, and its index page and
/// signed report are written again.
pub async fn resume(global: &Global, r: JournalRequest) -> anyhow::Result<Exit> {
    let v = super::open_playbook(global, None)?;
    let state = State::open(&super::state_dir(global)?).await?;
    let crate::export::Resumable {
        id,
        dir,
        bundle,
        ids,
        finished,
    } = crate::export::reopen(&v, &state, r).await?;
    let connectors = run::ConnectorSet::new(&v, global.concurrency as usize);
    let plan = plan::build(&v, Action::Export, &ids);
    if !global.json && !global.quiet {
        println!(
            "Resuming export {id} into {}: {} of {} steps are done.",
            dir.display(),
            finished.len(),
            plan.steps.len()
        );
    }
    let progress = Progress::new(&plan, !global.no_progress && !global.quiet && !global.json);
    let done = export_one(
        &v,
        &connectors,
        &state,
        &ids,
        &id,
        &bundle,
        &RequestOptions::default(),
        &progress,
        Some(finished),
    )
    .await?;
    progress.clear();
    Ok(print_outcome(global, &id, &dir, &done, None, &[]))
}

/// The commands that move an unfinished export on: confirm each manual step, then resume.
fn next_steps(request_id: &str, outcomes: &[run::StepOutcome]) -> Vec<String> {
    let mut waiting: Vec<&str> = outcomes
        .iter()
        .filter(|o| o.status == Status::Waiting)
        .map(|o| o.system.as_str())
        .collect();
    waiting.dedup();
    let unfinished = outcomes
        .iter()
        .any(|o| matches!(o.status, Status::Waiting | Status::Failed | Status::Partial));
    let mut out: Vec<String> = waiting
        .iter()
        .map(|s| format!("dsr requests confirm {request_id} {s} --note \"…\""))
        .collect();
    if unfinished {
        out.push(format!("dsr resume {request_id}"));
    }
    out
}

/// Prints what an export produced (a JSON object, or a summary for people); its exit code.
fn print_outcome(
    global: &Global,
    request_id: &str,
    dir: &Path,
    done: &Exported,
    archive: Option<&Path>,
    warnings: &[String],
) -> Exit {
    let (outcomes, finished) = (&done.outcomes, &done.finished);
    let report = &finished.report;
    let next = next_steps(request_id, outcomes);
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
                "report": finished.report_path.display().to_string(),
                "due": report.due,
                "deadline_met": report.deadline_met,
                "encrypted": archive.map(|p| p.display().to_string()),
                "steps": outcomes,
                "warnings": warnings,
                "next": next,
            })
        );
    } else {
        if !global.quiet {
            println!("{}", tables::summary(outcomes));
        }
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
        if let Some(p) = archive {
            println!("Encrypted copy for delivery: {}", p.display());
        }
        for o in outcomes.iter().filter(|o| o.status == Status::Waiting) {
            println!(
                "{}.{}: {}",
                o.system,
                o.collection,
                o.reason.as_deref().unwrap_or(run::WAITING)
            );
        }
        for n in &next {
            println!("then: {n}");
        }
    }
    exit
}
