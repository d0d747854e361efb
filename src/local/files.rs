//! Files eic-ssh reads and writes for the user: read only when regular and of a bounded
//! size (a FIFO or `/dev/zero` never hangs or floods us); written (ssh config, starter
//! config, caches, the log) without following a planted symlink, and replaced atomically so
//! a reader never sees half.

use std::io::{self, Write};
use std::path::Path;

use super::private::OpenPrivate;
use std::time::{SystemTime, UNIX_EPOCH};

/// What [`open_limited`] found at a path.
pub enum Opened {
    /// A regular file of at most the limit, open for reading.
    File(std::fs::File),
    /// A device that reads as empty at once (`/dev/null`): the same as an empty file, as
    /// the AWS CLI, the SDKs and OpenSSH (`ssh -F /dev/null`) read it.
    Empty,
}

/// Opens `path` for reading when it is a regular file of at most `max` bytes, or a
/// character device whose first read ends at once (`/dev/null`). Anything else is an
/// error that says what it is: a FIFO, a socket, a directory (a FIFO is opened without
/// blocking, and never read: with no writer it would read as empty, then hang the next
/// time), a device with something to read (`/dev/zero`, `/dev/urandom`) or nothing yet (a
/// terminal), a file larger than `max`. A missing path is `NotFound`, for the caller to
/// treat as "no file".
pub fn open_limited(path: &Path, max: u64) -> io::Result<Opened> {
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    options.no_block();
    let file = match options.open(path) {
        Ok(file) => file,
        // A socket cannot be opened at all: say what it is rather than "no such device".
        Err(e) if e.kind() != io::ErrorKind::NotFound => {
            return Err(match std::fs::metadata(path) {
                Ok(meta) if !meta.is_file() => not_regular(&meta.file_type()),
                _ => e,
            });
        }
        Err(e) => return Err(e),
    };
    let meta = file.metadata()?;
    if meta.is_file() {
        if meta.len() > max {
            return Err(too_large(max));
        }
        return Ok(Opened::File(file));
    }
    if reads_empty_device(&file, &meta)? {
        return Ok(Opened::Empty);
    }
    Err(not_regular(&meta.file_type()))
}

/// The refusal of what is not a regular file, naming what it is.
fn not_regular(t: &std::fs::FileType) -> io::Error {
    let what = if t.is_dir() {
        "a directory"
    } else {
        special_kind(t)
    };
    io::Error::new(
        io::ErrorKind::InvalidInput,
        format!("not a regular file ({what})"),
    )
}

fn too_large(max: u64) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("larger than the {max} bytes eic-ssh reads from it"),
    )
}

/// Whether `file` (not a regular file) is a character device whose first read, without
/// blocking, ends at once: `/dev/null` is; `/dev/zero`, `/dev/urandom` (bytes to read) and
/// a terminal (nothing yet: the read would wait) are not. A FIFO is never read here.
#[cfg(unix)]
fn reads_empty_device(file: &std::fs::File, meta: &std::fs::Metadata) -> io::Result<bool> {
    use std::io::Read;
    use std::os::unix::fs::FileTypeExt;
    if !meta.file_type().is_char_device() {
        return Ok(false);
    }
    // Opened with O_NONBLOCK: a device with nothing to read yet says so at once.
    match (&*file).read(&mut [0u8; 1]) {
        Ok(0) => Ok(true),
        Ok(_) => Ok(false),
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(false),
        Err(e) => Err(e),
    }
}

/// Elsewhere no device is taken for an empty file.
#[cfg(not(unix))]
fn reads_empty_device(_file: &std::fs::File, _meta: &std::fs::Metadata) -> io::Result<bool> {
    Ok(false)
}

/// What a file that is neither regular nor a directory is, for a refusal.
fn special_kind(t: &std::fs::FileType) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if t.is_fifo() {
            return "a FIFO";
        }
        if t.is_socket() {
            return "a socket";
        }
        if t.is_char_device() {
            return "a device that does not read as empty";
        }
        if t.is_block_device() {
            return "a block device";
        }
    }
    let _ = t;
    "a special file"
}

/// Reads `path` whole, but only when [`open_limited`] accepts it (`/dev/null` reads as
/// empty); a file that grows past `max` while read is an error too. A missing file is
/// `NotFound`: callers treat it, and an empty one, as "no file".
pub fn read_limited(path: &Path, max: u64) -> io::Result<Vec<u8>> {
    use std::io::Read;
    let file = match open_limited(path, max)? {
        Opened::File(file) => file,
        Opened::Empty => return Ok(Vec::new()),
    };
    let len = file.metadata().map_or(0, |m| m.len());
    let mut data = Vec::with_capacity(usize::try_from(len).unwrap_or(0));
    file.take(max.saturating_add(1)).read_to_end(&mut data)?;
    if data.len() as u64 > max {
        return Err(too_large(max));
    }
    Ok(data)
}

/// [`read_limited`] as UTF-8 text.
pub fn read_limited_text(path: &Path, max: u64) -> io::Result<String> {
    String::from_utf8(read_limited(path, max)?)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "not UTF-8 text"))
}

/// Why a file that steers eic-ssh (the config file) must not be trusted, as OpenSSH refuses
/// a bad `~/.ssh/config`: owned by someone other than the user or root, writable by group
/// or others, or in a directory that someone else could change (owned by another user, or
/// writable by group or others without the sticky bit, unless the user owns it). The walk
/// up stops at the home directory. `None` when it may be trusted, or when it cannot be
/// looked at (reading it then says why).
#[cfg(unix)]
pub fn trust_problem(path: &Path) -> Option<String> {
    use std::os::unix::fs::MetadataExt;
    // SAFETY: getuid has no preconditions and cannot fail.
    let me = unsafe { libc::getuid() };
    let meta = std::fs::metadata(path).ok()?;
    if meta.uid() != me && meta.uid() != 0 {
        return Some(format!(
            "is owned by uid {}, not by you (uid {me}) or root: use one of your own",
            meta.uid()
        ));
    }
    if meta.mode() & 0o022 != 0 {
        return Some(format!(
            "is writable by group or others (mode {:04o}): run `chmod go-w {}`",
            meta.mode() & 0o7777,
            path.display()
        ));
    }
    let real = std::fs::canonicalize(path).ok()?;
    let home = super::paths::home().and_then(|h| std::fs::canonicalize(h).ok());
    for dir in real.ancestors().skip(1) {
        let Ok(meta) = std::fs::metadata(dir) else {
            continue;
        };
        let shared = meta.mode() & 0o022 != 0 && meta.mode() & 0o1000 == 0;
        if meta.uid() != me && (meta.uid() != 0 || shared) {
            let why = if meta.uid() != 0 {
                format!("is owned by uid {}", meta.uid())
            } else {
                format!(
                    "is writable by group or others (mode {:04o})",
                    meta.mode() & 0o7777
                )
            };
            return Some(format!(
                "is in {}, which {why}: anyone who can change that directory could replace it; move it somewhere only you can change",
                dir.display()
            ));
        }
        if home.as_deref() == Some(dir) {
            break;
        }
    }
    None
}

/// Elsewhere there are no owners and modes to check this way.
#[cfg(not(unix))]
pub fn trust_problem(_path: &Path) -> Option<String> {
    None
}

/// The warning for a `~/.ssh` that is not the user's alone, as OpenSSH's StrictModes checks
/// it (owned by another user than the user or root, writable by group or others, or in a
/// directory someone else can change): `dir` is named, with what it `holds` there and the
/// fix (`chmod go-w DIR`). `None` when it may be trusted, or does not exist.
pub fn ssh_dir_warning(dir: &Path, holds: &str) -> Option<String> {
    trust_problem(dir).map(|problem| format!("{}, which holds {holds}, {problem}", dir.display()))
}

/// Creates `path` with `data`; fails if anything, even a dangling symlink, is there already.
pub fn create_new(path: &Path, data: &[u8], mode: u32) -> io::Result<()> {
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .no_follow()
        .private_mode(mode)
        .open(path)?;
    let written = f.write_all(data).and_then(|()| f.sync_all());
    if written.is_err() {
        let _ = std::fs::remove_file(path);
    }
    written
}

/// Replaces `path` with `data`: a fresh temporary file beside it, created exclusively, then
/// renamed over the old one. A symlink at `path` is replaced, never followed.
pub fn replace(path: &Path, data: &[u8], mode: u32) -> io::Result<()> {
    let nonce = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let tmp = path.with_file_name(format!(".{name}.tmp{}.{nonce}", std::process::id()));
    create_new(&tmp, data, mode)?;
    let renamed = std::fs::rename(&tmp, path);
    if renamed.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    renamed
}

/// A device, FIFO or socket: never replaced by a copy (Windows has none in its file
/// system).
pub fn is_special(t: &std::fs::FileType) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        t.is_char_device() || t.is_block_device() || t.is_fifo() || t.is_socket()
    }
    #[cfg(not(unix))]
    {
        let _ = t;
        false
    }
}

/// A local file's mode as Unix states it, for the other side: the real bits on Unix; on
/// Windows 0755 for a directory, 0644 for a file, less the write bits when read-only.
pub fn unix_mode(meta: &std::fs::Metadata) -> u32 {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        meta.mode()
    }
    #[cfg(not(unix))]
    {
        let mode = if meta.is_dir() { 0o40755 } else { 0o100644 };
        if meta.permissions().readonly() {
            mode & !0o222
        } else {
            mode
        }
    }
}

/// A local file's access and modification times, in whole seconds since the epoch.
pub fn times(meta: &std::fs::Metadata) -> (i64, i64) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        (meta.atime(), meta.mtime())
    }
    #[cfg(not(unix))]
    {
        let secs = |t: io::Result<SystemTime>| {
            t.ok()
                .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
                .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        };
        (secs(meta.accessed()), secs(meta.modified()))
    }
}

/// A local file name as bytes: any bytes on Unix; on Windows its UTF-8 (names there are
/// UTF-16, shown lossily when unpaired surrogates are in them).
pub fn name_bytes(name: &std::ffi::OsStr) -> std::borrow::Cow<'_, [u8]> {
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStrExt;
        std::borrow::Cow::Borrowed(name.as_bytes())
    }
    #[cfg(not(unix))]
    {
        match name.to_string_lossy() {
            std::borrow::Cow::Borrowed(s) => std::borrow::Cow::Borrowed(s.as_bytes()),
            std::borrow::Cow::Owned(s) => std::borrow::Cow::Owned(s.into_bytes()),
        }
    }
}

/// The reverse of [`name_bytes`].
pub fn name_from_bytes(bytes: Vec<u8>) -> std::ffi::OsString {
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStringExt;
        std::ffi::OsString::from_vec(bytes)
    }
    #[cfg(not(unix))]
    {
        String::from_utf8_lossy(&bytes).into_owned().into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_regular_files_of_bounded_size_are_read() {
        let dir = tempfile::tempdir().unwrap();
        let small = dir.path().join("small");
        std::fs::write(&small, "hello").unwrap();
        assert_eq!(read_limited_text(&small, 5).unwrap(), "hello");
        let err = read_limited(&small, 4).unwrap_err();
        assert!(err.to_string().contains("larger than the 4 bytes"), "{err}");
        let err = read_limited(dir.path(), 100).unwrap_err();
        assert_eq!(err.to_string(), "not a regular file (a directory)");
        let err = read_limited(&dir.path().join("missing"), 100).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
    }

    #[cfg(unix)]
    #[test]
    fn dev_null_reads_as_empty_and_other_special_files_are_refused() {
        assert_eq!(read_limited(Path::new("/dev/null"), 100).unwrap(), b"");
        // /dev/ptmx opens a fresh terminal with nothing typed on it: the read would wait.
        for device in ["/dev/zero", "/dev/urandom", "/dev/ptmx"] {
            let err = read_limited(Path::new(device), 100).unwrap_err();
            assert_eq!(
                err.to_string(),
                "not a regular file (a device that does not read as empty)",
                "{device}"
            );
        }
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        let made = std::process::Command::new("mkfifo").arg(&fifo).status();
        assert!(made.is_ok_and(|s| s.success()));
        let err = read_limited(&fifo, 100).unwrap_err();
        assert_eq!(err.to_string(), "not a regular file (a FIFO)");
        let socket = dir.path().join("socket");
        let _listener = std::os::unix::net::UnixListener::bind(&socket).unwrap();
        let err = read_limited(&socket, 100).unwrap_err();
        assert_eq!(err.to_string(), "not a regular file (a socket)");
    }

    #[test]
    fn replace_never_writes_through_a_symlink() {
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("victim");
        std::fs::write(&victim, "precious").unwrap();
        let path = dir.path().join("out.conf");
        super::super::private::symlink(&victim, &path).unwrap();
        assert!(create_new(&path, b"x", 0o600).is_err());
        replace(&path, b"new", 0o600).unwrap();
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "new");
        assert!(!std::fs::symlink_metadata(&path).unwrap().is_symlink());
        let leftovers = std::fs::read_dir(dir.path()).unwrap().count();
        assert_eq!(leftovers, 2, "no temporary file left behind");
    }
}
