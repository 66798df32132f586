//! The one decision of what acquiring a lease does: reuse a ledger entry,
//! mint, or take static credentials as they are. [`super::acquire`] acts
//! on it and `sesame check` reports it, so the two cannot disagree.

use super::{PreparedLease, REUSE_MARGIN};
use crate::duration::format_duration;
use crate::lease::Provision;
use crate::ledger::{LeaseState, LedgerEntry};
use crate::ledger_view::relative_time;

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

impl LeasePlan {
    /// `mint`, `reuse` or `static`, as `sesame check` reports the action.
    pub fn action(&self) -> &'static str {
        match self {
            Self::Reuse(_) => "reuse",
            Self::Mint { .. } => "mint",
            Self::Static { .. } => "static",
        }
    }

    /// The plan for `lease` in a sentence, at `now` (seconds).
    pub fn describe(&self, lease: &PreparedLease, now: u64) -> String {
        let minted = format!(
            "would mint a {} {} lease",
            format_duration(lease.duration),
            lease.type_name
        );
        match self {
            Self::Static { from } if from.is_empty() => {
                "static credentials from the config; nothing is minted or revoked".into()
            }
            Self::Static { from } => format!(
                "static credentials from {}; nothing is minted or revoked",
                from.iter().map(|n| format!("`{n}`")).collect::<Vec<_>>().join(", ")
            ),
            Self::Reuse(entry) => format!(
                "would reuse lease {} (expires {})",
                entry.id,
                relative_time(entry.expires_at.unwrap_or(now), now)
            ),
            Self::Mint { revoke_after: false } => minted,
            Self::Mint { revoke_after: true } => format!("{minted} and revoke it when the command ends"),
        }
    }
}
