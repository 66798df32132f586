//! aws-sdk-s3, set up the way R2 needs it, as a [`Transport`].

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, SystemTime};

use aws_sdk_s3::config::interceptors::BeforeDeserializationInterceptorContextRef;
use aws_sdk_s3::config::{
    BehaviorVersion, ConfigBag, Credentials, Intercept, Region, RequestChecksumCalculation, ResponseChecksumValidation,
    RuntimeComponents, SharedHttpClient,
};
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use sesame_core::backend::error_chain;
use sesame_lease_r2::s3::protocol::{Connection, Operation, Reply, Success, MAX_BODY};
use sesame_lease_r2::s3::{S3Failure, Transport};

/// The `Date` of the last answer, in seconds since the Unix epoch.
type LastDate = Arc<Mutex<Option<u64>>>;

/// One SDK client per connection, built on first use.
#[derive(Clone)]
struct Cached {
    client: aws_sdk_s3::Client,
    last_date: LastDate,
}

/// The S3 client, in this process. Clients are cached per connection.
#[derive(Default)]
pub struct Local {
    clients: Mutex<HashMap<Connection, Cached>>,
}

impl std::fmt::Debug for Local {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Local").finish_non_exhaustive()
    }
}

impl Local {
    fn client(&self, connection: &Connection) -> Cached {
        let mut clients = self.clients.lock().unwrap_or_else(|e| e.into_inner());
        clients
            .entry(connection.clone())
            .or_insert_with(|| build(connection))
            .clone()
    }
}

#[async_trait::async_trait]
impl Transport for Local {
    async fn call(&self, connection: &Connection, operation: Operation) -> Reply {
        let cached = self.client(connection);
        let result = run(&cached.client, operation).await;
        let server_time = *cached.last_date.lock().unwrap_or_else(|e| e.into_inner());
        Reply { result, server_time }
    }
}

async fn run(client: &aws_sdk_s3::Client, operation: Operation) -> Result<Success, S3Failure> {
    let done = Success::default();
    match operation {
        Operation::HeadBucket { bucket } => client
            .head_bucket()
            .bucket(bucket)
            .send()
            .await
            .map(|_| done)
            .map_err(|e| failure(&e)),
        Operation::ListObjects { bucket, max_keys } => client
            .list_objects_v2()
            .bucket(bucket)
            .max_keys(max_keys)
            .send()
            .await
            .map(|out| Success {
                count: Some(out.key_count().unwrap_or(0).max(0) as u64),
                ..done
            })
            .map_err(|e| failure(&e)),
        Operation::ListBuckets => client
            .list_buckets()
            .send()
            .await
            .map(|out| Success {
                count: Some(out.buckets().len() as u64),
                names: Some(
                    out.buckets()
                        .iter()
                        .filter_map(|b| b.name().map(str::to_string))
                        .collect(),
                ),
                ..done
            })
            .map_err(|e| failure(&e)),
        Operation::PutObjectIfAbsent { bucket, key, body } => client
            .put_object()
            .bucket(bucket)
            .key(key)
            .if_none_match("*")
            .content_type("text/plain")
            .body(body.into())
            .send()
            .await
            .map(|_| done)
            .map_err(|e| failure(&e)),
        Operation::GetObject { bucket, key } => {
            let out = client
                .get_object()
                .bucket(bucket)
                .key(key)
                .send()
                .await
                .map_err(|e| failure(&e))?;
            if out.content_length().is_some_and(|n| n > MAX_BODY as i64) {
                return Err(transport(format!("the object is larger than {MAX_BODY} bytes")));
            }
            let bytes = out
                .body
                .collect()
                .await
                .map_err(|e| transport(format!("reading the body failed: {e}")))?;
            Ok(Success {
                body: Some(bytes.into_bytes().to_vec()),
                ..done
            })
        }
        Operation::DeleteObject { bucket, key } => client
            .delete_object()
            .bucket(bucket)
            .key(key)
            .send()
            .await
            .map(|_| done)
            .map_err(|e| failure(&e)),
    }
}

fn transport(message: String) -> S3Failure {
    S3Failure {
        transport: Some(message),
        ..S3Failure::default()
    }
}

/// What an SDK error amounts to.
fn failure<E: ProvideErrorMetadata + std::error::Error + 'static>(
    error: &SdkError<E, aws_sdk_s3::config::http::HttpResponse>,
) -> S3Failure {
    match error {
        SdkError::ServiceError(service) => {
            let err = service.err();
            S3Failure {
                status: Some(service.raw().status().as_u16()),
                code: err.code().map(str::to_string),
                message: err.message().map(str::to_string),
                transport: None,
            }
        }
        SdkError::ResponseError(response) => S3Failure {
            status: Some(response.raw().status().as_u16()),
            transport: Some("the answer could not be read".into()),
            ..S3Failure::default()
        },
        SdkError::TimeoutError(_) => transport("timed out".into()),
        other => transport(error_chain(other)),
    }
}

/// Notes the `Date` of every answer, for clock-skew checks.
#[derive(Debug)]
struct DateInterceptor(LastDate);

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
            .and_then(|d| humantime::parse_rfc3339_weak(&imf_to_rfc3339(d)?).ok())
            .and_then(|t| t.duration_since(SystemTime::UNIX_EPOCH).ok());
        if let Some(date) = date {
            *self.0.lock().unwrap_or_else(|e| e.into_inner()) = Some(date.as_secs());
        }
        Ok(())
    }
}

/// `Sun, 06 Nov 1994 08:49:37 GMT` -> `1994-11-06T08:49:37Z`.
fn imf_to_rfc3339(date: &str) -> Option<String> {
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

/// A client for one connection (no I/O until a request is sent).
fn build(connection: &Connection) -> Cached {
    let last_date = LastDate::default();
    let timeout = Duration::from_millis(connection.timeout_ms);
    let creds = Credentials::new(
        connection.access_key_id.clone(),
        connection.secret_access_key.clone(),
        connection.session_token.clone(),
        None,
        "sesame",
    );
    let config = aws_sdk_s3::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .http_client(http_client())
        .region(Region::new("auto"))
        .endpoint_url(&connection.endpoint)
        .force_path_style(true)
        .credentials_provider(creds)
        .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
        .response_checksum_validation(ResponseChecksumValidation::WhenRequired)
        .retry_config(aws_sdk_s3::config::retry::RetryConfig::standard().with_max_attempts(connection.attempts.max(1)))
        .timeout_config(
            aws_sdk_s3::config::timeout::TimeoutConfig::builder()
                .connect_timeout(timeout.min(Duration::from_secs(10)))
                .operation_attempt_timeout(timeout)
                .operation_timeout(timeout)
                .build(),
        )
        .interceptor(DateInterceptor(last_date.clone()))
        .build();
    Cached {
        client: aws_sdk_s3::Client::from_conf(config),
        last_date,
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
}
