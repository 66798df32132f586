//! The `r2` lease backend.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use serde_json::{json, Value};
use sesame_cloudflare_api::{
    self as api, Client, GroupRef, NewToken, Owner, Policy, MISSING_PARENT, PARENT_TOKEN_VARS,
};
use sesame_core::lease::RemoteCleanup;
use sesame_core::run_cache::Fingerprint;
use sesame_core::{
    async_trait, BackendConfig, BackendContext, BackendError, LeaseBackend, LeaseGrant, LeaseRequest, RevokeRequest,
    SecretValue,
};
use sha2::{Digest, Sha256};

use crate::config::{self, R2Settings, Source, StaticSource, MAX_DURATION};
use crate::s3::{self, S3Credentials, S3};
use crate::temp;

/// A configured `r2` lease.
#[derive(Debug, Clone)]
pub struct R2Lease {
    settings: R2Settings,
}

/// Lowercase hex SHA-256 of a token value: its S3 secret access key.
pub fn derive_secret(token_value: &str) -> SecretValue {
    let digest = Sha256::digest(token_value.as_bytes());
    SecretValue::new(digest.iter().map(|b| format!("{b:02x}")).collect::<String>())
}

/// What verifying a static `token` told about it.
#[derive(Debug, Clone)]
pub struct VerifiedToken {
    /// Its id (the S3 access key id).
    pub id: String,
    /// `active`, `disabled`, `expired`.
    pub status: String,
    /// RFC 3339 expiry, if any.
    pub expires_on: Option<String>,
    /// Where it lives.
    pub owner: Owner,
}

impl R2Lease {
    /// Builds the lease from its table (no I/O).
    pub fn from_config(config: &BackendConfig, ctx: &BackendContext) -> Result<Box<dyn LeaseBackend>, BackendError> {
        Ok(Box::new(Self::parse(config, ctx)?))
    }

    /// Parses and checks the table (no I/O).
    pub fn parse(config: &BackendConfig, ctx: &BackendContext) -> Result<Self, BackendError> {
        Ok(Self {
            settings: config::parse(config, ctx)?,
        })
    }

    /// The checked settings.
    pub fn settings(&self) -> &R2Settings {
        &self.settings
    }

    /// A Cloudflare API client with the parent token.
    pub fn parent_client(&self, ctx: &BackendContext, base: &str) -> Result<Client, BackendError> {
        let (_, parent) = ctx
            .credential(&PARENT_TOKEN_VARS)
            .ok_or_else(|| BackendError::failed(MISSING_PARENT, None))?;
        Ok(Client::new(ctx.http()?, base, parent))
    }

    /// The S3 credentials in a grant's (or ledger entry's) variables.
    pub fn credentials_from_env(&self, env: &BTreeMap<String, SecretValue>) -> Option<S3Credentials> {
        let get = |output: &str| self.settings.var(output).and_then(|v| env.get(v)).cloned();
        Some(S3Credentials {
            access_key_id: get("AWS_ACCESS_KEY_ID")?.expose().to_string(),
            secret_access_key: get("AWS_SECRET_ACCESS_KEY")?,
            session_token: get("AWS_SESSION_TOKEN"),
        })
    }

    /// The credentials of a `static` lease, from its secrets; with `token`,
    /// the token is verified to learn its id (the access key id).
    pub async fn static_credentials(
        &self,
        ctx: &BackendContext,
    ) -> Result<(S3Credentials, Option<VerifiedToken>), BackendError> {
        let Source::Static(source) = &self.settings.source else {
            return Err(BackendError::failed(
                "this lease mints its credentials; it has no `static` ones",
                None,
            ));
        };
        static_credentials(&self.settings, source, ctx).await
    }

    fn env(&self, credentials: &S3Credentials) -> BTreeMap<String, SecretValue> {
        let s = &self.settings;
        let mut values: BTreeMap<&str, SecretValue> = BTreeMap::from([
            ("AWS_ACCESS_KEY_ID", SecretValue::new(credentials.access_key_id.clone())),
            ("AWS_SECRET_ACCESS_KEY", credentials.secret_access_key.clone()),
            ("AWS_ENDPOINT_URL_S3", SecretValue::new(s.endpoint.clone())),
            ("AWS_REGION", SecretValue::new("auto")),
            ("R2_BUCKET", SecretValue::new(s.bucket.clone())),
        ]);
        if let Some(token) = &credentials.session_token {
            values.insert("AWS_SESSION_TOKEN", token.clone());
        }
        if let Some(account) = &s.account_id {
            values.insert("R2_ACCOUNT_ID", SecretValue::new(account.clone()));
        }
        values
            .into_iter()
            .filter_map(|(output, value)| s.var(output).map(|var| (var.to_string(), value)))
            .collect()
    }

    /// Starts the run's S3 helper, when new credentials will be waited for,
    /// before anything is minted: it loads while Cloudflare answers (and a
    /// helper that cannot start fails the lease before a token exists).
    async fn start_helper(&self, ctx: &BackendContext) -> Result<(), BackendError> {
        if !self.settings.wait.is_zero() {
            s3::shared::helper(ctx).await?;
        }
        Ok(())
    }

    /// Waits for new credentials to work; reports the wait.
    async fn wait_live(
        &self,
        ctx: &BackendContext,
        lease: &str,
        credentials: &S3Credentials,
    ) -> Result<(), BackendError> {
        if self.settings.wait.is_zero() {
            return Ok(());
        }
        // The run's helper, shared with its other R2 leases; the run stops
        // it once every lease is acquired.
        let helper = s3::shared::helper(ctx).await?;
        let client = S3::new(helper, &self.settings.endpoint, credentials, ctx.timeout, 1);
        let (waited, attempts) = s3::wait_until_live(&client, &self.settings.bucket, self.settings.wait).await?;
        tracing::info!(
            lease,
            bucket = %self.settings.bucket,
            waited_ms = waited.as_millis() as u64,
            attempts,
            "R2 credentials answer on the bucket"
        );
        Ok(())
    }

    async fn create_token(
        &self,
        ctx: &BackendContext,
        request: &LeaseRequest,
        owner: &Owner,
    ) -> Result<LeaseGrant, BackendError> {
        let s = &self.settings;
        let client = self.parent_client(ctx, &s.api_base)?;
        self.start_helper(ctx).await?;
        let names = s.access.group_names();
        let lookups = names.iter().map(|name| shared_group_id(ctx, &client, owner, name));
        let mut groups = Vec::new();
        for (name, found) in names.iter().zip(futures_util::future::join_all(lookups).await) {
            match found? {
                Some(id) => groups.push(GroupRef {
                    id,
                    name: Some(name.to_string()),
                }),
                None => {
                    return Err(BackendError::failed(
                        format!("Cloudflare has no permission group named '{name}' for {owner}"),
                        Some("the parent token must be able to read permission groups; check `api_base`".into()),
                    ))
                }
            }
        }
        let resource = s.resource_key().expect("token mode has an account id");
        let policy = Policy {
            id: None,
            effect: "allow".into(),
            resources: json!({ resource: "*" }),
            permission_groups: groups,
        };
        let token = NewToken::expiring_in(request.label.clone(), vec![policy], request.duration);
        let created = client.create_token(owner, &token).await?;
        tracing::info!(lease = %request.lease, token_id = %created.id, bucket = %s.bucket, access = s.access.as_str(), "created bucket-scoped R2 token");
        let credentials = S3Credentials {
            access_key_id: created.id.clone(),
            secret_access_key: derive_secret(created.value.expose()),
            session_token: None,
        };
        if let Err(e) = self.wait_live(ctx, &request.lease, &credentials).await {
            // Nobody will use it: delete it rather than leave it to expire.
            if let Err(cleanup) = client.delete_token(owner, &created.id).await {
                tracing::warn!(token_id = %created.id, error = %cleanup, "could not delete the R2 token that did not work");
            }
            return Err(e);
        }
        Ok(LeaseGrant {
            expires_at: created.expires_at(&token),
            id: created.id,
            env: self.env(&credentials),
            revocable: true,
            data: {
                let mut data = owner.ledger_data(&s.api_base);
                data.insert("mode".into(), "token".into());
                data.insert("bucket".into(), s.bucket.clone().into());
                data.into()
            },
        })
    }

    async fn create_temporary(
        &self,
        ctx: &BackendContext,
        request: &LeaseRequest,
        parent_access_key_id: &str,
        prefixes: Option<&[String]>,
    ) -> Result<LeaseGrant, BackendError> {
        let s = &self.settings;
        let (_, token) = ctx
            .credential(&PARENT_TOKEN_VARS)
            .ok_or_else(|| BackendError::failed("Cloudflare API token not found. Set CLOUDFLARE_API_TOKEN with a token that has R2 write permission ('Workers R2 Storage Write').", None))?;
        let ttl = Duration::from_secs(request.duration.as_secs().max(1));
        self.start_helper(ctx).await?;
        let minted = temp::create(
            &ctx.http()?,
            &s.api_base,
            &token,
            &temp::TempRequest {
                account_id: s.account_id.as_deref().expect("temporary mode has an account id"),
                bucket: &s.bucket,
                jurisdiction: s.jurisdiction,
                parent_access_key_id,
                permission: s.access.temp_permission(),
                ttl,
                prefixes,
            },
        )
        .await?;
        tracing::info!(lease = %request.lease, access_key_id = %minted.access_key_id, bucket = %s.bucket, "minted R2 temporary credentials");
        let credentials = S3Credentials {
            access_key_id: minted.access_key_id.clone(),
            secret_access_key: minted.secret_access_key,
            session_token: Some(minted.session_token),
        };
        // They cannot be revoked: if they do not work, they just expire.
        self.wait_live(ctx, &request.lease, &credentials).await?;
        Ok(LeaseGrant {
            id: minted.access_key_id,
            expires_at: SystemTime::now() + ttl,
            env: self.env(&credentials),
            revocable: false,
            data: json!({
                "mode": "temporary",
                "parent_access_key_id": parent_access_key_id,
                "bucket": s.bucket,
            }),
        })
    }
}

/// The key of [`shared_group_id`] in the run's cache.
#[derive(Debug, PartialEq, Eq, Hash)]
struct GroupKey {
    api_base: String,
    owner: Owner,
    name: String,
    parent: Fingerprint,
}

/// The id of the permission group `name`, looked up once per run, API,
/// owner and parent token: R2 leases of one run that mint from the same
/// parent share the answer.
async fn shared_group_id(
    ctx: &BackendContext,
    client: &Client,
    owner: &Owner,
    name: &str,
) -> Result<Option<String>, BackendError> {
    let (_, parent) = ctx
        .credential(&PARENT_TOKEN_VARS)
        .ok_or_else(|| BackendError::failed(MISSING_PARENT, None))?;
    let key = GroupKey {
        api_base: client.base_url().to_string(),
        owner: owner.clone(),
        name: name.to_string(),
        parent: Fingerprint::of(&parent),
    };
    ctx.cache()
        .get_or_init(key, || async {
            client
                .permission_group_id(owner, name)
                .await
                .map_err(BackendError::from)
        })
        .await
}

async fn static_credentials(
    settings: &R2Settings,
    source: &StaticSource,
    ctx: &BackendContext,
) -> Result<(S3Credentials, Option<VerifiedToken>), BackendError> {
    let session_token = source.session_token.as_ref().map(|s| ctx.source(s)).transpose()?;
    if let Some(token) = &source.token {
        let value = ctx.source(token)?;
        let verified = verify_token(settings, ctx, &value).await?;
        let credentials = S3Credentials {
            access_key_id: verified.id.clone(),
            secret_access_key: derive_secret(value.expose()),
            session_token,
        };
        return Ok((credentials, Some(verified)));
    }
    let (Some(id), Some(secret)) = (&source.access_key_id, &source.secret_access_key) else {
        return Err(BackendError::failed("`static` has no key pair", None));
    };
    Ok((
        S3Credentials {
            access_key_id: ctx.source(id)?.expose().trim().to_string(),
            secret_access_key: ctx.source(secret)?,
            session_token,
        },
        None,
    ))
}

/// Verifies a Cloudflare API token by its value: the user path first, then
/// the account's (account-owned tokens answer 1000 on the user path).
pub async fn verify_token(
    settings: &R2Settings,
    ctx: &BackendContext,
    value: &SecretValue,
) -> Result<VerifiedToken, BackendError> {
    let client = Client::new(ctx.http()?, &settings.api_base, value.clone());
    let mut owners = vec![Owner::User];
    if let Some(account) = &settings.account_id {
        owners.push(Owner::Account(account.clone()));
    }
    let mut last = None;
    for owner in owners {
        match client.verify(&owner).await {
            Ok(v) => {
                return Ok(VerifiedToken {
                    id: v.id,
                    status: v.status,
                    expires_on: v.expires_on,
                    owner,
                })
            }
            Err(e) if e.status() == Some(401) => last = Some(e),
            Err(e) => return Err(e.into()),
        }
    }
    let e = last.expect("at least one owner tried");
    Err(BackendError::failed(
        format!("the R2 API token in `static.token` is not valid ({e})"),
        Some(
            "it may be mistyped, expired, disabled or deleted; create a new one (see docs/migration-preflight.md)"
                .into(),
        ),
    ))
}

#[async_trait]
impl LeaseBackend for R2Lease {
    fn as_any(&self) -> Option<&dyn std::any::Any> {
        Some(self)
    }

    fn provision(&self) -> sesame_core::lease::Provision {
        match &self.settings.source {
            Source::Static(source) => sesame_core::lease::Provision::Static {
                from: source.secret_names(),
            },
            _ => sesame_core::lease::Provision::Mint,
        }
    }

    fn max_duration(&self) -> Duration {
        MAX_DURATION
    }

    fn duration(&self) -> Duration {
        self.settings.duration
    }

    fn produces(&self) -> Vec<String> {
        self.settings.names.values().cloned().collect()
    }

    fn parent_credentials(&self) -> Vec<String> {
        match &self.settings.source {
            Source::Static(_) => Vec::new(),
            _ => PARENT_TOKEN_VARS.iter().map(|s| s.to_string()).collect(),
        }
    }

    fn consumes(&self) -> Vec<String> {
        match &self.settings.source {
            Source::Static(source) => source.secret_names(),
            _ => {
                let mut names: Vec<String> = PARENT_TOKEN_VARS.iter().map(|s| s.to_string()).collect();
                names.push(api::API_BASE_VAR.into());
                names
            }
        }
    }

    async fn create(&self, ctx: &BackendContext, request: &LeaseRequest) -> Result<LeaseGrant, BackendError> {
        match &self.settings.source {
            Source::Token { owner } => self.create_token(ctx, request, owner).await,
            Source::Temporary {
                parent_access_key_id,
                prefixes,
            } => {
                self.create_temporary(ctx, request, parent_access_key_id, prefixes.as_deref())
                    .await
            }
            Source::Static(source) => {
                let (credentials, _) = static_credentials(&self.settings, source, ctx).await?;
                Ok(LeaseGrant {
                    id: format!("static:{}", credentials.access_key_id),
                    expires_at: SystemTime::now() + self.settings.duration,
                    env: self.env(&credentials),
                    revocable: false,
                    data: json!({ "mode": "static", "bucket": self.settings.bucket }),
                })
            }
        }
    }

    async fn revoke(&self, ctx: &BackendContext, request: &RevokeRequest) -> Result<bool, BackendError> {
        let mode = request
            .data
            .get("mode")
            .and_then(Value::as_str)
            .unwrap_or(match self.settings.source {
                Source::Token { .. } => "token",
                Source::Temporary { .. } => "temporary",
                Source::Static(_) => "static",
            });
        match mode {
            "static" => Ok(true),
            "temporary" => {
                tracing::info!(
                    access_key_id = request.id.as_deref().unwrap_or("?"),
                    "R2 temporary credentials cannot be revoked one by one; they stay valid until they expire"
                );
                Ok(false)
            }
            _ => {
                let owner = Owner::from_ledger(&request.data).or_else(|| match &self.settings.source {
                    Source::Token { owner } => Some(owner.clone()),
                    _ => None,
                });
                let Some(owner) = owner else {
                    return Ok(false);
                };
                let base = api::ledger_api_base(&request.data)
                    .unwrap_or(&self.settings.api_base)
                    .to_string();
                let client = self.parent_client(ctx, &base)?;
                client
                    .revoke_minted(&owner, request.id.as_deref(), &request.label)
                    .await?;
                Ok(true)
            }
        }
    }

    async fn cleanup_remote(&self, ctx: &BackendContext) -> Result<Option<RemoteCleanup>, BackendError> {
        let Source::Token { owner } = &self.settings.source else {
            return Ok(None);
        };
        let client = self.parent_client(ctx, &self.settings.api_base)?;
        let tokens = client.list_tokens(owner, true).await?;
        let now = SystemTime::now();
        let mut report = RemoteCleanup {
            scope: format!("{owner} at {}", self.settings.api_base),
            examined: tokens.len(),
            ..RemoteCleanup::default()
        };
        let expired: Vec<_> = tokens
            .into_iter()
            .filter(|t| sesame_core::leasing::is_label(&t.name) && t.is_expired(now))
            .collect();
        let deletions = expired.iter().map(|t| client.delete_token(owner, &t.id));
        for (token, result) in expired.iter().zip(futures_util::future::join_all(deletions).await) {
            match result {
                Ok(_) => report.deleted.push(token.name.clone()),
                Err(e) => report.failures.push(format!("{} ({}): {e}", token.name, token.id)),
            }
        }
        Ok(Some(report))
    }
}
