//! The egress guard: learn the public egress IP (`probe`, `cache`) and decide whether this
//! network may connect to the target (`verdict`), before anything else happens.

pub mod cache;
pub mod policy;
pub mod probe;
pub mod verdict;

use std::net::IpAddr;
use std::sync::Arc;

use ipnet::IpNet;

use crate::family::Family;
use crate::net::dial::Road;
use crate::net::http::Client;
use crate::net::proxy::Proxy;

use cache::Cache;
pub use policy::Policy;
use probe::ProbeError;
pub use verdict::{Verdict, decide};

/// The first allowlist entry containing `ip`.
pub fn admitting(ip: IpAddr, allow: &[IpNet]) -> Option<IpNet> {
    allow.iter().copied().find(|net| net.contains(&ip))
}

/// The road the egress check takes: the tunnel's own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Path {
    /// Straight out, pinned to this family: the answer is this family's egress IP.
    Direct(Family),
    /// Through this proxy (the one the tunnel goes through): the proxy decides the family,
    /// and what is judged is the proxy's egress.
    Proxy(Proxy),
}

impl Path {
    /// The path of a tunnel that goes through `proxy` (or straight out over `family`).
    pub fn of_tunnel(proxy: Option<Proxy>, family: Family) -> Path {
        match proxy {
            Some(proxy) => Path::Proxy(proxy),
            None => Path::Direct(family),
        }
    }

    /// The family judged, when the check goes straight out.
    pub fn family(&self) -> Option<Family> {
        match self {
            Path::Direct(family) => Some(*family),
            Path::Proxy(_) => None,
        }
    }

    /// The road out: direct, or via the proxy.
    pub fn road(&self) -> Road {
        match self {
            Path::Direct(_) => Road::Direct,
            Path::Proxy(proxy) => Road::of(Some(proxy)),
        }
    }

    /// Whether a tunnel taking `road` leaves the way this check did.
    pub fn same_road(&self, road: &Road) -> bool {
        &self.road() == road
    }
}

impl std::fmt::Display for Path {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Path::Direct(family) => write!(f, "direct over {family}"),
            Path::Proxy(proxy) => write!(f, "via {proxy} ({})", proxy.variable),
        }
    }
}

/// The egress IP as seen over `path`, every check URL asked along it (whatever NO_PROXY
/// says of the URL's own host: the check judges the tunnel's road). A direct check asks
/// only the URLs that can be reached over its family (not an IP literal of the other one);
/// answers are cached per road.
pub async fn current_ip_over(
    tls: &Arc<rustls::ClientConfig>,
    urls: &[String],
    path: &Path,
) -> Result<IpAddr, ProbeError> {
    let urls: Vec<String> = match path {
        Path::Direct(family) => urls
            .iter()
            .filter(|u| probe::reachable_over(u, *family))
            .cloned()
            .collect(),
        Path::Proxy(_) => urls.to_vec(),
    };
    if urls.is_empty() {
        let family = path.family().map(|f| f.to_string()).unwrap_or_default();
        return Err(ProbeError::Unreachable {
            url: "(none)".into(),
            reason: format!(
                "no egress check URL can be reached over {family}: add one to egress_check_url"
            ),
        });
    }
    let proxy = match path {
        Path::Proxy(proxy) => Some(proxy.clone()),
        Path::Direct(_) => None,
    };
    let http = Client::on_road(tls.clone(), proxy, path.family());
    let cache = Cache::from_env();
    let via: Vec<String> = urls
        .iter()
        .map(|_| match path {
            Path::Direct(family) => format!("direct {}", family.word()),
            Path::Proxy(proxy) => format!("proxy {}", proxy.address()),
        })
        .collect();
    if let Some(ip) = cache.get_via(&urls, &via) {
        tracing::debug!("egress IP {ip} ({path}, cached)");
        return Ok(ip);
    }
    let ip = probe::egress_ip(&http, &urls).await;
    let ip = match path {
        Path::Direct(family) => ip.map_err(|e| e.over(*family))?,
        Path::Proxy(_) => ip?,
    };
    cache.put_via(&urls, &via, ip);
    Ok(ip)
}

/// The verdict before any AWS call, without the security group: the egress IP is learned
/// over `path` only when an allowlist applies.
pub async fn check(eff: &Policy, tls: &Arc<rustls::ClientConfig>, path: &Path) -> Verdict {
    if !eff.has_allowlist() {
        tracing::debug!("no allowlist for {}: egress check skipped", eff.label);
        return Verdict::Unchecked {
            opted_out: eff.opted_out,
        };
    }
    let ip = current_ip_over(tls, &eff.egress_urls, path).await;
    let verdict = decide(eff, ip.as_ref().copied(), None);
    tracing::info!("egress guard ({path}): {}", verdict.sentence());
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
