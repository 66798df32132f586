//! What `sesame exec` does besides running the command: whether it masks
//! the output (`--mask`, `--no-mask`, `[exec] mask`, the CI default) and
//! the record of the run (`--record`, `SESAME_RECORD`, `[exec] record`).
//! Settings from untrusted files are ignored, and said so as an
//! [`Ignored`] the binary prints.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::PathBuf;

use crate::config::{Config, Setting};
use crate::leasing::{LeaseError, RunLeases};
use crate::mask::MaskSet;
use crate::process::{ChildExit, ExecError};
use crate::record::{Outcome, RunRecord};
use crate::{EnvSnapshot, SecretValue};

/// A setting of `[exec]` left out because its file is not trusted.
#[derive(Debug, thiserror::Error)]
#[error("`{setting}` in {} is ignored: the file is not trusted (run `sesame trust`)", file.display())]
pub struct Ignored {
    /// What was written (`mask = false`, `record`).
    pub setting: &'static str,
    /// The file it was written in.
    pub file: PathBuf,
}

impl Ignored {
    fn new<T>(config: &Config, setting: &'static str, at: &Setting<T>) -> Self {
        Self {
            setting,
            file: config.files[at.file].path.clone(),
        }
    }
}

/// The run record could not be written.
#[derive(Debug, thiserror::Error)]
#[error("cannot write the run record to {}: {source}", path.display())]
pub struct RecordError {
    /// The record file.
    pub path: PathBuf,
    /// Why.
    pub source: std::io::Error,
}

/// Whether to mask: `flag` (`--mask` true, `--no-mask` false), else
/// `[exec] mask` (`false` only from a trusted file), else on when `CI` is
/// set and sesame's stdout or stderr is not a terminal (a CI log, where
/// leaks are kept and read by many).
pub fn mask_wanted(flag: Option<bool>, config: &Config, env: &EnvSnapshot) -> (bool, Option<Ignored>) {
    if let Some(mask) = flag {
        return (mask, None);
    }
    let mut ignored = None;
    if let Some(setting) = &config.exec.mask {
        if setting.value || setting.trusted {
            return (setting.value, None);
        }
        ignored = Some(Ignored::new(config, "mask = false", setting));
    }
    let ci = env.var("CI").is_some_and(|v| !v.is_empty() && v != "0" && v != "false");
    let mask = ci && !(crate::pty::is_terminal(1) && crate::pty::is_terminal(2));
    (mask, ignored)
}

/// The record of this run, if one is wanted; every method does nothing
/// otherwise. A record that cannot be written goes to `report`.
pub struct RunLog {
    version: &'static str,
    command: Vec<OsString>,
    record_args: bool,
    report: fn(&RecordError),
    path: Option<PathBuf>,
    record: Option<RunRecord>,
}

impl RunLog {
    /// Starts the record when `record` (`--record`, `SESAME_RECORD`) names
    /// a file (the config may still ask, see [`RunLog::configure`]).
    /// `version` is sesame's; `record_args` is `--record-args`.
    pub fn new(
        version: &'static str,
        command: &[OsString],
        record: Option<PathBuf>,
        record_args: bool,
        report: fn(&RecordError),
    ) -> Self {
        let mut log = Self {
            version,
            command: command.to_vec(),
            record_args,
            report,
            path: None,
            record: None,
        };
        if let Some(path) = record {
            log.begin(path, record_args);
        }
        log
    }

    fn begin(&mut self, path: PathBuf, with_args: bool) {
        let (program, rest) = self.command.split_first().expect("clap requires a command");
        let rest = with_args.then(|| rest.iter().map(|a| a.to_string_lossy().into_owned()).collect());
        self.record = Some(RunRecord::start(self.version, &program.to_string_lossy(), rest));
        self.path = Some(path);
    }

    /// Applies `[exec] record`/`record_args` and notes the config files,
    /// the profile and the secrets; returns a `record` it ignored.
    pub fn configure(&mut self, config: &Config) -> Option<Ignored> {
        let mut ignored = None;
        if self.record.is_none() {
            if let Some(setting) = &config.exec.record {
                if setting.trusted {
                    let with_args = self.record_args || config.exec.record_args.as_ref().is_some_and(|s| s.value);
                    self.begin(setting.value.clone(), with_args);
                } else {
                    ignored = Some(Ignored::new(config, "record", setting));
                }
            }
        } else if let (Some(record), Some(setting)) = (&mut self.record, &config.exec.record_args) {
            if setting.value && record.command.args.is_none() {
                let rest = self.command[1..].iter().map(|a| a.to_string_lossy().into_owned());
                record.command.args = Some(rest.collect());
            }
        }
        if let Some(record) = &mut self.record {
            record.with_config(config);
        }
        ignored
    }

    /// Whether a record is kept.
    pub fn is_on(&self) -> bool {
        self.record.is_some()
    }

    /// Masks the recorded arguments with the run's values.
    pub fn mask_args(&mut self, env: &BTreeMap<String, SecretValue>) {
        if let Some(record) = &mut self.record {
            if record.command.args.is_some() {
                let (set, _) = MaskSet::new(env.iter().map(|(n, v)| (n.as_str(), v)));
                record.mask_args(set.as_ref());
            }
        }
    }

    /// Notes the leases held (with expiry from the ledger).
    pub fn leases(&mut self, config: &Config, leases: &RunLeases) {
        if let Some(record) = &mut self.record {
            let entries = leases.ledger().entries().unwrap_or_default();
            record.with_leases(config, leases.held(), &entries);
        }
    }

    /// Notes what releasing the leases did.
    pub fn released(&mut self, leases: &RunLeases, problems: &[LeaseError]) {
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
        let left = leases.ledger().entries().unwrap_or_default();
        let not_revocable: Vec<String> = leases
            .held()
            .filter(|h| h.revoke_after && left.iter().any(|e| Some(&e.id) == h.entry.as_ref() && !e.revocable))
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
        if let Err(source) = record.append_to(&path) {
            (self.report)(&RecordError { path, source });
        }
    }
}
