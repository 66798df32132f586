//! What the server answered to one target's calls, and what those answers
//! say about the credentials taken together.
//!
//! A server's answer to bad credentials differs from server to server:
//! Amazon S3 says `InvalidAccessKeyId` or `SignatureDoesNotMatch`, R2 says
//! 401 for an unknown key, Garage says `403 AccessDenied` for both and tells
//! them apart only in the message (`No such key: GK...`, `Invalid
//! signature`). So the verdict comes from the code, the message and which
//! calls were denied together: a server that denied every call has said
//! nothing about what the key may do.

use std::sync::Arc;
use std::time::Duration;

use crate::s3::{S3Failure, Transport, S3};

use super::{probe_key, write_probe, Probe, Target, MAX_SKEW_SECS};

/// The answers to one target's calls, made concurrently.
#[derive(Debug)]
pub struct Evidence {
    /// `ListObjectsV2` with `max-keys=1` on the bucket.
    pub list: Result<u64, S3Failure>,
    /// `HeadBucket`.
    pub head: Result<(), S3Failure>,
    /// The write probe (PutObject with `If-None-Match: *`, read back, delete).
    pub probe: Probe,
    /// `ListBuckets`: the names visible.
    pub listed: Result<Vec<String>, S3Failure>,
    /// The server's clock against ours, in seconds, if it sent a `Date`.
    pub skew: Option<i64>,
    /// Where the probe was written, `s3://bucket/key`.
    pub location: String,
}

impl Evidence {
    /// Makes every call for `target` at once.
    pub async fn gather(target: &Target, transport: Arc<dyn Transport>, timeout: Duration) -> Self {
        let s = &target.settings;
        let bucket = s.bucket.as_str();
        let client = S3::new(transport, &s.endpoint, &target.credentials, timeout, 2);
        let key = probe_key(s);
        let (list, head, probe, listed) = tokio::join!(
            client.list_objects(bucket, 1),
            client.head_bucket(bucket),
            write_probe(&client, bucket, &key),
            client.list_buckets(),
        );
        Self {
            list,
            head,
            probe,
            listed,
            skew: client.clock.skew_secs(),
            location: format!("s3://{bucket}/{key}"),
        }
    }

    /// Every call that failed, with its name.
    pub fn failures(&self) -> Vec<(&'static str, &S3Failure)> {
        let probe = match &self.probe {
            Probe::Refused(f) => Some(f),
            _ => None,
        };
        [
            ("ListObjectsV2", self.list.as_ref().err()),
            ("HeadBucket", self.head.as_ref().err()),
            ("PutObject", probe),
            ("ListBuckets", self.listed.as_ref().err()),
        ]
        .into_iter()
        .filter_map(|(op, f)| f.map(|f| (op, f)))
        .collect()
    }

    /// True when at least one call was allowed: the server knows the key.
    pub fn any_allowed(&self) -> bool {
        self.list.is_ok() || self.head.is_ok() || self.listed.is_ok() || !matches!(self.probe, Probe::Refused(_))
    }

    /// What the answers say about the credentials.
    pub fn credentials(&self) -> Verdict {
        let failures = self.failures();
        let first = |test: fn(&S3Failure) -> bool| failures.iter().map(|(_, f)| *f).find(|f| test(f)).cloned();
        // Only the bucket calls: a proxy may answer ListBuckets differently.
        let bucket_calls = [self.list.as_ref().err(), self.head.as_ref().err()];
        if let Some(f) = bucket_calls.into_iter().flatten().find(|f| f.transport.is_some()) {
            return Verdict::Unreachable(f.clone());
        }
        if let Some(f) = first(S3Failure::is_unknown_key) {
            return Verdict::UnknownKey(f);
        }
        if let Some(f) = first(S3Failure::is_bad_signature) {
            return Verdict::WrongSecret(f);
        }
        if let Some(f) = first(S3Failure::is_bad_session) {
            return Verdict::BadSession(f);
        }
        if let Some(f) = first(S3Failure::is_clock_skew) {
            return Verdict::ClockSkew(Some(f));
        }
        if self.skew.is_some_and(|s| s.abs() > MAX_SKEW_SECS) {
            return Verdict::ClockSkew(None);
        }
        if !self.any_allowed() && failures.iter().all(|(_, f)| f.is_denied()) {
            let calls = failures.iter().map(|(op, _)| *op).collect();
            return Verdict::AllDenied(calls, failures[0].1.clone());
        }
        Verdict::Accepted
    }
}

/// What the server's answers, together, say about the credentials.
#[derive(Debug, Clone)]
pub enum Verdict {
    /// No answer from the endpoint.
    Unreachable(S3Failure),
    /// The server does not know the access key.
    UnknownKey(S3Failure),
    /// The secret does not match the key.
    WrongSecret(S3Failure),
    /// The session token of temporary credentials was refused.
    BadSession(S3Failure),
    /// The clocks differ by more than SigV4 allows.
    ClockSkew(Option<S3Failure>),
    /// Every call was denied and none was allowed: the key is unknown, the
    /// secret wrong, or the key has no grant at all. Nothing else can be
    /// told from denials alone.
    AllDenied(Vec<&'static str>, S3Failure),
    /// The server knows the key: at least one call was allowed, or the
    /// denials were about permissions.
    Accepted,
}

impl Verdict {
    /// True when the checks that read the server's answers can be trusted.
    pub fn accepted(&self) -> bool {
        matches!(self, Self::Accepted)
    }

    /// Why the checks that need accepted credentials were not made.
    pub fn skip_reason(&self) -> &'static str {
        match self {
            Self::Accepted => "",
            Self::Unreachable(_) => "not checked: the endpoint did not answer",
            Self::AllDenied(..) => "not checked: every call was denied, which proves nothing about this",
            _ => "not checked: the credentials were rejected",
        }
    }
}
