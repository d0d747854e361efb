//! The egress verdict: one plain function from the settings for a target, the egress IP
//! and what the security groups admit, to one value with one wording. The connect path,
//! `tunnel`, `doctor`, `egress` and `list` all decide with it, so they cannot disagree.

use std::net::IpAddr;

use ipnet::IpNet;

use super::admitting;
use super::probe::ProbeError;
use crate::aws::security_groups::Admitted;
use crate::error::{Failure, Kind};
use crate::route::Settings;

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
pub fn decide(
    eff: &Settings,
    ip: Result<IpAddr, &ProbeError>,
    groups: Option<&Admitted>,
) -> Verdict {
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
                    eff.label(),
                    eff.config_hint()
                ),
            };
        }
    };
    // Every section that names the same instance must admit the IP (the strictest wins).
    for (source, list) in &eff.also_allow {
        if admitting(ip, list).is_none() {
            let same = format!(", which names the same instance as {}", eff.label());
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
        return refused(eff, ip, &eff.allow, &format!("for {} ", eff.label()), "");
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
        None => refused(eff, ip, &allow, &format!("for {} ", eff.label()), ""),
    }
}

/// "egress IP … is not in the allowlist WHOSE(LIST)SAME. Connect from … or edit …"
fn refused(eff: &Settings, ip: IpAddr, allow: &[IpNet], whose: &str, same: &str) -> Verdict {
    let list = allow
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ");
    Verdict::Refused {
        ip: Some(ip),
        reason: format!(
            "refusing to connect: egress IP {ip} is not in the allowlist {whose}({list}){same}. Connect from an allowed network (office/VPN) or edit {}.",
            eff.config_hint()
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config;
    use crate::route::{self, Flags};

    fn eff(text: &str, target: &str) -> Settings {
        let file = config::file::parse(text, std::path::Path::new("c.toml")).unwrap();
        route::settings::for_target(&file, None, target, &Flags::default()).unwrap()
    }

    fn ip(text: &str) -> Result<IpAddr, &'static ProbeError> {
        Ok(text.parse().unwrap())
    }

    const TWO: &str = r#"
[hosts.web]
instance = "i-0123456789abcdef0"
allow = ["203.0.113.0/24"]

[hosts.strict]
instance = "i-0123456789abcdef0"
allow = ["198.51.100.0/24"]
"#;

    #[test]
    fn every_section_naming_the_instance_must_admit() {
        let web = eff(TWO, "web");
        let v = decide(&web, ip("203.0.113.10"), None);
        assert_eq!(v.word(), "refused");
        assert!(
            v.sentence().contains("allowlist of [hosts.strict]"),
            "{v:?}"
        );
        assert!(v.gate().is_err());
        let by_id = decide(&eff(TWO, "i-0123456789abcdef0"), ip("198.51.100.1"), None);
        assert!(by_id.sentence().contains("[hosts.web]"), "{by_id:?}");
    }

    #[test]
    fn the_security_group_decides_only_when_read() {
        let text = "[hosts.web]\ninstance = \"i-0123456789abcdef0\"\nallow = [\"10.0.0.0/8\"]\nallow_from_security_group = true\n";
        let web = eff(text, "web");
        let here = ip("203.0.113.10");
        assert_eq!(
            decide(&web, here, None),
            Verdict::AskSecurityGroup {
                ip: "203.0.113.10".parse().unwrap()
            }
        );
        let admits = Admitted {
            ranges: vec!["203.0.113.0/24".parse().unwrap()],
            via_endpoint_group: false,
        };
        let v = decide(&web, here, Some(&admits));
        assert_eq!(v.word(), "allowed");
        assert!(v.sentence().contains("security group"), "{v:?}");
        let v = decide(&web, here, Some(&Admitted::default()));
        assert!(v.sentence().contains("(10.0.0.0/8)"), "{v:?}");
    }

    #[test]
    fn no_list_or_an_opt_out_is_unchecked_and_an_unknown_ip_is_refused() {
        let off = "[defaults]\negress_check = false\nallow = [\"10.0.0.0/8\"]\n";
        assert_eq!(
            decide(&eff(off, "i-0123456789abcdef0"), ip("1.2.3.4"), None),
            Verdict::Unchecked { opted_out: true }
        );
        assert_eq!(
            decide(&eff("", "i-0123456789abcdef0"), ip("1.2.3.4"), None).word(),
            "unchecked"
        );
        let listed = eff(
            "[defaults]\nallow = [\"10.0.0.0/8\"]\n",
            "i-0123456789abcdef0",
        );
        let why = ProbeError::Unreachable {
            url: "https://x".into(),
            reason: "down".into(),
        };
        let v = decide(&listed, Err(&why), None);
        assert_eq!(v.word(), "refused");
        assert!(v.sentence().contains("cannot determine the egress IP"));
    }
}
