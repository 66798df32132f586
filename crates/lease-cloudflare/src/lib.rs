//! The `cloudflare` lease: short-lived, scoped Cloudflare API tokens, minted
//! from a parent token just before the command runs and deleted afterwards.
//!
//! ```toml
//! [leases.cf]
//! type = "cloudflare"
//! token_type = "user"        # or "account" (needs account_id)
//! account_id = "..."         # also fills {account_id} in resource keys
//! env_var = "CLOUDFLARE_API_TOKEN"
//! duration = "1h"            # default and maximum 24h
//! # api_base = "https://api.cloudflare.com/client/v4"   (else CLOUDFLARE_API_BASE_URL)
//!
//! [[leases.cf.policies]]     # omit to inherit the parent's policies
//! effect = "allow"
//! resources = { "com.cloudflare.api.account.{account_id}" = "*" }
//! [[leases.cf.policies.permission_groups]]
//! id = "c8fed203ed3043cba015a93ad1616f1f"
//! name = "Zone Read"
//! ```
//!
//! The parent token is `CLOUDFLARE_API_TOKEN`, else `CF_API_TOKEN`, from
//! resolved secrets first, then the environment. The Cloudflare API client
//! lives in the `sesame-cloudflare-api` crate, so other Cloudflare leases
//! (R2) reuse it without linking this lease.
//!
//! Docs: `docs/leases/cloudflare.md`.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use schemars::{json_schema, JsonSchema, Schema, SchemaGenerator};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sesame_core::lease::RemoteCleanup;
use sesame_core::run_cache::Fingerprint;
use sesame_core::{
    async_trait, BackendConfig, BackendContext, BackendError, LeaseBackend, LeaseGrant, LeaseRegistration,
    LeaseRequest, RevokeRequest,
};

use sesame_cloudflare_api as api;

use api::{Client, GroupRef, NewToken, Owner, Policy, MISSING_PARENT, PARENT_TOKEN_VARS};

/// The longest lifetime (and the default).
pub const MAX_DURATION: Duration = Duration::from_secs(24 * 3600);

/// The variable the child token goes to unless `env_var` says otherwise.
pub const DEFAULT_ENV_VAR: &str = "CLOUDFLARE_API_TOKEN";

/// `[leases.NAME]` with `type = "cloudflare"` (`type` and `reuse` are
/// handled by core).
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CloudflareConfig {
    /// Who owns the minted token: `user` (default, minted under the parent
    /// token's user) or `account` (an account-owned token; needs
    /// `account_id`).
    #[serde(default)]
    pub token_type: TokenType,
    /// The Cloudflare account ID (32 hexadecimal characters). Required for
    /// `token_type = "account"`; also fills `{account_id}` in resource keys.
    #[serde(default)]
    pub account_id: Option<String>,
    /// The child token's policies. Left out: the parent token's policies,
    /// minus the groups that manage API tokens.
    #[serde(default)]
    #[schemars(length(min = 1))]
    pub policies: Option<Vec<PolicyConfig>>,
    /// The environment variable the child token goes to (default
    /// `CLOUDFLARE_API_TOKEN`).
    #[serde(default)]
    pub env_var: Option<String>,
    /// How long the child token lives, e.g. `"1h"`, `"30m"`, `"2h30m"`
    /// (default and maximum 24h).
    #[serde(default)]
    pub duration: Option<String>,
    /// The Cloudflare API base URL (default: `CLOUDFLARE_API_BASE_URL`, else
    /// `https://api.cloudflare.com/client/v4`). The parent token is sent
    /// there.
    #[serde(default)]
    pub api_base: Option<String>,
}

/// Who owns the minted token.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum TokenType {
    /// `/user/tokens`.
    #[default]
    User,
    /// `/accounts/{account_id}/tokens`.
    Account,
}

/// One `[[leases.NAME.policies]]`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PolicyConfig {
    /// Whether the policy grants (`allow`, the default) or withholds
    /// (`deny`) its permission groups on its resources.
    #[serde(default)]
    pub effect: Effect,
    /// The resources the policy covers: resource key to `"*"`, or to a
    /// table of nested resource keys (e.g. an account's zones).
    #[schemars(schema_with = "resources_schema")]
    pub resources: toml::Table,
    /// The permission groups the policy grants or denies, by ID.
    #[schemars(length(min = 1))]
    pub permission_groups: Vec<GroupConfig>,
}

/// `resources`: what `policies_from_config` accepts.
fn resources_schema(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "type": "object",
        "minProperties": 1,
        "additionalProperties": {
            "anyOf": [
                { "type": "string", "description": "Usually \"*\": the resource itself." },
                {
                    "type": "object",
                    "minProperties": 1,
                    "additionalProperties": { "type": "string" },
                    "description": "Nested resource keys, each to \"*\"."
                }
            ]
        }
    })
}

/// A policy's effect.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Effect {
    /// Grant.
    #[default]
    Allow,
    /// Deny.
    Deny,
}

/// One `[[leases.NAME.policies.permission_groups]]`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GroupConfig {
    /// The permission group's ID (32 hexadecimal characters; see the
    /// permission_groups API).
    #[schemars(length(min = 1))]
    pub id: String,
    /// Its name, for people reading the config (not sent to Cloudflare).
    #[serde(default)]
    pub name: Option<String>,
}

/// A configured Cloudflare lease.
#[derive(Debug)]
pub struct CloudflareLease {
    owner: Owner,
    policies: Option<Vec<Policy>>,
    env_var: String,
    duration: Duration,
    api_base: String,
}

impl CloudflareLease {
    /// Builds the lease from its table (no I/O).
    pub fn from_config(config: &BackendConfig, ctx: &BackendContext) -> Result<Box<dyn LeaseBackend>, BackendError> {
        Ok(Box::new(Self::parse(config, ctx)?))
    }

    /// Parses and checks the table.
    pub fn parse(config: &BackendConfig, ctx: &BackendContext) -> Result<Self, BackendError> {
        let parsed: CloudflareConfig = config.parse()?;
        let label = config.label();
        let account_id = match parsed.account_id.as_deref().map(str::trim) {
            Some("") => {
                return Err(config.error_at(
                    &["account_id"],
                    format!("{label}: `account_id` is empty"),
                    Some("set it to the account's ID (Cloudflare dashboard, account home, \"Account ID\")".into()),
                ))
            }
            Some(id) if !id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') => {
                return Err(config.error_at(
                    &["account_id"],
                    format!("{label}: `account_id` `{id}` is not an account ID"),
                    Some("an account ID is 32 hexadecimal characters".into()),
                ))
            }
            other => other.map(str::to_string),
        };
        let owner = match (parsed.token_type, account_id) {
            (TokenType::User, _) => Owner::User,
            (TokenType::Account, Some(id)) => Owner::Account(id),
            (TokenType::Account, None) => {
                return Err(config.error_at(
                    &["token_type"],
                    format!("{label}: `token_type = \"account\"` needs `account_id`"),
                    Some(
                        "add `account_id = \"...\"` (the account's ID), or remove `token_type` to mint user tokens"
                            .into(),
                    ),
                ))
            }
        };
        let duration = match &parsed.duration {
            None => MAX_DURATION,
            Some(text) => sesame_core::duration::parse_duration(text)
                .map_err(|message| config.error_at(&["duration"], format!("{label} `duration`: {message}"), None))?,
        };
        let env_var = parsed.env_var.unwrap_or_else(|| DEFAULT_ENV_VAR.to_string());
        if !sesame_core::resolve::is_variable_name(&env_var) {
            return Err(config.error_at(
                &["env_var"],
                format!("{label}: `env_var` `{env_var}` is not a valid environment variable name"),
                Some("use letters, digits and `_`, not starting with a digit".into()),
            ));
        }
        if let Some(base) = &parsed.api_base {
            if !(base.starts_with("https://") || base.starts_with("http://")) {
                return Err(config.error_at(
                    &["api_base"],
                    format!("{label}: `api_base` `{base}` is not an http(s) URL"),
                    Some(format!("e.g. `api_base = \"{}\"`", api::DEFAULT_API_BASE)),
                ));
            }
        }
        let policies = parsed
            .policies
            .map(|list| policies_from_config(config, list, parsed.account_id.as_deref()))
            .transpose()?;
        Ok(Self {
            owner,
            policies,
            env_var,
            duration,
            api_base: api::api_base(parsed.api_base.as_deref(), &ctx.env),
        })
    }

    fn client(&self, ctx: &BackendContext, base: &str) -> Result<Client, BackendError> {
        let (_, parent) = ctx
            .credential(&PARENT_TOKEN_VARS)
            .ok_or_else(|| BackendError::failed(MISSING_PARENT, None))?;
        Ok(Client::new(ctx.http()?, base, parent))
    }

    /// The parent's policies without the API-token groups a child may not
    /// hold: asked for once per run, parent token, API and owner, and
    /// shared by every lease of the run that inherits them (three leases
    /// on one parent verify and read it once, not three times).
    async fn shared_inherited_policies(
        &self,
        ctx: &BackendContext,
        client: &Client,
    ) -> Result<Vec<Policy>, BackendError> {
        let (_, parent) = ctx
            .credential(&PARENT_TOKEN_VARS)
            .ok_or_else(|| BackendError::failed(MISSING_PARENT, None))?;
        let key = InheritedKey {
            api_base: client.base_url().to_string(),
            owner: self.owner.clone(),
            parent: Fingerprint::of(&parent),
        };
        ctx.cache().get_or_init(key, || self.inherited_policies(client)).await
    }

    /// The parent's policies without the API-token groups a child may not hold.
    async fn inherited_policies(&self, client: &Client) -> Result<Vec<Policy>, BackendError> {
        let (parent_owner, verified) = verify_parent(client, &self.owner).await?;
        let token = client.get_token(&parent_owner, &verified.id).await?;
        let mut names: BTreeMap<String, String> = BTreeMap::new();
        let unnamed = token
            .policies
            .iter()
            .flat_map(|p| &p.permission_groups)
            .any(|g| g.name.is_none());
        if unnamed {
            // Names tell the API-token groups apart; look them up once.
            if let Ok(groups) = client.permission_groups(&parent_owner, None).await {
                names.extend(groups.into_iter().map(|g| (g.id, g.name)));
            }
        }
        let policies = inherit(token.policies, &names);
        if policies.iter().all(|p| p.effect != "allow") {
            return Err(BackendError::failed(
                "the parent token grants nothing besides 'API Tokens' permissions, which a child token cannot hold",
                Some("give the parent token the permissions the command needs, or set `policies` in the lease".into()),
            ));
        }
        Ok(policies)
    }
}

/// The key of [`CloudflareLease::shared_inherited_policies`] in the run's cache.
#[derive(Debug, PartialEq, Eq, Hash)]
struct InheritedKey {
    api_base: String,
    owner: Owner,
    parent: Fingerprint,
}

/// Verifies the parent token where it lives. Account leases try the
/// account path first and fall back to the user path (a user token may
/// create account tokens); user leases use the user path, and say so when
/// the parent turns out to be an account token.
async fn verify_parent(client: &Client, owner: &Owner) -> Result<(Owner, api::Verified), BackendError> {
    match owner {
        Owner::Account(_) => match client.verify(owner).await {
            Ok(verified) => Ok((owner.clone(), verified)),
            Err(e) if e.status() == Some(401) => match client.verify(&Owner::User).await {
                Ok(verified) => Ok((Owner::User, verified)),
                Err(_) => Err(parent_invalid(e)),
            },
            Err(e) => Err(e.into()),
        },
        Owner::User => match client.verify(owner).await {
            Ok(verified) => Ok((Owner::User, verified)),
            Err(e) if e.status() == Some(401) => Err(parent_invalid(e)),
            Err(e) => Err(e.into()),
        },
    }
}

fn parent_invalid(e: api::ApiError) -> BackendError {
    BackendError::failed(
        format!("the parent Cloudflare API token is not valid ({e})"),
        Some(
            "check CLOUDFLARE_API_TOKEN: it may be mistyped, expired or disabled; an account-owned parent needs \
             `token_type = \"account\"` and its `account_id`"
                .into(),
        ),
    )
}

/// True for the groups that manage API tokens ("API Tokens Write",
/// "Account API Tokens Read", ...): a child token cannot hold them.
pub fn is_api_tokens_group(name: &str) -> bool {
    name.to_ascii_lowercase().contains("api tokens")
}

/// Drops the API-token groups from `policies` (names from the groups or
/// from `names`), and the policies left without groups.
pub fn inherit(policies: Vec<Policy>, names: &BTreeMap<String, String>) -> Vec<Policy> {
    policies
        .into_iter()
        .filter_map(|mut policy| {
            policy.id = None;
            policy.permission_groups.retain(|g| {
                let name = g.name.as_deref().or_else(|| names.get(&g.id).map(String::as_str));
                !name.is_some_and(is_api_tokens_group)
            });
            (!policy.permission_groups.is_empty()).then_some(policy)
        })
        .collect()
}

/// `{account_id}` in a resource key, filled by this backend (core never
/// substitutes inside keys: see docs/security.md).
const ACCOUNT_ID_PLACEHOLDER: &str = "{account_id}";

fn policies_from_config(
    config: &BackendConfig,
    list: Vec<PolicyConfig>,
    account_id: Option<&str>,
) -> Result<Vec<Policy>, BackendError> {
    let label = config.label();
    if list.is_empty() {
        return Err(config.error_at(
            &["policies"],
            format!("{label}: `policies` is empty"),
            Some("remove it to inherit the parent token's policies, or add a policy".into()),
        ));
    }
    list.into_iter()
        .enumerate()
        .map(|(i, policy)| {
            let index = i.to_string();
            let at = |key: &str| [String::from("policies"), index.clone(), key.to_string()];
            let error = |key: &str, message: String, hint: &str| {
                let path = at(key);
                let path: Vec<&str> = path.iter().map(String::as_str).collect();
                config.error_at(&path, format!("{label}: {message}"), Some(hint.to_string()))
            };
            if policy.permission_groups.is_empty() {
                return Err(error(
                    "permission_groups",
                    format!("policy {} has no permission groups", i + 1),
                    "add `[[leases.NAME.policies.permission_groups]]` with an `id`",
                ));
            }
            if let Some(g) = policy.permission_groups.iter().find(|g| g.id.trim().is_empty()) {
                return Err(error(
                    "permission_groups",
                    format!(
                        "policy {}: a permission group{} has an empty `id`",
                        i + 1,
                        g.name.as_deref().map(|n| format!(" ({n})")).unwrap_or_default()
                    ),
                    "find group IDs with the permission_groups API (see docs/leases/cloudflare.md)",
                ));
            }
            if policy.resources.is_empty() {
                return Err(error(
                    "resources",
                    format!("policy {} has no resources", i + 1),
                    "e.g. `resources = { \"com.cloudflare.api.account.{account_id}\" = \"*\" }`",
                ));
            }
            let mut resources = serde_json::Map::new();
            for (key, value) in &policy.resources {
                let json = match value {
                    toml::Value::String(s) => Value::String(s.clone()),
                    toml::Value::Table(inner) if !inner.is_empty() && inner.values().all(|v| v.is_str()) => {
                        Value::Object(
                            inner
                                .iter()
                                .map(|(k, v)| (k.clone(), Value::String(v.as_str().unwrap_or_default().into())))
                                .collect(),
                        )
                    }
                    _ => {
                        return Err(error(
                            "resources",
                            format!("policy {}: resource `{key}` must be \"*\" or a table of strings", i + 1),
                            "e.g. `{ \"com.cloudflare.api.account.*\" = \"*\" }`",
                        ))
                    }
                };
                let key = match account_id {
                    Some(id) => key.replace(ACCOUNT_ID_PLACEHOLDER, id),
                    None if key.contains(ACCOUNT_ID_PLACEHOLDER) => {
                        return Err(error(
                            "resources",
                            format!(
                                "policy {}: resource `{key}` holds the placeholder `{{account_id}}`, and `account_id` is not set",
                                i + 1
                            ),
                            "set `account_id` in the lease, or write the account ID into the key",
                        ))
                    }
                    None => key.clone(),
                };
                resources.insert(key, json);
            }
            Ok(Policy {
                id: None,
                effect: match policy.effect {
                    Effect::Allow => "allow",
                    Effect::Deny => "deny",
                }
                .into(),
                resources: Value::Object(resources),
                permission_groups: policy
                    .permission_groups
                    .into_iter()
                    .map(|g| GroupRef {
                        id: g.id.trim().to_string(),
                        name: g.name,
                    })
                    .collect(),
            })
        })
        .collect()
}

#[async_trait]
impl LeaseBackend for CloudflareLease {
    fn max_duration(&self) -> Duration {
        MAX_DURATION
    }

    fn duration(&self) -> Duration {
        self.duration
    }

    fn produces(&self) -> Vec<String> {
        vec![self.env_var.clone()]
    }

    fn parent_credentials(&self) -> Vec<String> {
        PARENT_TOKEN_VARS.iter().map(|s| s.to_string()).collect()
    }

    fn consumes(&self) -> Vec<String> {
        // The base URL too: a lease minted against another API is no use.
        let mut names: Vec<String> = PARENT_TOKEN_VARS.iter().map(|s| s.to_string()).collect();
        names.push(api::API_BASE_VAR.into());
        names
    }

    async fn create(&self, ctx: &BackendContext, request: &LeaseRequest) -> Result<LeaseGrant, BackendError> {
        let client = self.client(ctx, &self.api_base)?;
        let policies = match &self.policies {
            Some(policies) => policies.clone(),
            None => self.shared_inherited_policies(ctx, &client).await?,
        };
        let token = NewToken::expiring_in(request.label.clone(), policies, request.duration);
        let created = client.create_token(&self.owner, &token).await?;
        tracing::info!(lease = %request.lease, token_id = %created.id, owner = %self.owner, "created Cloudflare token");
        Ok(LeaseGrant {
            expires_at: created.expires_at(&token),
            id: created.id,
            env: [(self.env_var.clone(), created.value)].into(),
            revocable: true,
            data: self.owner.ledger_data(&self.api_base).into(),
        })
    }

    async fn revoke(&self, ctx: &BackendContext, request: &RevokeRequest) -> Result<bool, BackendError> {
        let owner = Owner::from_ledger(&request.data).unwrap_or_else(|| self.owner.clone());
        let base = api::ledger_api_base(&request.data)
            .unwrap_or(&self.api_base)
            .to_string();
        let client = self.client(ctx, &base)?;
        client
            .revoke_minted(&owner, request.id.as_deref(), &request.label)
            .await?;
        Ok(true)
    }

    async fn cleanup_remote(&self, ctx: &BackendContext) -> Result<Option<RemoteCleanup>, BackendError> {
        let client = self.client(ctx, &self.api_base)?;
        let tokens = client.list_tokens(&self.owner, true).await?;
        let now = SystemTime::now();
        let mut report = RemoteCleanup {
            scope: format!("{} at {}", self.owner, self.api_base),
            examined: tokens.len(),
            ..RemoteCleanup::default()
        };
        let expired: Vec<_> = tokens
            .into_iter()
            .filter(|t| sesame_core::leasing::is_label(&t.name) && t.is_expired(now))
            .collect();
        let deletions = expired.iter().map(|t| client.delete_token(&self.owner, &t.id));
        for (token, result) in expired.iter().zip(futures_util::future::join_all(deletions).await) {
            match result {
                Ok(_) => report.deleted.push(token.name.clone()),
                Err(e) => report.failures.push(format!("{} ({}): {e}", token.name, token.id)),
            }
        }
        Ok(Some(report))
    }
}

inventory::submit! {
    LeaseRegistration {
        type_name: "cloudflare",
        description: "short-lived, scoped Cloudflare API tokens minted from a parent token",
        trust_sensitive: &["api_base", "policies", "token_type", "account_id"],
        factory: CloudflareLease::from_config,
        schema: sesame_core::schema::table_schema::<CloudflareConfig>,
    }
}

#[cfg(test)]
mod schema_tests {
    use super::*;
    use sesame_core::schema::check_table_schema;

    #[test]
    fn registered_schema_covers_every_field() {
        let registration = sesame_core::lease::find_lease_type("cloudflare").expect("registered");
        let schema = (registration.schema)();
        check_table_schema::<CloudflareConfig>(&schema).unwrap();
        let definitions = &schema["definitions"];
        check_table_schema::<PolicyConfig>(&definitions["PolicyConfig"]).unwrap();
        check_table_schema::<GroupConfig>(&definitions["GroupConfig"]).unwrap();
        for table in [&schema, &definitions["PolicyConfig"], &definitions["GroupConfig"]] {
            assert_eq!(table["additionalProperties"], false, "{table}");
        }
        assert_eq!(
            definitions["PolicyConfig"]["required"],
            serde_json::json!(["resources", "permission_groups"])
        );
        assert_eq!(schema["properties"]["token_type"]["default"], "user", "{schema}");
    }
}

#[cfg(test)]
mod tests;
