//! A small client for Cloudflare's API, shared by the Cloudflare lease
//! backends (this crate's `cloudflare` type and the R2 lease): verify, get,
//! create, delete and list tokens, look up permission groups, and typed
//! [`Client::get`] and [`Client::post`] for other endpoints (R2 temporary
//! credentials), all on one request path with bounded, jittered retries.
//!
//! Facts it relies on (see `docs/leases/cloudflare.md`, "What sesame relies on"):
//! - every answer is an envelope `{success, errors: [{code, message}], messages, result}`, and
//!   `success: false` can come with a 2xx;
//! - user tokens live under `/user/tokens`, account tokens under `/accounts/{id}/tokens`; an
//!   account token must be verified on the account path (the user path answers code 1000);
//! - `value` is only in the create answer; `DELETE` of a token that is gone answers 404;
//! - listing is paginated (`page`, `per_page` at most 50, `result_info`); the account list only
//!   shows expired tokens with `include_expired=true`;
//! - connection errors, 408, 409, 429 (with `Retry-After` in seconds) and 5xx are worth retrying,
//!   as Cloudflare's own Go client does.
//!
//! The token sent as `Authorization: Bearer` is a [`SecretValue`]; it is marked sensitive in the
//! request and appears in no error or log line. A created token's value is returned as a
//! [`SecretValue`] too.

mod client;
mod error;
mod retry;
mod types;

pub use client::*;
pub use error::*;
pub use retry::*;
pub use types::*;

use sesame_core::EnvSnapshot;

/// Cloudflare's API base URL.
pub const DEFAULT_API_BASE: &str = "https://api.cloudflare.com/client/v4";

/// The variable that points sesame (and wrangler) at another API base.
pub const API_BASE_VAR: &str = "CLOUDFLARE_API_BASE_URL";

/// Where the parent token is looked for, in order (resolved secrets first,
/// then the environment).
pub const PARENT_TOKEN_VARS: [&str; 2] = ["CLOUDFLARE_API_TOKEN", "CF_API_TOKEN"];

/// The message when no parent token is found (worded as fnox words it).
pub const MISSING_PARENT: &str =
    "Cloudflare API token not found. Set CLOUDFLARE_API_TOKEN with a token that has 'API Tokens: Edit' permission.";

/// The largest page Cloudflare serves when listing tokens.
pub const MAX_PER_PAGE: usize = 50;

/// The API base: `configured` (a backend's `api_base`), else
/// `CLOUDFLARE_API_BASE_URL` from the snapshot, else [`DEFAULT_API_BASE`];
/// without a trailing slash.
pub fn api_base(configured: Option<&str>, env: &EnvSnapshot) -> String {
    configured
        .filter(|b| !b.trim().is_empty())
        .or_else(|| env.var(API_BASE_VAR).filter(|b| !b.trim().is_empty()))
        .unwrap_or(DEFAULT_API_BASE)
        .trim()
        .trim_end_matches('/')
        .to_string()
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use serde_json::json;

    use super::*;

    #[test]
    fn base_url_precedence() {
        let env = EnvSnapshot::from_pairs([(API_BASE_VAR, "http://127.0.0.1:9/client/v4/")]);
        assert_eq!(api_base(Some("https://x.test/v4/"), &env), "https://x.test/v4");
        assert_eq!(api_base(None, &env), "http://127.0.0.1:9/client/v4");
        assert_eq!(api_base(None, &EnvSnapshot::default()), DEFAULT_API_BASE);
    }

    #[test]
    fn backoff_grows_is_jittered_and_capped() {
        let policy = RetryPolicy::default();
        for attempt in 1..10 {
            let wait = policy.backoff(attempt, None);
            let full = policy.base_delay * (1 << (attempt - 1).min(16));
            let full = full.min(policy.max_delay);
            assert!(wait >= full / 2 && wait <= full, "{attempt}: {wait:?} vs {full:?}");
        }
        let asked = policy.backoff(1, Some(Duration::from_secs(2)));
        assert!(asked >= Duration::from_secs(2) && asked < Duration::from_millis(2100));
    }

    #[test]
    fn errors_show_codes_and_hints() {
        let e = ApiError {
            method: "POST".into(),
            path: "/user/tokens".into(),
            kind: ApiErrorKind::Status {
                status: 403,
                errors: vec![CfError {
                    code: 10000,
                    message: "Authentication error".into(),
                    error_chain: vec![],
                }],
                retry_after: None,
            },
            attempts: 1,
        };
        assert_eq!(
            e.to_string(),
            "Cloudflare API POST /user/tokens: HTTP 403: Authentication error (code 10000)"
        );
        assert!(e.hint().unwrap().contains("'API Tokens: Edit'"));
        let quota = ApiError {
            kind: ApiErrorKind::Status {
                status: 400,
                errors: vec![CfError {
                    code: 1002,
                    message: "Token quota exceeded".into(),
                    error_chain: vec![],
                }],
                retry_after: None,
            },
            ..e
        };
        assert!(quota.hint().unwrap().contains("sesame lease cleanup"));
    }

    #[test]
    fn what_is_retried() {
        let with = |status, retry_after| ApiError {
            method: "GET".into(),
            path: "/".into(),
            kind: ApiErrorKind::Status {
                status,
                errors: vec![],
                retry_after,
            },
            attempts: 1,
        };
        assert_eq!(with(400, None).retryable(), Retry::No);
        assert_eq!(with(404, None).retryable(), Retry::No);
        assert_eq!(
            with(429, Some(Duration::from_secs(3))).retryable(),
            Retry::Safe(Some(Duration::from_secs(3)))
        );
        assert_eq!(with(500, None).retryable(), Retry::AmbiguousAfter(None));
        assert_eq!(with(408, None).retryable(), Retry::AmbiguousAfter(None));
        assert_eq!(with(409, None).retryable(), Retry::AmbiguousAfter(None));
    }

    #[test]
    fn policies_serialize_without_read_only_fields() {
        let policy = Policy {
            id: Some("p1".into()),
            effect: "allow".into(),
            resources: json!({"com.cloudflare.api.account.*": "*"}),
            permission_groups: vec![GroupRef {
                id: "c8fed203ed3043cba015a93ad1616f1f".into(),
                name: Some("Zone Read".into()),
            }],
        };
        assert_eq!(
            serde_json::to_value(&policy).unwrap(),
            json!({"effect": "allow", "resources": {"com.cloudflare.api.account.*": "*"},
                   "permission_groups": [{"id": "c8fed203ed3043cba015a93ad1616f1f"}]})
        );
    }

    #[test]
    fn times_round_trip() {
        let t = parse_time("2026-07-01T05:20:00Z").unwrap();
        assert_eq!(format_time(t), "2026-07-01T05:20:00Z");
    }
}
