//! The route cache: where a target led (instance, private IP, endpoint, AZ) per profile,
//! region, API and target, kept a few minutes so a repeated connect sends no discovery
//! call. It is a hint, never an authority: the guard still decides first, and nothing
//! passes along a cached route until a fresh lookup made beside its first tunnel agrees
//! with it (`route::recheck`); one that no longer holds is forgotten and resolved afresh
//! (`route::open::prepare_and_open`).

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::aws::AwsContext;
use crate::aws::discovery::{self, RouteQuery};
use crate::cache_file;
use crate::target::looks_like_instance_id;

/// How long a route is used without asking the API again.
pub const TTL: Duration = Duration::from_secs(10 * 60);

/// The most routes kept; the oldest goes first.
const MAX_ENTRIES: usize = 64;

/// The largest cache file read (64 entries of ~1.5 KiB fit many times over).
const MAX_BYTES: u64 = 256 * 1024;

/// What the cache is used for in one resolution.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Use {
    /// Read a fresh entry if there is one; remember what discovery finds.
    ReadWrite,
    /// Resolve afresh (the cached route failed) and remember the new answer.
    Refresh,
    /// Neither read nor written (`--no-cache`, `cache = false`).
    Off,
}

/// Everything a route depends on besides the account's state: a change in any of them is
/// another entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Key {
    profile: Option<String>,
    region: String,
    ec2_url: String,
    eic_url: String,
    use_fips: bool,
    target: String,
    endpoint_id: Option<String>,
    endpoint_dns_name: Option<String>,
    private_ip: Option<String>,
    tunnel_url_overridden: bool,
}

impl Key {
    /// The key for `query` with the AWS context it is resolved in.
    pub fn new(aws: &AwsContext, query: &RouteQuery) -> Key {
        Key {
            profile: aws.profile.clone(),
            region: aws.region.clone(),
            ec2_url: aws.ec2_url.clone(),
            eic_url: aws.eic_url.clone(),
            use_fips: aws.use_fips,
            target: query.instance.to_string(),
            endpoint_id: query.endpoint_id.clone(),
            endpoint_dns_name: query.endpoint_dns_name.clone(),
            private_ip: query.private_ip.clone(),
            tunnel_url_overridden: query.tunnel_url_overridden,
        }
    }
}

#[derive(Serialize, Deserialize)]
struct Entry {
    key: Key,
    found: discovery::Resolved,
    at: u64,
}

/// The cache file, if caching is possible here.
#[derive(Debug, Clone)]
pub struct RouteCache {
    /// `None`: caching is off.
    path: Option<PathBuf>,
    /// How long an entry is used.
    ttl: Duration,
}

impl RouteCache {
    /// `$XDG_CACHE_HOME/eic-ssh/routes.json` (else `~/.cache/…`, `%LOCALAPPDATA%\…`).
    pub fn new(use_: Use) -> RouteCache {
        let path = crate::local::paths::cache_base()
            .filter(|_| use_ != Use::Off)
            .map(|b| b.join("eic-ssh").join("routes.json"));
        RouteCache { path, ttl: TTL }
    }

    /// A cache in `path` (tests).
    pub fn at(path: PathBuf, ttl: Duration) -> RouteCache {
        RouteCache {
            path: Some(path),
            ttl,
        }
    }

    /// The fresh route for `key`, if the file can be trusted and the entry still reads as
    /// one discovery could have returned for this region.
    pub fn get(&self, key: &Key) -> Option<discovery::Resolved> {
        let entry = self
            .entries()
            .into_iter()
            .find(|e| &e.key == key && self.fresh(e))?;
        plausible(key, &entry.found).then_some(entry.found)
    }

    /// Remembers `found` for `key`, replacing any older entry; failures are only logged.
    pub fn put(&self, key: &Key, found: &discovery::Resolved) {
        let mut entries = self.others(key);
        entries.push(Entry {
            key: key.clone(),
            found: found.clone(),
            at: cache_file::now(),
        });
        let keep = entries.len().saturating_sub(MAX_ENTRIES);
        self.write(&entries[keep..]);
    }

    /// Drops the entry for `key` (its route no longer holds); failures are only logged.
    pub fn forget(&self, key: &Key) {
        self.write(&self.others(key));
    }

    /// The fresh entries for keys other than `key`.
    fn others(&self, key: &Key) -> Vec<Entry> {
        self.entries()
            .into_iter()
            .filter(|e| &e.key != key && self.fresh(e))
            .collect()
    }

    fn write(&self, entries: &[Entry]) {
        let Some(path) = &self.path else { return };
        if let Err(e) = cache_file::write(path, &serde_json::to_vec(entries).unwrap_or_default()) {
            tracing::debug!("cannot cache the route in {}: {e}", path.display());
        }
    }

    /// Whether `entry` is younger than the cache's lifetime.
    fn fresh(&self, entry: &Entry) -> bool {
        cache_file::now()
            .checked_sub(entry.at)
            .is_some_and(|age| age < self.ttl.as_secs())
    }

    fn entries(&self) -> Vec<Entry> {
        let Some(path) = &self.path else {
            return Vec::new();
        };
        match cache_file::read(path, MAX_BYTES) {
            Ok(text) => serde_json::from_str(&text).unwrap_or_default(),
            Err(e) => {
                if e.kind() != std::io::ErrorKind::NotFound {
                    tracing::debug!("not using the route cache {}: {e}", path.display());
                }
                Vec::new()
            }
        }
    }
}

/// What discovery itself insists on, checked again on the way out of the file.
fn plausible(key: &Key, found: &discovery::Resolved) -> bool {
    let route = &found.route;
    let dns_ok = match (&route.endpoint_dns_name, &key.endpoint_dns_name) {
        (Some(dns), Some(asked)) => dns == asked,
        (Some(dns), None) => {
            discovery::check_service_dns_name(dns, &route.endpoint_id, &key.region).is_ok()
        }
        (None, _) => key.tunnel_url_overridden,
    };
    dns_ok
        && looks_like_instance_id(&route.instance_id)
        && route.private_ip.parse::<std::net::IpAddr>().is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aws::discovery::{Resolved, Route};
    use crate::target::InstanceRef;

    fn key(target: &str) -> Key {
        Key {
            profile: Some("dev".into()),
            region: "us-east-1".into(),
            ec2_url: "https://ec2.us-east-1.amazonaws.com".into(),
            eic_url: "https://ec2-instance-connect.us-east-1.amazonaws.com".into(),
            use_fips: false,
            target: InstanceRef::Name(target.into()).to_string(),
            endpoint_id: None,
            endpoint_dns_name: None,
            private_ip: None,
            tunnel_url_overridden: false,
        }
    }

    fn found(dns: &str) -> Resolved {
        Resolved {
            route: Route {
                instance_id: "i-0123456789abcdef0".into(),
                private_ip: "10.0.1.5".into(),
                endpoint_id: "eice-0123456789abcdef0".into(),
                endpoint_dns_name: Some(dns.into()),
                availability_zone: Some("us-east-1a".into()),
                family: None,
            },
            instance: None,
            endpoint: None,
        }
    }

    const DNS: &str =
        "eice-0123456789abcdef0.ec2-instance-connect-endpoint.us-east-1.amazonaws.com";

    #[test]
    fn fresh_entries_for_the_same_key_only() {
        let dir = tempfile::tempdir().unwrap();
        let cache = RouteCache::at(dir.path().join("c/routes.json"), TTL);
        assert!(cache.get(&key("bastion")).is_none());
        cache.put(&key("bastion"), &found(DNS));
        assert_eq!(cache.get(&key("bastion")).unwrap().route, found(DNS).route);
        assert!(cache.get(&key("other")).is_none());
        let mut in_prod = key("bastion");
        in_prod.profile = Some("prod".into());
        assert!(
            cache.get(&in_prod).is_none(),
            "another profile is another entry"
        );
        // Bounded: the oldest entries go.
        for i in 0..MAX_ENTRIES + 5 {
            cache.put(&key(&format!("t{i}")), &found(DNS));
        }
        assert!(cache.get(&key("bastion")).is_none());
        assert!(cache.get(&key(&format!("t{}", MAX_ENTRIES + 4))).is_some());
        let stale = RouteCache::at(dir.path().join("c/routes.json"), Duration::ZERO);
        assert!(stale.get(&key("t5")).is_none());
        // Forgotten: that entry only.
        let last = key(&format!("t{}", MAX_ENTRIES + 4));
        cache.forget(&last);
        assert!(cache.get(&last).is_none());
        assert!(cache.get(&key(&format!("t{}", MAX_ENTRIES + 3))).is_some());
    }

    #[test]
    fn an_entry_discovery_would_refuse_is_not_used() {
        let dir = tempfile::tempdir().unwrap();
        let cache = RouteCache::at(dir.path().join("c/routes.json"), TTL);
        cache.put(&key("bastion"), &found("attacker.example.com"));
        assert!(cache.get(&key("bastion")).is_none());
        let mut odd = found(DNS);
        odd.route.instance_id = "bastion".into();
        cache.put(&key("bastion"), &odd);
        assert!(cache.get(&key("bastion")).is_none());
    }

    #[test]
    #[cfg(unix)]
    fn an_untrusted_file_is_ignored() {
        use crate::local::private::set_mode;
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("c/routes.json");
        let cache = RouteCache::at(file.clone(), TTL);
        cache.put(&key("bastion"), &found(DNS));
        assert!(cache.get(&key("bastion")).is_some());
        set_mode(&file, 0o644).unwrap();
        assert!(cache.get(&key("bastion")).is_none());
    }
}
