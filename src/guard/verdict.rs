//! The egress verdict: one plain function from the settings for a target, the egress IP
//! and what the security groups admit, to one value with one wording. The connect path,
//! `tunnel`, `doctor`, `egress` and `list` all decide with it, so they cannot disagree.

use std::net::IpAddr;

use ipnet::IpNet;

use super::Policy;
use super::admitting;
use super::probe::ProbeError;
use crate::aws::security_groups::Admitted;
use crate::error::{Failure, Kind};

/// What the guard says about connecting from this network.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// No allowlist applies: nothing is checked. `opted_out` when `egress_check = false`
    /// says so (rather than no list being written).
    Unchecked { opted_out: bool },
    /// The egress IP is admitted: by every section naming the instance, and by `by`.
    Allowed { ip: IpAddr, by: String },
    /// The static allowlists do not admit the IP, but `allow_from_security_group` lets the
    /// instance's security group decide, and its rules have not been read.
    AskSecurityGroup { ip: IpAddr },
    /// Refused: the IP is outside a list, or could not be learned (fail closed). `reason`
    /// is the one sentence the user reads.
    Refused { ip: Option<IpAddr>, reason: String },
}

/// Decides for `eff` (with every section naming its instance bound). `ip` is the egress IP
/// or why it is unknown; `groups` what the security group admits on the port, when read.
pub fn decide(eff: &Policy, ip: Result<IpAddr, &ProbeError>, groups: Option<&Admitted>) -> Verdict {
    if !eff.has_allowlist() {
        return Verdict::Unchecked {
            opted_out: eff.opted_out,
        };
    }
    let ip = match ip {
        Ok(ip) => ip,
        Err(e) => {
            return Verdict::Refused {
                ip: None,
                reason: format!(
                    "refusing to connect: cannot determine the egress IP, and {} has an allowlist ({e}). Check your network, or egress_check_url in {}.",
                    eff.label, eff.config_hint
                ),
            };
        }
    };
    // Every section that names the same instance must admit the IP (the strictest wins).
    for (source, list) in &eff.also_allow {
        if admitting(ip, list).is_none() {
            let same = format!(", which names the same instance as {}", eff.label);
            return refused(eff, ip, list, &format!("of [{source}] "), &same);
        }
    }
    if eff.allow.is_empty() && !eff.allow_from_security_group {
        return Verdict::Allowed {
            ip,
            by: "every section naming the instance".into(),
        };
    }
    if let Some(net) = admitting(ip, &eff.allow) {
        let source = eff.allow_source.as_deref().unwrap_or("the allowlist");
        return Verdict::Allowed {
            ip,
            by: format!("{net} (from [{source}])"),
        };
    }
    if !eff.allow_from_security_group {
        return refused(eff, ip, &eff.allow, &format!("for {} ", eff.label), "");
    }
    let Some(groups) = groups else {
        return Verdict::AskSecurityGroup { ip };
    };
    let mut allow = eff.allow.clone();
    allow.extend(groups.as_allowlist());
    match admitting(ip, &allow) {
        Some(net) => Verdict::Allowed {
            ip,
            by: format!("{net} (from the instance's security group)"),
        },
        None => refused(eff, ip, &allow, &format!("for {} ", eff.label), ""),
    }
}

/// "egress IP … is not in the allowlist WHOSE(LIST)SAME. Connect from … or edit …"
fn refused(eff: &Policy, ip: IpAddr, allow: &[IpNet], whose: &str, same: &str) -> Verdict {
    let list = allow
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ");
    Verdict::Refused {
        ip: Some(ip),
        reason: format!(
            "refusing to connect: egress IP {ip} is not in the allowlist {whose}({list}){same}. Connect from an allowed network (office/VPN) or edit {}.",
            eff.config_hint
        ),
    }
}

impl Verdict {
    /// The stable word for JSON and the connection log.
    pub fn word(&self) -> &'static str {
        match self {
            Verdict::Unchecked { .. } => "unchecked",
            Verdict::Allowed { .. } => "allowed",
            Verdict::AskSecurityGroup { .. } => "security_group",
            Verdict::Refused { .. } => "refused",
        }
    }

    /// The one sentence for people.
    pub fn sentence(&self) -> String {
        match self {
            Verdict::Unchecked { opted_out: true } => {
                "no check (egress_check = false): every network may connect".into()
            }
            Verdict::Unchecked { opted_out: false } => {
                "no check (no allowlist applies): every network may connect".into()
            }
            Verdict::Allowed { ip, by } => format!("allowed: egress IP {ip} is admitted by {by}"),
            Verdict::AskSecurityGroup { ip } => format!(
                "egress IP {ip} is not in the static allowlist; the instance's security group decides when connecting"
            ),
            Verdict::Refused { reason, .. } => reason.clone(),
        }
    }

    /// The egress IP it was decided for, when known and needed.
    pub fn ip(&self) -> Option<IpAddr> {
        match self {
            Verdict::Unchecked { .. } => None,
            Verdict::Allowed { ip, .. } | Verdict::AskSecurityGroup { ip } => Some(*ip),
            Verdict::Refused { ip, .. } => *ip,
        }
    }

    /// The gate: a refusal becomes the failure the user reads (exit 3).
    pub fn gate(&self) -> Result<(), Failure> {
        match self {
            Verdict::Refused { reason, .. } => Err(Failure::new(Kind::Refused, reason.clone())),
            _ => Ok(()),
        }
    }
}
