//! Integration tests: every test runs the real `dsr` binary.
//!
//! Database tests use the real PostgreSQL and MariaDB named by `DSR_TEST_PG_URL` and
//! `DSR_TEST_MYSQL_URL` (defaults: the local servers). Each test creates and drops its own
//! schema or database. A server that is down fails the test with a message saying how to
//! start it; nothing is skipped silently.

mod bad_inputs;
mod cli;
mod databases;
mod erase;
mod evidence;
mod export_sqlite;
mod faults;
mod fuzz_corpus;
mod hygiene;
mod support;
mod validate;
