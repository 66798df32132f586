//! The `offline` check: what can be told without the network (endpoint,
//! account id, key formats).

use crate::config::{is_account_id, is_r2_endpoint};

use super::{Check, Target};

/// The first 4 and last 4 characters of a key id.
pub fn short(id: &str) -> String {
    if id.len() <= 10 {
        return id.to_string();
    }
    format!("{}...{}", &id[..4], &id[id.len() - 4..])
}

/// Checks that need no network: endpoint, account id, key formats.
pub fn offline(target: &Target) -> Check {
    let name = target.name.as_str();
    let s = &target.settings;
    let mut fails: Vec<(String, String)> = Vec::new();
    let mut warns: Vec<(String, String)> = Vec::new();
    if let Some(id) = &s.account_id {
        if !is_account_id(id) {
            fails.push((
                format!("account id `{id}` is not 32 hex characters"),
                "copy the Account ID from the R2 overview".into(),
            ));
        }
    }
    let url = reqwest::Url::parse(&s.endpoint).ok();
    let host = url.as_ref().and_then(|u| u.host_str()).unwrap_or_default().to_string();
    if is_r2_endpoint(&s.endpoint) {
        if url.as_ref().is_some_and(|u| u.scheme() != "https") {
            fails.push(("R2 endpoints are https".into(), "use https://".into()));
        }
        let labels: Vec<&str> = host.trim_end_matches(".r2.cloudflarestorage.com").split('.').collect();
        let (account, jurisdiction) = match labels.as_slice() {
            [a] => (*a, "default"),
            [a, j] => (*a, *j),
            _ => ("", "?"),
        };
        if !is_account_id(account) {
            fails.push((
                format!("endpoint host `{host}` does not start with a 32-hex account id"),
                "the endpoint is https://<ACCOUNT_ID>.r2.cloudflarestorage.com".into(),
            ));
        } else if s
            .account_id
            .as_deref()
            .is_some_and(|a| !a.eq_ignore_ascii_case(account))
        {
            fails.push((
                format!(
                    "the endpoint names account {account}, not the configured {}",
                    s.account_id.as_deref().unwrap_or("")
                ),
                "use one account: remove `endpoint` to derive it from `account_id`".into(),
            ));
        }
        if !matches!(jurisdiction, "default" | "eu" | "fedramp") {
            fails.push((
                format!("unknown jurisdiction `{jurisdiction}` in the endpoint"),
                "use default, eu or fedramp".into(),
            ));
        } else if jurisdiction != s.jurisdiction.as_str() {
            fails.push((
                format!(
                    "the endpoint is in the `{jurisdiction}` jurisdiction, the lease says `{}`",
                    s.jurisdiction.as_str()
                ),
                "set `jurisdiction` to the bucket's (buckets only answer at their jurisdiction's endpoint)".into(),
            ));
        }
        let c = &target.credentials;
        let hex = |t: &str, n: usize| t.len() == n && t.bytes().all(|b| b.is_ascii_hexdigit());
        if c.session_token.is_none() {
            if c.access_key_id.starts_with("AKIA") || c.access_key_id.starts_with("ASIA") {
                fails.push((
                    "the Access Key ID looks like an AWS key, not an R2 one".into(),
                    "use the Access Key ID shown when the R2 token was created (32 hex characters)".into(),
                ));
            } else if !hex(&c.access_key_id, 32) {
                fails.push((
                    format!(
                        "the Access Key ID is {} characters; R2's are 32 hex characters",
                        c.access_key_id.len()
                    ),
                    "copy the Access Key ID again (it is the API token's id)".into(),
                ));
            }
            let secret = c.secret_access_key.expose();
            if secret.len() == 40 && !hex(secret, 40) {
                fails.push((
                    "the Secret Access Key looks like an API token value (40 characters), not its S3 secret".into(),
                    "the S3 secret is the SHA-256 of the token value; set `static.token` and sesame derives it".into(),
                ));
            } else if !hex(secret, 64) {
                fails.push((
                    format!(
                        "the Secret Access Key is {} characters; R2's are 64 hex characters",
                        secret.len()
                    ),
                    "copy the Secret Access Key again (shown once, when the token is created)".into(),
                ));
            }
        }
    } else if url.as_ref().is_some_and(|u| u.scheme() == "http")
        && !(host == "localhost" || host.starts_with("127.") || host == "[::1]")
    {
        warns.push((
            format!(
                "the endpoint {} is plain http: credentials and data travel unencrypted",
                s.endpoint
            ),
            "use https".into(),
        ));
    }
    let what = if is_r2_endpoint(&s.endpoint) {
        "endpoint, account id and key formats look right"
    } else {
        "endpoint is not Cloudflare's; key formats not checked"
    };
    if !fails.is_empty() {
        let (detail, fix): (Vec<String>, Vec<String>) = fails.into_iter().unzip();
        return Check::fail(name, "offline", "format", detail.join("; "), fix.join("; "));
    }
    if !warns.is_empty() {
        let (detail, fix): (Vec<String>, Vec<String>) = warns.into_iter().unzip();
        return Check::warn(name, "offline", "plain-http", detail.join("; "), fix.join("; "));
    }
    Check::pass(name, "offline", what)
}
