//! The one decision of what acquiring a lease does: reuse a ledger entry,
//! mint, or take static credentials as they are. [`super::acquire`] acts
//! on it and `sesame check` reports it, so the two cannot disagree.

use super::{PreparedLease, REUSE_MARGIN};
use crate::lease::Provision;
use crate::ledger::{LeaseState, LedgerEntry};

/// What acquiring one lease will do.
#[derive(Debug, Clone)]
pub enum LeasePlan {
    /// Reuse this ledger entry (a reusable lease, same profile, same
    /// fingerprint, more than [`REUSE_MARGIN`] left).
    Reuse(Box<LedgerEntry>),
    /// Record a pending entry and mint; `revoke_after` when `reuse = false`
    /// (revoked when the command ends).
    Mint {
        /// Revoked when the command ends.
        revoke_after: bool,
    },
    /// Hand on existing credentials (see [`Provision::Static`]): nothing is
    /// minted, recorded in the ledger or revoked.
    Static {
        /// The secrets (or variables) they are read from.
        from: Vec<String>,
    },
}

/// Plans `lease` against the ledger's `entries` at `now` (seconds) for
/// `profile`. Entries made by `sesame lease create` (`reuse = false`)
/// belong to the user and are never reused.
pub fn plan_lease(lease: &PreparedLease, entries: &[LedgerEntry], profile: Option<&str>, now: u64) -> LeasePlan {
    if let Provision::Static { from } = lease.backend.provision() {
        return LeasePlan::Static { from };
    }
    if !lease.reuse {
        return LeasePlan::Mint { revoke_after: true };
    }
    let reusable = entries.iter().find(|e| {
        e.lease == lease.name
            && e.profile.as_deref() == profile
            && e.reuse
            && e.state == LeaseState::Active
            && e.fingerprint == lease.fingerprint
            && e.expires_at.is_some_and(|t| t > now + REUSE_MARGIN.as_secs())
    });
    match reusable {
        Some(entry) => LeasePlan::Reuse(Box::new(entry.clone())),
        None => LeasePlan::Mint { revoke_after: false },
    }
}
