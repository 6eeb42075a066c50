//! The executor: runs a plan's steps concurrently, each as soon as the steps it waits for are
//! finished, within a global and a per-system concurrency limit; retries transient failures
//! with backoff; never lets one system's failure stop the others.

pub mod collect;
pub mod outcome;
pub mod retry;

use crate::connectors::{self, Connector, FindRequest, RowSink, SinkError};
use crate::identity::RequestIdentities;
use crate::plan::{Plan, Step};
use crate::playbook::{CollectionId, Source, Validated};
use collect::ProvidesCollector;
use futures::StreamExt;
use futures::stream::FuturesUnordered;
pub use outcome::{Status, StepOutcome};
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::{OnceCell, Semaphore};

/// Where each step's rows go.
pub trait SinkFactory: Send + Sync {
    fn open(&self, id: &CollectionId) -> Result<Box<dyn StepSink>, SinkError>;
}

/// A row sink that is told when its step succeeded.
pub trait StepSink: RowSink {
    fn finish(&mut self) -> Result<(), SinkError>;
}

/// Hears about steps as they start and end (progress display, logs).
pub trait Observer: Send + Sync {
    fn started(&self, _step: &Step) {}
    fn finished(&self, _outcome: &StepOutcome) {}
}

/// An observer that ignores everything.
pub struct Quiet;
impl Observer for Quiet {}

pub struct Options {
    /// Calls in flight across all systems.
    pub concurrency: usize,
}

type Provided = BTreeMap<String, Vec<Value>>;

/// A system's connector, opened on first use; the error is kept so every step reports it.
type ConnectorCell = OnceCell<Result<Arc<dyn Connector>, String>>;

struct Shared<'a> {
    v: &'a Validated,
    ids: &'a RequestIdentities,
    sinks: &'a dyn SinkFactory,
    observer: &'a dyn Observer,
    global: Semaphore,
    per_system: BTreeMap<String, Semaphore>,
    connectors: BTreeMap<String, ConnectorCell>,
}

/// Runs every step of `plan`; returns one outcome per step, in plan order.
pub async fn execute(
    v: &Validated,
    plan: &Plan,
    ids: &RequestIdentities,
    options: &Options,
    sinks: &dyn SinkFactory,
    observer: &dyn Observer,
) -> Vec<StepOutcome> {
    let shared = Shared {
        v,
        ids,
        sinks,
        observer,
        global: Semaphore::new(options.concurrency.max(1)),
        per_system: v
            .systems
            .iter()
            .map(|(n, s)| (n.clone(), Semaphore::new(s.concurrency)))
            .collect(),
        connectors: v
            .systems
            .keys()
            .map(|n| (n.clone(), OnceCell::new()))
            .collect(),
    };
    let mut outcomes: BTreeMap<CollectionId, StepOutcome> = BTreeMap::new();
    let mut provided: BTreeMap<CollectionId, Provided> = BTreeMap::new();
    let mut waiting: Vec<&Step> = plan.steps.iter().collect();
    let mut running = FuturesUnordered::new();
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
            if let Some(reason) = &step.skip {
                let o = skipped(step, reason.clone());
                observer.finished(&o);
                outcomes.insert(step.id.clone(), o);
                continue;
            }
            if let Some(bad) = ups.iter().find(|u| {
                outcomes[*u].status == Status::Failed
                    || outcomes[*u].status == Status::Skipped
                        && outcomes[*u]
                            .reason
                            .as_deref()
                            .is_some_and(|r| r.starts_with("waits for"))
            }) {
                let o = skipped(step, format!("waits for {bad}, which failed"));
                observer.finished(&o);
                outcomes.insert(step.id.clone(), o);
                continue;
            }
            let inputs = inputs_for(&shared, step, &provided);
            running.push(run_step(&shared, step, inputs));
        }
        waiting = still_waiting;
        match running.next().await {
            Some((id, outcome, values)) => {
                observer.finished(&outcome);
                outcomes.insert(id.clone(), outcome);
                provided.insert(id, values);
            }
            None if waiting.is_empty() => break,
            // Steps whose upstream was recorded without running (skips) become ready now.
            None if outcomes.len() > recorded_before => continue,
            None => break,
        }
    }
    plan.steps
        .iter()
        .filter_map(|s| outcomes.remove(&s.id))
        .collect()
}

fn skipped(step: &Step, reason: String) -> StepOutcome {
    StepOutcome {
        system: step.system.clone(),
        collection: step.collection.clone(),
        status: Status::Skipped,
        records: 0,
        attempts: 0,
        started: None,
        finished: None,
        duration_ms: 0,
        reason: Some(reason),
    }
}

/// The values each match column is compared with.
fn inputs_for(
    shared: &Shared<'_>,
    step: &Step,
    provided: &BTreeMap<CollectionId, Provided>,
) -> Vec<(String, Vec<Value>)> {
    let Some(spec) = shared.v.collection(&step.id) else {
        return Vec::new();
    };
    let mut out: Vec<(String, Vec<Value>)> = Vec::new();
    for input in &spec.inputs {
        let values: Vec<Value> = match &input.source {
            Source::Identity(kind) => shared
                .ids
                .get(kind)
                .iter()
                .cloned()
                .map(Value::String)
                .collect(),
            Source::Provided { from, name } => provided
                .get(from)
                .and_then(|p| p.get(name))
                .cloned()
                .unwrap_or_default(),
        };
        if values.is_empty() {
            continue;
        }
        match out.iter_mut().find(|(c, _)| *c == input.column) {
            Some((_, existing)) => existing.extend(values),
            None => out.push((input.column.clone(), values)),
        }
    }
    out
}

async fn run_step(
    shared: &Shared<'_>,
    step: &Step,
    inputs: Vec<(String, Vec<Value>)>,
) -> (CollectionId, StepOutcome, Provided) {
    let id = step.id.clone();
    let _global = shared.global.acquire().await;
    let _system = match shared.per_system.get(&step.system) {
        Some(s) => Some(s.acquire().await),
        None => None,
    };
    shared.observer.started(step);
    let started = jiff::Timestamp::now();
    let clock = Instant::now();
    let mut outcome = StepOutcome {
        system: step.system.clone(),
        collection: step.collection.clone(),
        status: Status::Done,
        records: 0,
        attempts: 0,
        started: Some(started.to_string()),
        finished: None,
        duration_ms: 0,
        reason: None,
    };
    let mut values = Provided::new();
    let result = attempt_all(shared, step, &inputs, &mut outcome, &mut values).await;
    if let Err(reason) = result {
        outcome.status = Status::Failed;
        outcome.reason = Some(reason);
        outcome.records = 0;
        values.clear();
    } else if inputs.is_empty() {
        outcome.reason = Some("no keys reached this collection".into());
    }
    outcome.finished = Some(jiff::Timestamp::now().to_string());
    outcome.duration_ms = clock.elapsed().as_millis() as u64;
    tracing::info!(system = %step.system, collection = %step.collection, status = outcome.status.name(), records = outcome.records, attempts = outcome.attempts, "step finished");
    (id, outcome, values)
}

async fn attempt_all(
    shared: &Shared<'_>,
    step: &Step,
    inputs: &[(String, Vec<Value>)],
    outcome: &mut StepOutcome,
    values: &mut Provided,
) -> Result<(), String> {
    let (Some(system), Some(spec)) = (
        shared.v.systems.get(&step.system),
        shared.v.collection(&step.id),
    ) else {
        return Err("not in the playbook".into());
    };
    let mut sink = shared.sinks.open(&step.id).map_err(|e| e.to_string())?;
    if inputs.is_empty() {
        sink.finish().map_err(|e| e.to_string())?;
        return Ok(());
    }
    let connector = match shared.connectors.get(&step.system) {
        Some(cell) => cell
            .get_or_init(|| async {
                connectors::open(system, &shared.v.loaded.dir)
                    .await
                    .map_err(|e| e.to_string())
            })
            .await
            .clone()?,
        None => return Err("no connector".into()),
    };
    let columns = spec.columns();
    let request = FindRequest {
        collection: spec,
        table: &spec.table,
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
                sink.finish().map_err(|e| e.to_string())?;
                return Ok(());
            }
            Err(e) => {
                drop(collector);
                sink.reset().map_err(|e| e.to_string())?;
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
                return Err(format!("{e}{tries}"));
            }
        }
    }
}
