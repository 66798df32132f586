//! Public data types of the Cloudflare stand-in: token records, seeding specs,
//! request-log entries and fault settings.

use std::fmt;
use std::time::{Duration, SystemTime};

use serde_json::{json, Value};

use super::catalogue::{groups, permission_group};

/// Id of the single user every user-owned token belongs to.
pub const USER_ID: &str = "9a7806061c88ada191ed06f989cc3dac";
/// A ready-made account id (the spec's example identifier) for tests.
pub const DEFAULT_ACCOUNT_ID: &str = "023e105f4ecef8ad9ca31a8372d0c353";
/// Default quota of user-owned tokens (per user), as documented by Cloudflare.
pub const USER_TOKEN_QUOTA: usize = 50;
/// Default quota of account-owned tokens (per account), as documented by Cloudflare.
pub const ACCOUNT_TOKEN_QUOTA: usize = 500;

/// Who owns a token.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum TokenOwner {
    /// A user-owned token (`/user/tokens`); there is a single user, [`USER_ID`].
    User,
    /// An account-owned token (`/accounts/{id}/tokens`) of the given account id.
    Account(String),
}

impl TokenOwner {
    /// The account id for account-owned tokens.
    pub fn account_id(&self) -> Option<&str> {
        match self {
            TokenOwner::User => None,
            TokenOwner::Account(id) => Some(id),
        }
    }
}

/// Stored status of a token (`iam_token_status`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum TokenStatus {
    /// Usable.
    #[default]
    Active,
    /// Switched off by its owner; rejected like an unknown token.
    Disabled,
    /// Past its expiry; rejected like an unknown token but still counted in quotas.
    Expired,
}

impl TokenStatus {
    /// The wire spelling: `active`, `disabled` or `expired`.
    pub fn as_str(self) -> &'static str {
        match self {
            TokenStatus::Active => "active",
            TokenStatus::Disabled => "disabled",
            TokenStatus::Expired => "expired",
        }
    }

    /// Parses the wire spelling.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "active" => Some(TokenStatus::Active),
            "disabled" => Some(TokenStatus::Disabled),
            "expired" => Some(TokenStatus::Expired),
            _ => None,
        }
    }
}

/// Formats a time the way the API does: RFC 3339 UTC with seconds, e.g.
/// `2026-07-01T05:20:00Z`.
pub fn format_time(t: SystemTime) -> String {
    humantime::format_rfc3339_seconds(t).to_string()
}

/// Everything the stand-in knows about one token, including its secret value.
///
/// `Debug` redacts [`TokenRecord::value`].
#[derive(Clone)]
pub struct TokenRecord {
    /// 32 lowercase hex chars.
    pub id: String,
    /// The secret (40 chars of `[A-Za-z0-9_-]`), sent as `Authorization: Bearer <value>`.
    pub value: String,
    /// Token name.
    pub name: String,
    /// User- or account-owned.
    pub owner: TokenOwner,
    /// Stored status; see [`TokenRecord::status_at`] for the effective one.
    pub status: TokenStatus,
    /// Normalised policies: `{id, effect, resources, permission_groups: [{id, name?}]}`.
    pub policies: Vec<Value>,
    /// Creation time.
    pub issued_on: SystemTime,
    /// Last modification time.
    pub modified_on: SystemTime,
    /// Last successful authentication with this token, if any.
    pub last_used_on: Option<SystemTime>,
    /// Expiry, if any.
    pub expires_on: Option<SystemTime>,
    /// Start of validity, if any.
    pub not_before: Option<SystemTime>,
    /// Raw `condition` object, if any.
    pub condition: Option<Value>,
    /// When the token was deleted (revoked); `None` while it is live.
    pub deleted_on: Option<SystemTime>,
    /// Id of the token that created it through the API; `None` for seeded tokens.
    pub created_by: Option<String>,
}

impl fmt::Debug for TokenRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenRecord")
            .field("id", &self.id)
            .field("value", &"<redacted>")
            .field("name", &self.name)
            .field("owner", &self.owner)
            .field("status", &self.status)
            .field("policies", &self.policies)
            .field("expires_on", &self.expires_on.map(format_time))
            .field("not_before", &self.not_before.map(format_time))
            .field("deleted_on", &self.deleted_on.map(format_time))
            .field("created_by", &self.created_by)
            .finish_non_exhaustive()
    }
}

impl TokenRecord {
    /// Effective status at `now`: `disabled` if disabled, `expired` if stored as
    /// expired or `expires_on <= now`, else `active`.
    pub fn status_at(&self, now: SystemTime) -> TokenStatus {
        match self.status {
            TokenStatus::Disabled => TokenStatus::Disabled,
            TokenStatus::Expired => TokenStatus::Expired,
            TokenStatus::Active => match self.expires_on {
                Some(exp) if exp <= now => TokenStatus::Expired,
                _ => TokenStatus::Active,
            },
        }
    }

    /// Effective status now.
    pub fn current_status(&self) -> TokenStatus {
        self.status_at(SystemTime::now())
    }

    /// Whether the token has not been deleted.
    pub fn is_live(&self) -> bool {
        self.deleted_on.is_none()
    }

    /// Whether the token can authenticate at `now`: live, active, and past `not_before`.
    pub fn usable_at(&self, now: SystemTime) -> bool {
        self.is_live() && self.status_at(now) == TokenStatus::Active && self.not_before.is_none_or(|nb| nb <= now)
    }

    /// Whether any policy (allow or deny) names the permission group `group_id`.
    pub fn has_group(&self, group_id: &str) -> bool {
        self.policies.iter().any(|p| policy_has_group(p, group_id))
    }

    /// The token as the API serves it (`iam_token_base`), with `value` only when
    /// `with_value` (create responses).
    pub fn to_api_json(&self, with_value: bool) -> Value {
        let now = SystemTime::now();
        let mut obj = json!({
            "id": self.id,
            "name": self.name,
            "status": self.status_at(now).as_str(),
            "issued_on": format_time(self.issued_on),
            "modified_on": format_time(self.modified_on),
            "policies": self.policies,
        });
        let map = obj.as_object_mut().expect("object");
        if let Some(t) = self.last_used_on {
            map.insert("last_used_on".into(), format_time(t).into());
        }
        if let Some(t) = self.expires_on {
            map.insert("expires_on".into(), format_time(t).into());
        }
        if let Some(t) = self.not_before {
            map.insert("not_before".into(), format_time(t).into());
        }
        if let Some(c) = &self.condition {
            map.insert("condition".into(), c.clone());
        }
        if with_value {
            map.insert("value".into(), self.value.clone().into());
        }
        obj
    }

    /// Full dump for the admin API: the API view plus `value`, `owner`,
    /// `account_id`, `deleted_on`, `created_by`.
    pub fn to_admin_json(&self) -> Value {
        let mut v = self.to_api_json(true);
        let map = v.as_object_mut().expect("object");
        map.insert(
            "owner".into(),
            match self.owner {
                TokenOwner::User => "user",
                TokenOwner::Account(_) => "account",
            }
            .into(),
        );
        map.insert(
            "account_id".into(),
            self.owner.account_id().map(Value::from).unwrap_or(Value::Null),
        );
        map.insert(
            "deleted_on".into(),
            self.deleted_on.map(|t| format_time(t).into()).unwrap_or(Value::Null),
        );
        map.insert(
            "created_by".into(),
            self.created_by.clone().map(Value::from).unwrap_or(Value::Null),
        );
        v
    }
}

pub(crate) fn policy_has_group(policy: &Value, group_id: &str) -> bool {
    policy["permission_groups"]
        .as_array()
        .is_some_and(|gs| gs.iter().any(|g| g["id"].as_str() == Some(group_id)))
}

/// Normalises a policy as the API stores it: keeps `effect` and `resources`,
/// gives it an `id` if it has none, and fills each permission group's `name`
/// from the catalogue (unknown ids are kept as given).
pub(crate) fn normalize_policy(policy: &Value) -> Value {
    let id = policy["id"]
        .as_str()
        .map(str::to_owned)
        .unwrap_or_else(super::state::random_id);
    let groups: Vec<Value> = policy["permission_groups"]
        .as_array()
        .map(|gs| {
            gs.iter()
                .map(|g| {
                    let gid = g["id"].as_str().unwrap_or_default();
                    match permission_group(gid) {
                        Some(pg) => json!({ "id": pg.id, "name": pg.name }),
                        None => g.clone(),
                    }
                })
                .collect()
        })
        .unwrap_or_default();
    json!({
        "id": id,
        "effect": policy["effect"].clone(),
        "resources": policy["resources"].clone(),
        "permission_groups": groups,
    })
}

/// What to seed with [`CloudflareHandle::add_user_token`](super::CloudflareHandle::add_user_token)
/// or [`add_account_token`](super::CloudflareHandle::add_account_token).
///
/// Seeding skips request validation and quotas (seeded tokens still count
/// towards the quota of later API creates). Permission-group ids are not
/// checked against the catalogue.
#[derive(Clone, Debug)]
pub struct TokenSpec {
    /// Token name.
    pub name: String,
    /// Policies as JSON `{id?, effect, resources, permission_groups: [{id, name?}]}`.
    pub policies: Vec<Value>,
    /// Optional expiry.
    pub expires_on: Option<SystemTime>,
    /// Optional start of validity.
    pub not_before: Option<SystemTime>,
    /// Stored status.
    pub status: TokenStatus,
    /// Optional raw `condition` object.
    pub condition: Option<Value>,
}

/// Resource key covering the stand-in's user (`com.cloudflare.api.user.<USER_ID>`).
pub fn user_resource() -> String {
    format!("com.cloudflare.api.user.{USER_ID}")
}

/// Resource key covering every account (`com.cloudflare.api.account.*`).
pub const ALL_ACCOUNTS_RESOURCE: &str = "com.cloudflare.api.account.*";

impl TokenSpec {
    /// An active token with no policies.
    pub fn new(name: impl Into<String>) -> Self {
        TokenSpec {
            name: name.into(),
            policies: Vec::new(),
            expires_on: None,
            not_before: None,
            status: TokenStatus::Active,
            condition: None,
        }
    }

    /// A parent token able to create, read and delete tokens:
    /// one policy granting "API Tokens Write" on the user
    /// (`com.cloudflare.api.user.<USER_ID>`), and one granting
    /// "Account API Tokens Write" plus `extra_groups` on
    /// `com.cloudflare.api.account.*`, so that it can also manage the tokens of
    /// any account.
    pub fn parent(extra_groups: &[&str]) -> Self {
        let mut account_groups = vec![groups::ACCOUNT_API_TOKENS_WRITE];
        account_groups.extend_from_slice(extra_groups);
        TokenSpec::new("sesame-test-parent")
            .allow(&[groups::API_TOKENS_WRITE], json!({ user_resource(): "*" }))
            .allow(&account_groups, json!({ ALL_ACCOUNTS_RESOURCE: "*" }))
    }

    /// A parent meant for [`add_account_token`](super::CloudflareHandle::add_account_token):
    /// one policy granting "Account API Tokens Write" plus `extra_groups` on
    /// `com.cloudflare.api.account.<account_id>`.
    pub fn account_parent(account_id: &str, extra_groups: &[&str]) -> Self {
        let mut account_groups = vec![groups::ACCOUNT_API_TOKENS_WRITE];
        account_groups.extend_from_slice(extra_groups);
        TokenSpec::new("sesame-test-account-parent").allow(
            &account_groups,
            json!({ format!("com.cloudflare.api.account.{account_id}"): "*" }),
        )
    }

    /// A valid token WITHOUT any API-token permission: one policy granting
    /// `groups` on `com.cloudflare.api.account.*` (a policy with an empty
    /// group list if `groups` is empty).
    pub fn parent_without_token_write(groups: &[&str]) -> Self {
        TokenSpec::new("sesame-test-no-token-write").allow(groups, json!({ ALL_ACCOUNTS_RESOURCE: "*" }))
    }

    /// Like [`TokenSpec::parent`], but expired an hour ago.
    pub fn expired_parent(extra_groups: &[&str]) -> Self {
        TokenSpec::parent(extra_groups)
            .with_name("sesame-test-expired-parent")
            .with_expires_on(SystemTime::now() - Duration::from_secs(3600))
    }

    /// Adds an `allow` policy granting `group_ids` on `resources`.
    pub fn allow(self, group_ids: &[&str], resources: Value) -> Self {
        self.with_policy(policy("allow", group_ids, resources))
    }

    /// Adds a `deny` policy for `group_ids` on `resources`.
    pub fn deny(self, group_ids: &[&str], resources: Value) -> Self {
        self.with_policy(policy("deny", group_ids, resources))
    }

    /// Adds a raw policy.
    pub fn with_policy(mut self, policy: Value) -> Self {
        self.policies.push(policy);
        self
    }

    /// Sets the name.
    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// Sets `expires_on`.
    pub fn with_expires_on(mut self, t: SystemTime) -> Self {
        self.expires_on = Some(t);
        self
    }

    /// Sets `not_before`.
    pub fn with_not_before(mut self, t: SystemTime) -> Self {
        self.not_before = Some(t);
        self
    }

    /// Sets the stored status.
    pub fn with_status(mut self, status: TokenStatus) -> Self {
        self.status = status;
        self
    }

    /// Sets the raw `condition` object.
    pub fn with_condition(mut self, condition: Value) -> Self {
        self.condition = Some(condition);
        self
    }
}

/// Builds a policy JSON value `{effect, resources, permission_groups: [{id}]}`.
pub fn policy(effect: &str, group_ids: &[&str], resources: Value) -> Value {
    let groups: Vec<Value> = group_ids.iter().map(|id| json!({ "id": id })).collect();
    json!({ "effect": effect, "resources": resources, "permission_groups": groups })
}

/// Id and secret of a seeded token. `Debug` redacts the value.
#[derive(Clone, PartialEq, Eq)]
pub struct CreatedToken {
    /// 32 lowercase hex chars.
    pub id: String,
    /// The secret to send as `Authorization: Bearer <value>`.
    pub value: String,
}

impl fmt::Debug for CreatedToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CreatedToken")
            .field("id", &self.id)
            .field("value", &"<redacted>")
            .finish()
    }
}

/// Live (not deleted) tokens, split by owner kind.
#[derive(Clone, Debug, Default)]
pub struct LiveTokens {
    /// Live user-owned tokens, in creation order.
    pub user: Vec<TokenRecord>,
    /// Live account-owned tokens (all accounts), in creation order.
    pub account: Vec<TokenRecord>,
}

impl LiveTokens {
    /// Number of live user-owned tokens.
    pub fn user_count(&self) -> usize {
        self.user.len()
    }

    /// Number of live account-owned tokens (all accounts).
    pub fn account_count(&self) -> usize {
        self.account.len()
    }

    /// Number of live tokens of both kinds.
    pub fn total(&self) -> usize {
        self.user.len() + self.account.len()
    }
}

/// A fault the stand-in injected instead of (or after) handling a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InjectedFault {
    /// Answered 429 with `Retry-After` without handling the request.
    RateLimited,
    /// Answered 500 without handling the request.
    ServerError,
    /// Closed the connection without handling the request or answering.
    Dropped,
    /// Handled the request (state changed!) then closed the connection
    /// without sending the response.
    ResponseLost,
}

impl InjectedFault {
    /// Short name used by the admin API: `rate_limited`, `server_error`,
    /// `dropped`, `response_lost`.
    pub fn as_str(self) -> &'static str {
        match self {
            InjectedFault::RateLimited => "rate_limited",
            InjectedFault::ServerError => "server_error",
            InjectedFault::Dropped => "dropped",
            InjectedFault::ResponseLost => "response_lost",
        }
    }
}

/// One API request seen by the stand-in (admin requests are not logged).
/// Never contains token values: only whether an `Authorization` header was sent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestLogEntry {
    /// HTTP method, e.g. `POST`.
    pub method: String,
    /// Full path including the `/client/v4` prefix.
    pub path: String,
    /// Raw query string without `?`, if any.
    pub query: Option<String>,
    /// Whether an `Authorization` header was present.
    pub has_auth: bool,
    /// Response status; `None` when the connection was closed without one.
    pub status: Option<u16>,
    /// The injected fault, if any.
    pub fault: Option<InjectedFault>,
}

impl RequestLogEntry {
    /// JSON form used by the admin API.
    pub fn to_json(&self) -> Value {
        json!({
            "method": self.method,
            "path": self.path,
            "query": self.query,
            "has_auth": self.has_auth,
            "status": self.status,
            "fault": self.fault.map(InjectedFault::as_str),
        })
    }
}

/// A request body sent to a create endpoint (`POST .../tokens`), recorded
/// whatever the outcome (auth failure, validation error or success).
#[derive(Clone, Debug, PartialEq)]
pub struct RecordedBody {
    /// Full path including the `/client/v4` prefix.
    pub path: String,
    /// The body as sent (lossy UTF-8).
    pub raw: String,
    /// The body parsed as JSON, if it parsed.
    pub json: Option<Value>,
    /// The response status the stand-in answered with.
    pub status: u16,
}

impl RecordedBody {
    /// JSON form used by the admin API.
    pub fn to_json(&self) -> Value {
        json!({ "path": self.path, "raw": self.raw, "json": self.json, "status": self.status })
    }
}

/// Current fault-injection settings. Counters are "next N API requests".
///
/// When several are armed, one request consumes at most one, in this order:
/// drop, rate limit (429), server error (500), lost response.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Faults {
    /// Delay added before every API request is handled (also before faults).
    pub latency: Duration,
    /// Next N requests answer 429.
    pub rate_limited: u32,
    /// `Retry-After` seconds sent with the 429s.
    pub retry_after_secs: u64,
    /// Next N requests answer 500.
    pub server_errors: u32,
    /// Next N requests get their connection closed before being handled.
    pub dropped: u32,
    /// Next N requests are handled, then their connection is closed unanswered.
    pub responses_lost: u32,
}

impl Faults {
    /// JSON form used by the admin API (`latency_ms`, `rate_limited`,
    /// `retry_after_secs`, `server_errors`, `dropped`, `responses_lost`).
    pub fn to_json(&self) -> Value {
        json!({
            "latency_ms": self.latency.as_millis() as u64,
            "rate_limited": self.rate_limited,
            "retry_after_secs": self.retry_after_secs,
            "server_errors": self.server_errors,
            "dropped": self.dropped,
            "responses_lost": self.responses_lost,
        })
    }
}

/// Temporary credentials the stand-in issued. `Debug` shows no secret.
#[derive(Clone, PartialEq)]
pub struct TempCredentialRecord {
    /// The access key id (32 hex chars).
    pub access_key_id: String,
    /// The secret access key (64 hex chars).
    pub secret_access_key: String,
    /// The session token (sent as `X-Amz-Security-Token`).
    pub session_token: String,
    /// The account in the path.
    pub account_id: String,
    /// The `cf-r2-jurisdiction` header, or `default`.
    pub jurisdiction: String,
    /// The bucket.
    pub bucket: String,
    /// One of the permissions temporary credentials can carry.
    pub permission: String,
    /// Key prefixes they are limited to, if any.
    pub prefixes: Option<Vec<String>>,
    /// Object keys they are limited to, if any.
    pub objects: Option<Vec<String>>,
    /// The parent access key id (an R2 token's id).
    pub parent_access_key_id: String,
    /// The id of the API token that asked for them.
    pub issued_by: String,
    /// When they were issued.
    pub issued_on: SystemTime,
    /// When they stop working.
    pub expires_on: SystemTime,
}

impl fmt::Debug for TempCredentialRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TempCredentialRecord")
            .field("access_key_id", &self.access_key_id)
            .field("account_id", &self.account_id)
            .field("jurisdiction", &self.jurisdiction)
            .field("bucket", &self.bucket)
            .field("permission", &self.permission)
            .field("prefixes", &self.prefixes)
            .field("objects", &self.objects)
            .field("parent_access_key_id", &self.parent_access_key_id)
            .finish_non_exhaustive()
    }
}
