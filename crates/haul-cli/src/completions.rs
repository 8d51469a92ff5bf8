//! `haul completions SHELL`: the shell's completion script for every command and flag, from
//! clap's own description of the CLI.

use clap::CommandFactory;
use clap_complete::Shell;
use std::io::Write;

#[derive(clap::Args)]
pub struct Args {
    /// The shell: bash, zsh, fish, elvish or powershell.
    shell: Shell,
}

/// Prints the completion script to stdout, e.g.
/// `haul completions bash > ~/.local/share/bash-completion/completions/haul`; a reader that
/// stops early (`| head`) is no error.
pub fn run(args: Args) -> anyhow::Result<()> {
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut crate::Cli::command(), "haul", &mut script);
    match std::io::stdout().write_all(&script) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e.into()),
        _ => Ok(()),
    }
}
