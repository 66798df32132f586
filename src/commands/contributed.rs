//! Subcommands the linked backends contribute (`sesame_core::command`):
//! the binary gives them the loaded config, resolved secrets and the run's
//! leases, and prints the report they return.

use std::sync::Arc;

use anyhow::Result;
use sesame_core::command::{CommandError, CommandHost, CommandRegistration};
use sesame_core::leasing::RunLeases;
use sesame_core::process::{exit_like, ChildExit};
use sesame_core::{config::Config, BackendContext};

use crate::app::App;
use crate::cli::GlobalArgs;

impl CommandHost for App {
    fn config(&self) -> &Config {
        &self.config
    }

    fn resolved_context(&self) -> Result<BackendContext, CommandError> {
        let rt = super::runtime()?;
        let resolution = super::resolve_secrets(self, &rt, None)?;
        Ok(self.context().with_secrets(Arc::new(resolution.values)))
    }

    fn leases(&self) -> std::io::Result<RunLeases> {
        RunLeases::new(self.ledger(), self.config.profile.as_deref()).catch_signals()
    }

    fn warn(&self, message: &str) {
        crate::output::warning(message);
    }
}

/// Runs a contributed command with the matches of its own subcommand.
pub fn run(registration: &CommandRegistration, global: &GlobalArgs, matches: &clap::ArgMatches) -> Result<i32> {
    let app = App::load(global)?;
    let report = (registration.run)(matches, &app).map_err(anyhow::Error::from_boxed)?;
    if report.interrupted != 0 {
        exit_like(ChildExit::Signal(report.interrupted));
    }
    let format = leaf(matches).get_one::<String>("format").map_or("text", String::as_str);
    if format == "json" {
        crate::output::json(report.json)?;
    } else {
        let header: Vec<&str> = report.table.header.iter().map(String::as_str).collect();
        crate::output::table(&header, &report.table.rows);
        for note in &report.notes {
            println!();
            note.iter().for_each(|line| println!("{line}"));
        }
    }
    Ok(if report.failed { 1 } else { 0 })
}

/// The matches of the innermost subcommand (`verify` in `r2 verify`).
fn leaf(matches: &clap::ArgMatches) -> &clap::ArgMatches {
    matches.subcommand().map_or(matches, |(_, sub)| leaf(sub))
}
