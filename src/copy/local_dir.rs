//! The local side of a download, confined to the destination: every create, write, rename
//! and chmod is relative to an open directory handle, and no step follows a symlink that is
//! already there (a planted one, or one an earlier copy made).

use std::ffi::OsStr;
use std::fs::File;
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;

use rustix::fs::{AtFlags, FileType, Mode, OFlags, Timespec, Timestamps};
use rustix::io::Errno;

/// An open local directory that names below it are resolved against.
pub struct LocalDir {
    /// The directory, opened once; later steps never look its path up again.
    fd: OwnedFd,
}

fn refused(what: &str) -> io::Error {
    io::Error::other(what.to_string())
}

impl LocalDir {
    /// The directory the user named. The path the user typed may pass through symlinks, as
    /// with cp and scp; nothing below it does.
    pub fn open(path: &Path) -> io::Result<LocalDir> {
        let fd = rustix::fs::openat(
            rustix::fs::CWD,
            path,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        Ok(LocalDir { fd })
    }

    /// The subdirectory `name`, made with `mode` (less the umask) when missing; `true` when
    /// it was made. A symlink, file or anything else by that name is an error, never
    /// followed.
    pub fn subdir(&self, name: &OsStr, mode: u32) -> io::Result<(LocalDir, bool)> {
        let created = match rustix::fs::mkdirat(&self.fd, name, Mode::from_bits_truncate(mode)) {
            Ok(()) => true,
            Err(Errno::EXIST) => false,
            Err(e) => return Err(e.into()),
        };
        let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        match rustix::fs::openat(&self.fd, name, flags, Mode::empty()) {
            Ok(fd) => Ok((LocalDir { fd }, created)),
            Err(Errno::LOOP | Errno::NOTDIR) => Err(refused(
                "exists and is not a directory (a symlink is never followed)",
            )),
            Err(e) => Err(e.into()),
        }
    }

    /// A new file `name` created exclusively with `mode` (less the umask). A stale one is
    /// removed first: a planted symlink is unlinked, not followed.
    pub fn create_new(&self, name: &OsStr, mode: u32) -> io::Result<File> {
        match rustix::fs::unlinkat(&self.fd, name, AtFlags::empty()) {
            Ok(()) | Err(Errno::NOENT) => {}
            Err(Errno::ISDIR) => return Err(refused("exists and is a directory")),
            Err(e) => return Err(e.into()),
        }
        let flags = OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW;
        let fd = rustix::fs::openat(
            &self.fd,
            name,
            flags | OFlags::CLOEXEC,
            Mode::from_bits_truncate(mode),
        )?;
        Ok(File::from(fd))
    }

    /// The file `name` to continue (`--resume`), created when missing: only a regular file,
    /// never through a symlink, and never a FIFO or device (opened without blocking, then
    /// checked).
    pub fn open_to_resume(&self, name: &OsStr, mode: u32) -> io::Result<File> {
        let flags = OFlags::WRONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC;
        match rustix::fs::openat(&self.fd, name, flags, Mode::empty()) {
            Ok(fd) => {
                if FileType::from_raw_mode(rustix::fs::fstat(&fd)?.st_mode) != FileType::RegularFile
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
        rustix::fs::renameat(&self.fd, from, &self.fd, to).map_err(Into::into)
    }

    /// Makes `name` a symlink to `target`, replacing a file or link of that name.
    pub fn symlink(&self, target: &str, name: &OsStr) -> io::Result<()> {
        match rustix::fs::unlinkat(&self.fd, name, AtFlags::empty()) {
            Ok(()) | Err(Errno::NOENT) => {}
            Err(Errno::ISDIR) => return Err(refused("exists and is a directory")),
            Err(e) => return Err(e.into()),
        }
        rustix::fs::symlinkat(target, &self.fd, name).map_err(Into::into)
    }

    /// The directory handle, for [`chmod`] and [`set_times`].
    pub fn handle(&self) -> impl AsFd + '_ {
        self.fd.as_fd()
    }
}

/// Sets the permission bits of an open file or directory (never set-id or sticky bits).
pub fn chmod(fd: impl AsFd, mode: u32) -> io::Result<()> {
    rustix::fs::fchmod(fd, Mode::from_bits_truncate(mode & 0o777)).map_err(Into::into)
}

/// Sets access and modification times (seconds since the epoch) of an open file.
pub fn set_times(fd: impl AsFd, atime: u32, mtime: u32) -> io::Result<()> {
    let at = |s: u32| Timespec {
        tv_sec: i64::from(s),
        tv_nsec: 0,
    };
    let times = Timestamps {
        last_access: at(atime),
        last_modification: at(mtime),
    };
    rustix::fs::futimens(fd, &times).map_err(Into::into)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn never_follows_a_planted_symlink() {
        let root = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        let dest = root.path().join("dest");
        std::fs::create_dir(&dest).unwrap();
        std::os::unix::fs::symlink(outside.path(), dest.join("d")).unwrap();
        std::os::unix::fs::symlink(outside.path().join("f"), dest.join(".f.part")).unwrap();
        let dir = LocalDir::open(&dest).unwrap();
        let e = dir.subdir(OsStr::new("d"), 0o755).err().unwrap();
        assert!(e.to_string().contains("not a directory"), "{e}");
        dir.create_new(OsStr::new(".f.part"), 0o644)
            .unwrap()
            .write_all(b"x")
            .unwrap();
        assert!(!outside.path().join("f").exists());
        std::os::unix::fs::symlink(outside.path().join("g"), dest.join(".g.part")).unwrap();
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
        rustix::fs::mkfifoat(rustix::fs::CWD, &fifo, Mode::from_bits_truncate(0o644)).unwrap();
        let dir = LocalDir::open(root.path()).unwrap();
        assert!(dir.open_to_resume(OsStr::new(".p.part"), 0o644).is_err());
    }

    #[test]
    fn chmod_drops_setuid() {
        let root = tempfile::tempdir().unwrap();
        let dir = LocalDir::open(root.path()).unwrap();
        let f = dir.create_new(OsStr::new("f"), 0o600).unwrap();
        chmod(&f, 0o4755).unwrap();
        let mode = std::fs::metadata(root.path().join("f"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o7777, 0o755);
    }
}
