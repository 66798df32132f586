//! The [`Client`]: one request path with envelopes, pagination and retries,
//! and the token calls on top of it.

use std::fmt;
use std::time::Duration;

use reqwest::header::{HeaderName, HeaderValue, AUTHORIZATION, RETRY_AFTER};
use reqwest::Method;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sesame_core::SecretValue;

use crate::error::*;
use crate::retry::*;
use crate::types::*;
use crate::*;

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

pub(crate) fn decode<T: serde::de::DeserializeOwned>(
    method: &Method,
    path: &str,
    result: Value,
) -> Result<T, ApiError> {
    serde_json::from_value(result).map_err(|e| ApiError {
        method: method.to_string(),
        path: path.to_string(),
        kind: ApiErrorKind::Decode(format!("the result does not have the expected shape ({e})")),
        attempts: 1,
    })
}

/// A transport error without the URL's query, with its causes.
pub(crate) fn transport_message(error: &reqwest::Error) -> String {
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
