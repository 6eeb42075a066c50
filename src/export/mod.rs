//! Exports: one request, from the ledger row to the signed report, with no prompting and no
//! printing. `dsr export` and `dsr resume` add the plan table, the progress bar and the
//! summary around it; `dsr batch export` and `dsr run-due` run many through the same
//! [`export_one`].

use crate::connectors::Validated;
use crate::error::UsageError;
use crate::evidence::{self, RequestOptions};
use crate::identity::RequestIdentities;
use crate::output::bundle::Bundle;
use crate::output::index;
use crate::plan::{self, Action};
use crate::run::{self, Status};
use crate::state::State;
use crate::state::journal::{JournalRequest, RequestArgs};
use crate::state::status::JournalStatus;
use anyhow::Context;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// What one export produced.
pub struct Exported {
    pub outcomes: Vec<run::StepOutcome>,
    pub finished: evidence::Finished,
}

/// A journaled export that `dsr resume` continues: its bundle holds the files of the steps
/// that finished.
pub struct Resumable {
    pub id: String,
    pub dir: PathBuf,
    pub bundle: Bundle,
    pub ids: RequestIdentities,
    pub finished: run::Finished,
}

/// Finds what a journaled export needs to run again: the same playbook, its identities and
/// its bundle directory (as its arguments or its ledger row recorded it), reopened keeping
/// the files of the steps that finished.
pub async fn reopen(v: &Validated, state: &State, r: JournalRequest) -> anyhow::Result<Resumable> {
    let id = r.id;
    if r.playbook_sha256 != v.loaded.sha256 {
        return Err(UsageError::new(format!(
            "request {id} was started with another version of the playbook"
        ))
        .with_hint("resume it with the playbook it started with")
        .into());
    }
    let Some(args) = r.args else {
        return Err(UsageError::new(format!("request {id} has no stored arguments")).into());
    };
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
    Ok(Resumable {
        id,
        dir,
        bundle,
        ids: args.identities(),
        finished,
    })
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

/// Removes what an earlier attempt that did not finish left in `dir`, so that an export
/// that starts from the beginning gets a new bundle there.
pub fn remove_unfinished(dir: &Path) -> anyhow::Result<()> {
    if dir.exists() {
        std::fs::remove_dir_all(dir)
            .with_context(|| format!("removing the unfinished {}", dir.display()))?;
    }
    Ok(())
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
    v: &Validated,
    connectors: &run::ConnectorSet<'_>,
    state: &State,
    ids: &RequestIdentities,
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
            let args = RequestArgs {
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
        state
            .journal_finish(request_id, JournalStatus::Done)
            .await?;
    }
    Ok(Exported { outcomes, finished })
}
