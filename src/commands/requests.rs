//! `dsr requests list|show|close|confirm`: the ledger, with what is open, the days left or
//! overdue, and the next command to run.

use crate::cli::{Global, RequestsCommand};
use crate::deadline::days_left;
use crate::error::{Exit, UsageError};
use crate::state::State;
use crate::state::ledger::{Entry, Standing};
use std::io::IsTerminal;
use tabled::builder::Builder;
use tabled::settings::Style;

/// A request as shown: the recorded fields plus what follows from "now".
#[derive(serde::Serialize)]
struct View<'a> {
    #[serde(flatten)]
    entry: &'a Entry,
    /// Whole days until due, negative once passed; null when finished or without a deadline.
    days_left: Option<i64>,
    /// Whole days past due (at least 1) for an open request that is overdue; else null.
    days_overdue: Option<i64>,
    /// Open and past due, or finished late.
    overdue: bool,
    /// The commands that move an open request on.
    next: Vec<String>,
}

fn view(entry: &Entry, now: jiff::Timestamp) -> View<'_> {
    let due = entry
        .due_utc
        .as_deref()
        .and_then(|d| d.parse::<jiff::Timestamp>().ok());
    let days = due.filter(|_| entry.open).map(|d| days_left(d, now));
    let late = due.is_some_and(|d| now > d);
    let overdue = if entry.open {
        late
    } else {
        entry.deadline_met == Some(false)
    };
    View {
        entry,
        days_left: days,
        days_overdue: days.filter(|_| entry.open && late).map(|d| (-d).max(1)),
        overdue,
        next: next_steps(entry),
    }
}

/// What to run next for an open request.
fn next_steps(e: &Entry) -> Vec<String> {
    let id = &e.id;
    let close = format!("dsr requests close {id} --reason \"…\"");
    match e.status {
        Standing::Queued => vec!["dsr run-due".into(), close],
        Standing::Running | Standing::Done | Standing::Closed => Vec::new(),
        Standing::Waiting => {
            let mut out: Vec<String> = e
                .outcomes
                .iter()
                .filter(|(_, o)| o.as_str() == "waiting")
                .map(|(system, _)| format!("dsr requests confirm {id} {system} --note \"…\""))
                .collect();
            if out.is_empty() {
                out.push(format!("dsr requests confirm {id} SYSTEM --note \"…\""));
            }
            out.push(format!("dsr resume {id}"));
            out
        }
        Standing::Stale | Standing::Partial | Standing::Failed => {
            vec![format!("dsr resume {id}"), close]
        }
    }
}

fn short_hash(h: &str) -> String {
    let hex = h.rsplit(':').next().unwrap_or(h);
    hex.chars().take(12).collect()
}

fn date(rfc3339: Option<&str>) -> String {
    match rfc3339 {
        Some(t) => t.get(..10).unwrap_or(t).to_string(),
        None => "—".into(),
    }
}

fn status_text(v: &View<'_>) -> String {
    let name = v.entry.status.name();
    if !v.entry.open && v.overdue {
        format!("{name} (late)")
    } else {
        name.to_string()
    }
}

fn days_text(v: &View<'_>) -> String {
    match (v.days_overdue, v.days_left) {
        (Some(late), _) => format!("{late} overdue"),
        (None, Some(d)) => d.to_string(),
        _ => "—".into(),
    }
}

/// Red only for people: stdout is a terminal and NO_COLOR is unset (no-color.org).
fn use_colour() -> bool {
    std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

fn table(views: &[View<'_>], colour: bool) -> String {
    let mut b = Builder::default();
    b.push_record(
        [
            "id",
            "action",
            "subject",
            "received",
            "due",
            "days left",
            "status",
        ]
        .map(String::from),
    );
    for v in views {
        b.push_record([
            v.entry.id.clone(),
            v.entry.action.clone(),
            short_hash(&v.entry.subject_hash),
            date(v.entry.received.as_deref()),
            date(v.entry.due.as_deref()),
            days_text(v),
            status_text(v),
        ]);
    }
    let mut t = b.build();
    t.with(Style::sharp());
    let text = t.to_string();
    if !colour {
        return text;
    }
    // Rows are one line each (no cell holds a newline) after the 3 header lines. Colour whole
    // lines so tabled's width arithmetic never sees escape codes.
    text.lines()
        .enumerate()
        .map(
            |(i, line)| match i.checked_sub(3).and_then(|r| views.get(r)) {
                Some(v) if v.overdue => format!("\x1b[31m{line}\x1b[0m"),
                _ => line.to_string(),
            },
        )
        .collect::<Vec<_>>()
        .join("\n")
}

/// The list's filters, all of which must hold.
struct Filter {
    open: bool,
    overdue: bool,
    status: Option<Standing>,
    action: Option<crate::plan::Action>,
}

impl Filter {
    fn keeps(&self, v: &View<'_>) -> bool {
        (!self.open || v.entry.open)
            && (!self.overdue || v.days_overdue.is_some())
            && self.status.is_none_or(|s| v.entry.status == s)
            && self.action.is_none_or(|a| v.entry.action == a.name())
    }
}

fn not_found(id: &str) -> anyhow::Error {
    UsageError::new(format!("no request with id {id}"))
        .with_hint("`dsr requests list` shows every id")
        .into()
}

pub async fn run(global: &Global, command: &RequestsCommand) -> anyhow::Result<Exit> {
    match command {
        RequestsCommand::Add {
            action,
            subject,
            not_before,
            received,
            sets,
        } => {
            return super::due::add(
                global,
                *action,
                subject,
                sets,
                not_before.as_deref(),
                received.as_deref(),
            )
            .await;
        }
        RequestsCommand::Queue => return super::due::list(global).await,
        _ => {}
    }
    let state = State::open(&super::state_dir(global)?).await?;
    let now = jiff::Timestamp::now();
    match command {
        RequestsCommand::Add { .. } | RequestsCommand::Queue => {}
        RequestsCommand::Confirm {
            id,
            system,
            note,
            operator,
        } => {
            let Some(request) = state.journal_get(id).await? else {
                return Err(UsageError::new(format!("no request {id} in the journal"))
                    .with_hint("`dsr requests list` shows the requests")
                    .into());
            };
            if request.status != crate::state::status::JournalStatus::Running {
                return Err(UsageError::new(format!(
                    "request {id} is {}; there is nothing to confirm",
                    request.status
                ))
                .into());
            }
            // A confirmation of a system that does not wait would be recorded and then never
            // used: the request would stay waiting with no word why.
            let waiting: Vec<String> = state
                .journal_steps(id)
                .await?
                .into_values()
                .filter(|(o, _, _)| o.status == crate::run::Status::Waiting)
                .map(|(o, _, _)| o.system)
                .collect::<std::collections::BTreeSet<_>>()
                .into_iter()
                .collect();
            if !waiting.is_empty() && !waiting.contains(system) {
                return Err(UsageError::new(format!(
                    "request {id} has no manual step of {system} waiting for a person"
                ))
                .with_hint(format!("waiting: {}", waiting.join(", ")))
                .into());
            }
            let operator = crate::evidence::operator(&crate::evidence::RequestOptions {
                operator: operator.clone(),
                ..Default::default()
            });
            state.confirm(id, system, note, operator.as_deref()).await?;
            if global.json {
                println!(
                    "{}",
                    serde_json::json!({ "request_id": id, "system": system, "confirmed": true, "next": [format!("dsr resume {id}")] })
                );
            } else {
                println!("Confirmed {system} for request {id}.\nthen: dsr resume {id}");
            }
        }
        RequestsCommand::List {
            open,
            overdue,
            status,
            action,
        } => {
            let filter = Filter {
                open: *open,
                overdue: *overdue,
                status: *status,
                action: *action,
            };
            let entries = state.ledger_entries().await?;
            let views: Vec<View<'_>> = entries
                .iter()
                .map(|e| view(e, now))
                .filter(|v| filter.keeps(v))
                .collect();
            if global.json {
                println!("{}", serde_json::to_string_pretty(&views)?);
            } else if views.is_empty() && entries.is_empty() {
                println!("No requests yet. Start one with `dsr export IDENTITY`.");
            } else if views.is_empty() {
                println!("No request matches.");
            } else {
                println!("{}", table(&views, use_colour()));
            }
        }
        RequestsCommand::Show { id } => {
            let Some(entry) = state.ledger_entry(id).await? else {
                return Err(not_found(id));
            };
            let v = view(&entry, now);
            if global.json {
                println!("{}", serde_json::to_string_pretty(&v)?);
            } else {
                show(&v);
            }
        }
        RequestsCommand::Close {
            id,
            reason,
            operator,
        } => {
            let reason = reason.trim();
            if reason.is_empty() {
                return Err(UsageError::new("--reason is empty")
                    .with_hint("say why the request is closed; the audit log records it")
                    .into());
            }
            let Some(entry) = state.ledger_entry(id).await? else {
                return Err(not_found(id));
            };
            if !entry.open {
                return Err(UsageError::new(format!(
                    "request {id} is {}; there is nothing to close",
                    entry.status.name()
                ))
                .into());
            }
            if entry.status == Standing::Running {
                return Err(UsageError::new(format!(
                    "request {id} is running; it cannot be closed while a process works on it"
                ))
                .with_hint(
                    "stop that process first (a killed run shows as stale), or let it finish",
                )
                .into());
            }
            let operator = crate::evidence::operator(&crate::evidence::RequestOptions {
                operator: operator.clone(),
                ..Default::default()
            });
            crate::evidence::close(&state, &entry, reason, operator).await?;
            if global.json {
                println!(
                    "{}",
                    serde_json::json!({ "request_id": id, "status": Standing::Closed, "reason": reason })
                );
            } else {
                println!("Closed request {id}: {reason}");
            }
        }
    }
    Ok(Exit::Done)
}

fn show(v: &View<'_>) {
    let r = v.entry;
    let or_dash = |o: &Option<String>| o.clone().unwrap_or_else(|| "—".into());
    println!("Request     {}", r.id);
    println!("Action      {}", r.action);
    println!("Subject     {}", r.subject_hash);
    println!("Status      {}", status_text(v));
    println!("Regulation  {}", or_dash(&r.regulation));
    println!("Received    {}", or_dash(&r.received));
    println!("Due         {}", or_dash(&r.due));
    if let Some(reason) = &r.extension_reason {
        match &r.extension_decided {
            Some(at) => println!("Extended    {reason} (decided {at})"),
            None => println!("Extended    {reason}"),
        }
    }
    if let Some(late) = v.days_overdue {
        println!("Overdue     {late} days");
    } else if let Some(d) = v.days_left {
        println!("Days left   {d}");
    }
    if let Some(t) = &r.not_before {
        println!("Not before  {t}");
    }
    if let Some(n) = r.attempts.filter(|n| *n > 0) {
        println!("Attempts    {n}");
    }
    if let Some(e) = &r.last_error {
        println!("Last error  {e}");
    }
    if let Some(c) = &r.completed {
        println!("Completed   {c}");
    }
    if let Some(reason) = &r.closed_reason {
        println!("Closed      {reason}");
    }
    for (system, outcome) in &r.outcomes {
        println!("  {system:<16} {outcome}");
    }
    if let Some(p) = &r.report_path {
        println!("Report      {p}");
    }
    for n in &v.next {
        println!("then: {n}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn entry(id: &str, due_utc: &str, status: Standing, met: Option<bool>) -> Entry {
        Entry {
            id: id.into(),
            action: "export".into(),
            subject_hash: "hmac-sha256:0123456789abcdef0123".into(),
            status,
            open: status.is_open(),
            regulation: Some("gdpr".into()),
            received: Some("2026-01-01T00:00:00+00:00".into()),
            due: Some(due_utc.into()),
            due_utc: Some(due_utc.into()),
            extension_reason: None,
            extension_decided: None,
            completed: None,
            deadline_met: met,
            outcomes: BTreeMap::new(),
            report_path: None,
            closed_reason: None,
            not_before: None,
            attempts: None,
            last_error: None,
        }
    }

    #[test]
    fn overdue_rows_are_red_only_when_colour_is_on() {
        let now: jiff::Timestamp = "2026-02-10T00:00:00Z".parse().unwrap();
        let rows = [
            entry("late", "2026-02-01T00:00:00Z", Standing::Waiting, None),
            entry("open", "2026-02-15T12:00:00Z", Standing::Running, None),
            entry("done", "2026-02-01T00:00:00Z", Standing::Done, Some(true)),
            entry(
                "shut",
                "2026-02-01T00:00:00Z",
                Standing::Closed,
                Some(false),
            ),
        ];
        let views: Vec<View<'_>> = rows.iter().map(|r| view(r, now)).collect();
        assert_eq!(views[0].days_left, Some(-9));
        assert_eq!(views[0].days_overdue, Some(9));
        assert_eq!(views[1].days_left, Some(5));
        assert_eq!(views[1].days_overdue, None);
        assert_eq!(views[2].days_left, None);
        assert_eq!(
            views.iter().map(status_text).collect::<Vec<_>>(),
            ["waiting", "running", "done", "closed (late)"]
        );
        assert_eq!(
            views.iter().map(days_text).collect::<Vec<_>>(),
            ["9 overdue", "5", "—", "—"]
        );
        assert_eq!(
            views[0].next,
            [
                "dsr requests confirm late SYSTEM --note \"…\"",
                "dsr resume late"
            ]
        );
        let plain = table(&views, false);
        assert!(!plain.contains('\x1b'));
        assert!(plain.contains("0123456789ab "));
        let coloured = table(&views, true);
        let red: Vec<&str> = coloured
            .lines()
            .filter(|l| l.starts_with("\x1b[31m"))
            .collect();
        assert_eq!(red.len(), 2, "{coloured}");
        assert!(red[0].contains("late") && red[0].ends_with("\x1b[0m"));
    }

    #[test]
    fn filters_all_hold() {
        let now: jiff::Timestamp = "2026-02-10T00:00:00Z".parse().unwrap();
        let rows = [
            entry("a", "2026-02-01T00:00:00Z", Standing::Stale, None),
            entry("b", "2026-03-01T00:00:00Z", Standing::Queued, None),
            entry("c", "2026-02-01T00:00:00Z", Standing::Done, Some(false)),
        ];
        let views: Vec<View<'_>> = rows.iter().map(|r| view(r, now)).collect();
        let ids = |f: Filter| -> Vec<&str> {
            views
                .iter()
                .filter(|v| f.keeps(v))
                .map(|v| v.entry.id.as_str())
                .collect()
        };
        let none = || Filter {
            open: false,
            overdue: false,
            status: None,
            action: None,
        };
        assert_eq!(ids(none()), ["a", "b", "c"]);
        assert_eq!(
            ids(Filter {
                open: true,
                ..none()
            }),
            ["a", "b"]
        );
        assert_eq!(
            ids(Filter {
                overdue: true,
                ..none()
            }),
            ["a"]
        );
        assert_eq!(
            ids(Filter {
                status: Some(Standing::Queued),
                ..none()
            }),
            ["b"]
        );
        assert!(
            ids(Filter {
                action: Some(crate::plan::Action::Erase),
                ..none()
            })
            .is_empty()
        );
    }
}
