//! Security-group evaluation for a tunnel: does the instance admit the connection?

use std::net::IpAddr;

use crate::world::{Endpoint, Instance, Rule, World};

/// Whether `cidr` (v4 or v6) contains `ip`. A malformed CIDR contains nothing.
pub fn cidr_contains(cidr: &str, ip: IpAddr) -> bool {
    let Some((net, len)) = cidr.split_once('/') else {
        return false;
    };
    let (Ok(net), Ok(len)) = (net.parse::<IpAddr>(), len.parse::<u32>()) else {
        return false;
    };
    match (net, ip) {
        (IpAddr::V4(n), IpAddr::V4(i)) if len <= 32 => {
            let mask = if len == 0 { 0 } else { u32::MAX << (32 - len) };
            u32::from(n) & mask == u32::from(i) & mask
        }
        (IpAddr::V6(n), IpAddr::V6(i)) if len <= 128 => {
            let mask = if len == 0 {
                0
            } else {
                u128::MAX << (128 - len)
            };
            u128::from(n) & mask == u128::from(i) & mask
        }
        _ => false,
    }
}

fn covers(rule: &Rule, port: u16) -> bool {
    rule.from_port <= port && port <= rule.to_port
}

/// The source address the instance sees for a tunnel.
pub fn source_ip(endpoint: &Endpoint, client_public_ip: IpAddr) -> Option<IpAddr> {
    if endpoint.preserve_client_ip {
        Some(client_public_ip)
    } else {
        endpoint.eni_ip.parse().ok()
    }
}

/// `Ok` when the endpoint may send to the instance's port and the instance admits the source.
pub fn admits(
    world: &World,
    endpoint: &Endpoint,
    instance: &Instance,
    client_public_ip: IpAddr,
    port: u16,
) -> Result<(), String> {
    let target: Option<IpAddr> = instance
        .private_ip
        .as_deref()
        .and_then(|ip| ip.parse().ok());
    let egress_ok = endpoint.security_groups.iter().any(|id| {
        match world.security_group(id).and_then(|g| g.outbound.as_ref()) {
            None => world.security_group(id).is_some(),
            Some(rules) => rules.iter().any(|r| {
                covers(r, port)
                    && (r
                        .cidrs
                        .iter()
                        .any(|c| target.is_some_and(|t| cidr_contains(c, t)))
                        || r.groups
                            .iter()
                            .any(|g| instance.security_groups.contains(g)))
            }),
        }
    });
    if !egress_ok {
        return Err(format!(
            "the endpoint's security groups do not allow outbound port {port} to {}",
            instance.id
        ));
    }
    let source =
        source_ip(endpoint, client_public_ip).ok_or("the endpoint has no interface address")?;
    let inbound_ok = instance
        .security_groups
        .iter()
        .filter_map(|id| world.security_group(id))
        .any(|g| {
            g.inbound.iter().any(|r| {
                covers(r, port)
                    && (r.cidrs.iter().any(|c| cidr_contains(c, source))
                        || (!endpoint.preserve_client_ip
                            && r.groups
                                .iter()
                                .any(|gid| endpoint.security_groups.contains(gid))))
            })
        });
    if !inbound_ok {
        return Err(format!(
            "the security groups of {} do not admit {source} on port {port}",
            instance.id
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidrs() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert!(cidr_contains("203.0.113.0/24", ip("203.0.113.9")));
        assert!(!cidr_contains("203.0.113.0/24", ip("203.0.114.9")));
        assert!(cidr_contains("0.0.0.0/0", ip("8.8.8.8")));
        assert!(cidr_contains("2001:db8::/32", ip("2001:db8:1::5")));
        assert!(!cidr_contains("2001:db8::/32", ip("203.0.113.9")));
        assert!(!cidr_contains("garbage", ip("1.2.3.4")));
    }

    #[test]
    fn demo_world_admits_through_the_endpoint_group_only_without_preserve() {
        let mut world = World::demo();
        let client = "198.51.100.7".parse().unwrap();
        let inst = world.instances[0].clone();
        let ep = world.endpoints[0].clone();
        assert!(admits(&world, &ep, &inst, client, 22).is_ok());
        assert!(admits(&world, &ep, &inst, client, 3389).is_err());
        let mut preserving = ep.clone();
        preserving.preserve_client_ip = true;
        assert!(admits(&world, &preserving, &inst, client, 22).is_err());
        world.security_groups[0].inbound[0]
            .cidrs
            .push("198.51.100.0/24".into());
        assert!(admits(&world, &preserving, &inst, client, 22).is_ok());
    }
}
