//! The lock files behind the per-endpoint tunnel slots: where they live (the user's private
//! runtime directory, `$XDG_RUNTIME_DIR`, else the cache directory), the private-directory
//! check, and the non-blocking exclusive lock the OS drops when the process ends (`flock`
//! on Unix, `LockFileEx` on Windows, both through std's `File::try_lock`).

use std::fs::{File, OpenOptions, TryLockError};
use std::io;
use std::path::{Path, PathBuf};

use super::private::{self, OpenPrivate};

/// `eic-ssh/slots` under `$XDG_RUNTIME_DIR` (Unix), else under the cache base
/// (`$XDG_CACHE_HOME`, `~/.cache`; `%LOCALAPPDATA%` on Windows); `None` without either.
pub fn base() -> Option<PathBuf> {
    #[cfg(unix)]
    if let Some(run) = std::env::var_os("XDG_RUNTIME_DIR").filter(|v| !v.is_empty()) {
        return Some(PathBuf::from(run).join("eic-ssh").join("slots"));
    }
    super::paths::cache_base().map(|b| b.join("eic-ssh").join("slots"))
}

/// Creates `dir` (mode 0700) when missing, then checks it is a real directory (not a
/// symlink) owned by this user that nobody else may enter: another user must not be able
/// to hold this user's slots, nor read which endpoints are in use.
pub fn private_dir(dir: &Path) -> io::Result<()> {
    private::make_dir(dir, private::Others::Nothing)
}

/// Opens (creating, mode 0600) the lock file `path`, never through a symlink.
fn open(path: &Path) -> io::Result<File> {
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .private_mode(0o600)
        .no_follow()
        .open(path)?;
    let meta = file.metadata()?;
    if !meta.is_file() || !private::is_mine(&meta) {
        return Err(io::Error::other(format!(
            "{} is not a regular file of this user",
            path.display()
        )));
    }
    Ok(file)
}

/// Takes the exclusive lock on `path` without waiting: `Some(file)` holds it until the
/// file is closed (or the process ends), `None` when someone holds it.
pub fn try_lock(path: &Path) -> io::Result<Option<File>> {
    let file = open(path)?;
    match file.try_lock() {
        Ok(()) => Ok(Some(file)),
        Err(TryLockError::WouldBlock) => Ok(None),
        Err(TryLockError::Error(e)) => Err(e),
    }
}

/// Takes the exclusive lock on `path`, waiting for it: only for locks held for a few
/// microseconds (the count-and-take of a slot).
pub fn lock(path: &Path) -> io::Result<File> {
    let file = open(path)?;
    file.lock()?;
    Ok(file)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lock_is_exclusive_until_its_file_closes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("0.lock");
        let held = try_lock(&path).unwrap().expect("free at first");
        // A second open file description conflicts, even in the same process.
        assert!(try_lock(&path).unwrap().is_none());
        drop(held);
        assert!(try_lock(&path).unwrap().is_some());
    }
}
