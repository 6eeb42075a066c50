//! What happened to each step and each system: done, failed, or skipped with a reason.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Done,
    Partial,
    Failed,
    Skipped,
    /// A manual step no one has confirmed yet.
    Waiting,
}

impl Status {
    pub fn name(self) -> &'static str {
        match self {
            Status::Done => "done",
            Status::Partial => "partial",
            Status::Failed => "failed",
            Status::Skipped => "skipped",
            Status::Waiting => "waiting",
        }
    }
}

/// The result of one step (one collection).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StepOutcome {
    pub system: String,
    pub collection: String,
    pub status: Status,
    pub records: u64,
    /// Calls made, retries included.
    pub attempts: u32,
    /// RFC 3339 start and end, and the duration in milliseconds.
    pub started: Option<String>,
    pub finished: Option<String>,
    pub duration_ms: u64,
    /// Why it was skipped, or what failed (never personal data or secrets).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// Rolls step outcomes up to one status for a system.
pub fn system_status<'a>(steps: impl IntoIterator<Item = &'a StepOutcome>) -> Status {
    let statuses: Vec<Status> = steps.into_iter().map(|s| s.status).collect();
    let failed = statuses.iter().filter(|s| **s == Status::Failed).count();
    let done = statuses.iter().filter(|s| **s == Status::Done).count();
    let waiting = statuses.contains(&Status::Waiting);
    if failed == 0 && waiting {
        return Status::Waiting;
    }
    if failed > 0 && done > 0 {
        Status::Partial
    } else if failed > 0 {
        Status::Failed
    } else if done > 0 {
        Status::Done
    } else {
        Status::Skipped
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(status: Status) -> StepOutcome {
        StepOutcome {
            system: "s".into(),
            collection: "c".into(),
            status,
            records: 0,
            attempts: 1,
            started: None,
            finished: None,
            duration_ms: 0,
            reason: None,
        }
    }

    #[test]
    fn rolls_up_system_status() {
        assert_eq!(
            system_status(&[step(Status::Done), step(Status::Skipped)]),
            Status::Done
        );
        assert_eq!(
            system_status(&[step(Status::Done), step(Status::Failed)]),
            Status::Partial
        );
        assert_eq!(
            system_status(&[step(Status::Failed), step(Status::Skipped)]),
            Status::Failed
        );
        assert_eq!(system_status(&[step(Status::Skipped)]), Status::Skipped);
    }
}
