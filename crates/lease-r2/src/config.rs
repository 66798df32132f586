//! `[leases.NAME] type = "r2"`: parsing and checking the table (no I/O).

use std::collections::BTreeMap;
use std::time::Duration;

use schemars::{json_schema, JsonSchema, Schema, SchemaGenerator};
use serde::{Deserialize, Serialize};
use sesame_cloudflare_api::Owner;
use sesame_core::SecretSource;

/// The longest lifetime: R2 temporary credentials allow 7 days, and a token
/// minted for a migration should not outlive that either.
pub const MAX_DURATION: Duration = Duration::from_secs(7 * 24 * 3600);

/// The lifetime when `duration` is not set.
pub const DEFAULT_DURATION: Duration = Duration::from_secs(3600);

/// How long to wait for new credentials to work when `wait` is not set.
pub const DEFAULT_WAIT: Duration = Duration::from_secs(30);

/// Cloudflare's names of the bucket-scoped R2 permission groups.
pub const GROUP_OBJECT_READ: &str = "Workers R2 Storage Bucket Item Read";
/// "Object Read & Write".
pub const GROUP_OBJECT_WRITE: &str = "Workers R2 Storage Bucket Item Write";

/// The table as written: what the `r2` factory parses, and (through
/// `schemars`) the lease's part of `sesame schema`.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct R2Table {
    /// The Cloudflare account ID (32 hexadecimal characters; dashboard, R2
    /// overview). Needed to mint; with `static` credentials, needed unless
    /// `endpoint` is set.
    #[serde(default)]
    pub account_id: Option<String>,
    /// The bucket's name: 3 to 63 lowercase letters, digits and `-`.
    pub bucket: String,
    /// What the credentials may do: `read` (Object Read, the default) or
    /// `read-write` (Object Read & Write).
    #[serde(default)]
    pub access: AccessLevel,
    /// Where the bucket lives: `default` (the default), `eu` or `fedramp`.
    #[serde(default)]
    pub jurisdiction: Jurisdiction,
    /// How long the credentials live, e.g. `"6h"` (default 1h, at most 7
    /// days).
    #[serde(default)]
    pub duration: Option<String>,
    /// How credentials are minted: `token` (a bucket-scoped API token, the
    /// default) or `temporary` (R2 temporary credentials; needs
    /// `parent_access_key_id`). Not with `static`.
    #[serde(default)]
    pub mode: Mode,
    /// Who owns minted tokens: `user` (default) or `account`. Token mode
    /// only.
    #[serde(default)]
    pub token_type: Option<TokenType>,
    /// Temporary mode: the Access Key ID of the R2 API token the temporary
    /// credentials derive from.
    #[serde(default)]
    pub parent_access_key_id: Option<String>,
    /// Temporary mode: object key prefixes to limit the credentials to
    /// (e.g. `"photos/2024/"`). Left out: the whole bucket.
    #[serde(default)]
    #[schemars(length(min = 1))]
    pub prefixes: Option<Vec<String>>,
    /// The S3 endpoint URL (default: from `account_id` and `jurisdiction`,
    /// `https://<account_id>.r2.cloudflarestorage.com`). The credentials
    /// are sent there.
    #[serde(default)]
    pub endpoint: Option<String>,
    /// The Cloudflare API base URL (default `CLOUDFLARE_API_BASE_URL`, else
    /// `https://api.cloudflare.com/client/v4`). The parent token is sent
    /// there.
    #[serde(default)]
    pub api_base: Option<String>,
    /// Prepended to every output variable's name (`"SRC_"` gives
    /// `SRC_AWS_ACCESS_KEY_ID`, ...).
    #[serde(default)]
    pub env_prefix: Option<String>,
    /// Output name to variable name, overriding `env_prefix` for those
    /// outputs, e.g. `env = { AWS_ACCESS_KEY_ID = "SRC_KEY" }`.
    #[serde(default)]
    #[schemars(schema_with = "env_schema")]
    pub env: Option<BTreeMap<String, String>>,
    /// How long to wait for new credentials to work at the bucket (default
    /// 30s; `"0s"`: do not wait).
    #[serde(default)]
    pub wait: Option<String>,
    /// Credentials made by hand instead of minted ones: the secrets that
    /// hold them. Nothing is minted or revoked.
    #[serde(default, rename = "static")]
    pub static_credentials: Option<StaticTable>,
}

/// `env`: a table whose keys are the outputs ([`OUTPUTS`]).
fn env_schema(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "type": "object",
        "propertyNames": { "enum": OUTPUTS },
        "additionalProperties": { "type": "string" }
    })
}

/// `static = { ... }`: credentials a user made by hand, from secrets.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StaticTable {
    /// The S3 access key ID, usually `{ secret = "NAME" }`. Goes with
    /// `secret_access_key`.
    #[serde(default)]
    pub access_key_id: Option<SecretSource>,
    /// The S3 secret access key, usually `{ secret = "NAME" }`. Goes with
    /// `access_key_id`.
    #[serde(default)]
    pub secret_access_key: Option<SecretSource>,
    /// A session token, for temporary credentials.
    #[serde(default)]
    pub session_token: Option<SecretSource>,
    /// The Cloudflare API token the pair came from (its value): the S3 pair
    /// is derived from it, and its status and expiry can be checked.
    #[serde(default)]
    pub token: Option<SecretSource>,
}

/// What the credentials may do.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
pub enum AccessLevel {
    /// Object Read.
    #[default]
    #[serde(rename = "read")]
    Read,
    /// Object Read & Write.
    #[serde(rename = "read-write")]
    ReadWrite,
}

impl AccessLevel {
    /// `read` or `read-write`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Read => "read",
            Self::ReadWrite => "read-write",
        }
    }

    /// The dashboard's name for it.
    pub fn r2_name(self) -> &'static str {
        match self {
            Self::Read => "Object Read",
            Self::ReadWrite => "Object Read & Write",
        }
    }

    /// The permission groups a token needs, by name.
    pub fn group_names(self) -> &'static [&'static str] {
        match self {
            Self::Read => &[GROUP_OBJECT_READ],
            Self::ReadWrite => &[GROUP_OBJECT_READ, GROUP_OBJECT_WRITE],
        }
    }

    /// The temporary-credentials permission.
    pub fn temp_permission(self) -> &'static str {
        match self {
            Self::Read => "object-read-only",
            Self::ReadWrite => "object-read-write",
        }
    }
}

/// Where the bucket lives.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Jurisdiction {
    /// No jurisdiction.
    #[default]
    Default,
    /// European Union.
    Eu,
    /// FedRAMP.
    Fedramp,
}

impl Jurisdiction {
    /// `default`, `eu` or `fedramp` (as in resource keys).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Default => "default",
            Self::Eu => "eu",
            Self::Fedramp => "fedramp",
        }
    }

    /// The R2 endpoint of `account` in this jurisdiction.
    pub fn endpoint(self, account: &str) -> String {
        match self {
            Self::Default => format!("https://{account}.r2.cloudflarestorage.com"),
            other => format!("https://{account}.{}.r2.cloudflarestorage.com", other.as_str()),
        }
    }
}

/// How credentials are obtained.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// A bucket-scoped API token; S3 pair derived from it. Revocable.
    #[default]
    Token,
    /// R2 temporary credentials (session token). Not revocable one by one.
    Temporary,
}

/// Who owns a minted token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum TokenType {
    /// `/user/tokens`.
    User,
    /// `/accounts/{account_id}/tokens`.
    Account,
}

/// The outputs a lease can set, before `env_prefix` and `env`.
pub const OUTPUTS: &[&str] = &[
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_ENDPOINT_URL_S3",
    "AWS_REGION",
    "R2_BUCKET",
    "R2_ACCOUNT_ID",
];

/// How the lease gets its credentials, checked.
#[derive(Debug, Clone)]
pub enum Source {
    /// Mint a token (`mode = "token"`).
    Token {
        /// Who owns it.
        owner: Owner,
    },
    /// Mint temporary credentials.
    Temporary {
        /// The parent access key id.
        parent_access_key_id: String,
        /// Prefixes, if limited.
        prefixes: Option<Vec<String>>,
    },
    /// Read them from secrets.
    Static(StaticSource),
}

/// `static = { ... }`, checked: either a key pair or a token.
#[derive(Debug, Clone)]
pub struct StaticSource {
    /// Key id (absent when `token` is given: derived from it).
    pub access_key_id: Option<SecretSource>,
    /// Secret (absent when `token` is given).
    pub secret_access_key: Option<SecretSource>,
    /// Session token.
    pub session_token: Option<SecretSource>,
    /// The Cloudflare token value.
    pub token: Option<SecretSource>,
}

impl StaticSource {
    /// Names of the secrets it reads.
    pub fn secret_names(&self) -> Vec<String> {
        [
            &self.access_key_id,
            &self.secret_access_key,
            &self.session_token,
            &self.token,
        ]
        .into_iter()
        .flatten()
        .filter_map(|s| match s {
            SecretSource::Secret { secret } => Some(secret.clone()),
            SecretSource::Literal(_) => None,
        })
        .collect()
    }
}

/// A parsed, checked `r2` lease table.
#[derive(Debug, Clone)]
pub struct R2Settings {
    /// The lease's name.
    pub name: String,
    /// 32 hex chars, if given.
    pub account_id: Option<String>,
    /// The bucket.
    pub bucket: String,
    /// Expected access.
    pub access: AccessLevel,
    /// Jurisdiction.
    pub jurisdiction: Jurisdiction,
    /// Lifetime.
    pub duration: Duration,
    /// Where credentials come from.
    pub source: Source,
    /// The S3 endpoint, without a trailing slash.
    pub endpoint: String,
    /// True when `endpoint` was set (not derived).
    pub endpoint_overridden: bool,
    /// The Cloudflare API base.
    pub api_base: String,
    /// Output -> variable name, for every output this lease sets.
    pub names: BTreeMap<&'static str, String>,
    /// Longest wait for new credentials.
    pub wait: Duration,
}

impl R2Settings {
    /// The variable an output goes to (if this lease sets it).
    pub fn var(&self, output: &str) -> Option<&str> {
        self.names.get(output).map(String::as_str)
    }

    /// The resource key a bucket-scoped token names.
    pub fn resource_key(&self) -> Option<String> {
        self.account_id.as_ref().map(|account| {
            format!(
                "com.cloudflare.edge.r2.bucket.{account}_{}_{}",
                self.jurisdiction.as_str(),
                self.bucket
            )
        })
    }

    /// True when the endpoint is Cloudflare's (not a test or other store).
    pub fn is_real_r2(&self) -> bool {
        is_r2_endpoint(&self.endpoint)
    }
}

/// True for `https://*.r2.cloudflarestorage.com` endpoints.
pub fn is_r2_endpoint(endpoint: &str) -> bool {
    reqwest::Url::parse(endpoint)
        .ok()
        .and_then(|u| u.host_str().map(|h| h.ends_with(".r2.cloudflarestorage.com")))
        .unwrap_or(false)
}

/// True for 32 lowercase or uppercase hex chars.
pub fn is_account_id(id: &str) -> bool {
    id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit())
}

/// R2's bucket naming rules: 3-63 chars of lowercase letters, digits and
/// `-`, starting and ending with a letter or digit.
pub fn bucket_name_problem(name: &str) -> Option<&'static str> {
    if name.len() < 3 || name.len() > 63 {
        return Some("must be 3 to 63 characters long");
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    {
        return Some("may only hold lowercase letters, digits and `-`");
    }
    if name.starts_with('-') || name.ends_with('-') {
        return Some("must start and end with a letter or digit");
    }
    None
}

mod parse;
pub use parse::parse;

#[cfg(test)]
mod schema_tests {
    use super::*;
    use sesame_core::schema::check_table_schema;

    #[test]
    fn registered_schema_covers_every_field() {
        let registration = sesame_core::lease::find_lease_type("r2").expect("registered");
        let schema = (registration.schema)();
        check_table_schema::<R2Table>(&schema).unwrap();
        check_table_schema::<StaticTable>(&schema["definitions"]["StaticTable"]).unwrap();
        assert_eq!(schema["additionalProperties"], false, "{schema}");
        assert_eq!(
            schema["definitions"]["StaticTable"]["additionalProperties"], false,
            "{schema}"
        );
        assert_eq!(schema["required"], serde_json::json!(["bucket"]), "{schema}");
        assert_eq!(schema["properties"]["access"]["default"], "read", "{schema}");
        assert_eq!(
            schema["properties"]["env"]["propertyNames"]["enum"],
            serde_json::json!(OUTPUTS),
            "{schema}"
        );
    }
}
