//! `doctor --fix`: for each failed or warned check, the AWS CLI commands and the Terraform
//! that fix it. Printed only: nothing is changed.

use std::net::IpAddr;

use ipnet::IpNet;
use serde::Serialize;

use super::checks::{Check, Facts, Permission, Status};
use crate::aws::ec2::{Endpoint, Instance};
use crate::aws::security_groups;
use crate::guard::admitting;

/// The remedy for one check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Fix {
    /// The check it fixes (`instance-inbound`, …).
    pub check: &'static str,
    /// What to know first (what the change means for the instance's security group).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// AWS CLI commands, in order.
    pub aws_cli: Vec<String>,
    /// Lines for eic-ssh's config file (TOML, with their section's header).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub config: Option<String>,
    /// The Terraform that says the same.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub terraform: Option<String>,
}

fn fix(
    check: &'static str,
    note: Option<String>,
    aws_cli: Vec<String>,
    terraform: Option<String>,
) -> Fix {
    Fix {
        check,
        note,
        aws_cli,
        config: None,
        terraform,
    }
}

/// One fix per check that is not ✓ and that AWS (or the config file) can fix.
pub fn fixes(f: &Facts, checks: &[Check], region: &str) -> Vec<Fix> {
    let mut out = Vec::new();
    let mut denied_done = false;
    for c in checks.iter().filter(|c| c.status != Status::Ok) {
        let instance = f.instance.as_ref().ok();
        let endpoint = f.endpoint.as_ref().ok();
        let found = match (c.check, instance, endpoint) {
            ("credentials", _, _) if !denied_done => {
                denied_done = true;
                Some(iam(&f.denied))
            }
            ("instance", Some(i), _) if i.state != "running" => Some(fix(
                "instance",
                None,
                vec![format!(
                    "aws ec2 start-instances --region {region} --instance-ids {}",
                    i.id
                )],
                None,
            )),
            ("endpoint", Some(i), None) => Some(create_endpoint(i, region)),
            ("preserve-client-ip", Some(_), Some(e)) => Some(preserve_in_place(e, region)),
            ("endpoint-egress", Some(i), Some(e)) => Some(endpoint_egress(i, e, f.port, region)),
            ("instance-inbound", Some(i), Some(e)) if e.preserve_client_ip => Some(ingress(
                "instance-inbound",
                i,
                &wanted_cidrs(f),
                f.port,
                region,
            )),
            ("instance-inbound", Some(i), Some(e)) => {
                Some(ingress_from_endpoint(i, e, f.port, region))
            }
            ("egress-ip", Some(i), Some(_)) => f.egress_ip.as_ref().ok().map(|ip| {
                let mut fix = ingress(
                    "egress-ip",
                    i,
                    &[covering(*ip, &f.settings.allow)],
                    f.port,
                    region,
                );
                if admitting(*ip, &f.settings.allow).is_none() {
                    fix.note = Some(format!(
                        "{ip} is the network you are on now: admit it only if it is one you trust (office, VPN), never a hotel's or a café's"
                    ));
                }
                fix
            }),
            ("open-to-world", Some(i), Some(_)) => Some(close_world(i, f, region)),
            ("allowlist-vs-sg", Some(i), Some(e)) => Some(align(i, e, f, region)),
            ("allowlist" | "allowlist-wide", _, _) => Some(local_allowlist(c.check, f)),
            ("open-tunnel" | "send-ssh-public-key", _, _) => f
                .permissions
                .iter()
                .find(|p| p.check == c.check)
                .and_then(grant),

            _ => None,
        };
        out.extend(found);
    }
    out
}

/// The CIDRs the instance should admit: the local allowlist, else this network's /32.
fn wanted_cidrs(f: &Facts) -> Vec<IpNet> {
    if !f.settings.allow.is_empty() {
        return f
            .settings
            .allow
            .iter()
            .copied()
            .filter(|n| n.prefix_len() > 0)
            .collect();
    }
    f.egress_ip
        .as_ref()
        .map(|ip| vec![IpNet::from(*ip)])
        .unwrap_or_default()
}

/// The allowlist entry that holds `ip`, else `ip` alone.
fn covering(ip: IpAddr, allow: &[IpNet]) -> IpNet {
    admitting(ip, allow).unwrap_or(IpNet::from(ip))
}

fn first<'a>(groups: &'a [String], placeholder: &'a str) -> &'a str {
    groups.first().map_or(placeholder, String::as_str)
}

fn range_key(net: &IpNet) -> (&'static str, &'static str, &'static str) {
    match net {
        IpNet::V4(_) => ("IpRanges", "CidrIp", "cidr_ipv4"),
        IpNet::V6(_) => ("Ipv6Ranges", "CidrIpv6", "cidr_ipv6"),
    }
}

/// Rules admitting `cidrs` on the port in the instance's first security group.
fn ingress(check: &'static str, i: &Instance, cidrs: &[IpNet], port: u16, region: &str) -> Fix {
    let sg = first(&i.security_groups, "INSTANCE_SG");
    let cidrs: Vec<IpNet> = if cidrs.is_empty() {
        vec!["203.0.113.0/24".parse().expect("a CIDR")]
    } else {
        cidrs.to_vec()
    };
    let note = (cidrs.len() == 1 && cidrs[0].to_string() == "203.0.113.0/24")
        .then(|| "replace 203.0.113.0/24 with your office/VPN CIDR".to_string());
    let aws_cli = cidrs
        .iter()
        .map(|net| {
            let (ranges, key, _) = range_key(net);
            format!(
                "aws ec2 authorize-security-group-ingress --region {region} --group-id {sg} --ip-permissions 'IpProtocol=tcp,FromPort={port},ToPort={port},{ranges}=[{{{key}={net},Description=eic-ssh allowlist}}]'"
            )
        })
        .collect();
    let terraform = cidrs
        .iter()
        .enumerate()
        .map(|(n, net)| {
            let (_, _, attr) = range_key(net);
            format!(
                "resource \"aws_vpc_security_group_ingress_rule\" \"eic_ssh_{n}\" {{\n  security_group_id = \"{sg}\"\n  ip_protocol       = \"tcp\"\n  from_port         = {port}\n  to_port           = {port}\n  {attr:<17} = \"{net}\"\n  description       = \"eic-ssh allowlist\"\n}}"
            )
        })
        .collect::<Vec<_>>()
        .join("\n");
    fix(check, note, aws_cli, Some(terraform))
}

/// Without Preserve Client IP: admit the endpoint's security group.
fn ingress_from_endpoint(i: &Instance, e: &Endpoint, port: u16, region: &str) -> Fix {
    let sg = first(&i.security_groups, "INSTANCE_SG");
    let eg = first(&e.security_groups, "ENDPOINT_SG");
    fix(
        "instance-inbound",
        None,
        vec![format!(
            "aws ec2 authorize-security-group-ingress --region {region} --group-id {sg} --ip-permissions 'IpProtocol=tcp,FromPort={port},ToPort={port},UserIdGroupPairs=[{{GroupId={eg}}}]'"
        )],
        Some(format!(
            "resource \"aws_vpc_security_group_ingress_rule\" \"from_eice\" {{\n  security_group_id            = \"{sg}\"\n  ip_protocol                  = \"tcp\"\n  from_port                    = {port}\n  to_port                      = {port}\n  referenced_security_group_id = \"{eg}\"\n}}"
        )),
    )
}

fn endpoint_egress(i: &Instance, e: &Endpoint, port: u16, region: &str) -> Fix {
    let sg = first(&i.security_groups, "INSTANCE_SG");
    let eg = first(&e.security_groups, "ENDPOINT_SG");
    fix(
        "endpoint-egress",
        None,
        vec![format!(
            "aws ec2 authorize-security-group-egress --region {region} --group-id {eg} --ip-permissions 'IpProtocol=tcp,FromPort={port},ToPort={port},UserIdGroupPairs=[{{GroupId={sg}}}]'"
        )],
        Some(format!(
            "resource \"aws_vpc_security_group_egress_rule\" \"eice_to_instance\" {{\n  security_group_id            = \"{eg}\"\n  ip_protocol                  = \"tcp\"\n  from_port                    = {port}\n  to_port                      = {port}\n  referenced_security_group_id = \"{sg}\"\n}}"
        )),
    )
}

/// Preserve Client IP turned on in place (ModifyInstanceConnectEndpoint); a dualstack or
/// ipv6 endpoint becomes ipv4 in the same call, since Preserve Client IP works only there.
fn preserve_in_place(e: &Endpoint, region: &str) -> Fix {
    let ipv4 = e.ip_address_type() == "ipv4";
    let why = if ipv4 {
        format!(
            "{} does not preserve the client IP: the instance sees the endpoint's address, so no security-group rule of client CIDRs can match.",
            e.id
        )
    } else {
        format!(
            "{} is a {} endpoint: Preserve Client IP works only on ipv4 endpoints, so the instance sees the endpoint's address and no security-group rule of client CIDRs can match. As ipv4 it sees your public IPv4 address; IPv6-only clients can no longer reach it.",
            e.id,
            e.ip_address_type()
        )
    };
    let family = if ipv4 { "" } else { " --ip-address-type ipv4" };
    fix(
        "preserve-client-ip",
        Some(format!(
            "{why} The change is made in place and applies to new connections; open tunnels keep going. With it on, the instance's security group must admit your office/VPN CIDRs rather than the endpoint's group, the subnet's network ACL must admit them too, and the client must reach the endpoint over the internet, not through a Transit Gateway."
        )),
        vec![format!(
            "aws ec2 modify-instance-connect-endpoint --region {region} --instance-connect-endpoint-id {}{family} --preserve-client-ip",
            e.id
        )],
        Some(format!(
            "resource \"aws_ec2_instance_connect_endpoint\" \"this\" {{\n  # {}\n  ip_address_type    = \"ipv4\"\n  preserve_client_ip = true   # run `terraform plan`: a provider older than ModifyInstanceConnectEndpoint replaces the endpoint instead\n}}",
            e.id
        )),
    )
}

/// A new endpoint with Preserve Client IP, where the instance's VPC has none.
fn create_endpoint(i: &Instance, region: &str) -> Fix {
    let subnet = i.subnet_id.as_deref().unwrap_or("SUBNET");
    fix(
        "endpoint",
        None,
        vec![format!(
            "aws ec2 create-instance-connect-endpoint --region {region} --subnet-id {subnet} --security-group-ids ENDPOINT_SG --ip-address-type ipv4 --preserve-client-ip"
        )],
        Some(format!(
            "resource \"aws_ec2_instance_connect_endpoint\" \"this\" {{\n  subnet_id          = \"{subnet}\"\n  security_group_ids = [\"ENDPOINT_SG\"]\n  ip_address_type    = \"ipv4\"\n  preserve_client_ip = true\n}}"
        )),
    )
}

/// Replace rules open to every address with the allowlist.
fn close_world(i: &Instance, f: &Facts, region: &str) -> Fix {
    let sg = first(&i.security_groups, "INSTANCE_SG");
    let port = f.port;
    let mut out = ingress("open-to-world", i, &wanted_cidrs(f), port, region);
    for (ranges, key, any) in [
        ("IpRanges", "CidrIp", "0.0.0.0/0"),
        ("Ipv6Ranges", "CidrIpv6", "::/0"),
    ] {
        out.aws_cli.push(format!(
            "aws ec2 revoke-security-group-ingress --region {region} --group-id {sg} --ip-permissions 'IpProtocol=tcp,FromPort={port},ToPort={port},{ranges}=[{{{key}={any}}}]'"
        ));
    }
    out.note = Some(format!(
        "add your CIDRs first, then revoke the rules open to everyone (a revoke of a rule that is not there fails harmlessly); in Terraform, delete the rule with 0.0.0.0/0 or ::/0 on port {port}"
    ));
    out
}

/// Make the security group admit exactly the local allowlist.
fn align(i: &Instance, e: &Endpoint, f: &Facts, region: &str) -> Fix {
    let sg = first(&i.security_groups, "INSTANCE_SG");
    let port = f.port;
    let admitted = f
        .groups
        .as_ref()
        .map(|gs| {
            let own: Vec<_> = gs
                .iter()
                .filter(|g| i.security_groups.contains(&g.id))
                .cloned()
                .collect();
            security_groups::admitted(&own, &e.security_groups, e.preserve_client_ip, port).ranges
        })
        .unwrap_or_default();
    let missing: Vec<IpNet> = f
        .settings
        .allow
        .iter()
        .filter(|n| !admitted.contains(n))
        .copied()
        .collect();
    let mut out = ingress("allowlist-vs-sg", i, &missing, port, region);
    if missing.is_empty() {
        out.aws_cli.clear();
        out.terraform = None;
    }
    for net in admitted.iter().filter(|n| !f.settings.allow.contains(n)) {
        let (ranges, key, _) = range_key(net);
        out.aws_cli.push(format!(
            "aws ec2 revoke-security-group-ingress --region {region} --group-id {sg} --ip-permissions 'IpProtocol=tcp,FromPort={port},ToPort={port},{ranges}=[{{{key}={net}}}]'"
        ));
    }
    out.note = Some(format!(
        "or, if the security group is right, set allow in {} to its ranges",
        f.settings.config_hint()
    ));
    out
}

/// The IAM statement for the denied actions.
fn iam(denied: &[String]) -> Fix {
    let actions: Vec<String> = denied.iter().map(|a| format!("\"{a}\"")).collect();
    let document = format!(
        "{{\"Version\":\"2012-10-17\",\"Statement\":[{{\"Sid\":\"EicSshDescribe\",\"Effect\":\"Allow\",\"Action\":[{}],\"Resource\":\"*\"}}]}}",
        actions.join(",")
    );
    fix(
        "credentials",
        Some("attach to the role or user your profile uses".into()),
        vec![format!(
            "aws iam put-role-policy --role-name YOUR_ROLE --policy-name eic-ssh-describe --policy-document '{document}'"
        )],
        Some(format!(
            "data \"aws_iam_policy_document\" \"eic_ssh\" {{\n  statement {{\n    actions   = [{}]\n    resources = [\"*\"]\n  }}\n}}",
            actions.join(", ")
        )),
    )
}

/// The config file, not AWS: the `allow` line under the target's own section (or
/// `[defaults]`), with a documentation range to replace when nothing better is known.
fn local_allowlist(check: &'static str, f: &Facts) -> Fix {
    let mut list: Vec<String> = Vec::new();
    let here = f.egress_ip.as_ref().ok().map(|ip| IpNet::from(*ip));
    for net in wanted_cidrs(f).into_iter().chain(here) {
        let quoted = format!("\"{net}\"");
        if !list.contains(&quoted) {
            list.push(quoted);
        }
    }
    let placeholder = list.is_empty();
    if placeholder {
        list.push("\"203.0.113.0/24\"".into());
    }
    // A host section is only valid with what it names: the instance doctor found.
    let (section, names) = match (&f.settings.alias, &f.instance) {
        (Some(alias), Ok(i)) => (
            format!("[hosts.{}]", toml_key(alias)),
            Some(format!("instance = \"{}\"", i.id)),
        ),
        _ => ("[defaults]".to_string(), None),
    };
    let opted_out = f.settings.opted_out;
    let mut lines: Vec<String> = [section.clone()].into_iter().chain(names).collect();
    lines.push(format!("allow = [{}]", list.join(", ")));
    if opted_out {
        lines.push("egress_check = true".into());
    }
    let mut note = format!(
        "in {} (not AWS): set allow in {section} (add the section if it is not there){}",
        f.settings.config_hint(),
        if opted_out {
            ", and remove egress_check = false"
        } else {
            ""
        }
    );
    if placeholder {
        note.push_str("; replace 203.0.113.0/24 with your office/VPN CIDR");
    }
    if let Some(net) = here {
        note.push_str(&format!(
            ". {net} is the network you are on now: list it only if it is one you trust (office, VPN), never a hotel's or a café's"
        ));
    }
    let mut out = fix(check, Some(note), Vec::new(), None);
    out.config = Some(lines.join("\n"));
    out
}

/// A section name as a TOML key: bare when it can be, else quoted.
fn toml_key(name: &str) -> String {
    let bare = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if bare {
        name.to_string()
    } else {
        toml::Value::String(name.to_string()).to_string()
    }
}

/// The IAM statement that allows a permission the simulator found missing (not for an
/// explicit Deny, which no Allow overrides, nor for one it could not decide).
fn grant(p: &Permission) -> Option<Fix> {
    let decision = p.answer.as_ref().ok()?;
    if decision.0 != "implicitDeny" || !decision.1.is_empty() {
        return None;
    }
    let mut operators: Vec<(&str, Vec<String>)> = Vec::new();
    for (key, operator, value) in &p.conditions {
        let entry = format!("\"{key}\":\"{value}\"");
        match operators.iter_mut().find(|(op, _)| op == operator) {
            Some((_, entries)) => entries.push(entry),
            None => operators.push((operator, vec![entry])),
        }
    }
    let condition = if operators.is_empty() {
        String::new()
    } else {
        let parts: Vec<String> = operators
            .iter()
            .map(|(op, entries)| format!("\"{op}\":{{{}}}", entries.join(",")))
            .collect();
        format!(",\"Condition\":{{{}}}", parts.join(","))
    };
    let sid = if p.check == "open-tunnel" {
        "EicSshOpenTunnel"
    } else {
        "EicSshSendKey"
    };
    let document = format!(
        "{{\"Version\":\"2012-10-17\",\"Statement\":[{{\"Sid\":\"{sid}\",\"Effect\":\"Allow\",\"Action\":\"{}\",\"Resource\":\"{}\"{condition}}}]}}",
        p.action, p.resource
    );
    let name = format!("eic-ssh-{}", p.check);
    let command = match &p.grantee {
        Some(("user", user)) => format!(
            "aws iam put-user-policy --user-name {user} --policy-name {name} --policy-document '{document}'"
        ),
        Some((_, role)) => format!(
            "aws iam put-role-policy --role-name {role} --policy-name {name} --policy-document '{document}'"
        ),
        None => format!(
            "aws iam put-role-policy --role-name YOUR_ROLE --policy-name {name} --policy-document '{document}'"
        ),
    };
    let conditions: Vec<String> = p
        .conditions
        .iter()
        .map(|(key, op, value)| {
            format!(
                "    condition {{\n      test     = \"{op}\"\n      variable = \"{key}\"\n      values   = [\"{value}\"]\n    }}\n"
            )
        })
        .collect();
    let terraform = format!(
        "data \"aws_iam_policy_document\" \"eic_ssh_{}\" {{\n  statement {{\n    actions   = [\"{}\"]\n    resources = [\"{}\"]\n{}  }}\n}}",
        p.check.replace('-', "_"),
        p.action,
        p.resource,
        conditions.concat()
    );
    Some(fix(
        p.check,
        Some(
            "attach to the identity your profile uses (IAM changes take a few seconds to apply)"
                .into(),
        ),
        vec![command],
        Some(terraform),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aws::ec2::{Permission, SecurityGroup};
    use crate::commands::doctor::checks::evaluate;

    fn facts(preserve: bool) -> Facts {
        Facts {
            port: 22,
            region: "eu-west-1".into(),
            denied: vec!["ec2:DescribeSecurityGroups".into()],
            reached: Ok(()),
            permissions: vec![],
            instance: Ok(Instance {
                id: "i-1".into(),
                state: "running".into(),
                vpc_id: Some("vpc-1".into()),
                subnet_id: Some("subnet-1".into()),
                private_ip: Some("10.0.1.5".into()),
                security_groups: vec!["sg-i".into()],
                ..Default::default()
            }),
            endpoint: Ok(Endpoint {
                id: "eice-1".into(),
                state: "create-complete".into(),
                vpc_id: "vpc-1".into(),
                preserve_client_ip: preserve,
                security_groups: vec!["sg-e".into()],
                ..Default::default()
            }),
            groups: Ok(vec![
                SecurityGroup {
                    id: "sg-i".into(),
                    ..Default::default()
                },
                SecurityGroup {
                    id: "sg-e".into(),
                    ..Default::default()
                },
            ]),
            egress_ip: Ok("203.0.113.9".parse().unwrap()),
            settings: crate::commands::doctor::checks::tests::settings(
                "allow = [\"203.0.113.0/24\", \"2001:db8::/32\"]",
            ),
        }
    }

    #[test]
    fn each_failure_gets_commands_and_terraform() {
        let f = facts(true);
        let found = fixes(&f, &evaluate(&f), "eu-west-1");
        let names: Vec<&str> = found.iter().map(|x| x.check).collect();
        assert_eq!(
            names,
            [
                "credentials",
                "endpoint-egress",
                "instance-inbound",
                "egress-ip",
                "allowlist-vs-sg"
            ]
        );
        let inbound = &found[2];
        assert_eq!(inbound.aws_cli.len(), 2, "one rule per allowlist entry");
        assert!(
            inbound.aws_cli[0].contains("--region eu-west-1 --group-id sg-i")
                && inbound.aws_cli[0].contains("IpRanges=[{CidrIp=203.0.113.0/24,")
        );
        assert!(inbound.aws_cli[1].contains("Ipv6Ranges=[{CidrIpv6=2001:db8::/32,"));
        assert!(
            inbound
                .terraform
                .as_ref()
                .unwrap()
                .contains("cidr_ipv6         = \"2001:db8::/32\"")
        );
        assert!(found[0].aws_cli[0].contains("\"ec2:DescribeSecurityGroups\""));
        assert!(
            found[1].aws_cli[0]
                .contains("authorize-security-group-egress --region eu-west-1 --group-id sg-e")
        );
    }

    #[test]
    fn preserve_client_ip_is_turned_on_in_place() {
        let mut f = facts(false);
        f.denied.clear();
        if let Ok(gs) = &mut f.groups {
            gs[1].outbound.push(Permission {
                protocol: "tcp".into(),
                from_port: Some(22),
                to_port: Some(22),
                cidrs: vec![],
                groups: vec!["sg-i".into()],
            });
        }
        let found = fixes(&f, &evaluate(&f), "eu-west-1");
        let pcip = found
            .iter()
            .find(|x| x.check == "preserve-client-ip")
            .unwrap();
        // ModifyInstanceConnectEndpoint changes it in place: no delete, no outage.
        assert_eq!(
            pcip.aws_cli,
            [
                "aws ec2 modify-instance-connect-endpoint --region eu-west-1 --instance-connect-endpoint-id eice-1 --preserve-client-ip"
            ]
        );
        assert!(
            pcip.note
                .as_ref()
                .unwrap()
                .contains("applies to new connections")
        );
        assert!(
            pcip.terraform
                .as_ref()
                .unwrap()
                .contains("preserve_client_ip = true")
        );
        // A dualstack endpoint becomes ipv4 in the same call.
        if let Ok(e) = &mut f.endpoint {
            e.ip_address_type = Some("dualstack".into());
        }
        let found_ds = fixes(&f, &evaluate(&f), "eu-west-1");
        let pcip = found_ds
            .iter()
            .find(|x| x.check == "preserve-client-ip")
            .unwrap();
        assert_eq!(
            pcip.aws_cli,
            [
                "aws ec2 modify-instance-connect-endpoint --region eu-west-1 --instance-connect-endpoint-id eice-1 --ip-address-type ipv4 --preserve-client-ip"
            ]
        );
        assert!(
            pcip.note
                .as_ref()
                .unwrap()
                .contains("works only on ipv4 endpoints")
        );
        let inbound = found
            .iter()
            .find(|x| x.check == "instance-inbound")
            .unwrap();
        assert!(inbound.aws_cli[0].contains("UserIdGroupPairs=[{GroupId=sg-e}]"));
    }
}
