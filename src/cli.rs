//! The command line, declared in one place. Long doc comments are the `--help` text.

use crate::plan::Action;
use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

/// Answer data-subject requests — export, correct, erase — across every system that holds
/// customer data, driven by a YAML playbook.
///
/// Exit codes: 0 done; 1 partial (some systems failed, the summary and report say which);
/// 2 bad input or usage (nothing was run).
#[derive(Debug, Parser)]
#[command(name = "dsr", version, propagate_version = true, max_term_width = 100)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    #[command(flatten)]
    pub global: Global,
}

#[derive(Debug, Args)]
pub struct Global {
    /// The playbook to use [default: ./dsr.yaml]
    #[arg(long, global = true, env = "DSR_PLAYBOOK", value_name = "FILE")]
    pub playbook: Option<PathBuf>,

    /// Where dsr keeps its ledger, journal and keys [default: $XDG_STATE_HOME/dsr or ~/.local/state/dsr]
    #[arg(long, global = true, env = "DSR_STATE_DIR", value_name = "DIR")]
    pub state_dir: Option<PathBuf>,

    /// Print machine-readable JSON on stdout instead of tables
    #[arg(long, global = true)]
    pub json: bool,

    /// How many calls may run at once across all systems
    #[arg(long, global = true, env = "DSR_CONCURRENCY", default_value_t = 8, value_name = "N",
          value_parser = clap::value_parser!(u16).range(1..))]
    pub concurrency: u16,

    /// Do not show progress spinners (they are hidden anyway when stderr is not a terminal)
    #[arg(long, global = true)]
    pub no_progress: bool,

    /// More log output on stderr (-v info, -vv debug). Logs never contain personal data.
    #[arg(short, long, global = true, action = clap::ArgAction::Count, conflicts_with = "quiet")]
    pub verbose: u8,

    /// Print only errors and the essential result
    #[arg(short, long, global = true)]
    pub quiet: bool,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check a playbook: schema, references, the identity graph, secrets' availability.
    ///
    /// Prints a table of systems and collections and exits 0, or lists every error with its
    /// file, line, column and field path and exits 2.
    ///
    /// Example: dsr validate playbooks/demo.yaml
    Validate {
        /// The playbook (overrides --playbook)
        #[arg(value_name = "PLAYBOOK")]
        file: Option<PathBuf>,
    },

    /// Show the ordered steps a request would run, touching nothing.
    ///
    /// Steps in the same wave run at once; a step waits for the steps whose `provides` it
    /// matches on.
    ///
    /// Example: dsr plan export alice@example.com --playbook playbooks/demo.yaml
    Plan {
        /// export, correct or erase
        action: Action,
        #[command(flatten)]
        subject: Subject,
    },

    /// Export everything held about one person into a bundle (GDPR Art. 15 and 20).
    ///
    /// Writes per system and collection a JSON and a CSV file, `index.html` explaining the
    /// data in plain language, `report.json` with each system's outcome, and `manifest.json`
    /// with every file's SHA-256.
    ///
    /// Example: dsr export alice@example.com --playbook playbooks/demo.yaml --out alice-export
    Export {
        #[command(flatten)]
        subject: Subject,
        /// Bundle directory [default: ./dsr-export-<request-id>]; must be new or empty
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
    },

    /// Erase everything held about one person (GDPR Art. 17).
    ///
    /// Reads first (every record the identity graph reaches, by key), shows what will be
    /// deleted, masked or kept and why, asks for confirmation, then changes each system in one
    /// transaction, children before parents, and verifies every change by reading it back.
    /// Each step is journaled: if the run stops, run the same command again (or `dsr resume`)
    /// to continue where it stopped.
    ///
    /// Example: dsr erase alice@example.com --playbook playbooks/demo.yaml --dry-run
    Erase {
        #[command(flatten)]
        subject: Subject,
        #[command(flatten)]
        change: ChangeOptions,
    },

    /// Correct data held about one person (GDPR Art. 16).
    ///
    /// TARGET is `system.collection.column`, a data category (every field with it), or
    /// `identity.KIND` (every column that matches on that identity: an email change reaches
    /// every system keyed by email). Shows current → new values on a terminal, asks, applies
    /// one transaction per system, verifies.
    ///
    /// Example: dsr correct alice@example.com --set identity.email=alice@new.example --playbook playbooks/demo.yaml
    Correct {
        #[command(flatten)]
        subject: Subject,
        /// TARGET=VALUE (repeatable)
        #[arg(long = "set", value_name = "TARGET=VALUE", required = true)]
        sets: Vec<String>,
        #[command(flatten)]
        change: ChangeOptions,
    },

    /// Find the personal data in a database and write a draft playbook for it.
    ///
    /// Reads the catalog (tables, columns, types, primary and foreign keys) of a PostgreSQL
    /// schema, a MySQL/MariaDB database or a SQLite file, recognises personal data by column
    /// name, type and the shape of a few sampled values (which are never printed or written),
    /// and follows foreign keys from tables with an email column to everything that belongs
    /// to a person. The draft validates as it is, but its purpose, legal basis and retention
    /// are TODOs for you to decide. Its url is `${env:VAR}`; the VAR to set is printed.
    ///
    /// With --diff, compares the database with an existing playbook instead: lists personal
    /// data the playbook does not cover and what it names that no longer exists, and exits 1
    /// when there is any (for a nightly CI job), 0 when everything is covered.
    ///
    /// Example: dsr discover postgres://app@db.internal/shop --schema public --out shop.yaml
    ///
    /// Example: dsr discover --diff dsr.yaml '${env:SHOP_DB_URL}'
    Discover(DiscoverArgs),

    /// The playbook as a record of processing activities (GDPR Art. 30).
    ///
    /// Per system: the categories of data, purposes, legal basis, recipients, retention, how
    /// erasure works and the exceptions to it (data kept or masked, and why). As Markdown, a
    /// self-contained HTML page, or CSV (one row per collection).
    ///
    /// Example: dsr map playbooks/demo.yaml --format html --out processing.html
    Map {
        /// The playbook (overrides --playbook)
        #[arg(value_name = "PLAYBOOK")]
        file: Option<PathBuf>,
        /// Output format
        #[arg(long, value_enum, default_value_t = MapFormat::Md)]
        format: MapFormat,
        /// Write to FILE instead of stdout (an existing file is replaced)
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },

    /// Continue an erase or correction that stopped (killed, interrupted, or a system failed).
    ///
    /// Finished steps are not redone; systems already changed and verified are not touched.
    ///
    /// Example: dsr resume 019a4f3e-7c2d-7b1a-9a44-5f0c2d1e8b77 --playbook playbooks/demo.yaml --yes
    Resume {
        /// The request id printed when the request started
        id: String,
        /// Do not ask for confirmation
        #[arg(long, short = 'y')]
        yes: bool,
    },
}

/// Options shared by erase and correct.
#[derive(Debug, Args)]
pub struct ChangeOptions {
    /// Do not ask for confirmation (required when there is no terminal)
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// Read and show exactly what would change; change nothing
    #[arg(long, conflicts_with = "yes")]
    pub dry_run: bool,
    /// Where to write the report [default: ./dsr-<action>-<request-id>]
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
}

/// Who the request is about.
#[derive(Debug, Args)]
pub struct Subject {
    /// The person's email address (or KIND=VALUE, e.g. user_id=42)
    #[arg(value_name = "IDENTITY")]
    pub identity: Option<String>,
    /// Another identity as KIND=VALUE (repeatable), e.g. --id phone=+441234567890
    #[arg(long = "id", value_name = "KIND=VALUE")]
    pub ids: Vec<String>,
}

/// `dsr discover`'s arguments.
#[derive(Debug, Args)]
pub struct DiscoverArgs {
    /// The database: postgres://…, mysql://… or mariadb://…, sqlite:PATH. Write
    /// '${env:VAR}' to read it from a variable (it stays out of shell history and `ps`)
    #[arg(value_name = "URL")]
    pub url: String,
    /// Schema (PostgreSQL) or database (MySQL) to read [default: the connection's own]
    #[arg(long, value_name = "S")]
    pub schema: Option<String>,
    /// Values to sample per text column to recognise emails, phone numbers, IP addresses and
    /// card numbers; 0 reads no data at all
    #[arg(long, value_name = "N", default_value_t = 100)]
    pub sample: u32,
    /// Write the draft to FILE (must not exist) instead of stdout
    #[arg(long, value_name = "FILE", conflicts_with = "diff")]
    pub out: Option<PathBuf>,
    /// Compare the database with this playbook instead of writing a draft
    #[arg(long, value_name = "PLAYBOOK")]
    pub diff: Option<PathBuf>,
    /// With --diff: the playbook's system that is this database [default: the one whose url
    /// resolves to URL, or the only one of its kind]
    #[arg(long, value_name = "NAME", requires = "diff")]
    pub system: Option<String>,
}

/// Formats of `dsr map`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum MapFormat {
    /// Markdown
    Md,
    /// A self-contained HTML page
    Html,
    /// CSV, one row per collection
    Csv,
}
