//! The route stage: what one target means (its settings: flags, environment and config file
//! merged once, in `settings`) and where it leads (an instance, an endpoint and the sections
//! bound to that instance, with the egress guard deciding before each step, in `resolve`),
//! then tunnels along it (`open`; a route from the cache confirmed beside its first tunnel,
//! in `recheck`). Commands only wire it to a front end.

pub mod cache;
pub mod open;
pub mod origin;
pub mod recheck;
pub mod resolve;
pub mod road;
pub mod settings;
pub mod slots;

use std::sync::Arc;

pub use open::{Connector, prepare, prepare_and_open};
pub use resolve::{Destination, resolve};
pub use settings::{Flags, Settings};

use crate::aws::AwsChoices;
use crate::guard::{Policy, Verdict};
use crate::tunnel::stream::Traffic;

/// What the stages learned about one connection attempt, kept even when a later step
/// fails: the front end builds the attempt's log entry from it.
#[derive(Debug, Default, Clone)]
pub struct Learned {
    /// `log = false` in the config file: the attempt is not logged.
    pub log_off: bool,
    /// The guard's last verdict.
    pub verdict: Option<Verdict>,
    /// The road the guard's check took (the tunnel's): `direct` or `via HOST:PORT`.
    pub road: Option<String>,
    /// The instance id, once known.
    pub instance: Option<String>,
    /// The endpoint id, once known.
    pub endpoint: Option<String>,
    /// `SHA256:…` of the host key the instance presented, once seen.
    pub host_key: Option<String>,
    /// The byte counters of every tunnel opened.
    pub traffic: Vec<Arc<Traffic>>,
}

impl Learned {
    /// Writes what was learned into the attempt's log entry: instance, endpoint, the
    /// verdict and the egress IP it saw, the road, the host key, and the bytes each way.
    pub fn record(&self, entry: &mut crate::logbook::Entry) {
        entry.instance.clone_from(&self.instance);
        entry.endpoint.clone_from(&self.endpoint);
        entry.guard = self.verdict.as_ref().map(|v| v.word().to_string());
        entry.egress_ip = self
            .verdict
            .as_ref()
            .and_then(|v| v.ip())
            .map(|ip| ip.to_string());
        entry.road.clone_from(&self.road);
        entry.host_key.clone_from(&self.host_key);
        for t in &self.traffic {
            let (up, down) = t.totals();
            entry.bytes_up += up;
            entry.bytes_down += down;
        }
    }
}

/// The settings hand the lower stages only what they need: the guard its policy, AWS its
/// profile and region.
impl Settings {
    /// The guard's policy for this target.
    pub fn policy(&self) -> Policy {
        Policy {
            label: self.label().to_string(),
            config_hint: self.config_hint(),
            allow: self.allow.clone(),
            allow_source: self.allow_source.clone(),
            allow_from_security_group: self.allow_from_security_group,
            also_allow: self.also_allow.clone(),
            opted_out: self.opted_out,
            egress_urls: self.egress_urls.clone(),
        }
    }
}

impl From<&Settings> for AwsChoices {
    fn from(eff: &Settings) -> Self {
        AwsChoices {
            profile: eff.profile.clone(),
            region: eff.region.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    //! The guard decides on the policy the settings hand it, sections bound.
    use std::net::IpAddr;

    use super::Flags;
    use crate::aws::security_groups::Admitted;
    use crate::config;
    use crate::guard::probe::ProbeError;
    use crate::guard::{Policy, Verdict, decide};

    fn eff(text: &str, target: &str) -> Policy {
        let file = config::file::parse(text, std::path::Path::new("c.toml")).unwrap();
        super::settings::for_target(&file, None, target, &Flags::default())
            .unwrap()
            .policy()
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
