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
//! | `credentials` | yes | from every answer together (see [`evidence`]): unknown key, wrong secret (by code or message), session, clock skew from the server's `Date`; every call denied = unknown key, wrong secret or no grant |
//! | `bucket` | yes | `ListObjectsV2`/`HeadBucket` do not answer `NoSuchBucket` |
//! | `read` | yes | `HeadBucket` and `ListObjectsV2` with `max-keys=1` |
//! | `write` | read-write targets, destinations | `PutObject` of a uniquely named probe with `If-None-Match: *`, read back, delete |
//! | `least-privilege` | read targets, sources | the same probe must be denied; if it is written, it is deleted and the check fails |
//! | `scope` | no (warns) | `ListBuckets` showing buckets this run does not target means the key is not bucket-scoped |
//!
//! Checks that read the server's answers (`bucket`, `read`, `write`,
//! `least-privilege`, `scope`) are skipped unless the credentials were
//! accepted: a denial caused by bad credentials proves nothing about them.
//! One function per check, in [`checks`].
//! | `token` | yes, when held | the Cloudflare token's status and expiry (warns when it never expires) |
//!
//! Nothing depends on `ListBuckets` or `CreateBucket` to pass: R2's object
//! tokens may call neither. The probe can never overwrite data (`If-None-Match:
//! *` on a new random key) and is always deleted when it was written.

mod checks;
mod evidence;
mod offline;
mod token;

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use serde::Serialize;
use sesame_lease_cloudflare::api::{Client, Owner};

use crate::config::{R2Settings, Source};
use crate::lease::VerifiedToken;
use crate::s3::{S3Credentials, S3Failure, Transport, S3};

pub use evidence::{Evidence, Verdict};
pub use offline::{offline, short};

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
    let buckets: Vec<String> = targets.iter().map(|t| t.settings.bucket.clone()).collect();
    futures_util::future::join_all(
        targets
            .iter()
            .map(|t| verify_target(t, transport.clone(), timeout, &buckets)),
    )
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

async fn verify_target(
    target: &Target,
    transport: Arc<dyn Transport>,
    timeout: Duration,
    run_buckets: &[String],
) -> Vec<Check> {
    let name = target.name.as_str();
    let mut out = Vec::new();
    if let Some(role) = target.role {
        out.push(checks::role_check(name, role, target.settings.access));
    }
    let offline = offline(target);
    if offline.status == Status::Fail {
        // Do not send credentials to an endpoint that is wrong on its face.
        out.push(offline);
        let access = checks::access_check_name(checks::expected_access(target));
        for check in ["credentials", "bucket", "read", access, "scope", "token"] {
            out.push(Check::skip(name, check, "not checked: fix the offline problems first"));
        }
        return out;
    }
    out.push(offline);
    let (evidence, token) = tokio::join!(
        Evidence::gather(target, transport, timeout),
        token::token_check(name, &target.token)
    );
    let verdict = evidence.credentials();
    out.extend([
        checks::credentials(target, &evidence, &verdict),
        checks::bucket(target, &evidence, &verdict),
        checks::read(target, &evidence, &verdict),
        checks::access(target, &evidence, &verdict),
        checks::scope(target, &evidence, &verdict, run_buckets),
        token,
    ]);
    out
}
