//! `sesame exec -- CMD ARGS...`.

use std::collections::BTreeSet;
use std::sync::Arc;

use anyhow::Result;
use sesame_core::process::{exec_replace, exit_like, ChildExit, SignalRelay};
use sesame_core::{leasing, parent_env};

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
    let relay = if app.config.leases.is_empty() {
        None
    } else {
        Some(SignalRelay::install()?)
    };
    let rt = super::runtime()?;
    let resolution = super::resolve_secrets(&app, &rt, None)?;
    if let Some(relay) = &relay {
        stop_if_interrupted(relay);
    }

    let ctx = app.context().with_secrets(Arc::new(resolution.values.clone()));
    let leases = leasing::prepare(&app.config, &ctx)?;
    let ledger = app.ledger();
    let consumed = parent_env::consumed(&leases, &ctx);
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

    let mut env = resolution.values;
    let mut outputs = BTreeSet::new();
    if let Some(acquired) = &acquired {
        // A lease output replaces a secret of the same name (the child
        // token replaces the parent token).
        let lease_env = acquired.env();
        outputs.extend(lease_env.keys().cloned());
        env.extend(lease_env);
    }
    let inherited: Vec<String> = app.env.names().map(str::to_string).collect();
    let removed = parent_env::strip(&consumed, &mut env, &outputs, &app.env, inherited);
    for (name, lease) in &removed {
        tracing::info!(
            "{name} is not passed to the command: lease `{lease}` consumed it (`keep_parent = true` in the lease keeps it)"
        );
    }
    let remove: BTreeSet<String> = removed.into_keys().collect();
    if let Some(name) = sesame_core::process::nul_in_env(&env) {
        anyhow::bail!(
            "`{}` holds a NUL byte, which an environment variable cannot carry\n  hint: check the secret's value at its provider",
            sesame_core::config::escape(name)
        );
    }
    let (program, rest) = args.command.split_first().expect("clap requires a command");
    let must_revoke = acquired
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
        let error = exec_replace(program, rest, &env, &remove);
        eprintln!("sesame: error: {error}");
        return Ok(error.exit_status());
    }
    let relay = relay.expect("installed when leases exist");
    let exit = relay.run(program, rest, &env, &remove);
    drop(env);

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
