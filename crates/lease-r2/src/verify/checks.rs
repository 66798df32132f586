//! One function per check, each reading the [`Evidence`] of one target
//! and the [`Verdict`] on its credentials. No check passes on evidence that
//! is a denial caused by bad credentials: when the credentials are not
//! accepted, the checks that read the server's answers are skipped, saying
//! why.

use crate::config::{AccessLevel, Jurisdiction, R2Settings};
use crate::s3::S3Failure;

use super::evidence::{Evidence, Verdict};
use super::{describe_skew, short, Check, Probe, Role, Target};

/// `role`: `--source` must be `access = "read"`, `--destination`
/// `"read-write"`.
pub(super) fn role_check(name: &str, role: Role, access: AccessLevel) -> Check {
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

/// `credentials`: the verdict on the key, secret, session and clock.
pub(super) fn credentials(target: &Target, evidence: &Evidence, verdict: &Verdict) -> Check {
    let name = target.name.as_str();
    let s = &target.settings;
    let key = short(&target.credentials.access_key_id);
    let bucket = &s.bucket;
    match verdict {
        Verdict::Unreachable(f) => Check::fail(
            name,
            "credentials",
            "unreachable",
            format!("no answer from {}: {f}", s.endpoint),
            "check the endpoint (`account_id`, `jurisdiction` or `endpoint`), the network and any proxy",
        ),
        Verdict::UnknownKey(f) => Check::fail(
            name,
            "credentials",
            "unknown-access-key",
            format!("the endpoint does not know access key {key} ({f})"),
            "the Access Key ID is wrong, or its API token was deleted, expired or is not live yet; for a token, the \
             Access Key ID is the token's id",
        ),
        Verdict::WrongSecret(f) => Check::fail(
            name,
            "credentials",
            "signature-mismatch",
            format!("the secret does not match access key {key} ({f})"),
            "use the Secret Access Key shown when the token was created; for an API token it is the SHA-256 of the \
             token value, not the value itself (set `static.token` and sesame derives it)",
        ),
        Verdict::BadSession(f) => Check::fail(
            name,
            "credentials",
            "session-token",
            format!("the session token was refused ({f})"),
            "temporary credentials need their session token (AWS_SESSION_TOKEN) and expire: mint new ones",
        ),
        Verdict::ClockSkew(Some(f)) => Check::fail(
            name,
            "credentials",
            "clock-skew",
            format!(
                "the server refused the request time ({f}){}",
                evidence
                    .skew
                    .map(|s| format!("; {}", describe_skew(s)))
                    .unwrap_or_default()
            ),
            "set this machine's clock right (NTP): SigV4 allows 15 minutes of difference",
        ),
        Verdict::ClockSkew(None) => Check::fail(
            name,
            "credentials",
            "clock-skew",
            format!(
                "{}: more than the 15 minutes SigV4 allows",
                describe_skew(evidence.skew.unwrap_or_default())
            ),
            "set this machine's clock right (NTP); requests signed here will be refused",
        ),
        Verdict::AllDenied(calls, f) => Check::fail(
            name,
            "credentials",
            "all-denied",
            format!(
                "every call was denied ({}: {f}): the access key {key} is unknown, its secret is wrong, or the key \
                 has no grant at all",
                calls.join(", ")
            ),
            format!(
                "check the Access Key ID and Secret Access Key (copy both again), and that the token grants access to \
                 `{bucket}`"
            ),
        ),
        Verdict::Accepted => {
            let clock = evidence
                .skew
                .map(|s| format!("; {}", describe_skew(s)))
                .unwrap_or_default();
            if evidence.skew.is_some_and(|s| s.abs() > 5 * 60) {
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
    }
}

/// True when the server said the bucket does not exist.
pub(super) fn bucket_missing(evidence: &Evidence) -> bool {
    [evidence.list.as_ref().err(), evidence.head.as_ref().err()]
        .into_iter()
        .flatten()
        .any(S3Failure::is_no_such_bucket)
}

/// `bucket`: ListObjectsV2 and HeadBucket do not answer `NoSuchBucket`.
pub(super) fn bucket(target: &Target, evidence: &Evidence, verdict: &Verdict) -> Check {
    let (name, s) = (target.name.as_str(), &target.settings);
    let bucket = &s.bucket;
    let (list_err, head_err) = (evidence.list.as_ref().err(), evidence.head.as_ref().err());
    if !verdict.accepted() {
        Check::skip(name, "bucket", verdict.skip_reason())
    } else if list_err.is_none() || head_err.is_none() {
        Check::pass(name, "bucket", format!("`{bucket}` exists"))
    } else if bucket_missing(evidence) {
        Check::fail(
            name,
            "bucket",
            "no-such-bucket",
            format!("`{bucket}` does not exist at {}", s.endpoint),
            match s.jurisdiction {
                Jurisdiction::Default => "check the bucket name and account; a bucket in the EU or FedRAMP \
                                          jurisdiction only answers at its own endpoint (set `jurisdiction`)"
                    .to_string(),
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
        let f = list_err.or(head_err).cloned().unwrap_or_default();
        Check::fail(
            name,
            "bucket",
            "unexpected",
            format!("unexpected answer: {f}"),
            "run with -vv for details",
        )
    }
}

/// `read`: HeadBucket and ListObjectsV2 with `max-keys=1` are allowed.
pub(super) fn read(target: &Target, evidence: &Evidence, verdict: &Verdict) -> Check {
    let (name, s) = (target.name.as_str(), &target.settings);
    if !verdict.accepted() {
        return Check::skip(name, "read", verdict.skip_reason());
    }
    if bucket_missing(evidence) {
        return Check::skip(name, "read", "not checked: no such bucket");
    }
    match (&evidence.head, &evidence.list) {
        (Ok(()), Ok(_)) => Check::pass(name, "read", "HeadBucket and ListObjectsV2 (max-keys 1) allowed"),
        (h, l) => {
            let what: Vec<String> = [("HeadBucket", h.as_ref().err()), ("ListObjectsV2", l.as_ref().err())]
                .into_iter()
                .filter_map(|(op, e)| e.map(|e| format!("{op}: {e}")))
                .collect();
            let bucket = &s.bucket;
            Check::fail(
                name,
                "read",
                "access-denied",
                format!("cannot read `{bucket}` ({})", what.join("; ")),
                format!("give the token {} on `{bucket}`", expected_access(target).r2_name()),
            )
        }
    }
}

/// The access the target must have: what its part in a pre-flight needs
/// (a destination writes, a source only reads), else what it is configured
/// with. A destination configured `access = "read"` fails `role`, and its
/// write check then tells what the migration needs, not the opposite.
pub(super) fn expected_access(target: &Target) -> AccessLevel {
    match target.role {
        Some(Role::Source) => AccessLevel::Read,
        Some(Role::Destination) => AccessLevel::ReadWrite,
        None => target.settings.access,
    }
}

/// `write` (targets that must write) or `least-privilege` (targets that
/// must only read): the probe.
pub(super) fn access(target: &Target, evidence: &Evidence, verdict: &Verdict) -> Check {
    let name = target.name.as_str();
    let expects = expected_access(target);
    let check = access_check_name(expects);
    if !verdict.accepted() {
        Check::skip(name, check, verdict.skip_reason())
    } else if bucket_missing(evidence) {
        Check::skip(name, check, "not checked: no such bucket")
    } else {
        probe_check(name, &target.settings, expects, &evidence.location, &evidence.probe)
    }
}

/// `write` or `least-privilege`.
pub(super) fn access_check_name(expects: AccessLevel) -> &'static str {
    match expects {
        AccessLevel::ReadWrite => "write",
        AccessLevel::Read => "least-privilege",
    }
}

/// `scope` (warns only): ListBuckets allowed and showing buckets other than
/// this run's means the key is not bucket-scoped.
pub(super) fn scope(target: &Target, evidence: &Evidence, verdict: &Verdict, run_buckets: &[String]) -> Check {
    let (name, s) = (target.name.as_str(), &target.settings);
    let bucket = &s.bucket;
    match &evidence.listed {
        _ if !verdict.accepted() => Check::skip(name, "scope", verdict.skip_reason()),
        Ok(names) if names.iter().all(|n| run_buckets.contains(n)) => Check::pass(
            name,
            "scope",
            if names.is_empty() {
                "ListBuckets shows no bucket".to_string()
            } else {
                format!(
                    "ListBuckets shows only buckets of this run ({})",
                    names.iter().map(|n| format!("`{n}`")).collect::<Vec<_>>().join(", ")
                )
            },
        ),
        Ok(names) => {
            let others: Vec<String> = names
                .iter()
                .filter(|n| !run_buckets.contains(n))
                .take(5)
                .map(|n| format!("`{n}`"))
                .collect();
            Check::warn(
                name,
                "scope",
                "account-wide",
                format!(
                    "ListBuckets shows {} bucket(s), also others than this run's ({}): the key is not limited to \
                     `{bucket}`",
                    names.len(),
                    others.join(", ")
                ),
                format!(
                    "create a bucket-specific token ({} on `{bucket}` only), as Cloney's guide advises",
                    expected_access(target).r2_name()
                ),
            )
        }
        Err(f) if f.is_denied() => Check::pass(name, "scope", "ListBuckets denied: the key is bucket-scoped"),
        Err(f) => Check::warn(
            name,
            "scope",
            "inconclusive",
            format!("ListBuckets answered {f}"),
            "nothing to do unless this persists",
        ),
    }
    .optional()
}

fn probe_check(name: &str, s: &R2Settings, expects: AccessLevel, location: &str, written: &Probe) -> Check {
    let bucket = &s.bucket;
    let left_behind = |f: &S3Failure| format!("the probe {location} could not be deleted ({f}); delete it by hand");
    match (expects, written) {
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
                left_behind(f),
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
            let check = if expects == AccessLevel::Read {
                "least-privilege"
            } else {
                "write"
            };
            let cause = if expects == AccessLevel::Read {
                "over-privileged"
            } else {
                "probe-exists"
            };
            Check::fail(
                name,
                check,
                cause,
                format!("something already exists at {location}; the conditional write refused to overwrite it"),
                if expects == AccessLevel::Read {
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
