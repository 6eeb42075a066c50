//! `dsr requests list|show`: the ledger, with days left and what is overdue.

use crate::cli::{Global, RequestsCommand};
use crate::deadline::days_left;
use crate::error::{Exit, UsageError};
use crate::state::State;
use crate::state::ledger::{IN_PROGRESS, Row};
use std::io::IsTerminal;
use tabled::builder::Builder;
use tabled::settings::Style;

/// A row as shown: the stored fields plus what follows from "now".
#[derive(serde::Serialize)]
struct View<'a> {
    #[serde(flatten)]
    row: &'a Row,
    /// Whole days until due (negative once passed); null once the request is finished.
    days_left: Option<i64>,
    overdue: bool,
}

fn view(row: &Row, now: jiff::Timestamp) -> View<'_> {
    let due = row.due_utc.parse::<jiff::Timestamp>().ok();
    let open = row.status == IN_PROGRESS;
    let days = due.filter(|_| open).map(|d| days_left(d, now));
    let overdue = if open {
        due.is_some_and(|d| now > d)
    } else {
        row.deadline_met == Some(false)
    };
    View {
        row,
        days_left: days,
        overdue,
    }
}

fn short_hash(h: &str) -> String {
    let hex = h.rsplit(':').next().unwrap_or(h);
    hex.chars().take(12).collect()
}

fn date(rfc3339: &str) -> String {
    rfc3339.get(..10).unwrap_or(rfc3339).to_string()
}

fn status_text(v: &View<'_>) -> String {
    match (v.row.status.as_str(), v.overdue) {
        (IN_PROGRESS, true) => "overdue".into(),
        (s, true) => format!("{s} (late)"),
        (s, false) => s.to_string(),
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
            v.row.id.clone(),
            v.row.action.clone(),
            short_hash(&v.row.subject_hash),
            date(&v.row.received),
            date(&v.row.due),
            v.days_left
                .map(|d| d.to_string())
                .unwrap_or_else(|| "—".into()),
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
        RequestsCommand::Confirm {
            id,
            system,
            note,
            operator,
        } => {
            let state = State::open(&super::state_dir(global)?).await?;
            let Some(request) = state.journal_get(id).await? else {
                return Err(UsageError::new(format!("no request {id} in the journal"))
                    .with_hint("`dsr requests list` shows the requests")
                    .into());
            };
            if request.status != "running" {
                return Err(UsageError::new(format!(
                    "request {id} is {}; there is nothing to confirm",
                    request.status
                ))
                .into());
            }
            let operator = operator.clone().or_else(|| std::env::var("USER").ok());
            state.confirm(id, system, note, operator.as_deref()).await?;
            if global.json {
                println!(
                    "{}",
                    serde_json::json!({ "request_id": id, "system": system, "confirmed": true })
                );
            } else {
                println!(
                    "Confirmed {system} for request {id}. Continue it with `dsr resume {id}`."
                );
            }
            return Ok(Exit::Done);
        }
        _ => {}
    }
    let state = State::open(&super::state_dir(global)?).await?;
    let now = jiff::Timestamp::now();
    match command {
        RequestsCommand::List => {
            let rows = state.ledger_list().await?;
            let views: Vec<View<'_>> = rows.iter().map(|r| view(r, now)).collect();
            if global.json {
                println!("{}", serde_json::to_string_pretty(&views)?);
            } else if views.is_empty() {
                println!("No requests yet. Start one with `dsr export IDENTITY`.");
            } else {
                println!("{}", table(&views, use_colour()));
            }
        }
        RequestsCommand::Add { .. } | RequestsCommand::Queue | RequestsCommand::Confirm { .. } => {}
        RequestsCommand::Show { id } => {
            let Some(row) = state.ledger_get(id).await? else {
                return Err(UsageError::new(format!("no request with id {id}"))
                    .with_hint("`dsr requests list` shows every id")
                    .into());
            };
            let v = view(&row, now);
            if global.json {
                println!("{}", serde_json::to_string_pretty(&v)?);
            } else {
                let r = &row;
                println!("Request     {}", r.id);
                println!("Action      {}", r.action);
                println!("Subject     {}", r.subject_hash);
                println!("Regulation  {}", r.regulation);
                println!("Received    {}", r.received);
                println!("Due         {}", r.due);
                if let Some(reason) = &r.extension_reason {
                    println!("Extended    {reason}");
                }
                if let Some(d) = v.days_left {
                    println!("Days left   {d}");
                }
                println!("Status      {}", status_text(&v));
                if let Some(c) = &r.completed {
                    println!("Completed   {c}");
                }
                for (system, outcome) in &r.outcomes {
                    println!("  {system:<16} {outcome}");
                }
                if let Some(p) = &r.report_path {
                    println!("Report      {p}");
                }
            }
        }
    }
    Ok(Exit::Done)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn row(id: &str, due_utc: &str, status: &str, met: Option<bool>) -> Row {
        Row {
            id: id.into(),
            action: "export".into(),
            subject_hash: "hmac-sha256:0123456789abcdef0123".into(),
            regulation: "gdpr".into(),
            received: "2026-01-01T00:00:00+00:00".into(),
            due: due_utc.into(),
            due_utc: due_utc.into(),
            extension_reason: None,
            status: status.into(),
            completed: None,
            deadline_met: met,
            outcomes: BTreeMap::new(),
            report_path: None,
        }
    }

    #[test]
    fn overdue_rows_are_red_only_when_colour_is_on() {
        let now: jiff::Timestamp = "2026-02-10T00:00:00Z".parse().unwrap();
        let rows = [
            row("late", "2026-02-01T00:00:00Z", IN_PROGRESS, None),
            row("open", "2026-02-15T12:00:00Z", IN_PROGRESS, None),
            row("done", "2026-02-01T00:00:00Z", "done", Some(true)),
        ];
        let views: Vec<View<'_>> = rows.iter().map(|r| view(r, now)).collect();
        assert_eq!(views[0].days_left, Some(-9));
        assert_eq!(views[1].days_left, Some(5));
        assert_eq!(views[2].days_left, None);
        assert_eq!(
            views.iter().map(status_text).collect::<Vec<_>>(),
            ["overdue", IN_PROGRESS, "done"]
        );
        let plain = table(&views, false);
        assert!(!plain.contains('\x1b'));
        assert!(plain.contains("0123456789ab "));
        let coloured = table(&views, true);
        let red: Vec<&str> = coloured
            .lines()
            .filter(|l| l.starts_with("\x1b[31m"))
            .collect();
        assert_eq!(red.len(), 1, "{coloured}");
        assert!(red[0].contains("late") && red[0].ends_with("\x1b[0m"));
    }
}
