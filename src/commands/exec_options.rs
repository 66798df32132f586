//! What `sesame exec` does besides running the command: whether it masks
//! the output (`--mask`, `--no-mask`, `[exec] mask`, the CI default) and
//! the record of the run (`--record`, `SESAME_RECORD`, `[exec] record`).

use std::path::PathBuf;
use std::sync::Arc;

use sesame_core::config::Config;
use sesame_core::leasing::{Acquired, LeaseError};
use sesame_core::mask::MaskSet;
use sesame_core::process::{ChildExit, ExecError};
use sesame_core::record::{Outcome, RunRecord};
use sesame_core::{EnvSnapshot, SecretValue};

use crate::cli::ExecArgs;
use crate::output;

/// Whether to mask: the flags, else `[exec] mask` (`false` only from a
/// trusted file), else on when `CI` is set and sesame's stdout or stderr
/// is not a terminal (a CI log, where leaks are kept and read by many).
pub fn mask_wanted(args: &ExecArgs, config: &Config, env: &EnvSnapshot) -> bool {
    if args.mask {
        return true;
    }
    if args.no_mask {
        return false;
    }
    if let Some(setting) = &config.exec.mask {
        if setting.value || setting.trusted {
            return setting.value;
        }
        output::warning(&format!(
            "`mask = false` in {} is ignored: the file is not trusted (run `sesame trust`)",
            config.files[setting.file].path.display()
        ));
    }
    let ci = env.var("CI").is_some_and(|v| !v.is_empty() && v != "0" && v != "false");
    ci && !(sesame_core::pty::is_terminal(1) && sesame_core::pty::is_terminal(2))
}

/// The values to mask: every variable sesame injects. Warns, by name, about
/// those too short to mask.
pub fn mask_set(env: &std::collections::BTreeMap<String, SecretValue>) -> Option<Arc<MaskSet>> {
    let (set, short) = MaskSet::new(env.iter().map(|(name, value)| (name.as_str(), value)));
    for unmasked in short {
        output::warning(&unmasked.to_string());
    }
    set.map(Arc::new)
}

/// The record of this run, if one is wanted; every method does nothing otherwise.
pub struct RunLog {
    path: Option<PathBuf>,
    record: Option<RunRecord>,
}

impl RunLog {
    /// Starts the record when `--record`/`SESAME_RECORD` asks for one
    /// (the config may still ask, see [`RunLog::configure`]).
    pub fn new(args: &ExecArgs) -> Self {
        let mut log = Self {
            path: None,
            record: None,
        };
        if let Some(path) = &args.record {
            log.begin(path.clone(), args, args.record_args);
        }
        log
    }

    fn begin(&mut self, path: PathBuf, args: &ExecArgs, with_args: bool) {
        let (program, rest) = args.command.split_first().expect("clap requires a command");
        let rest = with_args.then(|| rest.iter().map(|a| a.to_string_lossy().into_owned()).collect());
        self.record = Some(RunRecord::start(
            env!("CARGO_PKG_VERSION"),
            &program.to_string_lossy(),
            rest,
        ));
        self.path = Some(path);
    }

    /// Applies `[exec] record`/`record_args` and notes the config files,
    /// the profile and the secrets.
    pub fn configure(&mut self, args: &ExecArgs, config: &Config) {
        if self.record.is_none() {
            if let Some(setting) = &config.exec.record {
                if setting.trusted {
                    let with_args = args.record_args || config.exec.record_args.as_ref().is_some_and(|s| s.value);
                    self.begin(setting.value.clone(), args, with_args);
                } else {
                    output::warning(&format!(
                        "`record` in {} is ignored: the file is not trusted (run `sesame trust`)",
                        config.files[setting.file].path.display()
                    ));
                }
            }
        } else if let (Some(record), Some(setting)) = (&mut self.record, &config.exec.record_args) {
            if setting.value && record.command.args.is_none() {
                let rest = args.command[1..].iter().map(|a| a.to_string_lossy().into_owned());
                record.command.args = Some(rest.collect());
            }
        }
        if let Some(record) = &mut self.record {
            record.with_config(config);
        }
    }

    /// Whether a record is kept.
    pub fn is_on(&self) -> bool {
        self.record.is_some()
    }

    /// Masks the recorded arguments with the run's values.
    pub fn mask_args(&mut self, env: &std::collections::BTreeMap<String, SecretValue>) {
        if let Some(record) = &mut self.record {
            if record.command.args.is_some() {
                let (set, _) = MaskSet::new(env.iter().map(|(n, v)| (n.as_str(), v)));
                record.mask_args(set.as_ref());
            }
        }
    }

    /// Notes the leases held (with expiry from the ledger).
    pub fn leases(&mut self, config: &Config, acquired: &Acquired, ledger: &sesame_core::ledger::Ledger) {
        if let Some(record) = &mut self.record {
            let entries = ledger.entries().unwrap_or_default();
            record.with_leases(config, acquired, &entries);
        }
    }

    /// Notes what releasing the leases did.
    pub fn released(&mut self, acquired: &Acquired, ledger: &sesame_core::ledger::Ledger, problems: &[LeaseError]) {
        let Some(record) = &mut self.record else { return };
        let mut failed = Vec::new();
        let mut all_failed = false;
        for problem in problems {
            match problem {
                LeaseError::Backend { lease, .. } => failed.push(lease.clone()),
                _ => all_failed = true,
            }
        }
        // Leases whose entry is still in the ledger and were not reported
        // failed could not be revoked one by one (they expire by themselves).
        let left = ledger.entries().unwrap_or_default();
        let not_revocable: Vec<String> = acquired
            .leases
            .iter()
            .filter(|h| h.revoke_after && left.iter().any(|e| e.id == h.entry && !e.revocable))
            .map(|h| h.lease.clone())
            .collect();
        record.released(&failed, &not_revocable, all_failed);
    }

    /// Ends the record with the command's exit, or with the reason it did
    /// not run, and appends it to the file.
    pub fn finish(&mut self, exit: &Result<ChildExit, ExecError>) {
        let outcome = match exit {
            Ok(ChildExit::Code(code)) => Outcome::Exited { code: *code },
            Ok(ChildExit::Signal(signal)) => Outcome::Signaled { signal: *signal },
            Err(e) => Outcome::NotRun {
                stage: "start",
                exit_code: e.exit_status(),
            },
        };
        self.write(outcome);
    }

    /// Ends the record for a run that stopped at `stage` before the command
    /// ran, sesame exiting with `exit_code`.
    pub fn not_run(&mut self, stage: &'static str, exit_code: i32) {
        self.write(Outcome::NotRun { stage, exit_code });
    }

    fn write(&mut self, outcome: Outcome) {
        let (Some(mut record), Some(path)) = (self.record.take(), self.path.take()) else {
            return;
        };
        record.end(outcome);
        if let Err(e) = record.append_to(&path) {
            output::warning(&format!("cannot write the run record to {}: {e}", path.display()));
        }
    }
}
