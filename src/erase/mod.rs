//! Changing data: erase and correct. Both run in two phases. The read phase walks the identity
//! graph like an export, but keeps, per collection, the key of every record found and the
//! change planned for it (journaled step by step). The write phase then applies each system's
//! changes by key (never by re-running a broad condition), children before parents, in one
//! transaction per system, and verifies the result by looking every key up again.

pub mod fit;
pub mod mask;
pub mod request;
pub mod rules;

use crate::connectors::{
    Connector, KeyLookup, KeyedChange, Row, RowSink, SinkError, SystemSpec, Validated, WriteRequest,
};
use crate::plan::Plan;
use crate::playbook::{CollectionId, CollectionSpec};
use crate::run::{ConnectorSet, Handler, Provided, Status, StepOutcome, StepSink, retry};
use crate::state::journal::StepChanges;
use crate::state::status::WriteStatus;
use crate::state::{State, StateError};
pub use rules::Rule;
use serde::Serialize;
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, PoisonError};

/// Current values of corrected fields, for the operator's before → after view. Held in memory
/// only: never journaled, logged or reported.
pub type Before = Arc<Mutex<BTreeMap<CollectionId, Vec<Row>>>>;

/// The read phase's handler: turns found records into keyed changes and journals each step.
pub struct ReadHandler<'a> {
    pub rules: &'a BTreeMap<CollectionId, Rule>,
    pub hash_key: Option<Vec<u8>>,
    /// `None` for a dry run, which records nothing.
    pub journal: Option<(&'a State, &'a str)>,
    pub planned: Mutex<BTreeMap<CollectionId, StepChanges>>,
    pub before: Option<Before>,
}

impl<'a> ReadHandler<'a> {
    pub fn new(
        rules: &'a BTreeMap<CollectionId, Rule>,
        hash_key: Option<Vec<u8>>,
        journal: Option<(&'a State, &'a str)>,
    ) -> Self {
        Self {
            rules,
            hash_key,
            journal,
            planned: Mutex::new(BTreeMap::new()),
            before: None,
        }
    }

    pub fn planned(&self) -> BTreeMap<CollectionId, StepChanges> {
        self.planned
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

#[async_trait::async_trait]
impl Handler for ReadHandler<'_> {
    fn wants_keys(&self) -> bool {
        true
    }

    fn columns(&self, spec: &CollectionSpec, keys: &[String]) -> Option<Vec<String>> {
        let mut cols: Vec<String> = keys.to_vec();
        let rule_cols = self
            .rules
            .get(&spec.id)
            .map(Rule::columns)
            .unwrap_or_default();
        for c in spec.provides.values().cloned().chain(rule_cols) {
            if !cols.contains(&c) {
                cols.push(c);
            }
        }
        Some(cols)
    }

    fn open(&self, id: &CollectionId, keys: &[String]) -> Result<Box<dyn StepSink>, SinkError> {
        Ok(Box::new(ChangeSink {
            id: id.clone(),
            rule: self.rules.get(id).cloned().unwrap_or(Rule::Pass),
            keys: keys.to_vec(),
            hash_key: self.hash_key.clone(),
            changes: Vec::new(),
            before: self.before.clone(),
            seen: Vec::new(),
        }))
    }

    async fn record(
        &self,
        outcome: &StepOutcome,
        provided: &Provided,
        payload: Option<&Value>,
    ) -> Result<(), String> {
        if let Some((state, id)) = self.journal {
            state
                .journal_step(id, outcome, provided, payload)
                .await
                .map_err(|e| format!("cannot write the journal: {e}"))?;
        }
        let Some(p) = payload else {
            return Ok(());
        };
        let id = CollectionId {
            system: outcome.system.clone(),
            collection: outcome.collection.clone(),
        };
        let changes = serde_json::from_value::<StepChanges>(p.clone())
            .map_err(|e| format!("cannot read the changes planned for {id}: {e}"))?;
        self.planned
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(id, changes);
        Ok(())
    }
}

struct ChangeSink {
    id: CollectionId,
    rule: Rule,
    keys: Vec<String>,
    hash_key: Option<Vec<u8>>,
    changes: Vec<KeyedChange>,
    before: Option<Before>,
    seen: Vec<Row>,
}

impl RowSink for ChangeSink {
    fn row(&mut self, row: Row) -> Result<(), SinkError> {
        let key: Vec<Value> = self
            .keys
            .iter()
            .map(|k| row.get(k).cloned().unwrap_or(Value::Null))
            .collect();
        if key.iter().any(Value::is_null) {
            return Err(SinkError(std::io::Error::other(format!(
                "a record of {} has no value in its key column",
                self.id
            ))));
        }
        if let Some(change) = self.rule.change(key, &row, self.hash_key.as_deref()) {
            self.changes.push(change);
        }
        if self.before.is_some() && matches!(self.rule, Rule::Set(_)) {
            self.seen.push(row);
        }
        Ok(())
    }

    fn reset(&mut self) -> Result<(), SinkError> {
        self.changes.clear();
        self.seen.clear();
        Ok(())
    }
}

impl StepSink for ChangeSink {
    fn finish(&mut self) -> Result<Option<Value>, SinkError> {
        if let Some(before) = &self.before {
            before
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .insert(self.id.clone(), std::mem::take(&mut self.seen));
        }
        let planned = StepChanges {
            key_columns: self.keys.clone(),
            changes: std::mem::take(&mut self.changes),
        };
        Ok(Some(
            serde_json::to_value(planned).map_err(|e| SinkError(std::io::Error::other(e)))?,
        ))
    }
}

/// Per collection: what was found and what the write phase did to it.
#[derive(Debug, Clone, Serialize)]
pub struct CollectionResult {
    pub collection: String,
    pub strategy: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub because: Option<String>,
    pub found: u64,
    pub deleted: u64,
    pub masked: u64,
    pub updated: u64,
    pub kept: u64,
    /// `true` when every change was confirmed by looking the records up again.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verified: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
    /// The problem is a manual step waiting for a person (its instructions), not an error.
    #[serde(skip)]
    pub waiting: bool,
    /// Facts the system reported (erase jobs, records already gone); no personal data.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

/// Per system: the write phase's outcome.
#[derive(Debug, Clone, Serialize)]
pub struct SystemResult {
    pub system: String,
    pub status: Status,
    pub transactional: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub collections: Vec<CollectionResult>,
}

/// Counts of what a change request would do, straight from the read phase (the dry run's
/// answer, and the confirmation prompt's).
pub fn preview(
    v: &Validated,
    plan: &Plan,
    rules: &BTreeMap<CollectionId, Rule>,
    planned: &BTreeMap<CollectionId, StepChanges>,
    outcomes: &[StepOutcome],
) -> Vec<(String, CollectionResult)> {
    plan.steps
        .iter()
        .filter_map(|s| {
            let rule = rules.get(&s.id)?;
            let outcome = outcomes
                .iter()
                .find(|o| o.system == s.system && o.collection == s.collection)?;
            let n = planned
                .get(&s.id)
                .map(|p| p.changes.len() as u64)
                .unwrap_or(0);
            let mut r = CollectionResult {
                collection: s.collection.clone(),
                strategy: rule.describe(),
                because: None,
                found: outcome.records,
                deleted: 0,
                masked: 0,
                updated: 0,
                kept: 0,
                verified: None,
                notes: Vec::new(),
                waiting: outcome.status == Status::Waiting && outcome.reason.is_some(),
                problem: match outcome.status {
                    Status::Failed | Status::Waiting | Status::Skipped
                        if outcome.reason.is_some() && outcome.status != Status::Skipped =>
                    {
                        outcome.reason.clone()
                    }
                    _ => None,
                },
            };
            match rule {
                Rule::Delete => r.deleted = n,
                Rule::Mask(_) => r.masked = n,
                Rule::Set(_) => r.updated = n,
                Rule::Keep(because) => {
                    r.kept = outcome.records;
                    r.because = Some(because.clone());
                }
                Rule::Pass => {}
            }
            if let (Rule::Mask(_), Some(spec)) = (rule, v.collection(&s.id))
                && let Some(crate::playbook::EraseStrategy::Mask { because, .. }) = &spec.erase
            {
                r.because = because.clone();
            }
            Some((s.system.clone(), r))
        })
        .collect()
}

/// Everything the write phase needs.
#[derive(Clone, Copy)]
pub struct WritePhase<'a> {
    pub v: &'a Validated,
    pub plan: &'a Plan,
    pub connectors: &'a ConnectorSet<'a>,
    pub rules: &'a BTreeMap<CollectionId, Rule>,
    pub planned: &'a BTreeMap<CollectionId, StepChanges>,
    pub read: &'a [StepOutcome],
    /// `None` for runs that record nothing.
    pub journal: Option<(&'a State, &'a str)>,
    /// The request ran before (resumed from the journal).
    pub resumed: bool,
}

/// The write phase for every system, then verification. Systems run concurrently; within a
/// system, collections are written children first (reverse plan order) in one transaction.
pub async fn write_and_verify(p: WritePhase<'_>) -> Vec<SystemResult> {
    let base = preview(p.v, p.plan, p.rules, p.planned, p.read);
    let futures = p.v.systems.keys().map(|system| {
        let base: Vec<CollectionResult> = base
            .iter()
            .filter(|(s, _)| s == system)
            .map(|(_, r)| r.clone())
            .collect();
        write_system(p, system, base)
    });
    futures::future::join_all(futures).await
}

/// Where one system's write phase stands: each phase does its part and names the next.
enum Phase<'a> {
    /// What the read phase found, and what an earlier run of the request wrote, decide
    /// whether there is anything to write.
    Read,
    /// The planned changes go in, in one transaction where the connector has them.
    Write(Pending<'a>),
    /// Every changed record is looked up again.
    Verify(Pending<'a>),
    /// The system's result is complete.
    Done,
}

/// One system's planned changes, and the connector that makes them.
struct Pending<'a> {
    connector: Arc<dyn Connector>,
    spec: &'a SystemSpec,
    /// Children before parents: the reverse of the plan's dependency order.
    order: Vec<(&'a CollectionId, &'a StepChanges)>,
}

/// One system's write phase, as it goes from phase to phase.
struct SystemWrite<'a> {
    p: WritePhase<'a>,
    system: &'a str,
    /// The read phase's counts, which the write phase confirms or takes back.
    results: Vec<CollectionResult>,
    out: SystemResult,
}

async fn write_system<'a>(
    p: WritePhase<'a>,
    system: &'a str,
    results: Vec<CollectionResult>,
) -> SystemResult {
    let mut w = SystemWrite {
        p,
        system,
        results,
        out: SystemResult {
            system: system.to_string(),
            status: Status::Done,
            transactional: false,
            error: None,
            collections: Vec::new(),
        },
    };
    let mut phase = Phase::Read;
    loop {
        phase = match phase {
            Phase::Read => w.read().await,
            Phase::Write(pending) => w.write(pending).await,
            Phase::Verify(pending) => w.verify(pending).await,
            Phase::Done => return w.out,
        };
    }
}

impl<'a> SystemWrite<'a> {
    /// Ends the write phase with `collections` as the system's collection results.
    fn done(&mut self, collections: Vec<CollectionResult>) -> Phase<'a> {
        self.out.collections = collections;
        Phase::Done
    }

    /// Ends the write phase as failed, with the read phase's counts taken back.
    fn nothing_changed(&mut self, error: String) -> Phase<'a> {
        self.out.status = Status::Failed;
        let results = nothing_changed(std::mem::take(&mut self.results), Some(&error));
        self.out.error = Some(error);
        self.done(results)
    }

    async fn journal(&self, status: WriteStatus, detail: &Value) -> Result<(), StateError> {
        match self.p.journal {
            Some((state, id)) => state.journal_write(id, self.system, status, detail).await,
            None => Ok(()),
        }
    }

    async fn read(&mut self) -> Phase<'a> {
        let WritePhase {
            v,
            plan,
            connectors,
            planned,
            read,
            journal,
            resumed,
            ..
        } = self.p;
        let system = self.system;
        if let Some(w) = read
            .iter()
            .find(|o| o.system == system && o.status == Status::Waiting)
        {
            self.out.status = Status::Waiting;
            self.out.error = w.reason.clone();
            let results = std::mem::take(&mut self.results);
            return self.done(results);
        }
        let read_failed = read
            .iter()
            .filter(|o| o.system == system)
            .find(|o| o.unfinished());
        if let Some(bad) = read_failed {
            return self.nothing_changed(format!(
                "nothing changed: reading {}.{} did not finish",
                bad.system, bad.collection
            ));
        }
        let order: Vec<(&CollectionId, &StepChanges)> = plan
            .steps
            .iter()
            .rev()
            .filter(|s| s.system == system)
            .filter_map(|s| {
                planned
                    .get(&s.id)
                    .filter(|p| !p.changes.is_empty())
                    .map(|p| (&s.id, p))
            })
            .collect();
        if order.is_empty() {
            let results = std::mem::take(&mut self.results);
            self.out.status = if results.iter().any(|r| r.found > 0) || !results.is_empty() {
                Status::Done
            } else {
                Status::Skipped
            };
            let _ = self
                .journal(WriteStatus::Verified, &json!({"changed": 0}))
                .await;
            return self.done(results);
        }
        // Writes and verification count against the same limits as reads: each call holds a
        // permit while it runs, and only then (the journal's bookkeeping between calls does
        // not).
        let connector = match connectors.get(system).await {
            Ok(c) => c,
            Err(e) => return self.nothing_changed(e),
        };
        self.out.transactional = connector.transactional();
        let Some(spec) = v.systems.get(system) else {
            self.out.status = Status::Failed;
            self.out.error = Some("not in the playbook".into());
            return Phase::Done;
        };
        let previous = match journal {
            Some((state, id)) => match state.journal_writes(id).await {
                Ok(mut writes) => writes.remove(system).map(|(s, _)| s),
                Err(e) => {
                    tracing::warn!(system, error = %e, "cannot read what an earlier run wrote; writing again");
                    None
                }
            },
            None => None,
        };
        let pending = Pending {
            connector,
            spec,
            order,
        };
        // A resumed request whose earlier run was killed between committing and journaling:
        // if every change is already in effect, it is not written again.
        let already = resumed && previous.is_none() && self.in_effect(&pending).await;
        if already {
            tracing::info!(system, "changes already in effect; not written again");
        }
        if already || matches!(previous, Some(WriteStatus::Written | WriteStatus::Verified)) {
            Phase::Verify(pending)
        } else {
            Phase::Write(pending)
        }
    }

    /// Whether every planned change of the system is in effect already (each is checked).
    async fn in_effect(&self, pending: &Pending<'a>) -> bool {
        let mut all = true;
        for (cid, p) in &pending.order {
            all &= match self.p.v.collection(cid) {
                Some(c) => {
                    let _permits = self.p.connectors.permit(self.system).await;
                    verify(pending.connector.as_ref(), c, p, pending.spec.timeout)
                        .await
                        .is_ok()
                }
                None => false,
            };
        }
        all
    }

    async fn write(&mut self, pending: Pending<'a>) -> Phase<'a> {
        let system = self.system;
        let connector = pending.connector.as_ref();
        let result = {
            let specs: Vec<&CollectionSpec> = pending
                .order
                .iter()
                .filter_map(|(id, _)| self.p.v.collection(id))
                .collect();
            let requests: Vec<WriteRequest<'_>> = pending
                .order
                .iter()
                .zip(&specs)
                .map(|((_, p), spec)| WriteRequest {
                    collection: spec,
                    key_columns: &p.key_columns,
                    changes: &p.changes,
                })
                .collect();
            let mut attempt = 0;
            loop {
                attempt += 1;
                let permits = self.p.connectors.permit(system).await;
                let result = connector.write(&requests).await;
                drop(permits);
                match result {
                    Err(e) if e.is_transient() && attempt <= pending.spec.retries => {
                        tokio::time::sleep(retry::backoff(attempt)).await
                    }
                    other => break other,
                }
            }
        };
        let outcomes = match result {
            Ok(outcomes) => outcomes,
            Err(e) => {
                let rolled_back = if connector.transactional() {
                    "; rolled back, nothing changed"
                } else {
                    ""
                };
                self.out.status = Status::Failed;
                self.out.error = Some(format!("{e}{rolled_back}"));
                let _ = self
                    .journal(WriteStatus::Failed, &json!({ "error": self.out.error }))
                    .await;
                // Rolled back: the planned counts did not happen. (Without a transaction what
                // took effect is unknown; the error says so and the counts stay as planned.)
                let results = std::mem::take(&mut self.results);
                let results = if connector.transactional() {
                    nothing_changed(results, self.out.error.as_deref())
                } else {
                    results
                };
                return self.done(results);
            }
        };
        for ((cid, _), o) in pending.order.iter().zip(&outcomes) {
            if let Some(r) = self
                .results
                .iter_mut()
                .find(|r| r.collection == cid.collection)
            {
                r.notes.extend(o.notes.iter().cloned());
            }
        }
        let counts: Vec<u64> = outcomes.iter().map(|o| o.changed).collect();
        tracing::info!(
            system,
            changed = counts.iter().sum::<u64>(),
            "write committed"
        );
        if let Err(e) = self
            .journal(WriteStatus::Written, &json!({ "changed": counts }))
            .await
        {
            self.out.status = Status::Failed;
            self.out.error = Some(format!("written, but the journal could not record it: {e}"));
        }
        Phase::Verify(pending)
    }

    /// Verifies every collection that had changes.
    async fn verify(&mut self, pending: Pending<'a>) -> Phase<'a> {
        let mut all_ok = true;
        for (cid, p) in &pending.order {
            let Some(spec) = self.p.v.collection(cid) else {
                continue;
            };
            let permits = self.p.connectors.permit(self.system).await;
            let check = verify(pending.connector.as_ref(), spec, p, pending.spec.timeout).await;
            drop(permits);
            if let Some(r) = self
                .results
                .iter_mut()
                .find(|r| r.collection == cid.collection)
            {
                match check {
                    Ok(()) => r.verified = Some(true),
                    Err(problem) => {
                        all_ok = false;
                        r.verified = Some(false);
                        r.problem = Some(problem);
                    }
                }
            }
        }
        if !all_ok {
            self.out.status = Status::Failed;
            self.out.error =
                Some("verification failed: the changes did not all take effect".into());
        }
        let status = if all_ok {
            WriteStatus::Verified
        } else {
            WriteStatus::Failed
        };
        let _ = self.journal(status, &json!({ "verified": all_ok })).await;
        let results = std::mem::take(&mut self.results);
        self.done(results)
    }
}

/// The results of a system whose changes did not happen: the planned counts become zero (what
/// was found and kept stays), so the report does not claim changes that were rolled back.
/// Collections that had changes planned carry the system's error as their problem.
fn nothing_changed(
    mut results: Vec<CollectionResult>,
    error: Option<&str>,
) -> Vec<CollectionResult> {
    for r in &mut results {
        if r.deleted + r.masked + r.updated > 0 && r.problem.is_none() {
            r.problem = error.map(str::to_string);
        }
        r.deleted = 0;
        r.masked = 0;
        r.updated = 0;
    }
    results
}

/// Rows collected by key, for verification.
struct Collect(Vec<Row>);

impl RowSink for Collect {
    fn row(&mut self, row: Row) -> Result<(), SinkError> {
        self.0.push(row);
        Ok(())
    }
    fn reset(&mut self) -> Result<(), SinkError> {
        self.0.clear();
        Ok(())
    }
}

fn key_text(key: &[Value]) -> String {
    key.iter()
        .map(crate::connectors::sql::value_text)
        .collect::<Vec<_>>()
        .join("\u{1f}")
}

/// Deleted records must be gone; updated ones must hold exactly the values written.
async fn verify(
    connector: &dyn crate::connectors::Connector,
    spec: &CollectionSpec,
    planned: &StepChanges,
    timeout: std::time::Duration,
) -> Result<(), String> {
    let keys: Vec<Vec<Value>> = planned.changes.iter().map(|c| c.key.clone()).collect();
    let columns: Vec<String> = planned
        .changes
        .iter()
        .flat_map(|c| c.set.iter().flat_map(|s| s.keys().cloned()))
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let mut found = Collect(Vec::new());
    let lookup = KeyLookup {
        collection: spec,
        key_columns: &planned.key_columns,
        columns: Some(&columns),
        keys: &keys,
        idle_timeout: timeout,
    };
    connector
        .find_by_keys(&lookup, &mut found)
        .await
        .map_err(|e| format!("verification could not read back: {e}"))?;
    let by_key: BTreeMap<String, &Row> = found
        .0
        .iter()
        .map(|row| {
            (
                key_text(
                    &planned
                        .key_columns
                        .iter()
                        .map(|k| row.get(k).cloned().unwrap_or(Value::Null))
                        .collect::<Vec<_>>(),
                ),
                row,
            )
        })
        .collect();
    let mut still_there = 0;
    let mut missing = 0;
    let mut wrong = BTreeSet::new();
    for change in &planned.changes {
        let row = by_key.get(&key_text(&change.key));
        match (&change.set, row) {
            (None, Some(_)) => still_there += 1,
            (None, None) => {}
            (Some(_), None) => missing += 1,
            (Some(set), Some(row)) => {
                for (col, expected) in set {
                    let actual = row.get(col).unwrap_or(&Value::Null);
                    let same = match (expected, actual) {
                        (Value::Null, a) => a.is_null(),
                        (e, a) => {
                            !a.is_null()
                                && crate::connectors::sql::value_text(e)
                                    == crate::connectors::sql::value_text(a)
                        }
                    };
                    if !same {
                        wrong.insert(col.clone());
                    }
                }
            }
        }
    }
    let mut problems = Vec::new();
    if still_there > 0 {
        problems.push(format!("{still_there} deleted records still exist"));
    }
    if missing > 0 {
        problems.push(format!("{missing} changed records are missing"));
    }
    if !wrong.is_empty() {
        problems.push(format!(
            "{} do not hold the values written",
            wrong.into_iter().collect::<Vec<_>>().join(", ")
        ));
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("; "))
    }
}
