//! The command line, declared in one place. Long doc comments are the `--help` text.

use crate::plan::Action;
use clap::{Args, Parser, Subcommand};
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

    /// What connector kinds and SaaS definitions exist, and what each needs.
    ///
    /// SaaS systems are described by YAML definitions (see connectors/README.md); the shipped
    /// ones are named directly in a playbook's `connector:`.
    ///
    /// Example: dsr connectors show zendesk
    Connectors {
        #[command(subcommand)]
        command: ConnectorsCommand,
    },
}

/// `dsr connectors …`
#[derive(Debug, Subcommand)]
pub enum ConnectorsCommand {
    /// List the connector kinds and the shipped SaaS definitions.
    ///
    /// Example: dsr connectors list --json
    List,
    /// Show what a connector needs and can do: operations, auth, required config.
    ///
    /// NAME is a kind (`postgres`, `webhook`, ...), a shipped definition (`stripe`), or the
    /// path of a definition file, which is checked and reported with file:line errors.
    ///
    /// Example: dsr connectors show stripe
    Show {
        /// Connector kind, shipped definition name, or definition file (*.yaml)
        #[arg(value_name = "NAME")]
        name: String,
    },
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
