//! The per-user cache files (egress IP, routes): read only when nobody but this user could
//! have written them, written atomically, private, in a directory only this user can write.

use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::local::private as local;

/// Whether `meta` belongs to this user and nobody else can write it (or, with
/// `private`, read it either).
fn owned_and_private(meta: &std::fs::Metadata, private: bool) -> std::io::Result<()> {
    let forbidden = if private { 0o077 } else { 0o022 };
    if !local::is_mine(meta) {
        return Err(std::io::Error::other("owned by another user"));
    }
    if let Some(mode) = local::mode(meta)
        && mode & forbidden != 0
    {
        return Err(std::io::Error::other(format!(
            "mode {:o} lets other users in",
            mode & 0o777
        )));
    }
    Ok(())
}

/// The directory holding `path`, if it is a real directory (not a symlink) that only this
/// user can write.
fn check_dir(path: &Path) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let meta = std::fs::symlink_metadata(dir)?;
    if !meta.is_dir() {
        return Err(std::io::Error::other(format!(
            "{} is not a directory",
            dir.display()
        )));
    }
    owned_and_private(&meta, false)
}

/// Reads at most `limit` bytes of a cache file, only when it is trustworthy: a regular
/// file (never a symlink) owned by this user, mode 0600, in a directory only this user can
/// write. Another local user must not be able to plant an answer.
pub fn read(path: &Path, limit: u64) -> std::io::Result<String> {
    use local::OpenPrivate;
    use std::io::Read;
    check_dir(path)?;
    let mut f = std::fs::OpenOptions::new()
        .read(true)
        .no_follow()
        .open(path)?;
    let meta = f.metadata()?;
    if !meta.is_file() {
        return Err(std::io::Error::other("not a regular file"));
    }
    owned_and_private(&meta, true)?;
    let mut text = String::new();
    (&mut f).take(limit).read_to_string(&mut text)?;
    Ok(text)
}

/// Writes a file only its owner can read, atomically, in a directory only we can write.
pub fn write(path: &Path, data: &[u8]) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        local::create_dir_all(dir)?;
    }
    check_dir(path)?;
    crate::local::files::replace(path, data, 0o600)
}

/// Seconds since the Unix epoch, as cache entries record when they were written.
pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
