//! Exit codes and the error a user can fix by changing what they typed.

use std::fmt;

/// dsr's documented exit codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Every system answered.
    Done = 0,
    /// Some systems failed; the report says which.
    Partial = 1,
    /// Bad input or usage: nothing was run.
    BadInput = 2,
    /// Ctrl-C (SIGINT) stopped the request before it changed anything; it can be resumed.
    Interrupted = 130,
}

/// A mistake in the command line or its inputs; exits 2 and ends with a hint.
#[derive(Debug)]
pub struct UsageError {
    pub message: String,
    pub hint: Option<String>,
}

impl UsageError {
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            hint: None,
        }
    }

    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }
}

impl fmt::Display for UsageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)?;
        if let Some(h) = &self.hint {
            write!(f, "\n  hint: {h}")?;
        }
        Ok(())
    }
}

impl std::error::Error for UsageError {}
