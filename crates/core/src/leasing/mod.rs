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
    /// Several leases failed.
    #[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))]
    Many(Vec<LeaseError>),
    /// sesame got a signal while minting; whatever was minted was revoked.
    #[error("interrupted by signal {0} while minting leases; nothing was run")]
    Interrupted(i32),
}
