//! The user's trust store: which project files they trusted, each with the
//! SHA-256 of the content trusted (see [`crate::trust`] for what trust
//! allows). Loading a config asks it for each file's [`TrustState`].

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::{SourceKind, TrustState};
use crate::ledger::{hex, unix_now};
use crate::private_file;

/// One trusted file.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TrustedFile {
    /// Absolute path.
    pub path: PathBuf,
    /// Lowercase hex SHA-256 of the content trusted.
    pub sha256: String,
    /// Seconds since the epoch when trusted.
    pub trusted_at: u64,
}

impl TrustedFile {
    /// Where the file stands now, as `sesame trust --list` shows it:
    /// `trusted`, `changed since trusted` or `missing`.
    pub fn state_now(&self) -> &'static str {
        match std::fs::read_to_string(&self.path) {
            Ok(text) if content_hash(&text) == self.sha256 => "trusted",
            Ok(_) => "changed since trusted",
            Err(_) => "missing",
        }
    }
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct StoreFile {
    version: u32,
    files: Vec<TrustedFile>,
}

/// Trust store failures.
#[derive(Debug, thiserror::Error)]
pub enum TrustError {
    /// The file system refused.
    #[error("trust store {}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The store is not readable; it is left as it is.
    #[error("trust store {} is unreadable ({message}); it was left as it is\n  hint: move it aside and trust your files again", path.display())]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// Why.
        message: String,
    },
}

/// The user's trust store (`trusted.json` in sesame's config directory).
#[derive(Debug, Clone)]
pub struct TrustStore {
    path: PathBuf,
    trust_all: bool,
}

/// The SHA-256 of a file's content, as stored.
pub fn content_hash(text: &str) -> String {
    hex(&Sha256::digest(text.as_bytes()))
}

impl TrustStore {
    /// The store at `path`; `trust_all` (from `SESAME_TRUST_ALL`) trusts every file.
    pub fn new(path: PathBuf, trust_all: bool) -> Self {
        Self { path, trust_all }
    }

    /// The store file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Every trusted file.
    pub fn list(&self) -> Result<Vec<TrustedFile>, TrustError> {
        Ok(self.read()?.files)
    }

    /// The trust state of a file of this kind with this content.
    pub fn state(&self, path: &Path, kind: SourceKind, text: &str) -> Result<TrustState, TrustError> {
        if matches!(kind, SourceKind::Global | SourceKind::Explicit) {
            return Ok(TrustState::Own);
        }
        if self.trust_all {
            return Ok(TrustState::TrustAll);
        }
        // Hash only a file the store knows: most runs in an untrusted
        // checkout never need it.
        Ok(match self.read()?.files.iter().find(|f| f.path == path) {
            Some(f) if f.sha256 == content_hash(text) => TrustState::Trusted,
            Some(_) => TrustState::Changed,
            None => TrustState::Untrusted,
        })
    }

    /// Records `path` with its current content as trusted.
    pub fn trust(&self, path: &Path, text: &str) -> Result<(), TrustError> {
        let entry = TrustedFile {
            path: path.to_path_buf(),
            sha256: content_hash(text),
            trusted_at: unix_now(),
        };
        self.update(|files| {
            files.retain(|f| f.path != path);
            files.push(entry);
        })
    }

    /// Forgets `path`; returns whether it was trusted.
    pub fn revoke(&self, path: &Path) -> Result<bool, TrustError> {
        self.update(|files| {
            let before = files.len();
            files.retain(|f| f.path != path);
            before != files.len()
        })
    }

    fn io(&self) -> impl FnOnce(std::io::Error) -> TrustError + '_ {
        move |source| TrustError::Io {
            path: self.path.clone(),
            source,
        }
    }

    fn read(&self) -> Result<StoreFile, TrustError> {
        let text = match std::fs::read_to_string(&self.path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(StoreFile::default()),
            Err(e) => return Err(self.io()(e)),
        };
        serde_json::from_str(&text).map_err(|e| TrustError::Corrupt {
            path: self.path.clone(),
            message: e.to_string(),
        })
    }

    fn update<R>(&self, change: impl FnOnce(&mut Vec<TrustedFile>) -> R) -> Result<R, TrustError> {
        let _lock = private_file::lock(&self.path.with_extension("lock")).map_err(self.io())?;
        let mut store = self.read()?;
        let result = change(&mut store.files);
        store.version = 1;
        store.files.sort_by(|a, b| a.path.cmp(&b.path));
        let json = serde_json::to_vec_pretty(&store).expect("store serializes");
        private_file::write_atomic(&self.path, &json).map_err(self.io())?;
        Ok(result)
    }
}
