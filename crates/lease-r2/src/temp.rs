//! `POST /accounts/{account_id}/r2/temp-access-credentials`: R2 temporary
//! credentials (spec: Cloudflare's OpenAPI, `r2-create-temp-access-credentials`).
//!
//! Body `{bucket, parentAccessKeyId, permission, ttlSeconds, prefixes?}`;
//! result `{accessKeyId, secretAccessKey, sessionToken}`. They cannot be
//! revoked one by one (only by revoking the parent token).
//!
//! The shared Cloudflare client (`sesame_lease_cloudflare::api`) has no
//! generic POST, so this call is made here with the same envelope and error
//! types; a failed attempt with 429 or 5xx is retried twice (a duplicate
//! only mints credentials that expire unused).

use std::time::Duration;

use serde::Deserialize;
use serde_json::{json, Value};
use sesame_core::{BackendError, SecretValue};
use sesame_lease_cloudflare::api::{ApiError, ApiErrorKind, CfError};

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

#[derive(Deserialize)]
struct Envelope {
    #[serde(default)]
    success: bool,
    #[serde(default)]
    errors: Vec<CfError>,
    #[serde(default)]
    result: Value,
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

/// Mints temporary credentials with the parent API token.
pub async fn create(
    http: &reqwest::Client,
    api_base: &str,
    token: &SecretValue,
    request: &TempRequest<'_>,
) -> Result<TempCredentials, BackendError> {
    let path = format!("/accounts/{}/r2/temp-access-credentials", request.account_id);
    let mut body = json!({
        "bucket": request.bucket,
        "parentAccessKeyId": request.parent_access_key_id,
        "permission": request.permission,
        "ttlSeconds": request.ttl.as_secs(),
    });
    if let Some(prefixes) = request.prefixes {
        body["prefixes"] = json!(prefixes);
    }
    let fail = |kind, attempts| ApiError {
        method: "POST".into(),
        path: path.clone(),
        kind,
        attempts,
    };
    let mut attempt = 0;
    loop {
        attempt += 1;
        let mut auth = reqwest::header::HeaderValue::from_str(&format!("Bearer {}", token.expose())).map_err(|_| {
            BackendError::failed("the Cloudflare API token holds characters a header cannot carry", None)
        })?;
        auth.set_sensitive(true);
        let mut builder = http
            .post(format!("{api_base}{path}"))
            .header(reqwest::header::AUTHORIZATION, auth)
            .json(&body);
        if request.jurisdiction != Jurisdiction::Default {
            builder = builder.header("cf-r2-jurisdiction", request.jurisdiction.as_str());
        }
        let error = match builder.send().await {
            Err(e) => fail(
                ApiErrorKind::Transport {
                    message: if e.is_timeout() {
                        "timed out".into()
                    } else {
                        "could not connect".into()
                    },
                    before_send: e.is_connect(),
                },
                attempt,
            ),
            Ok(response) => {
                let status = response.status().as_u16();
                let text = response.text().await.unwrap_or_default();
                match serde_json::from_str::<Envelope>(&text) {
                    Ok(env) if env.success && (200..300).contains(&status) => {
                        return serde_json::from_value(env.result).map_err(|e| {
                            fail(
                                ApiErrorKind::Decode(format!("the result does not have the expected shape ({e})")),
                                attempt,
                            )
                            .into()
                        })
                    }
                    Ok(env) => fail(
                        ApiErrorKind::Status {
                            status,
                            errors: env.errors,
                            retry_after: None,
                        },
                        attempt,
                    ),
                    Err(_) => fail(
                        ApiErrorKind::Status {
                            status,
                            errors: Vec::new(),
                            retry_after: None,
                        },
                        attempt,
                    ),
                }
            }
        };
        let retry = matches!(error.status(), Some(429 | 500..=599))
            || matches!(error.kind, ApiErrorKind::Transport { before_send: true, .. });
        if !retry || attempt >= 3 {
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
            return Err(BackendError::failed(error.to_string(), hint));
        }
        tokio::time::sleep(Duration::from_millis(250 * u64::from(attempt))).await;
    }
}
