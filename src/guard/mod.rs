//! The egress guard: learn the public egress IP (`probe`, `cache`) and decide whether this
//! network may connect to the target (`verdict`), before anything else happens.

pub mod cache;
pub mod probe;
pub mod verdict;

use std::net::IpAddr;
use std::sync::Arc;

use ipnet::IpNet;

use crate::family::Family;

use cache::Cache;
use probe::ProbeError;
pub use verdict::{Verdict, decide};

/// The first allowlist entry containing `ip`.
pub fn admitting(ip: IpAddr, allow: &[IpNet]) -> Option<IpNet> {
    allow.iter().copied().find(|net| net.contains(&ip))
}

/// The egress IP, from the cache when fresh, else from the configured sources.
pub async fn current_ip(http: &reqwest::Client, urls: &[String]) -> Result<IpAddr, ProbeError> {
    let cache = Cache::from_env();
    let via = cache::routes(urls);
    if let Some(ip) = cache.get_via(urls, &via) {
        tracing::debug!(
            "egress IP {ip} (cached for at most {}s)",
            cache.ttl.as_secs()
        );
        return Ok(ip);
    }
    let ip = probe::egress_ip(http, urls).await?;
    cache.put_via(urls, &via, ip);
    Ok(ip)
}

/// How the egress check for a family goes out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Path {
    /// Straight out, pinned to this family: the answer is this family's egress IP.
    Direct(Family),
    /// Through the proxy the environment names: the proxy decides the family, and tunnels
    /// go through the same proxy.
    Proxy,
}

impl Path {
    /// The path of a check over `family` with `urls`: through the proxy when any URL goes
    /// through one (then the proxy's family is what is judged), else direct.
    pub fn for_urls(urls: &[String], family: Family) -> Path {
        if cache::routes(urls).iter().any(|r| r != "direct") {
            Path::Proxy
        } else {
            Path::Direct(family)
        }
    }

    /// The family judged, when the check goes straight out.
    pub fn family(self) -> Option<Family> {
        match self {
            Path::Direct(family) => Some(family),
            Path::Proxy => None,
        }
    }
}

/// The egress IP as seen over `path`: a pinned check asks only the URLs that can be reached
/// over its family (not an IP literal of the other one), and its answers are cached apart
/// from the other family's.
pub async fn current_ip_over(
    tls: &Arc<rustls::ClientConfig>,
    urls: &[String],
    path: Path,
) -> Result<IpAddr, ProbeError> {
    let Path::Direct(family) = path else {
        let http = crate::net::http_client(tls).map_err(|f| ProbeError::Unreachable {
            url: urls.join(", "),
            reason: f.message,
        })?;
        return current_ip(&http, urls).await;
    };
    let urls: Vec<String> = urls
        .iter()
        .filter(|u| probe::reachable_over(u, family))
        .cloned()
        .collect();
    if urls.is_empty() {
        return Err(ProbeError::Unreachable {
            url: "(none)".into(),
            reason: format!(
                "no egress check URL can be reached over {family}: add one to egress_check_url"
            ),
        });
    }
    let http =
        crate::net::http_client_over(tls, Some(family)).map_err(|f| ProbeError::Unreachable {
            url: urls.join(", "),
            reason: f.message,
        })?;
    let cache = Cache::from_env();
    let via: Vec<String> = cache::routes(&urls)
        .into_iter()
        .map(|r| format!("{r} {}", family.word()))
        .collect();
    if let Some(ip) = cache.get_via(&urls, &via) {
        tracing::debug!("egress IP over {family} {ip} (cached)");
        return Ok(ip);
    }
    let ip = probe::egress_ip(&http, &urls)
        .await
        .map_err(|e| e.over(family))?;
    cache.put_via(&urls, &via, ip);
    Ok(ip)
}

/// The verdict before any AWS call, without the security group: the egress IP is learned
/// over `path` only when an allowlist applies.
pub async fn check(
    eff: &crate::route::Settings,
    tls: &Arc<rustls::ClientConfig>,
    path: Path,
) -> Verdict {
    if !eff.has_allowlist() {
        tracing::debug!("no allowlist for {}: egress check skipped", eff.label());
        return Verdict::Unchecked {
            opted_out: eff.opted_out,
        };
    }
    let ip = current_ip_over(tls, &eff.egress_urls, path).await;
    let verdict = decide(eff, ip.as_ref().copied(), None);
    match path {
        Path::Direct(family) => {
            tracing::info!("egress guard over {family}: {}", verdict.sentence())
        }
        Path::Proxy => tracing::info!("egress guard (through the proxy): {}", verdict.sentence()),
    }
    verdict
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admitting_finds_the_entry() {
        let allow: Vec<IpNet> = vec![
            "203.0.113.0/24".parse().unwrap(),
            "2001:db8::/32".parse().unwrap(),
        ];
        assert_eq!(
            admitting("203.0.113.7".parse().unwrap(), &allow),
            Some(allow[0])
        );
        assert_eq!(
            admitting("2001:db8:5::1".parse().unwrap(), &allow),
            Some(allow[1])
        );
        assert_eq!(admitting("192.0.2.44".parse().unwrap(), &allow), None);
    }
}
