//! The local side of a download, confined to the destination: every create, write, rename
//! and chmod is relative to a directory opened once, and no step follows a symlink that is
//! already there (a planted one, or one an earlier copy made).
//!
//! Unix: `openat`, `mkdirat`, `renameat` and `fchmod` on directory descriptors (rustix),
//! with `O_NOFOLLOW` at every step. Windows: each directory is held open without
//! `FILE_SHARE_DELETE` for as long as it is used, so neither it nor any directory above it
//! that eic-ssh holds can be renamed or replaced; every name below it is one component,
//! opened with `FILE_FLAG_OPEN_REPARSE_POINT` (a symlink or junction is opened as itself,
//! then refused) and then resolved by path under that held directory.

use std::ffi::OsStr;
use std::fs::File;
use std::io;
use std::path::Path;

fn refused(what: &str) -> io::Error {
    io::Error::other(what.to_string())
}

pub use imp::{LocalDir, chmod, set_times};

#[cfg(unix)]
mod imp {
    use super::*;
    use std::os::fd::AsFd;

    use rustix::fs::{AtFlags, FileType, Mode, OFlags, RawMode, Timespec, Timestamps};
    use rustix::io::Errno;

    fn mode_bits(mode: u32) -> Mode {
        Mode::from_bits_truncate((mode & 0o7777) as RawMode)
    }

    /// An open local directory that names below it are resolved against.
    pub struct LocalDir {
        /// The directory, opened once; later steps never look its path up again.
        dir: File,
    }

    impl LocalDir {
        /// The directory the user named. The path the user typed may pass through
        /// symlinks, as with cp and scp; nothing below it does.
        pub fn open(path: &Path) -> io::Result<LocalDir> {
            let fd = rustix::fs::openat(
                rustix::fs::CWD,
                path,
                OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
                Mode::empty(),
            )?;
            Ok(LocalDir { dir: fd.into() })
        }

        /// The subdirectory `name`, made with `mode` (less the umask) when missing; `true`
        /// when it was made. A symlink, file or anything else by that name is an error,
        /// never followed.
        pub fn subdir(&self, name: &OsStr, mode: u32) -> io::Result<(LocalDir, bool)> {
            let created = match rustix::fs::mkdirat(&self.dir, name, mode_bits(mode)) {
                Ok(()) => true,
                Err(Errno::EXIST) => false,
                Err(e) => return Err(e.into()),
            };
            let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
            match rustix::fs::openat(&self.dir, name, flags, Mode::empty()) {
                Ok(fd) => Ok((LocalDir { dir: fd.into() }, created)),
                Err(Errno::LOOP | Errno::NOTDIR) => Err(refused(
                    "exists and is not a directory (a symlink is never followed)",
                )),
                Err(e) => Err(e.into()),
            }
        }

        /// A new file `name` created exclusively with `mode` (less the umask). A stale one
        /// is removed first: a planted symlink is unlinked, not followed.
        pub fn create_new(&self, name: &OsStr, mode: u32) -> io::Result<File> {
            self.remove_file(name)?;
            let flags = OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW;
            let fd = rustix::fs::openat(&self.dir, name, flags | OFlags::CLOEXEC, mode_bits(mode))?;
            Ok(File::from(fd))
        }

        fn remove_file(&self, name: &OsStr) -> io::Result<()> {
            match rustix::fs::unlinkat(&self.dir, name, AtFlags::empty()) {
                Ok(()) | Err(Errno::NOENT) => Ok(()),
                Err(Errno::ISDIR) => Err(refused("exists and is a directory")),
                Err(e) => Err(e.into()),
            }
        }

        /// The file `name` to continue (`--resume`), created when missing: only a regular
        /// file, never through a symlink, and never a FIFO or device (opened without
        /// blocking, then checked).
        pub fn open_to_resume(&self, name: &OsStr, mode: u32) -> io::Result<File> {
            let flags = OFlags::WRONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC;
            match rustix::fs::openat(&self.dir, name, flags, Mode::empty()) {
                Ok(fd) => {
                    if FileType::from_raw_mode(rustix::fs::fstat(&fd)?.st_mode)
                        != FileType::RegularFile
                    {
                        return Err(refused("is not a regular file"));
                    }
                    rustix::fs::fcntl_setfl(&fd, OFlags::empty())?;
                    Ok(File::from(fd))
                }
                Err(Errno::NOENT) => self.create_new(name, mode),
                Err(Errno::LOOP) => Err(refused("is a symlink (never followed)")),
                Err(Errno::NXIO) => Err(refused("is not a regular file")),
                Err(e) => Err(e.into()),
            }
        }

        /// Renames `from` to `to` inside this directory; a symlink at `to` is replaced, not
        /// followed.
        pub fn rename(&self, from: &OsStr, to: &OsStr) -> io::Result<()> {
            rustix::fs::renameat(&self.dir, from, &self.dir, to).map_err(Into::into)
        }

        /// Makes `name` a symlink to `target`, replacing a file or link of that name.
        pub fn symlink(&self, target: &str, name: &OsStr) -> io::Result<()> {
            self.remove_file(name)?;
            rustix::fs::symlinkat(target, &self.dir, name).map_err(Into::into)
        }

        /// The directory itself, for [`chmod`] and [`set_times`].
        pub fn handle(&self) -> &File {
            &self.dir
        }

        /// Bytes an unprivileged user may still write on this directory's file system;
        /// `None` when the system cannot say.
        pub fn available(&self) -> Option<u64> {
            let stat = rustix::fs::fstatvfs(&self.dir).ok()?;
            Some(stat.f_bavail.saturating_mul(stat.f_frsize))
        }
    }

    /// Sets the permission bits of an open file or directory (never set-id or sticky bits).
    pub fn chmod(file: &File, mode: u32) -> io::Result<()> {
        rustix::fs::fchmod(file.as_fd(), mode_bits(mode & 0o777)).map_err(Into::into)
    }

    /// Sets access and modification times (seconds since the epoch) of an open file or
    /// directory.
    pub fn set_times(file: &File, atime: u32, mtime: u32) -> io::Result<()> {
        let at = |s: u32| Timespec {
            tv_sec: i64::from(s),
            tv_nsec: 0,
        };
        let times = Timestamps {
            last_access: at(atime),
            last_modification: at(mtime),
        };
        rustix::fs::futimens(file.as_fd(), &times).map_err(Into::into)
    }
}

#[cfg(windows)]
mod imp {
    use super::*;
    use std::fs::OpenOptions;
    use std::os::windows::fs::OpenOptionsExt;
    use std::path::PathBuf;
    use std::time::{Duration, SystemTime};

    use windows_sys::Win32::Storage::FileSystem::{
        FILE_FLAG_BACKUP_SEMANTICS, FILE_FLAG_OPEN_REPARSE_POINT, FILE_LIST_DIRECTORY,
        FILE_READ_ATTRIBUTES, FILE_SHARE_READ, FILE_SHARE_WRITE, FILE_TRAVERSE,
        FILE_WRITE_ATTRIBUTES, GetDiskFreeSpaceExW, SYNCHRONIZE,
    };

    /// An open local directory that names below it are resolved against.
    pub struct LocalDir {
        /// The directory, held open without `FILE_SHARE_DELETE`: while it is, nobody can
        /// rename, delete or replace it, so `path` keeps naming it.
        dir: File,
        /// Its path, as opened.
        path: PathBuf,
    }

    /// One name below a directory: a single component (no `\\`, drive or `..`), so that
    /// nothing else is walked, and none of the characters Windows gives a meaning (`:`
    /// would name an alternate data stream).
    fn one_component(name: &OsStr) -> io::Result<&OsStr> {
        let reserved = |c: char| c < ' ' || "<>:\"/\\|?*".contains(c);
        if name.to_str().is_none_or(|n| n.contains(reserved)) {
            return Err(refused("is not a file name Windows allows"));
        }
        let mut parts = Path::new(name).components();
        match (parts.next(), parts.next()) {
            (Some(std::path::Component::Normal(n)), None) if n == name => Ok(name),
            _ => Err(refused("is not a single file name")),
        }
    }

    fn open_dir(path: &Path, follow: bool) -> io::Result<File> {
        let mut flags = FILE_FLAG_BACKUP_SEMANTICS;
        if !follow {
            flags |= FILE_FLAG_OPEN_REPARSE_POINT;
        }
        let dir = OpenOptions::new()
            .access_mode(
                FILE_LIST_DIRECTORY
                    | FILE_TRAVERSE
                    | FILE_READ_ATTRIBUTES
                    | FILE_WRITE_ATTRIBUTES
                    | SYNCHRONIZE,
            )
            .share_mode(FILE_SHARE_READ | FILE_SHARE_WRITE)
            .custom_flags(flags)
            .open(path)?;
        if !dir.metadata()?.is_dir() {
            return Err(refused(
                "exists and is not a directory (a symlink is never followed)",
            ));
        }
        Ok(dir)
    }

    impl LocalDir {
        /// The directory the user named (which may pass through links, as with cp and
        /// scp; nothing below it does).
        pub fn open(path: &Path) -> io::Result<LocalDir> {
            Ok(LocalDir {
                dir: open_dir(path, true)?,
                path: path.to_path_buf(),
            })
        }

        fn below(&self, name: &OsStr) -> io::Result<PathBuf> {
            Ok(self.path.join(one_component(name)?))
        }

        /// The subdirectory `name`, made when missing; `true` when it was made. A link,
        /// file or anything else by that name is an error, never followed.
        pub fn subdir(&self, name: &OsStr, _mode: u32) -> io::Result<(LocalDir, bool)> {
            let path = self.below(name)?;
            let created = match std::fs::create_dir(&path) {
                Ok(()) => true,
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => false,
                Err(e) => return Err(e),
            };
            let dir = open_dir(&path, false)?;
            Ok((LocalDir { dir, path }, created))
        }

        /// Removes a file or link `name`, if any; never a directory.
        fn remove_file(&self, path: &Path) -> io::Result<()> {
            let meta = match std::fs::symlink_metadata(path) {
                Ok(m) => m,
                Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
                Err(e) => return Err(e),
            };
            if meta.is_dir() {
                return Err(refused("exists and is a directory"));
            }
            // A directory symlink or junction is removed as a directory, its target untouched.
            std::fs::remove_file(path).or_else(|e| {
                if meta.is_symlink() {
                    std::fs::remove_dir(path)
                } else {
                    Err(e)
                }
            })
        }

        /// A new file `name` created exclusively. A stale one is removed first: a planted
        /// link is removed, not followed.
        pub fn create_new(&self, name: &OsStr, _mode: u32) -> io::Result<File> {
            let path = self.below(name)?;
            self.remove_file(&path)?;
            OpenOptions::new()
                .write(true)
                .create_new(true)
                .custom_flags(FILE_FLAG_OPEN_REPARSE_POINT)
                .open(&path)
        }

        /// The file `name` to continue (`--resume`), created when missing: only a regular
        /// file, never through a link.
        pub fn open_to_resume(&self, name: &OsStr, mode: u32) -> io::Result<File> {
            let path = self.below(name)?;
            let file = match OpenOptions::new()
                .write(true)
                .custom_flags(FILE_FLAG_OPEN_REPARSE_POINT)
                .open(&path)
            {
                Ok(f) => f,
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    return self.create_new(name, mode);
                }
                Err(e) => return Err(e),
            };
            let meta = file.metadata()?;
            if meta.is_symlink() {
                return Err(refused("is a symlink (never followed)"));
            }
            if !meta.is_file() {
                return Err(refused("is not a regular file"));
            }
            Ok(file)
        }

        /// Renames `from` to `to` inside this directory; a link at `to` is replaced, not
        /// followed.
        pub fn rename(&self, from: &OsStr, to: &OsStr) -> io::Result<()> {
            std::fs::rename(self.below(from)?, self.below(to)?)
        }

        /// Makes `name` a file symlink to `target`, replacing a file or link of that name
        /// (Windows allows it with Developer Mode or the privilege; else the error says so).
        pub fn symlink(&self, target: &str, name: &OsStr) -> io::Result<()> {
            let path = self.below(name)?;
            self.remove_file(&path)?;
            std::os::windows::fs::symlink_file(target, &path)
        }

        /// The directory itself, for [`chmod`] and [`set_times`].
        pub fn handle(&self) -> &File {
            &self.dir
        }

        /// Bytes this user may still write on the directory's volume.
        pub fn available(&self) -> Option<u64> {
            use std::os::windows::ffi::OsStrExt;
            let wide: Vec<u16> = self.path.as_os_str().encode_wide().chain([0]).collect();
            let mut free = 0u64;
            // SAFETY: a NUL-terminated path and a u64 we own; the other outputs are optional.
            let ok = unsafe {
                GetDiskFreeSpaceExW(
                    wide.as_ptr(),
                    &mut free,
                    std::ptr::null_mut(),
                    std::ptr::null_mut(),
                )
            };
            (ok != 0).then_some(free)
        }
    }

    /// Windows has one permission bit, read-only: set on a file when `mode` has no write
    /// bit for its owner. Directories are left alone (the attribute means nothing there).
    pub fn chmod(file: &File, mode: u32) -> io::Result<()> {
        let meta = file.metadata()?;
        if meta.is_dir() {
            return Ok(());
        }
        let mut permissions = meta.permissions();
        permissions.set_readonly(mode & 0o200 == 0);
        file.set_permissions(permissions)
    }

    /// Sets access and modification times (seconds since the epoch) of an open file or
    /// directory.
    pub fn set_times(file: &File, atime: u32, mtime: u32) -> io::Result<()> {
        let at = |s: u32| SystemTime::UNIX_EPOCH + Duration::from_secs(u64::from(s));
        file.set_times(
            std::fs::FileTimes::new()
                .set_accessed(at(atime))
                .set_modified(at(mtime)),
        )
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use crate::local::private::{mode_of, symlink};
    use std::io::Write;

    #[test]
    fn never_follows_a_planted_symlink() {
        let root = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        let dest = root.path().join("dest");
        std::fs::create_dir(&dest).unwrap();
        symlink(outside.path(), dest.join("d")).unwrap();
        symlink(outside.path().join("f"), dest.join(".f.part")).unwrap();
        let dir = LocalDir::open(&dest).unwrap();
        let e = dir.subdir(OsStr::new("d"), 0o755).err().unwrap();
        assert!(e.to_string().contains("not a directory"), "{e}");
        dir.create_new(OsStr::new(".f.part"), 0o644)
            .unwrap()
            .write_all(b"x")
            .unwrap();
        assert!(!outside.path().join("f").exists());
        symlink(outside.path().join("g"), dest.join(".g.part")).unwrap();
        let e = dir
            .open_to_resume(OsStr::new(".g.part"), 0o644)
            .err()
            .unwrap();
        assert!(e.to_string().contains("symlink"), "{e}");
        assert_eq!(std::fs::read_dir(outside.path()).unwrap().count(), 0);
    }

    #[test]
    fn resume_refuses_a_fifo_without_blocking() {
        let root = tempfile::tempdir().unwrap();
        let fifo = root.path().join(".p.part");
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(made.success());
        let dir = LocalDir::open(root.path()).unwrap();
        assert!(dir.open_to_resume(OsStr::new(".p.part"), 0o644).is_err());
    }

    #[test]
    fn chmod_drops_setuid() {
        let root = tempfile::tempdir().unwrap();
        let dir = LocalDir::open(root.path()).unwrap();
        let f = dir.create_new(OsStr::new("f"), 0o600).unwrap();
        chmod(&f, 0o4755).unwrap();
        assert_eq!(mode_of(&root.path().join("f")), Some(0o755));
    }
}
