//! `sesame lease create`: which leases to mint, for how long, and handing
//! what was minted over to the user (no run owns it then).

use std::time::Duration;

use super::{HeldLease, RunLeases};
use crate::config::{did_you_mean, Config};
use crate::duration::format_duration;
use crate::ledger::LedgerError;

/// Why `lease create` cannot mint what was asked.
#[derive(Debug, thiserror::Error)]
pub enum CreateError {
    /// The config has no `[leases.*]` table.
    #[error("no leases are configured\n  hint: {}", Self::NO_LEASES_HINT)]
    NoLeases,
    /// No lease has this name.
    #[error("no lease named `{name}`\n  hint: {hint}")]
    UnknownLease {
        /// The name asked for.
        name: String,
        /// The nearest name, or the configured ones.
        hint: String,
    },
    /// `--duration` is more than the backend allows.
    #[error(
        "lease `{lease}`: --duration {} is more than the {type_name} backend allows ({})\n  hint: use at most `--duration {}`",
        format_duration(*.requested), format_duration(*.max), format_duration(*.max)
    )]
    TooLong {
        /// The lease.
        lease: String,
        /// Its backend type.
        type_name: String,
        /// What was asked.
        requested: Duration,
        /// The backend's most.
        max: Duration,
    },
}

impl CreateError {
    /// How to fix [`CreateError::NoLeases`].
    pub const NO_LEASES_HINT: &'static str =
        "add a [leases.NAME] table with a `type` (`sesame backends` lists the lease types)";
}

/// Checks that `config` has leases and, when `name` is given, one of that name.
pub fn check_selection(config: &Config, name: Option<&str>) -> Result<(), CreateError> {
    if config.leases.is_empty() {
        return Err(CreateError::NoLeases);
    }
    match name {
        Some(name) if !config.leases.contains_key(name) => {
            let names: Vec<&str> = config.leases.keys().map(String::as_str).collect();
            let hint = match did_you_mean(name, names.iter().copied()) {
                Some(best) => format!("did you mean `{best}`?"),
                None => format!("configured leases: {}", names.join(", ")),
            };
            Err(CreateError::UnknownLease {
                name: name.to_string(),
                hint,
            })
        }
        _ => Ok(()),
    }
}

impl RunLeases {
    /// Keeps the prepared lease `name` (all when `None`) and asks each for
    /// a fresh credential (not a cached one: it is the user's), of
    /// `duration` when given.
    pub fn select_fresh(&mut self, name: Option<&str>, duration: Option<Duration>) -> Result<(), CreateError> {
        let leases = self.leases_mut();
        leases.retain(|l| name.is_none_or(|n| n == l.name));
        for lease in leases {
            lease.reuse = false;
            if let Some(requested) = duration {
                let max = lease.backend.max_duration();
                if requested > max {
                    return Err(CreateError::TooLong {
                        lease: lease.name.clone(),
                        type_name: lease.type_name.clone(),
                        requested,
                        max,
                    });
                }
                lease.duration = requested;
            }
        }
        Ok(())
    }

    /// Hands the acquired leases over to the user: held until they expire
    /// or `sesame lease revoke`, so no run owns them and `lease cleanup`
    /// leaves them alone (pid 0 in the ledger). Returns them.
    pub fn hand_over(&mut self) -> Result<Vec<HeldLease>, LedgerError> {
        self.stop_catching_signals();
        let held: Vec<HeldLease> = self.held().cloned().collect();
        let ids: Vec<&String> = held.iter().filter_map(|h| h.entry.as_ref()).collect();
        self.ledger().update(|all| {
            for entry in all.iter_mut().filter(|e| ids.contains(&&e.id)) {
                entry.pid = 0;
            }
        })?;
        Ok(held)
    }
}
