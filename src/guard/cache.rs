//! A per-user cache of the egress IP, valid for at most 60 s, so a burst of scp runs asks once.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::local::private as local;

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
    /// How each URL was reached: `direct`, or the proxy's `host:port` (never its
    /// credentials). An answer learned through a proxy is the proxy's egress, not ours.
    via: Vec<String>,
    ip: IpAddr,
    at: u64,
}

/// How each of `urls` is reached with the environment's proxy settings (`HTTP_PROXY`,
/// `HTTPS_PROXY`, `ALL_PROXY`, `NO_PROXY`): `direct` or `proxy HOST:PORT`.
pub fn routes(urls: &[String]) -> Vec<String> {
    use hyper_util::client::proxy::matcher::Matcher;
    let matcher = Matcher::from_env();
    urls.iter()
        .map(|url| {
            let proxy = url
                .parse::<http::Uri>()
                .ok()
                .and_then(|uri| matcher.intercept(&uri))
                .map(|i| {
                    let p = i.uri();
                    format!(
                        "proxy {}://{}:{}",
                        p.scheme_str().unwrap_or("http"),
                        p.host().unwrap_or_default(),
                        p.port_u16().unwrap_or(0)
                    )
                });
            proxy.unwrap_or_else(|| "direct".into())
        })
        .collect()
}

impl Cache {
    /// `$XDG_CACHE_HOME/eic-ssh/egress-ip.json` (else `~/.cache/…`); `EIC_SSH_EGRESS_CACHE_SECS`
    /// shortens the validity (0 turns caching off).
    pub fn from_env() -> Cache {
        let ttl = std::env::var("EIC_SSH_EGRESS_CACHE_SECS")
            .ok()
            .and_then(|s| s.parse::<u64>().ok())
            .map_or(MAX_TTL, |s| Duration::from_secs(s).min(MAX_TTL));
        let base = crate::local::paths::cache_base();
        let path = base
            .filter(|_| !ttl.is_zero())
            .map(|b| b.join("eic-ssh").join("egress-ip.json"));
        Cache { path, ttl }
    }

    /// The cached IP for exactly these URLs, if still fresh and the file can be trusted:
    /// a regular file (not a symlink) owned by this user, mode 0600, in a directory only
    /// this user can write. Another local user must not be able to plant an answer.
    /// The answer must also have come the same way (directly, or through the same proxy).
    pub fn get(&self, urls: &[String]) -> Option<IpAddr> {
        self.get_via(urls, &routes(urls))
    }

    /// [`Cache::get`] for answers that came `via` these routes.
    pub fn get_via(&self, urls: &[String], via: &[String]) -> Option<IpAddr> {
        let path = self.path.as_ref()?;
        let text = match read_trusted(path) {
            Ok(text) => text,
            Err(e) => {
                if e.kind() != std::io::ErrorKind::NotFound {
                    tracing::debug!("not using the egress IP cache {}: {e}", path.display());
                }
                return None;
            }
        };
        let entry: Entry = serde_json::from_str(&text).ok()?;
        let age = now().checked_sub(entry.at)?;
        (entry.urls == urls && entry.via == via && age < self.ttl.as_secs()).then_some(entry.ip)
    }

    /// Remembers an answer, with the way it came; failures to write are only logged.
    pub fn put(&self, urls: &[String], ip: IpAddr) {
        self.put_via(urls, &routes(urls), ip);
    }

    /// [`Cache::put`] for an answer that came `via` these routes.
    pub fn put_via(&self, urls: &[String], via: &[String], ip: IpAddr) {
        let Some(path) = &self.path else { return };
        let entry = Entry {
            urls: urls.to_vec(),
            via: via.to_vec(),
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

/// Whether `meta` belongs to this user and nobody else can write it (or, with
/// `private`, read it either).
fn owned_and_private(meta: &std::fs::Metadata, private: bool) -> std::io::Result<()> {
    let forbidden = if private { 0o077 } else { 0o022 };
    if !local::is_mine(meta) {
        return Err(std::io::Error::other("owned by another user"));
    }
    if let Some(mode) = local::mode(meta)
        && mode & forbidden != 0
    {
        return Err(std::io::Error::other(format!(
            "mode {:o} lets other users in",
            mode & 0o777
        )));
    }
    Ok(())
}

/// The directory holding `path`, if it is a real directory (not a symlink) that only this
/// user can write.
fn check_dir(path: &Path) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let meta = std::fs::symlink_metadata(dir)?;
    if !meta.is_dir() {
        return Err(std::io::Error::other(format!(
            "{} is not a directory",
            dir.display()
        )));
    }
    owned_and_private(&meta, false)
}

/// Reads the cache file only when it is trustworthy (see [`Cache::get`]).
fn read_trusted(path: &Path) -> std::io::Result<String> {
    use local::OpenPrivate;
    use std::io::Read;
    check_dir(path)?;
    let mut f = std::fs::OpenOptions::new()
        .read(true)
        .no_follow()
        .open(path)?;
    let meta = f.metadata()?;
    if !meta.is_file() {
        return Err(std::io::Error::other("not a regular file"));
    }
    owned_and_private(&meta, true)?;
    let mut text = String::new();
    (&mut f).take(4096).read_to_string(&mut text)?;
    Ok(text)
}

/// Writes a file only its owner can read, atomically, in a directory only we can write.
fn write_private(path: &Path, data: &[u8]) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        local::create_dir_all(dir)?;
    }
    check_dir(path)?;
    crate::local::files::replace(path, data, 0o600)
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
        // Learned directly, it does not answer through a proxy, and the other way round.
        let direct = vec!["direct".to_string()];
        let proxied = vec!["proxy http://proxy.example:3128".to_string()];
        cache.put_via(&urls, &direct, "203.0.113.9".parse().unwrap());
        assert_eq!(cache.get_via(&urls, &proxied), None);
        cache.put_via(&urls, &proxied, "198.51.100.1".parse().unwrap());
        assert_eq!(cache.get_via(&urls, &direct), None);
        assert_eq!(
            cache.get_via(&urls, &proxied),
            Some("198.51.100.1".parse().unwrap())
        );
        cache.put(&urls, "203.0.113.9".parse().unwrap());
        let stale = Cache {
            ttl: Duration::ZERO,
            ..cache
        };
        assert_eq!(stale.get(&urls), None);
    }

    #[test]
    #[cfg(unix)]
    fn an_untrusted_cache_file_is_ignored() {
        use crate::local::private::{set_mode, symlink};
        let dir = tempfile::tempdir().unwrap();
        let c = dir.path().join("c");
        let cache = Cache {
            path: Some(c.join("egress-ip.json")),
            ttl: Duration::from_secs(60),
        };
        let urls = vec!["https://a/ip".to_string()];
        cache.put(&urls, "203.0.113.9".parse().unwrap());
        assert!(cache.get(&urls).is_some());
        let file = c.join("egress-ip.json");
        set_mode(&file, 0o644).unwrap();
        assert_eq!(cache.get(&urls), None, "a readable file is not trusted");
        set_mode(&file, 0o600).unwrap();
        set_mode(&c, 0o777).unwrap();
        assert_eq!(
            cache.get(&urls),
            None,
            "a world-writable directory is not trusted"
        );
        set_mode(&c, 0o700).unwrap();
        // A planted symlink is never followed, for reading or writing.
        let planted = dir.path().join("planted.json");
        std::fs::rename(&file, &planted).unwrap();
        symlink(&planted, &file).unwrap();
        assert_eq!(cache.get(&urls), None);
        cache.put(&urls, "198.51.100.1".parse().unwrap());
        assert!(!std::fs::symlink_metadata(&file).unwrap().is_symlink());
        assert!(
            std::fs::read_to_string(&planted)
                .unwrap()
                .contains("203.0.113.9")
        );
    }
}
