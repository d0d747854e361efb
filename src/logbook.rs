//! The local connection log: one JSON line per connection attempt in
//! `$XDG_STATE_HOME/eic-ssh/log.jsonl` (0600, rotated by size). No secrets, no key material;
//! a failure to write it never stops a connection and is warned about once.

use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use crate::local::private::{self, OpenPrivate};

/// The log is rotated to `log.jsonl.1` once it passes this size.
pub const MAX_BYTES: u64 = 1024 * 1024;

/// The most read of one log file: twice the rotation size, as a file may outgrow it
/// between rotations, and no more.
const MAX_READ: u64 = 2 * MAX_BYTES;

/// One connection attempt, as written.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Entry {
    /// When it started (RFC 3339, UTC).
    pub time: String,
    /// The local user.
    pub local_user: String,
    /// `session`, `cp`, `proxy` or `tunnel`.
    pub command: String,
    /// The target as typed.
    pub target: String,
    /// The instance it resolved to.
    pub instance: Option<String>,
    /// The endpoint used.
    pub endpoint: Option<String>,
    /// The egress IP the guard saw.
    pub egress_ip: Option<String>,
    /// `allowed`, `refused`, `unchecked`, `security_group`.
    pub guard: Option<String>,
    /// The road the egress check and the tunnel took: `direct`, or `via HOST:PORT` (a
    /// proxy, never its credentials).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub road: Option<String>,
    /// `SHA256:…` of the host key the instance presented.
    pub host_key: Option<String>,
    /// `ok`, or the one-line failure.
    pub outcome: String,
    /// The exit code.
    pub exit: i32,
    /// Bytes sent to the instance.
    pub bytes_up: u64,
    /// Bytes received from it.
    pub bytes_down: u64,
    /// How long it lasted.
    pub duration_ms: u64,
}

/// Warned once per process that the log cannot be written.
static WARNED: AtomicBool = AtomicBool::new(false);

impl Entry {
    /// A fresh entry stamped now.
    pub fn new(command: &str, target: &str) -> Entry {
        Entry {
            time: aws_smithy_types::DateTime::from(SystemTime::now())
                .fmt(aws_smithy_types::date_time::Format::DateTime)
                .unwrap_or_default(),
            local_user: local_user(),
            command: command.into(),
            target: target.into(),
            outcome: "ok".into(),
            ..Entry::default()
        }
    }
}

fn local_user() -> String {
    private::user_name()
}

/// `$XDG_STATE_HOME/eic-ssh/log.jsonl`, else `~/.local/state/eic-ssh/log.jsonl`.
pub fn path() -> Option<PathBuf> {
    let base = crate::local::paths::state_base()?;
    Some(base.join("eic-ssh").join("log.jsonl"))
}

/// Appends one attempt's line; warns once on failure.
pub fn append(entry: &Entry) {
    let Some(path) = path() else { return };
    if let Err(e) = append_to(&path, entry, MAX_BYTES)
        && !WARNED.swap(true, Ordering::Relaxed)
    {
        eprintln!(
            "eic-ssh: warning: cannot write the connection log {}: {e} (the connection is not affected; `log = false` in the config turns the log off)",
            path.display()
        );
    }
}

/// Appends to `path` in one `write(2)`, rotating it first when it has reached `max` bytes.
/// Only a regular file of ours, mode 0600, in a directory of ours is written.
pub fn append_to(path: &Path, entry: &Entry, max: u64) -> io::Result<()> {
    private::make_dir(
        path.parent().unwrap_or(Path::new(".")),
        private::Others::MayRead,
    )?;
    let open = || {
        std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .private_mode(0o600)
            .no_follow()
            .open(path)
    };
    let mut file = open()?;
    let meta = file.metadata()?;
    if !meta.is_file() || !private::is_mine(&meta) {
        return Err(io::Error::other("not a regular file of yours"));
    }
    if meta.len() >= max {
        let mut rotated = path.as_os_str().to_owned();
        rotated.push(".1");
        std::fs::rename(path, &rotated)?;
        file = open()?;
    }
    let mut line = serde_json::to_vec(entry).map_err(io::Error::other)?;
    line.push(b'\n');
    file.write_all(&line)
}

/// The last `n` entries, oldest first, from the rotated file and the current one (lines
/// that do not parse are skipped).
pub fn last(path: &Path, n: usize) -> io::Result<Vec<Entry>> {
    let mut rotated = path.as_os_str().to_owned();
    rotated.push(".1");
    let mut entries = Vec::new();
    for file in [PathBuf::from(rotated), path.to_path_buf()] {
        // A FIFO or a device planted there must not hang or flood `eic-ssh log`.
        let bytes = match crate::local::files::read_limited(&file, MAX_READ) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) if file == path => return Err(e),
            Err(e) => return Err(io::Error::new(e.kind(), format!("{}: {e}", file.display()))),
        };
        for line in bytes.split(|&b| b == b'\n') {
            if let Ok(entry) = serde_json::from_slice::<Entry>(line) {
                entries.push(entry);
            }
        }
    }
    let skip = entries.len().saturating_sub(n);
    Ok(entries.split_off(skip))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_append_rotate_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state/eic-ssh/log.jsonl");
        for i in 0..5 {
            let entry = Entry::new("proxy", &format!("host-{i}"));
            append_to(&path, &entry, 400).unwrap();
        }
        let rotated = dir.path().join("state/eic-ssh/log.jsonl.1");
        assert!(rotated.exists(), "rotated past 400 bytes");
        assert!(std::fs::metadata(&path).unwrap().len() < 800);
        let back = last(&path, 3).unwrap();
        let targets: Vec<&str> = back.iter().map(|e| e.target.as_str()).collect();
        assert_eq!(targets, ["host-2", "host-3", "host-4"]);
        #[cfg(unix)]
        assert_eq!(private::mode_of(&path), Some(0o600));
    }

    #[test]
    fn a_planted_symlink_is_not_followed() {
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("victim");
        std::fs::write(&victim, "precious").unwrap();
        let path = dir.path().join("log.jsonl");
        private::symlink(&victim, &path).unwrap();
        assert!(append_to(&path, &Entry::new("proxy", "x"), MAX_BYTES).is_err());
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
    }
}
