//! `dsr batch export|erase FILE.csv`: many subjects at once, sharing one set of connectors (so
//! the concurrency and per-system limits hold across the whole batch), one signed report per
//! subject and a signed summary. Each row's request id is stable, so a rerun skips what is
//! done and continues what failed.

use crate::batch::{self, BadRow, BatchAction, Subject};
use crate::cli::Global;
use crate::connectors::Validated;
use crate::erase::request::Engine;
use crate::error::{Exit, UsageError};
use crate::evidence::RequestOptions;
use crate::output::bundle::{self, Bundle};
use crate::plan::{self, Action};
use crate::run::{ConnectorSet, Quiet, Status};
use crate::state::State;
use anyhow::Context as _;
use futures::StreamExt;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::Serialize;
use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};

pub struct Options<'a> {
    pub yes: bool,
    pub strict: bool,
    pub out: Option<&'a Path>,
}

/// One subject's result, as a JSON line and in the summary.
#[derive(Debug, Clone, Serialize)]
pub struct SubjectOutcome {
    pub line: usize,
    pub request_id: String,
    /// `done`, `partial`, `failed`, `waiting`, or `skipped` (already done by an earlier run).
    pub outcome: Status,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub report: Option<PathBuf>,
    /// system -> outcome
    pub systems: BTreeMap<String, Status>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Debug, Serialize)]
struct Summary<'a> {
    format: &'static str,
    action: &'static str,
    file: String,
    playbook_sha256: &'a str,
    completed: String,
    subjects: usize,
    bad_rows: Vec<BadRowOut>,
    /// outcome -> subjects
    outcomes: BTreeMap<String, usize>,
    /// system -> outcome -> subjects
    systems: BTreeMap<String, BTreeMap<String, usize>>,
    /// Written by [`summary_json`] one result at a time.
    #[serde(skip)]
    results: Vec<SubjectOutcome>,
}

/// The summary's canonical JSON (sorted keys, no whitespace), made one result at a time: the
/// same bytes as canonicalizing the whole summary, without holding a JSON tree of every
/// subject's result at once (several KB each, which grew a batch's memory with its size).
fn summary_json(summary: &Summary<'_>) -> Result<Vec<u8>, serde_json::Error> {
    use crate::output::report::canonical_json;
    let serde_json::Value::Object(head) = serde_json::to_value(summary)? else {
        return Err(serde::ser::Error::custom("the summary is not an object"));
    };
    let mut fields: Vec<(String, Option<serde_json::Value>)> =
        head.into_iter().map(|(k, v)| (k, Some(v))).collect();
    fields.push(("results".into(), None));
    fields.sort_by(|a, b| a.0.cmp(&b.0));
    let mut out = vec![b'{'];
    for (i, (key, value)) in fields.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        serde_json::to_writer(&mut out, key)?;
        out.push(b':');
        match value {
            Some(v) => out.extend(canonical_json(v)?),
            None => {
                out.push(b'[');
                for (j, r) in summary.results.iter().enumerate() {
                    if j > 0 {
                        out.push(b',');
                    }
                    out.extend(canonical_json(r)?);
                }
                out.push(b']');
            }
        }
    }
    out.push(b'}');
    Ok(out)
}

#[derive(Debug, Serialize)]
struct BadRowOut {
    line: usize,
    message: String,
}

struct Shared<'a> {
    v: &'a Validated,
    action: Action,
    state: &'a State,
    connectors: &'a ConnectorSet<'a>,
    engine: Option<Engine<'a>>,
    out: PathBuf,
    subject_key: [u8; 32],
}

pub async fn run(
    global: &Global,
    action: BatchAction,
    file: &Path,
    opts: &Options<'_>,
) -> anyhow::Result<Exit> {
    let v = super::open_playbook(global, None)?;
    let (subjects, bad) = batch::read(file, v.identities())?;
    for b in &bad {
        eprintln!("{}:{}: {}", file.display(), b.line, b.message);
    }
    if opts.strict && !bad.is_empty() {
        return Err(UsageError::new(format!(
            "{} bad rows; nothing was run (--strict)",
            bad.len()
        ))
        .into());
    }
    let action = action.action();
    if action == Action::Erase && !opts.yes {
        return Err(UsageError::new(
            "a batch erase needs --yes: it runs without asking for each person",
        )
        .with_hint("check single subjects with `dsr erase IDENTITY --dry-run` first")
        .into());
    }
    let state_dir = super::state_dir(global)?;
    let state = State::open(&state_dir).await?;
    let stem = file
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "batch".into());
    let out = opts
        .out
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from(format!("dsr-batch-{stem}")));
    bundle::create_private_dir(&out).with_context(|| format!("creating {}", out.display()))?;
    let connectors = ConnectorSet::new(&v, global.concurrency as usize);
    let engine = match action {
        Action::Erase => Some(Engine::new(&v, action, &[], &connectors, Some(&state))?),
        _ => None,
    };
    if let Some(engine) = &engine {
        engine.refuse_unfit_masks().await?;
    }
    let shared = Shared {
        v: &v,
        action,
        state: &state,
        connectors: &connectors,
        engine,
        out: out.clone(),
        subject_key: crate::subject::load_or_create_key(&state_dir)?,
    };

    let bar = ProgressBar::new(subjects.len() as u64);
    if global.no_progress || global.quiet || global.json || !std::io::stderr().is_terminal() {
        bar.set_draw_target(ProgressDrawTarget::hidden());
    }
    if let Ok(style) =
        ProgressStyle::with_template("{bar:30} {pos}/{len} subjects, {eta} left {msg}")
    {
        bar.set_style(style);
    }
    let mut results = Vec::new();
    let mut running = futures::stream::iter(subjects.iter().map(|s| one(&shared, s)))
        .buffer_unordered(global.concurrency.max(1) as usize);
    let mut failed = 0;
    while let Some(r) = running.next().await {
        if matches!(r.outcome, Status::Failed | Status::Partial) {
            failed += 1;
        }
        bar.set_message(format!("{failed} failed"));
        bar.inc(1);
        if global.json {
            println!("{}", serde_json::to_string(&r)?);
        }
        results.push(r);
    }
    bar.finish_and_clear();
    results.sort_by_key(|r| r.line);

    let summary = summarise(&shared, file, &bad, results);
    let json = summary_json(&summary)?;
    bundle::write_file(&out, "summary.json", &json).context("writing summary.json")?;
    let (key, _) = crate::signing::load_or_create(&state_dir)?;
    let sig = crate::signing::sign(&key, &json)?;
    bundle::write_file(&out, "summary.json.sig", sig.as_bytes())
        .context("writing summary.json.sig")?;

    let failed: Vec<&SubjectOutcome> = summary
        .results
        .iter()
        .filter(|r| matches!(r.outcome, Status::Failed | Status::Partial))
        .collect();
    if global.json {
        println!(
            "{}",
            serde_json::json!({ "summary": out.join("summary.json"), "outcomes": summary.outcomes, "bad_rows": bad.len() })
        );
    } else if !global.quiet {
        let counts: Vec<String> = summary
            .outcomes
            .iter()
            .map(|(k, n)| format!("{n} {k}"))
            .collect();
        println!(
            "{} subjects: {}; {} bad rows. Summary: {}",
            summary.subjects,
            counts.join(", "),
            bad.len(),
            out.join("summary.json").display()
        );
        for f in &failed {
            println!(
                "  {}:{}: {} ({})",
                file.display(),
                f.line,
                f.outcome.name(),
                f.error.clone().unwrap_or_else(|| describe(&f.systems))
            );
        }
    }
    Ok(if !bad.is_empty() {
        Exit::BadInput
    } else if !failed.is_empty() {
        Exit::Partial
    } else {
        Exit::Done
    })
}

fn describe(systems: &BTreeMap<String, Status>) -> String {
    systems
        .iter()
        .filter(|(_, o)| !matches!(o, Status::Done | Status::Skipped))
        .map(|(s, o)| format!("{s} {}", o.name()))
        .collect::<Vec<_>>()
        .join(", ")
}

fn summarise<'a>(
    shared: &Shared<'a>,
    file: &Path,
    bad: &[BadRow],
    results: Vec<SubjectOutcome>,
) -> Summary<'a> {
    let mut outcomes: BTreeMap<String, usize> = BTreeMap::new();
    let mut systems: BTreeMap<String, BTreeMap<String, usize>> = BTreeMap::new();
    for r in &results {
        *outcomes.entry(r.outcome.name().to_string()).or_default() += 1;
        for (s, o) in &r.systems {
            *systems
                .entry(s.clone())
                .or_default()
                .entry(o.name().to_string())
                .or_default() += 1;
        }
    }
    Summary {
        format: "dsr-batch-summary/1",
        action: shared.action.name(),
        file: file.display().to_string(),
        playbook_sha256: &shared.v.loaded.sha256,
        completed: crate::timestamp::now(),
        subjects: results.len(),
        bad_rows: bad
            .iter()
            .map(|b| BadRowOut {
                line: b.line,
                message: b.message.clone(),
            })
            .collect(),
        outcomes,
        systems,
        results,
    }
}

/// One subject, start to signed report; every failure becomes its outcome, never the batch's.
async fn one(shared: &Shared<'_>, s: &Subject) -> SubjectOutcome {
    let hash = crate::subject::subject_hash(&shared.subject_key, &s.ids);
    let id = s.request_id.clone().unwrap_or_else(|| {
        batch::derived_request_id(shared.action.name(), &hash, s.received.as_deref())
    });
    let mut out = SubjectOutcome {
        line: s.line,
        request_id: id.clone(),
        outcome: Status::Failed,
        report: None,
        systems: BTreeMap::new(),
        error: None,
    };
    let result = match shared.action {
        Action::Export => export(shared, s, &id, &mut out).await,
        _ => erase(shared, s, &id, &mut out).await,
    };
    if let Err(e) = result {
        out.outcome = Status::Failed;
        out.error = Some(format!("{e:#}"));
    }
    out
}

fn options(s: &Subject) -> RequestOptions {
    RequestOptions {
        received: s.received.clone(),
        started: Some(jiff::Timestamp::now()),
        ..Default::default()
    }
}

async fn export(
    shared: &Shared<'_>,
    s: &Subject,
    id: &str,
    out: &mut SubjectOutcome,
) -> anyhow::Result<()> {
    // Done, or closed by hand: either way it is not run again.
    if let Some(row) = shared.state.ledger_get(id).await?
        && matches!(row.status.as_str(), "done" | crate::state::ledger::CLOSED)
    {
        out.outcome = Status::Skipped;
        out.report = row.report_path.map(PathBuf::from);
        return Ok(());
    }
    let dir = shared.out.join(id);
    // An earlier attempt that did not finish left a partial bundle: start it again.
    crate::export::remove_unfinished(&dir)?;
    let bundle = Bundle::create(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let done = crate::export::export_one(
        shared.v,
        shared.connectors,
        shared.state,
        &s.ids,
        id,
        &bundle,
        &options(s),
        &Quiet,
        None,
    )
    .await?;
    let report = &done.finished.report;
    out.outcome = report.outcome;
    out.report = Some(done.finished.report_path.clone());
    out.systems = report
        .systems
        .iter()
        .map(|sys| (sys.name.clone(), sys.status))
        .collect();
    Ok(())
}

async fn erase(
    shared: &Shared<'_>,
    s: &Subject,
    id: &str,
    out: &mut SubjectOutcome,
) -> anyhow::Result<()> {
    let Some(engine) = &shared.engine else {
        return Err(anyhow::anyhow!("no engine"));
    };
    let options = options(s);
    let mut opened = engine.open(&s.ids, &[], &options, Some(id), None).await?;
    if opened.done {
        out.outcome = Status::Skipped;
        return Ok(());
    }
    let plan = plan::build(shared.v, shared.action, &s.ids);
    let read = engine
        .read(&plan, &mut opened, &s.ids, &Quiet, None, None)
        .await?;
    let applied = engine
        .apply(
            &plan,
            &opened,
            &s.ids,
            &options,
            &read,
            &shared.out.join(id),
        )
        .await?;
    out.outcome = applied.outcome;
    out.report = applied.report;
    out.systems = applied
        .results
        .iter()
        .map(|r| (r.system.clone(), r.status))
        .collect();
    if applied.outcome == Status::Done {
        out.error = None;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_summary_is_canonical_json_with_every_result() {
        let result = |line: usize, outcome: Status| SubjectOutcome {
            line,
            request_id: format!("id-{line}"),
            outcome,
            report: Some(PathBuf::from(format!("out/{line}/report.json"))),
            systems: BTreeMap::from([("b".into(), Status::Done), ("a".into(), outcome)]),
            error: (outcome == Status::Failed).then(|| "it \"broke\"".into()),
        };
        let summary = Summary {
            format: "dsr-batch-summary/1",
            action: "erase",
            file: "people.csv".into(),
            playbook_sha256: "abc",
            completed: "2026-11-23T12:00:00Z".into(),
            subjects: 2,
            bad_rows: vec![BadRowOut {
                line: 4,
                message: "no email".into(),
            }],
            outcomes: BTreeMap::from([("done".into(), 1), ("failed".into(), 1)]),
            systems: BTreeMap::new(),
            results: vec![result(2, Status::Done), result(3, Status::Failed)],
        };
        let json = summary_json(&summary).unwrap();
        let mut whole = serde_json::to_value(&summary).unwrap();
        whole["results"] = serde_json::to_value(&summary.results).unwrap();
        assert_eq!(
            String::from_utf8(json).unwrap(),
            String::from_utf8(crate::output::report::canonical_json(&whole).unwrap()).unwrap()
        );
    }
}
