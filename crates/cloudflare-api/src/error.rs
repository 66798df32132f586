//! Errors of API calls: Cloudflare's `{code, message}` entries, what went
//! wrong, and the hint for it.

use std::fmt;
use std::time::Duration;

use serde::Deserialize;
use sesame_core::BackendError;

use crate::retry::*;

/// One `{code, message}` of an error envelope (with its `error_chain`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct CfError {
    /// Cloudflare's code, e.g. 10000.
    #[serde(default)]
    pub code: i64,
    /// Its message.
    #[serde(default)]
    pub message: String,
    /// Nested causes.
    #[serde(default)]
    pub error_chain: Vec<CfError>,
}

impl fmt::Display for CfError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (code {})", self.message.trim_end_matches('.'), self.code)?;
        for cause in &self.error_chain {
            write!(f, ": {cause}")?;
        }
        Ok(())
    }
}

/// What went wrong with one API call.
#[derive(Debug, Clone)]
pub enum ApiErrorKind {
    /// Cloudflare answered with an error status or `success: false`.
    Status {
        /// The HTTP status.
        status: u16,
        /// The envelope's errors.
        errors: Vec<CfError>,
        /// `Retry-After`, when sent.
        retry_after: Option<Duration>,
    },
    /// No answer: connection refused or reset, timeout.
    Transport {
        /// What happened.
        message: String,
        /// True when the request cannot have reached the server (refused
        /// connection), so even a create may be sent again.
        before_send: bool,
    },
    /// An answer that is not the envelope we expect.
    Decode(String),
}

/// A failed API call: what was asked, what happened, after how many tries.
#[derive(Debug, Clone)]
pub struct ApiError {
    /// `GET`, `POST`, `DELETE`.
    pub method: String,
    /// The path below the base (no query, no host).
    pub path: String,
    /// What happened.
    pub kind: ApiErrorKind,
    /// How many requests the call made (retries, and the checks a retried
    /// create makes first, included).
    pub attempts: u32,
}

impl ApiError {
    /// The HTTP status, when there was an answer.
    pub fn status(&self) -> Option<u16> {
        match self.kind {
            ApiErrorKind::Status { status, .. } => Some(status),
            _ => None,
        }
    }

    /// True when one of Cloudflare's error codes is `code`.
    pub fn has_code(&self, code: i64) -> bool {
        match &self.kind {
            ApiErrorKind::Status { errors, .. } => errors.iter().any(|e| e.code == code),
            _ => false,
        }
    }

    /// 404: the token does not exist (or no longer).
    pub fn is_not_found(&self) -> bool {
        self.status() == Some(404)
    }

    /// 401 or 403: the parent token is unknown, expired or lacks a permission.
    pub fn is_auth(&self) -> bool {
        matches!(self.status(), Some(401 | 403))
    }

    /// The token quota is reached (50 user tokens, 500 per account).
    pub fn is_quota(&self) -> bool {
        match &self.kind {
            ApiErrorKind::Status { errors, .. } => errors
                .iter()
                .any(|e| e.code == 1002 || e.message.to_ascii_lowercase().contains("quota")),
            _ => false,
        }
    }

    pub(crate) fn retryable(&self) -> Retry {
        match &self.kind {
            ApiErrorKind::Transport { before_send: true, .. } => Retry::Safe(None),
            ApiErrorKind::Transport { .. } => Retry::Ambiguous,
            ApiErrorKind::Status {
                status: 429,
                retry_after,
                ..
            } => Retry::Safe(*retry_after),
            ApiErrorKind::Status {
                status: 408 | 409,
                retry_after,
                ..
            } => Retry::Ambiguous.with_delay(*retry_after),
            ApiErrorKind::Status {
                status, retry_after, ..
            } if *status >= 500 => Retry::Ambiguous.with_delay(*retry_after),
            _ => Retry::No,
        }
    }

    /// How to fix it, when sesame can tell.
    pub fn hint(&self) -> Option<String> {
        if self.is_quota() {
            return Some(
                "Cloudflare allows 50 user tokens and 500 per account, expired ones included: run \
                 `sesame lease cleanup`, then `sesame lease cleanup --remote` to delete expired tokens sesame created"
                    .into(),
            );
        }
        match (&self.kind, self.status()) {
            (_, Some(401 | 403)) => Some(
                "the parent token must be valid and have the 'API Tokens: Edit' permission (for account-owned \
                 tokens: 'Account API Tokens: Edit' on that account)"
                    .into(),
            ),
            (_, Some(429)) => Some(
                "Cloudflare allows 1,200 requests per 5 minutes per user, across all clients; wait and try again"
                    .into(),
            ),
            (_, Some(s)) if s >= 500 => {
                Some("Cloudflare's API is failing; try again later (https://www.cloudflarestatus.com)".into())
            }
            (ApiErrorKind::Transport { .. }, _) => Some(
                "check the network, a proxy (HTTPS_PROXY), or the API base (`api_base` or CLOUDFLARE_API_BASE_URL)"
                    .into(),
            ),
            _ => None,
        }
    }
}

/// The most characters of a server's own text an error shows.
const SERVER_TEXT_MAX: usize = 300;

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Cloudflare API {} {}: ", self.method, self.path)?;
        match &self.kind {
            ApiErrorKind::Status { status, errors, .. } => {
                write!(f, "HTTP {status}")?;
                if !errors.is_empty() {
                    // Server text: scrubbed and cut (it may echo anything, the
                    // Authorization header included).
                    let list: Vec<String> = errors
                        .iter()
                        .map(|e| sesame_core::scrub::scrub_truncated(&e.to_string(), SERVER_TEXT_MAX))
                        .collect();
                    write!(f, ": {}", list.join("; "))?;
                }
            }
            ApiErrorKind::Transport { message, .. } => f.write_str(message)?,
            ApiErrorKind::Decode(message) => write!(
                f,
                "unexpected answer: {}",
                sesame_core::scrub::scrub_truncated(message, SERVER_TEXT_MAX)
            )?,
        }
        if self.attempts > 1 {
            write!(f, " (gave up after {} attempts)", self.attempts)?;
        }
        Ok(())
    }
}

impl std::error::Error for ApiError {}

impl From<ApiError> for BackendError {
    fn from(e: ApiError) -> Self {
        let hint = e.hint();
        BackendError::failed(e.to_string(), hint)
    }
}
