//! Acquiring leases for a run (reuse or mint, recorded in the ledger first)
//! and releasing them afterwards.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::Arc;
use std::time::UNIX_EPOCH;

use super::{plan_lease, LeaseError, LeasePlan, PreparedLease};
use crate::backend::{BackendContext, BackendError};
use crate::duration::format_duration;
use crate::lease::{LeaseBackend, LeaseRequest, RevokeRequest};
use crate::ledger::LedgerError;
use crate::ledger::{new_id, unix_now, LeaseState, Ledger, LedgerEntry};
use crate::SecretValue;

/// How a lease was obtained for this run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Obtained {
    /// Taken from the ledger.
    Reused,
    /// Minted now.
    Minted,
    /// Static credentials handed on as they are (not in the ledger).
    Static,
}

/// A lease held for this run.
#[derive(Debug, Clone)]
pub struct HeldLease {
    /// The lease's config name.
    pub lease: String,
    /// The ledger entry id (`None` for static credentials, which the
    /// ledger does not record).
    pub entry: Option<String>,
    /// When the credential expires (seconds since the epoch), if known.
    pub expires_at: Option<u64>,
    /// Reused or minted.
    pub obtained: Obtained,
    /// Whether it must be revoked when the command ends.
    pub revoke_after: bool,
    /// Variables for the child.
    pub env: BTreeMap<String, SecretValue>,
}

/// Everything acquired for one run.
pub struct Acquired {
    /// The leases, in name order (when two set the same variable, the
    /// later name wins).
    pub leases: Vec<HeldLease>,
    backends: BTreeMap<String, Arc<dyn LeaseBackend>>,
}

impl Acquired {
    /// Every variable the leases set, later leases overriding earlier ones.
    pub fn env(&self) -> BTreeMap<String, SecretValue> {
        self.leases.iter().flat_map(|l| l.env.clone()).collect()
    }
}

/// The label a credential is minted with: says sesame, the lease and the
/// host, and carries the ledger id; at most 120 characters.
pub fn label(lease: &str, id: &str) -> String {
    let host = hostname();
    let mut label = format!("sesame {lease} {host} {id}");
    if label.len() > 120 {
        let keep = 120 - id.len() - 1;
        let mut cut = keep;
        while !label.is_char_boundary(cut) {
            cut -= 1;
        }
        label = format!("{} {id}", &label[..cut]);
    }
    label
}

fn hostname() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is valid for its length; gethostname NUL-terminates
    // on success when the name fits.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc != 0 {
        return "unknown-host".into();
    }
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..end]).into_owned()
}

/// Acquires every prepared lease concurrently: reuses a matching unexpired
/// one from the ledger, or records a pending entry, mints, and records the
/// result. If any lease fails, or `interrupted` holds a signal number when
/// minting ends, everything minted in this call is revoked again.
pub async fn acquire(
    leases: Vec<PreparedLease>,
    ctx: &BackendContext,
    ledger: &Ledger,
    profile: Option<&str>,
    interrupted: &AtomicI32,
) -> Result<Acquired, LeaseError> {
    let backends: BTreeMap<String, Arc<dyn LeaseBackend>> =
        leases.iter().map(|l| (l.name.clone(), l.backend.clone())).collect();
    let results = futures_util::future::join_all(leases.iter().map(|l| acquire_one(l, ctx, ledger, profile))).await;
    let mut acquired = Acquired {
        leases: Vec::new(),
        backends,
    };
    let mut errors = Vec::new();
    for result in results {
        match result {
            Ok(held) => acquired.leases.push(held),
            Err(e) => errors.push(e),
        }
    }
    let signal = interrupted.load(Ordering::SeqCst);
    if errors.is_empty() && signal == 0 {
        return Ok(acquired);
    }
    for held in &mut acquired.leases {
        held.revoke_after = held.obtained == Obtained::Minted;
    }
    for warning in release(&acquired, ctx, ledger).await {
        errors.push(warning);
    }
    Err(match (signal, errors.len()) {
        (0, 1) => errors.pop().expect("one error"),
        (0, _) => LeaseError::Many(errors),
        (signal, _) => LeaseError::Interrupted(signal),
    })
}

async fn acquire_one(
    lease: &PreparedLease,
    ctx: &BackendContext,
    ledger: &Ledger,
    profile: Option<&str>,
) -> Result<HeldLease, LeaseError> {
    let backend_error = |error| LeaseError::Backend {
        lease: lease.name.clone(),
        error,
    };
    // The one plan `sesame check` reports too. Without reuse the ledger
    // need not be read.
    let planned = || -> Result<LeasePlan, LedgerError> {
        let entries = if lease.reuse { ledger.entries()? } else { Vec::new() };
        Ok(plan_lease(lease, &entries, profile, unix_now()))
    };
    let reused = |entry: Box<LedgerEntry>| {
        tracing::info!(lease = %lease.name, "reusing lease");
        HeldLease {
            lease: lease.name.clone(),
            entry: Some(entry.id),
            expires_at: entry.expires_at,
            obtained: Obtained::Reused,
            revoke_after: false,
            env: entry.env,
        }
    };
    // The usual case needs no mint lock: a matching entry is reused as read
    // (under the ledger's lock). Otherwise take the lease's mint lock and
    // look again, so parallel runs mint once.
    match planned()? {
        LeasePlan::Reuse(entry) => return Ok(reused(entry)),
        LeasePlan::Static { .. } => {
            // Existing credentials: nothing to record, reuse or revoke.
            let request = LeaseRequest {
                lease: lease.name.clone(),
                label: label(&lease.name, &new_id()),
                duration: lease.duration,
            };
            let grant = lease.backend.create(ctx, &request).await.map_err(backend_error)?;
            return Ok(HeldLease {
                lease: lease.name.clone(),
                entry: None,
                expires_at: None,
                obtained: Obtained::Static,
                revoke_after: false,
                env: grant.env,
            });
        }
        LeasePlan::Mint { .. } => {}
    }
    let _mint_lock = if lease.reuse {
        match ledger.try_mint_lock(&lease.name)? {
            Some(guard) => Some(guard),
            None => {
                // Another run is minting this lease: wait for it on a
                // blocking thread, then reuse what it minted.
                let ledger = ledger.clone();
                let name = lease.name.clone();
                Some(
                    tokio::task::spawn_blocking(move || ledger.mint_lock(&name))
                        .await
                        .expect("lock task does not panic")?,
                )
            }
        }
    } else {
        None
    };
    if let LeasePlan::Reuse(entry) = planned()? {
        return Ok(reused(entry));
    }
    let id = new_id();
    let request = LeaseRequest {
        lease: lease.name.clone(),
        label: label(&lease.name, &id),
        duration: lease.duration,
    };
    ledger.update(|entries| {
        entries.push(LedgerEntry {
            id: id.clone(),
            lease: lease.name.clone(),
            backend: lease.type_name.clone(),
            profile: profile.map(str::to_string),
            label: request.label.clone(),
            state: LeaseState::Pending,
            backend_id: None,
            created_at: unix_now(),
            expires_at: None,
            fingerprint: lease.fingerprint.clone(),
            reuse: lease.reuse,
            revocable: true,
            pid: std::process::id(),
            env: BTreeMap::new(),
            data: serde_json::Value::Null,
        })
    })?;
    tracing::info!(lease = %lease.name, duration = %format_duration(lease.duration), "minting lease");
    let grant = match lease.backend.create(ctx, &request).await {
        Ok(grant) => grant,
        Err(e) => {
            ledger.update(|entries| entries.retain(|entry| entry.id != id))?;
            return Err(backend_error(e));
        }
    };
    let expires_at = grant.expires_at.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    ledger.update(|entries| {
        if let Some(entry) = entries.iter_mut().find(|entry| entry.id == id) {
            entry.state = LeaseState::Active;
            entry.backend_id = Some(grant.id.clone());
            entry.expires_at = Some(expires_at);
            entry.revocable = grant.revocable;
            entry.env = grant.env.clone();
            entry.data = grant.data.clone();
        }
    })?;
    Ok(HeldLease {
        lease: lease.name.clone(),
        entry: Some(id),
        expires_at: Some(expires_at),
        obtained: Obtained::Minted,
        revoke_after: !lease.reuse,
        env: grant.env,
    })
}

/// Revokes the held leases marked `revoke_after` and drops them from the
/// ledger. Failures leave the entry in the ledger and are returned, so the
/// caller can tell the user to run `sesame lease cleanup`.
pub async fn release(acquired: &Acquired, ctx: &BackendContext, ledger: &Ledger) -> Vec<LeaseError> {
    let entries = match ledger.entries() {
        Ok(entries) => entries,
        Err(e) => return vec![e.into()],
    };
    let jobs = acquired.leases.iter().filter(|h| h.revoke_after).filter_map(|held| {
        let entry = entries.iter().find(|e| Some(&e.id) == held.entry.as_ref())?.clone();
        if !entry.revocable {
            // Nothing to ask the backend (R2 temporary credentials, say):
            // the entry stays until the credential expires and cleanup
            // prunes it.
            tracing::info!(lease = %entry.lease, "credential cannot be revoked one by one; it expires by itself");
            return None;
        }
        let backend = acquired.backends.get(&held.lease)?.clone();
        Some(async move {
            let outcome = revoke_entry(backend.as_ref(), ctx, &entry).await;
            (entry, outcome)
        })
    });
    let mut problems = Vec::new();
    for (entry, outcome) in futures_util::future::join_all(jobs).await {
        match outcome {
            Ok(true) => {
                if let Err(e) = ledger.update(|all| all.retain(|e| e.id != entry.id)) {
                    problems.push(e.into());
                }
            }
            Ok(false) => problems.push(LeaseError::Backend {
                lease: entry.lease.clone(),
                error: BackendError::failed(
                    "the credential could not be revoked; it stays in the ledger",
                    Some("run `sesame lease cleanup`".into()),
                ),
            }),
            Err(error) => problems.push(LeaseError::Backend {
                lease: entry.lease.clone(),
                error,
            }),
        }
    }
    problems
}

/// Asks a backend to revoke one ledger entry.
pub async fn revoke_entry(
    backend: &dyn LeaseBackend,
    ctx: &BackendContext,
    entry: &LedgerEntry,
) -> Result<bool, BackendError> {
    tracing::info!(lease = %entry.lease, "revoking lease");
    let request = RevokeRequest {
        id: entry.backend_id.clone(),
        label: entry.label.clone(),
        data: entry.data.clone(),
    };
    backend.revoke(ctx, &request).await
}

/// True when `name` looks like a label sesame minted a credential with
/// (see [`label`]): it starts with `sesame ` and ends with a ledger id.
pub fn is_label(name: &str) -> bool {
    let Some(rest) = name.strip_prefix("sesame ") else {
        return false;
    };
    let id = rest.rsplit(' ').next().unwrap_or_default();
    rest.contains(' ') && id.len() == 16 && id.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
}
