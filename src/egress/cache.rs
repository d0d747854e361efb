//! A per-user cache of the egress IP, valid for at most 60 s, so a burst of scp runs asks once.

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

/// The longest a cached answer is trusted.
pub const MAX_TTL: Duration = Duration::from_secs(60);

/// Where and how long to cache.
#[derive(Debug, Clone)]
pub struct Cache {
    /// The cache file; `None` disables caching.
    pub path: Option<PathBuf>,
    /// How long an answer stays valid (≤ 60 s).
    pub ttl: Duration,
}

#[derive(Serialize, Deserialize)]
struct Entry {
    urls: Vec<String>,
    ip: IpAddr,
    at: u64,
}

impl Cache {
    /// `$XDG_CACHE_HOME/eic-ssh/egress-ip.json` (else `~/.cache/…`); `EIC_SSH_EGRESS_CACHE_SECS`
    /// shortens the validity (0 turns caching off).
    pub fn from_env() -> Cache {
        let ttl = std::env::var("EIC_SSH_EGRESS_CACHE_SECS")
            .ok()
            .and_then(|s| s.parse::<u64>().ok())
            .map_or(MAX_TTL, |s| Duration::from_secs(s).min(MAX_TTL));
        let base = std::env::var_os("XDG_CACHE_HOME")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")));
        let path = base
            .filter(|_| !ttl.is_zero())
            .map(|b| b.join("eic-ssh").join("egress-ip.json"));
        Cache { path, ttl }
    }

    /// The cached IP for exactly these URLs, if still fresh.
    pub fn get(&self, urls: &[String]) -> Option<IpAddr> {
        let text = std::fs::read_to_string(self.path.as_ref()?).ok()?;
        let entry: Entry = serde_json::from_str(&text).ok()?;
        let age = now().checked_sub(entry.at)?;
        (entry.urls == urls && age < self.ttl.as_secs()).then_some(entry.ip)
    }

    /// Remembers an answer; failures to write are only logged.
    pub fn put(&self, urls: &[String], ip: IpAddr) {
        let Some(path) = &self.path else { return };
        let entry = Entry {
            urls: urls.to_vec(),
            ip,
            at: now(),
        };
        if let Err(e) = write_private(path, &serde_json::to_vec(&entry).unwrap_or_default()) {
            tracing::debug!("cannot cache the egress IP in {}: {e}", path.display());
        }
    }
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Writes a file only its owner can read, atomically.
fn write_private(path: &std::path::Path, data: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
    if let Some(dir) = path.parent() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)?;
    }
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)?;
    f.write_all(data)?;
    std::fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fresh_entries_for_the_same_urls_only() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache {
            path: Some(dir.path().join("c/egress-ip.json")),
            ttl: Duration::from_secs(60),
        };
        let urls = vec!["https://a/ip".to_string()];
        assert_eq!(cache.get(&urls), None);
        cache.put(&urls, "203.0.113.9".parse().unwrap());
        assert_eq!(cache.get(&urls), Some("203.0.113.9".parse().unwrap()));
        assert_eq!(cache.get(&["https://b/ip".to_string()]), None);
        let stale = Cache {
            ttl: Duration::ZERO,
            ..cache
        };
        assert_eq!(stale.get(&urls), None);
    }
}
