//! The copy rules: where each source lands, temporary names renamed only after the last
//! byte is confirmed, `--resume`, `-r` (symlinks as links, special files skipped), `-p`.

use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, UNIX_EPOCH};

use russh_sftp::protocol::FileAttributes;

use super::progress::Progress;
use super::sftp::{Sftp, describe};
use crate::wildcard;

/// What `-r`, `-p` and `--resume` ask for.
#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    /// Copy directories recursively.
    pub recursive: bool,
    /// Keep modes and times.
    pub preserve: bool,
    /// Continue partial files by size.
    pub resume: bool,
}

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
}

/// Suffix of temporary files; the name is `.NAME.eic-ssh.part` beside the final one.
pub const PART_SUFFIX: &str = ".eic-ssh.part";

/// The temporary name for `name`.
pub fn part_name(name: &str) -> String {
    format!(".{name}{PART_SUFFIX}")
}

/// The shared state of one copy.
pub struct Copy<'a> {
    /// The SFTP session.
    pub sftp: &'a Sftp,
    /// Flags.
    pub options: Options,
    /// Bars.
    pub progress: &'a Progress,
    /// Results so far (kept outside, so an interrupted copy can still report).
    pub report: &'a Mutex<Report>,
}

impl Copy<'_> {
    fn fail(&self, path: impl Into<String>, why: impl Into<String>) {
        self.report
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .failed
            .push((path.into(), why.into()));
    }

    fn warn(&self, message: String) {
        self.report
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .warnings
            .push(message);
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
        let dest_is_dir = dest_attrs.as_ref().is_some_and(|a| a.is_dir());
        // As with scp, one source may take a new name (a directory too, with -r).
        let many = sources.len() > 1;
        if let Some(why) = dest_problem(dest, dest_attrs.is_some(), dest_is_dir, many) {
            return self.fail(dest, why);
        }
        if !dest_is_dir {
            let parent = remote_parent(dest);
            match self.sftp.stat(&parent).await {
                Ok(Some(a)) if a.is_dir() => {}
                _ => {
                    return self.fail(
                        dest,
                        format!("destination directory {parent} does not exist"),
                    );
                }
            }
        }
        for src in sources {
            let meta = match std::fs::metadata(src) {
                Ok(m) => m,
                Err(e) => {
                    self.fail(src.display().to_string(), io_reason(&e));
                    continue;
                }
            };
            let target = if dest_is_dir {
                remote_join(dest, &local_name(src))
            } else {
                dest.trim_end_matches('/').to_string()
            };
            self.upload_entry(src, meta, &target).await;
        }
    }

    async fn upload_entry(&self, src: &Path, meta: std::fs::Metadata, target: &str) {
        let shown = src.display().to_string();
        let kind = meta.file_type();
        if kind.is_dir() {
            if !self.options.recursive {
                return self.fail(shown, "is a directory (use -r)");
            }
            if let Err(e) = self.sftp.mkdir(target, meta.mode()).await {
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
                    .set_attrs(target, meta.mode(), secs(meta.atime()), secs(meta.mtime()))
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
            match self.sftp.stat(&part).await {
                Ok(Some(a)) => a.size.unwrap_or(0).min(size),
                _ => 0,
            }
        } else {
            0
        };
        let mut file = match tokio::fs::File::open(src).await {
            Ok(f) => f,
            Err(e) => return self.fail(shown, io_reason(&e)),
        };
        let bar = self.progress.file(&shown, size, offset);
        let sent = self
            .sftp
            .upload(&mut file, &part, meta.mode(), offset, &|n| bar.inc(n))
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
                .set_attrs(target, meta.mode(), secs(meta.atime()), secs(meta.mtime()))
                .await
        {
            self.warn(format!(
                "{target}: cannot keep mode and times: {}",
                describe(&e)
            ));
        }
        self.copied(&shown, sent);
    }

    /// Remote sources (globs allowed) to local `dest`.
    pub async fn download(&self, sources: &[String], dest: &Path) {
        let mut expanded = Vec::new();
        for src in sources {
            if !wildcard::has_wildcard(&remote_name(src)) {
                expanded.push(src.clone());
                continue;
            }
            let parent = remote_parent(src);
            let pattern = remote_name(src);
            match self.sftp.list(&parent).await {
                Ok(entries) => {
                    let found: Vec<String> = entries
                        .iter()
                        .filter(|e| wildcard::matches(&pattern, &e.name, false))
                        .map(|e| remote_join(&parent, &e.name))
                        .collect();
                    if found.is_empty() {
                        self.fail(src.clone(), "no match");
                    }
                    expanded.extend(found);
                }
                Err(e) => self.fail(src.clone(), describe(&e)),
            }
        }
        let dest_meta = std::fs::metadata(dest).ok();
        let dest_is_dir = dest_meta.as_ref().is_some_and(|m| m.is_dir());
        let many = expanded.len() > 1 || sources.len() > 1;
        let shown_dest = dest.display().to_string();
        if let Some(why) = dest_problem(&shown_dest, dest_meta.is_some(), dest_is_dir, many) {
            return self.fail(shown_dest, why);
        }
        if !dest_is_dir {
            let parent = dest
                .parent()
                .filter(|p| !p.as_os_str().is_empty())
                .unwrap_or(Path::new("."));
            if !parent.is_dir() {
                return self.fail(
                    shown_dest,
                    format!("destination directory {} does not exist", parent.display()),
                );
            }
        }
        for src in expanded {
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
            let target = if dest_is_dir {
                dest.join(remote_name(&src))
            } else {
                dest.to_path_buf()
            };
            self.download_entry(&src, &attrs, &target).await;
        }
    }

    async fn download_entry(&self, src: &str, attrs: &FileAttributes, target: &Path) {
        let mode = attrs.permissions.unwrap_or(0o644);
        if attrs.is_dir() {
            if !self.options.recursive {
                return self.fail(src, "is a directory (use -r)");
            }
            if let Err(e) = std::fs::create_dir(target)
                && !(e.kind() == std::io::ErrorKind::AlreadyExists && target.is_dir())
            {
                return self.fail(
                    target.display().to_string(),
                    format!("cannot create directory: {}", io_reason(&e)),
                );
            }
            let entries = match self.sftp.list(src).await {
                Ok(e) => e,
                Err(e) => return self.fail(src, describe(&e)),
            };
            for entry in entries {
                let child = remote_join(src, &entry.name);
                Box::pin(self.download_entry(&child, &entry.attrs, &target.join(&entry.name)))
                    .await;
            }
            let _ =
                std::fs::set_permissions(target, std::fs::Permissions::from_mode(mode & 0o7777));
            if self.options.preserve {
                set_times(target, attrs);
            }
        } else if attrs.is_symlink() {
            let link = match self.sftp.read_link(src).await {
                Ok(l) => l,
                Err(e) => return self.fail(src, describe(&e)),
            };
            let _ = std::fs::remove_file(target);
            match std::os::unix::fs::symlink(&link, target) {
                Ok(()) => self.copied(src, 0),
                Err(e) => self.fail(src, format!("cannot create symlink: {}", io_reason(&e))),
            }
        } else if attrs.is_regular() {
            self.download_file(src, attrs, target).await;
        } else {
            self.warn(format!(
                "skipping {src}: not a regular file, directory or symlink"
            ));
        }
    }

    async fn download_file(&self, src: &str, attrs: &FileAttributes, target: &Path) {
        let size = attrs.size.unwrap_or(0);
        let mode = attrs.permissions.unwrap_or(0o644) & 0o7777;
        let name = target
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let part = target.with_file_name(part_name(&name));
        let offset = if self.options.resume {
            std::fs::metadata(&part)
                .map(|m| m.len().min(size))
                .unwrap_or(0)
        } else {
            0
        };
        let opened = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(offset == 0)
            .mode(mode & 0o777)
            .open(&part);
        let file = match opened {
            Ok(f) => f,
            Err(e) => {
                return self.fail(
                    src,
                    format!("cannot write {}: {}", part.display(), io_reason(&e)),
                );
            }
        };
        let _ = file.set_len(offset);
        let mut file = tokio::fs::File::from_std(file);
        if let Err(e) =
            tokio::io::AsyncSeekExt::seek(&mut file, std::io::SeekFrom::Start(offset)).await
        {
            return self.fail(src, io_reason(&e));
        }
        let bar = self.progress.file(src, size, offset);
        let got = self
            .sftp
            .download(src, size, &mut file, offset, &|n| bar.inc(n))
            .await;
        bar.done();
        let got = match got {
            Ok(n) => n,
            Err(e) => return self.fail(src, describe(&e)),
        };
        // The last byte must be on disk before the file gets its final name.
        if let Err(e) = file.sync_data().await {
            return self.fail(src, io_reason(&e));
        }
        drop(file);
        if offset + got != size {
            return self.fail(src, "the file changed size during the copy");
        }
        if let Err(e) = std::fs::rename(&part, target) {
            return self.fail(src, format!("cannot rename into place: {}", io_reason(&e)));
        }
        if self.options.preserve {
            let _ = std::fs::set_permissions(target, std::fs::Permissions::from_mode(mode));
            set_times(target, attrs);
        }
        self.copied(src, got);
    }
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

fn set_times(path: &Path, attrs: &FileAttributes) {
    let at = |s: Option<u32>| UNIX_EPOCH + Duration::from_secs(u64::from(s.unwrap_or(0)));
    let times = std::fs::FileTimes::new()
        .set_accessed(at(attrs.atime))
        .set_modified(at(attrs.mtime.or(attrs.atime)));
    if let Ok(f) = std::fs::File::options()
        .write(true)
        .open(path)
        .or_else(|_| std::fs::File::open(path))
    {
        let _ = f.set_times(times);
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
