//! Human tables (tabled) for validate, plan and run summaries. Machines use `--json`.

use crate::plan::Plan;
use crate::playbook::Validated;
use crate::run::StepOutcome;
use tabled::builder::Builder;
use tabled::settings::Style;

pub fn render(header: &[&str], rows: Vec<Vec<String>>) -> String {
    let mut b = Builder::default();
    b.push_record(header.iter().map(|h| h.to_string()));
    for r in rows {
        b.push_record(r);
    }
    let mut table = b.build();
    table.with(Style::sharp());
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
    let rows = plan
        .steps
        .iter()
        .map(|s| {
            vec![
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
            ]
        })
        .collect();
    render(
        &["#", "wave", "step", "connector", "matches", "waits for"],
        rows,
    )
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
