//! The executor: runs a plan's steps concurrently, each as soon as the steps it waits for are
//! finished, within a global and a per-system concurrency limit; retries transient failures
//! with backoff; never lets one system's failure stop the others.
//!
//! What happens to rows is the [`Handler`]'s business: an export streams them into the bundle,
//! an erase's read phase turns them into keyed changes. The handler also records each finished
//! step (the journal) before any step that depends on it starts.

pub mod collect;
pub mod outcome;
pub mod retry;

use crate::connectors::Validated;
use crate::connectors::{self, Connector, FindRequest, MatchGroup, RowSink, SinkError};
use crate::identity::RequestIdentities;
use crate::plan::{Plan, Step};
use crate::playbook::{CollectionId, CollectionSpec, MatchTerm, Source};
use collect::ProvidesCollector;
use futures::StreamExt;
use futures::stream::FuturesUnordered;
pub use outcome::{Skip, Status, StepError, StepOutcome, WAITING};
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::{OnceCell, Semaphore, SemaphorePermit, watch};

pub use collect::Provided;

/// A row sink that is told when its step succeeded, and may hand back a payload (for an
/// erase: the changes to make) that the handler records with the step.
pub trait StepSink: RowSink {
    fn finish(&mut self) -> Result<Option<Value>, SinkError>;
}

/// What a run does with rows, and how it records finished steps.
#[async_trait::async_trait]
pub trait Handler: Send + Sync {
    /// Whether steps need each record's key columns (erase and correct do).
    fn wants_keys(&self) -> bool {
        false
    }

    /// The columns to read (`None`: every column); `keys` are the key columns when wanted.
    fn columns(&self, spec: &CollectionSpec, _keys: &[String]) -> Option<Vec<String>> {
        spec.columns()
    }

    fn open(&self, id: &CollectionId, keys: &[String]) -> Result<Box<dyn StepSink>, SinkError>;

    /// Called for each finished step before any step that depends on it starts. An error here
    /// stops the run: a step that cannot be recorded must not be built upon.
    async fn record(
        &self,
        _outcome: &StepOutcome,
        _provided: &Provided,
        _payload: Option<&Value>,
    ) -> Result<(), String> {
        Ok(())
    }
}

/// Hears about steps as they start and end (progress display, logs).
pub trait Observer: Send + Sync {
    fn started(&self, _step: &Step) {}
    fn finished(&self, _outcome: &StepOutcome) {}
}

/// An observer that ignores everything.
pub struct Quiet;
impl Observer for Quiet {}

/// Each system's connector, opened on first use and shared by every step and phase of a run.
/// An opening error is kept, so every step of that system reports it.
pub struct ConnectorSet<'a> {
    v: &'a Validated,
    cells: BTreeMap<String, ConnectorCell>,
    /// Calls in flight across all systems (and, in a batch, across all subjects).
    global: Semaphore,
    /// Calls in flight per system, from the playbook's `concurrency:`.
    per_system: BTreeMap<String, Semaphore>,
}

/// A system's connector, or why it could not be opened.
type ConnectorCell = OnceCell<Result<Arc<dyn Connector>, String>>;

impl<'a> ConnectorSet<'a> {
    /// Connectors for `v`'s systems, with at most `concurrency` calls in flight in total.
    pub fn new(v: &'a Validated, concurrency: usize) -> Self {
        if v.systems.values().any(|s| s.kind.capabilities().http) {
            crate::connectors::http::warm_up();
        }
        Self {
            v,
            cells: v
                .systems
                .keys()
                .map(|n| (n.clone(), OnceCell::new()))
                .collect(),
            global: Semaphore::new(concurrency.max(1)),
            per_system: v
                .systems
                .iter()
                .map(|(n, s)| (n.clone(), Semaphore::new(s.concurrency)))
                .collect(),
        }
    }

    /// Waits for room to make one call to `system` (the global and the system's limit); the
    /// call may proceed while the permits are held.
    pub async fn permit(
        &self,
        system: &str,
    ) -> (Option<SemaphorePermit<'_>>, Option<SemaphorePermit<'_>>) {
        let global = self.global.acquire().await.ok();
        let own = match self.per_system.get(system) {
            Some(s) => s.acquire().await.ok(),
            None => None,
        };
        (global, own)
    }

    pub async fn get(&self, system: &str) -> Result<Arc<dyn Connector>, String> {
        let (Some(cell), Some(spec)) = (self.cells.get(system), self.v.systems.get(system)) else {
            return Err(format!("no system '{system}' in the playbook"));
        };
        cell.get_or_init(|| async {
            connectors::open(spec, &self.v.loaded.dir)
                .await
                .map_err(|e| e.to_string())
        })
        .await
        .clone()
    }
}

/// Steps already finished in an earlier run of the same request (from the journal).
pub type Finished = BTreeMap<CollectionId, (StepOutcome, Provided)>;

/// Everything a run needs besides the plan.
pub struct Context<'a> {
    pub v: &'a Validated,
    pub ids: &'a RequestIdentities,
    pub connectors: &'a ConnectorSet<'a>,
    pub handler: &'a dyn Handler,
    pub observer: &'a dyn Observer,
    /// Flips to true on Ctrl-C: no new step starts; running ones finish.
    pub cancel: Option<watch::Receiver<bool>>,
    /// Manual systems a person has confirmed for this request: system -> note.
    pub confirmed: Option<&'a BTreeMap<String, String>>,
}

struct Shared<'a> {
    cx: &'a Context<'a>,
}

/// Runs every step of `plan` not already in `finished`; returns one outcome per step, in plan
/// order (finished ones included as they were).
pub async fn execute(
    cx: &Context<'_>,
    plan: &Plan,
    finished: Finished,
) -> Result<Vec<StepOutcome>, String> {
    let v = cx.v;
    let shared = Shared { cx };
    let mut outcomes: BTreeMap<CollectionId, StepOutcome> = BTreeMap::new();
    let mut provided: BTreeMap<CollectionId, Provided> = BTreeMap::new();
    for (id, (outcome, values)) in finished {
        cx.observer.finished(&outcome);
        outcomes.insert(id.clone(), outcome);
        provided.insert(id, values);
    }
    let mut waiting: Vec<&Step> = plan
        .steps
        .iter()
        .filter(|s| !outcomes.contains_key(&s.id))
        .collect();
    let mut running = FuturesUnordered::new();
    let mut cancel = cx.cancel.clone();
    let mut cancelled = false;
    loop {
        let recorded_before = outcomes.len();
        let mut still_waiting = Vec::new();
        for step in waiting {
            let ups: Vec<CollectionId> = v
                .collection(&step.id)
                .map(|c| c.upstream().into_iter().collect())
                .unwrap_or_default();
            if !ups.iter().all(|u| outcomes.contains_key(u)) {
                still_waiting.push(step);
                continue;
            }
            let skip = if cancelled {
                Some(Skip::Interrupted)
            } else if let Some(reason) = &step.skip {
                Some(Skip::Plan(reason.clone()))
            } else {
                ups.iter()
                    .find(|u| blocks(&outcomes[*u]))
                    .map(|bad| Skip::Upstream(bad.to_string()))
            };
            if let Some(reason) = skip {
                let o = skipped(step, reason);
                cx.handler.record(&o, &Provided::default(), None).await?;
                cx.observer.finished(&o);
                outcomes.insert(step.id.clone(), o);
                continue;
            }
            let inputs = inputs_for(&shared, step, &provided);
            running.push(run_step(&shared, step, inputs));
        }
        waiting = still_waiting;
        let next = match cancel.as_mut() {
            Some(rx) if !cancelled => tokio::select! {
                r = running.next() => r,
                _ = rx.wait_for(|c| *c) => { cancelled = true; continue; }
            },
            _ => running.next().await,
        };
        match next {
            Some((id, outcome, values, payload)) => {
                cx.handler
                    .record(&outcome, &values, payload.as_ref())
                    .await?;
                cx.observer.finished(&outcome);
                outcomes.insert(id.clone(), outcome);
                provided.insert(id, values);
            }
            None if waiting.is_empty() => break,
            // Steps whose upstream was recorded without running (skips) become ready now.
            None if outcomes.len() > recorded_before => continue,
            None => break,
        }
    }
    Ok(plan
        .steps
        .iter()
        .filter_map(|s| outcomes.remove(&s.id))
        .collect())
}

/// Whether a finished step stops the steps that wait for it.
fn blocks(o: &StepOutcome) -> bool {
    o.status == Status::Waiting || o.unfinished()
}

fn skipped(step: &Step, reason: Skip) -> StepOutcome {
    StepOutcome {
        system: step.system.clone(),
        collection: step.collection.clone(),
        status: Status::Skipped,
        records: 0,
        attempts: 0,
        started: None,
        finished: None,
        duration_ms: 0,
        reason: Some(reason.to_string()),
    }
}

/// The conditions of a step's find, with the values each is compared with. Conditions that no
/// value reaches are left out.
fn inputs_for(
    shared: &Shared<'_>,
    step: &Step,
    provided: &BTreeMap<CollectionId, Provided>,
) -> Vec<MatchGroup> {
    let Some(spec) = shared.cx.v.collection(&step.id) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for term in &spec.terms {
        let group = match term {
            MatchTerm::Any {
                column,
                sources,
                fold_case,
            } => {
                let mut seen = std::collections::BTreeSet::new();
                let mut tuples = Vec::new();
                for source in sources {
                    let values: Vec<Value> = match source {
                        Source::Identity(kind) => shared
                            .cx
                            .ids
                            .get(kind)
                            .iter()
                            .map(|v| {
                                Value::String(if *fold_case {
                                    v.to_lowercase()
                                } else {
                                    v.clone()
                                })
                            })
                            .collect(),
                        Source::Provided { from, name } => provided
                            .get(from)
                            .map(|p| p.values(name))
                            .unwrap_or_default(),
                    };
                    for v in values {
                        if seen.insert(v.to_string()) {
                            tuples.push(vec![v]);
                        }
                    }
                }
                MatchGroup {
                    columns: vec![column.clone()],
                    tuples,
                    fold_case: *fold_case,
                }
            }
            MatchTerm::Row {
                from,
                columns,
                names,
            } => MatchGroup {
                columns: columns.clone(),
                tuples: provided
                    .get(from)
                    .map(|p| p.tuples(names))
                    .unwrap_or_default(),
                fold_case: false,
            },
        };
        if !group.tuples.is_empty() {
            out.push(group);
        }
    }
    out
}

async fn run_step(
    shared: &Shared<'_>,
    step: &Step,
    inputs: Vec<MatchGroup>,
) -> (CollectionId, StepOutcome, Provided, Option<Value>) {
    let id = step.id.clone();
    let _global = shared.cx.connectors.global.acquire().await;
    let _system = match shared.cx.connectors.per_system.get(&step.system) {
        Some(s) => Some(s.acquire().await),
        None => None,
    };
    // Waiting for a permit is not starting: a step still waiting when Ctrl-C came never starts.
    if shared.cx.cancel.as_ref().is_some_and(|c| *c.borrow()) {
        return (
            id,
            skipped(step, Skip::Interrupted),
            Provided::default(),
            None,
        );
    }
    shared.cx.observer.started(step);
    let started = jiff::Timestamp::now();
    let clock = Instant::now();
    let mut outcome = StepOutcome {
        system: step.system.clone(),
        collection: step.collection.clone(),
        status: Status::Done,
        records: 0,
        attempts: 0,
        started: Some(crate::timestamp::stamp(started)),
        finished: None,
        duration_ms: 0,
        reason: None,
    };
    let mut values = Provided::default();
    let mut payload = None;
    match attempt_all(shared, step, &inputs, &mut outcome, &mut values).await {
        Err(e @ StepError::Waiting(_)) => {
            outcome.status = Status::Waiting;
            outcome.reason = Some(e.to_string());
            outcome.records = 0;
        }
        Err(e @ StepError::Failed(_)) => {
            outcome.status = Status::Failed;
            outcome.reason = Some(e.to_string());
            outcome.records = 0;
            values.rows.clear();
        }
        Ok(p) => {
            payload = p;
            if inputs.is_empty() {
                outcome.reason = Some("no keys reached this collection".into());
            }
        }
    }
    outcome.finished = Some(crate::timestamp::now());
    outcome.duration_ms = clock.elapsed().as_millis() as u64;
    tracing::info!(system = %step.system, collection = %step.collection, status = outcome.status.name(), records = outcome.records, attempts = outcome.attempts, "step finished");
    (id, outcome, values, payload)
}

async fn attempt_all(
    shared: &Shared<'_>,
    step: &Step,
    inputs: &[MatchGroup],
    outcome: &mut StepOutcome,
    values: &mut Provided,
) -> Result<Option<Value>, StepError> {
    let cx = shared.cx;
    let (Some(system), Some(spec)) = (cx.v.systems.get(&step.system), cx.v.collection(&step.id))
    else {
        return Err(StepError::Failed("not in the playbook".into()));
    };
    if inputs.is_empty() {
        let mut sink = cx.handler.open(&step.id, &[])?;
        return Ok(sink.finish()?);
    }
    if let Some(instructions) = system.kind.instructions() {
        let mut sink = cx.handler.open(&step.id, &[])?;
        return match cx.confirmed.and_then(|c| c.get(&step.system)) {
            Some(note) => {
                outcome.reason = Some(format!("confirmed: {note}"));
                Ok(sink.finish()?)
            }
            None => Err(StepError::Waiting(instructions.to_string())),
        };
    }
    let connector = cx.connectors.get(&step.system).await?;
    let keys = if cx.handler.wants_keys() {
        connector.key_columns(spec).await?
    } else {
        Vec::new()
    };
    let mut sink = cx.handler.open(&step.id, &keys)?;
    let columns = cx.handler.columns(spec, &keys);
    let request = FindRequest {
        collection: spec,
        columns: columns.as_deref(),
        matches: inputs,
        idle_timeout: system.timeout,
    };
    loop {
        outcome.attempts += 1;
        let mut collector = ProvidesCollector::new(sink.as_mut(), &spec.provides);
        match connector.find(&request, &mut collector).await {
            Ok(n) => {
                *values = collector.into_values();
                outcome.records = n;
                return Ok(sink.finish()?);
            }
            Err(e) => {
                drop(collector);
                sink.reset()?;
                if e.is_transient() && outcome.attempts <= system.retries {
                    let wait = retry::backoff(outcome.attempts);
                    tracing::warn!(system = %step.system, collection = %step.collection, attempt = outcome.attempts, wait_ms = wait.as_millis() as u64, error = %e, "transient failure, retrying");
                    tokio::time::sleep(wait).await;
                    continue;
                }
                let tries = if outcome.attempts > 1 {
                    format!(" (after {} attempts)", outcome.attempts)
                } else {
                    String::new()
                };
                return Err(StepError::Failed(format!("{e}{tries}")));
            }
        }
    }
}
