//! A small client for Cloudflare's API, shared by the Cloudflare lease
//! backends (this crate's `cloudflare` type and the R2 lease): verify, get,
//! create, delete and list tokens, look up permission groups, and typed
//! [`Client::get`] and [`Client::post`] for other endpoints (R2 temporary
//! credentials), all on one request path with bounded, jittered retries.
//!
//! Facts it relies on (see `docs/leases/cloudflare.md`, "What sesame relies on"):
//! - every answer is an envelope `{success, errors: [{code, message}], messages, result}`, and
//!   `success: false` can come with a 2xx;
//! - user tokens live under `/user/tokens`, account tokens under `/accounts/{id}/tokens`; an
//!   account token must be verified on the account path (the user path answers code 1000);
//! - `value` is only in the create answer; `DELETE` of a token that is gone answers 404;
//! - listing is paginated (`page`, `per_page` at most 50, `result_info`); the account list only
//!   shows expired tokens with `include_expired=true`;
//! - connection errors, 408, 409, 429 (with `Retry-After` in seconds) and 5xx are worth retrying,
//!   as Cloudflare's own Go client does.
//!
//! The token sent as `Authorization: Bearer` is a [`SecretValue`]; it is marked sensitive in the
//! request and appears in no error or log line. A created token's value is returned as a
//! [`SecretValue`] too.

use std::fmt;
use std::time::{Duration, SystemTime};

use reqwest::header::{HeaderName, HeaderValue, AUTHORIZATION, RETRY_AFTER};
use reqwest::Method;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sesame_core::{BackendError, EnvSnapshot, SecretValue};

/// Cloudflare's API base URL.
pub const DEFAULT_API_BASE: &str = "https://api.cloudflare.com/client/v4";

/// The variable that points sesame (and wrangler) at another API base.
pub const API_BASE_VAR: &str = "CLOUDFLARE_API_BASE_URL";

/// Where the parent token is looked for, in order (resolved secrets first,
/// then the environment).
pub const PARENT_TOKEN_VARS: [&str; 2] = ["CLOUDFLARE_API_TOKEN", "CF_API_TOKEN"];

/// The message when no parent token is found (worded as fnox words it).
pub const MISSING_PARENT: &str =
    "Cloudflare API token not found. Set CLOUDFLARE_API_TOKEN with a token that has 'API Tokens: Edit' permission.";

/// The largest page Cloudflare serves when listing tokens.
pub const MAX_PER_PAGE: usize = 50;

/// The API base: `configured` (a backend's `api_base`), else
/// `CLOUDFLARE_API_BASE_URL` from the snapshot, else [`DEFAULT_API_BASE`];
/// without a trailing slash.
pub fn api_base(configured: Option<&str>, env: &EnvSnapshot) -> String {
    configured
        .filter(|b| !b.trim().is_empty())
        .or_else(|| env.var(API_BASE_VAR).filter(|b| !b.trim().is_empty()))
        .unwrap_or(DEFAULT_API_BASE)
        .trim()
        .trim_end_matches('/')
        .to_string()
}

/// Whose tokens: the user's (`/user/tokens`) or an account's
/// (`/accounts/{id}/tokens`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Owner {
    /// User-owned tokens.
    User,
    /// Account-owned tokens of this account id.
    Account(String),
}

impl Owner {
    /// The collection's path below the base, e.g. `/user/tokens`.
    pub fn tokens_path(&self) -> String {
        match self {
            Self::User => "/user/tokens".into(),
            Self::Account(id) => format!("/accounts/{id}/tokens"),
        }
    }

    /// `user` or `account` (the config's `token_type`).
    pub fn kind(&self) -> &'static str {
        match self {
            Self::User => "user",
            Self::Account(_) => "account",
        }
    }

    /// The account id of account-owned tokens.
    pub fn account_id(&self) -> Option<&str> {
        match self {
            Self::User => None,
            Self::Account(id) => Some(id),
        }
    }

    /// What a lease keeps in the ledger so that a token minted here can be
    /// deleted later, whatever the config says by then: `token_type`,
    /// `account_id` and `api_base`. Read back with [`Owner::from_ledger`]
    /// and [`ledger_api_base`].
    pub fn ledger_data(&self, api_base: &str) -> serde_json::Map<String, Value> {
        let mut data = serde_json::Map::new();
        data.insert("token_type".into(), self.kind().into());
        data.insert("account_id".into(), self.account_id().into());
        data.insert("api_base".into(), api_base.into());
        data
    }

    /// The owner a ledger entry recorded, if it did.
    pub fn from_ledger(data: &Value) -> Option<Self> {
        match data.get("token_type")?.as_str()? {
            "user" => Some(Self::User),
            "account" => Some(Self::Account(data.get("account_id")?.as_str()?.to_string())),
            _ => None,
        }
    }
}

/// The API base a ledger entry recorded (see [`Owner::ledger_data`]).
pub fn ledger_api_base(data: &Value) -> Option<&str> {
    data.get("api_base").and_then(Value::as_str)
}

impl fmt::Display for Owner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::User => f.write_str("user tokens"),
            Self::Account(id) => write!(f, "tokens of account {id}"),
        }
    }
}

/// A permission group as a policy names it. Only `id` is sent; `name` is
/// read-only in the API and kept for messages.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupRef {
    /// The group's id (32 hex chars).
    pub id: String,
    /// Its name, when the API or the config gave one.
    #[serde(default, skip_serializing)]
    pub name: Option<String>,
}

/// A token policy: `effect` on `resources` with `permission_groups`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Policy {
    /// The policy's id (read-only; never sent).
    #[serde(default, skip_serializing)]
    pub id: Option<String>,
    /// `allow` or `deny`.
    #[serde(default = "allow")]
    pub effect: String,
    /// `{"com.cloudflare.api.account.<id>": "*"}` or a nested map.
    pub resources: Value,
    /// The groups granted (or denied).
    pub permission_groups: Vec<GroupRef>,
}

fn allow() -> String {
    "allow".into()
}

/// A token as listed or read (never with its value).
#[derive(Debug, Clone, Deserialize)]
pub struct TokenInfo {
    /// 32 hex chars.
    pub id: String,
    /// Its name.
    #[serde(default)]
    pub name: String,
    /// `active`, `disabled` or `expired`.
    #[serde(default)]
    pub status: String,
    /// RFC 3339 expiry, if any.
    #[serde(default)]
    pub expires_on: Option<String>,
    /// Its policies (present in single-token answers).
    #[serde(default)]
    pub policies: Vec<Policy>,
}

impl TokenInfo {
    /// When it expires, if it does.
    pub fn expires_at(&self) -> Option<SystemTime> {
        self.expires_on.as_deref().and_then(parse_time)
    }

    /// True if Cloudflare says it expired or its expiry is at or before `now`.
    pub fn is_expired(&self, now: SystemTime) -> bool {
        self.status == "expired" || self.expires_at().is_some_and(|t| t <= now)
    }
}

/// What `verify` says about the calling token.
#[derive(Debug, Clone, Deserialize)]
pub struct Verified {
    /// The token's id.
    pub id: String,
    /// `active`, `disabled` or `expired`.
    #[serde(default)]
    pub status: String,
    /// RFC 3339 expiry, if any.
    #[serde(default)]
    pub expires_on: Option<String>,
}

/// A permission group from `permission_groups`.
#[derive(Debug, Clone, Deserialize)]
pub struct PermissionGroup {
    /// 32 hex chars.
    pub id: String,
    /// E.g. `Zone Read`.
    pub name: String,
    /// The scopes it applies to.
    #[serde(default)]
    pub scopes: Vec<String>,
}

/// A token to create.
#[derive(Debug, Clone)]
pub struct NewToken {
    /// At most 120 characters.
    pub name: String,
    /// At least one.
    pub policies: Vec<Policy>,
    /// When it stops working.
    pub expires_on: SystemTime,
}

impl NewToken {
    /// A token that stops working `duration` from now, counted in whole
    /// seconds (Cloudflare stores RFC 3339 seconds).
    pub fn expiring_in(name: String, policies: Vec<Policy>, duration: Duration) -> Self {
        Self {
            name,
            policies,
            expires_on: SystemTime::now() + Duration::from_secs(duration.as_secs()),
        }
    }
}

/// A freshly created token: the only time its value is known.
#[derive(Debug, Clone)]
pub struct CreatedToken {
    /// 32 hex chars.
    pub id: String,
    /// The secret.
    pub value: SecretValue,
    /// RFC 3339 expiry as Cloudflare stored it.
    pub expires_on: Option<String>,
}

impl CreatedToken {
    /// When it expires: as Cloudflare stored it, else as `asked`.
    pub fn expires_at(&self, asked: &NewToken) -> SystemTime {
        self.expires_on
            .as_deref()
            .and_then(parse_time)
            .unwrap_or(asked.expires_on)
    }
}

/// RFC 3339 UTC with whole seconds (`2026-07-01T05:20:00Z`).
pub fn format_time(t: SystemTime) -> String {
    humantime::format_rfc3339_seconds(t).to_string()
}

/// Parses an RFC 3339 time as the API writes it.
pub fn parse_time(text: &str) -> Option<SystemTime> {
    humantime::parse_rfc3339_weak(text).ok()
}

/// One `{code, message}` of an error envelope (with its `error_chain`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct CfError {
    /// Cloudflare's code, e.g. 10000.
    #[serde(default)]
    pub code: i64,
    /// Its message.
    #[serde(default)]
    pub message: String,
    /// Nested causes.
    #[serde(default)]
    pub error_chain: Vec<CfError>,
}

impl fmt::Display for CfError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (code {})", self.message.trim_end_matches('.'), self.code)?;
        for cause in &self.error_chain {
            write!(f, ": {cause}")?;
        }
        Ok(())
    }
}

/// What went wrong with one API call.
#[derive(Debug, Clone)]
pub enum ApiErrorKind {
    /// Cloudflare answered with an error status or `success: false`.
    Status {
        /// The HTTP status.
        status: u16,
        /// The envelope's errors.
        errors: Vec<CfError>,
        /// `Retry-After`, when sent.
        retry_after: Option<Duration>,
    },
    /// No answer: connection refused or reset, timeout.
    Transport {
        /// What happened.
        message: String,
        /// True when the request cannot have reached the server (refused
        /// connection), so even a create may be sent again.
        before_send: bool,
    },
    /// An answer that is not the envelope we expect.
    Decode(String),
}

/// A failed API call: what was asked, what happened, after how many tries.
#[derive(Debug, Clone)]
pub struct ApiError {
    /// `GET`, `POST`, `DELETE`.
    pub method: String,
    /// The path below the base (no query, no host).
    pub path: String,
    /// What happened.
    pub kind: ApiErrorKind,
    /// How many requests the call made (retries, and the checks a retried
    /// create makes first, included).
    pub attempts: u32,
}

impl ApiError {
    /// The HTTP status, when there was an answer.
    pub fn status(&self) -> Option<u16> {
        match self.kind {
            ApiErrorKind::Status { status, .. } => Some(status),
            _ => None,
        }
    }

    /// True when one of Cloudflare's error codes is `code`.
    pub fn has_code(&self, code: i64) -> bool {
        match &self.kind {
            ApiErrorKind::Status { errors, .. } => errors.iter().any(|e| e.code == code),
            _ => false,
        }
    }

    /// 404: the token does not exist (or no longer).
    pub fn is_not_found(&self) -> bool {
        self.status() == Some(404)
    }

    /// 401 or 403: the parent token is unknown, expired or lacks a permission.
    pub fn is_auth(&self) -> bool {
        matches!(self.status(), Some(401 | 403))
    }

    /// The token quota is reached (50 user tokens, 500 per account).
    pub fn is_quota(&self) -> bool {
        match &self.kind {
            ApiErrorKind::Status { errors, .. } => errors
                .iter()
                .any(|e| e.code == 1002 || e.message.to_ascii_lowercase().contains("quota")),
            _ => false,
        }
    }

    fn retryable(&self) -> Retry {
        match &self.kind {
            ApiErrorKind::Transport { before_send: true, .. } => Retry::Safe(None),
            ApiErrorKind::Transport { .. } => Retry::Ambiguous,
            ApiErrorKind::Status {
                status: 429,
                retry_after,
                ..
            } => Retry::Safe(*retry_after),
            ApiErrorKind::Status {
                status: 408 | 409,
                retry_after,
                ..
            } => Retry::Ambiguous.with_delay(*retry_after),
            ApiErrorKind::Status {
                status, retry_after, ..
            } if *status >= 500 => Retry::Ambiguous.with_delay(*retry_after),
            _ => Retry::No,
        }
    }

    /// How to fix it, when sesame can tell.
    pub fn hint(&self) -> Option<String> {
        if self.is_quota() {
            return Some(
                "Cloudflare allows 50 user tokens and 500 per account, expired ones included: run \
                 `sesame lease cleanup`, then `sesame lease cleanup --remote` to delete expired tokens sesame created"
                    .into(),
            );
        }
        match (&self.kind, self.status()) {
            (_, Some(401 | 403)) => Some(
                "the parent token must be valid and have the 'API Tokens: Edit' permission (for account-owned \
                 tokens: 'Account API Tokens: Edit' on that account)"
                    .into(),
            ),
            (_, Some(429)) => Some(
                "Cloudflare allows 1,200 requests per 5 minutes per user, across all clients; wait and try again"
                    .into(),
            ),
            (_, Some(s)) if s >= 500 => {
                Some("Cloudflare's API is failing; try again later (https://www.cloudflarestatus.com)".into())
            }
            (ApiErrorKind::Transport { .. }, _) => Some(
                "check the network, a proxy (HTTPS_PROXY), or the API base (`api_base` or CLOUDFLARE_API_BASE_URL)"
                    .into(),
            ),
            _ => None,
        }
    }
}

/// The most characters of a server's own text an error shows.
const SERVER_TEXT_MAX: usize = 300;

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Cloudflare API {} {}: ", self.method, self.path)?;
        match &self.kind {
            ApiErrorKind::Status { status, errors, .. } => {
                write!(f, "HTTP {status}")?;
                if !errors.is_empty() {
                    // Server text: scrubbed and cut (it may echo anything, the
                    // Authorization header included).
                    let list: Vec<String> = errors
                        .iter()
                        .map(|e| sesame_core::scrub::scrub_truncated(&e.to_string(), SERVER_TEXT_MAX))
                        .collect();
                    write!(f, ": {}", list.join("; "))?;
                }
            }
            ApiErrorKind::Transport { message, .. } => f.write_str(message)?,
            ApiErrorKind::Decode(message) => write!(
                f,
                "unexpected answer: {}",
                sesame_core::scrub::scrub_truncated(message, SERVER_TEXT_MAX)
            )?,
        }
        if self.attempts > 1 {
            write!(f, " (gave up after {} attempts)", self.attempts)?;
        }
        Ok(())
    }
}

impl std::error::Error for ApiError {}

impl From<ApiError> for BackendError {
    fn from(e: ApiError) -> Self {
        let hint = e.hint();
        BackendError::failed(e.to_string(), hint)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Retry {
    /// Not worth it (4xx).
    No,
    /// The request was not processed; send it again (after this delay).
    Safe(Option<Duration>),
    /// It may have been processed; only idempotent requests are sent again
    /// as they are.
    AmbiguousAfter(Option<Duration>),
    /// Same, no delay asked for.
    Ambiguous,
}

impl Retry {
    fn with_delay(self, delay: Option<Duration>) -> Self {
        match self {
            Self::Ambiguous => Self::AmbiguousAfter(delay),
            other => other,
        }
    }

    fn delay(self) -> Option<Duration> {
        match self {
            Self::Safe(d) | Self::AmbiguousAfter(d) => d,
            _ => None,
        }
    }
}

/// How often and how patiently to retry.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// Tries in all (first included).
    pub attempts: u32,
    /// The first backoff; doubled each time.
    pub base_delay: Duration,
    /// The longest backoff.
    pub max_delay: Duration,
    /// The longest `Retry-After` honoured; asked to wait longer, sesame gives up.
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            attempts: 4,
            base_delay: Duration::from_millis(250),
            max_delay: Duration::from_secs(4),
            max_retry_after: Duration::from_secs(30),
        }
    }
}

impl RetryPolicy {
    /// The wait before try number `attempt + 1` (full jitter on
    /// exponential backoff, or `Retry-After` plus a little jitter).
    fn backoff(&self, attempt: u32, asked: Option<Duration>) -> Duration {
        if let Some(asked) = asked {
            return asked + Duration::from_millis(fastrand::u64(0..100));
        }
        let exp = self
            .base_delay
            .saturating_mul(1 << attempt.saturating_sub(1).min(16))
            .min(self.max_delay);
        // Between half and all of the exponential delay.
        exp / 2 + exp.mul_f64(fastrand::f64() / 2.0)
    }
}

/// The envelope every answer comes in.
#[derive(Debug, Deserialize)]
struct Envelope {
    #[serde(default)]
    success: bool,
    #[serde(default)]
    errors: Vec<CfError>,
    #[serde(default)]
    result: Value,
    #[serde(default)]
    result_info: Option<ResultInfo>,
}

#[derive(Debug, Deserialize)]
struct ResultInfo {
    #[serde(default)]
    total_pages: Option<f64>,
    #[serde(default)]
    total_count: Option<f64>,
}

/// A client for one API base and one (parent) token.
#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    base: String,
    token: SecretValue,
    retry: RetryPolicy,
    headers: Vec<(HeaderName, HeaderValue)>,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("base", &self.base)
            .field("retry", &self.retry)
            .field(
                "headers",
                &self.headers.iter().map(|(name, _)| name).collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

impl Client {
    /// A client sending `token` to `base` (e.g. [`DEFAULT_API_BASE`]) with
    /// `http` (use the run's shared client, `BackendContext::http`).
    pub fn new(http: reqwest::Client, base: impl Into<String>, token: SecretValue) -> Self {
        Self {
            http,
            base: base.into().trim_end_matches('/').to_string(),
            token,
            retry: RetryPolicy::default(),
            headers: Vec::new(),
        }
    }

    /// The same client, sending `name: value` with every request (e.g.
    /// `cf-r2-jurisdiction: eu` for R2 endpoints).
    pub fn with_header(mut self, name: HeaderName, value: HeaderValue) -> Self {
        self.headers.push((name, value));
        self
    }

    /// The same client with another retry policy.
    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// The API base it talks to.
    pub fn base_url(&self) -> &str {
        &self.base
    }

    /// `GET {tokens}/verify`: the calling token's id and status. An account
    /// token must be verified with its [`Owner::Account`]; the user path
    /// answers 401 code 1000 for it (and the account path for user tokens).
    pub async fn verify(&self, owner: &Owner) -> Result<Verified, ApiError> {
        self.get(&format!("{}/verify", owner.tokens_path()), &[]).await
    }

    /// `GET {tokens}/{id}`: a token with its policies.
    pub async fn get_token(&self, owner: &Owner, id: &str) -> Result<TokenInfo, ApiError> {
        self.get(&format!("{}/{id}", owner.tokens_path()), &[]).await
    }

    /// `POST {tokens}`: creates a token. When an attempt may have created
    /// it without sesame seeing the answer (connection lost, 5xx), tokens
    /// with the same name are deleted before trying again, so a retry never
    /// leaves a twin behind; names should be unique for this to hold.
    pub async fn create_token(&self, owner: &Owner, token: &NewToken) -> Result<CreatedToken, ApiError> {
        let path = owner.tokens_path();
        let body = json!({
            "name": token.name,
            "policies": token.policies,
            "expires_on": format_time(token.expires_on),
        });
        let mut attempt = 0;
        loop {
            attempt += 1;
            let error = match self.once(&Method::POST, &path, &[], Some(&body)).await {
                Ok(envelope) => {
                    #[derive(Deserialize)]
                    struct Created {
                        id: String,
                        value: SecretValue,
                        #[serde(default)]
                        expires_on: Option<String>,
                    }
                    let created: Created = decode(&Method::POST, &path, envelope.result)?;
                    return Ok(CreatedToken {
                        id: created.id,
                        value: created.value,
                        expires_on: created.expires_on,
                    });
                }
                Err(e) => e,
            };
            let retry = error.retryable();
            if retry == Retry::No || attempt >= self.retry.attempts {
                return Err(ApiError {
                    attempts: attempt,
                    ..error
                });
            }
            if matches!(retry, Retry::Ambiguous | Retry::AmbiguousAfter(_)) {
                // It may exist: remove it before asking again.
                match self.delete_by_name(owner, &token.name).await {
                    Ok(removed) if removed > 0 => {
                        tracing::debug!(removed, "deleted tokens a lost create answer left behind")
                    }
                    Ok(_) => {}
                    Err(cleanup) => {
                        // Without knowing whether it exists, asking again
                        // could leave a twin: give up.
                        tracing::debug!(error = %cleanup, "could not check for a token a failed create left");
                        return Err(ApiError {
                            attempts: attempt + cleanup.attempts,
                            ..error
                        });
                    }
                }
            }
            self.pause(&error, attempt, retry.delay()).await?;
        }
    }

    /// `DELETE {tokens}/{id}`. `Ok(false)` when it was already gone (404).
    pub async fn delete_token(&self, owner: &Owner, id: &str) -> Result<bool, ApiError> {
        let path = format!("{}/{id}", owner.tokens_path());
        match self.call(Method::DELETE, &path, &[], None).await {
            Ok(_) => Ok(true),
            Err(e) if e.is_not_found() => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// `GET {tokens}`, every page. For account tokens, `include_expired`
    /// asks for expired ones too (the user list always has them).
    pub async fn list_tokens(&self, owner: &Owner, include_expired: bool) -> Result<Vec<TokenInfo>, ApiError> {
        let path = owner.tokens_path();
        let mut all: Vec<TokenInfo> = Vec::new();
        let mut page = 1usize;
        loop {
            let mut query = vec![("page", page.to_string()), ("per_page", MAX_PER_PAGE.to_string())];
            if include_expired && matches!(owner, Owner::Account(_)) {
                query.push(("include_expired", "true".into()));
            }
            let envelope = self.call(Method::GET, &path, &query, None).await?;
            let items: Vec<TokenInfo> = decode(&Method::GET, &path, envelope.result)?;
            let got = items.len();
            all.extend(items);
            let info = envelope.result_info;
            let total_pages = info.as_ref().and_then(|i| i.total_pages).map(|n| n as usize);
            let total_count = info.as_ref().and_then(|i| i.total_count).map(|n| n as usize);
            let done = got == 0
                || total_pages.is_some_and(|n| page >= n)
                || total_count.is_some_and(|n| all.len() >= n)
                || (total_pages.is_none() && total_count.is_none() && got < MAX_PER_PAGE)
                || page >= 1000;
            if done {
                return Ok(all);
            }
            page += 1;
        }
    }

    /// The tokens (expired included) called exactly `name`.
    pub async fn find_tokens_by_name(&self, owner: &Owner, name: &str) -> Result<Vec<TokenInfo>, ApiError> {
        Ok(self
            .list_tokens(owner, true)
            .await?
            .into_iter()
            .filter(|t| t.name == name)
            .collect())
    }

    /// Deletes every token called `name`; returns how many were deleted.
    pub async fn delete_by_name(&self, owner: &Owner, name: &str) -> Result<usize, ApiError> {
        let mut deleted = 0;
        for token in self.find_tokens_by_name(owner, name).await? {
            if self.delete_token(owner, &token.id).await? {
                deleted += 1;
            }
        }
        Ok(deleted)
    }

    /// Revokes a token sesame minted: by `id` when minting finished, else
    /// (sesame died while minting) every token named `label`. A token that
    /// is already gone counts as revoked.
    pub async fn revoke_minted(&self, owner: &Owner, id: Option<&str>, label: &str) -> Result<(), ApiError> {
        match id {
            Some(id) => {
                let deleted = self.delete_token(owner, id).await?;
                tracing::info!(token_id = %id, already_gone = !deleted, "deleted Cloudflare token");
            }
            None => {
                let deleted = self.delete_by_name(owner, label).await?;
                tracing::info!(deleted, "deleted Cloudflare tokens found by name");
            }
        }
        Ok(())
    }

    /// `GET {tokens}/permission_groups`, optionally filtered by exact name.
    pub async fn permission_groups(&self, owner: &Owner, name: Option<&str>) -> Result<Vec<PermissionGroup>, ApiError> {
        let path = format!("{}/permission_groups", owner.tokens_path());
        let query: Vec<(&str, String)> = name.map(|n| ("name", n.to_string())).into_iter().collect();
        self.get(&path, &query).await
    }

    /// The id of the permission group called exactly `name`, if any.
    pub async fn permission_group_id(&self, owner: &Owner, name: &str) -> Result<Option<String>, ApiError> {
        Ok(self
            .permission_groups(owner, Some(name))
            .await?
            .into_iter()
            .find(|g| g.name == name)
            .map(|g| g.id))
    }

    /// `GET {path}?{query}`: the envelope's `result` as `T`. Retried as
    /// every call is (see [`Client::request`]).
    pub async fn get<T: DeserializeOwned>(&self, path: &str, query: &[(&str, String)]) -> Result<T, ApiError> {
        self.request::<(), T>(Method::GET, path, query, None).await
    }

    /// `POST {path}` with `body` as JSON: the envelope's `result` as `T`.
    ///
    /// Retried as every call is (see [`Client::request`]), including when
    /// the request may already have been processed (lost answer, 5xx): use
    /// it where a duplicate is harmless, e.g. R2 temporary credentials, of
    /// which a duplicate only expires unused. [`Client::create_token`] has its
    /// own retries, since a twin token would not be harmless.
    pub async fn post<B: Serialize + ?Sized, T: DeserializeOwned>(&self, path: &str, body: &B) -> Result<T, ApiError> {
        self.request(Method::POST, path, &[], Some(body)).await
    }

    /// Any API call: `method` on `path` (below the base, e.g.
    /// `/accounts/{id}/r2/temp-access-credentials`) with `query` and an
    /// optional JSON `body`; the envelope's `result` decoded as `T`.
    ///
    /// The one request path every method of this client takes: the parent
    /// token as a sensitive `Authorization: Bearer` header, the client's
    /// extra headers, Cloudflare's envelope and errors (`success: false` with
    /// a 2xx included), and retries of connection failures, 408, 409, 429
    /// (honouring `Retry-After` up to [`RetryPolicy::max_retry_after`]) and
    /// 5xx, with jittered exponential backoff.
    pub async fn request<B: Serialize + ?Sized, T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&B>,
    ) -> Result<T, ApiError> {
        let body = body.map(serde_json::to_value).transpose().map_err(|e| ApiError {
            method: method.to_string(),
            path: path.to_string(),
            kind: ApiErrorKind::Decode(format!("the request body could not be encoded ({e})")),
            attempts: 0,
        })?;
        let envelope = self.call(method.clone(), path, query, body.as_ref()).await?;
        decode(&method, path, envelope.result)
    }

    /// Sends a request, retrying what is worth retrying; requests that may
    /// have been processed are sent again as they are.
    async fn call(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&Value>,
    ) -> Result<Envelope, ApiError> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let error = match self.once(&method, path, query, body).await {
                Ok(envelope) => return Ok(envelope),
                Err(e) => e,
            };
            let retry = error.retryable();
            if retry == Retry::No || attempt >= self.retry.attempts {
                return Err(ApiError {
                    attempts: attempt,
                    ..error
                });
            }
            self.pause(&error, attempt, retry.delay()).await?;
        }
    }

    /// Waits before the next try, or gives up if Cloudflare asks for a
    /// longer wait than sesame is willing to.
    async fn pause(&self, error: &ApiError, attempt: u32, asked: Option<Duration>) -> Result<(), ApiError> {
        if asked.is_some_and(|d| d > self.retry.max_retry_after) {
            return Err(ApiError {
                attempts: attempt,
                ..error.clone()
            });
        }
        let wait = self.retry.backoff(attempt, asked);
        tracing::debug!(
            method = %error.method,
            path = %error.path,
            attempt,
            wait_ms = wait.as_millis() as u64,
            "retrying Cloudflare API call"
        );
        tokio::time::sleep(wait).await;
        Ok(())
    }

    /// One try.
    async fn once(
        &self,
        method: &Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&Value>,
    ) -> Result<Envelope, ApiError> {
        let fail = |kind| ApiError {
            method: method.to_string(),
            path: path.to_string(),
            kind,
            attempts: 1,
        };
        let mut auth = HeaderValue::from_str(&format!("Bearer {}", self.token.expose())).map_err(|_| {
            fail(ApiErrorKind::Decode(
                "the parent token contains characters that cannot be sent in a header".into(),
            ))
        })?;
        auth.set_sensitive(true);
        let mut request = self
            .http
            .request(method.clone(), format!("{}{path}", self.base))
            .header(AUTHORIZATION, auth);
        for (name, value) in &self.headers {
            request = request.header(name, value);
        }
        if !query.is_empty() {
            request = request.query(query);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = match request.send().await {
            Ok(response) => response,
            Err(e) => {
                return Err(fail(ApiErrorKind::Transport {
                    message: transport_message(&e),
                    before_send: e.is_connect(),
                }))
            }
        };
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        tracing::debug!(method = %method, path, status, "Cloudflare API answered");
        let text = match response.text().await {
            Ok(text) => text,
            Err(e) => {
                return Err(fail(ApiErrorKind::Transport {
                    message: transport_message(&e),
                    before_send: false,
                }))
            }
        };
        let envelope: Option<Envelope> = serde_json::from_str(&text).ok();
        match envelope {
            Some(envelope) if (200..300).contains(&status) && envelope.success => Ok(envelope),
            Some(envelope) => Err(fail(ApiErrorKind::Status {
                status,
                errors: envelope.errors,
                retry_after,
            })),
            None if (200..300).contains(&status) => Err(fail(ApiErrorKind::Decode(format!(
                "HTTP {status} with a body that is not Cloudflare's JSON envelope"
            )))),
            None => Err(fail(ApiErrorKind::Status {
                status,
                errors: Vec::new(),
                retry_after,
            })),
        }
    }
}

fn decode<T: serde::de::DeserializeOwned>(method: &Method, path: &str, result: Value) -> Result<T, ApiError> {
    serde_json::from_value(result).map_err(|e| ApiError {
        method: method.to_string(),
        path: path.to_string(),
        kind: ApiErrorKind::Decode(format!("the result does not have the expected shape ({e})")),
        attempts: 1,
    })
}

/// A transport error without the URL's query, with its causes.
fn transport_message(error: &reqwest::Error) -> String {
    let what = if error.is_timeout() {
        "timed out"
    } else if error.is_connect() {
        "could not connect"
    } else {
        "the connection failed"
    };
    let mut causes = Vec::new();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        let text = cause.to_string();
        if !causes.contains(&text) {
            causes.push(text);
        }
        source = cause.source();
    }
    if causes.is_empty() {
        what.to_string()
    } else {
        format!("{what}: {}", causes.join(": "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_url_precedence() {
        let env = EnvSnapshot::from_pairs([(API_BASE_VAR, "http://127.0.0.1:9/client/v4/")]);
        assert_eq!(api_base(Some("https://x.test/v4/"), &env), "https://x.test/v4");
        assert_eq!(api_base(None, &env), "http://127.0.0.1:9/client/v4");
        assert_eq!(api_base(None, &EnvSnapshot::default()), DEFAULT_API_BASE);
    }

    #[test]
    fn backoff_grows_is_jittered_and_capped() {
        let policy = RetryPolicy::default();
        for attempt in 1..10 {
            let wait = policy.backoff(attempt, None);
            let full = policy.base_delay * (1 << (attempt - 1).min(16));
            let full = full.min(policy.max_delay);
            assert!(wait >= full / 2 && wait <= full, "{attempt}: {wait:?} vs {full:?}");
        }
        let asked = policy.backoff(1, Some(Duration::from_secs(2)));
        assert!(asked >= Duration::from_secs(2) && asked < Duration::from_millis(2100));
    }

    #[test]
    fn errors_show_codes_and_hints() {
        let e = ApiError {
            method: "POST".into(),
            path: "/user/tokens".into(),
            kind: ApiErrorKind::Status {
                status: 403,
                errors: vec![CfError {
                    code: 10000,
                    message: "Authentication error".into(),
                    error_chain: vec![],
                }],
                retry_after: None,
            },
            attempts: 1,
        };
        assert_eq!(
            e.to_string(),
            "Cloudflare API POST /user/tokens: HTTP 403: Authentication error (code 10000)"
        );
        assert!(e.hint().unwrap().contains("'API Tokens: Edit'"));
        let quota = ApiError {
            kind: ApiErrorKind::Status {
                status: 400,
                errors: vec![CfError {
                    code: 1002,
                    message: "Token quota exceeded".into(),
                    error_chain: vec![],
                }],
                retry_after: None,
            },
            ..e
        };
        assert!(quota.hint().unwrap().contains("sesame lease cleanup"));
    }

    #[test]
    fn what_is_retried() {
        let with = |status, retry_after| ApiError {
            method: "GET".into(),
            path: "/".into(),
            kind: ApiErrorKind::Status {
                status,
                errors: vec![],
                retry_after,
            },
            attempts: 1,
        };
        assert_eq!(with(400, None).retryable(), Retry::No);
        assert_eq!(with(404, None).retryable(), Retry::No);
        assert_eq!(
            with(429, Some(Duration::from_secs(3))).retryable(),
            Retry::Safe(Some(Duration::from_secs(3)))
        );
        assert_eq!(with(500, None).retryable(), Retry::AmbiguousAfter(None));
        assert_eq!(with(408, None).retryable(), Retry::AmbiguousAfter(None));
        assert_eq!(with(409, None).retryable(), Retry::AmbiguousAfter(None));
    }

    #[test]
    fn policies_serialize_without_read_only_fields() {
        let policy = Policy {
            id: Some("p1".into()),
            effect: "allow".into(),
            resources: json!({"com.cloudflare.api.account.*": "*"}),
            permission_groups: vec![GroupRef {
                id: "c8fed203ed3043cba015a93ad1616f1f".into(),
                name: Some("Zone Read".into()),
            }],
        };
        assert_eq!(
            serde_json::to_value(&policy).unwrap(),
            json!({"effect": "allow", "resources": {"com.cloudflare.api.account.*": "*"},
                   "permission_groups": [{"id": "c8fed203ed3043cba015a93ad1616f1f"}]})
        );
    }

    #[test]
    fn times_round_trip() {
        let t = parse_time("2026-07-01T05:20:00Z").unwrap();
        assert_eq!(format_time(t), "2026-07-01T05:20:00Z");
    }
}
