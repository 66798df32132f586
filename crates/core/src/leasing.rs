//! Acquiring leases for a run (reuse or mint, recorded in the ledger first)
//! and releasing them afterwards.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use sha2::{Digest, Sha256};

use crate::backend::{BackendContext, BackendError};
use crate::config::{BackendSpec, Config, ConfigError};
use crate::duration::format_duration;
use crate::lease::{find_lease_type, lease_types, LeaseBackend, LeaseRequest, RevokeRequest};
use crate::ledger::{hex, new_id, unix_now, LeaseState, Ledger, LedgerEntry, LedgerError};
use crate::resolve::{backend_config, unknown_type};
use crate::SecretValue;

/// A cached lease is reused only while it has more than this left.
pub const REUSE_MARGIN: Duration = Duration::from_secs(5 * 60);

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

/// A configured lease, ready to use.
pub struct PreparedLease {
    /// Its config name.
    pub name: String,
    /// Its type.
    pub type_name: String,
    /// The backend instance.
    pub backend: Arc<dyn LeaseBackend>,
    /// Whether later runs may reuse it (`reuse`, default true).
    pub reuse: bool,
    /// Whether the command may keep the parent credentials this lease
    /// consumes (`keep_parent`, default false; see [`crate::parent_env`]).
    pub keep_parent: bool,
    /// Hash of config and parent credentials.
    pub fingerprint: String,
    /// The lifetime to ask for.
    pub duration: Duration,
}

/// Builds every configured lease's backend (no I/O) and checks durations.
pub fn prepare(config: &Config, ctx: &BackendContext) -> Result<Vec<PreparedLease>, ConfigError> {
    config
        .leases
        .values()
        .map(|spec| prepare_one(config, spec, ctx))
        .collect()
}

fn prepare_one(config: &Config, spec: &BackendSpec, ctx: &BackendContext) -> Result<PreparedLease, ConfigError> {
    let registration = find_lease_type(&spec.type_name).ok_or_else(|| {
        let known: Vec<&str> = lease_types().iter().map(|r| r.type_name).collect();
        unknown_type(config, spec, "lease", &known)
    })?;
    let mut spec = spec.clone();
    let reuse = match spec.table.remove("reuse") {
        None => true,
        Some(toml::Value::Boolean(b)) => b,
        Some(other) => {
            return Err(ConfigError::at(
                config.locate(&spec.origin, &["reuse".into()]),
                format!(
                    "`reuse` in {} must be true or false, not {}",
                    spec.origin.table_name(),
                    other.type_str()
                ),
                None,
            ))
        }
    };
    let keep_parent = crate::parent_env::take_keep_parent(config, &mut spec)?;
    let backend_cfg = backend_config(config, &spec, registration.trust_sensitive, &ctx.secrets, ctx)?;
    let backend = (registration.factory)(&backend_cfg, ctx)
        .map_err(|e| ConfigError::invalid(backend_cfg.name_sources(&e.to_string()), None))?;
    let duration = backend.duration();
    if duration > backend.max_duration() {
        return Err(ConfigError::at(
            config.locate(&spec.origin, &["duration".into()]),
            format!(
                "lease `{}` asks for {}, more than the {} backend allows ({})",
                spec.name,
                format_duration(duration),
                spec.type_name,
                format_duration(backend.max_duration())
            ),
            Some(format!(
                "set `duration` to at most \"{}\"",
                format_duration(backend.max_duration())
            )),
        ));
    }
    let mut hasher = Sha256::new();
    hasher.update(spec.type_name.as_bytes());
    hasher.update(toml::to_string(backend_cfg.table()).unwrap_or_default().as_bytes());
    for name in backend.consumes() {
        // Read without wrapping: a consumed name may hold no secret (an API
        // base URL), and a `SecretValue` would register it with the scrubber.
        let value = ctx
            .secrets
            .get(&name)
            .map(|v| v.expose())
            .filter(|v| !v.is_empty())
            .or_else(|| ctx.env.var(&name).filter(|v| !v.is_empty()));
        hasher.update(name.as_bytes());
        hasher.update(Sha256::digest(value.unwrap_or("").as_bytes()));
    }
    Ok(PreparedLease {
        name: spec.name.clone(),
        type_name: spec.type_name.clone(),
        backend: Arc::from(backend),
        reuse,
        keep_parent,
        fingerprint: hex(&hasher.finalize()),
        duration,
    })
}

/// How a lease was obtained for this run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Obtained {
    /// Taken from the ledger.
    Reused,
    /// Minted now.
    Minted,
}

/// A lease held for this run.
#[derive(Debug, Clone)]
pub struct HeldLease {
    /// The lease's config name.
    pub lease: String,
    /// The ledger entry id.
    pub entry: String,
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
    let reusable = || -> Result<Option<HeldLease>, LeaseError> {
        let now = unix_now();
        let margin = REUSE_MARGIN.as_secs();
        let found = ledger.entries()?.into_iter().find(|e| {
            e.lease == lease.name
                && e.profile.as_deref() == profile
                && e.reuse
                && e.state == LeaseState::Active
                && e.fingerprint == lease.fingerprint
                && e.expires_at.is_some_and(|t| t > now + margin)
        });
        Ok(found.map(|entry| {
            tracing::info!(lease = %lease.name, "reusing lease");
            HeldLease {
                lease: lease.name.clone(),
                entry: entry.id,
                obtained: Obtained::Reused,
                revoke_after: false,
                env: entry.env,
            }
        }))
    };
    // The usual case needs no mint lock: a matching entry is reused as read
    // (under the ledger's lock). Otherwise take the lease's mint lock and
    // look again, so parallel runs mint once.
    if lease.reuse {
        if let Some(held) = reusable()? {
            return Ok(held);
        }
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
    if lease.reuse {
        if let Some(held) = reusable()? {
            return Ok(held);
        }
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
    crate::failpoint::hit("after-mint");
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
        entry: id,
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
        let entry = entries.iter().find(|e| e.id == held.entry)?.clone();
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

/// True while a process with this pid exists (a zombie counts). Pid 0
/// means "held by no process" (`sesame lease create`) and is never alive.
pub fn process_alive(pid: u32) -> bool {
    let Ok(pid) = i32::try_from(pid) else {
        return false;
    };
    if pid <= 0 {
        return false;
    }
    // SAFETY: signal 0 only checks that the process exists.
    let rc = unsafe { libc::kill(pid, 0) };
    rc == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

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
