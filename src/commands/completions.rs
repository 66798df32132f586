//! `sesame completions SHELL`.

use crate::cli::{self, CompletionsArgs};
use anyhow::Result;

/// Prints the completion script for a shell.
pub fn run(args: &CompletionsArgs) -> Result<i32> {
    clap_complete::generate(args.shell, &mut cli::command(), "sesame", &mut std::io::stdout());
    Ok(0)
}
