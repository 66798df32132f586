//! `sesame`: run commands with secrets and short-lived credentials injected
//! as environment variables. This binary is thin: it parses arguments,
//! wires core to the linked backends and prints what core returns.

// Everything the binary prints goes through the scrubber (src/output.rs):
// these replace the standard macros for every module declared below.
macro_rules! println {
    () => { $crate::output::out("\n") };
    ($($arg:tt)*) => { $crate::output::out(&format!("{}\n", format_args!($($arg)*))) };
}
#[allow(unused_macros)]
macro_rules! print {
    ($($arg:tt)*) => { $crate::output::out(&format!($($arg)*)) };
}
macro_rules! eprintln {
    () => { $crate::output::err("\n") };
    ($($arg:tt)*) => { $crate::output::err(&format!("{}\n", format_args!($($arg)*))) };
}
#[allow(unused_macros)]
macro_rules! eprint {
    ($($arg:tt)*) => { $crate::output::err(&format!($($arg)*)) };
}

mod app;
mod output;
use sesame::cli;
mod commands;
mod logging;

use clap::FromArgMatches;

use crate::cli::{Cli, Command, GlobalArgs};

fn main() {
    output::install_panic_hook();
    let mut matches = cli::command().get_matches();
    let global = GlobalArgs::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    init_logging(global.verbose);
    if let Some((name, sub)) = matches.subcommand() {
        if let Some(registration) = sesame_core::command::find_command(name) {
            finish(commands::contributed::run(registration, &global, sub), false);
        }
    }
    let cli = Cli::from_arg_matches_mut(&mut matches).unwrap_or_else(|e| e.exit());
    let is_exec = matches!(cli.command, Command::Exec(_));
    let result = match cli.command {
        Command::Exec(ref args) => commands::exec::run(&cli.global, args),
        Command::Get(ref args) => commands::get::run(&cli.global, args),
        Command::Set(ref args) => commands::set::run(&cli.global, args),
        Command::List(ref args) => commands::list::run(&cli.global, args),
        Command::Export(ref args) => commands::export::run(&cli.global, args),
        Command::Check(ref args) => commands::check::run(&cli.global, args),
        Command::Backends(ref args) => commands::backends::run(args),
        Command::Trust(ref args) => commands::trust::run(&cli.global, args),
        Command::Completions(ref args) => commands::completions::run(args),
        Command::Schema => commands::schema::run(),
        Command::Lease(ref command) => commands::lease::run(&cli.global, command),
    };
    finish(result, is_exec);
}

/// Exits with the command's status, or prints its error and exits 1 (125
/// for `exec`).
fn finish(result: anyhow::Result<i32>, is_exec: bool) -> ! {
    match result {
        Ok(code) => std::process::exit(code),
        Err(err) => {
            output::error(&err);
            // Like env(1) and timeout(1): 125 means the wrapper itself
            // failed, so it cannot be mistaken for the command's own status.
            std::process::exit(if is_exec { 125 } else { 1 });
        }
    }
}

/// Logs go to stderr. Without `-v` or `SESAME_LOG` only warnings and errors
/// show, and most runs have none: the subscriber is then built on the
/// first one (see [`logging::Lazy`]) rather than at every start.
fn init_logging(verbose: u8) {
    use tracing_subscriber::filter::Targets;
    use tracing_subscriber::layer::SubscriberExt;
    let level = match verbose {
        0 => "warn",
        1 => "sesame=info,sesame_core=info,sesame_provider=info,sesame_lease=info,warn",
        2 => "debug",
        _ => "trace",
    };
    let requested = std::env::var("SESAME_LOG").ok();
    let lazy = verbose == 0 && requested.is_none();
    let build = move || {
        // `target=level` directives, as `RUST_LOG` takes them (without
        // span and field filters, which need a regex engine at every start).
        let filter = requested
            .as_deref()
            .and_then(|f| f.parse::<Targets>().ok())
            .unwrap_or_else(|| level.parse().expect("the built-in filters parse"));
        // Colour only for a person at a terminal, and never with NO_COLOR set
        // (https://no-color.org).
        use std::io::IsTerminal;
        let colour = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
        tracing_subscriber::fmt()
            // The builder's own default stops at INFO; `filter` decides.
            .with_max_level(tracing::level_filters::LevelFilter::TRACE)
            .with_ansi(colour)
            .with_writer(|| output::LogWriter)
            .with_target(verbose >= 2)
            .without_time()
            .finish()
            .with(filter)
    };
    let installed = if lazy {
        let max = tracing::level_filters::LevelFilter::WARN;
        tracing::subscriber::set_global_default(logging::Lazy::new(max, build))
    } else {
        tracing::subscriber::set_global_default(build())
    };
    installed.expect("the log subscriber is set once, first thing in main");
}
