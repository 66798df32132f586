//! `sesame exec -- CMD ARGS...`.

use std::sync::Arc;

use anyhow::Result;
use sesame_core::leasing;
use sesame_core::process::{exec_replace, exit_like, ChildExit, SignalRelay};

use crate::app::App;
use crate::cli::{ExecArgs, GlobalArgs};
use crate::output;

/// Resolves secrets, acquires leases, runs the command, releases leases,
/// and ends the way the command ended. Without leases to revoke afterwards,
/// sesame execs the command in its own place (as `env` and `aws-vault exec` do).
pub fn run(global: &GlobalArgs, args: &ExecArgs) -> Result<i32> {
    let app = App::load(global)?;
    // With leases to mint, catch signals before anything else happens: one
    // that arrives while secrets resolve or leases are minted must not kill
    // sesame with credentials half-minted. Without leases there is nothing
    // to clean up, and the default action (dying by the signal) is right.
    // `as_file` secrets are removed when the command ends, so sesame must
    // wait for it, as with leases.
    let has_files = app.config.secrets.values().any(|s| s.as_file);
    let relay = if app.config.leases.is_empty() && !has_files {
        None
    } else {
        Some(SignalRelay::install()?)
    };
    crate::secret_env::sweep_files(&app);
    let rt = super::runtime()?;
    let resolution = super::resolve_secrets(&app, &rt, None)?;
    if let Some(relay) = &relay {
        stop_if_interrupted(relay);
    }

    let ctx = app.context().with_secrets(Arc::new(resolution.values.clone()));
    let leases = leasing::prepare(&app.config, &ctx)?;
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
            drop(relay);
            exit_like(ChildExit::Signal(signal));
        }
        Some(acquired?)
    };

    let (mut env, files) = crate::secret_env::for_exec(&app, resolution.values)?;
    if let Some(acquired) = &acquired {
        // A lease output replaces a secret of the same name (the child
        // token replaces the parent token).
        env.extend(acquired.env());
    }
    let (program, rest) = args.command.split_first().expect("clap requires a command");
    let must_revoke = files.is_some()
        || acquired
            .as_ref()
            .is_some_and(|a| a.leases.iter().any(|l| l.revoke_after));
    if !must_revoke {
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
    let relay = relay.expect("installed when leases or files exist");
    let exit = relay.run(program, rest, &env);
    drop(env);
    drop(files);

    if let Some(acquired) = &acquired {
        for problem in rt.block_on(leasing::release(acquired, &ctx, &ledger)) {
            output::warning(&format!("{problem}"));
        }
    }
    drop(relay);
    match exit {
        Ok(exit) => exit_like(exit),
        Err(e) => {
            eprintln!("sesame: error: {e}");
            Ok(e.exit_status())
        }
    }
}

fn stop_if_interrupted(relay: &SignalRelay) {
    let signal = relay.interrupted();
    if signal != 0 {
        exit_like(ChildExit::Signal(signal));
    }
}
