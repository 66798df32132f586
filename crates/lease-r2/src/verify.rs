//! The `sesame r2 verify` engine: proves that R2 credentials work on their
//! bucket, and do no more than they should.
//!
//! Every target gets these checks, the network ones run concurrently (and
//! all targets concurrently):
//!
//! | check | required | how |
//! |---|---|---|
//! | `role` | yes | `--source` must be `access = "read"`, `--destination` `"read-write"` |
//! | `offline` | yes | endpoint and account id format; key lengths on real R2 endpoints |
//! | `credentials` | yes | 401 = unknown key, `SignatureDoesNotMatch` = wrong secret, clock skew from the server's `Date` |
//! | `bucket` | yes | `ListObjectsV2`/`HeadBucket` do not answer `NoSuchBucket` |
//! | `read` | yes | `HeadBucket` and `ListObjectsV2` with `max-keys=1` |
//! | `write` | read-write targets | `PutObject` of a uniquely named probe with `If-None-Match: *`, read back, delete |
//! | `least-privilege` | read targets | the same probe must be denied; if it is written, it is deleted and the check fails |
//! | `scope` | no (warns) | `ListBuckets` allowed means the key is not bucket-scoped |
//! | `token` | yes, when held | the Cloudflare token's status and expiry (warns when it never expires) |
//!
//! Nothing depends on `ListBuckets` or `CreateBucket` to pass: R2's object
//! tokens may call neither. The probe can never overwrite data (`If-None-Match:
//! *` on a new random key) and is always deleted when it was written.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use serde::Serialize;
use sesame_cloudflare_api::{self as api, Client, Owner};

use crate::config::{is_account_id, is_r2_endpoint, AccessLevel, Jurisdiction, R2Settings, Source};
use crate::lease::VerifiedToken;
use crate::s3::{S3Credentials, S3Failure, Transport, S3};

/// SigV4 fails beyond this difference between client and server clocks.
pub const MAX_SKEW_SECS: i64 = 15 * 60;

/// The outcome of one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// It holds.
    Pass,
    /// It holds, but something deserves attention.
    Warn,
    /// It does not hold.
    Fail,
    /// Not checked (an earlier check failed, or it does not apply).
    Skip,
}

impl Status {
    /// `pass`, `warn`, `FAIL`, `skip` for tables.
    pub fn label(self) -> &'static str {
        match self {
            Self::Pass => "pass",
            Self::Warn => "warn",
            Self::Fail => "FAIL",
            Self::Skip => "skip",
        }
    }
}

/// One line of the report.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    /// The target (lease name).
    pub target: String,
    /// The check's name.
    pub check: &'static str,
    /// Its outcome.
    pub status: Status,
    /// Whether a failure makes the whole verification fail.
    pub required: bool,
    /// What was seen.
    pub detail: String,
    /// A short name for why it failed or warns (e.g. `over-privileged`).
    pub cause: Option<&'static str>,
    /// How to fix it.
    pub fix: Option<String>,
}

impl Check {
    fn new(target: &str, check: &'static str, status: Status, detail: impl Into<String>) -> Self {
        Self {
            target: target.to_string(),
            check,
            status,
            required: true,
            detail: detail.into(),
            cause: None,
            fix: None,
        }
    }

    fn pass(target: &str, check: &'static str, detail: impl Into<String>) -> Self {
        Self::new(target, check, Status::Pass, detail)
    }

    fn skip(target: &str, check: &'static str, detail: impl Into<String>) -> Self {
        Self::new(target, check, Status::Skip, detail)
    }

    fn fail(
        target: &str,
        check: &'static str,
        cause: &'static str,
        detail: impl Into<String>,
        fix: impl Into<String>,
    ) -> Self {
        Self::new(target, check, Status::Fail, detail).because(cause, fix)
    }

    fn warn(
        target: &str,
        check: &'static str,
        cause: &'static str,
        detail: impl Into<String>,
        fix: impl Into<String>,
    ) -> Self {
        Self::new(target, check, Status::Warn, detail).because(cause, fix)
    }

    /// Names the cause of a failure or warning, and its fix.
    fn because(self, cause: &'static str, fix: impl Into<String>) -> Self {
        Self {
            cause: Some(cause),
            fix: Some(fix.into()),
            ..self
        }
    }

    fn optional(mut self) -> Self {
        self.required = false;
        self
    }

    /// True when this check makes the verification fail.
    pub fn is_failure(&self) -> bool {
        self.status == Status::Fail && self.required
    }
}

/// The part a target plays in a migration pre-flight.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Read from: must be read-only.
    Source,
    /// Written to: must be read-write.
    Destination,
}

/// How the Cloudflare token behind a key can be checked.
#[derive(Debug, Clone)]
pub enum TokenCheck {
    /// sesame minted it: read it with the parent token.
    ViaParent {
        /// A client holding the parent token.
        client: Client,
        /// Where the token lives.
        owner: Owner,
        /// Its id.
        id: String,
    },
    /// A `static.token` verified by its value.
    Verified(VerifiedToken),
    /// Temporary credentials (no token of their own).
    Temporary {
        /// When they expire, if known.
        expires_at: Option<SystemTime>,
    },
    /// sesame does not hold the token.
    NotHeld,
}

/// One set of credentials to verify.
#[derive(Debug, Clone)]
pub struct Target {
    /// The lease's name.
    pub name: String,
    /// Its settings (bucket, access, endpoint...).
    pub settings: R2Settings,
    /// The credentials.
    pub credentials: S3Credentials,
    /// `minted`, `reused` or `static`, for the report.
    pub origin: String,
    /// How to check the Cloudflare token.
    pub token: TokenCheck,
    /// Its part in a pre-flight, if any.
    pub role: Option<Role>,
}

/// Verifies every target concurrently, sending S3 operations through
/// `transport`. Checks come back grouped by target, in the order the
/// targets were given.
pub async fn verify(targets: &[Target], transport: Arc<dyn Transport>, timeout: Duration) -> Vec<Check> {
    futures_util::future::join_all(targets.iter().map(|t| verify_target(t, transport.clone(), timeout)))
        .await
        .into_iter()
        .flatten()
        .collect()
}

/// A random 16-hex-char suffix.
fn random_suffix() -> String {
    format!("{:016x}", fastrand::u64(..))
}

/// The probe's key: new and unique every time, under the first allowed
/// prefix when the credentials are limited to prefixes.
pub fn probe_key(settings: &R2Settings) -> String {
    let prefix = match &settings.source {
        Source::Temporary {
            prefixes: Some(prefixes),
            ..
        } => prefixes.first().cloned().unwrap_or_default(),
        _ => String::new(),
    };
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    format!("{prefix}.sesame-verify-probe-{now}-{}", random_suffix())
}

const PROBE_BODY: &[u8] = b"sesame r2 verify write probe; safe to delete\n";

/// What happened to the write probe.
#[derive(Debug)]
pub enum Probe {
    /// PutObject was refused.
    Refused(S3Failure),
    /// 412: something exists under the key; nothing was written.
    Existed,
    /// Written: then read back and deleted (or not).
    Written {
        /// Whether the content read back was what was written.
        read_back: Result<bool, S3Failure>,
        /// Whether it was deleted again.
        deleted: Result<(), S3Failure>,
    },
}

/// Writes a probe at `key` with `If-None-Match: *` (so an existing object is
/// never overwritten), reads it back and deletes it.
pub async fn write_probe(s3: &S3, bucket: &str, key: &str) -> Probe {
    if let Err(failure) = s3.put_object_if_absent(bucket, key, PROBE_BODY).await {
        if failure.status == Some(412) || failure.code_is("PreconditionFailed") {
            return Probe::Existed;
        }
        return Probe::Refused(failure);
    }
    let read_back = s3.get_object(bucket, key).await.map(|body| body == PROBE_BODY);
    let deleted = s3.delete_object(bucket, key).await;
    Probe::Written { read_back, deleted }
}

fn describe_skew(secs: i64) -> String {
    match secs {
        0 => "the clocks agree".to_string(),
        s if s > 0 => format!("the server's clock is {s}s ahead of this machine's"),
        s => format!("the server's clock is {}s behind this machine's", -s),
    }
}

async fn verify_target(target: &Target, transport: Arc<dyn Transport>, timeout: Duration) -> Vec<Check> {
    let name = target.name.as_str();
    let s = &target.settings;
    let bucket = s.bucket.as_str();
    let mut checks = Vec::new();
    if let Some(role) = target.role {
        checks.push(role_check(name, role, s.access));
    }
    let offline = offline(target);
    if offline.status == Status::Fail {
        // Do not send credentials to an endpoint that is wrong on its face.
        checks.push(offline);
        let access_check = if s.access == AccessLevel::ReadWrite {
            "write"
        } else {
            "least-privilege"
        };
        for check in ["credentials", "bucket", "read", access_check, "scope", "token"] {
            checks.push(Check::skip(name, check, "not checked: fix the offline problems first"));
        }
        return checks;
    }
    checks.push(offline);

    let client = S3::new(transport, &s.endpoint, &target.credentials, timeout, 2);
    let key = probe_key(s);
    let list = client.list_objects(bucket, 1);
    let head = client.head_bucket(bucket);
    let list_buckets = client.list_buckets();
    let (list, head, written, listed, token) = tokio::join!(
        list,
        head,
        write_probe(&client, bucket, &key),
        list_buckets,
        token_check(name, &target.token)
    );

    // Credentials: the first answer that says who we are.
    let auth_failure = [list.as_ref().err(), head.as_ref().err()]
        .into_iter()
        .flatten()
        .find(|f| {
            f.transport.is_some()
                || f.is_unknown_key()
                || f.is_bad_signature()
                || f.is_clock_skew()
                || f.is_bad_session()
        })
        .cloned();
    let skew = client.clock.skew_secs();
    let credentials = match (&auth_failure, skew) {
        (Some(f), _) if f.transport.is_some() => Check::fail(
            name,
            "credentials",
            "unreachable",
            format!("no answer from {}: {f}", s.endpoint),
            "check the endpoint (`account_id`, `jurisdiction` or `endpoint`), the network and any proxy",
        ),
        (Some(f), _) if f.is_unknown_key() => Check::fail(
            name,
            "credentials",
            "unknown-access-key",
            format!(
                "the endpoint does not know access key {} ({f})",
                short(&target.credentials.access_key_id)
            ),
            "the Access Key ID is wrong, or its API token was deleted, expired or is not live yet; for a token, the \
             Access Key ID is the token's id",
        ),
        (Some(f), _) if f.is_bad_signature() => Check::fail(
            name,
            "credentials",
            "signature-mismatch",
            format!(
                "the secret does not match access key {} ({f})",
                short(&target.credentials.access_key_id)
            ),
            "use the Secret Access Key shown when the token was created; for an API token it is the SHA-256 of the \
             token value, not the value itself (set `static.token` and sesame derives it)",
        ),
        (Some(f), _) if f.is_bad_session() => Check::fail(
            name,
            "credentials",
            "session-token",
            format!("the session token was refused ({f})"),
            "temporary credentials need their session token (AWS_SESSION_TOKEN) and expire: mint new ones",
        ),
        (Some(f), skew) if f.is_clock_skew() => Check::fail(
            name,
            "credentials",
            "clock-skew",
            format!(
                "the server refused the request time ({f}){}",
                skew.map(|s| format!("; {}", describe_skew(s))).unwrap_or_default()
            ),
            "set this machine's clock right (NTP): SigV4 allows 15 minutes of difference",
        ),
        (_, Some(secs)) if secs.abs() > MAX_SKEW_SECS => Check::fail(
            name,
            "credentials",
            "clock-skew",
            format!("{}: more than the 15 minutes SigV4 allows", describe_skew(secs)),
            "set this machine's clock right (NTP); requests signed here will be refused",
        ),
        (_, skew) => {
            let clock = skew.map(|s| format!("; {}", describe_skew(s))).unwrap_or_default();
            if skew.is_some_and(|s| s.abs() > 5 * 60) {
                Check::warn(
                    name,
                    "credentials",
                    "clock-drift",
                    format!("accepted{clock}"),
                    "set this machine's clock right (NTP) before it drifts past 15 minutes",
                )
            } else {
                Check::pass(name, "credentials", format!("accepted by {}{clock}", s.endpoint))
            }
        }
    };
    let credentials_ok = credentials.status != Status::Fail;
    checks.push(credentials);
    let rejected = "not checked: the credentials were rejected";

    // Bucket.
    let (list_err, head_err) = (list.as_ref().err(), head.as_ref().err());
    let bucket_missing = [list_err, head_err]
        .into_iter()
        .flatten()
        .any(S3Failure::is_no_such_bucket);
    let bucket_check = if !credentials_ok {
        Check::skip(name, "bucket", rejected)
    } else if list.is_ok() || head.is_ok() {
        Check::pass(name, "bucket", format!("`{bucket}` exists"))
    } else if bucket_missing {
        Check::fail(
            name,
            "bucket",
            "no-such-bucket",
            format!("`{bucket}` does not exist at {}", s.endpoint),
            match s.jurisdiction {
                Jurisdiction::Default => {
                    "check the bucket name and account; a bucket in the EU or FedRAMP jurisdiction \
                     only answers at its own endpoint (set `jurisdiction`)"
                        .to_string()
                }
                j => format!(
                    "check the bucket name and account; this lease looks in the `{}` jurisdiction",
                    j.as_str()
                ),
            },
        )
    } else if list_err.is_some_and(S3Failure::is_denied) && head_err.is_some_and(S3Failure::is_denied) {
        Check::fail(
            name,
            "bucket",
            "not-visible",
            format!("access to `{bucket}` is denied, so whether it exists cannot be told"),
            format!("check the bucket name, and that the token's bucket list includes `{bucket}`"),
        )
    } else {
        let f = list.as_ref().err().or(head.as_ref().err()).cloned().unwrap_or_default();
        Check::fail(
            name,
            "bucket",
            "unexpected",
            format!("unexpected answer: {f}"),
            "run with -vv for details",
        )
    };
    checks.push(bucket_check);

    // Read.
    let read = if !credentials_ok {
        Check::skip(name, "read", rejected)
    } else if bucket_missing {
        Check::skip(name, "read", "not checked: no such bucket")
    } else {
        match (&head, &list) {
            (Ok(()), Ok(_)) => Check::pass(name, "read", "HeadBucket and ListObjectsV2 (max-keys 1) allowed"),
            (h, l) => {
                let what: Vec<String> = [("HeadBucket", h.as_ref().err()), ("ListObjectsV2", l.as_ref().err())]
                    .into_iter()
                    .filter_map(|(op, e)| e.map(|e| format!("{op}: {e}")))
                    .collect();
                Check::fail(
                    name,
                    "read",
                    "access-denied",
                    format!("cannot read `{bucket}` ({})", what.join("; ")),
                    format!("give the token {} on `{bucket}`", s.access.r2_name()),
                )
            }
        }
    };
    checks.push(read);

    // Write, or least privilege.
    let location = format!("s3://{bucket}/{key}");
    let write = if !credentials_ok {
        let check = if s.access == AccessLevel::ReadWrite {
            "write"
        } else {
            "least-privilege"
        };
        Check::skip(name, check, rejected)
    } else if bucket_missing {
        let check = if s.access == AccessLevel::ReadWrite {
            "write"
        } else {
            "least-privilege"
        };
        Check::skip(name, check, "not checked: no such bucket")
    } else {
        probe_check(name, s, &location, written)
    };
    checks.push(write);

    // Scope.
    let scope = match listed {
        _ if !credentials_ok => Check::skip(name, "scope", rejected),
        Ok(count) => Check::warn(
            name,
            "scope",
            "account-wide",
            format!("ListBuckets is allowed ({count} bucket(s) visible): the key is not limited to `{bucket}`"),
            format!(
                "create a bucket-specific token ({} on `{bucket}` only), as Cloney's guide advises",
                s.access.r2_name()
            ),
        ),
        Err(f) if f.is_denied() => Check::pass(name, "scope", "ListBuckets denied: the key is bucket-scoped"),
        Err(f) => Check::warn(
            name,
            "scope",
            "inconclusive",
            format!("ListBuckets answered {f}"),
            "nothing to do unless this persists",
        ),
    }
    .optional();
    checks.push(scope);
    checks.push(token);
    checks
}

fn role_check(name: &str, role: Role, access: AccessLevel) -> Check {
    match (role, access) {
        (Role::Source, AccessLevel::Read) => {
            Check::pass(name, "role", "source: read-only, as a migration source should be")
        }
        (Role::Destination, AccessLevel::ReadWrite) => Check::pass(
            name,
            "role",
            "destination: read-write, as a migration destination needs",
        ),
        (Role::Source, AccessLevel::ReadWrite) => Check::fail(
            name,
            "role",
            "source-not-read-only",
            "the source is configured `access = \"read-write\"`",
            "set `access = \"read\"` on the source: a migration only reads it (Cloney: Object Read)",
        ),
        (Role::Destination, AccessLevel::Read) => Check::fail(
            name,
            "role",
            "destination-read-only",
            "the destination is configured `access = \"read\"`",
            "set `access = \"read-write\"` on the destination (Cloney: Object Read & Write)",
        ),
    }
}

fn probe_check(name: &str, s: &R2Settings, location: &str, written: Probe) -> Check {
    let bucket = &s.bucket;
    let left_behind = |f: &S3Failure| format!("the probe {location} could not be deleted ({f}); delete it by hand");
    match (s.access, written) {
        (AccessLevel::ReadWrite, Probe::Written { read_back, deleted }) => match (read_back, deleted) {
            (Ok(true), Ok(())) => Check::pass(
                name,
                "write",
                "PutObject (If-None-Match: *), GetObject and DeleteObject of a new probe worked; probe removed",
            ),
            (_, Err(f)) => Check::fail(
                name,
                "write",
                "probe-left-behind",
                left_behind(&f),
                format!("give the token Object Read & Write on `{bucket}` (deletes are part of it)"),
            ),
            (Ok(false), Ok(())) => Check::fail(
                name,
                "write",
                "read-back-mismatch",
                "the probe read back differs from what was written; probe removed",
                "check for a proxy or gateway that rewrites objects",
            ),
            (Err(f), Ok(())) => Check::fail(
                name,
                "write",
                "read-back-failed",
                format!("the probe was written but could not be read back ({f}); probe removed"),
                format!("give the token Object Read & Write on `{bucket}`"),
            ),
        },
        (AccessLevel::ReadWrite, Probe::Refused(f)) if f.is_denied() => Check::fail(
            name,
            "write",
            "read-only",
            format!("PutObject was denied ({f}): these credentials cannot write to `{bucket}`"),
            format!("a destination needs Object Read & Write on `{bucket}`"),
        ),
        (AccessLevel::ReadWrite, Probe::Refused(f)) => Check::fail(
            name,
            "write",
            "write-failed",
            format!("PutObject failed ({f})"),
            "run with -vv for details",
        ),
        (AccessLevel::ReadWrite, Probe::Existed) | (AccessLevel::Read, Probe::Existed) => {
            let check = if s.access == AccessLevel::Read {
                "least-privilege"
            } else {
                "write"
            };
            let cause = if s.access == AccessLevel::Read {
                "over-privileged"
            } else {
                "probe-exists"
            };
            Check::fail(
                name,
                check,
                cause,
                format!("something already exists at {location}; the conditional write refused to overwrite it"),
                if s.access == AccessLevel::Read {
                    format!("the server evaluated a write, so the key can write: use Object Read only on `{bucket}`")
                } else {
                    "run verify again (the probe name is random)".to_string()
                },
            )
        }
        (AccessLevel::Read, Probe::Refused(f)) if f.is_denied() => Check::pass(
            name,
            "least-privilege",
            "PutObject of a probe was denied, as read-only credentials should be",
        ),
        (AccessLevel::Read, Probe::Refused(f)) => Check::fail(
            name,
            "least-privilege",
            "inconclusive",
            format!("PutObject of a probe failed for another reason than a denial ({f})"),
            "run verify again; if it persists, run with -vv",
        ),
        (AccessLevel::Read, Probe::Written { deleted, .. }) => {
            let cleanup = match &deleted {
                Ok(()) => "it was deleted again".to_string(),
                Err(f) => left_behind(f),
            };
            Check::fail(
                name,
                "least-privilege",
                "over-privileged",
                format!("the probe write SUCCEEDED: these read-only credentials can write to `{bucket}`; {cleanup}"),
                format!(
                    "create a token with Object Read only on `{bucket}` (Cloney: cloney-source-token) and delete this one"
                ),
            )
        }
    }
}

async fn token_check(name: &str, token: &TokenCheck) -> Check {
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
