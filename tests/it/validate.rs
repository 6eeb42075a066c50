//! `dsr validate`.
