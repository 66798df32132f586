//! fnox's `as_file`: a secret's value in a private file whose path the
//! command gets, removed when the command ends.
//!
//! Each run writes its files into its own 0700 directory under
//! `STATE/files/` (0600 files) and holds an exclusive lock on a sibling
//! `.lock` file while the command runs. [`SecretFiles`] removes both when
//! dropped. A run killed with SIGKILL cannot clean up: the next run (and
//! `sesame lease cleanup`) calls [`sweep`], which removes every directory
//! whose lock nobody holds, since the process that held it is gone.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::private_file::{self, FileLock};
use crate::SecretValue;

/// The directory below the state directory that holds the runs' files.
pub fn files_dir(state_dir: &Path) -> PathBuf {
    state_dir.join("files")
}

/// One run's secret files; removed when dropped.
#[derive(Debug)]
pub struct SecretFiles {
    dir: PathBuf,
    lock_path: PathBuf,
    _lock: FileLock,
}

impl SecretFiles {
    /// Writes each value to `NAME` in a new private directory and returns
    /// the files (kept until dropped) and, per secret, the path the command
    /// gets instead of the value.
    pub fn write(
        state_dir: &Path,
        values: &[(&str, &SecretValue)],
    ) -> std::io::Result<(Self, BTreeMap<String, SecretValue>)> {
        use std::os::unix::fs::OpenOptionsExt;
        let root = files_dir(state_dir);
        private_file::ensure_private_dir(&root)?;
        let dir = tempfile::Builder::new()
            .prefix(&format!("run-{}-", std::process::id()))
            .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o700))
            .tempdir_in(&root)?
            .keep();
        let lock_path = dir.with_extension("lock");
        let lock = private_file::try_lock(&lock_path)?.ok_or_else(|| std::io::Error::other("lock is taken"))?;
        let files = Self {
            dir: dir.clone(),
            lock_path,
            _lock: lock,
        };
        let mut paths = BTreeMap::new();
        for (name, value) in values {
            let path = dir.join(name);
            let mut file = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&path)?;
            file.write_all(value.expose().as_bytes())?;
            file.sync_all()?;
            paths.insert(name.to_string(), SecretValue::new(path.to_string_lossy().into_owned()));
        }
        Ok((files, paths))
    }

    /// The directory holding the files.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

impl Drop for SecretFiles {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
        let _ = std::fs::remove_file(&self.lock_path);
    }
}

/// [`sweep`], logging how many it removed (at `-v`) or why it could not
/// (a warning): a run goes on either way.
pub fn sweep_and_log(state_dir: &Path) {
    match sweep(state_dir) {
        Ok(0) => {}
        Ok(n) => tracing::info!(count = n, "removed secret files left by killed runs"),
        Err(e) => tracing::warn!("cannot sweep old secret files: {e}"),
    }
}

/// Removes the files of runs that ended without cleaning up (killed with
/// SIGKILL): every run directory whose lock no process holds. Returns how
/// many directories it removed.
pub fn sweep(state_dir: &Path) -> std::io::Result<usize> {
    let root = files_dir(state_dir);
    let entries = match std::fs::read_dir(&root) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(e),
    };
    let mut removed = 0;
    for entry in entries.flatten() {
        let path = entry.path();
        let is_run = path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with("run-") && !n.ends_with(".lock"));
        if !is_run || !path.is_dir() {
            continue;
        }
        let lock_path = path.with_extension("lock");
        // A live run holds its lock; one that just made its directory and
        // has not locked yet is younger than a second.
        let young = entry
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age.as_secs() < 2);
        if young && !lock_path.exists() {
            continue;
        }
        if let Some(_free) = private_file::try_lock(&lock_path)? {
            std::fs::remove_dir_all(&path)?;
            let _ = std::fs::remove_file(&lock_path);
            removed += 1;
        }
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn files_are_private_exact_and_removed_on_drop() {
        let state = tempfile::tempdir().unwrap();
        let value = SecretValue::new("line one\nline two\n");
        let (files, paths) = SecretFiles::write(state.path(), &[("KEY", &value)]).unwrap();
        let path = PathBuf::from(paths["KEY"].expose());
        assert_eq!(std::fs::read(&path).unwrap(), b"line one\nline two\n");
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&path), 0o600);
        assert_eq!(mode(files.dir()), 0o700);
        // A sweep while the run is alive leaves it alone.
        assert_eq!(sweep(state.path()).unwrap(), 0);
        assert!(path.exists());
        drop(files);
        assert!(!path.exists());
        assert_eq!(std::fs::read_dir(files_dir(state.path())).unwrap().count(), 0);
    }

    #[test]
    fn sweep_removes_what_a_dead_run_left() {
        let state = tempfile::tempdir().unwrap();
        let value = SecretValue::new("v");
        let (files, paths) = SecretFiles::write(state.path(), &[("KEY", &value)]).unwrap();
        // This run's lock stays held (as by a live sesame); an orphan is a
        // directory whose lock nobody holds, as SIGKILL leaves it.
        std::mem::forget(files);
        let orphan = files_dir(state.path()).join("run-999999-orphan");
        std::fs::create_dir(&orphan).unwrap();
        std::fs::write(orphan.join("KEY"), "v").unwrap();
        std::fs::write(orphan.with_extension("lock"), "").unwrap();
        assert_eq!(sweep(state.path()).unwrap(), 1);
        assert!(!orphan.exists());
        assert!(
            PathBuf::from(paths["KEY"].expose()).exists(),
            "a held lock keeps its run"
        );
    }
}
