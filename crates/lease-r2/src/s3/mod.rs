//! S3, as sesame uses it: credentials, what failures mean, the handful of
//! operations `verify` and the wait-until-live loop need, and the clock the
//! server shows.
//!
//! The S3 client itself (aws-sdk-s3) does not live in this crate. It runs in
//! `sesame-s3`, a helper executable installed beside `sesame` (see
//! [`helper`]), so that the everyday binary does not link it: aws-sdk-s3
//! doubled sesame's size and added a millisecond to every `sesame exec`
//! (docs/benchmarks.md). Operations reach it through a [`Transport`]; the
//! helper speaks [`protocol`]; one helper serves a whole run ([`shared`]). Tests use an in-process transport instead.

pub mod helper;
pub mod protocol;
pub mod shared;

use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use serde::{Deserialize, Serialize};
use sesame_core::{BackendError, SecretValue};

use protocol::{Connection, Operation, Reply, Success};

/// S3 credentials (never printed).
#[derive(Clone)]
pub struct S3Credentials {
    /// The access key id (not secret, but not shown in full either).
    pub access_key_id: String,
    /// The secret access key.
    pub secret_access_key: SecretValue,
    /// The session token of temporary credentials.
    pub session_token: Option<SecretValue>,
}

impl fmt::Debug for S3Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("S3Credentials")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"<redacted>")
            .field("session_token", &self.session_token.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// The `Date` the server sent last, and when it arrived.
#[derive(Debug, Default)]
pub struct ServerClock {
    seen: Mutex<Option<(SystemTime, SystemTime)>>,
}

impl ServerClock {
    /// Notes the server's `Date`, as of now.
    pub fn record(&self, server: SystemTime) {
        *self.seen.lock().unwrap_or_else(|e| e.into_inner()) = Some((server, SystemTime::now()));
    }

    /// How far the server's clock is ahead of ours (negative: behind), in
    /// seconds, from the last answer with a `Date` header.
    pub fn skew_secs(&self) -> Option<i64> {
        let (server, local) = (*self.seen.lock().unwrap_or_else(|e| e.into_inner()))?;
        Some(match server.duration_since(local) {
            Ok(ahead) => ahead.as_secs() as i64,
            Err(behind) => -(behind.duration().as_secs() as i64),
        })
    }
}

/// Carries operations to an S3 client and brings back the replies.
#[async_trait::async_trait]
pub trait Transport: Send + Sync {
    /// Runs one operation. Never panics; every failure is a [`Reply`].
    async fn call(&self, connection: &Connection, operation: Operation) -> Reply;
}

/// S3 for one endpoint and one set of credentials.
#[derive(Clone)]
pub struct S3 {
    transport: Arc<dyn Transport>,
    connection: Connection,
    /// The server's clock as last seen.
    pub clock: Arc<ServerClock>,
}

impl fmt::Debug for S3 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("S3")
            .field("endpoint", &self.connection.endpoint)
            .finish_non_exhaustive()
    }
}

impl S3 {
    /// S3 at `endpoint` with `credentials`; each operation times out after
    /// `timeout` and is tried `attempts` times. No I/O until a call.
    pub fn new(
        transport: Arc<dyn Transport>,
        endpoint: &str,
        credentials: &S3Credentials,
        timeout: Duration,
        attempts: u32,
    ) -> Self {
        let connection = Connection {
            endpoint: endpoint.to_string(),
            access_key_id: credentials.access_key_id.clone(),
            secret_access_key: credentials.secret_access_key.expose().to_string(),
            session_token: credentials.session_token.as_ref().map(|t| t.expose().to_string()),
            timeout_ms: timeout.as_millis().try_into().unwrap_or(u64::MAX),
            attempts: attempts.max(1),
        };
        Self {
            transport,
            connection,
            clock: Arc::new(ServerClock::default()),
        }
    }

    async fn run(&self, operation: Operation) -> Result<Success, S3Failure> {
        let reply = self.transport.call(&self.connection, operation).await;
        if let Some(secs) = reply.server_time {
            self.clock.record(SystemTime::UNIX_EPOCH + Duration::from_secs(secs));
        }
        reply.result
    }

    /// `HeadBucket`.
    pub async fn head_bucket(&self, bucket: &str) -> Result<(), S3Failure> {
        self.run(Operation::HeadBucket { bucket: bucket.into() })
            .await
            .map(drop)
    }

    /// `ListObjectsV2` with `max-keys`: the number of keys listed.
    pub async fn list_objects(&self, bucket: &str, max_keys: i32) -> Result<u64, S3Failure> {
        let bucket = bucket.into();
        self.run(Operation::ListObjects { bucket, max_keys })
            .await
            .map(|s| s.count.unwrap_or(0))
    }

    /// `ListBuckets`: the names of the buckets visible.
    pub async fn list_buckets(&self) -> Result<Vec<String>, S3Failure> {
        self.run(Operation::ListBuckets)
            .await
            .map(|s| s.names.unwrap_or_default())
    }

    /// `PutObject` with `If-None-Match: *` (a 412 if `key` exists).
    pub async fn put_object_if_absent(&self, bucket: &str, key: &str, body: &[u8]) -> Result<(), S3Failure> {
        let (bucket, key, body) = (bucket.into(), key.into(), body.to_vec());
        self.run(Operation::PutObjectIfAbsent { bucket, key, body })
            .await
            .map(drop)
    }

    /// `GetObject`: the content.
    pub async fn get_object(&self, bucket: &str, key: &str) -> Result<Vec<u8>, S3Failure> {
        let (bucket, key) = (bucket.into(), key.into());
        self.run(Operation::GetObject { bucket, key })
            .await
            .map(|s| s.body.unwrap_or_default())
    }

    /// `DeleteObject`.
    pub async fn delete_object(&self, bucket: &str, key: &str) -> Result<(), S3Failure> {
        let (bucket, key) = (bucket.into(), key.into());
        self.run(Operation::DeleteObject { bucket, key }).await.map(drop)
    }
}

/// What a failed S3 call amounts to.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct S3Failure {
    /// The HTTP status, if the server answered.
    pub status: Option<u16>,
    /// The S3 error code (`AccessDenied`, `NoSuchBucket`, ...), if any.
    pub code: Option<String>,
    /// The server's message, if any.
    pub message: Option<String>,
    /// No answer: what happened instead.
    pub transport: Option<String>,
}

impl S3Failure {
    /// The server does not know the access key: 401 (R2), the code
    /// `InvalidAccessKeyId` (Amazon S3), or a 403 whose message says so
    /// (Garage: `AccessDenied`, "Forbidden: No such key: GK...").
    pub fn is_unknown_key(&self) -> bool {
        self.status == Some(401)
            || self.code_is("InvalidAccessKeyId")
            || self.code_is("Unauthorized")
            || (self.status == Some(403)
                && self.message_has(&[
                    "no such key",
                    "access key id you provided does not exist",
                    "unknown key",
                ]))
    }

    /// The secret does not match the key: the code `SignatureDoesNotMatch`
    /// (Amazon S3, R2, moto), or a 403 whose message says so (Garage:
    /// `AccessDenied`, "Forbidden: Invalid signature").
    pub fn is_bad_signature(&self) -> bool {
        self.code_is("SignatureDoesNotMatch")
            || (self.status == Some(403) && self.message_has(&["invalid signature", "signature does not match"]))
    }

    /// The request time is too far from the server's.
    pub fn is_clock_skew(&self) -> bool {
        self.code_is("RequestTimeTooSkewed")
    }

    /// The session token is wrong or expired.
    pub fn is_bad_session(&self) -> bool {
        self.code_is("InvalidToken") || self.code_is("ExpiredToken")
    }

    /// A 403 that is not about the credentials themselves (unknown key,
    /// wrong secret, clock, session): the key is known and not allowed.
    pub fn is_denied(&self) -> bool {
        self.status == Some(403)
            && !self.is_unknown_key()
            && !self.is_bad_signature()
            && !self.is_clock_skew()
            && !self.is_bad_session()
    }

    /// True when the server's message holds one of `phrases` (lowercase).
    /// Servers tell some answers apart only there (Garage's 403s).
    fn message_has(&self, phrases: &[&str]) -> bool {
        let message = self.message.as_deref().unwrap_or_default().to_lowercase();
        phrases.iter().any(|p| message.contains(p))
    }

    /// The bucket does not exist.
    pub fn is_no_such_bucket(&self) -> bool {
        // HeadBucket has no body: the SDK calls its 404 `NotFound`.
        self.code_is("NoSuchBucket") || (self.status == Some(404) && !self.code_is("NoSuchKey"))
    }

    /// Worth trying again while new credentials propagate.
    pub fn is_transient(&self) -> bool {
        matches!(self.status, Some(401 | 403 | 408 | 429 | 500..=599)) || self.transport.is_some()
    }

    /// True when the code is `code`.
    pub fn code_is(&self, code: &str) -> bool {
        self.code.as_deref() == Some(code)
    }
}

impl fmt::Display for S3Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(t) = &self.transport {
            return write!(f, "{t}");
        }
        match (self.status, &self.code) {
            (Some(s), Some(c)) => write!(f, "HTTP {s} {c}")?,
            (Some(s), None) => write!(f, "HTTP {s}")?,
            (None, Some(c)) => write!(f, "{c}")?,
            (None, None) => write!(f, "failed")?,
        }
        if let Some(m) = self.message.as_deref().filter(|m| !m.is_empty()) {
            write!(f, ": {}", m.trim_end_matches('.'))?;
        }
        Ok(())
    }
}

/// Waits until `HeadBucket` on `bucket` succeeds with new credentials,
/// retrying with backoff (250 ms doubling to 2 s) while the credentials
/// propagate, for at most `max_wait`. Returns how long it took and how many
/// tries. A missing bucket fails at once.
pub async fn wait_until_live(s3: &S3, bucket: &str, max_wait: Duration) -> Result<(Duration, u32), BackendError> {
    let start = Instant::now();
    let mut delay = Duration::from_millis(250);
    let mut attempts = 0;
    loop {
        attempts += 1;
        let failure = match s3.head_bucket(bucket).await {
            Ok(()) => return Ok((start.elapsed(), attempts)),
            Err(failure) => failure,
        };
        if failure.is_no_such_bucket() {
            return Err(BackendError::failed(
                format!("bucket `{bucket}` does not exist at this endpoint ({failure})"),
                Some(
                    "check `bucket`, `account_id` and `jurisdiction` (EU and FedRAMP buckets have their own endpoint)"
                        .into(),
                ),
            ));
        }
        let elapsed = start.elapsed();
        if !failure.is_transient() || elapsed + delay > max_wait {
            let waited = if max_wait.is_zero() {
                String::new()
            } else {
                format!(" after {attempts} tries in {:.1}s", elapsed.as_secs_f64())
            };
            return Err(BackendError::failed(
                format!("the new credentials do not work on bucket `{bucket}`{waited}: {failure}"),
                Some(
                    "new R2 credentials usually work within seconds: check the endpoint and bucket, or raise `wait`; \
                     run `sesame r2 verify` for a diagnosis"
                        .into(),
                ),
            ));
        }
        tracing::debug!(bucket, attempts, %failure, "credentials not live yet");
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_secs(2));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_are_classified() {
        let f = |status, code: Option<&str>| S3Failure {
            status: Some(status),
            code: code.map(str::to_string),
            ..S3Failure::default()
        };
        assert!(f(401, Some("Unauthorized")).is_unknown_key());
        assert!(f(403, Some("InvalidAccessKeyId")).is_unknown_key());
        assert!(f(403, Some("SignatureDoesNotMatch")).is_bad_signature());
        assert!(!f(403, Some("SignatureDoesNotMatch")).is_denied());
        assert!(f(403, Some("AccessDenied")).is_denied());
        // Garage: 403 AccessDenied for both, told apart by the message.
        let garage = |message: &str| S3Failure {
            message: Some(message.into()),
            ..f(403, Some("AccessDenied"))
        };
        assert!(garage("Forbidden: No such key: GK31c2f218a2e44f485b94239e").is_unknown_key());
        assert!(!garage("Forbidden: No such key: GK31c2f218a2e44f485b94239e").is_denied());
        assert!(garage("Forbidden: Invalid signature").is_bad_signature());
        assert!(!garage("Forbidden: Invalid signature").is_denied());
        assert!(garage("Access Denied").is_denied());
        let missing_object = S3Failure {
            message: Some("The specified key does not exist.".into()),
            ..f(404, Some("NoSuchKey"))
        };
        assert!(!missing_object.is_unknown_key(), "an object key, not an access key");
        assert!(f(404, Some("NoSuchBucket")).is_no_such_bucket());
        assert!(f(404, None).is_no_such_bucket());
        assert!(f(503, None).is_transient());
        assert!(!f(404, Some("NoSuchBucket")).is_transient());
        assert_eq!(
            f(403, Some("AccessDenied")).to_string(),
            "HTTP 403 AccessDenied".to_string()
        );
    }
}
