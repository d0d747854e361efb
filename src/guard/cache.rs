//! A per-user cache of the egress IP, valid for at most 60 s, so a burst of scp runs asks once.

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::cache_file;

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

/// How each of `urls` is reached with the environment's proxy variables
/// (`net::proxy`): `direct` or `via HOST:PORT`.
pub fn routes(urls: &[String]) -> Vec<String> {
    use crate::net::dial::{Dest, Road, Rule};
    let rule = Rule::from_env();
    urls.iter()
        .map(|url| match Dest::of_url(url).map(|d| rule.proxy_for(&d)) {
            Some(Ok(proxy)) => Road::of(proxy.as_ref()).to_string(),
            Some(Err(e)) => e.to_string(),
            None => "direct".into(),
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
        let text = match cache_file::read(path, 4096) {
            Ok(text) => text,
            Err(e) => {
                if e.kind() != std::io::ErrorKind::NotFound {
                    tracing::debug!("not using the egress IP cache {}: {e}", path.display());
                }
                return None;
            }
        };
        let entry: Entry = serde_json::from_str(&text).ok()?;
        let age = cache_file::now().checked_sub(entry.at)?;
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
            at: cache_file::now(),
        };
        if let Err(e) = cache_file::write(path, &serde_json::to_vec(&entry).unwrap_or_default()) {
            tracing::debug!("cannot cache the egress IP in {}: {e}", path.display());
        }
    }
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
