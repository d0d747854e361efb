//! The simulated AWS account: credentials, instances, endpoints and security groups.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

/// Everything the emulator knows about "AWS". Loadable from JSON (`eic-sim --world FILE`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct World {
    /// The one region this account has.
    pub region: String,
    /// Account id used in ARNs and messages.
    pub account: String,
    /// Access keys the APIs accept.
    pub credentials: Vec<Credential>,
    /// EC2 instances.
    pub instances: Vec<Instance>,
    /// EC2 Instance Connect Endpoints.
    pub endpoints: Vec<Endpoint>,
    /// Security groups.
    pub security_groups: Vec<SecurityGroup>,
    /// The public IP the "internet" sees for clients; `None` uses the TCP peer address.
    #[serde(default)]
    pub client_public_ip: Option<IpAddr>,
    /// The public IP the "internet" sees for clients connecting over IPv6, when it differs
    /// (a dual-stack network has one address per family); `None`: `client_public_ip`.
    #[serde(default)]
    pub client_public_ipv6: Option<IpAddr>,
    /// Concurrent tunnels per endpoint (the service default is 20).
    #[serde(default = "default_max_connections")]
    pub max_connections_per_endpoint: usize,
    /// How long a pushed key is accepted (the service uses 60 s).
    #[serde(default = "default_key_ttl")]
    pub key_ttl_secs: u64,
    /// The account's other enabled regions: their EC2 APIs answer, with nothing in them.
    #[serde(default)]
    pub empty_regions: Vec<String>,
    /// IAM roles that STS AssumeRole can hand out credentials for.
    #[serde(default)]
    pub roles: Vec<Role>,
    /// What IAM's policy simulator answers, per principal and action, where a test sets it;
    /// otherwise the principal's credentials decide (`deny` lists make `implicitDeny`).
    #[serde(default)]
    pub policies: Vec<Policy>,
}

/// The simulated outcome of a principal's IAM policies for some actions.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    /// The IAM user's or role's ARN (`arn:aws:iam::ACCT:user/NAME`, `…:role/PATH/NAME`).
    pub principal: String,
    /// Action (`ec2-instance-connect:OpenTunnel`) → `allowed`, `implicitDeny` or
    /// `explicitDeny`.
    pub decisions: std::collections::BTreeMap<String, String>,
}

/// An IAM role, as far as AssumeRole is concerned.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Role {
    /// `arn:aws:iam::ACCOUNT:role/NAME`.
    pub arn: String,
    /// The MFA device its trust policy requires, if any.
    #[serde(default)]
    pub mfa_serial: Option<String>,
    /// The code that device shows now.
    #[serde(default)]
    pub mfa_code: String,
}

fn default_max_connections() -> usize {
    20
}

fn default_key_ttl() -> u64 {
    60
}

/// An access key.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Credential {
    /// `AKIA…`/`ASIA…`.
    pub access_key: String,
    /// The secret.
    pub secret_key: String,
    /// Required session token for temporary credentials.
    #[serde(default)]
    pub session_token: Option<String>,
    /// Unix time after which the credentials are expired.
    #[serde(default)]
    pub expires_at: Option<i64>,
    /// IAM actions denied to this key, e.g. `ec2-instance-connect:OpenTunnel`.
    #[serde(default)]
    pub deny: Vec<String>,
    /// Principal ARN used in AccessDenied messages.
    #[serde(default = "default_principal")]
    pub principal: String,
}

fn default_principal() -> String {
    "arn:aws:iam::123456789012:user/developer".into()
}

/// An instance.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Instance {
    /// `i-…`.
    pub id: String,
    /// `running`, `stopped`, …
    pub state: String,
    /// VPC id.
    pub vpc_id: String,
    /// Subnet id.
    pub subnet_id: String,
    /// Availability zone.
    pub availability_zone: String,
    /// Private IPv4 (fictional; tunnels to it reach the emulator's sshd).
    pub private_ip: Option<String>,
    /// Primary IPv6.
    #[serde(default)]
    pub ipv6: Option<String>,
    /// `Name` tag.
    #[serde(default)]
    pub name: Option<String>,
    /// Other tags, for `tag:KEY` filters.
    #[serde(default)]
    pub tags: std::collections::BTreeMap<String, String>,
    /// Security group ids.
    #[serde(default)]
    pub security_groups: Vec<String>,
    /// Host keys printed in the console output; `None` prints the real sshd's key, an empty
    /// list prints none (as before first boot finishes).
    #[serde(default)]
    pub console_host_keys: Option<Vec<String>>,
}

/// An EC2 Instance Connect Endpoint.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Endpoint {
    /// `eice-…`.
    pub id: String,
    /// `create-complete`, …
    pub state: String,
    /// VPC id.
    pub vpc_id: String,
    /// Subnet id.
    pub subnet_id: String,
    /// Availability zone.
    pub availability_zone: String,
    /// Whether instances see the client's public IP.
    #[serde(default)]
    pub preserve_client_ip: bool,
    /// Security group ids of the endpoint's interface.
    #[serde(default)]
    pub security_groups: Vec<String>,
    /// Private IP of the endpoint's interface (what instances see without Preserve Client IP).
    pub eni_ip: String,
    /// Fault knob: the DnsName (and FipsDnsName) the EC2 API reports instead of the
    /// service's own form, as a forged answer would. `None`: the real form.
    #[serde(default)]
    pub forged_dns_name: Option<String>,
    /// `ipv4`, `dualstack` or `ipv6`: which clients reach it, and which of `PublicDnsNames`
    /// it has (an `ipv4` endpoint has no dual-stack name, an `ipv6` one no IPv4-only name).
    #[serde(default = "default_ip_address_type")]
    pub ip_address_type: String,
}

fn default_ip_address_type() -> String {
    "ipv4".into()
}

/// A security group.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecurityGroup {
    /// `sg-…`.
    pub id: String,
    /// Group name.
    #[serde(default)]
    pub name: String,
    /// VPC id.
    pub vpc_id: String,
    /// Inbound rules.
    #[serde(default)]
    pub inbound: Vec<Rule>,
    /// Outbound rules; `None` means the AWS default (all traffic allowed).
    #[serde(default)]
    pub outbound: Option<Vec<Rule>>,
}

/// One TCP rule.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    /// First port.
    pub from_port: u16,
    /// Last port.
    pub to_port: u16,
    /// IPv4/IPv6 CIDRs.
    #[serde(default)]
    pub cidrs: Vec<String>,
    /// Security groups whose members match.
    #[serde(default)]
    pub groups: Vec<String>,
}

/// The office network of [`World::demo_preserving`] (a documentation range).
pub const OFFICE: &str = "203.0.113.0/24";

/// The client's public address in the office.
pub const AT_THE_OFFICE: &str = "203.0.113.10";

impl World {
    /// The demo world: one VPC with an endpoint and a bastion, plus cases that fail.
    pub fn demo() -> World {
        let vpc = "vpc-0demo00000000000a";
        World {
            region: "us-east-1".into(),
            account: "123456789012".into(),
            credentials: vec![Credential {
                access_key: DEMO_ACCESS_KEY.into(),
                secret_key: DEMO_SECRET_KEY.into(),
                session_token: None,
                expires_at: None,
                deny: vec![],
                principal: default_principal(),
            }],
            instances: vec![
                Instance {
                    id: "i-0123456789abcdef0".into(),
                    state: "running".into(),
                    vpc_id: vpc.into(),
                    subnet_id: "subnet-0demo0000000000a".into(),
                    availability_zone: "us-east-1a".into(),
                    private_ip: Some("10.0.1.5".into()),
                    ipv6: None,
                    name: Some("bastion".into()),
                    tags: tags(&[("env", "prod"), ("team", "platform")]),
                    security_groups: vec!["sg-0instance000000001".into()],
                    console_host_keys: None,
                },
                Instance {
                    id: "i-0aaaaaaaaaaaaaaa1".into(),
                    state: "stopped".into(),
                    vpc_id: vpc.into(),
                    subnet_id: "subnet-0demo0000000000a".into(),
                    availability_zone: "us-east-1a".into(),
                    private_ip: Some("10.0.1.6".into()),
                    ipv6: None,
                    name: Some("stopped-box".into()),
                    tags: tags(&[("env", "dev")]),
                    security_groups: vec!["sg-0instance000000001".into()],
                    console_host_keys: None,
                },
                Instance {
                    id: "i-0bbbbbbbbbbbbbbb2".into(),
                    state: "running".into(),
                    vpc_id: "vpc-0noendpoint000000".into(),
                    subnet_id: "subnet-0noendpoint0000".into(),
                    availability_zone: "us-east-1b".into(),
                    private_ip: Some("10.9.0.7".into()),
                    ipv6: None,
                    name: Some("orphan".into()),
                    tags: tags(&[("env", "prod")]),
                    security_groups: vec![],
                    console_host_keys: None,
                },
            ],
            endpoints: vec![Endpoint {
                id: "eice-0123456789abcdef0".into(),
                state: "create-complete".into(),
                vpc_id: vpc.into(),
                subnet_id: "subnet-0demo0000000000a".into(),
                availability_zone: "us-east-1a".into(),
                preserve_client_ip: false,
                security_groups: vec!["sg-0endpoint000000001".into()],
                eni_ip: "10.0.1.100".into(),
                forged_dns_name: None,
                ip_address_type: default_ip_address_type(),
            }],
            security_groups: vec![
                SecurityGroup {
                    id: "sg-0instance000000001".into(),
                    name: "bastion".into(),
                    vpc_id: vpc.into(),
                    inbound: vec![Rule {
                        from_port: 22,
                        to_port: 22,
                        cidrs: vec![],
                        groups: vec!["sg-0endpoint000000001".into()],
                    }],
                    outbound: None,
                },
                SecurityGroup {
                    id: "sg-0endpoint000000001".into(),
                    name: "eice".into(),
                    vpc_id: vpc.into(),
                    inbound: vec![],
                    outbound: None,
                },
            ],
            client_public_ip: None,
            client_public_ipv6: None,
            max_connections_per_endpoint: default_max_connections(),
            key_ttl_secs: default_key_ttl(),
            empty_regions: vec!["eu-west-1".into()],
            roles: vec![Role {
                arn: "arn:aws:iam::123456789012:role/admin".into(),
                mfa_serial: Some("arn:aws:iam::123456789012:mfa/developer".into()),
                mfa_code: "123456".into(),
            }],
            policies: vec![],
        }
    }

    /// The demo world as the IP restriction is meant to be set up (docs/ip-restriction.md):
    /// the endpoint preserves the client IP, the bastion's group admits TCP 22 only from
    /// the office, [`OFFICE`], and the client is in the office, at [`AT_THE_OFFICE`].
    pub fn demo_preserving() -> World {
        let mut world = World::demo();
        world.endpoints[0].preserve_client_ip = true;
        world.security_groups[0].inbound = vec![Rule {
            from_port: 22,
            to_port: 22,
            cidrs: vec![OFFICE.into()],
            groups: vec![],
        }];
        world.client_public_ip = AT_THE_OFFICE.parse().ok();
        world
    }

    /// The demo world plus a fleet (`eic-sim --fleet N --endpoints M`): `n` running
    /// instances spread round-robin over `endpoints` VPCs, each VPC with its own endpoint
    /// (the first is the demo's) and an instance group admitting TCP 22 from it. Instance
    /// `k` (1-based) is `i-0f{vpc:02x}{k:013x}`, Name `{role}-{k:03}` with tags `Role` (web,
    /// db, cache in turn) and `Env` (prod, then staging every fourth), in zone a or b by
    /// parity, at `10.{10+vpc}.{k / 250}.{k % 250 + 1}`. They all reach the one sshd.
    pub fn fleet(n: usize, endpoints: usize) -> World {
        let mut world = World::demo();
        let endpoints = endpoints.max(1);
        let template = world.endpoints[0].clone();
        let mut vpcs = vec![(
            template.vpc_id.clone(),
            template.subnet_id.clone(),
            "sg-0instance000000001".to_string(),
        )];
        for v in 1..endpoints {
            let vpc = format!("vpc-0f{v:015x}");
            let subnet = format!("subnet-0f{v:015x}");
            let (instance_sg, endpoint_sg) = (format!("sg-0fa{v:014x}"), format!("sg-0fe{v:014x}"));
            world.endpoints.push(Endpoint {
                id: format!("eice-0f{v:015x}"),
                vpc_id: vpc.clone(),
                subnet_id: subnet.clone(),
                security_groups: vec![endpoint_sg.clone()],
                eni_ip: format!("10.{}.0.100", 10 + v),
                ..template.clone()
            });
            world.security_groups.push(SecurityGroup {
                id: instance_sg.clone(),
                name: format!("fleet-{v}"),
                vpc_id: vpc.clone(),
                inbound: vec![Rule {
                    from_port: 22,
                    to_port: 22,
                    cidrs: vec![],
                    groups: vec![endpoint_sg.clone()],
                }],
                outbound: None,
            });
            world.security_groups.push(SecurityGroup {
                id: endpoint_sg,
                name: format!("eice-{v}"),
                vpc_id: vpc.clone(),
                inbound: vec![],
                outbound: None,
            });
            vpcs.push((vpc, subnet, instance_sg));
        }
        for k in 1..=n {
            let v = (k - 1) % endpoints;
            let (vpc, subnet, sg) = &vpcs[v];
            let role = ["web", "db", "cache"][(k - 1) % 3];
            let env = if k % 4 == 0 { "staging" } else { "prod" };
            let zone = if k % 2 == 0 {
                "us-east-1b"
            } else {
                "us-east-1a"
            };
            world.instances.push(Instance {
                id: format!("i-0f{v:02x}{k:013x}"),
                state: "running".into(),
                vpc_id: vpc.clone(),
                subnet_id: subnet.clone(),
                availability_zone: zone.into(),
                private_ip: Some(format!("10.{}.{}.{}", 10 + v, k / 250, k % 250 + 1)),
                ipv6: None,
                name: Some(format!("{role}-{k:03}")),
                tags: tags(&[("Role", role), ("Env", env)]),
                security_groups: vec![sg.clone()],
                console_host_keys: None,
            });
        }
        world
    }

    /// A world from its JSON form (`--world`), if AWS would accept it (`World::check`).
    pub fn from_json(text: &str) -> Result<World, String> {
        let world: World = serde_json::from_str(text).map_err(|e| e.to_string())?;
        world.check()?;
        Ok(world)
    }

    /// Looks up an instance.
    pub fn instance(&self, id: &str) -> Option<&Instance> {
        self.instances.iter().find(|i| i.id == id)
    }

    /// Terminates an instance as EC2 does: it stays listed as `terminated` (for about an
    /// hour) with its network interface, addresses and security groups released, so its
    /// private IP is free for the next instance launched in the subnet.
    pub fn terminate(&mut self, id: &str) {
        if let Some(i) = self.instances.iter_mut().find(|i| i.id == id) {
            i.state = "terminated".into();
            i.private_ip = None;
            i.ipv6 = None;
            i.security_groups.clear();
        }
    }

    /// Looks up an endpoint.
    pub fn endpoint(&self, id: &str) -> Option<&Endpoint> {
        self.endpoints.iter().find(|e| e.id == id)
    }

    /// Looks up a security group.
    pub fn security_group(&self, id: &str) -> Option<&SecurityGroup> {
        self.security_groups.iter().find(|g| g.id == id)
    }

    /// Looks up credentials by access key.
    pub fn credential(&self, access_key: &str) -> Option<&Credential> {
        self.credentials.iter().find(|c| c.access_key == access_key)
    }

    /// The public IP the "internet" sees for a client connecting from `peer`.
    pub fn public_ip_for(&self, peer: IpAddr) -> IpAddr {
        match (peer, self.client_public_ipv6) {
            (IpAddr::V6(v6), Some(public)) if v6.to_ipv4_mapped().is_none() => public,
            _ => self.client_public_ip.unwrap_or(peer),
        }
    }

    /// Refuses what AWS would never let exist: Preserve Client IP on an endpoint that is
    /// not `ipv4` (CreateInstanceConnectEndpoint and ModifyInstanceConnectEndpoint refuse
    /// it), or an IpAddressType that is not one of the three.
    pub fn check(&self) -> Result<(), String> {
        for e in &self.endpoints {
            if !["ipv4", "dualstack", "ipv6"].contains(&e.ip_address_type.as_str()) {
                return Err(format!(
                    "endpoint {}: IpAddressType {:?} is not ipv4, dualstack or ipv6",
                    e.id, e.ip_address_type
                ));
            }
            if e.preserve_client_ip && e.ip_address_type != "ipv4" {
                return Err(format!(
                    "endpoint {}: PreserveClientIp is only supported on ipv4 endpoints, not {}",
                    e.id, e.ip_address_type
                ));
            }
        }
        Ok(())
    }

    /// DNS name of an endpoint, as DescribeInstanceConnectEndpoints reports it (`DnsName`):
    /// the IPv4-only name, or an `ipv6` endpoint's dual-stack name.
    pub fn dns_name(&self, endpoint_id: &str) -> String {
        self.legacy_name(endpoint_id, false)
    }

    /// FIPS DNS name of an endpoint (`FipsDnsName`).
    pub fn fips_dns_name(&self, endpoint_id: &str) -> String {
        self.legacy_name(endpoint_id, true)
    }

    fn legacy_name(&self, endpoint_id: &str, fips: bool) -> String {
        if let Some(forged) = self.forged_dns_name(endpoint_id) {
            return forged;
        }
        let dualstack = self
            .endpoint(endpoint_id)
            .is_some_and(|e| e.ip_address_type == "ipv6");
        self.service_name(endpoint_id, dualstack, fips)
    }

    /// `ID[.fips].ec2-instance-connect-endpoint.REGION.amazonaws.com`, or the dual-stack
    /// `….api.aws`.
    pub fn service_name(&self, endpoint_id: &str, dualstack: bool, fips: bool) -> String {
        let fips = if fips { ".fips" } else { "" };
        let domain = if dualstack {
            "api.aws"
        } else {
            "amazonaws.com"
        };
        format!(
            "{endpoint_id}{fips}.ec2-instance-connect-endpoint.{}.{domain}",
            self.region
        )
    }

    /// `PublicDnsNames`: the IPv4-only names (not on an `ipv6` endpoint) and the dual-stack
    /// names (not on an `ipv4` endpoint), each as (name, FIPS name).
    pub fn public_dns_names(&self, e: &Endpoint) -> PublicNames {
        let pair = |dualstack| {
            (
                self.service_name(&e.id, dualstack, false),
                self.service_name(&e.id, dualstack, true),
            )
        };
        PublicNames {
            ipv4: (e.ip_address_type != "ipv6").then(|| pair(false)),
            dualstack: (e.ip_address_type != "ipv4").then(|| pair(true)),
        }
    }

    /// The endpoint's forged DNS name, when a test set one.
    fn forged_dns_name(&self, endpoint_id: &str) -> Option<String> {
        self.endpoint(endpoint_id)?.forged_dns_name.clone()
    }
}

/// An endpoint's `PublicDnsNames`, each a (name, FIPS name) pair.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicNames {
    /// Reached over IPv4 only.
    pub ipv4: Option<(String, String)>,
    /// Reached over IPv4 and IPv6.
    pub dualstack: Option<(String, String)>,
}

/// Access key of the demo world.
pub const DEMO_ACCESS_KEY: &str = "AKIAEICSSHDEMO000001";
/// Secret of the demo world (not a real key).
pub const DEMO_SECRET_KEY: &str = "eicsshDemoSecretKey/NotReal/0000000000000";

/// A tag map from pairs.
fn tags(pairs: &[(&str, &str)]) -> std::collections::BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fleet_has_unique_instances_each_served_by_its_vpcs_endpoint() {
        let w = World::fleet(300, 3);
        w.check().unwrap();
        assert_eq!(w.endpoints.len(), 3);
        let fleet: Vec<&Instance> = w
            .instances
            .iter()
            .filter(|i| i.id.starts_with("i-0f"))
            .collect();
        assert_eq!(fleet.len(), 300);
        let unique = |f: &dyn Fn(&Instance) -> String| {
            let mut seen = std::collections::HashSet::new();
            fleet.iter().all(|i| seen.insert(f(i)))
        };
        assert!(unique(&|i| i.id.clone()));
        assert!(unique(&|i| i.name.clone().unwrap()));
        assert!(unique(&|i| format!(
            "{} {}",
            i.vpc_id,
            i.private_ip.clone().unwrap()
        )));
        for i in &fleet {
            assert_eq!(i.id.len(), "i-0123456789abcdef0".len(), "{}", i.id);
            let e = w.endpoints.iter().find(|e| e.vpc_id == i.vpc_id).unwrap();
            let sg = w.security_group(&i.security_groups[0]).unwrap();
            assert_eq!(sg.inbound[0].groups, e.security_groups, "{}", i.id);
            assert!(["web", "db", "cache"].contains(&i.tags["Role"].as_str()));
        }
        let per_endpoint = |n: usize| {
            fleet
                .iter()
                .filter(|i| i.vpc_id == w.endpoints[n].vpc_id)
                .count()
        };
        assert_eq!(
            (per_endpoint(0), per_endpoint(1), per_endpoint(2)),
            (100, 100, 100)
        );
    }
}
