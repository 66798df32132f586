//! The record of a run (`sesame exec --record FILE`): one JSON document per
//! run, appended to FILE, holding what the run used and how it ended, and
//! never a value. The format is documented in docs/reference/json.md.
//!
//! Values cannot reach it by construction: a [`RunRecord`] is built from
//! names, provider names, references, ledger ids and times only, and the
//! command's arguments (kept only on request) pass through the run's
//! [`MaskSet`] first.

use std::path::Path;
use std::time::SystemTime;

use serde::Serialize;

use crate::config::Config;
use crate::leasing::{Acquired, Obtained};
use crate::ledger::LedgerEntry;
use crate::mask::MaskSet;
use crate::private_file;

/// The version of the record's format. Fields are only added within a version.
pub const RECORD_FORMAT_VERSION: u64 = 1;

/// One config file that applied.
#[derive(Debug, Clone, Serialize)]
pub struct FileRecord {
    /// Its path.
    pub path: String,
    /// How it was found (`global`, `project`, `local`, `explicit`).
    pub kind: crate::config::SourceKind,
    /// Its trust state (`own`, `trusted`, `changed`, `untrusted`, `trust-all`).
    pub trust: crate::trust::TrustState,
}

/// One secret: where it comes from, never its value.
#[derive(Debug, Clone, Serialize)]
pub struct SecretRecord {
    /// The variable's name.
    pub name: String,
    /// The provider's name, if any.
    pub provider: Option<String>,
    /// The reference the provider resolves (`value` in the config).
    pub reference: Option<String>,
}

/// One lease held for the run.
#[derive(Debug, Clone, Serialize)]
pub struct LeaseRecord {
    /// The lease's name.
    pub name: String,
    /// Its type.
    #[serde(rename = "type")]
    pub type_name: String,
    /// Its ledger id.
    pub ledger_id: String,
    /// `minted` or `reused`.
    pub obtained: &'static str,
    /// When the credential expires (RFC 3339), if known.
    pub expires_at: Option<String>,
    /// Whether the run had to revoke it when the command ended.
    pub revoke_after: bool,
    /// `revoked`, `failed`, `not-revocable` (it expires by itself), `kept`
    /// (left for reuse), or `null` while unknown.
    pub release: Option<&'static str>,
}

/// How the run ended.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "status", rename_all = "kebab-case")]
pub enum Outcome {
    /// The command exited with `code`.
    Exited {
        /// Its exit code.
        code: i32,
    },
    /// A signal killed the command.
    Signaled {
        /// The signal's number.
        signal: i32,
    },
    /// The command did not run: sesame stopped at `stage` and exited with `exit_code`.
    NotRun {
        /// `config`, `resolve`, `leases`, `start` or `interrupted`.
        stage: &'static str,
        /// sesame's own exit status (or 128 + signal).
        exit_code: i32,
    },
}

/// The command, by program name; its arguments only on request.
#[derive(Debug, Clone, Serialize)]
pub struct CommandRecord {
    /// The program as given.
    pub program: String,
    /// The arguments, masked, when asked for (`--record-args`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub args: Option<Vec<String>>,
}

/// The record of one run.
#[derive(Debug, Clone, Serialize)]
pub struct RunRecord {
    /// [`RECORD_FORMAT_VERSION`].
    pub format_version: u64,
    /// sesame's version.
    pub sesame_version: String,
    /// The config files, lowest precedence first.
    pub config_files: Vec<FileRecord>,
    /// The profile, if any.
    pub profile: Option<String>,
    /// Every configured secret.
    pub secrets: Vec<SecretRecord>,
    /// The leases held for the run.
    pub leases: Vec<LeaseRecord>,
    /// The command.
    pub command: CommandRecord,
    /// When sesame started the run (RFC 3339, UTC).
    pub started_at: String,
    /// When the run ended.
    pub ended_at: Option<String>,
    /// How it ended.
    pub outcome: Option<Outcome>,
    /// True when every lease that had to be revoked was revoked.
    pub leases_revoked: bool,
}

fn rfc3339(at: SystemTime) -> String {
    humantime::format_rfc3339_seconds(at).to_string()
}

impl RunRecord {
    /// A record of a run starting now, for `program` (and `args`, masked
    /// with `mask`, when `with_args`).
    pub fn start(sesame_version: &str, program: &str, args: Option<Vec<String>>) -> Self {
        Self {
            format_version: RECORD_FORMAT_VERSION,
            sesame_version: sesame_version.to_string(),
            config_files: Vec::new(),
            profile: None,
            secrets: Vec::new(),
            leases: Vec::new(),
            command: CommandRecord {
                program: program.to_string(),
                args,
            },
            started_at: rfc3339(SystemTime::now()),
            ended_at: None,
            outcome: None,
            leases_revoked: true,
        }
    }

    /// Adds the config files, the profile and every configured secret.
    pub fn with_config(&mut self, config: &Config) {
        self.config_files = config
            .files
            .iter()
            .map(|f| FileRecord {
                path: f.path.display().to_string(),
                kind: f.kind,
                trust: f.trust,
            })
            .collect();
        self.profile = config.profile.clone();
        self.secrets = config
            .secrets
            .values()
            .map(|s| SecretRecord {
                name: s.name.clone(),
                provider: config.provider_of(s).map(str::to_string),
                reference: s.value.clone(),
            })
            .collect();
    }

    /// Masks the recorded arguments with the run's values.
    pub fn mask_args(&mut self, mask: Option<&MaskSet>) {
        if let (Some(args), Some(mask)) = (self.command.args.as_mut(), mask) {
            for arg in args {
                *arg = mask.mask_str(arg);
            }
        }
    }

    /// Adds the leases held for the run, with expiry from the ledger.
    pub fn with_leases(&mut self, config: &Config, acquired: &Acquired, entries: &[LedgerEntry]) {
        self.leases = acquired
            .leases
            .iter()
            .map(|held| {
                let entry = entries.iter().find(|e| e.id == held.entry);
                LeaseRecord {
                    name: held.lease.clone(),
                    type_name: config
                        .leases
                        .get(&held.lease)
                        .map(|s| s.type_name.clone())
                        .or_else(|| entry.map(|e| e.backend.clone()))
                        .unwrap_or_default(),
                    ledger_id: held.entry.clone(),
                    obtained: match held.obtained {
                        Obtained::Minted => "minted",
                        Obtained::Reused => "reused",
                    },
                    expires_at: entry
                        .and_then(|e| e.expires_at)
                        .map(|t| rfc3339(SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(t))),
                    revoke_after: held.revoke_after,
                    release: if held.revoke_after { None } else { Some("kept") },
                }
            })
            .collect();
    }

    /// Notes what releasing did: `failed` names the leases whose revocation
    /// failed, `not_revocable` those the backend cannot revoke.
    pub fn released(&mut self, failed: &[String], not_revocable: &[String], all_failed: bool) {
        for lease in self.leases.iter_mut().filter(|l| l.revoke_after) {
            lease.release = Some(if all_failed || failed.contains(&lease.name) {
                "failed"
            } else if not_revocable.contains(&lease.name) {
                "not-revocable"
            } else {
                "revoked"
            });
        }
        self.leases_revoked = !self.leases.iter().any(|l| l.release == Some("failed"));
    }

    /// Sets the outcome and the end time.
    pub fn end(&mut self, outcome: Outcome) {
        self.ended_at = Some(rfc3339(SystemTime::now()));
        self.outcome = Some(outcome);
    }

    /// Appends this record as one line of JSON to `path`: under a lock on
    /// `path.lock`, the file is rewritten whole through a 0600 temporary
    /// file and a rename, so a reader or a crash never sees half a record.
    pub fn append_to(&self, path: &Path) -> std::io::Result<()> {
        let mut lock_name = path.as_os_str().to_owned();
        lock_name.push(".lock");
        let _lock = private_file::lock(Path::new(&lock_name))?;
        let mut text = match std::fs::read(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(e),
        };
        if !text.is_empty() && !text.ends_with(b"\n") {
            text.push(b'\n');
        }
        serde_json::to_writer(&mut text, self).map_err(std::io::Error::other)?;
        text.push(b'\n');
        private_file::write_atomic(path, &text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn records_append_as_json_lines_in_a_private_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("runs.jsonl");
        let mut record = RunRecord::start("0.1.0", "make", None);
        record.end(Outcome::Exited { code: 0 });
        record.append_to(&path).unwrap();
        record.end(Outcome::Signaled { signal: 15 });
        record.append_to(&path).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<serde_json::Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0]["outcome"], serde_json::json!({"status": "exited", "code": 0}));
        assert_eq!(
            lines[1]["outcome"],
            serde_json::json!({"status": "signaled", "signal": 15})
        );
        assert_eq!(lines[1]["format_version"], 1);
        assert!(lines[0]["command"].get("args").is_none());
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}
