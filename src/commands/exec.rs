//! `sesame exec -- CMD ARGS...`.

use std::collections::BTreeSet;
use std::sync::Arc;

use anyhow::Result;
use sesame_core::leasing::LeaseError;
use sesame_core::parent_env;
use sesame_core::process::{exec_replace, exit_like, ChildExit};

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
    // Signals are caught from here on (see RunLeases) when there are leases
    // to mint, or when sesame supervises the command to mask or record it,
    // or to remove its `as_file` secrets afterwards.
    let has_files = app.config.secrets.values().any(|s| s.as_file);
    let supervise = mask || log.is_on() || has_files;
    let mut leases = app.leases(!app.config.leases.is_empty() || supervise)?;
    crate::secret_env::sweep_files(&app);
    let rt = super::runtime()?;
    let resolution = super::resolve_secrets(&app, &rt, None).inspect_err(|_| log.not_run("resolve", 125))?;
    exit_if_interrupted(leases.interrupted(), &mut log);
    let ctx = app.context().with_secrets(Arc::new(resolution.values.clone()));
    leases
        .prepare(&app.config, &ctx)
        .inspect_err(|_| log.not_run("leases", 125))?;
    let consumed = parent_env::consumed(leases.leases(), &ctx);
    if let Err(e) = rt.block_on(leases.acquire()) {
        drop(leases);
        match e {
            LeaseError::Interrupted(signal) => {
                log.not_run("interrupted", 128 + signal);
                exit_like(ChildExit::Signal(signal))
            }
            e => {
                log.not_run("leases", 125);
                return Err(e.into());
            }
        }
    }
    log.leases(&app.config, &leases);
    let (mut env, files) = crate::secret_env::for_exec(&app, resolution.values)?;
    // A lease output replaces a secret of the same name (the child token
    // replaces the parent token); a parent credential a lease consumed is
    // kept from the command.
    let lease_env = leases.env();
    let outputs: BTreeSet<String> = lease_env.keys().cloned().collect();
    env.extend(lease_env);
    let removed = parent_env::strip(&consumed, &mut env, &outputs, &app.env);
    for (name, lease) in &removed {
        tracing::info!(
            "{name} is not passed to the command: lease `{lease}` consumed it (`keep_parent = true` in the lease keeps it)"
        );
    }
    let remove: BTreeSet<String> = removed.into_keys().collect();
    if let Some(name) = sesame_core::process::nul_in_env(&env) {
        log.not_run("resolve", 125);
        anyhow::bail!(
            "`{}` holds a NUL byte, which an environment variable cannot carry\n  hint: check the secret's value at its provider",
            sesame_core::config::escape(name)
        );
    }
    log.mask_args(&env);
    let mask = if mask { mask_set(&env) } else { None };
    let (program, rest) = args.command.split_first().expect("clap requires a command");
    if !leases.must_revoke() && files.is_none() && mask.is_none() && !log.is_on() {
        // Nothing to do afterwards: become the command.
        exit_if_interrupted(leases.stop_catching_signals(), &mut log);
        let error = exec_replace(program, rest, &env, &remove);
        eprintln!("sesame: error: {error}");
        return Ok(error.exit_status());
    }
    let relay = leases
        .signals()
        .expect("caught with leases, files, masking or recording");
    let exit = match mask {
        Some(set) => sesame_core::masked_io::run_masked(relay, program, rest, &env, &remove, set),
        None => relay.run(program, rest, &env, &remove),
    };
    drop(env);
    drop(files);
    let problems = rt.block_on(leases.release());
    for problem in &problems {
        output::warning(&format!("{problem}"));
    }
    log.released(&leases, &problems);
    log.finish(&exit);
    drop(leases);
    match exit {
        Ok(exit) => exit_like(exit),
        Err(e) => {
            eprintln!("sesame: error: {e}");
            Ok(e.exit_status())
        }
    }
}

/// Dies by `signal` if one arrived (0: none), noting it in the record.
fn exit_if_interrupted(signal: i32, log: &mut RunLog) {
    if signal != 0 {
        log.not_run("interrupted", 128 + signal);
        exit_like(ChildExit::Signal(signal));
    }
}
