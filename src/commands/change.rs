//! `dsr erase`, `dsr correct` and `dsr resume`: one request through the change engine, with
//! the plan table, the confirmation and the summary a person at a terminal needs.

use crate::cli::Global;
use crate::erase::request::{Engine, ReadPhase};
use crate::erase::{self, SystemResult};
use crate::error::{Exit, UsageError};
use crate::evidence::RequestOptions;
use crate::identity::RequestIdentities;
use crate::output::progress::Progress;
use crate::output::tables::{self, Stream, render, render_within};
use crate::plan::{self, Action};
use crate::run;
use crate::state::State;
use crate::state::journal::JournalRequest;
use crate::state::status::JournalStatus;
use serde_json::json;
use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};

/// How a change request was asked for.
pub struct ChangeRequest<'a> {
    pub action: Action,
    /// How and when the request came in (deadline, operator); recorded in report and ledger.
    pub options: RequestOptions,
    pub ids: RequestIdentities,
    pub sets: Vec<String>,
    pub yes: bool,
    pub dry_run: bool,
    pub out: Option<&'a Path>,
    /// Set by `dsr resume`: the journaled request to continue.
    pub resume: Option<JournalRequest>,
}

fn what_changes(r: &erase::CollectionResult) -> String {
    if r.deleted > 0 {
        format!("delete {}", r.deleted)
    } else if r.masked > 0 || r.updated > 0 {
        format!("{} on {}", r.strategy, r.masked + r.updated)
    } else if r.kept > 0 {
        format!("keep {}: {}", r.kept, r.because.clone().unwrap_or_default())
    } else {
        "nothing".into()
    }
}

/// The preview table, on `stream` (stderr when the person confirming would not see stdout).
fn print_preview(read: &ReadPhase, stream: Stream) {
    let rows = read
        .preview
        .iter()
        .map(|(s, r)| {
            let change = r
                .problem
                .clone()
                .map(|p| if r.waiting { p } else { format!("FAILED: {p}") })
                .unwrap_or_else(|| what_changes(r));
            vec![
                s.clone(),
                r.collection.clone(),
                r.found.to_string(),
                r.strategy.clone(),
                change,
            ]
        })
        .collect();
    let table = render_within(
        &["system", "collection", "found", "strategy", "will change"],
        rows,
        tables::width(stream),
    );
    match stream {
        Stream::Stdout => println!("{table}"),
        Stream::Stderr => eprintln!("{table}"),
    }
}

pub async fn run(global: &Global, req: ChangeRequest<'_>) -> anyhow::Result<Exit> {
    let v = super::open_playbook(global, None)?;
    let action = req.action;
    let verb = action.name();
    if !req.dry_run && !req.yes && !std::io::stdin().is_terminal() {
        return Err(UsageError::new(format!(
            "refusing to {verb} without confirmation: there is no terminal to ask on"
        ))
        .with_hint(format!(
            "check with --dry-run first, then pass --yes to {verb} without a prompt"
        ))
        .into());
    }
    let deadline = crate::evidence::deadline_for(&v, &req.options)?;
    let warnings = crate::deadline::warnings(&deadline, jiff::Timestamp::now(), None);
    if !global.quiet {
        for w in &warnings {
            eprintln!("warning: {w}");
        }
    }
    let plan = plan::build(&v, action, &req.ids);
    let state = if req.dry_run {
        None
    } else {
        Some(State::open(&super::state_dir(global)?).await?)
    };
    let connectors = run::ConnectorSet::new(&v, global.concurrency as usize);
    let engine = Engine::new(&v, action, &req.sets, &connectors, state.as_ref())?;
    engine.refuse_unfit_masks().await?;
    let resuming = req.resume.is_some();
    // A report that could not be written after the change would leave no evidence of it: a
    // directory given with --out is made before anything is read or journaled.
    if !req.dry_run
        && let Some(out) = req.out
    {
        erase::request::report_dir(out)?;
    }
    let mut opened = engine
        .open(&req.ids, &req.sets, &req.options, None, req.resume)
        .await?;
    if opened.resumed || resuming {
        eprintln!("Resuming request {} where it stopped.", opened.id);
    }
    let request_id = opened.id.clone();
    let dir = req
        .out
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from(format!("dsr-{verb}-{request_id}")));
    // The default directory is named after the request; a new request that cannot have one
    // ends here, with nothing read.
    if !req.dry_run
        && req.out.is_none()
        && let Err(e) = erase::request::report_dir(&dir)
    {
        if !opened.resumed {
            engine.cancel(&opened).await?;
        }
        return Err(e.into());
    }

    let (cancel_tx, cancel_rx) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            let _ = cancel_tx.send(true);
        }
    });
    if !global.json && !global.quiet {
        println!(
            "Request {request_id}: {verb} for {}",
            req.ids.kinds().join(", ")
        );
    }
    let before = (action == Action::Correct).then(erase::Before::default);
    let progress = Progress::new(&plan, !global.no_progress && !global.quiet && !global.json);
    let read = engine
        .read(
            &plan,
            &mut opened,
            &req.ids,
            &progress,
            Some(cancel_rx.clone()),
            before.clone(),
        )
        .await?;
    progress.clear();
    let total = read.changes();
    let asking = !req.yes && !req.dry_run && total > 0;
    if asking && (global.json || !std::io::stdout().is_terminal()) {
        // stdout goes to a file or a program, the question to the terminal: the table of
        // what is about to change goes with the question, so the person answering sees it.
        print_preview(&read, Stream::Stderr);
    } else if !global.json && !global.quiet {
        print_preview(&read, Stream::Stdout);
    }
    if let Some(before) = &before
        && std::io::stderr().is_terminal()
        && !global.json
    {
        for line in erase::request::before_after(&engine.rules, before) {
            eprintln!("  {line}");
        }
    }
    if *cancel_rx.borrow() {
        return interrupted(&request_id);
    }
    if req.dry_run {
        if global.json {
            let collections: Vec<_> = read
                .preview
                .iter()
                .map(|(s, r)| json!({"system": s, "result": r}))
                .collect();
            println!(
                "{}",
                json!({ "dry_run": true, "action": verb, "changes": total, "collections": collections, "read": read.outcomes })
            );
        } else {
            println!("Dry run: {total} records would change; nothing was changed.");
        }
        return Ok(if read.failed {
            Exit::Partial
        } else {
            Exit::Done
        });
    }
    if asking {
        eprint!(
            "{} {total} records? This cannot be undone. Type '{verb}' to go ahead: ",
            capitalise(verb)
        );
        let _ = std::io::stderr().flush();
        let answer = tokio::select! {
            a = read_answer() => Some(a),
            _ = interrupt(cancel_rx.clone()) => None,
        };
        if answer.as_deref().map(str::trim) != Some(verb) {
            engine.cancel(&opened).await?;
            // The report's directory was made in case: it stays only if it holds something.
            let _ = std::fs::remove_dir(&dir);
            if answer.is_none() {
                // Ctrl-C ends the prompt's line; the message starts a new one.
                eprintln!();
            }
            eprintln!("Nothing was changed.");
            return Ok(if answer.is_none() {
                Exit::Interrupted
            } else {
                Exit::BadInput
            });
        }
    }
    if *cancel_rx.borrow() {
        return interrupted(&request_id);
    }
    let applied = engine
        .apply(&plan, &opened, &req.ids, &req.options, &read, &dir)
        .await?;
    let report = applied
        .report
        .clone()
        .unwrap_or_else(|| dir.join("report.json"));
    if global.json {
        println!(
            "{}",
            json!({ "request_id": request_id, "action": verb, "outcome": applied.outcome, "report": report, "systems": applied.results, "read": read.outcomes, "warnings": warnings })
        );
    } else {
        print_summary(&applied.results);
        println!("Report: {}", report.display());
        for s in applied
            .results
            .iter()
            .filter(|s| s.status == crate::run::Status::Waiting)
        {
            let what = s.error.clone().unwrap_or_default();
            println!(
                "{}: {what}. When it is done: dsr requests confirm {request_id} {} --note \"…\", then dsr resume {request_id}",
                s.system, s.system
            );
        }
        if let Some(e) = &applied.evidence_error {
            eprintln!("error: the systems above were changed, but {e}");
        }
        if !applied.ok {
            println!(
                "Some systems did not finish. Run the same command again, or `dsr resume {request_id}`, to continue where it stopped."
            );
        }
    }
    Ok(if applied.ok {
        Exit::Done
    } else {
        Exit::Partial
    })
}

/// One line from stdin, read on a thread of its own: a read blocked on the terminal cannot be
/// cancelled, and Ctrl-C must not wait for Enter. The thread is left behind on Ctrl-C and ends
/// with the process (a runtime's blocking pool would keep the process waiting for it).
async fn read_answer() -> String {
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::spawn(move || {
        let mut answer = String::new();
        let _ = std::io::stdin().lock().read_line(&mut answer);
        let _ = tx.send(answer);
    });
    rx.await.unwrap_or_default()
}

/// Resolves once Ctrl-C has been pressed (the request's handler sets the flag).
async fn interrupt(mut cancel: tokio::sync::watch::Receiver<bool>) {
    if cancel.wait_for(|&c| c).await.is_err() {
        std::future::pending::<()>().await;
    }
}

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().collect::<String>() + c.as_str())
        .unwrap_or_default()
}

fn interrupted(id: &str) -> anyhow::Result<Exit> {
    eprintln!("Interrupted; nothing more was started. Resume with: dsr resume {id}");
    Ok(Exit::Interrupted)
}

fn print_summary(results: &[SystemResult]) {
    let mut rows = Vec::new();
    for s in results {
        for c in &s.collections {
            let verified = match c.verified {
                Some(true) => "yes",
                Some(false) => "NO",
                None => "—",
            };
            let outcome = match (&c.problem, &s.error) {
                (Some(p), _) if c.waiting => p.clone(),
                (Some(p), _) => format!("failed: {p}"),
                (None, Some(e)) => format!("{}: {e}", s.status.name()),
                (None, None) => s.status.name().to_string(),
            };
            rows.push(vec![
                s.system.clone(),
                c.collection.clone(),
                c.found.to_string(),
                what_changes(c),
                verified.into(),
                outcome,
            ]);
        }
    }
    println!(
        "{}",
        render(
            &[
                "system",
                "collection",
                "found",
                "changed",
                "verified",
                "outcome"
            ],
            rows
        )
    );
}

/// `dsr erase` / `dsr correct` from the command line.
pub async fn start(
    global: &Global,
    action: Action,
    subject: &crate::cli::Subject,
    sets: &[String],
    opts: &crate::cli::ChangeOptions,
    request: &crate::cli::RequestArgs,
) -> anyhow::Result<Exit> {
    let v = super::open_playbook(global, None)?;
    let ids = crate::identity::parse(subject.identity.as_deref(), &subject.ids, v.identities())?;
    drop(v);
    let req = ChangeRequest {
        action,
        options: RequestOptions::from(request),
        ids,
        sets: sets.to_vec(),
        yes: opts.yes,
        dry_run: opts.dry_run,
        out: opts.out.as_deref(),
        resume: None,
    };
    run(global, req).await
}

/// `dsr resume ID`: continue a journaled request.
pub async fn resume(global: &Global, id: &str, yes: bool) -> anyhow::Result<Exit> {
    let state = State::open(&super::state_dir(global)?).await?;
    let Some(r) = state.journal_get(id).await? else {
        return Err(UsageError::new(format!("no request {id} in the journal"))
            .with_hint("dsr keeps requests in its state directory; check --state-dir")
            .into());
    };
    if r.status != JournalStatus::Running {
        return Err(UsageError::new(format!(
            "request {id} is {}; there is nothing to resume",
            r.status
        ))
        .into());
    }
    let Some(args) = r.args.clone() else {
        return Err(UsageError::new(format!("request {id} has no stored arguments")).into());
    };
    let action = match r.action.as_str() {
        "erase" => Action::Erase,
        "correct" => Action::Correct,
        "export" => {
            drop(state);
            return super::export::resume(global, r).await;
        }
        other => {
            return Err(UsageError::new(format!(
                "request {id} is an {other}; only export, erase and correct resume"
            ))
            .into());
        }
    };
    drop(state);
    let req = ChangeRequest {
        action,
        options: RequestOptions::default(),
        ids: args.identities(),
        sets: args.sets.clone(),
        yes,
        dry_run: false,
        out: None,
        resume: Some(r),
    };
    run(global, req).await
}
