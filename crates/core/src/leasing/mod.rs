//! A run's leases: prepare them from the config, plan and acquire them
//! (reuse or mint, recorded in the ledger first), release them afterwards,
//! and clean up what runs left behind.

mod acquire;
mod cleanup;
mod create;
mod plan;
mod prepare;
mod run;

pub use acquire::*;
pub use cleanup::*;
pub use create::*;
pub use plan::*;
pub use prepare::*;
pub use run::*;

use crate::backend::BackendError;
use crate::config::ConfigError;
use crate::ledger::LedgerError;

/// Why leases could not be acquired or released.
#[derive(Debug, thiserror::Error)]
pub enum LeaseError {
    /// The configuration is wrong.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The ledger could not be used.
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    /// A backend failed (the message names the lease).
    #[error("lease `{lease}`: {error}")]
    Backend {
        /// The lease.
        lease: String,
        /// What the backend said (not a `source`: the message already
        /// includes it, and `{:#}` would print it twice).
        error: BackendError,
    },
    /// Several leases failed. Each member is a failure of its own, kept
    /// typed: the message only counts them; a caller reports
    /// [`LeaseError::failures`] one by one.
    #[error("{} lease operations failed", .0.len())]
    Many(Vec<LeaseError>),
    /// sesame got a signal while minting; whatever was minted was revoked.
    #[error("interrupted by signal {0} while minting leases; nothing was run")]
    Interrupted(i32),
}

impl LeaseError {
    /// The lease this failure concerns, when it is one lease's.
    pub fn lease(&self) -> Option<&str> {
        match self {
            Self::Backend { lease, .. } => Some(lease),
            _ => None,
        }
    }

    /// The single failures this error stands for: the members of
    /// [`LeaseError::Many`] (nested ones flattened), else itself.
    pub fn failures(&self) -> Vec<&LeaseError> {
        match self {
            Self::Many(members) => members.iter().flat_map(LeaseError::failures).collect(),
            single => vec![single],
        }
    }
}

/// Failures that share one cause: reported once, naming every lease.
#[derive(Debug)]
pub struct SameCause<'a> {
    /// The leases that failed this way (none for failures that are not
    /// one lease's, such as the ledger's).
    pub leases: Vec<&'a str>,
    /// The first of them.
    pub failure: &'a LeaseError,
}

impl LeaseError {
    /// The cause alone: a backend's error without the lease it concerns,
    /// else the whole message.
    pub fn cause(&self) -> String {
        match self {
            Self::Backend { error, .. } => error.to_string(),
            other => other.to_string(),
        }
    }

    /// [`LeaseError::failures`] grouped by cause, in the order they first
    /// appear (32 leases behind one expired parent token are one group).
    pub fn by_cause(&self) -> Vec<SameCause<'_>> {
        let mut groups: Vec<(String, SameCause<'_>)> = Vec::new();
        for failure in self.failures() {
            let cause = failure.cause();
            let lease = failure.lease();
            let same =
                |(c, g): &&mut (String, SameCause<'_>)| *c == cause && g.failure.lease().is_some() == lease.is_some();
            match groups.iter_mut().find(same) {
                Some((_, group)) => group.leases.extend(lease),
                None => groups.push((
                    cause,
                    SameCause {
                        leases: lease.into_iter().collect(),
                        failure,
                    },
                )),
            }
        }
        groups.into_iter().map(|(_, group)| group).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failed(lease: &str, message: &str) -> LeaseError {
        LeaseError::Backend {
            lease: lease.into(),
            error: BackendError::NotFound {
                message: message.into(),
            },
        }
    }

    #[test]
    fn many_keeps_its_members_typed_and_flat() {
        let inner = LeaseError::Many(vec![failed("b", "denied"), LeaseError::Interrupted(2)]);
        let many = LeaseError::Many(vec![failed("a", "denied"), inner]);
        let failures = many.failures();
        assert_eq!(failures.len(), 3);
        assert_eq!(
            failures.iter().map(|f| f.lease()).collect::<Vec<_>>(),
            [Some("a"), Some("b"), None]
        );
        assert!(matches!(failures[2], LeaseError::Interrupted(2)));
        // The summary counts; it does not paste the members' messages together.
        assert!(!many.to_string().contains("denied"), "{many}");
    }

    #[test]
    fn one_cause_is_one_group_naming_every_lease() {
        let many = LeaseError::Many(vec![
            failed("a", "token expired"),
            failed("b", "bucket missing"),
            failed("c", "token expired"),
            LeaseError::Interrupted(15),
            LeaseError::Interrupted(15),
        ]);
        let groups = many.by_cause();
        let shown: Vec<(Vec<&str>, String)> = groups.iter().map(|g| (g.leases.clone(), g.failure.cause())).collect();
        assert_eq!(
            shown,
            [
                (vec!["a", "c"], "token expired".to_string()),
                (vec!["b"], "bucket missing".to_string()),
                (vec![], LeaseError::Interrupted(15).to_string()),
            ]
        );
    }
}
