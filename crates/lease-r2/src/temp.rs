//! `POST /accounts/{account_id}/r2/temp-access-credentials`: R2 temporary
//! credentials (spec: Cloudflare's OpenAPI, `r2-create-temp-access-credentials`).
//!
//! Body `{bucket, parentAccessKeyId, permission, ttlSeconds, prefixes?}`;
//! result `{accessKeyId, secretAccessKey, sessionToken}`. They cannot be
//! revoked one by one (only by revoking the parent token).
//!
//! The call goes through the shared Cloudflare client
//! ([`sesame_cloudflare_api::Client::post`]): the same auth, envelope,
//! errors and retries as every other Cloudflare call. Retrying is safe here:
//! a duplicate only mints credentials that expire unused.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use sesame_cloudflare_api::Client;
use sesame_core::{BackendError, SecretValue};

use crate::config::Jurisdiction;

/// Minted temporary credentials.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TempCredentials {
    /// The access key id.
    pub access_key_id: String,
    /// The secret.
    pub secret_access_key: SecretValue,
    /// The session token.
    pub session_token: SecretValue,
}

/// What to ask for.
#[derive(Debug, Clone)]
pub struct TempRequest<'a> {
    /// The account.
    pub account_id: &'a str,
    /// The bucket.
    pub bucket: &'a str,
    /// Its jurisdiction (sent as `cf-r2-jurisdiction` when not default).
    pub jurisdiction: Jurisdiction,
    /// The parent access key id.
    pub parent_access_key_id: &'a str,
    /// `object-read-only` or `object-read-write`.
    pub permission: &'a str,
    /// Lifetime.
    pub ttl: Duration,
    /// Key prefixes, if limited.
    pub prefixes: Option<&'a [String]>,
}

/// The request body, as the OpenAPI schema `r2_temp_access_creds_request` names it.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Body<'a> {
    bucket: &'a str,
    parent_access_key_id: &'a str,
    permission: &'a str,
    ttl_seconds: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    prefixes: Option<&'a [String]>,
}

/// Mints temporary credentials with the parent API token.
pub async fn create(
    http: &reqwest::Client,
    api_base: &str,
    token: &SecretValue,
    request: &TempRequest<'_>,
) -> Result<TempCredentials, BackendError> {
    let mut client = Client::new(http.clone(), api_base, token.clone());
    if request.jurisdiction != Jurisdiction::Default {
        client = client.with_header(
            reqwest::header::HeaderName::from_static("cf-r2-jurisdiction"),
            reqwest::header::HeaderValue::from_static(request.jurisdiction.as_str()),
        );
    }
    let path = format!("/accounts/{}/r2/temp-access-credentials", request.account_id);
    let body = Body {
        bucket: request.bucket,
        parent_access_key_id: request.parent_access_key_id,
        permission: request.permission,
        ttl_seconds: request.ttl.as_secs(),
        prefixes: request.prefixes,
    };
    client.post(&path, &body).await.map_err(|error| {
        let hint = match error.status() {
            Some(401 | 403) => Some(
                "the Cloudflare API token (CLOUDFLARE_API_TOKEN) must be valid and hold R2 write permission \
                 ('Workers R2 Storage Write') on the account"
                    .to_string(),
            ),
            Some(400 | 404) => Some(
                "check `parent_access_key_id` (the Access Key ID of an R2 API token with access to the bucket), \
                 `bucket` and `account_id`"
                    .to_string(),
            ),
            _ => error.hint(),
        };
        BackendError::failed(error.to_string(), hint)
    })
}
