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
use crate::state::State;
use crate::state::journal::{JournalRequest, RequestArgs as JournalArgs};
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
    let id = r.id.clone();
    if r.playbook_sha256 != v.loaded.sha256 {
        return Err(UsageError::new(format!(
            "request {id} was started with another version of the playbook"
        ))
        .with_hint("resume it with the playbook it started with")
        .into());
    }
    let Some(args) = r.args.clone() else {
        return Err(UsageError::new(format!("request {id} has no stored arguments")).into());
    };
    let state = State::open(&super::state_dir(global)?).await?;
    let recorded = state
        .ledger_get(&id)
        .await?
        .and_then(|row| row.report_path)
        .and_then(|p| Path::new(&p).parent().map(Path::to_path_buf));
    let Some(dir) = args.out.clone().map(PathBuf::from).or(recorded) else {
        return Err(
            UsageError::new(format!("request {id} does not record its bundle directory"))
                .with_hint(format!(
                    "export again, or close it: dsr requests close {id} --reason \"…\""
                ))
                .into(),
        );
    };
    let (finished, _) = state.journal_finished(&id).await?;
    let bundle = reopen_bundle(&dir, &finished)?;
    let ids = args.identities();
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

/// The bundle of a resumed export, keeping the files of the steps that finished.
pub fn reopen_bundle(dir: &Path, finished: &run::Finished) -> anyhow::Result<Bundle> {
    use crate::output::bundle::safe_name;
    let stems: Vec<String> = finished
        .keys()
        .map(|c| format!("{}/{}", safe_name(&c.system), safe_name(&c.collection)))
        .collect();
    Bundle::reopen(dir, |path| {
        stems.iter().any(|stem| {
            path.strip_prefix(stem.as_str())
                .is_some_and(|rest| rest == ".json" || rest == ".csv" || rest.starts_with('/'))
        })
    })
    .with_context(|| format!("opening the bundle {} again", dir.display()))
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

/// What one export produced.
pub struct Exported {
    pub outcomes: Vec<crate::run::StepOutcome>,
    pub finished: evidence::Finished,
}

/// Journals each finished step of an export as it is recorded, like an erase's read phase,
/// so that `dsr resume` runs again only what did not finish.
struct Journaled<'a> {
    bundle: &'a Bundle,
    state: &'a State,
    id: &'a str,
}

#[async_trait::async_trait]
impl run::Handler for Journaled<'_> {
    fn open(
        &self,
        id: &crate::playbook::CollectionId,
        keys: &[String],
    ) -> Result<Box<dyn run::StepSink>, crate::connectors::SinkError> {
        run::Handler::open(self.bundle, id, keys)
    }

    async fn record(
        &self,
        outcome: &run::StepOutcome,
        provided: &run::Provided,
        _payload: Option<&serde_json::Value>,
    ) -> Result<(), String> {
        self.state
            .journal_step(self.id, outcome, provided, None)
            .await
            .map_err(|e| format!("cannot write the journal: {e}"))
    }
}

/// One export, start to signed report: the ledger row (or the existing one, for a retried
/// batch row or a resumed export), the journal, the run into `bundle`, the person's index
/// page, and the evidence. `resumed` holds the steps an earlier run finished (the bundle
/// then holds their files); without it the export starts from the beginning. Until the export
/// is done the journal keeps the identities, so that it can be resumed.
#[allow(clippy::too_many_arguments)]
pub async fn export_one(
    v: &crate::connectors::Validated,
    connectors: &run::ConnectorSet<'_>,
    state: &crate::state::State,
    ids: &crate::identity::RequestIdentities,
    request_id: &str,
    bundle: &Bundle,
    options: &RequestOptions,
    observer: &dyn run::Observer,
    resumed: Option<run::Finished>,
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
    let finished = match resumed {
        Some(f) => f,
        None => {
            let args = JournalArgs {
                identities: ids.0.clone(),
                sets: Vec::new(),
                // The ledger row, written above, keeps when it was received.
                received: None,
                out: Some(
                    std::path::absolute(bundle.dir())
                        .unwrap_or_else(|_| bundle.dir().to_path_buf())
                        .display()
                        .to_string(),
                ),
            };
            state
                .journal_restart(
                    request_id,
                    Action::Export.name(),
                    &begun.request.subject.hash,
                    &v.loaded.sha256,
                    &args,
                )
                .await
                .context("recording the request in the journal")?;
            run::Finished::new()
        }
    };
    let confirmed = state.confirmations(request_id).await?;
    let handler = Journaled {
        bundle,
        state,
        id: request_id,
    };
    let cx = run::Context {
        v,
        ids,
        connectors,
        handler: &handler,
        observer,
        cancel: None,
        confirmed: Some(&confirmed),
    };
    let outcomes = run::execute(&cx, &plan, finished)
        .await
        .map_err(anyhow::Error::msg)?;
    let data_files = bundle.files();
    let html = index::render(
        v,
        request_id,
        &outcomes,
        &data_files,
        &begun.request.deadline,
        bundle.dir(),
    );
    bundle
        .add("index.html", html.as_bytes())
        .context("writing index.html")?;
    let finished = begun
        .request
        .finish(v, &outcomes, &BTreeMap::new(), bundle)
        .await
        .context("writing the signed report")?;
    if matches!(finished.report.outcome, Status::Done | Status::Skipped) {
        state.journal_finish(request_id, "done").await?;
    }
    Ok(Exported { outcomes, finished })
}
