//! `[leases.NAME] type = "r2"`: parsing and checking the table (no I/O).

use std::collections::BTreeMap;
use std::time::Duration;

use schemars::{json_schema, JsonSchema, Schema, SchemaGenerator};
use serde::{Deserialize, Serialize};
use sesame_cloudflare_api::{self as api, Owner};
use sesame_core::{BackendConfig, BackendContext, BackendError, SecretSource};

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

/// Parses and checks the table (no I/O).
pub fn parse(config: &BackendConfig, ctx: &BackendContext) -> Result<R2Settings, BackendError> {
    let mut table: R2Table = config.parse()?;
    let label = config.label();
    let err = |path: &[&str], message: String, hint: &str| {
        config.error_at(
            path,
            format!("{label}: {message}"),
            (!hint.is_empty()).then(|| hint.to_string()),
        )
    };
    let account_id = match table.account_id.as_deref().map(str::trim) {
        None => None,
        Some(id) if is_account_id(id) => Some(id.to_ascii_lowercase()),
        Some(id) => {
            return Err(err(
                &["account_id"],
                format!("`account_id` `{id}` is not an account ID"),
                "an account ID is 32 hexadecimal characters (Cloudflare dashboard, R2 overview, \"Account ID\")",
            ))
        }
    };
    let bucket = table.bucket.trim().to_string();
    if let Some(problem) = bucket_name_problem(&bucket) {
        return Err(err(
            &["bucket"],
            format!("bucket name `{bucket}` {problem}"),
            "use the bucket's name as shown in the R2 dashboard",
        ));
    }
    let duration = match &table.duration {
        None => DEFAULT_DURATION,
        Some(text) => sesame_core::duration::parse_duration(text)
            .map_err(|message| config.error_at(&["duration"], format!("{label} `duration`: {message}"), None))?,
    };
    let wait = match &table.wait {
        None => DEFAULT_WAIT,
        Some(text) => sesame_core::duration::parse_duration(text)
            .or_else(|e| {
                // "0s" (or "0") turns the wait off; parse_duration refuses zero.
                if text.trim() == "0" || e.contains("is zero") {
                    Ok(Duration::ZERO)
                } else {
                    Err(e)
                }
            })
            .map_err(|message| config.error_at(&["wait"], format!("{label} `wait`: {message}"), None))?,
    };
    let source = match (table.static_credentials.take(), table.mode) {
        (Some(s), _) => {
            for (key, set) in [
                ("parent_access_key_id", table.parent_access_key_id.is_some()),
                ("prefixes", table.prefixes.is_some()),
                ("token_type", table.token_type.is_some()),
            ] {
                if set {
                    return Err(err(
                        &[key],
                        format!("`{key}` does not apply to `static` credentials (sesame does not mint them)"),
                        "remove it, or remove `static` to have sesame mint credentials",
                    ));
                }
            }
            if table.mode == Mode::Temporary {
                return Err(err(
                    &["mode"],
                    "`mode` does not apply to `static` credentials (sesame does not mint them)".into(),
                    "remove `mode`, or remove `static` to have sesame mint credentials",
                ));
            }
            let pair = (s.access_key_id.is_some(), s.secret_access_key.is_some());
            match (pair, s.token.is_some()) {
                ((true, true), _) | ((false, false), true) => {}
                ((true, false), false) | ((false, true), false) => {
                    return Err(err(
                        &["static"],
                        "`static` needs both `access_key_id` and `secret_access_key`".into(),
                        "e.g. `static = { access_key_id = { secret = \"SRC_KEY_ID\" }, secret_access_key = { secret = \"SRC_SECRET\" } }`",
                    ))
                }
                ((false, false), false) => {
                    return Err(err(
                        &["static"],
                        "`static` names no credentials".into(),
                        "give `access_key_id` and `secret_access_key`, or `token` (the Cloudflare API token's value)",
                    ))
                }
                ((true, false), true) | ((false, true), true) => {
                    return Err(err(
                        &["static"],
                        "`static` gives half a key pair besides `token`".into(),
                        "give the whole pair, or only `token` (the pair is derived from it)",
                    ))
                }
            }
            Source::Static(StaticSource {
                access_key_id: s.access_key_id,
                secret_access_key: s.secret_access_key,
                session_token: s.session_token,
                token: s.token,
            })
        }
        (None, Mode::Token) => {
            for key in ["parent_access_key_id", "prefixes"] {
                let set = if key == "prefixes" {
                    table.prefixes.is_some()
                } else {
                    table.parent_access_key_id.is_some()
                };
                if set {
                    return Err(err(
                        &[key],
                        format!("`{key}` only applies to `mode = \"temporary\"`"),
                        "add `mode = \"temporary\"`, or remove it",
                    ));
                }
            }
            let account = account_id.clone().ok_or_else(|| {
                err(
                    &["account_id"],
                    "an R2 lease needs `account_id` (the token is scoped to a bucket of that account)".into(),
                    "add `account_id = \"...\"` (32 hex characters; Cloudflare dashboard, R2 overview)",
                )
            })?;
            Source::Token {
                owner: match table.token_type.unwrap_or(TokenType::User) {
                    TokenType::User => Owner::User,
                    TokenType::Account => Owner::Account(account),
                },
            }
        }
        (None, Mode::Temporary) => {
            if account_id.is_none() {
                return Err(err(
                    &["account_id"],
                    "temporary credentials need `account_id`".into(),
                    "add `account_id = \"...\"` (32 hex characters)",
                ));
            }
            if table.token_type.is_some() {
                return Err(err(
                    &["token_type"],
                    "`token_type` does not apply to `mode = \"temporary\"` (no token is minted)".into(),
                    "remove it",
                ));
            }
            let parent = table
                .parent_access_key_id
                .as_deref()
                .map(str::trim)
                .filter(|p| !p.is_empty())
                .ok_or_else(|| {
                    err(
                        &["mode"],
                        "`mode = \"temporary\"` needs `parent_access_key_id`".into(),
                        "set it to the Access Key ID of an R2 API token with access to the bucket",
                    )
                })?;
            if let Some(prefixes) = &table.prefixes {
                if prefixes.is_empty() || prefixes.iter().any(|p| p.is_empty()) {
                    return Err(err(
                        &["prefixes"],
                        "`prefixes` holds an empty prefix or none".into(),
                        "remove `prefixes` for the whole bucket, or list key prefixes like \"photos/2024/\"",
                    ));
                }
            }
            Source::Temporary {
                parent_access_key_id: parent.to_string(),
                prefixes: table.prefixes.clone(),
            }
        }
    };
    let (endpoint, endpoint_overridden) = match table.endpoint.as_deref().map(str::trim) {
        Some(e) => {
            let ok = reqwest::Url::parse(e)
                .ok()
                .filter(|u| matches!(u.scheme(), "http" | "https") && u.host_str().is_some());
            if ok.is_none() {
                return Err(err(
                    &["endpoint"],
                    format!("`endpoint` `{e}` is not an http(s) URL"),
                    "e.g. `endpoint = \"https://<account_id>.r2.cloudflarestorage.com\"`",
                ));
            }
            (e.trim_end_matches('/').to_string(), true)
        }
        None => match &account_id {
            Some(account) => (table.jurisdiction.endpoint(account), false),
            None => {
                return Err(err(
                    &["account_id"],
                    "`static` credentials need `account_id` or `endpoint` to know where the bucket is".into(),
                    "add `account_id = \"...\"` (32 hex characters), or `endpoint = \"https://...\"`",
                ))
            }
        },
    };
    if let Some(base) = &table.api_base {
        if !(base.starts_with("https://") || base.starts_with("http://")) {
            return Err(err(
                &["api_base"],
                format!("`api_base` `{base}` is not an http(s) URL"),
                "e.g. `api_base = \"https://api.cloudflare.com/client/v4\"`",
            ));
        }
    }
    let names = output_names(config, &table, &source, account_id.is_some())?;
    Ok(R2Settings {
        name: config.name().to_string(),
        account_id,
        bucket,
        access: table.access,
        jurisdiction: table.jurisdiction,
        duration,
        source,
        endpoint,
        endpoint_overridden,
        api_base: api::api_base(table.api_base.as_deref(), &ctx.env),
        names,
        wait,
    })
}

fn output_names(
    config: &BackendConfig,
    table: &R2Table,
    source: &Source,
    has_account: bool,
) -> Result<BTreeMap<&'static str, String>, BackendError> {
    let label = config.label();
    let prefix = table.env_prefix.clone().unwrap_or_default();
    if !prefix.is_empty() && !sesame_core::resolve::is_variable_name(&format!("{prefix}X")) {
        return Err(config.error_at(
            &["env_prefix"],
            format!("{label}: `env_prefix` `{prefix}` cannot start an environment variable name"),
            Some("use letters, digits and `_`, not starting with a digit (e.g. \"SRC_\")".into()),
        ));
    }
    let session = match source {
        Source::Temporary { .. } => true,
        Source::Static(s) => s.session_token.is_some(),
        Source::Token { .. } => false,
    };
    let mut names: BTreeMap<&'static str, String> = OUTPUTS
        .iter()
        .filter(|o| (**o != "AWS_SESSION_TOKEN" || session) && (**o != "R2_ACCOUNT_ID" || has_account))
        .map(|o| (*o, format!("{prefix}{o}")))
        .collect();
    for (output, var) in table.env.iter().flatten() {
        let Some(known) = OUTPUTS.iter().find(|o| **o == output.as_str()) else {
            let hint = sesame_core::config::did_you_mean(output, OUTPUTS.iter().copied())
                .map(|s| format!("did you mean `{s}`?"))
                .unwrap_or_else(|| format!("the outputs are {}", OUTPUTS.join(", ")));
            return Err(config.error_at(
                &["env", output],
                format!("{label}: `env` renames `{output}`, which is not an output of an r2 lease"),
                Some(hint),
            ));
        };
        if !sesame_core::resolve::is_variable_name(var) {
            return Err(config.error_at(
                &["env", output],
                format!("{label}: `{var}` is not a valid environment variable name"),
                Some("use letters, digits and `_`, not starting with a digit".into()),
            ));
        }
        if let Some(name) = names.get_mut(known) {
            *name = var.clone();
        }
    }
    let mut seen: BTreeMap<&str, &str> = BTreeMap::new();
    for (output, var) in &names {
        if let Some(other) = seen.insert(var.as_str(), output) {
            return Err(config.error_at(
                &["env"],
                format!("{label}: `{other}` and `{output}` would both go to `{var}`"),
                Some("give each output its own variable".into()),
            ));
        }
    }
    Ok(names)
}

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
