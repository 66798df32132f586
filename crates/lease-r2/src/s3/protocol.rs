//! What sesame and the S3 helper say to each other: one JSON object per
//! line, requests on the helper's stdin, replies on its stdout, matched by
//! `id` (replies come back in the order they finish, not the order asked).
//!
//! The connection travels with every request, so the helper keeps no state
//! beyond a cache of clients; the secret parts never leave the pipe and are
//! redacted in `Debug`.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::S3Failure;

/// Where and as whom to send a request.
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Connection {
    /// The S3 endpoint, e.g. `https://<account>.r2.cloudflarestorage.com`.
    pub endpoint: String,
    /// The access key id.
    pub access_key_id: String,
    /// The secret access key.
    pub secret_access_key: String,
    /// The session token of temporary credentials.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_token: Option<String>,
    /// Per-operation timeout, in milliseconds.
    pub timeout_ms: u64,
    /// Attempts per operation (the SDK's standard retries), at least 1.
    pub attempts: u32,
}

impl fmt::Debug for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connection")
            .field("endpoint", &self.endpoint)
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"<redacted>")
            .field("session_token", &self.session_token.as_ref().map(|_| "<redacted>"))
            .field("timeout_ms", &self.timeout_ms)
            .field("attempts", &self.attempts)
            .finish()
    }
}

/// The S3 operations sesame uses, and nothing else.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Operation {
    /// `HeadBucket`.
    HeadBucket {
        /// The bucket.
        bucket: String,
    },
    /// `ListObjectsV2` with `max-keys`; answers the key count.
    ListObjects {
        /// The bucket.
        bucket: String,
        /// `max-keys`.
        max_keys: i32,
    },
    /// `ListBuckets`; answers the buckets visible (count and names).
    ListBuckets,
    /// `PutObject` with `If-None-Match: *`: never overwrites.
    PutObjectIfAbsent {
        /// The bucket.
        bucket: String,
        /// The key.
        key: String,
        /// The content (small: a probe).
        body: Vec<u8>,
    },
    /// `GetObject`; answers the body (at most [`MAX_BODY`] bytes).
    GetObject {
        /// The bucket.
        bucket: String,
        /// The key.
        key: String,
    },
    /// `DeleteObject`.
    DeleteObject {
        /// The bucket.
        bucket: String,
        /// The key.
        key: String,
    },
}

/// The largest body `GetObject` hands back; sesame only reads its probes.
pub const MAX_BODY: usize = 1 << 20;

/// What a successful operation answered.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Success {
    /// Keys (`ListObjects`) or buckets (`ListBuckets`) counted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<u64>,
    /// The object's content (`GetObject`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<Vec<u8>>,
    /// The buckets' names (`ListBuckets`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub names: Option<Vec<String>>,
}

/// The answer to one operation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reply {
    /// Success or what went wrong.
    pub result: Result<Success, S3Failure>,
    /// The server's `Date` header of the last answer, in seconds since the
    /// Unix epoch (for clock-skew checks).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_time: Option<u64>,
}

impl Reply {
    /// A reply that never reached a server.
    pub fn transport(message: impl Into<String>) -> Self {
        Self {
            result: Err(S3Failure {
                transport: Some(message.into()),
                ..S3Failure::default()
            }),
            server_time: None,
        }
    }
}

/// One line on the helper's stdin.
#[derive(Debug, Serialize, Deserialize)]
pub struct Request {
    /// Echoed in the reply.
    pub id: u64,
    /// Where and as whom.
    pub connection: Connection,
    /// What to do.
    pub operation: Operation,
}

/// One line on the helper's stdout.
#[derive(Debug, Serialize, Deserialize)]
pub struct Response {
    /// The request's id.
    pub id: u64,
    /// The answer.
    pub reply: Reply,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn connection() -> Connection {
        Connection {
            endpoint: "http://127.0.0.1:9".into(),
            access_key_id: "AKID".into(),
            secret_access_key: "very-secret-value".into(),
            session_token: Some("session-secret".into()),
            timeout_ms: 5000,
            attempts: 1,
        }
    }

    #[test]
    fn debug_never_shows_the_secret_parts() {
        let text = format!(
            "{:?}",
            Request {
                id: 1,
                connection: connection(),
                operation: Operation::ListBuckets
            }
        );
        assert!(text.contains("AKID") && text.contains("<redacted>"), "{text}");
        assert!(
            !text.contains("very-secret") && !text.contains("session-secret"),
            "{text}"
        );
    }

    #[test]
    fn lines_round_trip() {
        let request = Request {
            id: 7,
            connection: connection(),
            operation: Operation::PutObjectIfAbsent {
                bucket: "b".into(),
                key: "k".into(),
                body: b"probe\n".to_vec(),
            },
        };
        let line = serde_json::to_string(&request).unwrap();
        assert!(!line.contains('\n'), "one request per line: {line}");
        let back: Request = serde_json::from_str(&line).unwrap();
        assert_eq!(
            (back.id, back.connection, back.operation),
            (7, request.connection, request.operation)
        );
        let denied = Response {
            id: 7,
            reply: Reply {
                result: Err(S3Failure {
                    status: Some(403),
                    code: Some("AccessDenied".into()),
                    ..S3Failure::default()
                }),
                server_time: Some(1_700_000_000),
            },
        };
        let back: Response = serde_json::from_str(&serde_json::to_string(&denied).unwrap()).unwrap();
        assert_eq!(back.reply, denied.reply);
    }
}
