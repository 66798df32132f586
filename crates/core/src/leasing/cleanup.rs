//! `sesame lease cleanup`: which ledger entries are stale, and revoking
//! and pruning them.

use std::sync::Arc;

use super::{prepare_one, revoke_entry, LeaseError};
use crate::backend::{BackendContext, BackendError};
use crate::config::Config;
use crate::lease::{find_lease_type, LeaseBackend};
use crate::ledger::{unix_now, LeaseState, Ledger, LedgerEntry};
pub use crate::process::process_alive;

/// Why `sesame lease cleanup` acts on a ledger entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StaleReason {
    /// The credential has expired (it may still count against a quota).
    Expired,
    /// sesame died while minting it (pending, its process is gone).
    Interrupted,
    /// `reuse = false`, and the run that should have revoked it is gone
    /// (killed, or revocation failed).
    Abandoned,
    /// Its lease is no longer in the config (and no run holds it).
    Unconfigured,
}

impl StaleReason {
    /// A few words for reports.
    pub fn describe(self) -> &'static str {
        match self {
            Self::Expired => "expired",
            Self::Interrupted => "minting was interrupted",
            Self::Abandoned => "its run ended without revoking it",
            Self::Unconfigured => "its lease is no longer configured",
        }
    }
}

/// Whether `sesame lease cleanup` should revoke and prune `entry` at `now`.
/// Entries a live run still holds, reusable leases in their lifetime and
/// `sesame lease create` leases in their lifetime are left alone.
pub fn stale_reason(entry: &LedgerEntry, config: &Config, now: u64) -> Option<StaleReason> {
    if entry.is_expired(now) {
        return Some(StaleReason::Expired);
    }
    let alive = process_alive(entry.pid);
    let held_by_user = entry.pid == 0;
    match entry.state {
        LeaseState::Pending if !alive => Some(StaleReason::Interrupted),
        LeaseState::Pending => None,
        LeaseState::Active if !entry.reuse && !alive && !held_by_user => Some(StaleReason::Abandoned),
        LeaseState::Active
            if !alive
                && config
                    .leases
                    .get(&entry.lease)
                    .is_none_or(|spec| spec.type_name != entry.backend) =>
        {
            Some(StaleReason::Unconfigured)
        }
        LeaseState::Active => None,
    }
}

/// The backend that can revoke `entry`: its configured lease when the
/// config still has it (same name and type), else the type with an empty
/// table (backends keep what revoking needs in the entry's `data`).
pub fn backend_for_entry(
    config: &Config,
    ctx: &BackendContext,
    entry: &LedgerEntry,
) -> Result<Arc<dyn LeaseBackend>, LeaseError> {
    let backend_error = |error| LeaseError::Backend {
        lease: entry.lease.clone(),
        error,
    };
    if let Some(spec) = config.leases.get(&entry.lease).filter(|s| s.type_name == entry.backend) {
        if let Ok(prepared) = prepare_one(config, spec, ctx) {
            return Ok(prepared.backend);
        }
    }
    let registration = find_lease_type(&entry.backend).ok_or_else(|| {
        backend_error(BackendError::failed(
            format!("lease type `{}` is not part of this build of sesame", entry.backend),
            Some("run `sesame backends` to see the registered types".into()),
        ))
    })?;
    let table = crate::BackendConfig::new(
        entry.lease.clone(),
        entry.backend.clone(),
        format!("[leases.{}]", entry.lease),
        toml::Table::new(),
        |_: &[String]| "<lease ledger>".to_string(),
    );
    (registration.factory)(&table, ctx)
        .map(Arc::from)
        .map_err(backend_error)
}

/// Revokes one ledger entry with `backend` and drops it from the ledger
/// when it is revoked or gone. `Ok(false)`: the backend could not find it;
/// the entry stays.
pub async fn revoke_and_forget(
    backend: &dyn LeaseBackend,
    ctx: &BackendContext,
    ledger: &Ledger,
    entry: &LedgerEntry,
) -> Result<bool, LeaseError> {
    let revoked = revoke_entry(backend, ctx, entry)
        .await
        .map_err(|error| LeaseError::Backend {
            lease: entry.lease.clone(),
            error,
        })?;
    if revoked {
        ledger.update(|all| all.retain(|e| e.id != entry.id))?;
    }
    Ok(revoked)
}

/// `sesame lease revoke`: the backend could not find the credential.
#[derive(Debug, thiserror::Error)]
#[error(
    "lease `{lease}` ({id}): the credential could not be found to revoke; it stays in the ledger\n  hint: {}",
    Self::HINT
)]
pub struct NotFoundToRevoke {
    /// The lease.
    pub lease: String,
    /// Its ledger entry.
    pub id: String,
}

impl NotFoundToRevoke {
    /// What happens to it.
    pub const HINT: &'static str = "it stops working when it expires; `sesame lease cleanup` forgets it then";

    /// The error for `entry`.
    pub fn of(entry: &LedgerEntry) -> Self {
        Self {
            lease: entry.lease.clone(),
            id: entry.id.clone(),
        }
    }
}

/// What `sesame lease cleanup` did with one entry.
#[derive(Debug)]
pub enum CleanupOutcome {
    /// Revoked (or found already gone) and removed from the ledger.
    Revoked,
    /// Removed from the ledger without revoking: it cannot be revoked, or
    /// it never got minted, and its lifetime is over.
    Pruned,
    /// Left in the ledger, with the reason.
    Kept(String),
    /// Revoking failed; the entry stays.
    Failed(LeaseError),
}

/// How many entries `sesame lease cleanup` revoked, forgot, kept and
/// failed to revoke.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct CleanupTally {
    /// Revoked and forgotten.
    pub revoked: usize,
    /// Forgotten without revoking.
    pub pruned: usize,
    /// Left in the ledger.
    pub kept: usize,
    /// Revoking failed.
    pub failed: usize,
}

impl CleanupTally {
    /// The counts of `items`.
    pub fn of(items: &[CleanupItem]) -> Self {
        let mut tally = Self::default();
        for item in items {
            *match item.outcome {
                CleanupOutcome::Revoked => &mut tally.revoked,
                CleanupOutcome::Pruned => &mut tally.pruned,
                CleanupOutcome::Kept(_) => &mut tally.kept,
                CleanupOutcome::Failed(_) => &mut tally.failed,
            } += 1;
        }
        tally
    }
}

/// One entry `sesame lease cleanup` acted on.
#[derive(Debug)]
pub struct CleanupItem {
    /// The entry as it was.
    pub entry: LedgerEntry,
    /// Why it was stale.
    pub reason: StaleReason,
    /// What happened.
    pub outcome: CleanupOutcome,
}

/// Revokes and prunes every stale entry of the ledger (see
/// [`stale_reason`]), concurrently.
pub async fn cleanup(config: &Config, ctx: &BackendContext, ledger: &Ledger) -> Result<Vec<CleanupItem>, LeaseError> {
    let now = unix_now();
    let stale: Vec<(LedgerEntry, StaleReason)> = ledger
        .entries()?
        .into_iter()
        .filter_map(|e| stale_reason(&e, config, now).map(|r| (e, r)))
        .collect();
    let jobs = stale.into_iter().map(|(entry, reason)| async move {
        let outcome = cleanup_one(config, ctx, ledger, &entry, now).await;
        CleanupItem { entry, reason, outcome }
    });
    Ok(futures_util::future::join_all(jobs).await)
}

async fn cleanup_one(
    config: &Config,
    ctx: &BackendContext,
    ledger: &Ledger,
    entry: &LedgerEntry,
    now: u64,
) -> CleanupOutcome {
    let forget = || match ledger.update(|all| all.retain(|e| e.id != entry.id)) {
        Ok(()) => CleanupOutcome::Pruned,
        Err(e) => CleanupOutcome::Failed(e.into()),
    };
    if !entry.revocable {
        return if entry.is_expired(now) {
            forget()
        } else {
            CleanupOutcome::Kept("the backend cannot revoke it; it stays until it expires".into())
        };
    }
    let backend = match backend_for_entry(config, ctx, entry) {
        Ok(backend) => backend,
        Err(e) => return CleanupOutcome::Failed(e),
    };
    match revoke_and_forget(backend.as_ref(), ctx, ledger, entry).await {
        Ok(true) => CleanupOutcome::Revoked,
        Ok(false) if entry.created_at + backend.max_duration().as_secs() <= now => forget(),
        Ok(false) => CleanupOutcome::Kept(
            "the credential could not be found to revoke; the entry stays until its lifetime is over".into(),
        ),
        Err(e) => CleanupOutcome::Failed(e),
    }
}

/// What `sesame lease cleanup --remote` found for one configured lease.
#[derive(Debug)]
pub enum RemoteOutcome {
    /// The backend listed its credentials and deleted expired ones sesame
    /// created.
    Cleaned {
        /// The lease.
        lease: String,
        /// What it did.
        report: crate::lease::RemoteCleanup,
    },
    /// The backend cannot list its credentials.
    Unsupported {
        /// The lease.
        lease: String,
        /// Its type.
        type_name: String,
    },
    /// Listing or deleting failed.
    Failed {
        /// The lease.
        lease: String,
        /// Why.
        error: BackendError,
    },
}

/// Asks every prepared lease's backend to delete the expired credentials
/// sesame created at the service. One after another: leases that share a
/// credential collection find what the first one deleted already gone, and
/// a collection (a report's `scope`) is reported once.
pub async fn cleanup_remote(leases: &[super::PreparedLease], ctx: &BackendContext) -> Vec<RemoteOutcome> {
    let mut seen = Vec::new();
    let mut outcomes = Vec::new();
    for lease in leases {
        match lease.backend.cleanup_remote(ctx).await {
            Ok(Some(report)) if seen.contains(&report.scope) => {}
            Ok(Some(report)) => {
                seen.push(report.scope.clone());
                outcomes.push(RemoteOutcome::Cleaned {
                    lease: lease.name.clone(),
                    report,
                });
            }
            Ok(None) => outcomes.push(RemoteOutcome::Unsupported {
                lease: lease.name.clone(),
                type_name: lease.type_name.clone(),
            }),
            Err(error) => outcomes.push(RemoteOutcome::Failed {
                lease: lease.name.clone(),
                error,
            }),
        }
    }
    outcomes
}
