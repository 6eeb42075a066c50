//! Integration tests: every test runs the real `dsr` binary.
//!
//! Database tests use the real PostgreSQL and MariaDB named by `DSR_TEST_PG_URL` and
//! `DSR_TEST_MYSQL_URL` (defaults: the local servers). Each test creates and drops its own
//! schema or database. A server that is down fails the test with a message saying how to
//! start it; nothing is skipped silently. Redis tests use `DSR_TEST_REDIS_URL` and a key prefix
//! of their own. Object storage tests start moto (an S3-compatible server) themselves.

mod bad_inputs;
mod batch;
mod cli;
mod completions;
mod databases;
mod discover;
mod due;
mod erase;
mod evidence;
mod exit_codes;
mod export_sqlite;
mod fakes;
mod faults;
mod files;
mod fuzz_corpus;
mod graph_property;
mod http;
mod hygiene;
mod identity_graph;
mod index_page;
mod init;
mod install;
mod json;
mod ledger;
mod map;
mod masks;
mod opendsr;
mod redis;
mod s3;
mod saas;
mod schema;
mod snapshots_human;
mod stores_example;
mod support;
mod terminal;
mod validate;
mod webhook;
