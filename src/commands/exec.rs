//! `sesame exec -- CMD ARGS...`.

use std::sync::Arc;

use anyhow::Result;
use sesame_core::leasing::LeaseError;
use sesame_core::process::{exec_replace, exit_like, ChildExit};

use crate::app::App;
use crate::cli::{ExecArgs, GlobalArgs};
use crate::output;

/// Resolves secrets, acquires leases, runs the command, releases leases,
/// and ends the way the command ended. Without leases to revoke afterwards,
/// sesame execs the command in its own place (as `env` and `aws-vault exec` do).
pub fn run(global: &GlobalArgs, args: &ExecArgs) -> Result<i32> {
    let app = App::load(global)?;
    // With leases, signals are caught from here on (see RunLeases).
    let mut leases = app.leases(!app.config.leases.is_empty())?;
    let rt = super::runtime()?;
    let resolution = super::resolve_secrets(&app, &rt, None)?;
    exit_if_interrupted(leases.interrupted());
    let ctx = app.context().with_secrets(Arc::new(resolution.values.clone()));
    leases.prepare(&app.config, &ctx)?;
    if let Err(e) = rt.block_on(leases.acquire()) {
        drop(leases);
        match e {
            LeaseError::Interrupted(signal) => exit_like(ChildExit::Signal(signal)),
            e => return Err(e.into()),
        }
    }
    let mut env = resolution.values;
    env.extend(leases.env());
    let (program, rest) = args.command.split_first().expect("clap requires a command");
    if !leases.must_revoke() {
        // Nothing to do afterwards: become the command.
        exit_if_interrupted(leases.stop_catching_signals());
        let error = exec_replace(program, rest, &env);
        eprintln!("sesame: error: {error}");
        return Ok(error.exit_status());
    }
    let exit = leases.signals().expect("caught with leases").run(program, rest, &env);
    drop(env);
    for problem in rt.block_on(leases.release()) {
        output::warning(&format!("{problem}"));
    }
    drop(leases);
    match exit {
        Ok(exit) => exit_like(exit),
        Err(e) => {
            eprintln!("sesame: error: {e}");
            Ok(e.exit_status())
        }
    }
}

/// Dies by `signal` if one arrived (0: none).
fn exit_if_interrupted(signal: i32) {
    if signal != 0 {
        exit_like(ChildExit::Signal(signal));
    }
}
