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
// The version names the git commit it was built from when there was one (see build.rs).
#[command(
    name = "dsr",
    version = env!("DSR_VERSION"),
    propagate_version = true,
    max_term_width = 100
)]
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

    /// Where dsr keeps its keys, audit log and (without --ledger) its ledger and journal [default: $XDG_STATE_HOME/dsr or ~/.local/state/dsr]
    #[arg(long, global = true, env = "DSR_STATE_DIR", value_name = "DIR")]
    pub state_dir: Option<PathBuf>,

    /// A shared ledger on PostgreSQL (postgres://USER@HOST/DB?schema=NAME, default schema
    /// dsr) instead of the embedded one in the state directory; overrides the playbook's
    /// `ledger:`. Its password is never printed
    #[arg(
        long,
        global = true,
        env = "DSR_LEDGER",
        hide_env_values = true,
        value_name = "URL"
    )]
    pub ledger: Option<String>,

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

/// How `dsr run-due` and `dsr worker` take requests from the queue.
#[derive(Debug, Clone, clap::Args)]
pub struct QueueArgs {
    /// How long a claim holds unless renewed; renewed every third of it while the request
    /// runs. A dead worker's requests are taken over after this
    #[arg(long, default_value = "5m", value_name = "DURATION", value_parser = parse_lease)]
    pub lease: std::time::Duration,
    /// How many requests this process runs at once
    #[arg(long, default_value_t = 1, value_name = "N",
          value_parser = clap::value_parser!(u16).range(1..=256))]
    pub jobs: u16,
}

/// `500ms`, `30s`, `5m`, `1h`.
fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    let s = s.trim();
    match s.strip_suffix('h').and_then(|h| h.parse::<u64>().ok()) {
        Some(h) if h > 0 => Some(std::time::Duration::from_secs(h * 3600)),
        _ => crate::playbook::check::parse_duration(s),
    }
    .ok_or_else(|| format!("'{s}' is not a duration; write e.g. 500ms, 30s, 5m or 1h"))
}

/// A lease: a duration of at least 3 seconds (it is renewed every third of it, in seconds).
fn parse_lease(s: &str) -> Result<std::time::Duration, String> {
    let d = parse_duration(s)?;
    if d < std::time::Duration::from_secs(3) {
        return Err(format!("'{s}' is too short for a lease; give at least 3s"));
    }
    Ok(d)
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check a playbook: schema, references, the identity graph, secrets' availability.
    ///
    /// Prints a table of systems and collections and exits 0, or lists every error with its
    /// file, line, column and field path and exits 2. With --connect it also reads each
    /// system's catalog: missing tables or columns, and erase strategies that cannot apply
    /// (a view, a table without a primary key or `key:`), are errors too.
    ///
    /// Example: dsr validate playbooks/demo.yaml
    Validate {
        /// The playbook (overrides --playbook)
        #[arg(value_name = "PLAYBOOK")]
        file: Option<PathBuf>,
        /// Also connect to every system: tables and columns exist, erase strategies can apply
        #[arg(long)]
        connect: bool,
    },

    /// Show the ordered steps a request would run, touching nothing.
    ///
    /// Steps in the same wave run at once; a step waits for the steps whose `provides` it
    /// matches on. For erase, each step shows the collection's erase strategy (delete, the
    /// masked columns and how, or keep and why); for correct with --set, the columns it sets.
    ///
    /// Example: dsr plan export alice@example.com --playbook playbooks/demo.yaml
    ///
    /// Example: dsr plan correct alice@example.com --set identity.email=alice@new.example --playbook playbooks/demo.yaml
    Plan {
        /// export, correct or erase
        action: Action,
        #[command(flatten)]
        subject: Subject,
        /// For correct: TARGET=VALUE (repeatable), to show which columns each step sets
        #[arg(long = "set", value_name = "TARGET=VALUE")]
        sets: Vec<String>,
    },

    /// Export everything held about one person into a bundle (GDPR Art. 15 and 20).
    ///
    /// Writes per system and collection a JSON and a CSV file, `index.html` explaining the
    /// data in plain language, `report.json` (canonical, signed as `report.json.sig`) and
    /// `report.md` with each system's outcome and the deadline, and `manifest.json` with every
    /// file's SHA-256. Records the request in the ledger and the audit log.
    ///
    /// Example: dsr export alice@example.com --playbook playbooks/demo.yaml --out alice-export
    Export {
        #[command(flatten)]
        subject: Subject,
        /// Bundle directory [default: ./dsr-export-<request-id>]; must be new or empty
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
        #[command(flatten)]
        request: RequestArgs,
        /// Also write DIR.tar.age, the bundle encrypted to this age recipient (age1…);
        /// repeatable. The person opens it with `age -d -i KEY`.
        #[arg(long, value_name = "AGE_RECIPIENT")]
        encrypt_to: Vec<String>,
        /// Also write DIR.tar.age, the bundle encrypted with the passphrase in FILE (first line)
        #[arg(long, value_name = "FILE", conflicts_with = "encrypt_to")]
        passphrase_file: Option<PathBuf>,
    },

    /// Manage the key that signs reports.
    ///
    /// Example: dsr keys generate --signer privacy@example.com
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },

    /// Check a signed report and its bundle, or the audit log's hash chain.
    ///
    /// Checks `REPORT.sig` against the signing key, then every file the report and
    /// `manifest.json` list: a changed, missing or extra file is named. Exit 0 when everything
    /// holds, 1 when something does not (each problem is printed), 2 on usage errors.
    ///
    /// Example: dsr verify alice-export/report.json --key allowed_signers
    ///
    /// Example: dsr verify --audit-log ~/.local/state/dsr/audit.jsonl
    Verify {
        /// The report (`report.json`); its signature is the file beside it named `report.json.sig`
        #[arg(value_name = "REPORT", required_unless_present = "audit_log")]
        report: Option<PathBuf>,
        /// The bundle directory to check [default: the report's directory]
        #[arg(long, value_name = "DIR")]
        bundle: Option<PathBuf>,
        /// The signer's public key: a `.pub` file or an `allowed_signers` file [default: the
        /// state directory's key]
        #[arg(long, value_name = "PUBFILE")]
        key: Option<PathBuf>,
        /// Check this audit log's hash chain (names the first bad line)
        #[arg(long, value_name = "FILE")]
        audit_log: Option<PathBuf>,
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
        #[command(flatten)]
        request: RequestArgs,
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
        #[command(flatten)]
        request: RequestArgs,
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
    /// self-contained HTML page, or CSV (one row per collection); with --json, as one JSON
    /// object (the controller, then per system its entries and each collection's erasure).
    ///
    /// Example: dsr map playbooks/demo.yaml --format html --out processing.html
    Map {
        /// The playbook (overrides --playbook)
        #[arg(value_name = "PLAYBOOK")]
        file: Option<PathBuf>,
        /// Output format [default: md]
        #[arg(long, value_enum)]
        format: Option<MapFormat>,
        /// Write to FILE instead of stdout (an existing file is replaced)
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },

    /// Continue a request that stopped (killed, interrupted, a system failed, or a manual step
    /// was confirmed): an export, erase or correction.
    ///
    /// Finished steps are not redone; systems already changed and verified are not touched. An
    /// export writes the parts of its bundle that are missing, then its index page and signed
    /// report again.
    ///
    /// Example: dsr resume 019a4f3e-7c2d-7b1a-9a44-5f0c2d1e8b77 --playbook playbooks/demo.yaml --yes
    Resume {
        /// The request id printed when the request started
        id: String,
        /// Do not ask for confirmation
        #[arg(long, short = 'y')]
        yes: bool,
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

    /// Export or erase many people from a CSV file, one person per row.
    ///
    /// Columns: the playbook's identity kinds (e.g. `email`, `user_id`), optional `received`
    /// (when the request arrived) and `request_id`. Rows run concurrently within --concurrency,
    /// sharing every system's limits. Each person gets a signed report under --out; the batch
    /// gets a signed `summary.json`. A bad row is reported with its line and the others still
    /// run (unless --strict). Rerunning the same file skips people already done and continues
    /// the ones that failed. Exit 0 all done, 1 some failed, 2 bad rows or usage.
    ///
    /// Example: dsr batch erase closed-accounts.csv --playbook playbooks/demo.yaml --yes --json
    Batch {
        /// export or erase
        action: crate::batch::BatchAction,
        /// The CSV file
        file: PathBuf,
        /// Required for erase: run without asking
        #[arg(long, short = 'y')]
        yes: bool,
        /// Run nothing when any row is bad
        #[arg(long)]
        strict: bool,
        /// Where reports and bundles go [default: ./dsr-batch-<file name>]
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
    },

    /// Run every queued request that is due, then exit (for cron or a Kubernetes CronJob).
    ///
    /// Each request is claimed with a lease before it runs and the lease is renewed while it
    /// runs, so overlapping runs (on one machine, or on several sharing a --ledger) never take
    /// the same one, and a request whose run died is taken over, and resumed from the
    /// journal, once its lease runs out. A request that does not finish is queued again an
    /// hour later, up to 5 times. Exit 0 when everything due finished, 1 when some did not.
    ///
    /// Example: dsr run-due --playbook /etc/dsr/playbook.yaml --json
    RunDue {
        /// Where reports and export bundles go [default: ./dsr-requests]
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
        #[command(flatten)]
        queue: QueueArgs,
    },

    /// Keep running queued requests as they fall due, until stopped (SIGTERM or Ctrl-C).
    ///
    /// Several workers, on one machine or many, share one queue through a shared ledger
    /// (--ledger postgres://…): each request is claimed by exactly one of them, with a lease
    /// that the worker renews while the request runs; a dead worker's requests are taken over
    /// once their leases run out. On SIGTERM or Ctrl-C a worker claims nothing more, lets the
    /// requests in hand finish for up to --grace, then hands the rest back to the queue for
    /// another worker to resume; a second signal stops it at once. --json prints one line per
    /// finished request. Exit 0 when stopped, 1 when some of the requests it ran did not finish.
    ///
    /// Example: dsr worker --ledger postgres://dsr@db.internal/ops --playbook /etc/dsr/playbook.yaml --jobs 4 --json
    Worker {
        /// Where reports and export bundles go [default: ./dsr-requests]
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
        #[command(flatten)]
        queue: QueueArgs,
        /// How long to wait before looking again when nothing is due
        #[arg(long, default_value = "5s", value_name = "DURATION", value_parser = parse_duration)]
        poll: std::time::Duration,
        /// On SIGTERM or Ctrl-C, how long requests in hand may take to finish before they are
        /// handed back
        #[arg(long, default_value = "20s", value_name = "DURATION", value_parser = parse_duration)]
        grace: std::time::Duration,
    },

    /// The ledger of requests: deadlines, status, reports.
    ///
    /// Example: dsr requests list
    Requests {
        #[command(subcommand)]
        command: RequestsCommand,
    },

    /// Start a playbook: who answers requests, under which regulation, and the first systems.
    ///
    /// Writes `dsr.yaml` (or --out FILE) and never replaces an existing file. A database URL
    /// given with --system is not written into the playbook: the playbook reads it from an
    /// environment variable (`url: ${env:APP_DB_URL}`), and init says which one to set. When
    /// the database can be read, its tables are drafted as `dsr discover` drafts them;
    /// otherwise the system gets one placeholder collection to edit. On a terminal, init asks
    /// for whatever the flags leave out; without one, --organisation and --system are
    /// required. The result passes `dsr validate` once the variables are set; its TODOs
    /// (purpose, retention, legal basis) are yours to decide.
    ///
    /// Example: dsr init --organisation "Acme Ltd" --regulation gdpr --contact privacy@acme.example --system app_db='${env:APP_DB_URL}'
    Init(InitArgs),

    /// Print a shell completion script on stdout.
    ///
    /// Install it where your shell looks for completions, e.g. for bash
    /// `dsr completions bash > ~/.local/share/bash-completion/completions/dsr`, for zsh into a
    /// directory on `$fpath` as `_dsr`, for fish
    /// `dsr completions fish > ~/.config/fish/completions/dsr.fish`, for PowerShell
    /// `dsr completions powershell >> $PROFILE`.
    ///
    /// Example: dsr completions bash > ~/.local/share/bash-completion/completions/dsr
    Completions {
        /// The shell
        #[arg(value_enum, value_name = "SHELL")]
        shell: clap_complete::Shell,
    },

    /// Print the manual page (roff) on stdout, or write one page per command.
    ///
    /// Example: dsr man > ~/.local/share/man/man1/dsr.1
    Man {
        /// Write dsr.1 and a page per subcommand (dsr-export.1, …) into DIR instead
        #[arg(long, value_name = "DIR")]
        out_dir: Option<PathBuf>,
    },
}

/// How and when the request came in, and who answers it (recorded in the report and ledger).
#[derive(Debug, Args, Clone, Default)]
pub struct RequestArgs {
    /// When the person's request was received: RFC 3339 date (UTC midnight) or date-time with
    /// an explicit offset, e.g. 2026-01-31 or 2026-01-31T09:30:00+01:00 [default: now]
    #[arg(long, value_name = "DATE")]
    pub received: Option<String>,
    /// Deadline policy: gdpr, uk_gdpr, ccpa, lgpd, pipeda, vcdpa, or one of the playbook's
    /// `deadlines:` [default: the playbook's `regulation:`, else gdpr]
    #[arg(long, value_name = "NAME")]
    pub regulation: Option<String>,
    /// Extend the deadline as the regulation allows (GDPR +2 months, CCPA +45 days, ...),
    /// recording this reason in the report
    #[arg(long, value_name = "REASON")]
    pub extension_reason: Option<String>,
    /// Who runs the request, recorded in the report [default: the login name]
    #[arg(long, env = "DSR_OPERATOR", value_name = "NAME")]
    pub operator: Option<String>,
    /// Write the identity values into the report (by default it names the person only by a
    /// keyed hash)
    #[arg(long)]
    pub include_identity: bool,
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Create an Ed25519 key pair for signing reports.
    ///
    /// Writes `signing_key` (OpenSSH private key, 0600, never printed), `signing_key.pub`, and
    /// `allowed_signers`, the line auditors give to `ssh-keygen -Y verify -f`. Refuses to replace
    /// an existing key.
    ///
    /// Example: dsr keys generate --signer privacy@example.com --out ./keys
    Generate {
        /// Directory for the key files [default: the state directory]
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
        /// The principal named in `allowed_signers` (auditors pass it as `ssh-keygen -I`)
        #[arg(long, value_name = "NAME", default_value = crate::signing::DEFAULT_SIGNER)]
        signer: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum RequestsCommand {
    /// Every request, queued ones included, with its status and deadline: open ones first,
    /// soonest due first, then finished ones, newest first.
    ///
    /// Status is one of: queued (waits for `dsr run-due`), running (a live process or a
    /// worker's lease holds it), stale (started, but the process recorded as running it is
    /// gone or its lease ran out: resume or close it), waiting (a manual step waits for a
    /// person), partial, failed, done, closed (closed by hand with a reason). All but done and
    /// closed are open and show the days left (negative: overdue). --json prints an array of
    /// objects with the fields id, action, subject_hash, status, open, regulation, received,
    /// due, days_left, days_overdue, overdue, extension_reason, extension_decided, completed,
    /// deadline_met, outcomes, report_path, closed_reason, not_before, attempts, last_error,
    /// next (the commands that move an open request on).
    ///
    /// Example: dsr requests list --open --action erase
    ///
    /// Example: dsr requests list --overdue --json
    List {
        /// Only open requests (neither done nor closed)
        #[arg(long)]
        open: bool,
        /// Only open requests past their due date
        #[arg(long)]
        overdue: bool,
        /// Only requests with this status
        #[arg(long, value_enum, value_name = "STATUS")]
        status: Option<crate::state::ledger::Standing>,
        /// Only requests of this action
        #[arg(long, value_enum, value_name = "ACTION")]
        action: Option<crate::plan::Action>,
    },
    /// One request in full, whatever its status: deadline, outcome per system, report, and
    /// the next command to run when it is open.
    ///
    /// Example: dsr requests show 019ab3c4-5d6e-7f80-9a1b-2c3d4e5f6a7b
    Show {
        /// The request id (printed by export, erase and `requests add`, listed by `dsr requests list`)
        #[arg(value_name = "ID")]
        id: String,
    },
    /// Close an open request that will not be answered by dsr (a stale run, a request
    /// withdrawn, answered another way), with the reason.
    ///
    /// The ledger shows it as closed with the reason, the audit log records a `closed` event,
    /// and the identities its queue entry or journal held are deleted. A request that a live
    /// process is running cannot be closed.
    ///
    /// Example: dsr requests close 019ab3c4-5d6e-7f80-9a1b-2c3d4e5f6a7b --reason "withdrawn by the person"
    Close {
        /// The request id
        id: String,
        /// Why it is closed (no personal data: it goes into the audit log)
        #[arg(long, required = true)]
        reason: String,
        /// Who closes it [default: DSR_OPERATOR or the login name]
        #[arg(long, env = "DSR_OPERATOR")]
        operator: Option<String>,
    },
    /// Queue a request to run later (e.g. an erase 30 days after an account closes).
    ///
    /// `dsr run-due` runs it once `--not-before` has passed. The identities are kept in the
    /// state database only until the request has run.
    ///
    /// Example: dsr requests add erase alice@example.com --not-before 2026-12-22
    Add {
        /// export, correct or erase
        action: crate::plan::Action,
        #[command(flatten)]
        subject: Subject,
        /// Run no earlier than this date (RFC 3339 date, or date-time with offset) [default: now]
        #[arg(long, value_name = "DATE")]
        not_before: Option<String>,
        /// When the person's request was received (for the deadline)
        #[arg(long, value_name = "DATE")]
        received: Option<String>,
        /// For correct: TARGET=VALUE (repeatable)
        #[arg(long = "set", value_name = "TARGET=VALUE")]
        sets: Vec<String>,
    },
    /// Confirm that a person carried out a manual step of a request.
    ///
    /// Works for exports, erasures and corrections. The note is recorded in the journal and,
    /// when the request is resumed, in its signed report. Then continue the request with
    /// `dsr resume ID`.
    ///
    /// Example: dsr requests confirm 019ab3c4-5d6e-7f80-9a1b-2c3d4e5f6a7b paper_archive --note "Shredded, box 12"
    Confirm {
        /// The request id
        id: String,
        /// The manual system's name in the playbook
        system: String,
        /// What was done (no personal data)
        #[arg(long, required = true)]
        note: String,
        /// Who did it [default: DSR_OPERATOR or the login name]
        #[arg(long, env = "DSR_OPERATOR")]
        operator: Option<String>,
    },
    /// The queue of requests waiting for `dsr run-due` (no identities shown).
    ///
    /// Example: dsr requests queue --json
    Queue,
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

/// `dsr init`'s arguments.
#[derive(Debug, Args)]
pub struct InitArgs {
    /// The controller: who answers the requests, e.g. "Acme Ltd"
    #[arg(long, value_name = "NAME")]
    pub organisation: Option<String>,
    /// Default regulation for deadlines
    #[arg(long, value_name = "NAME",
          value_parser = clap::builder::PossibleValuesParser::new(crate::deadline::BUILTIN))]
    pub regulation: Option<String>,
    /// Where people reach the privacy team (an email address or a web page), shown in every
    /// export
    #[arg(long, value_name = "CONTACT")]
    pub contact: Option<String>,
    /// A system as NAME=URL (repeatable): postgres://…, mysql://…, mariadb://…, sqlite:PATH;
    /// or NAME='${env:VAR}' to read the URL from VAR (it stays out of shell history); or
    /// NAME=postgres|mysql|sqlite to read nothing now. The playbook gets `url: ${env:VAR}`
    /// [default VAR: NAME_DB_URL, e.g. APP_DB_URL for app_db]
    #[arg(long = "system", value_name = "NAME=URL")]
    pub systems: Vec<String>,
    /// The file to write [default: ./dsr.yaml]; it must not exist
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Values to sample per text column when drafting a database's tables (as `dsr discover
    /// --sample`); 0 reads no data
    #[arg(long, value_name = "N", default_value_t = 100)]
    pub sample: u32,
    /// Never ask, even on a terminal: what the flags leave out is an error
    #[arg(long)]
    pub no_input: bool,
}

impl From<&RequestArgs> for crate::evidence::RequestOptions {
    fn from(a: &RequestArgs) -> Self {
        crate::evidence::RequestOptions {
            regulation: a.regulation.clone(),
            received: a.received.clone(),
            extension_reason: a.extension_reason.clone(),
            operator: a.operator.clone(),
            include_identity: a.include_identity,
            started: Some(jiff::Timestamp::now()),
        }
    }
}
