//! `dsr map`: the playbook as a record of processing activities (GDPR Art. 30(1)): per
//! system the categories of data, purposes, legal basis, recipients, retention, how erasure
//! works and its exceptions. Markdown, a self-contained HTML page (no scripts, no external
//! resources, every text escaped) and CSV, all from the same rows so they never disagree.

use super::index::legal_basis_words;
use crate::connectors::{SystemSpec, Validated};
use crate::playbook::EraseStrategy;
use std::collections::BTreeSet;
use std::fmt::Write as _;

/// One collection's erasure, in words.
struct Erasure {
    collection: String,
    strategy: String,
    because: Option<String>,
}

/// One system as a processing activity.
struct Activity {
    system: String,
    description: String,
    categories: Vec<String>,
    purpose: String,
    legal_basis: String,
    recipients: String,
    retention: String,
    source: String,
    erasure: Vec<Erasure>,
}

impl Activity {
    /// The Art. 30(1) entries, labelled, in the order every format shows them.
    fn rows(&self) -> [(&'static str, String); 6] {
        [
            ("Categories of data", self.categories.join(", ")),
            ("Purpose", self.purpose.clone()),
            ("Legal basis", self.legal_basis.clone()),
            ("Recipients", self.recipients.clone()),
            ("Retention", self.retention.clone()),
            ("Source", self.source.clone()),
        ]
    }
}

fn erasure(strategy: Option<&EraseStrategy>) -> (String, Option<String>) {
    match strategy {
        None => ("not set".into(), None),
        Some(EraseStrategy::Delete) => ("delete".into(), None),
        Some(EraseStrategy::Mask { fields, because }) => {
            let parts: Vec<String> = fields.iter().map(|(c, m)| format!("{c} ({m})")).collect();
            (format!("mask {}", parts.join(", ")), because.clone())
        }
        Some(EraseStrategy::Keep { because }) => ("keep".into(), Some(because.clone())),
    }
}

fn activity(s: &SystemSpec) -> Activity {
    let mut categories = BTreeSet::new();
    for c in s.collections.values() {
        if c.fields.is_empty() {
            categories.insert(format!("all columns of {}", c.id.collection));
        }
        categories.extend(c.fields.values().map(|f| f.category.clone()));
    }
    Activity {
        system: s.name.clone(),
        description: s.config.description.clone().unwrap_or_default(),
        categories: categories.into_iter().collect(),
        purpose: s.config.purpose.clone(),
        legal_basis: format!(
            "{} ({})",
            s.config.legal_basis,
            legal_basis_words(&s.config.legal_basis)
        ),
        recipients: if s.config.recipients.is_empty() {
            "none".into()
        } else {
            s.config.recipients.join("; ")
        },
        retention: s.config.retention.clone(),
        source: s
            .config
            .source
            .clone()
            .unwrap_or_else(|| "the data subject".into()),
        erasure: s
            .collections
            .values()
            .map(|c| {
                let (strategy, because) = erasure(c.erase.as_ref());
                Erasure {
                    collection: c.id.collection.clone(),
                    strategy,
                    because,
                }
            })
            .collect(),
    }
}

fn activities(v: &Validated) -> Vec<Activity> {
    v.systems.values().map(activity).collect()
}

fn header_lines(v: &Validated) -> Vec<(&'static str, String)> {
    let pb = &v.loaded.playbook;
    let mut out = vec![("Controller", pb.organisation.clone())];
    if let Some(c) = &pb.contact {
        out.push(("Contact", c.clone()));
    }
    if let Some(a) = &pb.supervisory_authority {
        out.push(("Supervisory authority", a.clone()));
    }
    if let Some(r) = &pb.regulation {
        out.push(("Regulation", r.clone()));
    }
    out.push((
        "Playbook",
        format!("{} (sha256 {})", v.loaded.display_path(), v.loaded.sha256),
    ));
    out
}

/// What Art. 30(1) asks for that a playbook does not record, said rather than left out.
const NOT_RECORDED: &str = "Not recorded in the playbook, to be completed elsewhere: the categories of data subjects (Art. 30(1)(c)), transfers to third countries and their safeguards (e), and the technical and organisational security measures (g).";

/// Markdown table cells: pipes escaped, line breaks flattened.
fn md(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('|', "\\|")
        .replace(['\n', '\r'], " ")
}

pub fn markdown(v: &Validated) -> String {
    let mut m = String::new();
    let _ = writeln!(
        m,
        "# Record of processing activities — {}\n",
        md(&v.loaded.playbook.organisation)
    );
    for (k, val) in header_lines(v) {
        let _ = writeln!(m, "- **{k}:** {}", md(&val));
    }
    let _ = writeln!(m, "\n{NOT_RECORDED}");
    for a in activities(v) {
        let _ = writeln!(m, "\n## {}\n", md(&a.system));
        if !a.description.is_empty() {
            let _ = writeln!(m, "{}\n", md(&a.description));
        }
        let _ = writeln!(m, "| | |\n|---|---|");
        for (k, val) in a.rows() {
            let _ = writeln!(m, "| {k} | {} |", md(&val));
        }
        let _ = writeln!(
            m,
            "\n| collection | on erasure | exception because |\n|---|---|---|"
        );
        for e in &a.erasure {
            let _ = writeln!(
                m,
                "| {} | {} | {} |",
                md(&e.collection),
                md(&e.strategy),
                md(e.because.as_deref().unwrap_or("—"))
            );
        }
    }
    m
}

fn esc(s: &str) -> String {
    super::index::esc(s)
}

pub fn html(v: &Validated) -> String {
    let org = esc(&v.loaded.playbook.organisation);
    let mut h = String::new();
    let _ = writeln!(
        h,
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
<title>Record of processing activities — {org}</title>\n\
<style>body{{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;line-height:1.5;color:#222}}\
table{{border-collapse:collapse;width:100%;margin:.5rem 0 1rem}}th,td{{border:1px solid #ccc;padding:.3rem .5rem;text-align:left;vertical-align:top}}\
th{{background:#f4f4f4}}</style></head><body>\n<h1>Record of processing activities — {org}</h1>\n<dl>"
    );
    for (k, val) in header_lines(v) {
        let _ = writeln!(h, "<dt>{k}</dt><dd>{}</dd>", esc(&val));
    }
    let _ = writeln!(h, "</dl>\n<p>{}</p>", esc(NOT_RECORDED));
    for a in activities(v) {
        let _ = writeln!(h, "<section><h2>{}</h2>", esc(&a.system));
        if !a.description.is_empty() {
            let _ = writeln!(h, "<p>{}</p>", esc(&a.description));
        }
        let _ = writeln!(h, "<table>");
        for (k, val) in a.rows() {
            let _ = writeln!(h, "<tr><th>{k}</th><td>{}</td></tr>", esc(&val));
        }
        let _ = writeln!(
            h,
            "</table>\n<table><tr><th>collection</th><th>on erasure</th><th>exception because</th></tr>"
        );
        for e in &a.erasure {
            let _ = writeln!(
                h,
                "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(&e.collection),
                esc(&e.strategy),
                esc(e.because.as_deref().unwrap_or("—"))
            );
        }
        let _ = writeln!(h, "</table></section>");
    }
    let _ = writeln!(h, "</body></html>");
    h
}

/// The record as one JSON object, for `dsr map --json`: the same entries as the other formats,
/// each under its own key rather than a label.
pub fn json(v: &Validated) -> serde_json::Value {
    let pb = &v.loaded.playbook;
    let activities: Vec<serde_json::Value> = activities(v)
        .into_iter()
        .map(|a| {
            serde_json::json!({
                "system": a.system,
                "description": a.description,
                "categories": a.categories,
                "purpose": a.purpose,
                "legal_basis": a.legal_basis,
                "recipients": a.recipients,
                "retention": a.retention,
                "source": a.source,
                "erasure": a.erasure.iter().map(|e| serde_json::json!({
                    "collection": e.collection,
                    "strategy": e.strategy,
                    "because": e.because,
                })).collect::<Vec<_>>(),
            })
        })
        .collect();
    serde_json::json!({
        "controller": pb.organisation,
        "contact": pb.contact,
        "supervisory_authority": pb.supervisory_authority,
        "regulation": pb.regulation,
        "playbook": v.loaded.display_path(),
        "sha256": v.loaded.sha256,
        "not_recorded": NOT_RECORDED,
        "activities": activities,
    })
}

/// One row per collection, system columns repeated, so it filters and sorts in a spreadsheet.
pub fn csv(v: &Validated) -> Result<String, csv::Error> {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record([
        "system",
        "description",
        "categories",
        "purpose",
        "legal_basis",
        "recipients",
        "retention",
        "source",
        "collection",
        "erasure",
        "exception_because",
    ])?;
    for a in activities(v) {
        let categories = a.categories.join(", ");
        for e in &a.erasure {
            w.write_record([
                a.system.as_str(),
                &a.description,
                &categories,
                &a.purpose,
                &a.legal_basis,
                &a.recipients,
                &a.retention,
                &a.source,
                &e.collection,
                &e.strategy,
                e.because.as_deref().unwrap_or(""),
            ])?;
        }
    }
    let bytes = w.into_inner().map_err(|e| e.into_error())?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}
