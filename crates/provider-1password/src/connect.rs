//! The 1Password Connect mode: the Connect server's REST API.
//!
//! A vault is found by name (`GET /v1/vaults?filter=name eq "V"`), an item
//! by title (`GET /v1/vaults/{id}/items?filter=title eq "T"`), then read
//! whole (`GET /v1/vaults/{id}/items/{id}`). Each vault is looked up once
//! per batch, each item read once; requests run concurrently up to the
//! provider's `concurrency`.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use reqwest::header::{HeaderValue, AUTHORIZATION};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use sesame_core::backend::error_chain;
use sesame_core::{BackendContext, BackendError, SecretSource, SecretValue};
use tokio::sync::{OnceCell, Semaphore};
use tokio::time::Instant;

use crate::batch::{ItemKey, Limits};
use crate::item::Item;
use crate::{check_host, credential, describe};

/// A vault or item in a listing.
#[derive(Debug, Deserialize)]
struct Summary {
    id: String,
}

/// A failed request.
#[derive(Debug)]
enum Http {
    /// The server answered with this status and message.
    Status(u16, String),
    /// The server could not be reached.
    Transport(String),
    /// No answer before the deadline.
    Timeout(Duration),
    /// The answer was not what the API documents.
    Body(String),
}

/// What a request was about, to explain its 403 and 404.
enum Target<'a> {
    Vaults,
    Vault(&'a str),
    Item(&'a ItemKey),
}

/// One batch's client and caches.
pub struct Connect {
    client: reqwest::Client,
    host: String,
    auth: HeaderValue,
    timeout: Duration,
    deadline: Instant,
    limit: Arc<Semaphore>,
    vaults: HashMap<String, OnceCell<Result<String, BackendError>>>,
}

/// True for what looks like a 1Password ID (26 lowercase letters and digits).
fn looks_like_id(text: &str) -> bool {
    text.len() == 26 && text.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
}

/// A SCIM `attr eq "value"` filter.
fn filter(attr: &str, value: &str) -> String {
    format!("{attr} eq \"{}\"", value.replace('\\', "\\\\").replace('"', "\\\""))
}

impl Connect {
    /// A client for `host` (`http(s)://...`). `client` is the run's HTTP
    /// client (`BackendContext::http`: built on first use, so only runs
    /// that use Connect pay for it; proxies from sesame's environment).
    pub fn new(
        client: reqwest::Client,
        host: &str,
        token: &SecretValue,
        timeout: Duration,
        deadline: Instant,
        limit: Arc<Semaphore>,
        keys: &[ItemKey],
    ) -> Result<Self, BackendError> {
        let mut auth = HeaderValue::from_str(&format!("Bearer {}", token.expose())).map_err(|_| {
            BackendError::failed(
                "the Connect token holds characters a token cannot have",
                Some("check `connect_token` / OP_CONNECT_TOKEN (a stray newline?)".into()),
            )
        })?;
        auth.set_sensitive(true);
        Ok(Self {
            client,
            host: host.trim_end_matches('/').to_string(),
            auth,
            timeout,
            deadline,
            limit,
            vaults: keys.iter().map(|k| (k.vault.clone(), OnceCell::new())).collect(),
        })
    }

    /// Fetches one item.
    pub async fn item(&self, key: &ItemKey) -> Result<Item, BackendError> {
        let vault_id = self.vault_id(&key.vault).await?;
        let target = Target::Item(key);
        let found: Vec<Summary> = self
            .get(
                &format!("/v1/vaults/{vault_id}/items"),
                Some(filter("title", &key.item)),
            )
            .await
            .map_err(|e| self.explain(e, &Target::Vault(&key.vault)))?;
        let id = match found.as_slice() {
            [one] => one.id.clone(),
            [] if looks_like_id(&key.item) => key.item.clone(),
            [] => return Err(not_found(key)),
            many => {
                let ids: Vec<&str> = many.iter().map(|s| s.id.as_str()).collect();
                return Err(BackendError::failed(
                    format!("more than one item in vault `{}` is titled `{}`", key.vault, key.item),
                    Some(format!(
                        "refer to the item by its ID instead of its title: {}",
                        ids.join(", ")
                    )),
                ));
            }
        };
        self.get(&format!("/v1/vaults/{vault_id}/items/{id}"), None)
            .await
            .map_err(|e| self.explain(e, &target))
    }

    /// The ID of the vault named `name` (or with that ID), looked up once.
    async fn vault_id(&self, name: &str) -> Result<String, BackendError> {
        let cell = self.vaults.get(name).expect("every vault of the batch has a cell");
        cell.get_or_init(|| async {
            let found: Vec<Summary> = self
                .get("/v1/vaults", Some(filter("name", name)))
                .await
                .map_err(|e| self.explain(e, &Target::Vaults))?;
            match found.as_slice() {
                [one] => Ok(one.id.clone()),
                [] if looks_like_id(name) => {
                    let vault: Summary = self
                        .get(&format!("/v1/vaults/{name}"), None)
                        .await
                        .map_err(|e| self.explain(e, &Target::Vault(name)))?;
                    Ok(vault.id)
                }
                [] => Err(vault_not_found(name)),
                many => {
                    let ids: Vec<&str> = many.iter().map(|s| s.id.as_str()).collect();
                    Err(BackendError::failed(
                        format!("more than one vault is named `{name}`"),
                        Some(format!("refer to the vault by its ID: {}", ids.join(", "))),
                    ))
                }
            }
        })
        .await
        .clone()
    }

    /// GETs `path` and parses the JSON answer.
    async fn get<T: DeserializeOwned>(&self, path: &str, filter: Option<String>) -> Result<T, Http> {
        let _permit = self.limit.acquire().await.expect("the semaphore is never closed");
        let mut request = self
            .client
            .get(format!("{}{path}", self.host))
            .header(AUTHORIZATION, self.auth.clone());
        if let Some(filter) = filter {
            request = request.query(&[("filter", filter)]);
        }
        let started = Instant::now();
        let deadline = (started + self.timeout).min(self.deadline);
        let exchange = async {
            let response = request.send().await?;
            let status = response.status();
            let body = response.bytes().await?;
            Ok::<_, reqwest::Error>((status, body))
        };
        tracing::debug!(path, "Connect request");
        let (status, body) = match tokio::time::timeout_at(deadline, exchange).await {
            Err(_) => return Err(Http::Timeout(deadline - started)),
            Ok(Err(e)) if e.is_timeout() => return Err(Http::Timeout(started.elapsed())),
            Ok(Err(e)) => return Err(Http::Transport(error_chain(&e))),
            Ok(Ok(answer)) => answer,
        };
        tracing::debug!(path, status = status.as_u16(), "Connect answered");
        if status.is_success() {
            // Only the error's position: the body may hold values.
            return serde_json::from_slice(&body)
                .map_err(|e| Http::Body(format!("line {}, column {}", e.line(), e.column())));
        }
        #[derive(Deserialize)]
        struct ErrorBody {
            message: Option<String>,
        }
        let message = serde_json::from_slice::<ErrorBody>(&body)
            .ok()
            .and_then(|b| b.message)
            .or_else(|| status.canonical_reason().map(str::to_string))
            .unwrap_or_default();
        let message: String = message.chars().take(300).collect();
        Err(Http::Status(status.as_u16(), message))
    }

    /// Turns a failed request into what the user reads.
    fn explain(&self, error: Http, target: &Target<'_>) -> BackendError {
        let host = &self.host;
        let check_host = "check `connect_host` (or OP_CONNECT_HOST): the server's base URL, e.g. http://localhost:8080";
        match error {
            Http::Status(401, message) => BackendError::failed(
                format!("1Password Connect at {host} rejected the token (401 {message})"),
                Some("check `connect_token` (or OP_CONNECT_TOKEN): it may be mistyped, expired or revoked".into()),
            ),
            Http::Status(403, message) => {
                let what = match target {
                    Target::Vaults => "list vaults".to_string(),
                    Target::Vault(vault) => format!("read vault `{vault}`"),
                    Target::Item(key) => format!("read vault `{}`", key.vault),
                };
                BackendError::failed(
                    format!("the Connect token may not {what} (403 {message})"),
                    Some("use a Connect token granted access to that vault (`op connect token create --vault ...`)".into()),
                )
            }
            Http::Status(404, message) => match target {
                Target::Vaults => BackendError::failed(
                    format!("{host} does not look like a 1Password Connect server (GET /v1/vaults answered 404 {message})"),
                    Some(check_host.into()),
                ),
                Target::Vault(vault) => vault_not_found(vault),
                Target::Item(key) => not_found(key),
            },
            Http::Status(status, message) if status >= 500 => BackendError::failed(
                format!("1Password Connect at {host} failed ({status} {message})"),
                Some(format!(
                    "the server may be starting or unable to reach 1Password: check its logs and {host}/health, then try again"
                )),
            ),
            Http::Status(status, message) => BackendError::failed(
                format!("1Password Connect at {host} answered {status} {message}"),
                Some("this may be a bug in sesame or an incompatible Connect server version".into()),
            ),
            Http::Transport(error) => {
                BackendError::failed(format!("cannot reach 1Password Connect at {host}: {error}"), Some(check_host.into()))
            }
            Http::Timeout(after) => BackendError::failed(
                format!("1Password Connect at {host} did not answer within {}", describe(after)),
                Some("check the server, or raise the provider's `timeout` (and `--timeout`, which bounds the whole run)".into()),
            ),
            Http::Body(at) => BackendError::failed(
                format!("1Password Connect at {host} answered something that is not what its API documents ({at})"),
                Some(check_host.into()),
            ),
        }
    }
}

fn not_found(key: &ItemKey) -> BackendError {
    BackendError::not_found(format!("vault `{}` has no item `{}`", key.vault, key.item))
}

fn vault_not_found(name: &str) -> BackendError {
    BackendError::failed(
        format!("vault `{name}` was not found"),
        Some("check its name (names match exactly); a Connect token sees only the vaults it was granted".into()),
    )
}

/// Fetches every item from the Connect server.
pub(crate) async fn fetch_items(
    ctx: &BackendContext,
    host: &Option<String>,
    token: &Option<SecretSource>,
    limits: Limits,
    keys: &[ItemKey],
) -> Vec<Result<Item, BackendError>> {
    let all = |e: BackendError| keys.iter().map(|_| Err(e.clone())).collect::<Vec<_>>();
    let host = match host
        .clone()
        .or_else(|| ctx.env.var("OP_CONNECT_HOST").map(str::to_string))
    {
        Some(host) => host,
        None => unreachable!("Connect mode has a host"),
    };
    if let Err(message) = check_host(&host) {
        return all(BackendError::failed(
            format!("OP_CONNECT_HOST: {message}"),
            Some("set it to the Connect server's base URL, e.g. http://localhost:8080".into()),
        ));
    }
    let token = match token {
        Some(source) => match credential(ctx, source, "connect_token", "Connect token") {
            Ok(token) => token,
            Err(e) => return all(e),
        },
        None => match ctx.env.secret("OP_CONNECT_TOKEN").filter(|t| !t.is_empty()) {
            Some(token) => token,
            None => {
                return all(BackendError::failed(
                    format!("no token for 1Password Connect at {host}"),
                    Some("set `connect_token = { secret = \"...\" }` in the provider, or OP_CONNECT_TOKEN".into()),
                ))
            }
        },
    };
    let limit = Arc::new(Semaphore::new(limits.concurrency));
    let (timeout, deadline) = (limits.timeout, limits.deadline);
    let client = match ctx.http() {
        Ok(client) => client,
        Err(e) => return all(e),
    };
    let connect = match Connect::new(client, &host, &token, timeout, deadline, limit, keys) {
        Ok(connect) => connect,
        Err(e) => return all(e),
    };
    futures_util::future::join_all(keys.iter().map(|key| connect.item(key))).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_quote_values() {
        assert_eq!(filter("title", "api token"), "title eq \"api token\"");
        assert_eq!(filter("title", "a \"b\" \\c"), "title eq \"a \\\"b\\\" \\\\c\"");
    }

    #[test]
    fn ids_are_recognised() {
        assert!(looks_like_id("ai46l2ccrszcvygm2v6lltgchq"));
        assert!(!looks_like_id("Cloudflare"));
        assert!(!looks_like_id("AI46L2CCRSZCVYGM2V6LLTGCHQ"));
    }
}
