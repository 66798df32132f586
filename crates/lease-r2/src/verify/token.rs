//! The `token` check: the Cloudflare API token behind a key, its status and
//! expiry.

use std::time::{Duration, SystemTime};

use sesame_lease_cloudflare::api;

use super::{Check, TokenCheck};

pub(super) async fn token_check(name: &str, token: &TokenCheck) -> Check {
    match token {
        TokenCheck::NotHeld => Check::skip(
            name,
            "token",
            "sesame does not hold the API token behind this key; set `static.token` to check its status and expiry",
        ),
        TokenCheck::Temporary { expires_at } => Check::pass(
            name,
            "token",
            format!(
                "temporary credentials{}; they cannot be revoked one by one (revoking the parent token cuts them off)",
                expires_at
                    .map(|t| format!(", expire {}", api::format_time(t)))
                    .unwrap_or_default()
            ),
        ),
        TokenCheck::Verified(v) => token_status(name, &v.id, &v.status, v.expires_on.as_deref()),
        TokenCheck::ViaParent { client, owner, id } => match client.get_token(owner, id).await {
            Ok(info) => token_status(name, id, &info.status, info.expires_on.as_deref()),
            Err(e) if e.is_not_found() => Check::fail(
                name,
                "token",
                "token-deleted",
                format!("token {id} no longer exists"),
                "run `sesame r2 verify` again to mint a new one",
            ),
            Err(e) => Check::warn(
                name,
                "token",
                "inconclusive",
                format!("could not read token {id}: {e}"),
                e.hint().unwrap_or_else(|| "try again".into()),
            ),
        },
    }
}

fn token_status(name: &str, id: &str, status: &str, expires_on: Option<&str>) -> Check {
    if status != "active" {
        return Check::fail(
            name,
            "token",
            "token-inactive",
            format!("API token {id} is {status}"),
            "create a new token (or re-enable it in the dashboard)",
        );
    }
    match expires_on.and_then(api::parse_time) {
        None => Check::warn(
            name,
            "token",
            "no-ttl",
            format!("API token {id} is active and never expires"),
            "set a TTL on migration tokens (Cloney's guide, best practices), or let sesame mint short-lived ones",
        ),
        Some(t) if t <= SystemTime::now() => Check::fail(
            name,
            "token",
            "token-expired",
            format!("API token {id} expired at {}", api::format_time(t)),
            "create a new token",
        ),
        Some(t) => {
            let left = t.duration_since(SystemTime::now()).unwrap_or_default();
            Check::pass(
                name,
                "token",
                format!(
                    "API token {id} is active, expires {} (in {})",
                    api::format_time(t),
                    sesame_core::duration::format_duration(Duration::from_secs(left.as_secs()))
                ),
            )
        }
    }
}
