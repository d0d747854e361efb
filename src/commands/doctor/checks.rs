//! The doctor's checks: plain functions from what was learned about the setup to a checklist.

use std::net::IpAddr;

use ipnet::IpNet;
use serde::Serialize;

use crate::aws::discovery::check_instance;
use crate::aws::ec2::{Endpoint, Instance, SecurityGroup};
use crate::aws::security_groups;
use crate::guard::admitting;
use crate::guard::{Verdict, decide, probe::ProbeError};
use crate::route::Settings;
use crate::tunnel::endpoint::check_port;

/// Outcome of one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// ✓
    Ok,
    /// ! (works, but worth knowing)
    Warn,
    /// ✗ (will not work, or is unsafe)
    Fail,
    /// ? (not checked: no call got an answer, or the answer could not decide)
    Unknown,
}

impl Status {
    /// The checklist mark.
    pub fn mark(self) -> &'static str {
        match self {
            Status::Ok => "✓",
            Status::Warn => "!",
            Status::Fail => "✗",
            Status::Unknown => "?",
        }
    }
}

/// One line of the checklist.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    /// Stable short name, e.g. `instance`.
    pub check: &'static str,
    /// Outcome.
    pub status: Status,
    /// What was found.
    pub summary: String,
    /// What to do, for a ✗ (sometimes for a !).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
}

fn check(name: &'static str, status: Status, summary: String, fix: Option<String>) -> Check {
    Check {
        check: name,
        status,
        summary,
        fix,
    }
}

/// Why a fact is missing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Missing {
    /// AWS answered, and the answer rules it out (not found, not allowed, stopped): ✗.
    Answered(String),
    /// No answer came (DNS, TCP, TLS, proxy, timeout) or none that could be read: ?.
    NoAnswer(String),
}

impl Missing {
    /// The sentence.
    pub fn why(&self) -> &str {
        match self {
            Missing::Answered(why) | Missing::NoAnswer(why) => why,
        }
    }

    /// ✗ for an answer that rules the fact out, ? for no answer.
    fn status(&self) -> Status {
        match self {
            Missing::Answered(_) => Status::Fail,
            Missing::NoAnswer(_) => Status::Unknown,
        }
    }
}

/// One permission asked of IAM's policy simulator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Permission {
    /// The check's name: `open-tunnel`, `send-ssh-public-key`.
    pub check: &'static str,
    /// `ec2-instance-connect:OpenTunnel`.
    pub action: &'static str,
    /// What it was asked on, for the summary: `eice-… for port 22 to 10.0.1.5`.
    pub on: String,
    /// The resource's ARN.
    pub resource: String,
    /// The condition keys given, as `(name, IAM condition operator, value)`.
    pub conditions: Vec<(&'static str, &'static str, String)>,
    /// Whom it was simulated for: `user NAME` or `role NAME`, when known.
    pub grantee: Option<(&'static str, String)>,
    /// IAM's decision (`allowed`, `implicitDeny`, `explicitDeny`) and the context keys a
    /// condition needed and did not get.
    pub answer: Result<(String, Vec<String>), Missing>,
    /// The `aws iam simulate-principal-policy …` line that asks the same by hand.
    pub by_hand: Option<String>,
}

/// What the doctor learned; `Err` holds why a fact is unknown.
#[derive(Debug, Clone)]
pub struct Facts {
    /// Port to check.
    pub port: u16,
    /// The region, for the commands in fixes.
    pub region: String,
    /// IAM actions refused with UnauthorizedOperation.
    pub denied: Vec<String>,
    /// Whether the EC2 API answered at all: `Ok` when a call got an answer that was not a
    /// refusal of the credentials.
    pub reached: Result<(), Missing>,
    /// The instance.
    pub instance: Result<Instance, Missing>,
    /// Its endpoint.
    pub endpoint: Result<Endpoint, Missing>,
    /// All security groups of the instance and the endpoint.
    pub groups: Result<Vec<SecurityGroup>, Missing>,
    /// OpenTunnel and SendSSHPublicKey, as IAM's policy simulator answered (empty when the
    /// instance or its endpoint is unknown).
    pub permissions: Vec<Permission>,
    /// This machine's public egress IP.
    pub egress_ip: Result<IpAddr, String>,
    /// The settings for the target, with every section naming the instance bound: the
    /// same ones the connect path decides with.
    pub settings: Settings,
}

/// Runs every check that the facts allow, in pipeline order; a missing fact ends the list
/// where it is needed.
pub fn evaluate(f: &Facts) -> Vec<Check> {
    let mut out = vec![port_check(f.port)];
    out.extend(credential_checks(&f.denied, &f.reached));
    let admitted = aws_checks(f, &mut out);
    out.extend(allowlist_checks(f, admitted.as_ref()));
    for fix in out.iter_mut().filter_map(|c| c.fix.as_mut()) {
        *fix = with_region(fix, &f.region);
    }
    out
}

/// An `aws ec2 VERB …` fix with `--region` after its verb, so that it acts on the region
/// that was checked whatever the shell's AWS_REGION says.
fn with_region(fix: &str, region: &str) -> String {
    match fix
        .strip_prefix("aws ec2 ")
        .and_then(|rest| rest.split_once(' '))
    {
        Some((verb, rest)) if !fix.contains("--region ") => {
            format!("aws ec2 {verb} --region {region} {rest}")
        }
        _ => fix.to_string(),
    }
}

/// The instance, its endpoint and both sides' security groups, as far as they are known;
/// returns what the instance's groups admit on the port when that could be read.
fn aws_checks(f: &Facts, out: &mut Vec<Check>) -> Option<security_groups::Admitted> {
    let instance = match &f.instance {
        Ok(i) => i,
        Err(missing) => {
            let fix = match missing {
                Missing::Answered(_) => "check the target, region and profile",
                Missing::NoAnswer(_) => {
                    "check the network (DNS, HTTPS_PROXY, AWS_CA_BUNDLE), then run doctor again"
                }
            };
            out.push(check(
                "instance",
                missing.status(),
                missing.why().to_string(),
                Some(fix.into()),
            ));
            return None;
        }
    };
    out.push(instance_check(instance));
    let endpoint = match &f.endpoint {
        Ok(e) => e,
        Err(Missing::NoAnswer(why)) => {
            out.push(check("endpoint", Status::Unknown, why.clone(), None));
            return None;
        }
        Err(Missing::Answered(why)) => {
            out.push(check(
                "endpoint",
                Status::Fail,
                why.clone(),
                Some(format!(
                    "aws ec2 create-instance-connect-endpoint --subnet-id {} --ip-address-type ipv4 --preserve-client-ip",
                    instance.subnet_id.as_deref().unwrap_or("SUBNET")
                )),
            ));
            return None;
        }
    };
    out.extend(endpoint_checks(instance, endpoint));
    out.extend(f.permissions.iter().map(permission_check));
    let groups = match &f.groups {
        Ok(g) => g,
        Err(missing) => {
            out.push(check(
                "security-groups",
                missing.status(),
                missing.why().to_string(),
                None,
            ));
            return None;
        }
    };
    let of = |ids: &[String]| -> Vec<SecurityGroup> {
        groups
            .iter()
            .filter(|g| ids.contains(&g.id))
            .cloned()
            .collect()
    };
    let endpoint_groups = of(&endpoint.security_groups);
    let instance_groups = of(&instance.security_groups);
    out.push(endpoint_egress(
        instance,
        endpoint,
        &endpoint_groups,
        f.port,
    ));
    let admitted = security_groups::admitted(
        &instance_groups,
        &endpoint.security_groups,
        endpoint.preserve_client_ip,
        f.port,
    );
    out.extend(instance_inbound(instance, endpoint, &admitted, f.port));
    out.extend(sg_admits_egress_ip(f, endpoint, &admitted));
    Some(admitted)
}

/// The ports rule, decided where the tunnel decides it.
fn port_check(port: u16) -> Check {
    match check_port(port) {
        Ok(()) => check(
            "port",
            Status::Ok,
            format!("port {port} is one an endpoint can open"),
            None,
        ),
        Err(refusal) => check(
            "port",
            Status::Fail,
            refusal.message,
            Some(format!(
                "connect to 22 and forward inside SSH: ssh -L {port}:localhost:{port} …"
            )),
        ),
    }
}

/// ✓ only when the EC2 API answered and refused none of its reads.
fn credential_checks(denied: &[String], reached: &Result<(), Missing>) -> Vec<Check> {
    if denied.is_empty() {
        return vec![match reached {
            Ok(()) => check(
                "credentials",
                Status::Ok,
                "credentials can call the EC2 APIs eic-ssh reads".into(),
                None,
            ),
            Err(Missing::Answered(why)) => check(
                "credentials",
                Status::Fail,
                why.clone(),
                Some(
                    "check the credentials in use (AWS_PROFILE, --profile, `aws sso login`)".into(),
                ),
            ),
            // The instance's line, next, names the cause: said once.
            Err(Missing::NoAnswer(_)) => check(
                "credentials",
                Status::Unknown,
                "credentials not checked: the EC2 API did not answer (why: below)".into(),
                None,
            ),
        }];
    }
    denied
        .iter()
        .map(|action| {
            check(
                "credentials",
                Status::Fail,
                format!("not authorized: {action}"),
                Some(format!(
                    "allow {action} in your IAM policy (`eic-ssh doctor TARGET --fix` prints the whole policy)"
                )),
            )
        })
        .collect()
}

/// What IAM's policy simulator said about one permission the connect path needs.
fn permission_check(p: &Permission) -> Check {
    let by_hand = p
        .by_hand
        .as_ref()
        .map(|line| format!("check by hand: {line}"));
    match &p.answer {
        Err(missing) => check(
            p.check,
            Status::Unknown,
            format!("{} on {}: not checked: {}", p.action, p.on, missing.why()),
            by_hand,
        ),
        Ok((decision, _)) if decision == "allowed" => check(
            p.check,
            Status::Ok,
            format!("{} is allowed on {} (IAM policy simulation)", p.action, p.on),
            None,
        ),
        Ok((_, missing)) if !missing.is_empty() => check(
            p.check,
            Status::Unknown,
            format!(
                "{} on {}: the policy's decision depends on {}, which doctor could not give{}",
                p.action,
                p.on,
                missing.join(", "),
                if missing.iter().any(|k| k == "ec2:osuser") {
                    " (write USER@TARGET for ec2:osuser)"
                } else {
                    ""
                }
            ),
            by_hand,
        ),
        Ok((decision, _)) if decision == "explicitDeny" => check(
            p.check,
            Status::Fail,
            format!(
                "{} on {} is denied by an explicit Deny (IAM policy simulation)",
                p.action, p.on
            ),
            Some("an explicit Deny wins over every Allow: find it in the identity's policies, its permissions boundary or an SCP".into()),
        ),
        Ok(_) => check(
            p.check,
            Status::Fail,
            format!(
                "{} on {} is not allowed: no policy allows it (IAM policy simulation)",
                p.action, p.on
            ),
            Some(format!(
                "allow {} in your IAM policy (`eic-ssh doctor TARGET --fix` prints the statement)",
                p.action
            )),
        ),
    }
}

/// Whether the instance can be reached at all, decided as discovery decides it.
fn instance_check(instance: &Instance) -> Check {
    match check_instance(instance) {
        Ok(()) => check(
            "instance",
            Status::Ok,
            format!(
                "{} is running in {} ({})",
                instance.id,
                instance.vpc_id.as_deref().unwrap_or_default(),
                instance.private_ip.as_deref().unwrap_or("no IPv4")
            ),
            None,
        ),
        Err(refusal) => check(
            "instance",
            Status::Fail,
            refusal.message,
            (instance.state != "running")
                .then(|| format!("aws ec2 start-instances --instance-ids {}", instance.id)),
        ),
    }
}

fn endpoint_checks(instance: &Instance, endpoint: &Endpoint) -> Vec<Check> {
    let vpc = instance.vpc_id.as_deref().unwrap_or_default();
    let mut out = vec![check(
        "endpoint",
        Status::Ok,
        format!("{} is {} in {vpc}", endpoint.id, endpoint.state),
        None,
    )];
    let kind = endpoint.ip_address_type();
    if !endpoint.preserve_client_ip && kind != "ipv4" {
        out.push(check(
            "preserve-client-ip",
            Status::Warn,
            format!(
                "{} is a {kind} endpoint, and Preserve Client IP works only on ipv4 endpoints: the instance sees the endpoint's address, so a security-group allowlist of client CIDRs can never match",
                endpoint.id
            ),
            Some(format!(
                "aws ec2 modify-instance-connect-endpoint --instance-connect-endpoint-id {} --ip-address-type ipv4 --preserve-client-ip",
                endpoint.id
            )),
        ));
    } else if endpoint.preserve_client_ip {
        out.push(check(
            "preserve-client-ip",
            Status::Ok,
            "Preserve Client IP is on: the instance sees your public IP, so its security group is the IP allowlist".into(),
            None,
        ));
    } else {
        out.push(check(
            "preserve-client-ip",
            Status::Warn,
            "Preserve Client IP is off: the instance sees the endpoint's address, so its security group cannot restrict by your IP".into(),
            Some(format!(
                "aws ec2 modify-instance-connect-endpoint --instance-connect-endpoint-id {} --preserve-client-ip   # in place; see --fix for what the security group must then admit",
                endpoint.id
            )),
        ));
    }
    out
}

fn endpoint_egress(
    instance: &Instance,
    endpoint: &Endpoint,
    groups: &[SecurityGroup],
    port: u16,
) -> Check {
    let target: Option<IpAddr> = instance
        .private_ip
        .as_deref()
        .and_then(|ip| ip.parse().ok());
    let allows = groups.iter().flat_map(|g| &g.outbound).any(|r| {
        r.covers_tcp(port)
            && (r
                .groups
                .iter()
                .any(|g| instance.security_groups.contains(g))
                || r.cidrs
                    .iter()
                    .filter_map(|c| c.parse::<IpNet>().ok())
                    .any(|n| target.is_some_and(|t| n.contains(&t))))
    });
    if allows {
        check(
            "endpoint-egress",
            Status::Ok,
            format!("the endpoint's security group allows outbound port {port} to the instance"),
            None,
        )
    } else {
        let sg = endpoint
            .security_groups
            .first()
            .map_or("ENDPOINT_SG", String::as_str);
        let to = instance
            .security_groups
            .first()
            .map_or("INSTANCE_SG", String::as_str);
        check(
            "endpoint-egress",
            Status::Fail,
            format!(
                "the endpoint's security groups ({}) do not allow outbound port {port} to the instance",
                endpoint.security_groups.join(", ")
            ),
            Some(format!(
                "aws ec2 authorize-security-group-egress --group-id {sg} --ip-permissions 'IpProtocol=tcp,FromPort={port},ToPort={port},UserIdGroupPairs=[{{GroupId={to}}}]'"
            )),
        )
    }
}

fn instance_inbound(
    instance: &Instance,
    endpoint: &Endpoint,
    admitted: &security_groups::Admitted,
    port: u16,
) -> Vec<Check> {
    let mut out = Vec::new();
    let sg = instance
        .security_groups
        .first()
        .map_or("INSTANCE_SG", String::as_str);
    // Without Preserve Client IP the source is the endpoint's interface in the VPC: only
    // ranges that cover the VPC's addresses (judged by the instance's own) can admit it.
    let own: Option<IpAddr> = instance
        .private_ip
        .as_deref()
        .and_then(|ip| ip.parse().ok());
    let sources: Vec<String> = admitted
        .ranges
        .iter()
        .filter(|n| endpoint.preserve_client_ip || own.is_some_and(|ip| n.contains(&ip)))
        .map(ToString::to_string)
        .chain(admitted.via_endpoint_group.then(|| {
            format!(
                "the endpoint's group ({})",
                endpoint.security_groups.join(", ")
            )
        }))
        .collect();
    if sources.is_empty() {
        let fix = if endpoint.preserve_client_ip {
            format!(
                "aws ec2 authorize-security-group-ingress --group-id {sg} --ip-permissions 'IpProtocol=tcp,FromPort={port},ToPort={port},IpRanges=[{{CidrIp=YOUR_OFFICE_CIDR}}]'"
            )
        } else {
            let eg = endpoint
                .security_groups
                .first()
                .map_or("ENDPOINT_SG", String::as_str);
            format!(
                "aws ec2 authorize-security-group-ingress --group-id {sg} --ip-permissions 'IpProtocol=tcp,FromPort={port},ToPort={port},UserIdGroupPairs=[{{GroupId={eg}}}]'"
            )
        };
        out.push(check(
            "instance-inbound",
            Status::Fail,
            format!("the instance's security groups admit nothing on port {port} that can come through the endpoint"),
            Some(fix),
        ));
    } else {
        out.push(check(
            "instance-inbound",
            Status::Ok,
            format!(
                "the instance's security groups admit port {port} from {}",
                sources.join(", ")
            ),
            None,
        ));
    }
    let open: Vec<String> = admitted
        .ranges
        .iter()
        .filter(|n| n.prefix_len() == 0)
        .map(ToString::to_string)
        .collect();
    if !open.is_empty() {
        out.push(check(
            "open-to-world",
            Status::Warn,
            format!(
                "port {port} is open to {} : anyone on the internet allowed by IAM can reach sshd",
                open.join(" and ")
            ),
            Some("replace the rule with your office/VPN CIDRs".into()),
        ));
    }
    out
}

/// With Preserve Client IP the instance's security group is the real boundary: does it
/// admit this network?
fn sg_admits_egress_ip(
    f: &Facts,
    endpoint: &Endpoint,
    admitted: &security_groups::Admitted,
) -> Option<Check> {
    if !endpoint.preserve_client_ip {
        return None;
    }
    Some(match &f.egress_ip {
        Err(why) => check(
            "egress-ip",
            Status::Unknown,
            format!("not checked: your egress IP is unknown: {why}"),
            None,
        ),
        Ok(ip) if admitting(*ip, &admitted.ranges).is_some() => check(
            "egress-ip",
            Status::Ok,
            format!("your egress IP {ip} is admitted by the instance's security group"),
            None,
        ),
        Ok(ip) => check(
            "egress-ip",
            Status::Fail,
            format!("your egress IP {ip} is not admitted by the instance's security group"),
            Some("connect from an allowed network (office/VPN), or admit this network's CIDR in the security group".into()),
        ),
    })
}

/// The guard's own verdict for this network (the same function the connect path runs),
/// then warnings about the local allowlist itself.
fn allowlist_checks(f: &Facts, admitted: Option<&security_groups::Admitted>) -> Vec<Check> {
    let eff = &f.settings;
    let hint = eff.config_hint();
    // The probe's sentence names the URL that failed already: named once.
    let unknown = f.egress_ip.clone().map_err(|why| {
        let named = eff.egress_urls.iter().find_map(|u| {
            let reason = why.strip_prefix(u.as_str())?.strip_prefix(": ")?;
            Some((u.clone(), reason.to_string()))
        });
        let (url, reason) = named.unwrap_or_else(|| (eff.egress_urls.join(", "), why.clone()));
        ProbeError::Unreachable { url, reason }
    });
    let verdict = decide(&eff.policy(), unknown.as_ref().copied(), admitted);
    let mut out = vec![match &verdict {
        Verdict::Unchecked { opted_out: true } => check(
            "allowlist",
            Status::Warn,
            "egress check turned off for this host (egress_check = false): eic-ssh connects from any network".into(),
            Some(format!("remove egress_check = false and add allow = [\"CIDR\", …] in {hint}")),
        ),
        Verdict::Unchecked { opted_out: false } => check(
            "allowlist",
            Status::Warn,
            "no local allowlist: eic-ssh connects from any network".into(),
            Some(format!("add allow = [\"CIDR\", …] to {hint}")),
        ),
        Verdict::Allowed { .. } => check(
            "allowlist",
            Status::Ok,
            format!("eic-ssh will connect from here: {}", verdict.sentence()),
            None,
        ),
        Verdict::AskSecurityGroup { .. } => check(
            "allowlist",
            Status::Warn,
            format!("{}, and doctor could not read its rules", verdict.sentence()),
            None,
        ),
        Verdict::Refused { reason, .. } => check(
            "allowlist",
            Status::Fail,
            format!(
                "eic-ssh will refuse to connect from here: {}",
                reason.trim_start_matches("refusing to connect: ")
            ),
            Some(format!("connect from an allowed network, or edit allow in {hint}")),
        ),
    }];
    if let Some(wide) = eff.wide_entries().first() {
        out.push(check(
            "allowlist-wide",
            Status::Warn,
            format!("the local allowlist has {wide}, which admits every address: the egress check allows any network"),
            Some(format!("list your office/VPN CIDRs instead of {wide} in {hint}")),
        ));
    }
    let preserving = f.endpoint.as_ref().is_ok_and(|e| e.preserve_client_ip);
    if let (true, Some(admitted), false) = (preserving, admitted, eff.allow.is_empty()) {
        let mut local: Vec<IpNet> = eff.allow.clone();
        local.sort();
        local.dedup();
        if local != admitted.ranges {
            let show = |v: &[IpNet]| {
                v.iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            out.push(check(
                "allowlist-vs-sg",
                Status::Warn,
                format!(
                    "the local allowlist ({}) differs from the security group's ({})",
                    show(&local),
                    show(&admitted.ranges)
                ),
                Some(
                    "keep them the same, so the fast local check and the real boundary agree"
                        .into(),
                ),
            ));
        }
    }
    out
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::aws::ec2::Permission;

    fn facts() -> Facts {
        let rule = |cidrs: &[&str], groups: &[&str]| Permission {
            protocol: "tcp".into(),
            from_port: Some(22),
            to_port: Some(22),
            cidrs: cidrs.iter().map(|c| c.to_string()).collect(),
            groups: groups.iter().map(|c| c.to_string()).collect(),
        };
        Facts {
            port: 22,
            region: "eu-west-1".into(),
            denied: vec![],
            reached: Ok(()),
            permissions: vec![],
            instance: Ok(Instance {
                id: "i-1".into(),
                state: "running".into(),
                vpc_id: Some("vpc-1".into()),
                private_ip: Some("10.0.1.5".into()),
                security_groups: vec!["sg-i".into()],
                ..Default::default()
            }),
            endpoint: Ok(Endpoint {
                id: "eice-1".into(),
                state: "create-complete".into(),
                preserve_client_ip: true,
                security_groups: vec!["sg-e".into()],
                ..Default::default()
            }),
            groups: Ok(vec![
                SecurityGroup {
                    id: "sg-i".into(),
                    inbound: vec![rule(&["203.0.113.0/24"], &[])],
                    ..Default::default()
                },
                SecurityGroup {
                    id: "sg-e".into(),
                    outbound: vec![rule(&[], &["sg-i"])],
                    ..Default::default()
                },
            ]),
            egress_ip: Ok("203.0.113.9".parse().unwrap()),
            settings: settings("allow = [\"203.0.113.0/24\"]"),
        }
    }

    /// The settings for `i-1` under these `[defaults]` lines.
    pub fn settings(defaults: &str) -> Settings {
        let text = format!("[defaults]\n{defaults}\n");
        let file = crate::config::file::parse(&text, std::path::Path::new("c.toml")).unwrap();
        let o = crate::route::Flags::default();
        crate::route::settings::for_target(&file, None, "i-01234567", &o).unwrap()
    }

    fn statuses(f: &Facts) -> Vec<(&'static str, Status)> {
        evaluate(f)
            .into_iter()
            .map(|c| (c.check, c.status))
            .collect()
    }

    #[test]
    fn a_good_setup_passes_every_check() {
        let got = statuses(&facts());
        assert!(got.iter().all(|(_, s)| *s == Status::Ok), "{got:?}");
        assert_eq!(got.len(), 9);
    }

    #[test]
    fn each_failure_is_reported() {
        let mut f = facts();
        f.egress_ip = Ok("192.0.2.44".parse().unwrap());
        let got = statuses(&f);
        assert!(
            got.contains(&("egress-ip", Status::Fail))
                && got.contains(&("allowlist", Status::Fail))
        );

        let mut f = facts();
        if let Ok(gs) = &mut f.groups {
            gs[1].outbound.clear();
        }
        assert!(statuses(&f).contains(&("endpoint-egress", Status::Fail)));

        let mut f = facts();
        f.endpoint.as_mut().unwrap().preserve_client_ip = false;
        let got = statuses(&f);
        assert!(got.contains(&("preserve-client-ip", Status::Warn)));
        assert!(
            got.contains(&("instance-inbound", Status::Fail)),
            "a CIDR rule does not admit the endpoint: {got:?}"
        );

        let mut f = facts();
        f.instance.as_mut().unwrap().state = "stopped".into();
        assert!(statuses(&f).contains(&("instance", Status::Fail)));

        let mut f = facts();
        f.denied.push("ec2:DescribeSecurityGroups".into());
        assert!(statuses(&f).contains(&("credentials", Status::Fail)));
    }

    #[test]
    fn open_rules_and_disagreeing_lists_warn() {
        let mut f = facts();
        if let Ok(gs) = &mut f.groups {
            gs[0].inbound[0].cidrs.push("0.0.0.0/0".into());
        }
        let got = statuses(&f);
        assert!(got.contains(&("open-to-world", Status::Warn)));
        assert!(got.contains(&("allowlist-vs-sg", Status::Warn)));
    }

    #[test]
    fn inline_fixes_name_the_region_checked() {
        let mut f = facts();
        f.instance.as_mut().unwrap().state = "stopped".into();
        let checks = evaluate(&f);
        let start = checks.iter().find(|c| c.check == "instance").unwrap();
        assert_eq!(
            start.fix.as_deref(),
            Some("aws ec2 start-instances --region eu-west-1 --instance-ids i-1")
        );
    }

    #[test]
    fn an_allowlist_of_everything_is_a_warning() {
        let mut f = facts();
        f.settings = settings("allow = [\"0.0.0.0/0\"]");
        let checks = evaluate(&f);
        let wide = checks
            .iter()
            .find(|c| c.check == "allowlist-wide")
            .expect("a warning");
        assert_eq!(wide.status, Status::Warn);
    }

    #[test]
    fn preserve_client_ip_needs_an_ipv4_endpoint() {
        let mut f = facts();
        let e = f.endpoint.as_mut().unwrap();
        e.preserve_client_ip = false;
        e.ip_address_type = Some("dualstack".into());
        let checks = evaluate(&f);
        let c = checks
            .iter()
            .find(|c| c.check == "preserve-client-ip")
            .unwrap();
        assert_eq!(c.status, Status::Warn);
        assert!(c.summary.contains("works only on ipv4 endpoints"), "{c:?}");
        assert!(c.summary.contains("can never match"), "{c:?}");
        let fix = c.fix.as_deref().unwrap();
        assert!(
            fix.starts_with("aws ec2 modify-instance-connect-endpoint --region ")
                && fix.ends_with("--ip-address-type ipv4 --preserve-client-ip"),
            "{fix}"
        );
    }
}
