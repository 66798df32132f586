//! [`RunLeases`]: the one owner of a run's leases, from catching signals
//! to releasing what was minted. `sesame exec`, `sesame lease create` and
//! `sesame r2 verify` use it; `sesame check` asks it for the plan.

use std::collections::BTreeMap;
use std::io;

use super::{acquire, plan_lease, prepare, release, Acquired, HeldLease, LeaseError, LeasePlan, PreparedLease};
use crate::backend::BackendContext;
use crate::config::{Config, ConfigError};
use crate::ledger::{unix_now, Ledger, LedgerError};
use crate::process::SignalRelay;
use crate::SecretValue;

/// A run's leases: its ledger and profile, the signal relay whose flag
/// tells an interrupt while minting, the prepared leases, and what was
/// acquired (released by [`RunLeases::release`]).
///
/// The sequence is always: [`RunLeases::new`], optionally
/// [`RunLeases::catch_signals`] (before secrets resolve, so a signal then
/// cannot kill sesame with credentials half-minted), [`RunLeases::prepare`]
/// once secrets are known, [`RunLeases::acquire`], the work, and
/// [`RunLeases::release`].
pub struct RunLeases {
    ledger: Ledger,
    profile: Option<String>,
    signals: Option<SignalRelay>,
    ctx: Option<BackendContext>,
    prepared: Vec<PreparedLease>,
    acquired: Vec<Acquired>,
    released: bool,
}

impl RunLeases {
    /// No leases yet, no signals caught.
    pub fn new(ledger: Ledger, profile: Option<&str>) -> Self {
        Self {
            ledger,
            profile: profile.map(str::to_string),
            signals: None,
            ctx: None,
            prepared: Vec::new(),
            acquired: Vec::new(),
            released: false,
        }
    }

    /// From now on, a terminating signal is remembered (see
    /// [`RunLeases::interrupted`]) instead of killing sesame.
    pub fn catch_signals(mut self) -> io::Result<Self> {
        self.signals = Some(SignalRelay::install()?);
        Ok(self)
    }

    /// The ledger.
    pub fn ledger(&self) -> &Ledger {
        &self.ledger
    }

    /// The signal relay, while signals are caught (it runs the command).
    pub fn signals(&self) -> Option<&SignalRelay> {
        self.signals.as_ref()
    }

    /// The terminating signal sesame got so far (0: none).
    pub fn interrupted(&self) -> i32 {
        self.signals.as_ref().map_or(0, SignalRelay::interrupted)
    }

    /// Stops catching signals (their default actions apply again) and
    /// returns the one that arrived meanwhile (0: none).
    pub fn stop_catching_signals(&mut self) -> i32 {
        let signal = self.interrupted();
        self.signals = None;
        signal
    }

    /// Builds every configured lease's backend (no I/O) with `ctx`, which
    /// holds the resolved secrets (parent credentials among them).
    pub fn prepare(&mut self, config: &Config, ctx: &BackendContext) -> Result<(), ConfigError> {
        self.prepared = prepare(config, ctx)?;
        self.ctx = Some(ctx.clone());
        Ok(())
    }

    /// Takes leases prepared one by one (`sesame r2 verify` prepares each
    /// target on its own, so one broken table fails only its target).
    pub fn adopt(&mut self, leases: Vec<PreparedLease>, ctx: &BackendContext) {
        self.prepared.extend(leases);
        self.ctx = Some(ctx.clone());
    }

    /// The prepared leases, in name order.
    pub fn leases(&self) -> &[PreparedLease] {
        &self.prepared
    }

    /// The prepared leases, to narrow or adjust before acquiring (`lease
    /// create` keeps one and asks for a fresh credential of its duration).
    pub fn leases_mut(&mut self) -> &mut Vec<PreparedLease> {
        &mut self.prepared
    }

    /// What acquiring each prepared lease will do, as [`acquire`] decides it.
    pub fn plan(&self) -> Result<Vec<(&PreparedLease, LeasePlan)>, LedgerError> {
        let entries = self.ledger.entries()?;
        let now = unix_now();
        Ok(self
            .prepared
            .iter()
            .map(|lease| (lease, plan_lease(lease, &entries, self.profile.as_deref(), now)))
            .collect())
    }

    fn context(&self) -> BackendContext {
        self.ctx.clone().expect("RunLeases::prepare or adopt comes first")
    }

    /// Acquires every prepared lease, all or nothing: when one fails, or a
    /// signal arrived, whatever was minted is revoked again
    /// ([`LeaseError::Interrupted`] then). Either way, the resources the
    /// backends started meanwhile (helper processes) are stopped before it
    /// returns: the command runs without them.
    pub async fn acquire(&mut self) -> Result<&[HeldLease], LeaseError> {
        let ctx = self.context();
        let flag = std::sync::atomic::AtomicI32::new(0);
        let interrupted = self.signals.as_ref().map_or(&flag, SignalRelay::interrupted_flag);
        let leases = std::mem::take(&mut self.prepared);
        let acquired = acquire(leases, &ctx, &self.ledger, self.profile.as_deref(), interrupted).await;
        ctx.cache().stop().await;
        self.acquired.push(acquired?);
        Ok(&self.acquired.last().expect("just pushed").leases)
    }

    /// Acquires each prepared lease on its own, concurrently: one failing
    /// leaves the others held. Results are in the order of the leases.
    /// The backends' resources keep running for the work that follows
    /// (`r2 verify` checks through the same helper); [`RunLeases::release`]
    /// stops them.
    pub async fn acquire_each(&mut self) -> Vec<(String, Result<HeldLease, LeaseError>)> {
        let ctx = self.context();
        let flag = std::sync::atomic::AtomicI32::new(0);
        let interrupted = self.signals.as_ref().map_or(&flag, SignalRelay::interrupted_flag);
        let leases = std::mem::take(&mut self.prepared);
        let names: Vec<String> = leases.iter().map(|l| l.name.clone()).collect();
        let (ledger, profile) = (&self.ledger, self.profile.as_deref());
        let jobs = leases
            .into_iter()
            .map(|lease| acquire(vec![lease], &ctx, ledger, profile, interrupted));
        let results = futures_util::future::join_all(jobs).await;
        let mut out = Vec::new();
        for (name, result) in names.into_iter().zip(results) {
            match result {
                Ok(acquired) => {
                    let held = acquired.leases.first().cloned().expect("one lease asked, one held");
                    self.acquired.push(acquired);
                    out.push((name, Ok(held)));
                }
                Err(e) => out.push((name, Err(e))),
            }
        }
        out
    }

    /// Every lease held.
    pub fn held(&self) -> impl Iterator<Item = &HeldLease> {
        self.acquired.iter().flat_map(|a| a.leases.iter())
    }

    /// Every variable the held leases set, later leases overriding earlier
    /// ones (a lease output replaces a secret of the same name).
    pub fn env(&self) -> BTreeMap<String, SecretValue> {
        self.acquired.iter().flat_map(Acquired::env).collect()
    }

    /// True when something must be revoked after the work (`reuse =
    /// false`), so sesame must outlive the command.
    pub fn must_revoke(&self) -> bool {
        !self.released && self.held().any(|l| l.revoke_after)
    }

    /// Revokes what must be revoked and drops it from the ledger; the
    /// problems are returned for the caller to warn about (the entries
    /// stay for `sesame lease cleanup`). The backends' resources are
    /// stopped first.
    pub async fn release(&mut self) -> Vec<LeaseError> {
        let Some(ctx) = self.ctx.clone() else {
            return Vec::new();
        };
        ctx.cache().stop().await;
        if self.released {
            return Vec::new();
        }
        // Leases acquired one by one (`r2 verify`'s targets) are released
        // side by side, as they were acquired.
        // What was held stays listed ([`RunLeases::held`]) for reporting;
        // `must_revoke` is false from now on.
        let released =
            futures_util::future::join_all(self.acquired.iter().map(|held| release(held, &ctx, &self.ledger))).await;
        self.released = true;
        released.into_iter().flatten().collect()
    }
}
