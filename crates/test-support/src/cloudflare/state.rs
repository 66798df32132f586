//! Shared state of the stand-in and the public handle to it.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use super::model::{
    normalize_policy, CreatedToken, Faults, InjectedFault, LiveTokens, RecordedBody, RequestLogEntry,
    TempCredentialRecord, TokenOwner, TokenRecord, TokenSpec, TokenStatus, ACCOUNT_TOKEN_QUOTA, USER_TOKEN_QUOTA,
};

/// Callback run when a token is created or deleted.
pub(crate) type Hook = Arc<dyn Fn(&TokenRecord) + Send + Sync>;

/// Callback run when R2 temporary credentials are issued.
pub(crate) type TempHook = Arc<dyn Fn(&TempCredentialRecord) + Send + Sync>;

/// 32 random lowercase hex chars.
pub(crate) fn random_id() -> String {
    format!("{:016x}{:016x}", fastrand::u64(..), fastrand::u64(..))
}

/// 40 random chars of `[A-Za-z0-9_-]`, like real token values.
pub(crate) fn random_value() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-";
    (0..40)
        .map(|_| ALPHABET[fastrand::usize(..ALPHABET.len())] as char)
        .collect()
}

#[derive(Default)]
pub(crate) struct Hooks {
    pub(crate) created: Vec<Hook>,
    pub(crate) deleted: Vec<Hook>,
    pub(crate) temp_issued: Vec<TempHook>,
}

pub(crate) struct State {
    /// Every token ever created, in creation order; deleted ones keep `deleted_on`.
    pub(crate) tokens: Vec<TokenRecord>,
    /// R2 temporary credentials issued, in order.
    pub(crate) temp_credentials: Vec<TempCredentialRecord>,
    pub(crate) bodies: Vec<RecordedBody>,
    pub(crate) log: Vec<RequestLogEntry>,
    pub(crate) faults: Faults,
    pub(crate) user_quota: usize,
    pub(crate) account_quota: usize,
    /// Account ids accepted although not 32 hex chars (documentation examples).
    pub(crate) extra_account_ids: Vec<String>,
}

impl State {
    /// Live tokens with the given owner (all statuses, including expired).
    pub(crate) fn live_count(&self, owner: &TokenOwner) -> usize {
        self.tokens.iter().filter(|t| t.is_live() && &t.owner == owner).count()
    }

    pub(crate) fn insert(&mut self, owner: TokenOwner, spec: TokenSpec, created_by: Option<String>) -> TokenRecord {
        let now = SystemTime::now();
        let record = TokenRecord {
            id: random_id(),
            value: random_value(),
            name: spec.name,
            owner,
            status: spec.status,
            policies: spec.policies.iter().map(normalize_policy).collect(),
            issued_on: now,
            modified_on: now,
            last_used_on: None,
            expires_on: spec.expires_on,
            not_before: spec.not_before,
            condition: spec.condition,
            deleted_on: None,
            created_by,
        };
        self.tokens.push(record.clone());
        record
    }

    /// Consumes one armed fault, in the documented order.
    fn take_fault(&mut self) -> Option<(InjectedFault, u64)> {
        let f = &mut self.faults;
        let pick = |n: &mut u32| {
            if *n > 0 {
                *n -= 1;
                true
            } else {
                false
            }
        };
        if pick(&mut f.dropped) {
            Some((InjectedFault::Dropped, 0))
        } else if pick(&mut f.rate_limited) {
            Some((InjectedFault::RateLimited, f.retry_after_secs))
        } else if pick(&mut f.server_errors) {
            Some((InjectedFault::ServerError, 0))
        } else if pick(&mut f.responses_lost) {
            Some((InjectedFault::ResponseLost, 0))
        } else {
            None
        }
    }
}

pub(crate) struct Shared {
    state: Mutex<State>,
    hooks: Mutex<Hooks>,
    request_count: AtomicU64,
}

impl Shared {
    pub(crate) fn new() -> Self {
        Shared {
            state: Mutex::new(State {
                tokens: Vec::new(),
                temp_credentials: Vec::new(),
                bodies: Vec::new(),
                log: Vec::new(),
                faults: Faults {
                    retry_after_secs: 1,
                    ..Faults::default()
                },
                user_quota: USER_TOKEN_QUOTA,
                account_quota: ACCOUNT_TOKEN_QUOTA,
                extra_account_ids: Vec::new(),
            }),
            hooks: Mutex::new(Hooks::default()),
            request_count: AtomicU64::new(0),
        }
    }

    /// Locks the state, surviving a poisoned lock (a panicking test thread
    /// must not take the server down with it).
    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn hooks(&self) -> MutexGuard<'_, Hooks> {
        self.hooks.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Runs the creation hooks; call without holding the state lock.
    pub(crate) fn run_created_hooks(&self, record: &TokenRecord) {
        let hooks = self.hooks().created.clone();
        for h in hooks {
            h(record);
        }
    }

    /// Runs the deletion hooks; call without holding the state lock.
    pub(crate) fn run_deleted_hooks(&self, record: &TokenRecord) {
        let hooks = self.hooks().deleted.clone();
        for h in hooks {
            h(record);
        }
    }

    /// Runs the hooks for issued temporary credentials; call without holding
    /// the state lock.
    pub(crate) fn run_temp_issued_hooks(&self, record: &TempCredentialRecord) {
        let hooks = self.hooks().temp_issued.clone();
        for h in hooks {
            h(record);
        }
    }

    /// Counts an API request and picks the fault (and latency) that applies to it.
    pub(crate) fn begin_request(&self) -> (Option<(InjectedFault, u64)>, Duration) {
        self.request_count.fetch_add(1, Ordering::SeqCst);
        let mut st = self.lock();
        let latency = st.faults.latency;
        (st.take_fault(), latency)
    }

    pub(crate) fn log(&self, entry: RequestLogEntry) {
        self.lock().log.push(entry);
    }
}

/// Cheap clonable handle to the stand-in's state: seeding, inspection, fault
/// switches and hooks. Every method is synchronous and safe to call from any
/// thread while the server runs.
#[derive(Clone)]
pub struct CloudflareHandle {
    pub(crate) shared: Arc<Shared>,
}

impl CloudflareHandle {
    pub(crate) fn new(shared: Arc<Shared>) -> Self {
        CloudflareHandle { shared }
    }

    fn seed(&self, owner: TokenOwner, spec: TokenSpec) -> CreatedToken {
        let record = self.shared.lock().insert(owner, spec, None);
        self.shared.run_created_hooks(&record);
        CreatedToken {
            id: record.id,
            value: record.value,
        }
    }

    /// Seeds a user-owned token directly (no validation, no quota check; it
    /// still counts towards the quota). Runs the creation hooks.
    pub fn add_user_token(&self, spec: TokenSpec) -> CreatedToken {
        self.seed(TokenOwner::User, spec)
    }

    /// Seeds an account-owned token of `account_id` directly (no validation,
    /// no quota check). Runs the creation hooks.
    pub fn add_account_token(&self, account_id: &str, spec: TokenSpec) -> CreatedToken {
        self.seed(TokenOwner::Account(account_id.to_owned()), spec)
    }

    /// Every token ever created (deleted ones included, with `deleted_on`),
    /// with their secret values, in creation order.
    pub fn tokens(&self) -> Vec<TokenRecord> {
        self.shared.lock().tokens.clone()
    }

    /// One token by id (deleted or not).
    pub fn token(&self, id: &str) -> Option<TokenRecord> {
        self.shared.lock().tokens.iter().find(|t| t.id == id).cloned()
    }

    /// Tokens not deleted (expired and disabled ones included), split by owner kind.
    pub fn live_tokens(&self) -> LiveTokens {
        let st = self.shared.lock();
        let mut live = LiveTokens::default();
        for t in st.tokens.iter().filter(|t| t.is_live()) {
            match t.owner {
                TokenOwner::User => live.user.push(t.clone()),
                TokenOwner::Account(_) => live.account.push(t.clone()),
            }
        }
        live
    }

    /// Live tokens of one account.
    pub fn live_account_tokens(&self, account_id: &str) -> Vec<TokenRecord> {
        self.shared
            .lock()
            .tokens
            .iter()
            .filter(|t| t.is_live() && t.owner.account_id() == Some(account_id))
            .cloned()
            .collect()
    }

    /// Bodies sent to `POST .../tokens`, in arrival order.
    pub fn created_bodies(&self) -> Vec<RecordedBody> {
        self.shared.lock().bodies.clone()
    }

    /// Forgets the recorded create bodies.
    pub fn clear_created_bodies(&self) {
        self.shared.lock().bodies.clear();
    }

    /// The API request log (admin requests excluded), in arrival order.
    pub fn request_log(&self) -> Vec<RequestLogEntry> {
        self.shared.lock().log.clone()
    }

    /// Empties the request log (does not reset [`CloudflareHandle::request_count`]).
    pub fn clear_request_log(&self) {
        self.shared.lock().log.clear();
    }

    /// Number of API requests received since start (admin requests excluded),
    /// including those answered by an injected fault.
    pub fn request_count(&self) -> u64 {
        self.shared.request_count.load(Ordering::SeqCst)
    }

    /// Current fault settings.
    pub fn faults(&self) -> Faults {
        self.shared.lock().faults.clone()
    }

    /// Replaces all fault settings at once.
    pub fn set_faults(&self, faults: Faults) {
        self.shared.lock().faults = faults;
    }

    /// Adds `latency` before handling every API request (zero to turn off).
    pub fn set_latency(&self, latency: Duration) {
        self.shared.lock().faults.latency = latency;
    }

    /// The next `n` API requests answer 429 (code 971) with `Retry-After:
    /// retry_after_secs` and `x-ratelimit-remaining: 0`.
    pub fn rate_limit_next(&self, n: u32, retry_after_secs: u64) {
        let mut st = self.shared.lock();
        st.faults.rate_limited = n;
        st.faults.retry_after_secs = retry_after_secs;
    }

    /// The next `n` API requests answer 500 (code 10001, `success: false`).
    pub fn fail_next(&self, n: u32) {
        self.shared.lock().faults.server_errors = n;
    }

    /// The next `n` API requests get their connection closed without any
    /// response, before being handled (no state change).
    pub fn drop_next(&self, n: u32) {
        self.shared.lock().faults.dropped = n;
    }

    /// The next `n` API requests are handled (state changes, e.g. a token is
    /// created) and then their connection is closed without the response.
    pub fn lose_next_responses(&self, n: u32) {
        self.shared.lock().faults.responses_lost = n;
    }

    /// Turns every fault off (latency zero, counters zero, `Retry-After` back to 1).
    pub fn reset_faults(&self) {
        self.shared.lock().faults = Faults {
            retry_after_secs: 1,
            ..Faults::default()
        };
    }

    /// Accepts `account_id` in `/accounts/{account_id}/...` paths although it
    /// is not 32 hex chars, so documentation examples such as
    /// `abc123def456` can run verbatim (other malformed ids still get 7003).
    pub fn accept_account_id(&self, account_id: &str) {
        self.shared.lock().extra_account_ids.push(account_id.to_owned());
    }

    /// Sets the token quotas (defaults: 50 user tokens, 500 per account).
    pub fn set_quotas(&self, user: usize, per_account: usize) {
        let mut st = self.shared.lock();
        st.user_quota = user;
        st.account_quota = per_account;
    }

    /// Changes a token's stored status (e.g. disable it). Returns false if unknown.
    pub fn set_token_status(&self, id: &str, status: TokenStatus) -> bool {
        let mut st = self.shared.lock();
        match st.tokens.iter_mut().find(|t| t.id == id) {
            Some(t) => {
                t.status = status;
                t.modified_on = SystemTime::now();
                true
            }
            None => false,
        }
    }

    /// Changes a token's `expires_on` (e.g. to the past to expire it). Returns
    /// false if unknown.
    pub fn set_token_expires_on(&self, id: &str, expires_on: Option<SystemTime>) -> bool {
        let mut st = self.shared.lock();
        match st.tokens.iter_mut().find(|t| t.id == id) {
            Some(t) => {
                t.expires_on = expires_on;
                t.modified_on = SystemTime::now();
                true
            }
            None => false,
        }
    }

    /// Registers a callback run after every token creation (seeded or through
    /// the API), outside the state lock, so it may call back into this handle.
    pub fn on_token_created(&self, f: impl Fn(&TokenRecord) + Send + Sync + 'static) {
        self.shared.hooks().created.push(Arc::new(f));
    }

    /// R2 temporary credentials issued so far (secrets included), in order.
    pub fn temp_credentials(&self) -> Vec<TempCredentialRecord> {
        self.shared.lock().temp_credentials.clone()
    }

    /// Registers a callback run after R2 temporary credentials are issued,
    /// outside the state lock (the S3 stand-in registers them as keys).
    pub fn on_temp_credentials_issued(&self, f: impl Fn(&TempCredentialRecord) + Send + Sync + 'static) {
        self.shared.hooks().temp_issued.push(Arc::new(f));
    }

    /// Registers a callback run after every token deletion through the API,
    /// outside the state lock. The record passed has `deleted_on` set.
    pub fn on_token_deleted(&self, f: impl Fn(&TokenRecord) + Send + Sync + 'static) {
        self.shared.hooks().deleted.push(Arc::new(f));
    }
}
