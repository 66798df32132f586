//! The lease ledger: what sesame has minted and not yet revoked.
//!
//! One JSON file per project under the state directory, mode 0600 in a
//! 0700 directory. Every change takes an exclusive lock on a sibling lock
//! file, reads, modifies, writes a temporary file and renames it over the
//! old one: parallel runs never lose an entry and a crash never leaves a
//! half-written file. A lease is written as `pending` before the backend is
//! asked to mint it, so a crash at any point leaves a trace `sesame lease
//! cleanup` can act on.

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::{private_file, SecretValue};

/// The ledger's on-disk format version.
pub const LEDGER_VERSION: u32 = 1;

/// Where a lease is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LeaseState {
    /// Recorded; the backend has been asked to mint it (or sesame died first).
    Pending,
    /// Minted; credentials may be in use.
    Active,
}

/// One lease in the ledger.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LedgerEntry {
    /// sesame's id for the lease (unique, in the label too).
    pub id: String,
    /// The lease's config name.
    pub lease: String,
    /// The backend type.
    pub backend: String,
    /// The profile in effect when minted.
    pub profile: Option<String>,
    /// The label the credential was minted with.
    pub label: String,
    /// Pending or active.
    pub state: LeaseState,
    /// The backend's id for the credential, once minted.
    pub backend_id: Option<String>,
    /// Seconds since the epoch when recorded.
    pub created_at: u64,
    /// Seconds since the epoch when the credential expires.
    pub expires_at: Option<u64>,
    /// Hash of the lease's config and parent credentials; reuse needs a match.
    pub fingerprint: String,
    /// Whether later runs may reuse it.
    pub reuse: bool,
    /// Whether the backend can revoke it.
    pub revocable: bool,
    /// The process that minted it.
    pub pid: u32,
    /// The credentials (never printed; the file is private to the user).
    #[serde(default)]
    pub env: std::collections::BTreeMap<String, SecretValue>,
    /// Non-secret backend data needed to revoke.
    #[serde(default)]
    pub data: serde_json::Value,
}

impl LedgerEntry {
    /// True when the credential has expired at `now` (seconds).
    pub fn is_expired(&self, now: u64) -> bool {
        self.expires_at.is_some_and(|t| t <= now)
    }
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct LedgerFile {
    version: u32,
    project: String,
    entries: Vec<LedgerEntry>,
}

/// Ledger failures.
#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    /// The file system refused.
    #[error("lease ledger {}: {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not a ledger sesame can read; it is left untouched.
    #[error("lease ledger {} is unreadable ({message}); it was left as it is\n  hint: move it aside to start a new ledger, after revoking what it lists", path.display())]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// Why.
        message: String,
    },
}

/// The ledger of one project.
#[derive(Debug, Clone)]
pub struct Ledger {
    project: String,
    file: PathBuf,
    lock: PathBuf,
}

/// An exclusive lock; released when dropped.
pub type LockGuard = private_file::FileLock;

impl Ledger {
    /// The ledger for `project` (a path or name identifying the project)
    /// under `state_dir`.
    pub fn open(state_dir: &Path, project: &str) -> Self {
        let key = hex(&Sha256::digest(project.as_bytes()))[..16].to_string();
        let dir = state_dir.join("leases");
        Self {
            project: project.to_string(),
            file: dir.join(format!("{key}.json")),
            lock: dir.join(format!("{key}.lock")),
        }
    }

    /// The ledger file's path.
    pub fn path(&self) -> &Path {
        &self.file
    }

    fn io(&self, path: &Path) -> impl FnOnce(std::io::Error) -> LedgerError {
        let path = path.to_path_buf();
        move |source| LedgerError::Io { path, source }
    }

    fn lock_file(&self, path: &Path) -> Result<LockGuard, LedgerError> {
        private_file::lock(path).map_err(self.io(path))
    }

    /// Blocks until this process holds the lock that serialises minting of
    /// one lease, so parallel runs mint once and reuse that.
    pub fn mint_lock(&self, lease: &str) -> Result<LockGuard, LedgerError> {
        self.lock_file(&self.mint_lock_path(lease))
    }

    /// Like [`Ledger::mint_lock`], without waiting: `None` when another
    /// process holds the lock (the common, uncontended case then costs no
    /// thread to wait on).
    pub fn try_mint_lock(&self, lease: &str) -> Result<Option<LockGuard>, LedgerError> {
        let path = self.mint_lock_path(lease);
        private_file::try_lock(&path).map_err(self.io(&path))
    }

    fn mint_lock_path(&self, lease: &str) -> PathBuf {
        let key = hex(&Sha256::digest(lease.as_bytes()))[..12].to_string();
        self.lock.with_extension(format!("{key}.mint.lock"))
    }

    /// All entries (read under the lock, so never a half-written state).
    pub fn entries(&self) -> Result<Vec<LedgerEntry>, LedgerError> {
        if !self.file.exists() {
            return Ok(Vec::new());
        }
        let _guard = self.lock_file(&self.lock)?;
        Ok(self.read()?.entries)
    }

    /// Reads, changes and atomically rewrites the ledger under the lock.
    pub fn update<R>(&self, change: impl FnOnce(&mut Vec<LedgerEntry>) -> R) -> Result<R, LedgerError> {
        let _guard = self.lock_file(&self.lock)?;
        let mut ledger = self.read()?;
        let result = change(&mut ledger.entries);
        ledger.version = LEDGER_VERSION;
        ledger.project = self.project.clone();
        self.write(&ledger)?;
        Ok(result)
    }

    fn read(&self) -> Result<LedgerFile, LedgerError> {
        let text = match std::fs::read_to_string(&self.file) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(LedgerFile::default()),
            Err(e) => return Err(self.io(&self.file)(e)),
        };
        let ledger: LedgerFile = serde_json::from_str(&text).map_err(|e| LedgerError::Corrupt {
            path: self.file.clone(),
            message: e.to_string(),
        })?;
        if ledger.version > LEDGER_VERSION {
            return Err(LedgerError::Corrupt {
                path: self.file.clone(),
                message: format!("written by a newer sesame (format {})", ledger.version),
            });
        }
        Ok(ledger)
    }

    fn write(&self, ledger: &LedgerFile) -> Result<(), LedgerError> {
        let json = serde_json::to_vec_pretty(ledger).expect("ledger serializes");
        private_file::write_atomic(&self.file, &json).map_err(self.io(&self.file))
    }
}

/// Seconds since the Unix epoch.
pub fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// Lowercase hex of bytes.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A fresh id: 16 hex chars, unique across processes and calls.
pub fn new_id() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    let seed = format!(
        "{}:{nanos}:{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    );
    hex(&Sha256::digest(seed.as_bytes()))[..16].to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(id: &str) -> LedgerEntry {
        LedgerEntry {
            id: id.into(),
            lease: "cf".into(),
            backend: "test".into(),
            profile: None,
            label: format!("sesame cf {id}"),
            state: LeaseState::Pending,
            backend_id: None,
            created_at: unix_now(),
            expires_at: None,
            fingerprint: "f".into(),
            reuse: true,
            revocable: true,
            pid: std::process::id(),
            env: [("TOKEN".to_string(), SecretValue::new("ledger-canary"))].into(),
            data: serde_json::Value::Null,
        }
    }

    #[test]
    fn file_is_private_and_round_trips() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let ledger = Ledger::open(dir.path(), "/some/project");
        ledger.update(|e| e.push(entry("a"))).unwrap();
        let mode = std::fs::metadata(ledger.path()).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let entries = ledger.entries().unwrap();
        assert_eq!(entries[0].env["TOKEN"].expose(), "ledger-canary");
        assert!(!format!("{entries:?}").contains("ledger-canary"));
    }

    #[test]
    fn parallel_writers_lose_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let threads: Vec<_> = (0..10)
            .map(|i| {
                let ledger = Ledger::open(dir.path(), "/p");
                std::thread::spawn(move || {
                    for j in 0..20 {
                        ledger.update(|e| e.push(entry(&format!("{i}-{j}")))).unwrap();
                    }
                })
            })
            .collect();
        threads.into_iter().for_each(|t| t.join().unwrap());
        assert_eq!(Ledger::open(dir.path(), "/p").entries().unwrap().len(), 200);
    }

    #[test]
    fn a_corrupt_file_is_reported_and_kept() {
        let dir = tempfile::tempdir().unwrap();
        let ledger = Ledger::open(dir.path(), "/p");
        ledger.update(|_| ()).unwrap();
        std::fs::write(ledger.path(), "{ not json").unwrap();
        let err = ledger.update(|e| e.push(entry("x"))).unwrap_err();
        assert!(err.to_string().contains("unreadable"), "{err}");
        assert_eq!(std::fs::read_to_string(ledger.path()).unwrap(), "{ not json");
    }
}
