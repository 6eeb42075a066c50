//! `index.html`: the export explained to the person, in plain language, covering what
//! GDPR Art. 15(1) asks for: purposes, categories, recipients, retention, source, rights.
//! Self-contained (no scripts, no external resources) so it opens anywhere, offline.

use super::bundle::FileEntry;
use crate::playbook::Validated;
use crate::run::outcome::system_status;
use crate::run::{Status, StepOutcome};
use std::collections::BTreeSet;
use std::fmt::Write;

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

pub fn render(
    v: &Validated,
    request_id: &str,
    outcomes: &[StepOutcome],
    files: &[FileEntry],
    deadline: &crate::deadline::Deadline,
) -> String {
    let pb = &v.loaded.playbook;
    let org = esc(&pb.organisation);
    let mut h = String::new();
    let _ = write!(
        h,
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>Your data at {org}</title>\n\
<style>body{{font-family:system-ui,sans-serif;max-width:52rem;margin:2rem auto;padding:0 1rem;line-height:1.5;color:#222}}\
section{{border-top:1px solid #ccc;margin-top:1.5rem}}dt{{font-weight:600}}dd{{margin:0 0 .5rem 0}}.warn{{color:#a40}}</style></head><body>\n\
<h1>The personal data {org} holds about you</h1>\n\
<p>This is a copy of the personal data we hold about you, prepared in answer to your request \
(reference <code>{}</code>). For each place we keep data, it says what we keep, why, on what legal basis, \
for how long, and who receives it. The data itself is in the files listed, as JSON and as CSV \
(which opens in a spreadsheet).</p>\n",
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
        let steps: Vec<&StepOutcome> = outcomes.iter().filter(|o| o.system == sys.name).collect();
        let status = system_status(steps.iter().copied());
        let records: u64 = steps.iter().map(|o| o.records).sum();
        let title = sys
            .config
            .description
            .clone()
            .unwrap_or_else(|| sys.name.clone());
        let _ = writeln!(h, "<section><h2>{}</h2>", esc(&title));
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
                    categories.insert("all recorded details".to_string());
                }
                categories.extend(
                    coll.fields
                        .values()
                        .map(|f| f.category.replace(['.', '_'], " ")),
                );
            }
        }
        let _ = writeln!(
            h,
            "<dl>\n<dt>Why we keep it</dt><dd>{}</dd>",
            esc(&sys.config.purpose)
        );
        let _ = writeln!(
            h,
            "<dt>Legal basis</dt><dd>{}</dd>",
            esc(legal_basis_words(&sys.config.legal_basis))
        );
        let _ = writeln!(
            h,
            "<dt>How long we keep it</dt><dd>{}</dd>",
            esc(&sys.config.retention)
        );
        let recipients = if sys.config.recipients.is_empty() {
            "No one outside our organisation.".to_string()
        } else {
            sys.config.recipients.join(", ")
        };
        let _ = writeln!(h, "<dt>Who receives it</dt><dd>{}</dd>", esc(&recipients));
        let source = sys
            .config
            .source
            .clone()
            .unwrap_or_else(|| "You gave it to us.".into());
        let _ = writeln!(h, "<dt>Where it came from</dt><dd>{}</dd>", esc(&source));
        if !categories.is_empty() {
            let cats: Vec<String> = categories.iter().map(|c| esc(c)).collect();
            let _ = writeln!(h, "<dt>Kinds of data</dt><dd>{}</dd>", cats.join(", "));
        }
        let _ = writeln!(h, "</dl>\n<ul>");
        for o in &steps {
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
            let links: Vec<String> = files
                .iter()
                .filter(|f| f.path.starts_with(&stem) || f.path.starts_with(&folder))
                .map(|f| format!("<a href=\"{0}\">{0}</a>", esc(&f.path)))
                .collect();
            let count = match o.records {
                1 => "1 record".to_string(),
                n => format!("{n} records"),
            };
            let _ = writeln!(h, "<li>{}: {count} {}</li>", esc(&label), links.join(" "));
        }
        let _ = writeln!(h, "</ul></section>");
    }
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
    let _ = writeln!(
        h,
        "<p>The file <code>manifest.json</code> lists every file in this folder with its SHA-256 checksum.</p></section>\n</body></html>"
    );
    h
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
