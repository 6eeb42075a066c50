//! What dsr writes: the export bundle, the report, the person's index page, tables and
//! progress for people at a terminal.

pub mod bundle;
pub mod encrypt;
pub mod index;
pub mod labels;
pub mod map;
pub mod progress;
pub mod report;
pub mod sample;
pub mod tables;
