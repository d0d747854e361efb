//! The egress guard: learn the public egress IP and refuse, before anything else happens,
//! when it is outside the target's allowlist.

pub mod cache;
pub mod probe;
pub mod security_groups;

use std::net::IpAddr;

use ipnet::IpNet;

use crate::config::Effective;
use crate::error::{Failure, Kind};
use cache::Cache;
use probe::ProbeError;

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

/// The refusal for an IP outside the allowlist.
pub fn refused(eff: &Effective, ip: IpAddr, allow: &[IpNet]) -> Failure {
    refusal(eff, ip, allow, &format!("for {} ", eff.label()), "")
}

/// The refusal by the allowlist of another section that names the same instance.
fn refused_by(eff: &Effective, ip: IpAddr, allow: &[IpNet], source: &str) -> Failure {
    let same = format!(", which names the same instance as {}", eff.label());
    refusal(eff, ip, allow, &format!("of [{source}] "), &same)
}

/// "egress IP … is not in the allowlist WHOSE(LIST)SAME. Connect from … or edit …"
fn refusal(eff: &Effective, ip: IpAddr, allow: &[IpNet], whose: &str, same: &str) -> Failure {
    let list = allow
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ");
    Failure::new(
        Kind::Refused,
        format!(
            "refusing to connect: egress IP {ip} is not in the allowlist {whose}({list}){same}. Connect from an allowed network (office/VPN) or edit {}.",
            eff.config_hint()
        ),
    )
}

/// The refusal when the egress IP cannot be known (fail closed).
pub fn unknown(eff: &Effective, e: &ProbeError) -> Failure {
    Failure::new(
        Kind::Refused,
        format!(
            "refusing to connect: cannot determine the egress IP, and {} has an allowlist ({e}). Check your network, or egress_check_url in {}.",
            eff.label(),
            eff.config_hint()
        ),
    )
}

/// What the guard found before any AWS call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Early {
    /// No allowlist applies: no check was made.
    Unchecked,
    /// The static allowlist admits the IP.
    Allowed(IpAddr),
    /// Not admitted by the static list, but the security group may admit it.
    AskSecurityGroup(IpAddr),
}

/// The guard's decision for a learned IP, or for why it could not be learned; no I/O.
pub fn judge(eff: &Effective, ip: Result<IpAddr, &ProbeError>) -> Result<Early, Failure> {
    if !eff.has_allowlist() {
        return Ok(Early::Unchecked);
    }
    let ip = ip.map_err(|e| unknown(eff, e))?;
    // Every section that names the same instance must admit the IP (the strictest wins).
    for (source, list) in &eff.also_allow {
        if admitting(ip, list).is_none() {
            return Err(refused_by(eff, ip, list, source));
        }
    }
    if eff.allow.is_empty() && !eff.allow_from_security_group {
        tracing::info!("egress IP {ip} is allowed by every section naming the instance");
        return Ok(Early::Allowed(ip));
    }
    if let Some(net) = admitting(ip, &eff.allow) {
        tracing::info!("egress IP {ip} is allowed by {net}");
        return Ok(Early::Allowed(ip));
    }
    if eff.allow_from_security_group {
        return Ok(Early::AskSecurityGroup(ip));
    }
    Err(refused(eff, ip, &eff.allow))
}

/// The check that runs before any AWS call. Refuses (exit 3) on a static-only allowlist
/// miss, or when the IP cannot be learned; learns nothing when no allowlist applies.
pub async fn check_early(eff: &Effective, http: &reqwest::Client) -> Result<Early, Failure> {
    if !eff.has_allowlist() {
        tracing::debug!("no allowlist for {}: egress check skipped", eff.label());
        crate::logbook::note(|e| e.guard = Some("unchecked".into()));
        return Ok(Early::Unchecked);
    }
    let ip = current_ip(http, &eff.egress_urls).await;
    let verdict = judge(eff, ip.as_ref().copied());
    crate::logbook::note(|e| {
        e.egress_ip = ip.as_ref().ok().map(ToString::to_string);
        e.guard = Some(
            match &verdict {
                Ok(Early::Unchecked) => "unchecked",
                Ok(Early::Allowed(_)) => "allowed",
                Ok(Early::AskSecurityGroup(_)) => "security_group",
                Err(_) => "refused",
            }
            .into(),
        );
    });
    verdict
}

/// The second step for `allow_from_security_group`: read-only calls (no key push, no
/// tunnel yet), then the verdict against the static list plus what the groups admit.
pub async fn check_with_security_groups(
    eff: &Effective,
    aws: &crate::aws::AwsContext,
    resolved: &crate::aws::discovery::Resolved,
    ip: IpAddr,
    port: u16,
) -> Result<(), Failure> {
    use crate::aws::{discovery, ec2};
    let route = &resolved.route;
    let instance = match &resolved.instance {
        Some(i) => i.clone(),
        None => ec2::describe_instance(aws, &route.instance_id)
            .await?
            .ok_or_else(|| {
                Failure::new(
                    Kind::NotFound,
                    format!("instance {} was not found", route.instance_id),
                )
            })?,
    };
    let endpoint = match &resolved.endpoint {
        Some(e) => e.clone(),
        None => discovery::describe_endpoint(aws, &route.endpoint_id, Some(&instance)).await?,
    };
    let groups = ec2::describe_security_groups(aws, &instance.security_groups).await?;
    let admitted = security_groups::admitted(
        &groups,
        &endpoint.security_groups,
        endpoint.preserve_client_ip,
        port,
    );
    let mut allow = eff.allow.clone();
    allow.extend(admitted.as_allowlist());
    let verdict = match admitting(ip, &allow) {
        Some(net) => {
            tracing::info!("egress IP {ip} is allowed by {net} (with the security group's rules)");
            Ok(())
        }
        None => Err(refused(eff, ip, &allow)),
    };
    let word = if verdict.is_ok() {
        "allowed"
    } else {
        "refused"
    };
    crate::logbook::note(|e| e.guard = Some(word.into()));
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
