//! `sesame exec -- CMD ARGS...`.

use std::sync::Arc;

use anyhow::Result;
use sesame_core::leasing;
use sesame_core::process::{exec_replace, exit_like, ChildExit, SignalRelay};

use super::exec_options::{mask_set, mask_wanted, RunLog};

use crate::app::App;
use crate::cli::{ExecArgs, GlobalArgs};
use crate::output;

/// Resolves secrets, acquires leases, runs the command, releases leases,
/// and ends the way the command ended. Without leases to revoke afterwards,
/// sesame execs the command in its own place (as `env` and `aws-vault exec` do),
/// unless it masks the output or records the run.
pub fn run(global: &GlobalArgs, args: &ExecArgs) -> Result<i32> {
    let mut log = RunLog::new(args);
    let app = App::load(global).inspect_err(|_| log.not_run("config", 125))?;
    log.configure(args, &app.config);
    let mask = mask_wanted(args, &app.config, &app.env);
    // With leases to mint, catch signals before anything else happens: one
    // that arrives while secrets resolve or leases are minted must not kill
    // sesame with credentials half-minted. Without leases there is nothing
    // to clean up, and the default action (dying by the signal) is right,
    // unless the run is masked or recorded: then sesame supervises the
    // command and must outlive it.
    let relay = if app.config.leases.is_empty() && !mask && !log.is_on() {
        None
    } else {
        Some(SignalRelay::install()?)
    };
    let rt = super::runtime()?;
    let resolution = super::resolve_secrets(&app, &rt, None).inspect_err(|_| log.not_run("resolve", 125))?;
    if let Some(relay) = &relay {
        stop_if_interrupted(relay, &mut log);
    }

    let ctx = app.context().with_secrets(Arc::new(resolution.values.clone()));
    let leases = leasing::prepare(&app.config, &ctx).inspect_err(|_| log.not_run("leases", 125))?;
    let ledger = app.ledger();
    let acquired = if leases.is_empty() {
        None
    } else {
        let acquired = rt.block_on(leasing::acquire(
            leases,
            &ctx,
            &ledger,
            app.config.profile.as_deref(),
            relay.as_ref().expect("installed when leases exist").interrupted_flag(),
        ));
        if let Err(leasing::LeaseError::Interrupted(signal)) = acquired {
            log.not_run("interrupted", 128 + signal);
            drop(relay);
            exit_like(ChildExit::Signal(signal));
        }
        let acquired = acquired.inspect_err(|_| log.not_run("leases", 125))?;
        log.leases(&app.config, &acquired, &ledger);
        Some(acquired)
    };

    let mut env = resolution.values;
    if let Some(acquired) = &acquired {
        // A lease output replaces a secret of the same name (the child
        // token replaces the parent token).
        env.extend(acquired.env());
    }
    log.mask_args(&env);
    let mask = if mask { mask_set(&env) } else { None };
    let (program, rest) = args.command.split_first().expect("clap requires a command");
    let must_revoke = acquired
        .as_ref()
        .is_some_and(|a| a.leases.iter().any(|l| l.revoke_after));
    if !must_revoke && mask.is_none() && !log.is_on() {
        // Nothing to do afterwards: become the command. Stop catching
        // signals first, and honour one that arrived in the meantime.
        let interrupted = relay.as_ref().map_or(0, SignalRelay::interrupted);
        drop(relay);
        if interrupted != 0 {
            exit_like(ChildExit::Signal(interrupted));
        }
        let error = exec_replace(program, rest, &env);
        eprintln!("sesame: error: {error}");
        return Ok(error.exit_status());
    }
    let relay = relay.expect("installed when leases exist, or when masking or recording");
    let exit = match mask {
        Some(set) => sesame_core::masked_io::run_masked(&relay, program, rest, &env, set),
        None => relay.run(program, rest, &env),
    };
    drop(env);

    if let Some(acquired) = &acquired {
        let problems = rt.block_on(leasing::release(acquired, &ctx, &ledger));
        for problem in &problems {
            output::warning(&format!("{problem}"));
        }
        log.released(acquired, &ledger, &problems);
    }
    log.finish(&exit);
    drop(relay);
    match exit {
        Ok(exit) => exit_like(exit),
        Err(e) => {
            eprintln!("sesame: error: {e}");
            Ok(e.exit_status())
        }
    }
}

fn stop_if_interrupted(relay: &SignalRelay, log: &mut RunLog) {
    let signal = relay.interrupted();
    if signal != 0 {
        log.not_run("interrupted", 128 + signal);
        exit_like(ChildExit::Signal(signal));
    }
}
