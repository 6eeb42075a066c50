//! `dsr requests add` (a request due later) and `dsr run-due` (run what is due, then exit:
//! for cron or a Kubernetes CronJob).

use crate::cli::{Global, Subject};
use crate::error::{Exit, UsageError};
use crate::evidence::RequestOptions;
use crate::output::bundle::Bundle;
use crate::plan::{self, Action};
use crate::run::{ConnectorSet, Quiet, Status};
use crate::state::State;
use crate::state::journal::RequestArgs;
use crate::state::queue::Claimed;
use crate::state::status::JournalStatus;
use anyhow::Context as _;
use std::path::{Path, PathBuf};

/// Parses `--not-before`: a date (midnight UTC) or an RFC 3339 date-time with an offset.
fn parse_when(text: &str) -> Result<jiff::Timestamp, UsageError> {
    crate::deadline::parse_received(text)
        .map(|r| r.at)
        .map_err(|_| {
            UsageError::new(format!("--not-before: '{text}' is not a date"))
                .with_hint("write 2026-12-22 or 2026-12-22T09:00:00+01:00")
        })
}

pub async fn add(
    global: &Global,
    action: Action,
    subject: &Subject,
    sets: &[String],
    not_before: Option<&str>,
    received: Option<&str>,
) -> anyhow::Result<Exit> {
    let v = super::open_playbook(global, None)?;
    let ids = crate::identity::parse(subject.identity.as_deref(), &subject.ids, v.identities())?;
    if action == Action::Correct {
        crate::erase::rules::for_correct(&v, &crate::erase::rules::parse_assignments(sets)?)?;
    } else if !sets.is_empty() {
        return Err(UsageError::new("--set goes with correct only").into());
    }
    if action == Action::Erase {
        crate::erase::rules::for_erase(&v)?;
    }
    // The deadline runs from receipt (the moment it is queued unless --received says
    // otherwise), not from when the queue gets to it.
    let deadline = crate::evidence::deadline_for(
        &v,
        &RequestOptions {
            received: received.map(str::to_string),
            ..Default::default()
        },
    )?;
    let now = jiff::Timestamp::now();
    let when = match not_before {
        Some(t) => parse_when(t)?,
        None => now,
    };
    let warnings = crate::deadline::warnings(&deadline, now, Some(when));
    if !global.quiet {
        for w in &warnings {
            eprintln!("warning: {w}");
        }
    }
    let state_dir = super::state_dir(global)?;
    let state = State::open(&state_dir).await?;
    let key = crate::subject::load_or_create_key(&state_dir)?;
    let subject_hash = crate::subject::subject_hash(&key, &ids);
    let id = uuid::Uuid::now_v7().to_string();
    let args = RequestArgs {
        identities: ids.0.clone(),
        sets: sets.to_vec(),
        received: None,
        out: None,
    };
    crate::evidence::record_queued(&state, &subject_hash, action, &id, &deadline).await?;
    state
        .queue_add(&id, action.name(), &subject_hash, &args, received, when)
        .await?;
    if global.json {
        println!(
            "{}",
            serde_json::json!({ "request_id": id, "action": action.name(), "not_before": when.to_string(), "due": deadline.due_rfc3339(), "warnings": warnings })
        );
    } else {
        println!(
            "Queued {} request {id}, to run from {when}, due {}. `dsr run-due` runs it then; `dsr requests show {id}` shows it.",
            action.name(),
            deadline.due_rfc3339()
        );
    }
    Ok(Exit::Done)
}

/// `dsr requests queue`: what is waiting, without identities.
pub async fn list(global: &Global) -> anyhow::Result<Exit> {
    let state = State::open(&super::state_dir(global)?).await?;
    let rows = state.queue_list().await?;
    if global.json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
    } else {
        let table = rows
            .iter()
            .map(|r| {
                let subject: String = r
                    .subject
                    .rsplit(':')
                    .next()
                    .unwrap_or(&r.subject)
                    .chars()
                    .take(12)
                    .collect();
                vec![
                    r.id.clone(),
                    r.action.clone(),
                    subject,
                    r.not_before.clone(),
                    r.status.clone(),
                    r.attempts.to_string(),
                    r.last_error.clone().unwrap_or_default(),
                ]
            })
            .collect();
        println!(
            "{}",
            crate::output::tables::render(
                &[
                    "id",
                    "action",
                    "subject",
                    "not before",
                    "status",
                    "attempts",
                    "last error"
                ],
                table
            )
        );
    }
    Ok(Exit::Done)
}

/// How a queue runner behaves: `dsr run-due` stops when nothing is due, `dsr worker` polls.
pub struct Runner {
    pub lease: std::time::Duration,
    pub jobs: u16,
    /// `None`: stop when nothing is due (`run-due`); `Some`: look again after this long.
    pub poll: Option<std::time::Duration>,
    /// After SIGTERM or Ctrl-C, how long requests in hand may take before they are handed back.
    pub grace: std::time::Duration,
}

/// What one queue runner shares between its lanes.
struct Ctx<'a> {
    global: &'a Global,
    v: &'a crate::connectors::Validated,
    state: &'a State,
    connectors: &'a ConnectorSet<'a>,
    out: &'a Path,
    worker: String,
    lease: jiff::SignedDuration,
    runner: &'a Runner,
}

/// How running one claimed request ended.
enum Ran {
    Finished(anyhow::Result<(Status, Option<PathBuf>)>),
    /// The lease ran out and another worker took the request over.
    Lost,
    /// Stopping: handed back to the queue unfinished.
    HandedBack,
}

/// `dsr run-due` and `dsr worker`: claims due requests, `jobs` at a time, until none is left
/// (or, polling, until stopped).
pub async fn run_queue(
    global: &Global,
    out: Option<&Path>,
    runner: &Runner,
) -> anyhow::Result<Exit> {
    let v = super::open_playbook(global, None)?;
    let state_dir = super::state_dir(global)?;
    let state = State::open(&state_dir).await?;
    let out = out
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("dsr-requests"));
    crate::output::bundle::create_private_dir(&out)
        .with_context(|| format!("creating {}", out.display()))?;
    let worker = format!(
        "{}:{}:{}",
        std::env::var("HOSTNAME").unwrap_or_else(|_| "local".into()),
        std::process::id(),
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    );
    let lease = jiff::SignedDuration::try_from(runner.lease)
        .map_err(|_| UsageError::new("--lease is too long"))?;
    let connectors = ConnectorSet::new(&v, global.concurrency as usize);
    let (stop_tx, stop) = tokio::sync::watch::channel(false);
    let signals = tokio::spawn(stop_on_signal(stop_tx.clone()));
    let ctx = Ctx {
        global,
        v: &v,
        state: &state,
        connectors: &connectors,
        out: &out,
        worker,
        lease,
        runner,
    };
    tracing::info!(worker = %ctx.worker, shared = matches!(state.pool, crate::state::Pool::Postgres(_)), "taking requests from the queue");
    let lanes = (0..runner.jobs).map(|_| lane(&ctx, stop.clone()));
    let results = futures::future::join_all(lanes).await;
    signals.abort();
    drop(stop_tx);
    let (mut ran, mut failed) = (0, 0);
    for r in results {
        let (n, f) = r?;
        ran += n;
        failed += f;
    }
    if global.json {
        // The last line, also when nothing was due, so a cron job's log always says what ran.
        println!(
            "{}",
            serde_json::json!({ "ran": ran, "finished": ran - failed, "did_not_finish": failed })
        );
    } else if !global.quiet {
        println!("{ran} due requests run, {failed} did not finish.");
    }
    Ok(if failed > 0 {
        Exit::Partial
    } else {
        Exit::Done
    })
}

/// Sets `stop` on the first SIGTERM or Ctrl-C; a second one ends the process at once (claims
/// in hand then run out with their leases).
async fn stop_on_signal(stop: tokio::sync::watch::Sender<bool>) {
    async fn signal() {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            match signal(SignalKind::terminate()) {
                Ok(mut term) => {
                    tokio::select! {
                        _ = term.recv() => {}
                        _ = tokio::signal::ctrl_c() => {}
                    }
                }
                Err(_) => {
                    let _ = tokio::signal::ctrl_c().await;
                }
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
    signal().await;
    tracing::warn!("stopping: claiming nothing more; requests in hand finish or are handed back");
    let _ = stop.send(true);
    signal().await;
    // A second signal means now: the requests in hand are left to their leases.
    std::process::exit(crate::error::Exit::Interrupted as i32);
}

/// One lane: claims and runs one request at a time. Returns how many ran and how many did
/// not finish.
async fn lane(
    ctx: &Ctx<'_>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> anyhow::Result<(u32, u32)> {
    let (mut ran, mut failed) = (0, 0);
    while !*stop.borrow() {
        let claim = match ctx.state.clock().await {
            Ok(now) => ctx.state.queue_claim(&ctx.worker, now, ctx.lease).await,
            Err(e) => Err(e),
        };
        let claimed = match claim {
            Ok(c) => c,
            // A worker outlives a database outage: it looks again after the poll interval.
            Err(e) if ctx.runner.poll.is_some() => {
                tracing::warn!(error = %e, "cannot claim from the ledger; trying again");
                None
            }
            Err(e) => return Err(e.into()),
        };
        let Some(claimed) = claimed else {
            let Some(poll) = ctx.runner.poll else {
                break;
            };
            tokio::select! {
                _ = tokio::time::sleep(poll) => {}
                _ = stop.changed() => {}
            }
            continue;
        };
        let result = match run_claimed(ctx, &claimed, stop.clone()).await? {
            Ran::Finished(r) => r,
            Ran::Lost => {
                tracing::warn!(request = %claimed.id, "the lease ran out and another worker took the request over");
                continue;
            }
            Ran::HandedBack => {
                tracing::warn!(request = %claimed.id, "handed back unfinished; another worker resumes it");
                continue;
            }
        };
        ran += 1;
        let (done, outcome, error) = match &result {
            Ok((Status::Done, _)) => (true, "done".to_string(), None),
            Ok((status, _)) => (
                false,
                status.name().to_string(),
                Some(format!("{} systems did not finish", status.name())),
            ),
            Err(e) => (false, "failed".to_string(), Some(format!("{e:#}"))),
        };
        match ctx
            .state
            .queue_finish(&claimed.id, &ctx.worker, done, error.as_deref())
            .await
        {
            Ok(true) => {}
            Ok(false) => {
                tracing::warn!(request = %claimed.id, "the claim was taken over before the request finished here")
            }
            // The claim then runs out and another worker finds the request finished in the
            // journal.
            Err(e) if ctx.runner.poll.is_some() => {
                tracing::warn!(request = %claimed.id, error = %e, "cannot record the request as finished")
            }
            Err(e) => return Err(e.into()),
        }
        if !done {
            failed += 1;
        }
        let report = result.ok().and_then(|(_, r)| r);
        if ctx.global.json {
            println!(
                "{}",
                serde_json::json!({ "request_id": claimed.id, "action": claimed.action, "outcome": outcome, "report": report, "error": error })
            );
        } else if !ctx.global.quiet {
            println!(
                "{} {}: {outcome}{}",
                claimed.action.name(),
                claimed.id,
                error.map(|e| format!(" ({e})")).unwrap_or_default()
            );
        }
    }
    Ok((ran, failed))
}

/// Runs one claimed request, renewing its lease every third of the lease. Stops working on it
/// when the claim is lost, and hands it back when stopping takes longer than the grace time.
async fn run_claimed(
    ctx: &Ctx<'_>,
    claimed: &Claimed,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> anyhow::Result<Ran> {
    let work = process(ctx.v, ctx.state, ctx.connectors, claimed, ctx.out);
    tokio::pin!(work);
    let every = ctx.runner.lease / 3;
    let mut beat = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    beat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut deadline: Option<std::pin::Pin<Box<tokio::time::Sleep>>> =
        (*stop.borrow()).then(|| Box::pin(tokio::time::sleep(ctx.runner.grace)));
    loop {
        tokio::select! {
            r = &mut work => return Ok(Ran::Finished(r)),
            _ = beat.tick() => match ctx.state.queue_renew(&claimed.id, &ctx.worker, ctx.lease).await {
                Ok(true) => {}
                Ok(false) => return Ok(Ran::Lost),
                Err(e) => tracing::warn!(request = %claimed.id, error = %e, "could not renew the claim; trying again"),
            },
            _ = stop.changed(), if deadline.is_none() => {
                deadline = Some(Box::pin(tokio::time::sleep(ctx.runner.grace)));
            }
            _ = async {
                match deadline.as_mut() {
                    Some(d) => d.await,
                    None => std::future::pending().await,
                }
            }, if deadline.is_some() => {
                ctx.state.queue_release(&claimed.id, &ctx.worker).await?;
                return Ok(Ran::HandedBack);
            }
        }
    }
}

async fn process(
    v: &crate::connectors::Validated,
    state: &State,
    connectors: &ConnectorSet<'_>,
    c: &Claimed,
    out: &Path,
) -> anyhow::Result<(Status, Option<PathBuf>)> {
    let ids = c.args.identities();
    let options = RequestOptions {
        received: c.received.clone(),
        started: Some(jiff::Timestamp::now()),
        ..Default::default()
    };
    let dir = out.join(&c.id);
    match c.action {
        Action::Export => {
            // An earlier attempt left its bundle and journal: continue it (a manual step a
            // person confirmed since is done now). Without its journal, start again.
            let journaled = matches!(state.journal_get(&c.id).await?, Some(j) if j.status == JournalStatus::Running);
            let (bundle, resumed) = if journaled && dir.is_dir() {
                let (finished, _) = state.journal_finished(&c.id).await?;
                (
                    crate::export::reopen_bundle(&dir, &finished)?,
                    Some(finished),
                )
            } else {
                crate::export::remove_unfinished(&dir)?;
                (Bundle::create(&dir)?, None)
            };
            let done = crate::export::export_one(
                v, connectors, state, &ids, &c.id, &bundle, &options, &Quiet, resumed,
            )
            .await?;
            Ok((
                done.finished.report.outcome,
                Some(done.finished.report_path),
            ))
        }
        action => {
            let engine = crate::erase::request::Engine::new(
                v,
                action,
                &c.args.sets,
                connectors,
                Some(state),
            )?;
            let mut opened = engine
                .open(&ids, &c.args.sets, &options, Some(&c.id), None)
                .await?;
            if opened.done {
                return Ok((Status::Done, None));
            }
            let plan = plan::build(v, action, &ids);
            let read = engine
                .read(&plan, &mut opened, &ids, &Quiet, None, None)
                .await?;
            let applied = engine
                .apply(&plan, &opened, &ids, &options, &read, &dir)
                .await?;
            Ok((applied.outcome, applied.report))
        }
    }
}
