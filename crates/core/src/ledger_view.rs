//! Views of the lease ledger for people and programs: an entry's status,
//! finding an entry by id, and times as `sesame lease` prints them. The
//! binary only prints what these return.

use std::time::{Duration, UNIX_EPOCH};

use crate::duration::format_duration;
use crate::ledger::{LeaseState, LedgerEntry};
use crate::process::process_alive;

/// Where a ledger entry stands, as `sesame lease list` shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryStatus {
    /// Minted and in its lifetime.
    Active,
    /// Its lifetime is over.
    Expired,
    /// Being minted by a live run.
    Minting,
    /// sesame died while minting it.
    Interrupted,
    /// `reuse = false`, and the run that should have revoked it is gone.
    Abandoned,
}

impl EntryStatus {
    /// The entry's status at `now` (seconds since the epoch).
    pub fn of(entry: &LedgerEntry, now: u64) -> Self {
        let alive = process_alive(entry.pid);
        match entry.state {
            _ if entry.is_expired(now) => Self::Expired,
            LeaseState::Pending if alive => Self::Minting,
            LeaseState::Pending => Self::Interrupted,
            LeaseState::Active if !entry.reuse && entry.pid != 0 && !alive => Self::Abandoned,
            LeaseState::Active => Self::Active,
        }
    }

    /// The word `sesame lease list` prints (docs/reference/json.md).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Expired => "expired",
            Self::Minting => "minting",
            Self::Interrupted => "interrupted",
            Self::Abandoned => "abandoned",
        }
    }
}

/// Why [`find_entry`] found no single entry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FindError {
    /// Nothing matches.
    #[error("no lease with id `{0}` in this project's ledger\n  hint: run `sesame lease list` to see the ids")]
    NotFound(String),
    /// More than one entry starts with the prefix.
    #[error("`{0}` matches several leases\n  hint: give the whole id (see `sesame lease list`)")]
    Ambiguous(String),
}

/// The entry whose id (or credential id at the service) is `wanted`, or
/// whose id starts with it (at least 4 characters).
pub fn find_entry<'a>(entries: &'a [LedgerEntry], wanted: &str) -> Result<&'a LedgerEntry, FindError> {
    let wanted = wanted.trim();
    let exact: Vec<&LedgerEntry> = entries
        .iter()
        .filter(|e| e.id == wanted || e.backend_id.as_deref() == Some(wanted))
        .collect();
    let matches = if exact.is_empty() && wanted.len() >= 4 {
        entries.iter().filter(|e| e.id.starts_with(wanted)).collect()
    } else {
        exact
    };
    match matches.as_slice() {
        [one] => Ok(one),
        [] => Err(FindError::NotFound(wanted.to_string())),
        _ => Err(FindError::Ambiguous(wanted.to_string())),
    }
}

/// The columns of `sesame lease list` as a table.
pub const TABLE_HEADER: [&str; 8] = [
    "ID",
    "LEASE",
    "TYPE",
    "STATUS",
    "EXPIRES",
    "REUSE",
    "REVOCABLE",
    "VARIABLES",
];

/// One entry as a row under [`TABLE_HEADER`]: never the credential values.
pub fn entry_row(e: &LedgerEntry, now: u64) -> Vec<String> {
    let yes_no = |b: bool| if b { "yes" } else { "no" }.to_string();
    vec![
        e.id.clone(),
        e.lease.clone(),
        e.backend.clone(),
        EntryStatus::of(e, now).as_str().to_string(),
        e.expires_at.map_or_else(|| "-".into(), |t| relative_time(t, now)),
        yes_no(e.reuse),
        yes_no(e.revocable),
        e.env.keys().cloned().collect::<Vec<_>>().join(","),
    ]
}

/// One entry as `sesame lease list --format json` shows it
/// (docs/reference/json.md): everything but the credential values.
pub fn entry_json(e: &LedgerEntry, now: u64) -> serde_json::Value {
    serde_json::json!({
        "id": e.id,
        "lease": e.lease,
        "type": e.backend,
        "profile": e.profile,
        "status": EntryStatus::of(e, now).as_str(),
        "state": e.state,
        "label": e.label,
        "credential_id": e.backend_id,
        "created_at": format_time(e.created_at),
        "expires_at": e.expires_at.map(format_time),
        "expires_in_seconds": e.expires_at.map(|t| t as i64 - now as i64),
        "reuse": e.reuse,
        "revocable": e.revocable,
        "pid": (e.pid != 0).then_some(e.pid),
        "variables": e.env.keys().collect::<Vec<_>>(),
    })
}

/// The entries `sesame lease list` shows: all, or only those still valid
/// (`active`), or only expired ones (`expired`).
pub fn listed(entries: Vec<LedgerEntry>, active: bool, expired: bool, now: u64) -> Vec<LedgerEntry> {
    entries
        .into_iter()
        .filter(|e| {
            let past = e.is_expired(now);
            (!active || (!past && e.state == LeaseState::Active)) && (!expired || past)
        })
        .collect()
}

/// Whether `entry` is valid and cannot be revoked one by one: it stays
/// valid until it expires, whatever sesame does.
pub fn outlives_revoke(entry: &LedgerEntry, now: u64) -> bool {
    !entry.revocable && entry.state == LeaseState::Active && !entry.is_expired(now)
}

/// Seconds since the epoch as RFC 3339 UTC (`2026-07-01T05:20:00Z`).
pub fn format_time(secs: u64) -> String {
    humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_secs(secs)).to_string()
}

/// `in 59m`, `now` or `3m ago`.
pub fn relative_time(at: u64, now: u64) -> String {
    if at > now {
        format!("in {}", format_duration(Duration::from_secs(at - now)))
    } else if at == now {
        "now".into()
    } else {
        format!("{} ago", format_duration(Duration::from_secs(now - at)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::unix_now;

    #[test]
    fn formats_times() {
        assert_eq!(format_time(0), "1970-01-01T00:00:00Z");
        assert_eq!(format_time(1_782_883_200), "2026-07-01T05:20:00Z");
        assert_eq!(format_time(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(relative_time(100, 40), "in 1m");
        assert_eq!(relative_time(40, 100), "1m ago");
    }

    fn entry(id: &str, backend_id: &str) -> LedgerEntry {
        LedgerEntry {
            id: id.into(),
            lease: "cf".into(),
            backend: "test".into(),
            profile: None,
            label: String::new(),
            state: LeaseState::Active,
            backend_id: Some(backend_id.into()),
            created_at: unix_now(),
            expires_at: Some(unix_now() + 3600),
            fingerprint: String::new(),
            reuse: true,
            revocable: true,
            pid: 0,
            env: Default::default(),
            data: serde_json::Value::Null,
        }
    }

    #[test]
    fn finds_by_id_credential_id_or_unique_prefix() {
        let entries = [entry("abcd1111", "tok-1"), entry("abcd2222", "tok-2")];
        assert_eq!(find_entry(&entries, "abcd2222").unwrap().id, "abcd2222");
        assert_eq!(find_entry(&entries, " tok-1 ").unwrap().id, "abcd1111");
        assert_eq!(find_entry(&entries, "abcd1").unwrap().id, "abcd1111");
        assert_eq!(
            find_entry(&entries, "abcd").unwrap_err(),
            FindError::Ambiguous("abcd".into())
        );
        assert_eq!(
            find_entry(&entries, "abc").unwrap_err(),
            FindError::NotFound("abc".into())
        );
        assert_eq!(EntryStatus::of(&entries[0], unix_now()), EntryStatus::Active);
        assert_eq!(EntryStatus::of(&entries[0], unix_now() + 7200), EntryStatus::Expired);
    }
}
