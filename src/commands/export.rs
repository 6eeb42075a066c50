use crate::cli::{Global, RequestArgs, Subject};
use crate::error::{Exit, UsageError};
use crate::evidence::{self, RequestOptions};
use crate::identity;
use crate::output::bundle::Bundle;
use crate::output::encrypt::{Encryption, encrypt_bundle};
use crate::output::progress::Progress;
use crate::output::{index, tables};
use crate::plan::{self, Action};
use crate::run::{self, Status};
use anyhow::Context;
use std::collections::BTreeMap;
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
        for field in super::validate::todos(&v) {
            eprintln!(
                "warning: {}: {field} still says TODO; the bundle will show it to the person",
                v.loaded.display_path()
            );
        }
    }
    let ids = identity::parse(subject.identity.as_deref(), &subject.ids, v.identities())?;
    let options = RequestOptions::from(request);
    evidence::deadline_for(&v, &options)?;
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
    )
    .await?;
    progress.clear();
    let (outcomes, finished) = (done.outcomes, done.finished);
    let report = &finished.report;
    let archive = match &encryption {
        Some(how) => {
            Some(encrypt_bundle(bundle.dir(), how).context("writing the encrypted bundle")?)
        }
        None => None,
    };

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
                "encrypted": archive.as_ref().map(|p| p.display().to_string()),
                "steps": outcomes,
            })
        );
    } else {
        if !global.quiet {
            println!("{}", tables::summary(&outcomes));
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
        if let Some(p) = &archive {
            println!("Encrypted copy for delivery: {}", p.display());
        }
    }
    Ok(exit)
}

/// What one export produced.
pub struct Exported {
    pub outcomes: Vec<crate::run::StepOutcome>,
    pub finished: evidence::Finished,
}

/// One export, start to signed report: the ledger row (or the existing one, for a retried
/// batch row), the run into `bundle`, the person's index page, and the evidence.
#[allow(clippy::too_many_arguments)]
pub async fn export_one(
    v: &crate::playbook::Validated,
    connectors: &run::ConnectorSet<'_>,
    state: &crate::state::State,
    ids: &crate::identity::RequestIdentities,
    request_id: &str,
    bundle: &Bundle,
    options: &RequestOptions,
    observer: &dyn run::Observer,
) -> anyhow::Result<Exported> {
    let plan = plan::build(v, Action::Export, ids);
    let begun = evidence::resume(state, ids, Action::Export, request_id, v, options)
        .await
        .context("recording the request")?;
    if let Some(dir) = &begun.key_created {
        eprintln!(
            "note: created a signing key in {}; give auditors {} (see `dsr keys generate --help`)",
            dir.display(),
            dir.join(crate::signing::ALLOWED_SIGNERS_FILE).display()
        );
    }
    let cx = run::Context {
        v,
        ids,
        connectors,
        handler: bundle,
        observer,
        cancel: None,
        confirmed: None,
    };
    let outcomes = run::execute(&cx, &plan, run::Finished::new())
        .await
        .map_err(anyhow::Error::msg)?;
    let data_files = bundle.files();
    let html = index::render(v, request_id, &outcomes, &data_files, bundle.dir());
    bundle
        .add("index.html", html.as_bytes())
        .context("writing index.html")?;
    let finished = begun
        .request
        .finish(v, &outcomes, &BTreeMap::new(), bundle)
        .await
        .context("writing the signed report")?;
    Ok(Exported { outcomes, finished })
}
