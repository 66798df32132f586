//! Command-line interface definition (clap).

use std::ffi::OsString;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Run commands with secrets and short-lived credentials in their environment.
#[derive(Debug, Parser)]
#[command(name = "sesame", version, about, long_about = None, propagate_version = true)]
pub struct Cli {
    /// Options every command takes.
    #[command(flatten)]
    pub global: GlobalArgs,
    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

/// Options every command takes.
#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// Use this config file instead of searching for sesame.toml.
    #[arg(
        short = 'c',
        long = "config",
        global = true,
        env = "SESAME_CONFIG",
        hide_env_values = true,
        value_name = "FILE"
    )]
    pub config: Option<PathBuf>,
    /// Apply the [profiles.NAME] tables of the config.
    #[arg(
        short = 'P',
        long,
        global = true,
        env = "SESAME_PROFILE",
        hide_env_values = true,
        value_name = "NAME"
    )]
    pub profile: Option<String>,
    /// More logging on stderr (-v info, -vv debug, -vvv trace). Never shows secret values.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// How long one provider or backend operation may take.
    #[arg(long, global = true, default_value = "30s", value_name = "DURATION", value_parser = parse_duration)]
    pub timeout: std::time::Duration,
}

fn parse_duration(text: &str) -> Result<std::time::Duration, String> {
    sesame_core::duration::parse_duration(text)
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a command with the secrets and leases in its environment.
    #[command(visible_alias = "run")]
    Exec(ExecArgs),
    /// Print one secret's value.
    Get(GetArgs),
    /// List the configured secrets and leases (never values).
    List(FormatArgs),
    /// Print every secret for a shell, a .env file or a program.
    Export(ExportArgs),
    /// Validate the config and report what would resolve and which leases would be minted or reused.
    Check(CheckArgs),
    /// List the registered provider and lease types.
    Backends(FormatArgs),
    /// Trust a project config file, so its network destinations and policies count.
    Trust(TrustArgs),
    /// Print a shell completion script.
    Completions(CompletionsArgs),
    /// Print the JSON Schema of sesame.toml, for editors (taplo, Even Better TOML).
    Schema,
    /// Mint, list, revoke and clean up leases (short-lived credentials).
    #[command(subcommand)]
    Lease(LeaseCommand),
    /// Cloudflare R2: prove that bucket credentials work and do no more than they should.
    #[command(subcommand)]
    R2(R2Command),
}

/// `sesame exec`.
#[derive(Debug, Args)]
pub struct ExecArgs {
    /// The command and its arguments (no shell is involved).
    #[arg(
        required = true,
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "COMMAND"
    )]
    pub command: Vec<OsString>,
    /// Replace every secret value and lease credential in the command's output with
    /// `<concealed by sesame>` (default: on when CI is set and stdout or stderr is not a terminal).
    #[arg(long, overrides_with = "no_mask")]
    pub mask: bool,
    /// Do not mask the command's output.
    #[arg(long, overrides_with = "mask")]
    pub no_mask: bool,
    /// Append a JSON record of the run (never values) to FILE.
    #[arg(long, env = "SESAME_RECORD", value_name = "FILE")]
    pub record: Option<std::path::PathBuf>,
    /// Include the command's arguments (masked) in the record.
    #[arg(long)]
    pub record_args: bool,
}

/// `sesame get`.
#[derive(Debug, Args)]
pub struct GetArgs {
    /// The secret's name.
    pub name: String,
    /// Do not print a newline after the value.
    #[arg(short = 'n', long)]
    pub no_newline: bool,
}

/// Output format of read commands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum ReadFormat {
    /// Aligned text for people.
    #[default]
    Text,
    /// JSON for programs.
    Json,
}

/// `--format` for read commands.
#[derive(Debug, Args)]
pub struct FormatArgs {
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    pub format: ReadFormat,
}

/// Formats of `sesame export`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum ExportFormat {
    /// `NAME=value` lines, quoted for .env readers.
    #[default]
    Env,
    /// `export NAME='value'` lines for `eval` in sh, bash and zsh.
    Shell,
    /// One JSON object.
    Json,
}

/// `sesame export`.
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    pub format: ExportFormat,
}

/// `sesame check`.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Only validate the config; do not ask providers for values.
    #[arg(long)]
    pub no_resolve: bool,
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    pub format: ReadFormat,
}

/// `sesame trust`.
#[derive(Debug, Args)]
pub struct TrustArgs {
    /// The file (or its directory). Default: every project file that applies here.
    pub path: Option<PathBuf>,
    /// Forget the file instead.
    #[arg(long, conflicts_with = "list")]
    pub revoke: bool,
    /// List the trusted files.
    #[arg(long)]
    pub list: bool,
    /// Output format (with --list).
    #[arg(long, value_enum, default_value_t)]
    pub format: ReadFormat,
}

/// `sesame completions`.
#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell.
    pub shell: clap_complete::Shell,
}

/// `sesame lease ...`.
#[derive(Debug, Subcommand)]
pub enum LeaseCommand {
    /// Mint leases now and print their credentials (all leases unless NAME is given).
    Create(LeaseCreateArgs),
    /// List the leases in this project's ledger (never values).
    List(LeaseListArgs),
    /// Revoke one lease by its id (see `sesame lease list`).
    Revoke(LeaseRevokeArgs),
    /// Revoke and forget expired, interrupted and abandoned leases.
    Cleanup(LeaseCleanupArgs),
}

/// Formats of `sesame lease create`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum LeaseFormat {
    /// `export NAME='value'` lines for `eval` in sh, bash and zsh.
    #[default]
    Shell,
    /// `NAME=value` lines, quoted for .env readers.
    Env,
    /// One JSON object.
    Json,
}

/// `sesame lease create`.
#[derive(Debug, Args)]
pub struct LeaseCreateArgs {
    /// The lease (`cf` for `[leases.cf]`); all configured leases if omitted.
    pub name: Option<String>,
    /// Lifetime instead of the configured one (e.g. `30m`, `2h`).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub duration: Option<std::time::Duration>,
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    pub format: LeaseFormat,
}

/// `sesame lease list`.
#[derive(Debug, Args)]
pub struct LeaseListArgs {
    /// Only leases that are still valid.
    #[arg(long, conflicts_with = "expired")]
    pub active: bool,
    /// Only expired leases.
    #[arg(long)]
    pub expired: bool,
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    pub format: ReadFormat,
}

/// `sesame lease revoke`.
#[derive(Debug, Args)]
pub struct LeaseRevokeArgs {
    /// The lease's id in the ledger (or the credential's id at the service).
    pub id: String,
}

/// `sesame lease cleanup`.
#[derive(Debug, Args)]
pub struct LeaseCleanupArgs {
    /// Also list the credentials at each service and delete expired ones sesame created
    /// (expired Cloudflare tokens count against the token quota until deleted).
    #[arg(long)]
    pub remote: bool,
}

/// `sesame r2 ...`.
#[derive(Debug, Subcommand)]
pub enum R2Command {
    /// Check R2 leases and static credentials on their S3 endpoint: accepted, bucket readable,
    /// writable only when they should be, bucket-scoped, token not expiring unnoticed.
    Verify(R2VerifyArgs),
}

/// `sesame r2 verify`.
#[derive(Debug, Args)]
pub struct R2VerifyArgs {
    /// The `type = "r2"` leases to check (default: all of them, unless --source/--destination).
    #[arg(value_name = "NAME")]
    pub names: Vec<String>,
    /// The migration source: must be read-only (`access = "read"`) and is checked to be.
    #[arg(long, value_name = "NAME")]
    pub source: Option<String>,
    /// The migration destination: must be read-write (`access = "read-write"`).
    #[arg(long, value_name = "NAME")]
    pub destination: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    pub format: ReadFormat,
}
