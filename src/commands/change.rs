//! `dsr erase`, `dsr correct` and `dsr resume`: the two-phase change flow with its plan,
//! confirmation, journal, write phase, verification and report.

use crate::cli::Global;
use crate::erase::{self, ReadHandler, Rule, SystemResult, rules};
use crate::error::{Exit, UsageError};
use crate::identity::RequestIdentities;
use crate::output::bundle;
use crate::output::progress::Progress;
use crate::plan::{self, Action};
use crate::playbook::{CollectionId, Validated, interpolate};
use crate::run::{self, Status};
use crate::state::journal::{JournalRequest, RequestArgs};
use crate::state::{self, State};
use anyhow::Context as _;
use serde_json::json;
use std::collections::BTreeMap;
use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};
use tabled::builder::Builder;
use tabled::settings::Style;

/// How a change request was asked for.
pub struct ChangeRequest<'a> {
    pub action: Action,
    /// How and when the request came in (deadline, operator); recorded in report and ledger.
    pub options: crate::evidence::RequestOptions,
    pub ids: RequestIdentities,
    pub sets: Vec<String>,
    pub yes: bool,
    pub dry_run: bool,
    pub out: Option<&'a Path>,
    /// Set by `dsr resume`: the journaled request to continue.
    pub resume: Option<JournalRequest>,
}

fn rules_for(
    v: &Validated,
    action: Action,
    sets: &[String],
) -> Result<BTreeMap<CollectionId, Rule>, UsageError> {
    match action {
        Action::Erase => rules::for_erase(v),
        Action::Correct => rules::for_correct(v, &rules::parse_assignments(sets)?),
        Action::Export => Err(UsageError::new("export does not change data")),
    }
}

fn hash_key(v: &Validated) -> anyhow::Result<Option<Vec<u8>>> {
    match &v.loaded.playbook.hash_key {
        None => Ok(None),
        Some(t) => {
            let secret = interpolate::resolve(t, &v.loaded.dir)
                .map_err(|e| UsageError::new(format!("hash_key: {e}")))?;
            Ok(Some(secret.expose().as_bytes().to_vec()))
        }
    }
}

fn render(header: &[&str], rows: Vec<Vec<String>>) -> String {
    let mut b = Builder::default();
    b.push_record(header.iter().map(|h| h.to_string()));
    for r in rows {
        b.push_record(r);
    }
    let mut t = b.build();
    t.with(Style::sharp());
    t.to_string()
}

fn what_changes(r: &erase::CollectionResult) -> String {
    if r.deleted > 0 {
        format!("delete {}", r.deleted)
    } else if r.masked > 0 {
        format!("{} on {}", r.strategy, r.masked)
    } else if r.updated > 0 {
        format!("{} on {}", r.strategy, r.updated)
    } else if r.kept > 0 {
        format!("keep {}: {}", r.kept, r.because.clone().unwrap_or_default())
    } else {
        "nothing".into()
    }
}

pub async fn run(global: &Global, req: ChangeRequest<'_>) -> anyhow::Result<Exit> {
    let v = super::open_playbook(global, None)?;
    let action = req.action;
    let verb = action.name();
    let rules = rules_for(&v, action, &req.sets)?;
    let interactive = std::io::stdin().is_terminal();
    if !req.dry_run && !req.yes && !interactive {
        return Err(UsageError::new(format!(
            "refusing to {verb} without confirmation: there is no terminal to ask on"
        ))
        .with_hint(format!(
            "check with --dry-run first, then pass --yes to {verb} without a prompt"
        ))
        .into());
    }
    let hash_key = hash_key(&v)?;
    crate::evidence::deadline_for(&v, &req.options)?;
    let plan = plan::build(&v, action, &req.ids);

    let state = if req.dry_run {
        None
    } else {
        Some(State::open(&state::state_dir(global.state_dir.as_deref())?).await?)
    };
    let mut finished = run::Finished::new();
    let mut journaled = BTreeMap::new();
    let mut request_id = uuid::Uuid::now_v7().to_string();
    let mut resumed = false;
    if let Some(state) = &state {
        let key = crate::subject::load_or_create_key(&state.dir)?;
        let subject = crate::subject::subject_hash(&key, &req.ids);
        let existing = match req.resume.clone() {
            Some(r) => Some(r),
            None => {
                state
                    .journal_open_for(verb, &subject, &v.loaded.sha256)
                    .await?
            }
        };
        match existing {
            Some(r) => {
                if r.playbook_sha256 != v.loaded.sha256 {
                    return Err(UsageError::new(format!("request {} was started with another version of the playbook", r.id))
                        .with_hint("resume it with the playbook it started with; a changed playbook could reach other records")
                        .into());
                }
                eprintln!("Resuming request {} where it stopped.", r.id);
                request_id = r.id;
                resumed = true;
                (finished, journaled) = state.journal_finished(&request_id).await?;
            }
            None => {
                let args = RequestArgs {
                    identities: req.ids.0.clone(),
                    sets: req.sets.clone(),
                };
                state
                    .journal_create(&request_id, verb, &subject, &v.loaded.sha256, &args)
                    .await?;
            }
        }
    }
    let journal = state.as_ref().map(|s| (s, request_id.as_str()));

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
    let mut handler = ReadHandler::new(&rules, hash_key, journal);
    let before = erase::Before::default();
    if action == Action::Correct {
        handler.before = Some(before.clone());
    }
    if let Ok(mut p) = handler.planned.lock() {
        p.extend(journaled);
    }
    let progress = Progress::new(&plan, !global.no_progress && !global.quiet && !global.json);
    let connectors = run::ConnectorSet::new(&v, global.concurrency as usize);
    let cx = run::Context {
        v: &v,
        ids: &req.ids,
        connectors: &connectors,
        handler: &handler,
        observer: &progress,
        cancel: Some(cancel_rx.clone()),
    };
    let read = run::execute(&cx, &plan, finished)
        .await
        .map_err(anyhow::Error::msg)?;
    progress.clear();
    let planned = handler.planned();
    let preview = erase::preview(&v, &plan, &rules, &planned, &read);
    let read_failed = read.iter().any(|o| o.status == Status::Failed);

    if !global.json && !global.quiet {
        let rows = preview
            .iter()
            .map(|(s, r)| {
                vec![
                    s.clone(),
                    r.collection.clone(),
                    r.found.to_string(),
                    r.strategy.clone(),
                    r.problem
                        .clone()
                        .map(|p| format!("FAILED: {p}"))
                        .unwrap_or_else(|| what_changes(r)),
                ]
            })
            .collect();
        println!(
            "{}",
            render(
                &["system", "collection", "found", "strategy", "will change"],
                rows
            )
        );
    }
    if action == Action::Correct && std::io::stderr().is_terminal() && !global.json {
        show_before_after(&rules, &before);
    }
    if *cancel_rx.borrow() {
        return interrupted(&request_id);
    }
    let total: u64 = preview
        .iter()
        .map(|(_, r)| r.deleted + r.masked + r.updated)
        .sum();
    if req.dry_run {
        if global.json {
            let collections: Vec<_> = preview
                .iter()
                .map(|(s, r)| json!({"system": s, "result": r}))
                .collect();
            println!(
                "{}",
                json!({ "dry_run": true, "action": verb, "changes": total, "collections": collections, "read": read })
            );
        } else {
            println!("Dry run: {total} records would change; nothing was changed.");
        }
        return Ok(if read_failed {
            Exit::Partial
        } else {
            Exit::Done
        });
    }
    if !req.yes && total > 0 {
        let word = verb;
        eprint!(
            "{} {total} records? This cannot be undone. Type '{word}' to go ahead: ",
            capitalise(verb)
        );
        let _ = std::io::stderr().flush();
        let mut answer = String::new();
        let _ = std::io::stdin().lock().read_line(&mut answer);
        if answer.trim() != word {
            if let Some((s, id)) = journal {
                s.journal_finish(id, "cancelled").await?;
            }
            eprintln!("Nothing was changed.");
            return Ok(Exit::BadInput);
        }
    }
    if *cancel_rx.borrow() {
        return interrupted(&request_id);
    }

    // The request enters the ledger (or is picked up again) when its writes begin.
    let evidence = match &state {
        Some(state) => {
            let begun = crate::evidence::resume(
                &state.dir,
                &req.ids,
                action,
                &request_id,
                &v,
                &req.options,
            )
            .await?;
            if let Some(dir) = &begun.key_created {
                eprintln!("note: created a signing key in {}", dir.display());
            }
            Some(begun)
        }
        None => None,
    };
    let results = erase::write_and_verify(erase::WritePhase {
        v: &v,
        plan: &plan,
        connectors: &connectors,
        rules: &rules,
        planned: &planned,
        read: &read,
        journal,
        resumed,
    })
    .await;
    let ok = results.iter().all(|r| r.status != Status::Failed) && !read_failed;
    let outcome = if ok {
        Status::Done
    } else if results.iter().any(|r| r.status == Status::Done) {
        Status::Partial
    } else {
        Status::Failed
    };

    let dir = req
        .out
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from(format!("dsr-{verb}-{request_id}")));
    let report_path = match &evidence {
        Some(begun) => {
            let bundle = bundle::Bundle::for_report(&dir)
                .with_context(|| format!("creating {}", dir.display()))?;
            let changes = report_changes(&results);
            begun
                .request
                .finish(&v, &read, &changes, &bundle)
                .await
                .context("writing the signed report")?
                .report_path
        }
        None => dir.join("report.json"),
    };
    if let Some((s, id)) = journal
        && ok
    {
        s.journal_finish(id, "done").await?;
    }

    if global.json {
        println!(
            "{}",
            json!({ "request_id": request_id, "action": verb, "outcome": outcome, "report": report_path, "systems": results, "read": read })
        );
    } else {
        print_summary(&results);
        println!("Report: {}", report_path.display());
        if !ok {
            println!(
                "Some systems did not finish. Run the same command again, or `dsr resume {request_id}`, to continue where it stopped."
            );
        }
    }
    Ok(if ok { Exit::Done } else { Exit::Partial })
}

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().collect::<String>() + c.as_str())
        .unwrap_or_default()
}

fn interrupted(id: &str) -> anyhow::Result<Exit> {
    eprintln!("Interrupted; nothing more was started. Resume with: dsr resume {id}");
    std::process::exit(130);
}

/// Current and new values, for the operator at a terminal only: never logged or reported.
fn show_before_after(rules: &BTreeMap<CollectionId, Rule>, before: &erase::Before) {
    let Ok(before) = before.lock() else { return };
    for (id, rows) in before.iter() {
        let Some(Rule::Set(fields)) = rules.get(id) else {
            continue;
        };
        for row in rows {
            for (col, new) in fields {
                let old = row
                    .get(col)
                    .map(crate::connectors::sql::value_text)
                    .unwrap_or_default();
                eprintln!(
                    "  {id}.{col}: {old} → {}",
                    crate::connectors::sql::value_text(new)
                );
            }
        }
    }
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

/// What the write phase did per collection, for the signed report.
fn report_changes(
    results: &[SystemResult],
) -> BTreeMap<CollectionId, crate::output::report::Changes> {
    let mut out = BTreeMap::new();
    for s in results {
        for c in &s.collections {
            let changed = c.deleted + c.masked + c.updated > 0;
            let error = c
                .problem
                .clone()
                .or_else(|| if changed { s.error.clone() } else { None });
            let some = |n: u64| (n > 0).then_some(n);
            out.insert(
                CollectionId {
                    system: s.system.clone(),
                    collection: c.collection.clone(),
                },
                crate::output::report::Changes {
                    deleted: some(c.deleted),
                    masked: some(c.masked),
                    kept: some(c.kept),
                    updated: some(c.updated),
                    verified_erased: c.verified,
                    error,
                },
            );
        }
    }
    out
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
    run(
        global,
        ChangeRequest {
            action,
            options: crate::evidence::RequestOptions::from(request),
            ids,
            sets: sets.to_vec(),
            yes: opts.yes,
            dry_run: opts.dry_run,
            out: opts.out.as_deref(),
            resume: None,
        },
    )
    .await
}

/// `dsr resume ID`: continue a journaled request.
pub async fn resume(global: &Global, id: &str, yes: bool) -> anyhow::Result<Exit> {
    let state = State::open(&state::state_dir(global.state_dir.as_deref())?).await?;
    let Some(r) = state.journal_get(id).await? else {
        return Err(UsageError::new(format!("no request {id} in the journal"))
            .with_hint("dsr keeps requests in its state directory; check --state-dir")
            .into());
    };
    if r.status != "running" {
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
        other => {
            return Err(UsageError::new(format!(
                "request {id} is an {other}; only erase and correct resume"
            ))
            .into());
        }
    };
    drop(state);
    run(
        global,
        ChangeRequest {
            action,
            options: Default::default(),
            ids: args.identities(),
            sets: args.sets.clone(),
            yes,
            dry_run: false,
            out: None,
            resume: Some(r),
        },
    )
    .await
}
