//! The completion report: what was asked, when, under which deadline, by whom, what each
//! system and collection did, and the SHA-256 of every file written before it.
//!
//! `report.json` is canonical JSON (object keys sorted bytewise, no insignificant whitespace,
//! UTF-8, no trailing newline) so the signature covers bytes that any tool re-serialising the
//! same content would produce. `report.md` says the same for people. Neither holds identity
//! values or row data: the person is named by a keyed hash unless `--include-identity` is
//! given. Its shape is described by `schemas/report.schema.json`.
//!
//! The per-collection counts of a change (`records_deleted`, `records_masked`,
//! `records_kept`, `records_updated`, `verified_erased`) are filled from [`Changes`] for an
//! erase or a correction; an export changed nothing, and its report leaves them out rather
//! than carrying fields that could only be null.

use super::bundle::{FileEntry, safe_name};
use crate::connectors::Validated;
use crate::deadline::Deadline;
use crate::plan::Action;
use crate::playbook::{CollectionId, EraseStrategy};
use crate::run::outcome::system_status;
use crate::run::{Status, StepOutcome};
use crate::timestamp::stamp;
use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeMap;
use std::fmt::Write;

pub const FORMAT: &str = "dsr-report/1";

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub format: &'static str,
    pub tool: Tool,
    pub request_id: String,
    pub action: Action,
    pub regulation: String,
    /// Every moment is RFC 3339 in UTC with milliseconds ([`crate::timestamp`]), and
    /// received ≤ started ≤ each step ≤ completed.
    pub received: String,
    pub started: String,
    pub completed: String,
    pub due: String,
    pub deadline_met: bool,
    /// Why the deadline was extended, when it was.
    pub extension_reason: Option<String>,
    /// Who ran the request (`--operator` / `DSR_OPERATOR`), when known.
    pub operator: Option<String>,
    pub organisation: String,
    pub playbook: PlaybookRef,
    pub subject: SubjectRef,
    /// The key that signs `report.json` (the detached signature is `report.json.sig`).
    pub signature: SignatureRef,
    pub outcome: Status,
    pub systems: Vec<SystemReport>,
    /// Every file of the bundle written before the report, with its SHA-256.
    pub files: Vec<FileEntry>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Tool {
    pub name: &'static str,
    pub version: &'static str,
}

#[derive(Debug, Clone, Serialize)]
pub struct PlaybookRef {
    pub path: String,
    pub sha256: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct SubjectRef {
    /// Identity kinds the request gave.
    pub identity_kinds: Vec<String>,
    /// `hmac-sha256:<hex>` of the normalised identity values (key kept in the state directory).
    pub hash: String,
    /// The values themselves: only with `--include-identity`, otherwise null.
    pub identities: Option<BTreeMap<String, Vec<String>>>,
}

#[derive(Debug, Clone, Serialize)]
pub struct SignatureRef {
    pub format: &'static str,
    pub namespace: &'static str,
    /// The principal auditors pass to `ssh-keygen -Y verify -I`.
    pub signer: String,
    /// `SHA256:…` as ssh-keygen prints it.
    pub key_fingerprint: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct SystemReport {
    pub name: String,
    pub connector: &'static str,
    pub status: Status,
    pub records_found: u64,
    pub records_exported: Option<u64>,
    /// What the change did, summed over the collections; `None` (left out) for an export.
    #[serde(flatten)]
    pub changed: Option<SystemChanged>,
    pub errors: Vec<String>,
    pub started: Option<String>,
    pub finished: Option<String>,
    pub duration_ms: u64,
    pub collections: Vec<CollectionReport>,
}

/// A system's counts of an erase or a correction.
#[derive(Debug, Clone, Serialize)]
pub struct SystemChanged {
    pub records_deleted: Option<u64>,
    pub records_masked: Option<u64>,
    pub records_kept: Option<u64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct CollectionReport {
    pub collection: String,
    pub status: Status,
    /// Why it was skipped or what failed (never personal data).
    pub reason: Option<String>,
    /// The playbook's erase strategy: `delete`, `mask`, `keep`, or null when none is set.
    pub strategy: Option<&'static str>,
    /// column -> masking method, for `mask`.
    pub masked_fields: BTreeMap<String, String>,
    /// Why data is kept or only masked (a retention exception).
    pub because: Option<String>,
    pub records_found: u64,
    pub records_exported: Option<u64>,
    /// What the change did to this collection; `None` (left out) for an export.
    #[serde(flatten)]
    pub changed: Option<CollectionChanged>,
    pub errors: Vec<String>,
    /// Facts the system reported about the change (erase jobs, rewritten files with their
    /// hashes); never personal data. Left out when there are none.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    pub attempts: u32,
    pub started: Option<String>,
    pub finished: Option<String>,
    pub duration_ms: u64,
    pub files: Vec<FileEntry>,
}

/// A collection's counts of an erase or a correction; null where the change did not get that
/// far (a failed write, a step skipped).
#[derive(Debug, Clone, Serialize)]
pub struct CollectionChanged {
    pub records_deleted: Option<u64>,
    pub records_masked: Option<u64>,
    pub records_kept: Option<u64>,
    /// Records whose fields a correction set (correct only).
    pub records_updated: Option<u64>,
    /// Whether a lookup after the change found every record as intended.
    pub verified_erased: Option<bool>,
}

/// What a changing action did to one collection; the erase command fills this in.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Changes {
    pub deleted: Option<u64>,
    pub masked: Option<u64>,
    pub kept: Option<u64>,
    /// Records whose fields a correction set.
    pub updated: Option<u64>,
    pub verified_erased: Option<bool>,
    /// Why the write phase failed for this collection (the step then counts as failed).
    pub error: Option<String>,
    /// Facts the system reported about the change.
    pub notes: Vec<String>,
}

/// The overall status: done only when every system is done or skipped for a reason that is not
/// a failure.
pub fn overall(outcomes: &[StepOutcome]) -> Status {
    let failing = outcomes.iter().any(|o| o.status == Status::Failed);
    if !failing && outcomes.iter().any(|o| o.status == Status::Waiting) {
        return Status::Waiting;
    }
    if outcomes.iter().any(|o| {
        o.status == Status::Failed
            || o.reason
                .as_deref()
                .is_some_and(|r| r.ends_with("which failed"))
    }) {
        if outcomes.iter().any(|o| o.status == Status::Done) {
            Status::Partial
        } else {
            Status::Failed
        }
    } else {
        Status::Done
    }
}

/// Everything the report is built from.
pub struct ReportInput<'a> {
    pub v: &'a Validated,
    pub action: Action,
    pub request_id: &'a str,
    pub deadline: &'a Deadline,
    pub operator: Option<String>,
    pub subject: SubjectRef,
    pub signature: SignatureRef,
    pub started: String,
    pub completed: jiff::Timestamp,
    pub outcomes: &'a [StepOutcome],
    pub changes: &'a BTreeMap<CollectionId, Changes>,
    pub files: &'a [FileEntry],
}

fn sum_opt(values: impl Iterator<Item = Option<u64>>) -> Option<u64> {
    values.fold(None, |acc, v| match (acc, v) {
        (None, None) => None,
        (a, b) => Some(a.unwrap_or(0) + b.unwrap_or(0)),
    })
}

fn collection_report(
    v: &Validated,
    action: Action,
    o: &StepOutcome,
    changes: Option<&Changes>,
    files: &[FileEntry],
) -> CollectionReport {
    let stem = format!("{}/{}.", safe_name(&o.system), safe_name(&o.collection));
    let id = CollectionId {
        system: o.system.clone(),
        collection: o.collection.clone(),
    };
    let erase = v.collection(&id).and_then(|c| c.erase.clone());
    let (strategy, masked_fields, because) = match erase {
        None => (None, BTreeMap::new(), None),
        Some(EraseStrategy::Delete) => (Some("delete"), BTreeMap::new(), None),
        Some(EraseStrategy::Mask { fields, because }) => (Some("mask"), fields, because),
        Some(EraseStrategy::Keep { because }) => (Some("keep"), BTreeMap::new(), Some(because)),
    };
    let files: Vec<FileEntry> = files
        .iter()
        .filter(|f| f.path.starts_with(&stem))
        .cloned()
        .collect();
    let changes = changes.cloned().unwrap_or_default();
    CollectionReport {
        collection: o.collection.clone(),
        status: o.status,
        reason: o.reason.clone(),
        strategy,
        masked_fields,
        because,
        records_found: o.records,
        records_exported: (action == Action::Export).then(|| {
            if o.status == Status::Done {
                o.records
            } else {
                0
            }
        }),
        changed: (action != Action::Export).then_some(CollectionChanged {
            records_deleted: changes.deleted,
            records_masked: changes.masked,
            records_kept: changes.kept,
            records_updated: changes.updated,
            verified_erased: changes.verified_erased,
        }),
        errors: match (&o.status, &o.reason) {
            (Status::Failed, Some(r)) => vec![r.clone()],
            _ => Vec::new(),
        },
        notes: changes.notes.clone(),
        attempts: o.attempts,
        started: o.started.clone(),
        finished: o.finished.clone(),
        duration_ms: o.duration_ms,
        files,
    }
}

pub fn build(input: ReportInput<'_>) -> Report {
    let v = input.v;
    // A step whose write phase failed counts as failed, with the write error as its reason.
    let effective: Vec<StepOutcome> = input
        .outcomes
        .iter()
        .map(|o| {
            let id = CollectionId {
                system: o.system.clone(),
                collection: o.collection.clone(),
            };
            match input.changes.get(&id).and_then(|c| c.error.clone()) {
                Some(error) => StepOutcome {
                    status: Status::Failed,
                    reason: Some(error),
                    ..o.clone()
                },
                None => o.clone(),
            }
        })
        .collect();
    let input = ReportInput {
        outcomes: &effective,
        ..input
    };
    let systems = v
        .systems
        .values()
        .map(|sys| {
            let steps: Vec<&StepOutcome> = input
                .outcomes
                .iter()
                .filter(|o| o.system == sys.name)
                .collect();
            let collections: Vec<CollectionReport> = steps
                .iter()
                .map(|o| {
                    let id = CollectionId {
                        system: o.system.clone(),
                        collection: o.collection.clone(),
                    };
                    collection_report(v, input.action, o, input.changes.get(&id), input.files)
                })
                .collect();
            SystemReport {
                name: sys.name.clone(),
                connector: sys.kind.name(),
                status: system_status(steps.iter().copied()),
                records_found: collections.iter().map(|c| c.records_found).sum(),
                records_exported: sum_opt(collections.iter().map(|c| c.records_exported)),
                changed: (input.action != Action::Export).then(|| {
                    let changed = || collections.iter().filter_map(|c| c.changed.as_ref());
                    SystemChanged {
                        records_deleted: sum_opt(changed().map(|c| c.records_deleted)),
                        records_masked: sum_opt(changed().map(|c| c.records_masked)),
                        records_kept: sum_opt(changed().map(|c| c.records_kept)),
                    }
                }),
                errors: collections
                    .iter()
                    .flat_map(|c| c.errors.iter().map(|e| format!("{}: {e}", c.collection)))
                    .collect(),
                started: steps.iter().filter_map(|o| o.started.clone()).min(),
                finished: steps.iter().filter_map(|o| o.finished.clone()).max(),
                duration_ms: steps.iter().map(|o| o.duration_ms).max().unwrap_or(0),
                collections,
            }
        })
        .collect();
    let completed = input.completed;
    // The request started when its first step did, if that was before this run began (a
    // resumed request reuses steps read by an earlier run).
    let first_step = input
        .outcomes
        .iter()
        .filter_map(|o| o.started.as_deref()?.parse::<jiff::Timestamp>().ok())
        .min();
    let started = [input.started.parse::<jiff::Timestamp>().ok(), first_step]
        .into_iter()
        .flatten()
        .min()
        .map(stamp)
        .unwrap_or_else(|| input.started.clone());
    Report {
        format: FORMAT,
        tool: Tool {
            name: "dsr",
            version: env!("CARGO_PKG_VERSION"),
        },
        request_id: input.request_id.to_string(),
        action: input.action,
        regulation: input.deadline.policy.name.clone(),
        received: stamp(input.deadline.received.at),
        started,
        completed: stamp(completed),
        due: stamp(input.deadline.due),
        deadline_met: input.deadline.met_by(completed),
        extension_reason: input.deadline.extension_reason.clone(),
        operator: input.operator,
        organisation: v.loaded.playbook.organisation.clone(),
        playbook: PlaybookRef {
            path: v.loaded.display_path(),
            sha256: v.loaded.sha256.clone(),
        },
        subject: input.subject,
        signature: input.signature,
        outcome: overall(input.outcomes),
        systems,
        files: input.files.to_vec(),
    }
}

/// Sorts every object's keys, recursively (bytewise on UTF-8, which for the ASCII keys dsr
/// writes equals RFC 8785's UTF-16 order).
pub fn canonicalize(value: Value) -> Value {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<(String, Value)> = map.into_iter().collect();
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            Value::Object(
                entries
                    .into_iter()
                    .map(|(k, v)| (k, canonicalize(v)))
                    .collect(),
            )
        }
        Value::Array(items) => Value::Array(items.into_iter().map(canonicalize).collect()),
        other => other,
    }
}

/// Canonical JSON bytes: sorted keys, no insignificant whitespace.
pub fn canonical_json(value: &impl Serialize) -> Result<Vec<u8>, serde_json::Error> {
    serde_json::to_vec(&canonicalize(serde_json::to_value(value)?))
}

fn or_dash(v: Option<u64>) -> String {
    v.map(|n| n.to_string()).unwrap_or_else(|| "—".into())
}

fn yes_no(v: Option<bool>) -> String {
    match v {
        Some(true) => "yes".into(),
        Some(false) => "NO".into(),
        None => "—".into(),
    }
}

/// A count column of the systems table.
type Column = (&'static str, fn(&CollectionReport) -> String);

/// The count columns that mean something for the action: an export's table has no erase
/// counts, an erase's no export count, and both changing actions show their verification.
fn count_columns(action: Action) -> &'static [Column] {
    fn changed<T>(c: &CollectionReport, f: impl Fn(&CollectionChanged) -> T) -> Option<T> {
        c.changed.as_ref().map(f)
    }
    match action {
        Action::Export => &[("exported", |c| or_dash(c.records_exported))],
        Action::Erase => &[
            ("deleted", |c| {
                or_dash(changed(c, |x| x.records_deleted).flatten())
            }),
            ("masked", |c| {
                or_dash(changed(c, |x| x.records_masked).flatten())
            }),
            ("kept", |c| {
                or_dash(changed(c, |x| x.records_kept).flatten())
            }),
            ("verified", |c| {
                yes_no(changed(c, |x| x.verified_erased).flatten())
            }),
        ],
        Action::Correct => &[
            ("updated", |c| {
                or_dash(changed(c, |x| x.records_updated).flatten())
            }),
            ("verified", |c| {
                yes_no(changed(c, |x| x.verified_erased).flatten())
            }),
        ],
    }
}

/// `report.md`: the same report for people.
pub fn markdown(r: &Report) -> String {
    let mut m = String::new();
    let _ = writeln!(
        m,
        "# {} request {}\n",
        capitalised(r.action.name()),
        r.request_id
    );
    let _ = writeln!(m, "| | |\n|---|---|");
    let rows: [(&str, String); 12] = [
        ("Organisation", r.organisation.clone()),
        ("Outcome", r.outcome.name().to_string()),
        ("Regulation", r.regulation.clone()),
        ("Received", r.received.clone()),
        ("Completed", r.completed.clone()),
        ("Due", r.due.clone()),
        (
            "Deadline met",
            if r.deadline_met { "yes" } else { "NO" }.to_string(),
        ),
        (
            "Extension",
            r.extension_reason
                .clone()
                .unwrap_or_else(|| "none".to_string()),
        ),
        (
            "Operator",
            r.operator.clone().unwrap_or_else(|| {
                "not recorded (name who runs requests with --operator or DSR_OPERATOR)".into()
            }),
        ),
        ("Subject", r.subject.hash.clone()),
        (
            "Playbook",
            format!("{} (sha256 {})", r.playbook.path, r.playbook.sha256),
        ),
        (
            "Signed by",
            format!("{} ({})", r.signature.signer, r.signature.key_fingerprint),
        ),
    ];
    for (k, v) in rows {
        let _ = writeln!(m, "| {k} | {} |", v.replace('|', "\\|"));
    }
    let _ = writeln!(m, "\n## Systems\n");
    let columns = count_columns(r.action);
    let names: String = columns
        .iter()
        .map(|(name, _)| format!(" {name} |"))
        .collect();
    let aligns = "---:|".repeat(columns.len());
    let _ = writeln!(
        m,
        "| system | collection | outcome | found |{names} strategy | time |\n|---|---|---|---:|{aligns}---|---:|"
    );
    for s in &r.systems {
        for c in &s.collections {
            let outcome = match &c.reason {
                Some(reason) => format!("{}: {reason}", c.status.name()),
                None => c.status.name().to_string(),
            };
            let strategy = match (&c.strategy, &c.because) {
                (Some(st), Some(b)) => format!("{st} — {b}"),
                (Some(st), None) => st.to_string(),
                (None, _) => "—".into(),
            };
            let counts: String = columns
                .iter()
                .map(|(_, f)| format!(" {} |", f(c)))
                .collect();
            let _ = writeln!(
                m,
                "| {} | {} | {} | {} |{counts} {} | {} ms |",
                s.name,
                c.collection,
                outcome.replace('|', "\\|"),
                c.records_found,
                strategy.replace('|', "\\|"),
                c.duration_ms
            );
        }
    }
    let notes: Vec<String> = r
        .systems
        .iter()
        .flat_map(|s| {
            s.collections.iter().flat_map(move |c| {
                c.notes
                    .iter()
                    .map(move |n| format!("- {}.{}: {n}", s.name, c.collection))
            })
        })
        .collect();
    if !notes.is_empty() {
        let _ = writeln!(m, "\n## What the systems reported\n\n{}", notes.join("\n"));
    }
    // An erase writes no data files: no heading over an empty list.
    if !r.files.is_empty() {
        let _ = writeln!(m, "\n## Files\n");
    }
    for f in &r.files {
        let _ = writeln!(
            m,
            "- `{}` — {} bytes, sha256 `{}`",
            f.path, f.bytes, f.sha256
        );
    }
    let _ = writeln!(
        m,
        "\n`report.json` holds this report as signed data; `report.json.sig` is its SSH signature \
(namespace `{}`). Check both with `dsr verify report.json`, or without dsr:\n\n\
```sh\nssh-keygen -Y verify -f allowed_signers -I {} -n {} -s report.json.sig < report.json\n```",
        r.signature.namespace, r.signature.signer, r.signature.namespace
    );
    m
}

fn capitalised(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

/// `manifest.json`: every file of the bundle with its size and SHA-256.
#[derive(Debug, Serialize, serde::Deserialize)]
pub struct Manifest {
    pub format: String,
    pub request_id: String,
    pub files: Vec<FileEntry>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_json_sorts_keys_and_drops_whitespace() {
        let v = serde_json::json!({"b": 1, "a": {"z": [ {"y": 1, "x": 2} ], "c": null}});
        assert_eq!(
            String::from_utf8(canonical_json(&v).unwrap()).unwrap(),
            r#"{"a":{"c":null,"z":[{"x":2,"y":1}]},"b":1}"#
        );
    }

    #[test]
    fn optional_counts_sum_only_when_present() {
        assert_eq!(sum_opt([None, None].into_iter()), None);
        assert_eq!(sum_opt([Some(2), None, Some(3)].into_iter()), Some(5));
    }
}
