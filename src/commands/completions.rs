//! `sesame completions SHELL`.

use anyhow::Result;
use clap::CommandFactory;

use crate::cli::{Cli, CompletionsArgs};

/// Prints the completion script for a shell.
pub fn run(args: &CompletionsArgs) -> Result<i32> {
    clap_complete::generate(args.shell, &mut Cli::command(), "sesame", &mut std::io::stdout());
    Ok(0)
}
