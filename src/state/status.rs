//! What the state stores by name: the status of a journaled request and of a system's writes,
//! and a request's action. Each reads back with `FromStr` from the same text it is stored as,
//! so state written before keeps reading.

use crate::plan::Action;
use std::fmt;
use std::str::FromStr;

/// Text the state stores that this dsr does not know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {what} '{text}'")]
pub struct UnknownText {
    pub what: &'static str,
    pub text: String,
}

/// Where a journaled request stands, stored as its name (`running`, `done`, …).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JournalStatus {
    /// Started and not finished: it can be resumed.
    Running,
    Done,
    /// The operator said no to the changes.
    Cancelled,
    /// Closed by hand (`dsr requests close`).
    Closed,
}

impl JournalStatus {
    pub const fn name(self) -> &'static str {
        match self {
            JournalStatus::Running => "running",
            JournalStatus::Done => "done",
            JournalStatus::Cancelled => "cancelled",
            JournalStatus::Closed => "closed",
        }
    }
}

/// Where one system's write phase stands, stored as its name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteStatus {
    /// The changes are committed, not yet verified.
    Written,
    /// The changes were looked up again and are in effect (or there were none).
    Verified,
    /// The write or its verification failed.
    Failed,
}

impl WriteStatus {
    pub const fn name(self) -> &'static str {
        match self {
            WriteStatus::Written => "written",
            WriteStatus::Verified => "verified",
            WriteStatus::Failed => "failed",
        }
    }
}

/// `Display` and `FromStr` of a status the journal stores by name.
macro_rules! stored_by_name {
    ($type:ident, $what:literal, [$($variant:ident),+]) => {
        impl fmt::Display for $type {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.name())
            }
        }

        impl FromStr for $type {
            type Err = UnknownText;

            fn from_str(text: &str) -> Result<Self, Self::Err> {
                [$($type::$variant),+]
                    .into_iter()
                    .find(|s| s.name() == text)
                    .ok_or_else(|| UnknownText {
                        what: $what,
                        text: text.to_string(),
                    })
            }
        }
    };
}

stored_by_name!(
    JournalStatus,
    "journal status",
    [Running, Done, Cancelled, Closed]
);
stored_by_name!(WriteStatus, "write status", [Written, Verified, Failed]);

/// The queue, the journal and the ledger store an action by its name.
impl FromStr for Action {
    type Err = UnknownText;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Action::from_name(text).ok_or_else(|| UnknownText {
            what: "action",
            text: text.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_read_back_from_the_names_they_are_stored_as() {
        for s in [
            JournalStatus::Running,
            JournalStatus::Done,
            JournalStatus::Cancelled,
            JournalStatus::Closed,
        ] {
            assert_eq!(s.to_string().parse::<JournalStatus>(), Ok(s));
        }
        for s in [
            WriteStatus::Written,
            WriteStatus::Verified,
            WriteStatus::Failed,
        ] {
            assert_eq!(s.name().parse::<WriteStatus>(), Ok(s));
        }
        assert_eq!(JournalStatus::Closed.name(), crate::state::ledger::CLOSED);
        assert_eq!("erase".parse::<Action>(), Ok(Action::Erase));
        let e = "shred".parse::<Action>().unwrap_err();
        assert_eq!(e.to_string(), "unknown action 'shred'");
        assert!("paused".parse::<JournalStatus>().is_err());
    }
}
