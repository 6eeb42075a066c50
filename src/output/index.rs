//! `index.html`: the export explained to the person, in plain language, covering what
//! GDPR Art. 15(1) asks for: purposes, categories, recipients, retention, source, automated
//! decisions, rights, and Art. 15(2) transfers; first a one-line answer, then the records
//! themselves (a bounded number per collection). Self-contained (no scripts, no external resources) so it opens anywhere, offline.

use super::bundle::FileEntry;
use super::{labels, sample};
use crate::connectors::Row;
use crate::connectors::{SystemSpec, Validated};
use crate::playbook::CollectionSpec;
use crate::playbook::model::Playbook;
use crate::run::outcome::system_status;
use crate::run::{Status, StepOutcome};
use serde_json::Value;
use std::collections::BTreeSet;
use std::fmt::Write;
use std::path::Path;

pub(crate) fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Art. 6 legal bases in words.
pub fn legal_basis_words(basis: &str) -> &str {
    match basis {
        "consent" => "your consent",
        "contract" => "a contract with you, or steps you asked for before one",
        "legal_obligation" => "a legal obligation we have",
        "vital_interests" => "protecting someone's vital interests",
        "public_task" => "a task in the public interest",
        "legitimate_interests" => "our legitimate interests",
        other => other,
    }
}

/// The page's inline style: no external stylesheet or font, so it renders the same offline.
const STYLE: &str = "body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;line-height:1.5;color:#222}\
section{border-top:1px solid #ccc;margin-top:1.5rem}.warn{color:#a40}\
dl{display:grid;grid-template-columns:minmax(9rem,max-content) 1fr;gap:.3rem 1.25rem}dt{font-weight:600}dd{margin:0}\
@media (max-width:40rem){dl{display:block}dd{margin:0 0 .5rem 0}}\
.answer{font-size:1.25rem;font-weight:600;margin:1rem 0}h3{font-size:1.05rem;margin:1.25rem 0 .25rem}\
.files{margin:.25rem 0;color:#555}.scroll{overflow-x:auto}table{border-collapse:collapse;margin:.5rem 0 1rem;font-size:.9rem}\
th,td{border:1px solid #ddd;padding:.25rem .5rem;text-align:left;vertical-align:top}th{background:#f4f4f4;font-weight:600}\
td{overflow-wrap:anywhere}.none{color:#999}\
footer{border-top:1px solid #ccc;margin-top:2rem;padding-top:.5rem;font-size:.85rem;color:#555}";

/// Longest text shown in one cell of the page; the files hold the whole value.
const CELL_CHARS: usize = 500;

pub fn render(
    v: &Validated,
    request_id: &str,
    outcomes: &[StepOutcome],
    files: &[FileEntry],
    deadline: &crate::deadline::Deadline,
    bundle_dir: &Path,
) -> String {
    let pb = &v.loaded.playbook;
    let org = esc(&pb.organisation);
    let mut h = String::new();
    let _ = write!(
        h,
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>Your data at {org}</title>\n\
<style>{STYLE}</style></head><body>\n<h1>The personal data {org} holds about you</h1>\n"
    );
    // One section after another: each is its own function, so a new one (a notice) slots in.
    answer(&mut h, &Summary::of(v, outcomes));
    let _ = writeln!(
        h,
        "<p>This is a copy of the personal data we hold about you, prepared in answer to your request \
(reference <code>{}</code>). For each place we keep data, it says what we keep, why, on what legal basis, \
for how long, and who receives it, and shows the records themselves. The same records are in the files \
listed, as JSON and as CSV (which opens in a spreadsheet).</p>",
        esc(request_id)
    );
    // GDPR Art. 12(3): a person whose answer takes longer must be told so, and why.
    if let Some(reason) = &deadline.extension_reason {
        let day = |t: jiff::Timestamp| {
            t.to_zoned(jiff::tz::TimeZone::fixed(deadline.received.offset))
                .strftime("%-d %B %Y")
                .to_string()
        };
        let decided = deadline
            .extension_decided
            .map(|t| format!(" We decided this on {}.", day(t)))
            .unwrap_or_default();
        let _ = writeln!(
            h,
            "<p class=\"extension\">We have extended the time we take to answer your request, as the law allows: \
we will answer by {}, because {}.{decided}</p>",
            esc(&day(deadline.due)),
            esc(reason),
        );
    }
    for sys in v.systems.values() {
        system_section(&mut h, sys, outcomes, files, bundle_dir);
    }
    automated_decisions(&mut h, pb);
    rights(&mut h, pb);
    footer(&mut h);
    h.push_str("</body></html>\n");
    h
}

/// What the page's first line sums up: records found, and where the answer is not complete.
#[derive(Debug, Default, PartialEq, Eq)]
struct Summary {
    records: u64,
    /// Systems that returned at least one record.
    systems_with_records: usize,
    /// Systems whose manual steps are still waiting, by title.
    pending: Vec<String>,
    /// Systems that failed in this run, wholly or in part, by title.
    incomplete: Vec<String>,
}

impl Summary {
    fn of(v: &Validated, outcomes: &[StepOutcome]) -> Self {
        let mut s = Summary::default();
        for sys in v.systems.values() {
            let steps = || outcomes.iter().filter(|o| o.system == sys.name);
            let records: u64 = steps().map(|o| o.records).sum();
            s.records += records;
            if records > 0 {
                s.systems_with_records += 1;
            }
            match system_status(steps()) {
                Status::Waiting => s.pending.push(system_title(sys)),
                Status::Failed | Status::Partial => s.incomplete.push(system_title(sys)),
                _ => {}
            }
        }
        s
    }

    /// The one-line answer, as plain text.
    fn sentence(&self) -> String {
        let unfinished = !self.pending.is_empty() || !self.incomplete.is_empty();
        let mut out = match (self.records, unfinished) {
            (0, false) => "We hold no data about you.".to_string(),
            // Not "no data": a part still to come may hold some.
            (0, true) => "We have found no data about you so far.".to_string(),
            (n, _) => format!(
                "We hold {} about you in {}.",
                plural(n, "record", "records"),
                plural(self.systems_with_records as u64, "system", "systems")
            ),
        };
        if !self.pending.is_empty() {
            let _ = write!(
                out,
                " Still to come: {}, which our staff are collecting by hand; we will send you what we find.",
                self.pending.join(", ")
            );
        }
        if !self.incomplete.is_empty() {
            let _ = write!(
                out,
                " We could not read everything from {}; we are following up and will send you the rest.",
                self.incomplete.join(", ")
            );
        }
        out
    }
}

fn answer(h: &mut String, summary: &Summary) {
    let _ = writeln!(h, "<p class=\"answer\">{}</p>", esc(&summary.sentence()));
}

fn plural(n: u64, one: &str, many: &str) -> String {
    if n == 1 {
        format!("1 {one}")
    } else {
        format!("{} {many}", thousands(n))
    }
}

/// `12345` as `12,345`.
fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn system_title(sys: &SystemSpec) -> String {
    sys.config
        .description
        .clone()
        .unwrap_or_else(|| sys.name.clone())
}

fn system_section(
    h: &mut String,
    sys: &SystemSpec,
    outcomes: &[StepOutcome],
    files: &[FileEntry],
    bundle_dir: &Path,
) {
    let steps: Vec<&StepOutcome> = outcomes.iter().filter(|o| o.system == sys.name).collect();
    let status = system_status(steps.iter().copied());
    let records: u64 = steps.iter().map(|o| o.records).sum();
    let _ = writeln!(h, "<section><h2>{}</h2>", esc(&system_title(sys)));
    match status {
        Status::Waiting => {
            let _ = writeln!(
                h,
                "<p class=\"warn\">A member of our staff is collecting this part by hand. We will send it to you when it is done.</p>"
            );
        }
        Status::Failed | Status::Partial => {
            let _ = writeln!(
                h,
                "<p class=\"warn\">We could not retrieve all data from this system in this run. We are following up and will send you the rest.</p>"
            );
        }
        _ if records == 0 => {
            let _ = writeln!(h, "<p>We hold no data about you here.</p>");
        }
        _ => {}
    }
    let mut categories = BTreeSet::new();
    for coll in sys.collections.values() {
        let held = steps
            .iter()
            .any(|o| o.collection == coll.id.collection && o.records > 0);
        if held {
            if coll.fields.is_empty() {
                categories.insert("All recorded details".to_string());
            }
            categories.extend(coll.fields.values().map(|f| labels::category(&f.category)));
        }
    }
    let c = &sys.config;
    let mut terms = String::new();
    let mut dl = |term: &str, text: &str| {
        let _ = writeln!(terms, "<dt>{term}</dt><dd>{}</dd>", esc(text));
    };
    dl("Why we keep it", &c.purpose);
    dl(
        "Legal basis",
        &labels::capitalise(legal_basis_words(&c.legal_basis)),
    );
    dl("How long we keep it", &c.retention);
    let recipients = if c.recipients.is_empty() {
        "No one outside our organisation.".to_string()
    } else {
        c.recipients.join(", ")
    };
    dl("Who receives it", &recipients);
    dl(
        "Where it came from",
        c.source.as_deref().unwrap_or("You gave it to us."),
    );
    // Art. 15(2): only what the playbook declares. Nothing declared says nothing, rather than
    // claiming the data never leaves the EU/EEA.
    if let Some(transfers) = &c.transfers {
        dl("Transfers outside the EU/EEA", transfers);
        dl(
            "Safeguards for those transfers",
            c.safeguards.as_deref().unwrap_or(
                "Not described here. You may ask us which safeguards protect these transfers.",
            ),
        );
    } else if let Some(safeguards) = &c.safeguards {
        dl("Safeguards for transfers", safeguards);
    }
    if !categories.is_empty() {
        let cats: Vec<&str> = categories.iter().map(String::as_str).collect();
        dl("Kinds of data", &cats.join(", "));
    }
    let _ = writeln!(h, "<dl>\n{terms}</dl>");
    for o in &steps {
        collection(h, sys, o, files, bundle_dir);
    }
    let _ = writeln!(h, "</section>");
}

/// One collection: its name, count and files, then its records as a table.
fn collection(
    h: &mut String,
    sys: &SystemSpec,
    o: &StepOutcome,
    files: &[FileEntry],
    bundle_dir: &Path,
) {
    let coll = sys.collections.get(&o.collection);
    let label = coll
        .and_then(|c| c.description.clone())
        .unwrap_or_else(|| o.collection.clone());
    let stem = format!(
        "{}/{}.",
        super::bundle::safe_name(&o.system),
        super::bundle::safe_name(&o.collection)
    );
    // `SYSTEM/COLLECTION.json|csv`, and the files a files system exported.
    let folder = format!("{}/", stem.trim_end_matches('.'));
    let link = |path: &str| format!("<a href=\"{0}\">{0}</a>", esc(path));
    let links: Vec<String> = files
        .iter()
        .filter(|f| f.path.starts_with(&stem) || f.path.starts_with(&folder))
        .map(|f| link(&f.path))
        .collect();
    let _ = writeln!(h, "<h3>{}</h3>", esc(&label));
    let files_note = if links.is_empty() {
        String::new()
    } else {
        format!(" · {}", links.join(" "))
    };
    let _ = writeln!(
        h,
        "<p class=\"files\">{}{files_note}</p>",
        plural(o.records, "record", "records")
    );
    let json = format!("{stem}json");
    if o.records == 0 || !files.iter().any(|f| f.path == json) {
        return;
    }
    match sample::read(&bundle_dir.join(&json), sample::PAGE_ROWS) {
        Ok(s) => {
            if s.total > s.rows.len() as u64 {
                let _ = writeln!(
                    h,
                    "<p>Showing the first {} of {}; all are in {}.</p>",
                    s.rows.len(),
                    plural(s.total, "record", "records"),
                    link(&json)
                );
            }
            records_table(h, coll, &s.rows);
        }
        // The page is a convenience over the files: a file that cannot be read back is noted
        // here (the export itself still stands, and the manifest lists what was written).
        Err(_) => {
            let _ = writeln!(
                h,
                "<p class=\"warn\">These records cannot be shown here; they are in {}.</p>",
                link(&json)
            );
        }
    }
}

/// Records as a table with one row per record; a single record as one row per field, which
/// reads better than one very wide row.
fn records_table(h: &mut String, coll: Option<&CollectionSpec>, rows: &[Row]) {
    let mut columns: Vec<&str> = Vec::new();
    for row in rows {
        for k in row.keys() {
            if !columns.contains(&k.as_str()) {
                columns.push(k);
            }
        }
    }
    let heading = |col: &str| {
        let text = coll
            .and_then(|c| c.fields.get(col))
            .and_then(|f| f.description.clone())
            .unwrap_or_else(|| labels::column(col));
        format!("title=\"{}\">{}", esc(col), esc(&text))
    };
    h.push_str("<div class=\"scroll\"><table>\n");
    if let [row] = rows {
        for col in &columns {
            let _ = writeln!(
                h,
                "<tr><th scope=\"row\" {}</th><td>{}</td></tr>",
                heading(col),
                cell(row.get(*col))
            );
        }
    } else {
        h.push_str("<thead><tr>");
        for col in &columns {
            let _ = write!(h, "<th scope=\"col\" {}</th>", heading(col));
        }
        h.push_str("</tr></thead>\n<tbody>\n");
        for row in rows {
            h.push_str("<tr>");
            for col in &columns {
                let _ = write!(h, "<td>{}</td>", cell(row.get(*col)));
            }
            h.push_str("</tr>\n");
        }
        h.push_str("</tbody>");
    }
    h.push_str("</table></div>\n");
}

/// One value as escaped HTML: text as text, JSON structures as compact JSON, empty as a dash.
fn cell(v: Option<&Value>) -> String {
    let text = match v {
        None | Some(Value::Null) => return "<span class=\"none\">—</span>".to_string(),
        Some(Value::String(s)) => s.clone(),
        Some(Value::Bool(true)) => "yes".to_string(),
        Some(Value::Bool(false)) => "no".to_string(),
        Some(other) => other.to_string(),
    };
    match text.char_indices().nth(CELL_CHARS) {
        Some((cut, _)) => format!("{}…", esc(&text[..cut])),
        None => esc(&text),
    }
}

/// Art. 15(1)(h): what the playbook declares, and nothing it does not.
fn automated_decisions(h: &mut String, pb: &Playbook) {
    let text = match pb.automated_decisions.as_deref().map(str::trim) {
        Some(t) if t.eq_ignore_ascii_case("none") => {
            "We make no decisions about you based solely on automated processing.".to_string()
        }
        Some(t) => t.to_string(),
        None => format!(
            "This copy does not say whether we make decisions about you based solely on automated \
processing, including profiling. You may ask us{}.",
            pb.contact
                .as_deref()
                .map(|c| format!(" at {c}"))
                .unwrap_or_default()
        ),
    };
    let _ = writeln!(
        h,
        "<section><h2>Automated decisions and profiling</h2>\n<p>{}</p></section>",
        esc(&text)
    );
}

fn rights(h: &mut String, pb: &Playbook) {
    let _ = write!(
        h,
        "<section><h2>Your rights</h2>\n<p>You can ask us to correct data that is wrong, to erase data, to restrict \
or object to how we use it, and to receive it in a portable form. You can also complain to a data \
protection supervisory authority{}.</p>\n",
        pb.supervisory_authority
            .as_deref()
            .map(|a| format!(" ({})", esc(a)))
            .unwrap_or_default()
    );
    if let Some(contact) = &pb.contact {
        let _ = writeln!(h, "<p>Questions about this copy: {}.</p>", esc(contact));
    }
    let _ = writeln!(h, "</section>");
}

/// For whoever checks the copy rather than reads it: kept out of the way at the bottom.
fn footer(h: &mut String) {
    let _ = writeln!(
        h,
        "<footer><p>The file <code>manifest.json</code> lists every file in this folder with its \
SHA-256 checksum, so you can check that none was changed.</p></footer>"
    );
}

#[cfg(test)]
mod tests {
    #[test]
    fn escapes_markup() {
        assert_eq!(
            super::esc("<b>\"x\" & 'y'</b>"),
            "&lt;b&gt;&quot;x&quot; &amp; &#39;y&#39;&lt;/b&gt;"
        );
    }
}
