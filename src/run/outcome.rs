//! What happened to each step and each system: done, failed, or skipped with a reason.

use serde::{Deserialize, Serialize};
use std::fmt;

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

impl StepOutcome {
    /// Why the step was skipped, read back from its reason (`None` when it was not skipped).
    pub fn skip(&self) -> Option<Skip> {
        if self.status != Status::Skipped {
            return None;
        }
        Some(Skip::of(self.reason.as_deref().unwrap_or_default()))
    }

    /// Whether the step did not finish: it failed, or it never ran because Ctrl-C came first
    /// or a step it waits for did not finish. (A manual step that waits is neither.)
    pub fn unfinished(&self) -> bool {
        self.status == Status::Failed || self.skip().is_some_and(|s| s.blocks())
    }
}

/// The reason a manual step gives while it waits; what follows is its instructions.
pub const WAITING: &str = "waiting for a person: ";

/// Why a step that ran did not succeed. Its text is the step's `reason`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StepError {
    /// A manual step no one has confirmed yet, with the person's instructions.
    #[error("{}{}", WAITING, .0)]
    Waiting(String),
    /// The step failed: what went wrong (never personal data or secrets).
    #[error("{0}")]
    Failed(String),
}

impl From<String> for StepError {
    fn from(reason: String) -> Self {
        StepError::Failed(reason)
    }
}

impl From<crate::connectors::SinkError> for StepError {
    fn from(e: crate::connectors::SinkError) -> Self {
        StepError::Failed(e.to_string())
    }
}

impl From<crate::connectors::ConnectorError> for StepError {
    fn from(e: crate::connectors::ConnectorError) -> Self {
        StepError::Failed(e.to_string())
    }
}

/// Why a step was skipped. The journal and the report keep its text as the step's `reason`,
/// so [`Skip::of`] reads it back from there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Skip {
    /// The plan's reason: `needs …` (no value reached what it matches on), or a connector
    /// that cannot carry out the action.
    Plan(String),
    /// Ctrl-C came before the step started.
    Interrupted,
    /// A step it waits for (named) failed or did not finish.
    Upstream(String),
}

const INTERRUPTED: &str = "interrupted before it started";
const UPSTREAM: (&str, &str) = ("waits for ", ", which failed");
/// How the plan's reason begins when no value reached what the step matches on.
const NEEDS: &str = "needs ";

impl Skip {
    /// The skip a step's reason describes.
    pub fn of(reason: &str) -> Skip {
        if reason.starts_with("interrupted") {
            Skip::Interrupted
        } else if let Some(rest) = reason.strip_prefix(UPSTREAM.0.trim_end()) {
            let rest = rest.trim_start();
            Skip::Upstream(rest.strip_suffix(UPSTREAM.1).unwrap_or(rest).to_string())
        } else {
            Skip::Plan(reason.to_string())
        }
    }

    /// Whether the steps that wait for this one cannot run either: its upstream did not
    /// finish. A step the plan skips is no failure: steps waiting on it run with what the
    /// others provide.
    pub fn blocks(&self) -> bool {
        matches!(self, Skip::Interrupted | Skip::Upstream(_))
    }

    /// Whether a resumed run can keep this skip as it was: the plan found no value to match
    /// on, and a resumed run has the same identities.
    pub fn lacks_input(&self) -> bool {
        matches!(self, Skip::Plan(r) if r.starts_with(NEEDS))
    }
}

impl fmt::Display for Skip {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Skip::Plan(reason) => f.write_str(reason),
            Skip::Interrupted => f.write_str(INTERRUPTED),
            Skip::Upstream(step) => write!(f, "{}{step}{}", UPSTREAM.0, UPSTREAM.1),
        }
    }
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

    #[test]
    fn skips_read_back_from_their_reason() {
        for skip in [
            Skip::Interrupted,
            Skip::Upstream("crm.users".into()),
            Skip::Plan("needs identity.email (not given)".into()),
            Skip::Plan("the manual connector cannot export".into()),
        ] {
            assert_eq!(Skip::of(&skip.to_string()), skip);
        }
        assert_eq!(
            Skip::Upstream("crm.users".into()).to_string(),
            "waits for crm.users, which failed"
        );
        assert!(Skip::of("waits for a.b, which failed").blocks());
        assert!(Skip::of("interrupted before it started").blocks());
        assert!(!Skip::of("needs identity.email (not given)").blocks());
        assert!(Skip::of("needs identity.email (not given)").lacks_input());
        assert!(!Skip::of("the manual connector cannot export").lacks_input());
        let mut o = step(Status::Skipped);
        o.reason = Some(Skip::Interrupted.to_string());
        assert!(o.unfinished());
        o.status = Status::Done;
        assert!(o.skip().is_none() && !o.unfinished());
    }

    #[test]
    fn a_waiting_step_says_so_before_its_instructions() {
        let e = StepError::Waiting("call the warehouse".into());
        assert_eq!(e.to_string(), "waiting for a person: call the warehouse");
        assert_eq!(StepError::Failed("down".into()).to_string(), "down");
    }
}
