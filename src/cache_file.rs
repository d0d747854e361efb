//! The per-user cache files (egress IP, routes): read only when nobody but this user could
//! have written them, written atomically, private, in a directory only this user can write.

use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::local::private as local;

/// Whether the file `meta` describes belongs to this user and nobody else may read or
/// write it.
fn owned_and_private(meta: &std::fs::Metadata) -> std::io::Result<()> {
    if !local::is_mine(meta) {
        return Err(std::io::Error::other("owned by another user"));
    }
    if let Some(mode) = local::mode(meta)
        && mode & 0o077 != 0
    {
        return Err(std::io::Error::other(format!(
            "mode {:o} lets other users in",
            mode & 0o777
        )));
    }
    Ok(())
}

/// The directory holding `path`, private to this user (others may read it, not write it).
fn dir_of(path: &Path) -> &Path {
    path.parent().unwrap_or(Path::new("."))
}

/// Reads at most `limit` bytes of a cache file, only when it is trustworthy: a regular
/// file (never a symlink) owned by this user, mode 0600, in a directory only this user can
/// write. Another local user must not be able to plant an answer.
pub fn read(path: &Path, limit: u64) -> std::io::Result<String> {
    use local::OpenPrivate;
    use std::io::Read;
    local::check_dir(dir_of(path), local::Others::MayRead)?;
    let mut f = std::fs::OpenOptions::new()
        .read(true)
        .no_follow()
        .open(path)?;
    let meta = f.metadata()?;
    if !meta.is_file() {
        return Err(std::io::Error::other("not a regular file"));
    }
    owned_and_private(&meta)?;
    let mut text = String::new();
    (&mut f).take(limit).read_to_string(&mut text)?;
    Ok(text)
}

/// Writes a file only its owner can read, atomically, in a directory only we can write.
pub fn write(path: &Path, data: &[u8]) -> std::io::Result<()> {
    local::make_dir(dir_of(path), local::Others::MayRead)?;
    crate::local::files::replace(path, data, 0o600)
}

/// Seconds since the Unix epoch, as cache entries record when they were written.
pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
