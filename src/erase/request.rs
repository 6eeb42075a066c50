//! One erase or correction, from the journal to the signed report, with no prompting and no
//! printing. `dsr erase`/`correct`/`resume` add the plan table and the confirmation around it;
//! `dsr batch` runs many at once through the same engine.

use super::{Before, ReadHandler, Rule, SystemResult, WritePhase, rules};
use crate::connectors::Row;
use crate::connectors::Validated;
use crate::error::UsageError;
use crate::evidence::{self, RequestOptions};
use crate::identity::RequestIdentities;
use crate::output::bundle::Bundle;
use crate::output::report::Changes;
use crate::plan::{Action, Plan};
use crate::playbook::{CollectionId, interpolate};
use crate::run::{self, ConnectorSet, Observer, Status, StepOutcome};
use crate::state::State;
use crate::state::journal::{JournalRequest, RequestArgs, StepChanges};
use crate::state::status::JournalStatus;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use tokio::sync::watch;

/// What stays the same for every request of a run: playbook, rules, connectors, state.
pub struct Engine<'a> {
    pub v: &'a Validated,
    pub action: Action,
    pub rules: BTreeMap<CollectionId, Rule>,
    hash_key: Option<Vec<u8>>,
    pub connectors: &'a ConnectorSet<'a>,
    /// `None` for a dry run, which records nothing.
    pub state: Option<&'a State>,
}

/// A request found in (or added to) the journal.
pub struct Opened {
    pub id: String,
    pub resumed: bool,
    /// The journal says this request already completed.
    pub done: bool,
    finished: run::Finished,
    journaled: BTreeMap<CollectionId, StepChanges>,
    /// When the request was received, as its first run recorded it.
    received: Option<String>,
}

/// The read phase's result: what was found and what will change.
pub struct ReadPhase {
    pub outcomes: Vec<StepOutcome>,
    pub planned: BTreeMap<CollectionId, StepChanges>,
    pub preview: Vec<(String, super::CollectionResult)>,
    pub failed: bool,
}

impl ReadPhase {
    /// Records that would be deleted, masked or corrected.
    pub fn changes(&self) -> u64 {
        self.preview
            .iter()
            .map(|(_, r)| r.deleted + r.masked + r.updated)
            .sum()
    }
}

/// The write phase's result, with the signed report's path.
pub struct Applied {
    pub results: Vec<SystemResult>,
    pub outcome: Status,
    pub ok: bool,
    pub report: Option<PathBuf>,
    /// Why the evidence could not be written after the systems were changed: the request is
    /// then failed (exit 1), never "nothing was changed".
    pub evidence_error: Option<String>,
}

impl<'a> Engine<'a> {
    pub fn new(
        v: &'a Validated,
        action: Action,
        sets: &[String],
        connectors: &'a ConnectorSet<'a>,
        state: Option<&'a State>,
    ) -> anyhow::Result<Self> {
        let rules = match action {
            Action::Erase => rules::for_erase(v)?,
            Action::Correct => rules::for_correct(v, &rules::parse_assignments(sets)?)?,
            Action::Export => return Err(UsageError::new("export does not change data").into()),
        };
        let hash_key = match &v.loaded.playbook.hash_key {
            None => None,
            Some(t) => Some(
                interpolate::resolve(t, &v.loaded.dir)
                    .map_err(|e| UsageError::new(format!("hash_key: {e}")))?
                    .expose()
                    .as_bytes()
                    .to_vec(),
            ),
        };
        Ok(Self {
            v,
            action,
            rules,
            hash_key,
            connectors,
            state,
        })
    }

    /// Refuses an erase whose masks cannot work on the columns they name (a value the type
    /// cannot hold or read back as written, `null` on NOT NULL, a key column): such a write
    /// fails, or commits and then fails verification on every resume. Checked before anything
    /// is read, journaled or written.
    pub async fn refuse_unfit_masks(&self) -> anyhow::Result<()> {
        if self.action != Action::Erase {
            return Ok(());
        }
        let problems = crate::live::unfit_masks(self.v, self.connectors).await;
        if problems.is_empty() {
            return Ok(());
        }
        let masks = if problems.len() == 1 {
            "1 mask cannot be written".to_string()
        } else {
            format!("{} masks cannot be written", problems.len())
        };
        Err(UsageError::new(format!(
            "refusing to erase: {masks}; nothing was changed\n{}",
            crate::playbook::Diagnostics(problems)
        ))
        .into())
    }

    /// Finds the request in the journal or adds it. With `wanted` the id is given (a batch row,
    /// `dsr resume`); without, an unfinished request for the same subject and the same changes
    /// is continued (a correction to other values starts a request of its own).
    pub async fn open(
        &self,
        ids: &RequestIdentities,
        sets: &[String],
        options: &RequestOptions,
        wanted: Option<&str>,
        resume: Option<JournalRequest>,
    ) -> anyhow::Result<Opened> {
        let mut opened = Opened {
            id: wanted
                .map(str::to_string)
                .unwrap_or_else(|| uuid::Uuid::now_v7().to_string()),
            resumed: false,
            done: false,
            finished: run::Finished::new(),
            journaled: BTreeMap::new(),
            received: options
                .received
                .clone()
                .or_else(|| options.started.map(|t| t.to_string())),
        };
        let Some(state) = self.state else {
            return Ok(opened);
        };
        let verb = self.action.name();
        let key = crate::subject::load_or_create_key(&state.dir)?;
        let subject = crate::subject::subject_hash(&key, ids);
        let existing = match (resume, wanted) {
            (Some(r), _) => Some(r),
            (None, Some(id)) => state.journal_get(id).await?,
            (None, None) => {
                state
                    .journal_open_for(verb, &subject, &self.v.loaded.sha256, sets)
                    .await?
            }
        };
        match existing {
            Some(r) if r.status == JournalStatus::Done => {
                opened.id = r.id;
                opened.done = true;
            }
            Some(r) if r.status == JournalStatus::Running => {
                if r.playbook_sha256 != self.v.loaded.sha256 {
                    return Err(UsageError::new(format!("request {} was started with another version of the playbook", r.id))
                        .with_hint("resume it with the playbook it started with; a changed playbook could reach other records")
                        .into());
                }
                opened.id = r.id;
                opened.resumed = true;
                if let Some(received) = r.args.as_ref().and_then(|a| a.received.clone()) {
                    opened.received = Some(received);
                }
                (opened.finished, opened.journaled) = state.journal_finished(&opened.id).await?;
            }
            Some(r) => {
                return Err(UsageError::new(format!(
                    "request {} is {}; it will not run again",
                    r.id, r.status
                ))
                .into());
            }
            None => {
                let args = RequestArgs {
                    identities: ids.0.clone(),
                    sets: sets.to_vec(),
                    received: opened.received.clone(),
                    out: None,
                };
                state
                    .journal_create(&opened.id, verb, &subject, &self.v.loaded.sha256, &args)
                    .await?;
            }
        }
        Ok(opened)
    }

    /// The read phase: every key the identity graph reaches, and the change planned for it.
    pub async fn read(
        &self,
        plan: &Plan,
        opened: &mut Opened,
        ids: &RequestIdentities,
        observer: &dyn Observer,
        cancel: Option<watch::Receiver<bool>>,
        before: Option<Before>,
    ) -> anyhow::Result<ReadPhase> {
        let journal = self.state.map(|s| (s, opened.id.as_str()));
        let confirmed = match self.state {
            Some(state) => state.confirmations(&opened.id).await?,
            None => BTreeMap::new(),
        };
        let mut handler = ReadHandler::new(&self.rules, self.hash_key.clone(), journal);
        handler.before = before;
        handler
            .planned
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .extend(std::mem::take(&mut opened.journaled));
        let cx = run::Context {
            v: self.v,
            ids,
            connectors: self.connectors,
            handler: &handler,
            observer,
            cancel,
            confirmed: Some(&confirmed),
        };
        let outcomes = run::execute(&cx, plan, std::mem::take(&mut opened.finished))
            .await
            .map_err(anyhow::Error::msg)?;
        let planned = handler.planned();
        let preview = super::preview(self.v, plan, &self.rules, &planned, &outcomes);
        let failed = outcomes.iter().any(|o| o.status == Status::Failed);
        Ok(ReadPhase {
            outcomes,
            planned,
            preview,
            failed,
        })
    }

    /// The write phase, verification, the signed report (into `dir`), and the journal's end.
    pub async fn apply(
        &self,
        plan: &Plan,
        opened: &Opened,
        ids: &RequestIdentities,
        options: &RequestOptions,
        read: &ReadPhase,
        dir: &Path,
    ) -> anyhow::Result<Applied> {
        let journal = self.state.map(|s| (s, opened.id.as_str()));
        // Received as the request's first run recorded it (an explicit --received wins).
        let options = &RequestOptions {
            received: options.received.clone().or_else(|| opened.received.clone()),
            ..options.clone()
        };
        // What can be checked is checked before the first write: the report's directory, the
        // signing key, the ledger. A mistake here changed nothing.
        let bundle = match self.state {
            Some(_) => Some(report_dir(dir)?),
            None => None,
        };
        // The request enters the ledger (or is picked up again) when its writes begin.
        let begun = match self.state {
            Some(state) => {
                let begun =
                    evidence::resume(state, ids, self.action, &opened.id, self.v, options).await?;
                if let Some(dir) = &begun.key_created {
                    eprintln!("note: created a signing key in {}", dir.display());
                }
                Some(begun)
            }
            None => None,
        };
        let results = super::write_and_verify(WritePhase {
            v: self.v,
            plan,
            connectors: self.connectors,
            rules: &self.rules,
            planned: &read.planned,
            read: &read.outcomes,
            journal,
            resumed: opened.resumed,
        })
        .await;
        let ok = results
            .iter()
            .all(|r| matches!(r.status, Status::Done | Status::Skipped))
            && !read.failed;
        let waiting = results.iter().any(|r| r.status == Status::Waiting);
        let outcome = if ok {
            Status::Done
        } else if waiting && results.iter().all(|r| r.status != Status::Failed) && !read.failed {
            Status::Waiting
        } else if results.iter().any(|r| r.status == Status::Done) {
            Status::Partial
        } else {
            Status::Failed
        };
        // From here on the systems have changed: a failure is the request's (exit 1, recorded
        // in the ledger), not the input's.
        let mut evidence_error = None;
        let mut report = None;
        if let (Some(begun), Some(bundle)) = (&begun, &bundle) {
            match begun
                .request
                .finish(self.v, &read.outcomes, &report_changes(&results), bundle)
                .await
            {
                Ok(finished) => report = Some(finished.report_path),
                Err(e) => {
                    let why = format!("the signed report could not be written: {e}");
                    if let Some(state) = self.state
                        && let Err(e) = state.ledger_fail(&opened.id).await
                    {
                        tracing::error!(error = %e, "cannot record the failure in the ledger");
                    }
                    evidence_error = Some(why);
                }
            }
        }
        if let Some((s, id)) = journal
            && ok
            && evidence_error.is_none()
            && let Err(e) = s.journal_finish(id, JournalStatus::Done).await
        {
            evidence_error = Some(format!("the journal could not be closed: {e}"));
        }
        let ok = ok && evidence_error.is_none();
        Ok(Applied {
            results,
            outcome: if evidence_error.is_some() && outcome == Status::Done {
                Status::Partial
            } else {
                outcome
            },
            ok,
            report,
            evidence_error,
        })
    }

    /// Ends a request that will not be applied (the operator said no): its journaled data goes.
    pub async fn cancel(&self, opened: &Opened) -> anyhow::Result<()> {
        if let Some(state) = self.state {
            state
                .journal_finish(&opened.id, JournalStatus::Cancelled)
                .await?;
        }
        Ok(())
    }
}

/// The directory the signed report goes into, made now: a path that cannot be a directory
/// (under a file, not writable) is the user's to fix, before anything changes.
pub fn report_dir(dir: &Path) -> Result<Bundle, UsageError> {
    Bundle::for_report(dir).map_err(|e| {
        UsageError::new(format!(
            "cannot create the report directory {}: {e}; nothing was changed",
            dir.display()
        ))
        .with_hint("choose another --out")
    })
}

/// What the write phase did per collection, for the signed report.
fn report_changes(results: &[SystemResult]) -> BTreeMap<CollectionId, Changes> {
    let mut out = BTreeMap::new();
    for s in results {
        for c in &s.collections {
            let changed = c.deleted + c.masked + c.updated > 0;
            // A manual step that waits is not an error: the report says `waiting`.
            let problem = c.problem.clone().filter(|_| !c.waiting);
            let error = problem.or_else(|| if changed { s.error.clone() } else { None });
            let some = |n: u64| (n > 0).then_some(n);
            out.insert(
                CollectionId {
                    system: s.system.clone(),
                    collection: c.collection.clone(),
                },
                Changes {
                    deleted: some(c.deleted),
                    masked: some(c.masked),
                    kept: some(c.kept),
                    updated: some(c.updated),
                    verified_erased: c.verified,
                    error,
                    notes: c.notes.clone(),
                },
            );
        }
    }
    out
}

/// Current values of corrected fields, shown to the operator only.
pub fn before_after(rules: &BTreeMap<CollectionId, Rule>, before: &Before) -> Vec<String> {
    let before = before
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let mut out = Vec::new();
    for (id, rows) in before.iter() {
        let Some(Rule::Set(fields)) = rules.get(id) else {
            continue;
        };
        for row in rows {
            out.extend(fields.iter().map(|(col, new)| line(id, col, row, new)));
        }
    }
    out
}

fn line(id: &CollectionId, col: &str, row: &Row, new: &serde_json::Value) -> String {
    let text = crate::connectors::sql::value_text;
    format!(
        "{id}.{col}: {} → {}",
        row.get(col).map(text).unwrap_or_default(),
        text(new)
    )
}
