//! Files and directories that are the user's alone: how they are opened (mode 0600/0700,
//! never through a symlink, never blocking on a FIFO) and the owner and mode checks made
//! before trusting one. On Windows there are no mode bits and no uid here: files are
//! created with the ACL they inherit from the profile directory (which only the user and
//! administrators can open), symlinks (reparse points) are still never followed, and the
//! owner and mode checks pass; docs/platforms.md says so.

use std::fs::{Metadata, OpenOptions};
use std::io;
use std::path::Path;

/// How eic-ssh opens the files it owns.
pub trait OpenPrivate {
    /// Creates with `mode` (less the umask) on Unix.
    fn private_mode(&mut self, mode: u32) -> &mut Self;
    /// Never follows a symlink at the last component (`O_NOFOLLOW`; on Windows the reparse
    /// point itself is opened, which then is not a regular file), and never blocks on a FIFO.
    fn no_follow(&mut self) -> &mut Self;
    /// Never blocks on opening a FIFO (`O_NONBLOCK`): the caller checks the file's type.
    fn no_block(&mut self) -> &mut Self;
}

#[cfg(unix)]
impl OpenPrivate for OpenOptions {
    fn private_mode(&mut self, mode: u32) -> &mut Self {
        std::os::unix::fs::OpenOptionsExt::mode(self, mode)
    }
    fn no_follow(&mut self) -> &mut Self {
        std::os::unix::fs::OpenOptionsExt::custom_flags(self, libc::O_NOFOLLOW | libc::O_NONBLOCK)
    }
    fn no_block(&mut self) -> &mut Self {
        std::os::unix::fs::OpenOptionsExt::custom_flags(self, libc::O_NONBLOCK)
    }
}

#[cfg(windows)]
impl OpenPrivate for OpenOptions {
    fn private_mode(&mut self, _mode: u32) -> &mut Self {
        self
    }
    fn no_follow(&mut self) -> &mut Self {
        use windows_sys::Win32::Storage::FileSystem::FILE_FLAG_OPEN_REPARSE_POINT;
        std::os::windows::fs::OpenOptionsExt::custom_flags(self, FILE_FLAG_OPEN_REPARSE_POINT)
    }
    fn no_block(&mut self) -> &mut Self {
        self
    }
}

/// Creates `dir` and its missing parents, mode 0700 on Unix.
pub fn create_dir_all(dir: &Path) -> io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}

/// What a directory of ours may let other users do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Others {
    /// Read and enter it, not write it (the caches, the connection log).
    MayRead,
    /// Nothing at all (the tunnel slots: which endpoints are in use is the user's own).
    Nothing,
}

/// Checks that `dir` is a real directory (not a symlink) that this user owns and whose mode
/// lets other users do no more than `others`: nobody else may plant or swap what is in it.
pub fn check_dir(dir: &Path, others: Others) -> io::Result<()> {
    let meta = std::fs::symlink_metadata(dir)?;
    if !meta.is_dir() {
        return Err(io::Error::other(format!(
            "{} is not a directory",
            dir.display()
        )));
    }
    if !is_mine(&meta) {
        return Err(io::Error::other(format!(
            "{} is owned by another user",
            dir.display()
        )));
    }
    let (forbidden, fix) = match others {
        Others::MayRead => (0o022, "only its owner may write it (chmod go-w)"),
        Others::Nothing => (0o077, "only its owner may enter it (chmod 700)"),
    };
    if let Some(mode) = mode(&meta)
        && mode & forbidden != 0
    {
        return Err(io::Error::other(format!(
            "{} has mode {:o}: {fix}",
            dir.display(),
            mode & 0o777
        )));
    }
    Ok(())
}

/// Creates `dir` (mode 0700) when missing, then [`check_dir`]s it.
pub fn make_dir(dir: &Path, others: Others) -> io::Result<()> {
    create_dir_all(dir)?;
    check_dir(dir, others)
}

/// Whether this user owns what `meta` describes (the effective uid; always on Windows).
pub fn is_mine(meta: &Metadata) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        // SAFETY: geteuid has no preconditions and cannot fail.
        meta.uid() == unsafe { libc::geteuid() }
    }
    #[cfg(not(unix))]
    {
        let _ = meta;
        true
    }
}

/// The permission bits (`0o7777`) of what `meta` describes; `None` on Windows.
pub fn mode(meta: &Metadata) -> Option<u32> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        Some(meta.mode() & 0o7777)
    }
    #[cfg(not(unix))]
    {
        let _ = meta;
        None
    }
}

/// The permission bits of `path` (following symlinks); `None` on Windows or when it
/// cannot be read.
pub fn mode_of(path: &Path) -> Option<u32> {
    mode(&std::fs::metadata(path).ok()?)
}

/// Sets the permission bits of `path` (Unix; on Windows only "read-only" exists: set when
/// no write bit is).
pub fn set_mode(path: &Path, mode: u32) -> io::Result<()> {
    #[cfg(unix)]
    let permissions = {
        use std::os::unix::fs::PermissionsExt;
        std::fs::Permissions::from_mode(mode)
    };
    #[cfg(not(unix))]
    let permissions = {
        let mut p = std::fs::metadata(path)?.permissions();
        p.set_readonly(mode & 0o222 == 0);
        p
    };
    std::fs::set_permissions(path, permissions)
}

/// Who runs eic-ssh, for the connection log: `$USER`, `$LOGNAME` (Windows: `%USERNAME%`),
/// else the uid.
pub fn user_name() -> String {
    let named = std::env::var("USER").or_else(|_| std::env::var("LOGNAME"));
    #[cfg(windows)]
    let named = named.or_else(|_| std::env::var("USERNAME"));
    named.unwrap_or_else(|_| {
        #[cfg(unix)]
        // SAFETY: getuid cannot fail.
        return format!("uid {}", unsafe { libc::getuid() });
        #[cfg(not(unix))]
        return "unknown".into();
    })
}

/// Makes `link` a symlink to `target` (tests plant them; on Windows a file symlink, which
/// needs Developer Mode or the privilege).
pub fn symlink(target: impl AsRef<Path>, link: impl AsRef<Path>) -> io::Result<()> {
    let (target, link) = (target.as_ref(), link.as_ref());
    #[cfg(unix)]
    return std::os::unix::fs::symlink(target, link);
    #[cfg(windows)]
    return std::os::windows::fs::symlink_file(target, link);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    #[test]
    fn a_directory_others_may_change_or_enter_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let ours = dir.path().join("ours");
        make_dir(&ours, Others::Nothing).unwrap();
        assert_eq!(mode_of(&ours), Some(0o700));
        set_mode(&ours, 0o755).unwrap();
        check_dir(&ours, Others::MayRead).unwrap();
        let e = check_dir(&ours, Others::Nothing).unwrap_err().to_string();
        assert!(e.contains("mode 755") && e.contains("chmod 700"), "{e}");
        set_mode(&ours, 0o775).unwrap();
        let e = check_dir(&ours, Others::MayRead).unwrap_err().to_string();
        assert!(e.contains("mode 775") && e.contains("go-w"), "{e}");
        let link = dir.path().join("link");
        symlink(&ours, &link).unwrap();
        let e = check_dir(&link, Others::MayRead).unwrap_err().to_string();
        assert!(
            e.contains("not a directory"),
            "a symlink is not the directory: {e}"
        );
    }
}
