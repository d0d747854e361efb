//! What an instance's security groups admit on a port, seen from the client's side: read
//! with read-only EC2 calls, decided in a plain function.

use ipnet::IpNet;

use super::context::AwsContext;
use super::discovery::{self, Resolved};
use super::ec2::{self, SecurityGroup};
use crate::error::{Failure, Kind};

/// Client addresses the instance's groups admit on one port.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Admitted {
    /// CIDRs of rules that cover the port.
    pub ranges: Vec<IpNet>,
    /// A rule admits the endpoint's group and the endpoint does not preserve the client IP,
    /// so every client the endpoint lets through reaches the instance.
    pub via_endpoint_group: bool,
}

impl Admitted {
    /// The ranges as an allowlist: "anything" when the endpoint's group is admitted.
    pub fn as_allowlist(&self) -> Vec<IpNet> {
        if self.via_endpoint_group {
            return vec![
                "0.0.0.0/0".parse().expect("valid"),
                "::/0".parse().expect("valid"),
            ];
        }
        self.ranges.clone()
    }
}

/// What the security groups of a resolved route admit on `port`: the instance and endpoint
/// are described when discovery did not already, then their groups (read-only calls: no
/// key push, no tunnel).
pub async fn read(aws: &AwsContext, resolved: &Resolved, port: u16) -> Result<Admitted, Failure> {
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
    Ok(admitted(
        &groups,
        &endpoint.security_groups,
        endpoint.preserve_client_ip,
        port,
    ))
}

/// Reads the inbound rules of `instance_groups` for TCP `port`. Rules that reference
/// groups count only when the endpoint does not preserve the client IP (then the instance
/// sees the endpoint, not the client).
pub fn admitted(
    instance_groups: &[SecurityGroup],
    endpoint_groups: &[String],
    preserve_client_ip: bool,
    port: u16,
) -> Admitted {
    let mut out = Admitted::default();
    for rule in instance_groups.iter().flat_map(|g| &g.inbound) {
        if !rule.covers_tcp(port) {
            continue;
        }
        out.ranges
            .extend(rule.cidrs.iter().filter_map(|c| c.parse::<IpNet>().ok()));
        if !preserve_client_ip && rule.groups.iter().any(|g| endpoint_groups.contains(g)) {
            out.via_endpoint_group = true;
        }
    }
    out.ranges.sort();
    out.ranges.dedup();
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aws::ec2::Permission;

    fn group(rules: Vec<Permission>) -> SecurityGroup {
        SecurityGroup {
            id: "sg-i".into(),
            inbound: rules,
            ..Default::default()
        }
    }

    fn rule(port: i32, cidrs: &[&str], groups: &[&str]) -> Permission {
        Permission {
            protocol: "tcp".into(),
            from_port: Some(port),
            to_port: Some(port),
            cidrs: cidrs.iter().map(|s| s.to_string()).collect(),
            groups: groups.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn only_rules_for_the_port_count() {
        let g = group(vec![
            rule(22, &["203.0.113.0/24", "2001:db8::/32"], &[]),
            rule(443, &["0.0.0.0/0"], &[]),
        ]);
        let a = admitted(&[g], &[], true, 22);
        assert_eq!(a.ranges.len(), 2);
        assert!(!a.via_endpoint_group);
    }

    #[test]
    fn endpoint_group_rules_count_only_without_preserve_client_ip() {
        let g = group(vec![rule(22, &[], &["sg-e"])]);
        let without = admitted(std::slice::from_ref(&g), &["sg-e".into()], false, 22);
        assert!(without.via_endpoint_group);
        assert_eq!(without.as_allowlist().len(), 2);
        let with = admitted(&[g], &["sg-e".into()], true, 22);
        assert_eq!(with, Admitted::default());
    }
}
