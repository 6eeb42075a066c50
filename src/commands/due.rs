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
    if let Some(r) = received {
        crate::deadline::parse_received(r)
            .map_err(|e| UsageError::new(format!("--received: {e}")))?;
    }
    let when = match not_before {
        Some(t) => parse_when(t)?,
        None => jiff::Timestamp::now(),
    };
    let state_dir = super::state_dir(global)?;
    let state = State::open(&state_dir).await?;
    let key = crate::subject::load_or_create_key(&state_dir)?;
    let subject_hash = crate::subject::subject_hash(&key, &ids);
    let id = uuid::Uuid::now_v7().to_string();
    let args = RequestArgs {
        identities: ids.0.clone(),
        sets: sets.to_vec(),
    };
    state
        .queue_add(&id, action.name(), &subject_hash, &args, received, when)
        .await?;
    if global.json {
        println!(
            "{}",
            serde_json::json!({ "request_id": id, "action": action.name(), "not_before": when.to_string() })
        );
    } else {
        println!(
            "Queued {} request {id}, due from {when}. `dsr run-due` runs it then.",
            action.name()
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

/// `dsr run-due`: claims due requests one at a time until none is left.
pub async fn run_due(global: &Global, out: Option<&Path>) -> anyhow::Result<Exit> {
    let v = super::open_playbook(global, None)?;
    let state_dir = super::state_dir(global)?;
    let state = State::open(&state_dir).await?;
    let out = out
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("dsr-requests"));
    crate::output::bundle::create_private_dir(&out)
        .with_context(|| format!("creating {}", out.display()))?;
    let worker = format!(
        "{}:{}",
        std::env::var("HOSTNAME").unwrap_or_else(|_| "local".into()),
        std::process::id()
    );
    let connectors = ConnectorSet::new(&v, global.concurrency as usize);
    let mut failed = 0;
    let mut ran = 0;
    while let Some(claimed) = state.queue_claim(&worker, jiff::Timestamp::now()).await? {
        ran += 1;
        let result = process(&v, &state, &connectors, &claimed, &out).await;
        let (done, outcome, error) = match &result {
            Ok((Status::Done, _)) => (true, "done".to_string(), None),
            Ok((status, _)) => (
                false,
                status.name().to_string(),
                Some(format!("{} systems did not finish", status.name())),
            ),
            Err(e) => (false, "failed".to_string(), Some(format!("{e:#}"))),
        };
        state
            .queue_finish(&claimed.id, &worker, done, error.as_deref())
            .await?;
        if !done {
            failed += 1;
        }
        let report = result.ok().and_then(|(_, r)| r);
        if global.json {
            println!(
                "{}",
                serde_json::json!({ "request_id": claimed.id, "action": claimed.action, "outcome": outcome, "report": report, "error": error })
            );
        } else if !global.quiet {
            println!(
                "{} {}: {outcome}{}",
                claimed.action,
                claimed.id,
                error.map(|e| format!(" ({e})")).unwrap_or_default()
            );
        }
    }
    if !global.json && !global.quiet {
        println!("{ran} due requests run, {failed} did not finish.");
    }
    Ok(if failed > 0 {
        Exit::Partial
    } else {
        Exit::Done
    })
}

async fn process(
    v: &crate::playbook::Validated,
    state: &State,
    connectors: &ConnectorSet<'_>,
    c: &Claimed,
    out: &Path,
) -> anyhow::Result<(Status, Option<PathBuf>)> {
    let ids = c.args.identities();
    let options = RequestOptions {
        received: c.received.clone(),
        ..Default::default()
    };
    let dir = out.join(&c.id);
    match c.action.as_str() {
        "export" => {
            if dir.exists() {
                std::fs::remove_dir_all(&dir)
                    .with_context(|| format!("removing the unfinished {}", dir.display()))?;
            }
            let bundle = Bundle::create(&dir)?;
            let done = super::export::export_one(
                v, connectors, state, &ids, &c.id, &bundle, &options, &Quiet,
            )
            .await?;
            Ok((
                done.finished.report.outcome,
                Some(done.finished.report_path),
            ))
        }
        action => {
            let action = if action == "erase" {
                Action::Erase
            } else {
                Action::Correct
            };
            let engine = crate::erase::request::Engine::new(
                v,
                action,
                &c.args.sets,
                connectors,
                Some(state),
            )?;
            let mut opened = engine.open(&ids, &c.args.sets, Some(&c.id), None).await?;
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
