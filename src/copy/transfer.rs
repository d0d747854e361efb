//! The copy rules: where each source lands, temporary names renamed only after the last
//! byte is confirmed, `--resume`, `-r` (symlinks as links, special files skipped), `-p`.

use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use russh_sftp::protocol::FileAttributes;

use super::names;
use super::progress::{Progress, human_bytes};
use super::sftp::{DownloadError, Entry, Kind, ListError, Sftp, broken_text, describe, kind};
use crate::local::confined::{LocalDir, chmod, set_times};
use crate::local::files::{is_special, name_bytes, name_from_bytes, times, unix_mode};
use crate::{printable, wildcard};

/// What `-r`, `-p` and `--resume` ask for.
#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    /// Copy directories recursively.
    pub recursive: bool,
    /// Keep modes and times.
    pub preserve: bool,
    /// Continue partial files by size.
    pub resume: bool,
    /// Entries one remote directory may list (`--max-dir-entries`).
    pub max_dir_entries: usize,
    /// Entries all remote listings of the copy may hold together (`--max-entries`).
    pub max_entries: usize,
}

/// `--max-dir-entries` by default: far more than a sane directory holds, and few enough
/// that a listing that never ends stops within seconds and tens of MB.
pub const MAX_DIR_ENTRIES: usize = 100_000;
/// `--max-entries` by default: bounds the listings of a whole tree (breadth, which the
/// depth limit does not bound), and the memory they take.
pub const MAX_ENTRIES: usize = 1_000_000;

/// What happened, file by file.
#[derive(Debug, Default)]
pub struct Report {
    /// Files copied.
    pub copied: usize,
    /// Their names (as given or found), in order.
    pub copied_names: Vec<String>,
    /// Bytes moved (not counting what `--resume` found already there).
    pub bytes: u64,
    /// `(path, reason)` of what was not copied.
    pub failed: Vec<(String, String)>,
    /// Things skipped on purpose, with why.
    pub warnings: Vec<String>,
    /// Entries listed so far (against `--max-entries`).
    pub listed: usize,
    /// Why the copy stopped before the end, already escaped (a limit was reached).
    pub stopped: Option<String>,
}

/// Suffix of temporary files; the name is `.NAME.eic-ssh.part` beside the final one, or,
/// when that would not fit in a file name, `.PREFIX~HASH.eic-ssh.part` (see [`part_bytes`]).
pub const PART_SUFFIX: &str = ".eic-ssh.part";

/// The longest file name most file systems take (NAME_MAX), in bytes.
const NAME_MAX: usize = 255;

/// The temporary name for `name` as bytes: `.NAME.eic-ssh.part` when it fits in
/// [`NAME_MAX`] bytes; else as much of `NAME` as fits, `~` and 16 hex digits of the SHA-1
/// of the whole name (still hidden, the same at every run for `--resume`, and different
/// for two long names with the same beginning). `boundary` says where `NAME` may be cut.
fn part_bytes(name: &[u8], boundary: impl Fn(usize) -> bool) -> Vec<u8> {
    let mut part = b".".to_vec();
    if 1 + name.len() + PART_SUFFIX.len() <= NAME_MAX {
        part.extend_from_slice(name);
    } else {
        use sha1::Digest;
        let digest = sha1::Sha1::digest(name);
        let hash: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
        let mut keep = NAME_MAX - 1 - 1 - hash.len() - PART_SUFFIX.len();
        while keep > 0 && !boundary(keep) {
            keep -= 1;
        }
        part.extend_from_slice(&name[..keep]);
        part.push(b'~');
        part.extend_from_slice(hash.as_bytes());
    }
    part.extend_from_slice(PART_SUFFIX.as_bytes());
    part
}

/// The temporary name for a remote `name` (cut on a character boundary).
pub fn part_name(name: &str) -> String {
    let part = part_bytes(name.as_bytes(), |i| name.is_char_boundary(i));
    String::from_utf8(part).unwrap_or_default()
}

/// [`part_name`] for a local name, which may not be UTF-8 (on Unix cut anywhere; on
/// Windows names are Unicode, cut on a character boundary).
fn part_name_os(name: &OsStr) -> OsString {
    let bytes = name_bytes(name);
    let boundary = |i: usize| cfg!(unix) || bytes.get(i).is_none_or(|b| b & 0xC0 != 0x80);
    name_from_bytes(part_bytes(&bytes, boundary))
}

/// The shared state of one copy.
pub struct Transfer<'a> {
    /// The SFTP session.
    pub sftp: &'a Sftp,
    /// Flags.
    pub options: Options,
    /// Bars.
    pub progress: &'a Progress,
    /// Results so far (kept outside, so an interrupted copy can still report).
    pub report: &'a Mutex<Report>,
}

impl Transfer<'_> {
    fn fail(&self, path: impl Into<String>, why: impl Into<String>) {
        // Once the session broke, every failure is that, whatever russh-sftp called it.
        let why = match self.sftp.broken() {
            Some(broken) => broken_text(&broken),
            None => why.into(),
        };
        self.report
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .failed
            .push((path.into(), why));
    }

    fn warn(&self, message: String) {
        self.report
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .warnings
            .push(message);
    }

    /// Whether the copy must stop: a limit was reached, or the SFTP session broke.
    fn stopping(&self) -> bool {
        self.sftp.broken().is_some()
            || self
                .report
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .stopped
                .is_some()
    }

    /// Lists `dir` within `--max-dir-entries` and what is left of `--max-entries`; a
    /// listing over either stops the copy.
    async fn list(&self, dir: &str) -> Option<Vec<Entry>> {
        let listed = self.report.lock().unwrap_or_else(|e| e.into_inner()).listed;
        let left = self.options.max_entries.saturating_sub(listed);
        let max = left.min(self.options.max_dir_entries);
        match self.sftp.list(dir, max).await {
            Ok(entries) => {
                self.report.lock().unwrap_or_else(|e| e.into_inner()).listed += entries.len();
                Some(entries)
            }
            Err(ListError::TooMany) => {
                let why = if left < self.options.max_dir_entries {
                    format!(
                        "the listings reached {} entries in all (--max-entries) while listing {}",
                        self.options.max_entries,
                        printable::escape(dir)
                    )
                } else {
                    format!(
                        "the server listed more than {} entries in {} (--max-dir-entries)",
                        self.options.max_dir_entries,
                        printable::escape(dir)
                    )
                };
                let mut report = self.report.lock().unwrap_or_else(|e| e.into_inner());
                report.stopped.get_or_insert(why);
                None
            }
            Err(ListError::Sftp(e)) => {
                self.fail(dir, describe(&e));
                None
            }
        }
    }

    fn copied(&self, name: &str, bytes: u64) {
        let mut r = self.report.lock().unwrap_or_else(|e| e.into_inner());
        r.copied += 1;
        r.copied_names.push(name.to_string());
        r.bytes += bytes;
    }

    /// Local sources to `dest` on the instance.
    pub async fn upload(&self, sources: &[PathBuf], dest: &str) {
        let dest_attrs = match self.sftp.stat(dest).await {
            Ok(a) => a,
            Err(e) => return self.fail(dest, describe(&e)),
        };
        let dest_is_dir = dest_attrs.as_ref().is_some_and(|a| kind(a) == Kind::Dir);
        // As with scp, one source may take a new name (a directory too, with -r).
        let many = sources.len() > 1;
        if let Some(why) = dest_problem(dest, dest_attrs.is_some(), dest_is_dir, many) {
            return self.fail(dest, why);
        }
        if !dest_is_dir {
            let parent = remote_parent(dest);
            match self.sftp.stat(&parent).await {
                Ok(Some(a)) if kind(&a) == Kind::Dir => {}
                _ => {
                    return self.fail(
                        dest,
                        format!("destination directory {parent} does not exist"),
                    );
                }
            }
        }
        for src in sources {
            if self.stopping() {
                return;
            }
            let meta = match std::fs::metadata(src) {
                Ok(m) => m,
                Err(e) => {
                    self.fail(src.display().to_string(), io_reason(&e));
                    continue;
                }
            };
            // As scp: a source named on the command line is a file or a directory.
            if !meta.is_file() && !meta.is_dir() {
                self.fail(src.display().to_string(), "not a regular file");
                continue;
            }
            let target = if dest_is_dir {
                remote_join(dest, &local_name(src))
            } else {
                dest.trim_end_matches('/').to_string()
            };
            self.upload_entry(src, meta, &target).await;
        }
    }

    async fn upload_entry(&self, src: &Path, meta: std::fs::Metadata, target: &str) {
        if self.stopping() {
            return;
        }
        let shown = src.display().to_string();
        let kind = meta.file_type();
        if kind.is_dir() {
            if !self.options.recursive {
                return self.fail(shown, "is a directory (use -r)");
            }
            if let Err(e) = self.sftp.mkdir(target, unix_mode(&meta)).await {
                return self.fail(target, format!("cannot create directory: {}", describe(&e)));
            }
            let mut children: Vec<_> = match std::fs::read_dir(src) {
                Ok(d) => d.flatten().map(|e| e.path()).collect(),
                Err(e) => return self.fail(shown, io_reason(&e)),
            };
            children.sort();
            for child in children {
                let Ok(child_meta) = std::fs::symlink_metadata(&child) else {
                    continue;
                };
                let child_target = remote_join(target, &local_name(&child));
                Box::pin(self.upload_entry(&child, child_meta, &child_target)).await;
            }
            if self.options.preserve {
                let _ = self
                    .sftp
                    .set_attrs(
                        target,
                        unix_mode(&meta),
                        secs(times(&meta).0),
                        secs(times(&meta).1),
                    )
                    .await;
            }
        } else if kind.is_symlink() {
            let link = match std::fs::read_link(src) {
                Ok(l) => l.display().to_string(),
                Err(e) => return self.fail(shown, io_reason(&e)),
            };
            let _ = self.sftp.remove(target).await;
            match self.sftp.symlink(target, &link).await {
                Ok(()) => self.copied(&shown, 0),
                Err(e) => self.fail(shown, format!("cannot create symlink: {}", describe(&e))),
            }
        } else if kind.is_file() {
            self.upload_file(src, &meta, target).await;
        } else {
            self.warn(format!(
                "skipping {shown}: not a regular file, directory or symlink"
            ));
        }
    }

    async fn upload_file(&self, src: &Path, meta: &std::fs::Metadata, target: &str) {
        let shown = src.display().to_string();
        let part = remote_join(&remote_parent(target), &part_name(&remote_name(target)));
        let size = meta.len();
        let offset = if self.options.resume {
            match self.sftp.lstat(&part).await {
                Ok(Some(a)) if kind(&a) == Kind::File => a.size.unwrap_or(0).min(size),
                Ok(Some(_)) => {
                    return self.fail(
                        shown,
                        format!(
                            "{part} on the instance is not a regular file; not resuming into it (remove it, or copy without --resume)"
                        ),
                    );
                }
                _ => 0,
            }
        } else {
            0
        };
        let mut file = match tokio::fs::File::open(src).await {
            Ok(f) => f,
            Err(e) => return self.fail(shown, io_reason(&e)),
        };
        let bar = self.progress.file(&printable::escape(&shown), size, offset);
        let sent = self
            .sftp
            .upload(&mut file, &part, unix_mode(meta), offset, &|n| bar.inc(n))
            .await;
        bar.done();
        let sent = match sent {
            Ok(n) => n,
            Err(e) => {
                return self.fail(
                    shown,
                    format!("cannot write {target} on the instance: {}", describe(&e)),
                );
            }
        };
        if offset + sent != size {
            return self.fail(shown, "the file changed size during the copy");
        }
        if let Err(e) = self.sftp.rename_over(&part, target).await {
            return self.fail(shown, format!("cannot rename into place: {}", describe(&e)));
        }
        if self.options.preserve
            && let Err(e) = self
                .sftp
                .set_attrs(
                    target,
                    unix_mode(meta),
                    secs(times(meta).0),
                    secs(times(meta).1),
                )
                .await
        {
            self.warn(format!(
                "{target}: cannot keep mode and times: {}",
                describe(&e)
            ));
        }
        self.copied(&shown, sent);
    }

    /// Remote sources (globs allowed) to local `dest`. Every name the server lists is
    /// checked as one path component, and every local step is taken relative to an open
    /// directory without following symlinks (see [`LocalDir`]).
    pub async fn download(&self, sources: &[String], dest: &Path) {
        let mut expanded = Vec::new();
        for src in sources {
            let pattern = remote_name(src);
            if !wildcard::has_wildcard(&pattern) {
                expanded.push(src.clone());
                continue;
            }
            let parent = remote_parent(src);
            let Some(entries) = self.list(&parent).await else {
                if self.stopping() {
                    return;
                }
                continue;
            };
            let matching: Vec<Entry> = entries
                .into_iter()
                .filter(|e| wildcard::matches(&pattern, &e.name, false))
                .collect();
            if matching.is_empty() {
                self.fail(src.clone(), "no match");
            }
            for entry in self.checked(matching, &parent) {
                expanded.push(remote_join(&parent, &entry.name));
            }
        }
        let dest_meta = std::fs::metadata(dest).ok();
        let dest_is_dir = dest_meta.as_ref().is_some_and(|m| m.is_dir());
        let many = expanded.len() > 1 || sources.len() > 1;
        let shown_dest = dest.display().to_string();
        if let Some(why) = dest_problem(&shown_dest, dest_meta.is_some(), dest_is_dir, many) {
            return self.fail(shown_dest, why);
        }
        // A device or FIFO named as the destination is written into, never replaced.
        if let (Some(meta), [src]) = (&dest_meta, expanded.as_slice())
            && is_special(&meta.file_type())
        {
            return self.download_into_special(src, dest).await;
        }
        // Into a directory each source keeps its own name; else `dest` names the one copy.
        let (dir_path, new_name) = if dest_is_dir {
            (dest, None)
        } else {
            let parent = dest
                .parent()
                .filter(|p| !p.as_os_str().is_empty())
                .unwrap_or(Path::new("."));
            match dest.file_name() {
                Some(name) if !dest.ends_with("..") => (parent, Some(name.to_os_string())),
                _ => return self.fail(shown_dest, "the destination does not name a file"),
            }
        };
        let dir = match LocalDir::open(dir_path) {
            Ok(d) => d,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return self.fail(
                    shown_dest,
                    format!(
                        "destination directory {} does not exist",
                        dir_path.display()
                    ),
                );
            }
            Err(e) => return self.fail(shown_dest, io_reason(&e)),
        };
        for src in expanded {
            if self.stopping() {
                return;
            }
            let attrs = match self.sftp.stat(&src).await {
                Ok(Some(a)) => a,
                Ok(None) => {
                    self.fail(src, "No such file");
                    continue;
                }
                Err(e) => {
                    self.fail(src, describe(&e));
                    continue;
                }
            };
            let name = match &new_name {
                Some(n) => n.clone(),
                None => {
                    let n = remote_name(&src);
                    if names::refusal(&n).is_some() {
                        self.fail(
                            src,
                            "names no file or directory to copy (name one, or give a new destination name)",
                        );
                        continue;
                    }
                    n.into()
                }
            };
            self.download_entry(&src, &attrs, &dir, &name, 0).await;
        }
    }

    /// The entries of a listing that are safe to use: one path component each, listed once.
    /// Every other entry is reported as not copied, with the escaped name.
    fn checked(&self, entries: Vec<Entry>, dir: &str) -> Vec<Entry> {
        let mut seen = std::collections::HashMap::new();
        for e in &entries {
            *seen.entry(e.name.clone()).or_insert(0usize) += 1;
        }
        let mut twice = std::collections::HashSet::new();
        let mut out = Vec::new();
        for e in entries {
            let shown = remote_join(dir, &e.name);
            if let Some(why) = names::refusal(&e.name) {
                self.fail(
                    shown,
                    format!("refused: the server listed {why}, not one file name"),
                );
            } else if let Some(raw) = self.sftp.not_utf8(&e.name) {
                if twice.insert(e.name.clone()) {
                    self.fail(
                        remote_join(dir, &printable::escape_bytes(&raw)),
                        "refused: the name is not UTF-8 (shown with \\xNN for its bad bytes); copying it could overwrite another file",
                    );
                }
            } else if seen[&e.name] > 1 {
                if twice.insert(e.name.clone()) {
                    self.fail(shown, "refused: the server listed this name more than once");
                }
            } else {
                out.push(e);
            }
        }
        out
    }

    async fn download_entry(
        &self,
        src: &str,
        attrs: &FileAttributes,
        dir: &LocalDir,
        name: &OsStr,
        depth: usize,
    ) {
        if self.stopping() {
            return;
        }
        let mode = attrs.permissions.unwrap_or(0o644) & 0o777;
        match kind(attrs) {
            Kind::Dir => {
                if !self.options.recursive {
                    return self.fail(src, "is a directory (use -r)");
                }
                if depth >= MAX_DEPTH {
                    return self.fail(
                        src,
                        format!("more than {MAX_DEPTH} directories deep; not copied"),
                    );
                }
                // As OpenSSH does: the owner can always write into what it just made.
                let sub = match dir.subdir(name, mode | 0o700) {
                    Ok((sub, _created)) => sub,
                    Err(e) => {
                        return self
                            .fail(src, format!("cannot create directory: {}", io_reason(&e)));
                    }
                };
                let Some(entries) = self.list(src).await else {
                    return;
                };
                for entry in self.checked(entries, src) {
                    let child = remote_join(src, &entry.name);
                    let child_name = OsStr::new(&entry.name);
                    Box::pin(self.download_entry(
                        &child,
                        &entry.attrs,
                        &sub,
                        child_name,
                        depth + 1,
                    ))
                    .await;
                }
                if self.options.preserve {
                    let _ = chmod(sub.handle(), mode);
                    let _ = set_times(sub.handle(), atime(attrs), mtime(attrs));
                }
            }
            Kind::Symlink => {
                let link = match self.sftp.read_link(src).await {
                    Ok(l) => l,
                    Err(e) => return self.fail(src, describe(&e)),
                };
                match dir.symlink(&link, name) {
                    Ok(()) => self.copied(src, 0),
                    Err(e) => self.fail(src, format!("cannot create symlink: {}", io_reason(&e))),
                }
            }
            Kind::File => self.download_file(src, attrs, dir, name).await,
            // As scp: what the command line names must be a file or a directory.
            Kind::Other if depth == 0 => self.fail(src, "not a regular file"),
            Kind::Other => self.warn(format!(
                "skipping {}: not a regular file, directory or symlink",
                printable::escape(src)
            )),
        }
    }

    async fn download_file(&self, src: &str, attrs: &FileAttributes, dir: &LocalDir, name: &OsStr) {
        let size = attrs.size.unwrap_or(0);
        let mode = attrs.permissions.unwrap_or(0o644) & 0o777;
        let part = part_name_os(name);
        // The owner can write to the part file whatever the source's mode says.
        let opened = if self.options.resume {
            dir.open_to_resume(&part, mode | 0o200)
        } else {
            dir.create_new(&part, mode | 0o200)
        };
        let file = match opened {
            Ok(f) => f,
            Err(e) => {
                return self.fail(
                    src,
                    format!("cannot write {}: {}", part.to_string_lossy(), io_reason(&e)),
                );
            }
        };
        let offset = match file.metadata() {
            Ok(m) if self.options.resume => m.len().min(size),
            _ => 0,
        };
        let _ = file.set_len(offset);
        // A server may announce any size: what does not fit is refused before a byte moves.
        if let Some(free) = dir.available()
            && size - offset > free
        {
            return self.fail(
                src,
                format!(
                    "the instance announces {} ({} bytes) but only {} is free where it goes; nothing was downloaded (the part file {} is kept)",
                    human_bytes(size - offset),
                    size - offset,
                    human_bytes(free),
                    part.to_string_lossy()
                ),
            );
        }
        let mut file = tokio::fs::File::from_std(file);
        if let Err(e) =
            tokio::io::AsyncSeekExt::seek(&mut file, std::io::SeekFrom::Start(offset)).await
        {
            return self.fail(src, io_reason(&e));
        }
        let bar = self.progress.file(&printable::escape(src), size, offset);
        let got = self
            .sftp
            .download(src, size, &mut file, offset, &|n| bar.inc(n))
            .await;
        bar.done();
        let got = match got {
            Ok(n) => n,
            Err(e) => {
                // What arrived stays in the part file for --resume: the last write may
                // still be on its way to the disk.
                let _ = tokio::io::AsyncWriteExt::flush(&mut file).await;
                return self.fail(src, download_reason(&e, &part.to_string_lossy()));
            }
        };
        // The last byte must be on disk before the file gets its final name.
        if let Err(e) = file.sync_data().await {
            return self.fail(src, io_reason(&e));
        }
        if offset + got != size {
            return self.fail(src, "the file changed size during the copy");
        }
        if self.options.preserve {
            let file = file.into_std().await;
            let _ = set_times(&file, atime(attrs), mtime(attrs));
            let _ = chmod(&file, mode);
        }
        if let Err(e) = dir.rename(&part, name) {
            return self.fail(src, format!("cannot rename into place: {}", io_reason(&e)));
        }
        self.copied(src, got);
    }

    /// One remote file into a device or FIFO the user named, as scp does: opened for
    /// writing where it is (no part file, no rename, no sync), write errors reported.
    async fn download_into_special(&self, src: &str, dest: &Path) {
        let shown = dest.display().to_string();
        let attrs = match self.sftp.stat(src).await {
            Ok(Some(a)) if kind(&a) == Kind::File => a,
            Ok(Some(_)) => return self.fail(src, "not a regular file"),
            Ok(None) => return self.fail(src, "No such file"),
            Err(e) => return self.fail(src, describe(&e)),
        };
        // Opening a FIFO waits for its reader, as with scp; off the runtime's threads.
        let mut file = match tokio::fs::OpenOptions::new().write(true).open(dest).await {
            Ok(f) => f,
            Err(e) => return self.fail(src, format!("cannot write {shown}: {}", io_reason(&e))),
        };
        match file.metadata().await {
            Ok(m) if is_special(&m.file_type()) => {}
            _ => {
                return self.fail(
                    src,
                    format!("{shown} changed while it was opened; not written"),
                );
            }
        }
        let size = attrs.size.unwrap_or(0);
        let bar = self.progress.file(&printable::escape(src), size, 0);
        let got = self
            .sftp
            .download(src, size, &mut file, 0, &|n| bar.inc(n))
            .await;
        bar.done();
        match got {
            Ok(n) if n == size => self.copied(src, n),
            Ok(_) => self.fail(src, "the file changed size during the copy"),
            Err(DownloadError::Local(e)) => {
                self.fail(src, format!("cannot write {shown}: {}", io_reason(&e)))
            }
            Err(e) => self.fail(src, download_reason(&e, &shown)),
        }
    }
}

/// What went wrong with a download, for the line that names the file.
fn download_reason(e: &DownloadError, local: &str) -> String {
    match e {
        DownloadError::Remote(e) => describe(e),
        DownloadError::Local(e) => format!("cannot write {local}: {}", io_reason(e)),
    }
}

/// How deep `-r` goes into a remote tree (each level holds one open directory; a server
/// that lies could otherwise list directories forever).
pub const MAX_DEPTH: usize = 128;

fn atime(attrs: &FileAttributes) -> u32 {
    attrs.atime.unwrap_or(0)
}

fn mtime(attrs: &FileAttributes) -> u32 {
    attrs.mtime.or(attrs.atime).unwrap_or(0)
}

/// Why a destination cannot take the sources, if it cannot.
fn dest_problem(dest: &str, exists: bool, is_dir: bool, many: bool) -> Option<String> {
    match (many, exists, is_dir) {
        (true, true, false) => Some(format!("destination {dest} is a file, not a directory")),
        (true, false, _) => Some(format!("destination directory {dest} does not exist")),
        (false, false, _) if dest.ends_with('/') => {
            Some(format!("destination directory {dest} does not exist"))
        }
        _ => None,
    }
}

fn secs(t: i64) -> u32 {
    u32::try_from(t.max(0)).unwrap_or(u32::MAX)
}

fn io_reason(e: &std::io::Error) -> String {
    let text = e.to_string();
    text.split(" (os error").next().unwrap_or(&text).to_string()
}

/// The name a local source gets on the other side.
fn local_name(path: &Path) -> String {
    match path.file_name() {
        Some(n) => n.to_string_lossy().into_owned(),
        None => std::fs::canonicalize(path)
            .ok()
            .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
            .unwrap_or_else(|| "root".into()),
    }
}

fn remote_join(dir: &str, name: &str) -> String {
    match dir {
        "" | "." => name.to_string(),
        d if d.ends_with('/') => format!("{d}{name}"),
        d => format!("{d}/{name}"),
    }
}

fn remote_parent(path: &str) -> String {
    let trimmed = path.trim_end_matches('/');
    match trimmed.rfind('/') {
        Some(0) => "/".into(),
        Some(i) => trimmed[..i].to_string(),
        None => ".".into(),
    }
}

fn remote_name(path: &str) -> String {
    let trimmed = path.trim_end_matches('/');
    trimmed.rsplit('/').next().unwrap_or(trimmed).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remote_paths() {
        assert_eq!(remote_join(".", "a"), "a");
        assert_eq!(remote_join("/tmp/", "a"), "/tmp/a");
        assert_eq!(remote_join("in", "a b"), "in/a b");
        assert_eq!(remote_parent("/var/log/x.gz"), "/var/log");
        assert_eq!(remote_parent("/x"), "/");
        assert_eq!(remote_parent("x"), ".");
        assert_eq!(remote_name("/var/log/"), "log");
        assert_eq!(part_name("a.txt"), ".a.txt.eic-ssh.part");
    }

    #[test]
    fn long_names_get_a_part_name_that_fits() {
        let fits = "a".repeat(NAME_MAX - 14);
        assert_eq!(part_name(&fits), format!(".{fits}.eic-ssh.part"));
        assert_eq!(part_name(&fits).len(), NAME_MAX);
        for n in [242, 250, 255] {
            let long = "é".repeat(n / 2) + &"b".repeat(n % 2);
            let other = "é".repeat(n / 2) + &"c".repeat(n % 2 + 1);
            let part = part_name(&long);
            assert!(part.len() <= NAME_MAX && part.starts_with(".é"), "{part}");
            assert!(part.ends_with(PART_SUFFIX) && part.contains('~'), "{part}");
            assert_eq!(part, part_name(&long), "the same at every run");
            assert_ne!(part, part_name(&other), "unique");
            let os = part_name_os(OsStr::new(&long));
            assert!(os.len() <= NAME_MAX);
        }
    }

    #[test]
    fn destinations() {
        assert_eq!(dest_problem("d", true, true, true), None);
        assert_eq!(
            dest_problem("f", true, false, true).unwrap(),
            "destination f is a file, not a directory"
        );
        assert_eq!(
            dest_problem("n/", false, false, false).unwrap(),
            "destination directory n/ does not exist"
        );
        assert_eq!(dest_problem("new.txt", false, false, false), None);
    }
}
