//! The S3 client, set up the way R2 needs it, and what its errors mean.
//!
//! Nothing here runs unless an R2 lease is minted or `sesame r2 verify`
//! runs: `sesame exec` without R2 leases never builds a client.
//!
//! Settings (see docs/leases/r2.md, "What sesame relies on"): region `auto`,
//! path-style addressing, `request_checksum_calculation` and
//! `response_checksum_validation` set to `WhenRequired` (the SDK's default
//! CRC32 checksums are rejected by R2 in several ways), an operation timeout
//! of the run's `--timeout`, standard retries (3 attempts), static
//! credentials from the lease. The HTTP stack is hyper 1 with rustls and
//! *ring*, with the system's root certificates; no proxy.

use std::fmt;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime};

use aws_sdk_s3::config::interceptors::BeforeDeserializationInterceptorContextRef;
use aws_sdk_s3::config::{
    BehaviorVersion, ConfigBag, Credentials, Intercept, Region, RequestChecksumCalculation, ResponseChecksumValidation,
    RuntimeComponents, SharedHttpClient,
};
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use sesame_core::{BackendError, SecretValue};

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

#[derive(Debug)]
struct DateInterceptor(Arc<ServerClock>);

impl Intercept for DateInterceptor {
    fn name(&self) -> &'static str {
        "sesame-server-date"
    }

    fn read_after_transmit(
        &self,
        context: &BeforeDeserializationInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), aws_sdk_s3::error::BoxError> {
        let date = context
            .response()
            .headers()
            .get("date")
            .and_then(|d| humantime::parse_rfc3339_weak(&imf_to_rfc3339(d)?).ok());
        if let Some(date) = date {
            *self.0.seen.lock().unwrap_or_else(|e| e.into_inner()) = Some((date, SystemTime::now()));
        }
        Ok(())
    }
}

/// `Sun, 06 Nov 1994 08:49:37 GMT` -> `1994-11-06T08:49:37Z`.
pub fn imf_to_rfc3339(date: &str) -> Option<String> {
    let mut parts = date.split_whitespace().skip(1);
    let day: u32 = parts.next()?.parse().ok()?;
    let month = parts.next()?;
    let year: u32 = parts.next()?.parse().ok()?;
    let time = parts.next()?;
    let month = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ]
    .iter()
    .position(|m| *m == month)?
        + 1;
    Some(format!("{year:04}-{month:02}-{day:02}T{time}Z"))
}

fn http_client() -> SharedHttpClient {
    static CLIENT: OnceLock<SharedHttpClient> = OnceLock::new();
    CLIENT
        .get_or_init(|| {
            use aws_smithy_http_client::tls::{rustls_provider::CryptoMode, Provider};
            aws_smithy_http_client::Builder::new()
                .tls_provider(Provider::Rustls(CryptoMode::Ring))
                .build_https()
        })
        .clone()
}

/// An S3 client for one endpoint and one set of credentials.
#[derive(Clone)]
pub struct S3 {
    /// The SDK client.
    pub client: aws_sdk_s3::Client,
    /// The server's clock as last seen.
    pub clock: Arc<ServerClock>,
}

impl fmt::Debug for S3 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("S3").finish_non_exhaustive()
    }
}

/// Builds a client (no I/O until a request is sent).
pub fn client(endpoint: &str, credentials: &S3Credentials, timeout: Duration, attempts: u32) -> S3 {
    let clock = Arc::new(ServerClock::default());
    let creds = Credentials::new(
        credentials.access_key_id.clone(),
        credentials.secret_access_key.expose().to_string(),
        credentials.session_token.as_ref().map(|t| t.expose().to_string()),
        None,
        "sesame",
    );
    let config = aws_sdk_s3::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .http_client(http_client())
        .region(Region::new("auto"))
        .endpoint_url(endpoint)
        .force_path_style(true)
        .credentials_provider(creds)
        .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
        .response_checksum_validation(ResponseChecksumValidation::WhenRequired)
        .retry_config(aws_sdk_s3::config::retry::RetryConfig::standard().with_max_attempts(attempts.max(1)))
        .timeout_config(
            aws_sdk_s3::config::timeout::TimeoutConfig::builder()
                .connect_timeout(timeout.min(Duration::from_secs(10)))
                .operation_attempt_timeout(timeout)
                .operation_timeout(timeout)
                .build(),
        )
        .interceptor(DateInterceptor(clock.clone()))
        .build();
    S3 {
        client: aws_sdk_s3::Client::from_conf(config),
        clock,
    }
}

/// What a failed S3 call amounts to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
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
    /// From any SDK error.
    pub fn from_sdk<E: ProvideErrorMetadata + std::error::Error + 'static>(
        error: &SdkError<E, aws_sdk_s3::config::http::HttpResponse>,
    ) -> Self {
        match error {
            SdkError::ServiceError(service) => {
                let err = service.err();
                Self {
                    status: Some(service.raw().status().as_u16()),
                    code: err.code().map(str::to_string),
                    message: err.message().map(str::to_string),
                    transport: None,
                }
            }
            SdkError::ResponseError(response) => Self {
                status: Some(response.raw().status().as_u16()),
                transport: Some("the answer could not be read".into()),
                ..Self::default()
            },
            SdkError::TimeoutError(_) => Self {
                transport: Some("timed out".into()),
                ..Self::default()
            },
            other => Self {
                transport: Some(chain(other)),
                ..Self::default()
            },
        }
    }

    /// 401, or `InvalidAccessKeyId` (S3), or a 403 on HEAD with no code.
    pub fn is_unknown_key(&self) -> bool {
        self.status == Some(401) || self.code_is("InvalidAccessKeyId") || self.code_is("Unauthorized")
    }

    /// The secret does not match the key.
    pub fn is_bad_signature(&self) -> bool {
        self.code_is("SignatureDoesNotMatch")
    }

    /// The request time is too far from the server's.
    pub fn is_clock_skew(&self) -> bool {
        self.code_is("RequestTimeTooSkewed")
    }

    /// The session token is wrong or expired.
    pub fn is_bad_session(&self) -> bool {
        self.code_is("InvalidToken") || self.code_is("ExpiredToken")
    }

    /// Authenticated but not allowed (403 without a more specific code).
    pub fn is_denied(&self) -> bool {
        self.status == Some(403) && !self.is_bad_signature() && !self.is_clock_skew() && !self.is_bad_session()
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

fn chain(error: &dyn std::error::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut current: Option<&dyn std::error::Error> = Some(error);
    while let Some(e) = current {
        let text = e.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        current = e.source();
    }
    parts.join(": ")
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
        let failure = match s3.client.head_bucket().bucket(bucket).send().await {
            Ok(_) => return Ok((start.elapsed(), attempts)),
            Err(e) => S3Failure::from_sdk(&e),
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
    fn dates() {
        assert_eq!(
            imf_to_rfc3339("Sun, 06 Nov 1994 08:49:37 GMT").as_deref(),
            Some("1994-11-06T08:49:37Z")
        );
        assert_eq!(imf_to_rfc3339("garbage"), None);
    }

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
