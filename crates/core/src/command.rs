//! Subcommands that backends contribute to the CLI (`sesame r2 verify`
//! comes from lease-r2), registered with `inventory::submit!` like the
//! backends themselves, so the binary names no backend.
//!
//! The binary adds every registered command to its CLI when it builds it,
//! and runs one through [`CommandRegistration::run`] with a
//! [`CommandHost`]: the loaded config, the resolved secrets and the
//! run's leases. The command returns a [`CommandReport`], which the binary
//! prints as a table or, with `--format json`, as JSON.

use std::io;

use crate::backend::BackendContext;
use crate::config::Config;
use crate::leasing::RunLeases;

/// A failure of a contributed command: a typed error the binary prints
/// with its causes and hints.
pub type CommandError = Box<dyn std::error::Error + Send + Sync>;

/// What a contributed command gets from the binary.
pub trait CommandHost {
    /// The merged configuration.
    fn config(&self) -> &Config;

    /// The backend context with every secret resolved (warnings about
    /// secrets left out are printed by the host).
    fn resolved_context(&self) -> Result<BackendContext, CommandError>;

    /// The owner of this run's leases, catching signals from now on.
    fn leases(&self) -> io::Result<RunLeases>;

    /// Prints a warning on stderr.
    fn warn(&self, message: &str);
}

/// A table: a header and rows of cells.
#[derive(Debug, Clone, Default)]
pub struct Table {
    /// Column names.
    pub header: Vec<String>,
    /// Rows, as many cells as the header.
    pub rows: Vec<Vec<String>>,
}

/// What a contributed command found, for the binary to print.
#[derive(Debug, Clone, Default)]
pub struct CommandReport {
    /// The `--format json` document (an object; the binary adds
    /// `format_version`). Never holds a secret value.
    pub json: serde_json::Value,
    /// The text table.
    pub table: Table,
    /// Paragraphs printed after the table, each after a blank line.
    pub notes: Vec<Vec<String>>,
    /// Exit status 1 when true.
    pub failed: bool,
    /// A terminating signal sesame got while working (0: none): the binary
    /// prints nothing and dies by it.
    pub interrupted: i32,
}

/// A subcommand a backend crate contributes.
pub struct CommandRegistration {
    /// The subcommand's name (`r2`): the name of what `command` builds, so
    /// finding a command does not build every command's clap definition.
    pub name: &'static str,
    /// Its clap definition, named `name`. Leaf commands take
    /// `--format text|json` with [`format_arg`].
    pub command: fn() -> clap::Command,
    /// Runs it with the matches of its own subcommand.
    pub run: fn(&clap::ArgMatches, &dyn CommandHost) -> Result<CommandReport, CommandError>,
}

inventory::collect!(CommandRegistration);

/// Every contributed command, sorted by name.
pub fn commands() -> Vec<&'static CommandRegistration> {
    let mut all: Vec<_> = inventory::iter::<CommandRegistration>.into_iter().collect();
    all.sort_by_key(|r| r.name);
    all
}

/// The contributed command named `name`.
pub fn find_command(name: &str) -> Option<&'static CommandRegistration> {
    inventory::iter::<CommandRegistration>
        .into_iter()
        .find(|r| r.name == name)
}

/// `--format text|json`, as every read command takes it. The binary reads
/// it (id `format`) to print a [`CommandReport`].
pub fn format_arg() -> clap::Arg {
    use clap::builder::PossibleValue;
    clap::Arg::new("format")
        .long("format")
        .value_name("FORMAT")
        .help("Output format")
        .value_parser([
            PossibleValue::new("text").help("Aligned text for people"),
            PossibleValue::new("json").help("JSON for programs"),
        ])
        .default_value("text")
}
