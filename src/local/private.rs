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
