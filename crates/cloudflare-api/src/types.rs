//! The API's data: token owners, policies, tokens, permission groups, times.

use std::fmt;
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sesame_core::SecretValue;

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
