//! `dsr completions SHELL` and `dsr man`: the command line described for shells and `man`,
//! generated from the same clap definitions as `--help`.

use crate::cli::Cli;
use crate::error::{Exit, UsageError};
use clap::CommandFactory;
use std::io::Write as _;
use std::path::Path;

/// The completion script for `shell`, on stdout.
pub fn completions(shell: clap_complete::Shell) -> anyhow::Result<Exit> {
    let mut cmd = Cli::command();
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut cmd, "dsr", &mut script);
    write_stdout(&script)?;
    Ok(Exit::Done)
}

/// The manual page dsr(1) on stdout, or with `out_dir` one page per command written there.
pub fn man(out_dir: Option<&Path>) -> anyhow::Result<Exit> {
    let cmd = Cli::command();
    match out_dir {
        None => {
            let mut page = Vec::new();
            clap_mangen::Man::new(cmd).render(&mut page)?;
            write_stdout(&page)?;
        }
        Some(dir) => {
            if !dir.is_dir() {
                return Err(
                    UsageError::new(format!("{} is not a directory", dir.display()))
                        .with_hint("create it first, e.g. mkdir -p ~/.local/share/man/man1")
                        .into(),
                );
            }
            clap_mangen::generate_to(cmd, dir)?;
        }
    }
    Ok(Exit::Done)
}

fn write_stdout(bytes: &[u8]) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(bytes)?;
    out.flush()
}
