//! The run report (`report.json`): what was asked, what each system did, and the hashes of
//! what was written. It identifies no one: no identity values, no row data.

use super::bundle::FileEntry;
use crate::plan::{Action, Plan};
use crate::playbook::Validated;
use crate::run::outcome::system_status;
use crate::run::{Status, StepOutcome};
use serde::Serialize;

#[derive(Debug, Serialize)]
pub struct Report {
    pub format: &'static str,
    pub dsr_version: &'static str,
    pub request_id: String,
    pub action: Action,
    pub started: String,
    pub completed: String,
    pub organisation: String,
    pub playbook: PlaybookRef,
    /// Identity kinds the request gave (the values are not recorded).
    pub identity_kinds: Vec<String>,
    pub outcome: Status,
    pub systems: Vec<SystemReport>,
}

#[derive(Debug, Serialize)]
pub struct PlaybookRef {
    pub path: String,
    pub sha256: String,
}

#[derive(Debug, Serialize)]
pub struct SystemReport {
    pub name: String,
    pub connector: &'static str,
    pub status: Status,
    pub records: u64,
    pub collections: Vec<CollectionReport>,
}

#[derive(Debug, Serialize)]
pub struct CollectionReport {
    #[serde(flatten)]
    pub outcome: StepOutcome,
    pub files: Vec<FileEntry>,
}

/// The overall status: done only when every system is done or skipped for a reason that is not
/// a failure.
pub fn overall(outcomes: &[StepOutcome]) -> Status {
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

pub struct ReportInput<'a> {
    pub v: &'a Validated,
    pub plan: &'a Plan,
    pub request_id: &'a str,
    pub started: String,
    pub outcomes: &'a [StepOutcome],
    pub files: &'a [FileEntry],
}

pub fn build(input: ReportInput<'_>) -> Report {
    let v = input.v;
    let systems = v
        .systems
        .values()
        .map(|sys| {
            let steps: Vec<&StepOutcome> = input
                .outcomes
                .iter()
                .filter(|o| o.system == sys.name)
                .collect();
            SystemReport {
                name: sys.name.clone(),
                connector: sys.kind.name(),
                status: system_status(steps.iter().copied()),
                records: steps.iter().map(|o| o.records).sum(),
                collections: steps
                    .iter()
                    .map(|o| {
                        let stem = format!(
                            "{}/{}.",
                            super::bundle::safe_name(&o.system),
                            super::bundle::safe_name(&o.collection)
                        );
                        CollectionReport {
                            outcome: (*o).clone(),
                            files: input
                                .files
                                .iter()
                                .filter(|f| f.path.starts_with(&stem))
                                .cloned()
                                .collect(),
                        }
                    })
                    .collect(),
            }
        })
        .collect();
    Report {
        format: "dsr-report/1",
        dsr_version: env!("CARGO_PKG_VERSION"),
        request_id: input.request_id.to_string(),
        action: input.plan.action,
        started: input.started,
        completed: jiff::Timestamp::now().to_string(),
        organisation: v.loaded.playbook.organisation.clone(),
        playbook: PlaybookRef {
            path: v.loaded.display_path(),
            sha256: v.loaded.sha256.clone(),
        },
        identity_kinds: input.plan.identity_kinds.clone(),
        outcome: overall(input.outcomes),
        systems,
    }
}

/// `manifest.json`: every file of the bundle with its size and SHA-256.
#[derive(Debug, Serialize, serde::Deserialize)]
pub struct Manifest {
    pub format: String,
    pub request_id: String,
    pub files: Vec<FileEntry>,
}
