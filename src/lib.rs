//! dsr answers data-subject requests across every system that holds customer data.
//!
//! The path a request takes:
//!
//! 1. [`playbook`] loads the YAML playbook, resolves `${env:…}` secrets by reference and
//!    checks the rules every playbook follows; [`connectors::configure`] adds each connector
//!    kind's checks of its own keys, with file/line/column for every problem.
//! 2. [`identity`] turns the command line into the request's starting identities.
//! 3. [`plan`] turns playbook + request into an ordered DAG of steps (pure, no I/O).
//! 4. [`run`] executes the DAG concurrently through [`connectors`], within limits, with
//!    retries on transient errors, one system's failure never stopping the others.
//! 5. [`output`] writes the export bundle (streamed) and the person's index page.
//! 6. [`evidence`] records the request from receipt (its [`deadline`], a [`state`] ledger row,
//!    [`audit`] events) to completion: the canonical report, signed by [`signing`], naming the
//!    person only by a [`subject`] hash.
//!
//! [`export`] and [`erase`] (erase and correct) each run one request along that path, with no
//! prompting and no printing; [`commands`] and [`cli`] add what a person at a terminal needs,
//! and [`batch`] reads the subjects of many requests from a file.
//!
//! Around requests: [`discover`] reads database catalogs to draft playbooks and to check that
//! a playbook still covers every column with personal data; `output::map` writes a playbook as
//! a record of processing activities.

pub mod audit;
pub mod batch;
pub mod cli;
pub mod commands;
pub mod connectors;
pub mod deadline;
pub mod discover;
pub mod erase;
pub mod error;
pub mod evidence;
pub mod export;
#[doc(hidden)]
pub mod fuzzing;
pub mod identity;
pub mod live;
pub mod output;
pub mod plan;
pub mod playbook;
pub mod run;
pub mod signing;
pub mod state;
pub mod subject;
pub mod timestamp;
