//! Files only the user may read: a 0700 directory, 0600 files written
//! atomically (temporary file, fsync, rename), and exclusive locks on a
//! sibling lock file so concurrent sesame processes take turns.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::Path;

/// Creates `dir` (and parents) with mode 0700 if missing.
pub fn ensure_private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir)
}

/// An exclusive lock on a file; released when dropped.
#[derive(Debug)]
pub struct FileLock {
    _file: File,
}

/// Blocks until this process holds an exclusive lock on `path` (created
/// with mode 0600 if missing).
pub fn lock(path: &Path) -> std::io::Result<FileLock> {
    use std::os::unix::fs::OpenOptionsExt;
    if let Some(dir) = path.parent() {
        ensure_private_dir(dir)?;
    }
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(0o600)
        .open(path)?;
    file.lock()?;
    Ok(FileLock { _file: file })
}

/// Like [`lock`], without waiting: `None` when another process holds it.
pub fn try_lock(path: &Path) -> std::io::Result<Option<FileLock>> {
    use std::os::unix::fs::OpenOptionsExt;
    if let Some(dir) = path.parent() {
        ensure_private_dir(dir)?;
    }
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(0o600)
        .open(path)?;
    match file.try_lock() {
        Ok(()) => Ok(Some(FileLock { _file: file })),
        Err(std::fs::TryLockError::WouldBlock) => Ok(None),
        Err(std::fs::TryLockError::Error(e)) => Err(e),
    }
}

/// Replaces `path` with `bytes` atomically: readers see the old file or the
/// new one, never a mix, and a crash leaves the old one.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let dir = path.parent().unwrap_or(Path::new("."));
    ensure_private_dir(dir)?;
    let mut temp = tempfile::Builder::new()
        .prefix(".sesame-")
        .permissions(std::fs::Permissions::from_mode(0o600))
        .tempfile_in(dir)?;
    temp.write_all(bytes)?;
    temp.as_file().sync_all()?;
    temp.persist(path).map_err(|e| e.error)?;
    Ok(())
}
