//! The egress guard: learn the public egress IP (`probe`, `cache`) and decide whether this
//! network may connect to the target (`verdict`), before anything else happens.

pub mod cache;
pub mod probe;
pub mod verdict;

use std::net::IpAddr;

use ipnet::IpNet;

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
    if let Some(ip) = cache.get(urls) {
        tracing::debug!(
            "egress IP {ip} (cached for at most {}s)",
            cache.ttl.as_secs()
        );
        return Ok(ip);
    }
    let ip = probe::egress_ip(http, urls).await?;
    cache.put(urls, ip);
    Ok(ip)
}

/// The verdict before any AWS call, without the security group: the egress IP is learned
/// only when an allowlist applies.
pub async fn check(eff: &crate::route::Settings, http: &reqwest::Client) -> Verdict {
    if !eff.has_allowlist() {
        tracing::debug!("no allowlist for {}: egress check skipped", eff.label());
        return Verdict::Unchecked {
            opted_out: eff.opted_out,
        };
    }
    let ip = current_ip(http, &eff.egress_urls).await;
    let verdict = decide(eff, ip.as_ref().copied(), None);
    tracing::info!("egress guard: {}", verdict.sentence());
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
