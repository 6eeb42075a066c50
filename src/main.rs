//! Thin entry point: parse, run one command, map the result to a documented exit code.

use clap::Parser;
use dsr::cli::{Cli, Command};
use dsr::error::{Exit, UsageError};
use dsr::plan::Action;
use std::process::ExitCode;

fn main() -> ExitCode {
    ignore_file_size_signal();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // --help and --version are not errors: they print as asked, --json or not.
            if e.use_stderr() && json_asked() {
                eprintln!("{}", clap_error_json(&e));
            } else {
                let _ = e.print();
            }
            return ExitCode::from(if e.use_stderr() {
                Exit::BadInput as u8
            } else {
                0
            });
        }
    };
    init_logging(cli.global.verbose, cli.global.quiet);
    dsr::connectors::install_tls_provider();
    match run(&cli) {
        Ok(exit) => ExitCode::from(exit as u8),
        Err(e) => {
            if is_broken_pipe(&e) {
                return ExitCode::SUCCESS;
            }
            if cli.global.json {
                eprintln!("{}", error_json(&e, Exit::BadInput));
            } else {
                eprintln!("error: {}", describe(&e));
            }
            if e.downcast_ref::<UsageError>().is_none()
                && e.downcast_ref::<dsr::playbook::Diagnostics>().is_none()
            {
                tracing::debug!("error chain: {e:?}");
            }
            ExitCode::from(Exit::BadInput as u8)
        }
    }
}

fn run(cli: &Cli) -> anyhow::Result<Exit> {
    let g = &cli.global;
    // The commands that use the ledger also read the playbook's `ledger:` (`validate` reports a
    // bad one with its line instead).
    let uses_ledger = matches!(
        cli.command,
        Command::Export { .. }
            | Command::Erase { .. }
            | Command::Correct { .. }
            | Command::Resume { .. }
            | Command::Batch { .. }
            | Command::RunDue { .. }
            | Command::Worker { .. }
            | Command::Requests { .. }
    );
    // These print a script or a manual page: there is no JSON form to give.
    if g.json
        && let Command::Completions { .. } | Command::Man { .. } = cli.command
    {
        let name = if matches!(cli.command, Command::Man { .. }) {
            "man"
        } else {
            "completions"
        };
        return Err(UsageError::new(format!(
            "--json does not apply to `dsr {name}`: it prints a {} for a shell or man to read",
            if name == "man" {
                "manual page"
            } else {
                "script"
            }
        ))
        .with_hint(format!("run `dsr {name}` without --json"))
        .into());
    }
    dsr::commands::configure_ledger(g, uses_ledger)?;
    match &cli.command {
        Command::Validate { file, connect } => {
            runtime()?.block_on(dsr::commands::validate::run(g, file.as_deref(), *connect))
        }
        Command::Plan {
            action,
            subject,
            sets,
        } => dsr::commands::plan::run(g, *action, subject, sets),
        Command::Export {
            subject,
            out,
            request,
            encrypt_to,
            passphrase_file,
        } => {
            let delivery = dsr::commands::export::Delivery {
                encrypt_to,
                passphrase_file: passphrase_file.as_deref(),
            };
            runtime()?.block_on(dsr::commands::export::run(
                g,
                subject,
                out.as_deref(),
                request,
                &delivery,
            ))
        }
        Command::Keys { command } => dsr::commands::keys::run(g, command),
        Command::Verify {
            report,
            bundle,
            key,
            audit_log,
        } => dsr::commands::verify::run(
            g,
            &dsr::commands::verify::Args {
                report: report.as_deref(),
                bundle: bundle.as_deref(),
                key: key.as_deref(),
                audit_log: audit_log.as_deref(),
            },
        ),
        Command::Requests { command } => {
            runtime()?.block_on(dsr::commands::requests::run(g, command))
        }
        Command::Erase {
            subject,
            change,
            request,
        } => runtime()?.block_on(dsr::commands::change::start(
            g,
            Action::Erase,
            subject,
            &[],
            change,
            request,
        )),
        Command::Correct {
            subject,
            sets,
            change,
            request,
        } => runtime()?.block_on(dsr::commands::change::start(
            g,
            Action::Correct,
            subject,
            sets,
            change,
            request,
        )),
        Command::Discover(args) => runtime()?.block_on(dsr::commands::discover::run(g, args)),
        Command::Map { file, format, out } => {
            dsr::commands::map::run(g, file.as_deref(), *format, out.as_deref())
        }
        Command::Resume { id, yes } => {
            runtime()?.block_on(dsr::commands::change::resume(g, id, *yes))
        }
        Command::Connectors { command } => dsr::commands::connectors::run(g, command),
        Command::RunDue { out, queue } => {
            let runner = dsr::commands::due::Runner {
                lease: queue.lease,
                jobs: queue.jobs,
                poll: None,
                grace: std::time::Duration::from_secs(20),
            };
            runtime()?.block_on(dsr::commands::due::run_queue(g, out.as_deref(), &runner))
        }
        Command::Worker {
            out,
            queue,
            poll,
            grace,
        } => {
            let runner = dsr::commands::due::Runner {
                lease: queue.lease,
                jobs: queue.jobs,
                poll: Some(*poll),
                grace: *grace,
            };
            runtime()?.block_on(dsr::commands::due::run_queue(g, out.as_deref(), &runner))
        }
        Command::Batch {
            action,
            file,
            yes,
            strict,
            out,
        } => {
            let opts = dsr::commands::batch::Options {
                yes: *yes,
                strict: *strict,
                out: out.as_deref(),
            };
            runtime()?.block_on(dsr::commands::batch::run(g, *action, file, &opts))
        }
        Command::Init(args) => runtime()?.block_on(dsr::commands::init::run(g, args)),
        Command::Completions { shell } => dsr::commands::completions::completions(*shell),
        Command::Man { out_dir } => dsr::commands::completions::man(out_dir.as_deref()),
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}

fn init_logging(verbose: u8, quiet: bool) {
    let level = match (quiet, verbose) {
        (true, _) => "error",
        (_, 0) => "warn",
        (_, 1) => "info",
        _ => "debug",
    };
    // Only dsr's own events: driver internals may log query text with values in it. The AWS
    // SDK warns about every credential source it tries and does not find (instance metadata
    // off an EC2 host, ...); dsr reports the failure that matters.
    // The database driver warns about slow statements: worth seeing when asked for (-v), not
    // on every run of a large export.
    let sqlx = if verbose == 0 || quiet {
        "error"
    } else {
        "warn"
    };
    let filter = tracing_subscriber::EnvFilter::new(format!(
        "warn,aws_config=error,aws_smithy_runtime=error,sqlx={sqlx},dsr={level}"
    ));
    use std::io::IsTerminal;
    let colour = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(colour)
        .with_target(false)
        .try_init();
}

/// The error and its causes, `outer: inner`, like anyhow's `{:#}` but without repeating a
/// cause whose text the message already includes (typed errors often quote their source).
fn describe(e: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if out.is_empty() {
            out = text;
        } else if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
    }
    out
}

/// An error under `--json`: one object on stderr, so a script reads why as well as the exit
/// code. `hint` is always present (null when there is none); a playbook's diagnostics come
/// as a list with their file, line, column and field.
fn error_json(e: &anyhow::Error, exit: Exit) -> serde_json::Value {
    let mut error = describe(e);
    let mut hint = None;
    if let Some(u) = e.chain().find_map(|c| c.downcast_ref::<UsageError>())
        && let Some(h) = &u.hint
    {
        // The text form ends the message with its hint; here the hint has a field of its own.
        error = error.replace(&format!("\n  hint: {h}"), "");
        hint = Some(h.clone());
    }
    let mut out = serde_json::json!({ "error": error, "hint": hint, "exit_code": exit as u8 });
    if let Some(d) = e
        .chain()
        .find_map(|c| c.downcast_ref::<dsr::playbook::Diagnostics>())
    {
        out["error"] = match d.0.as_slice() {
            [one] => {
                out["hint"] = serde_json::json!(one.hint);
                let mut plain = one.clone();
                plain.hint = None;
                plain.to_string().into()
            }
            many => format!("the playbook has {} errors", many.len()).into(),
        };
        out["diagnostics"] =
            d.0.iter()
                .map(|d| d.to_json(dsr::playbook::Severity::Error))
                .collect();
    }
    out
}

/// A command-line error under `--json`: clap's first line is the error, the rest (usage, tips)
/// the hint.
fn clap_error_json(e: &clap::Error) -> serde_json::Value {
    let text = e.render().to_string();
    let mut lines = text.lines();
    let first = lines.next().unwrap_or_default();
    let error = first.strip_prefix("error: ").unwrap_or(first);
    let rest: Vec<&str> = lines.map(str::trim).filter(|l| !l.is_empty()).collect();
    let hint = (!rest.is_empty()).then(|| rest.join("\n"));
    serde_json::json!({ "error": error, "hint": hint, "exit_code": Exit::BadInput as u8 })
}

/// Whether `--json` was on a command line clap could not parse (options end at `--`).
fn json_asked() -> bool {
    std::env::args_os()
        .skip(1)
        .take_while(|a| a != "--")
        .any(|a| a == "--json")
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// Past a file-size limit (`ulimit -f`) the kernel kills a process with SIGXFSZ unless it
/// ignores the signal; ignored, the write fails with "File too large" and dsr reports which
/// file and which system, as for a full disk, instead of dying without a word.
fn ignore_file_size_signal() {
    #[cfg(unix)]
    // SAFETY: called first thing in main, before any other thread exists; SIG_IGN installs no
    // handler code.
    unsafe {
        libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
    }
}
