//! Human tables (tabled) for validate, plan and run summaries. Machines use `--json`.

use crate::connectors::Validated;
use crate::plan::Plan;
use crate::playbook::CollectionId;
use crate::run::StepOutcome;
use std::collections::BTreeMap;
use tabled::builder::Builder;
use tabled::settings::peaker::PriorityMax;
use tabled::settings::{Style, Width};

/// Where a table is printed: its width limit is that stream's terminal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

/// The width a table printed on `stream` must fit: `COLUMNS` when set (explicitly chosen, as
/// for a narrower pane), else the terminal's when the stream is one. None when the output goes
/// to a file or a pipe: there nothing is cut, and a script or an editor gets every character.
pub fn width(stream: Stream) -> Option<usize> {
    let columns = std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.trim().parse::<usize>().ok())
        .filter(|&n| n > 0);
    columns.or_else(|| {
        let size = match stream {
            Stream::Stdout => terminal_size::terminal_size_of(std::io::stdout()),
            Stream::Stderr => terminal_size::terminal_size_of(std::io::stderr()),
        };
        size.map(|(w, _)| usize::from(w.0))
    })
}

/// A table for stdout, fitted to its width.
pub fn render(header: &[&str], rows: Vec<Vec<String>>) -> String {
    render_within(header, rows, width(Stream::Stdout))
}

/// A table no wider than `max` (when given): the widest cells are wrapped first, between words
/// where there are any, so every value stays whole, only on more lines.
pub fn render_within(header: &[&str], rows: Vec<Vec<String>>, max: Option<usize>) -> String {
    let mut b = Builder::default();
    b.push_record(header.iter().map(|h| h.to_string()));
    for r in rows {
        b.push_record(r);
    }
    let mut table = b.build();
    table.with(Style::sharp());
    if let Some(max) = max {
        table.with(
            Width::wrap(max)
                .priority(PriorityMax::right())
                .keep_words(true),
        );
    }
    table.to_string()
}

/// `dsr validate`: one row per collection.
pub fn systems(v: &Validated) -> String {
    let mut rows = Vec::new();
    for sys in v.systems.values() {
        for coll in sys.collections.values() {
            let fields = if coll.fields.is_empty() {
                "all columns".to_string()
            } else {
                coll.fields.keys().cloned().collect::<Vec<_>>().join(", ")
            };
            rows.push(vec![
                sys.name.clone(),
                sys.kind.name().to_string(),
                coll.id.collection.clone(),
                fields,
                coll.erase
                    .as_ref()
                    .map(ToString::to_string)
                    .unwrap_or_else(|| "—".into()),
            ]);
        }
    }
    render(
        &["system", "connector", "collection", "fields", "erase"],
        rows,
    )
}

/// `dsr plan`: the steps in execution order.
pub fn plan(plan: &Plan) -> String {
    plan_with(plan, None)
}

/// The steps with one more column: what each step does to what it finds (header, text by
/// collection), e.g. the erase strategy.
pub fn plan_with(plan: &Plan, change: Option<(&str, &BTreeMap<CollectionId, String>)>) -> String {
    let rows = plan
        .steps
        .iter()
        .map(|s| {
            let mut row = vec![
                s.index.to_string(),
                s.wave.to_string(),
                format!("{}.{}", s.system, s.collection),
                s.connector.name().to_string(),
                s.matches.join("\n"),
                match &s.skip {
                    Some(reason) => format!("skip: {reason}"),
                    None if s.waits_for.is_empty() => "—".into(),
                    None => s.waits_for.join("\n"),
                },
            ];
            if let Some((_, by_id)) = change {
                row.push(by_id.get(&s.id).cloned().unwrap_or_else(|| "—".into()));
            }
            row
        })
        .collect();
    let mut header = vec!["#", "wave", "step", "connector", "matches", "waits for"];
    header.extend(change.map(|(h, _)| h));
    render(&header, rows)
}

fn duration(ms: u64) -> String {
    if ms < 1000 {
        format!("{ms} ms")
    } else {
        format!("{:.1} s", ms as f64 / 1000.0)
    }
}

/// The end-of-run summary.
pub fn summary(outcomes: &[StepOutcome]) -> String {
    let rows = outcomes
        .iter()
        .map(|o| {
            let status = match &o.reason {
                Some(r) => format!("{}: {r}", o.status.name()),
                None => o.status.name().to_string(),
            };
            vec![
                o.system.clone(),
                o.collection.clone(),
                o.records.to_string(),
                duration(o.duration_ms),
                status,
            ]
        })
        .collect();
    render(
        &["system", "collection", "records", "time", "outcome"],
        rows,
    )
}
