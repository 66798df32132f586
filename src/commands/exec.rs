//! `sesame exec -- CMD ARGS...`.

use std::sync::Arc;

use anyhow::Result;
use sesame_core::exec_options::{mask_wanted, RunLog};
use sesame_core::leasing::LeaseError;
use sesame_core::mask::MaskSet;
use sesame_core::process::{exec_replace, exit_like, ChildExit};
use sesame_core::{locations, parent_env, secret_env, secret_files};

use crate::app::App;
use crate::cli::{ExecArgs, GlobalArgs};
use crate::output::warning;

/// Resolves secrets, acquires leases, runs the command, releases leases,
/// and ends the way the command ended. Without leases to revoke afterwards,
/// sesame execs the command in its own place (as `env` and `aws-vault exec` do),
/// unless it masks the output or records the run.
pub fn run(global: &GlobalArgs, args: &ExecArgs) -> Result<i32> {
    let report = |e: &sesame_core::exec_options::RecordError| warning(&e.to_string());
    let version = env!("CARGO_PKG_VERSION");
    let mut log = RunLog::new(version, &args.command, args.record.clone(), args.record_args, report);
    let app = App::load(global).inspect_err(|_| log.not_run("config", 125))?;
    log.configure(&app.config)
        .inspect(|ignored| warning(&ignored.to_string()));
    let flag = (args.mask || args.no_mask).then_some(args.mask);
    let (mask, ignored) = mask_wanted(flag, &app.config, &app.env);
    ignored.inspect(|ignored| warning(&ignored.to_string()));
    // Signals are caught from here on (see RunLeases) when there are leases
    // to mint, or when sesame supervises the command to mask or record it,
    // or to remove its `as_file` secrets afterwards.
    let has_files = app.config.secrets.values().any(|s| s.as_file);
    let supervise = mask || log.is_on() || has_files;
    let mut leases = app.leases(!app.config.leases.is_empty() || supervise)?;
    secret_files::sweep_and_log(&locations::state_dir(&app.env));
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
    let (secrets, files) = secret_env::for_exec(&app.config, &locations::state_dir(&app.env), resolution.values)
        .map_err(|e| {
            anyhow::anyhow!("cannot write the `as_file` secrets to private files in the state directory: {e}")
        })?;
    // A lease output replaces a secret of the same name (the child token
    // replaces the parent token); a parent credential a lease consumed is
    // kept from the command.
    let (env, remove) = parent_env::command_env(&consumed, secrets, leases.env(), &app.env)
        .inspect_err(|_| log.not_run("resolve", 125))?;
    log.mask_args(&env);
    let mask = mask.then(|| MaskSet::new(env.iter().map(|(name, value)| (name.as_str(), value))));
    let mask = mask.and_then(|(set, short)| {
        short.iter().for_each(|unmasked| warning(&unmasked.to_string()));
        set.map(Arc::new)
    });
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
    problems.iter().for_each(|problem| warning(&problem.to_string()));
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
