//! The settings for one target, merged once: flags > environment > host section > defaults.

use std::fmt::Write as _;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use ipnet::IpNet;

use crate::config::file::{ConfigFile, ForwardKind, Host, check_url};
use crate::error::Failure;
use crate::target::{self, InstanceRef};

/// The egress check used when nothing else is configured.
pub const DEFAULT_CHECK_URL: &str = "https://checkip.amazonaws.com";

/// What the command line says; it wins over everything.
#[derive(Debug, Default, Clone)]
pub struct Flags {
    /// `--profile`.
    pub profile: Option<String>,
    /// `--region`.
    pub region: Option<String>,
    /// `user@`, else `--user`.
    pub user: Option<String>,
    /// `--endpoint-id`.
    pub endpoint_id: Option<String>,
    /// `--endpoint-dns-name`.
    pub endpoint_dns_name: Option<String>,
    /// `--private-ip`.
    pub private_ip: Option<IpAddr>,
    /// `--max-tunnel-duration`.
    pub max_tunnel_duration: Option<u32>,
    /// The instance port the command was given (`-p`, `--remote-port`, ssh's `%p`).
    pub port: Option<u16>,
    /// `--host-key-alias`.
    pub host_key_alias: Option<String>,
    /// `--known-hosts` (or `EIC_SSH_KNOWN_HOSTS`).
    pub known_hosts: Option<PathBuf>,
    /// `--tunnel-endpoint-url` (or `EIC_SSH_TUNNEL_ENDPOINT_URL`).
    pub tunnel_endpoint_url: Option<String>,
    /// `--no-cache`.
    pub no_cache: bool,
    /// `--quota-wait`, in seconds.
    pub quota_wait: Option<u64>,
}

/// Everything decided for one target.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The target as typed.
    pub target: String,
    /// The `[hosts.X]` section it matched, if any.
    pub alias: Option<String>,
    /// The instance to reach.
    pub instance: InstanceRef,
    /// OS user.
    pub user: Option<String>,
    /// AWS profile; `None` leaves it to `AWS_PROFILE` or the default.
    pub profile: Option<String>,
    /// AWS region; `None` leaves it to `AWS_REGION` or the profile.
    pub region: Option<String>,
    /// Endpoint to use instead of discovery.
    pub endpoint_id: Option<String>,
    /// Egress allowlist; empty means no check.
    pub allow: Vec<IpNet>,
    /// Which section the allowlist came from (`hosts.X` or `defaults`).
    pub allow_source: Option<String>,
    /// Add the security group's admitted ranges to the allowlist.
    pub allow_from_security_group: bool,
    /// The allowlists of other `[hosts.X]` sections that name the same instance, with the
    /// section: each must admit the IP too, so the strictest applies however the instance
    /// is typed.
    pub also_allow: Vec<(String, Vec<IpNet>)>,
    /// `egress_check = false` applies: the check is off by the user's explicit choice.
    pub opted_out: bool,
    /// Egress check URLs; they must agree.
    pub egress_urls: Vec<String>,
    /// The config file read, if any.
    pub config_path: Option<PathBuf>,
    /// The endpoint's DNS name: the flag, else the section's.
    pub endpoint_dns_name: Option<String>,
    /// The instance's private IP: the flag, else the section's.
    pub private_ip: Option<IpAddr>,
    /// Seconds after which the endpoint ends each tunnel: the flag, else the section's.
    pub max_tunnel_duration: Option<u32>,
    /// The instance port: the command's, else the section's, else 22.
    pub port: u16,
    /// The name host keys are recorded under: the flag, else the section's.
    pub host_key_alias: Option<String>,
    /// The known_hosts file: the flag, else the section's.
    pub known_hosts: Option<PathBuf>,
    /// Where tunnels open instead of `wss://{endpoint DNS name}` (flag or environment).
    pub tunnel_endpoint_url: Option<String>,
    /// What the waits for the endpoint's 20-connection quota may add up to: the flag, else
    /// the section's, else `[defaults]`', else half a minute; zero: no waiting.
    pub quota_wait: Duration,
    /// The matched `[hosts.X]` section as written (for `config check` and its forwards).
    pub section: Option<Host>,
    /// The route cache may answer (no `--no-cache`, no `cache = false`).
    pub cache: bool,
}

impl Settings {
    /// How messages name the target: the alias, else what was typed.
    pub fn label(&self) -> &str {
        self.alias.as_deref().unwrap_or(&self.target)
    }

    /// Where to fix the allowlist, for messages.
    pub fn config_hint(&self) -> String {
        match &self.config_path {
            Some(p) => shorten_home(p),
            None => crate::local::paths::CONFIG_SHOWN.into(),
        }
    }

    /// Whether the egress guard applies: a static allowlist, or one from the security group.
    pub fn has_allowlist(&self) -> bool {
        !self.allow.is_empty() || self.allow_from_security_group || !self.also_allow.is_empty()
    }

    /// Adds the allowlists of the sections (other than this target's own) that name
    /// `instance`; returns how many were new. Called again once a Name tag is resolved to
    /// an id.
    pub fn bind(&mut self, config: &ConfigFile, instance: &InstanceRef) -> usize {
        let mut bound: std::collections::HashSet<String> =
            self.also_allow.iter().map(|(s, _)| s.clone()).collect();
        let before = self.also_allow.len();
        for (alias, host) in &config.hosts {
            let names_it = match instance {
                InstanceRef::Id(id) => host.instance.as_ref().is_some_and(|i| &i.0 == id),
                InstanceRef::Name(n) => host.name.as_deref() == Some(n.as_str()),
            };
            let Some(list) = host.allow.as_ref().filter(|_| names_it) else {
                continue;
            };
            let source = format!("hosts.{alias}");
            if self.alias.as_deref() == Some(alias.as_str()) || !bound.insert(source.clone()) {
                continue;
            }
            self.also_allow
                .push((source, list.iter().map(|c| c.0).collect()));
        }
        self.also_allow.len() - before
    }

    /// Binds the sections naming a described instance: by its id, and by its Name tag
    /// unless that reads as an id (such a Name never stands for an instance). Returns how
    /// many were new.
    pub fn bind_instance(&mut self, config: &ConfigFile, id: &str, name: Option<&str>) -> usize {
        let mut added = self.bind(config, &InstanceRef::Id(id.to_string()));
        if let Some(name) = name.filter(|n| !target::looks_like_instance_id(n)) {
            added += self.bind(config, &InstanceRef::Name(name.to_string()));
        }
        added
    }

    /// Allowlist entries that admit every address, for a warning.
    pub fn wide_entries(&self) -> Vec<IpNet> {
        self.allow
            .iter()
            .chain(self.also_allow.iter().flat_map(|(_, l)| l))
            .filter(|n| n.prefix_len() == 0)
            .copied()
            .collect()
    }

    /// The allowlist as `a, b, c`.
    pub fn allow_list(&self) -> String {
        self.allow
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// The settings as JSON, for `config check --json` (schema in docs/commands.md).
    pub fn to_json(&self) -> serde_json::Value {
        let nets = |l: &[IpNet]| l.iter().map(ToString::to_string).collect::<Vec<_>>();
        let (id, name) = match &self.instance {
            InstanceRef::Id(id) => (Some(id.as_str()), None),
            InstanceRef::Name(n) => (None, Some(n.as_str())),
        };
        serde_json::json!({
            "target": self.target,
            "section": self.alias.as_ref().map(|a| format!("hosts.{a}")),
            "instance_id": id,
            "name_tag": name,
            "user": self.user,
            "profile": self.profile,
            "region": self.region,
            "endpoint_id": self.endpoint_id,
            "egress_check": !self.opted_out,
            "allow": nets(&self.allow),
            "allow_source": self.allow_source,
            "also_allow": self.also_allow.iter().map(|(section, list)| serde_json::json!({
                "section": section,
                "allow": nets(list),
            })).collect::<Vec<_>>(),
            "allow_from_security_group": self.allow_from_security_group,
            "egress_check_urls": self.egress_urls,
            "admits_every_address": nets(&self.wide_entries()),
            "port": self.section.as_ref().and_then(|h| h.port).map(|p| p.0),
            "private_ip": self.section.as_ref().and_then(|h| h.private_ip),
            "endpoint_dns_name": self.section.as_ref().and_then(|h| h.endpoint_dns_name.as_ref()).map(|d| d.0.clone()),
            "max_tunnel_duration": self.section.as_ref().and_then(|h| h.max_tunnel_duration).map(|d| d.0),
            "host_key_alias": self.section.as_ref().and_then(|h| h.host_key_alias.clone()),
            "known_hosts": self.section.as_ref().and_then(|h| h.known_hosts.clone()),
            "forward": self.forward_specs(),
            "quota_wait": self.quota_wait.as_secs(),
        })
    }

    /// The section's forwards of one kind, as specs (the command line's come first).
    pub fn forwards(&self, kind: ForwardKind) -> Vec<String> {
        let entries = self.section.as_ref().and_then(|h| h.forward.as_ref());
        entries
            .into_iter()
            .flatten()
            .filter(|f| f.kind == kind)
            .map(|f| f.spec.clone())
            .collect()
    }

    /// The section's forwards as typed (`-L …`).
    fn forward_specs(&self) -> Vec<String> {
        let entries = self.section.as_ref().and_then(|h| h.forward.as_ref());
        entries
            .into_iter()
            .flatten()
            .map(|f| format!("{} {}", f.kind.flag(), f.spec))
            .collect()
    }

    /// A human summary, one setting a line (for `eic-ssh config check`).
    pub fn describe(&self) -> String {
        let or = |v: &Option<String>, d: &str| v.clone().unwrap_or_else(|| d.to_string());
        let mut out = String::new();
        let _ = writeln!(out, "target:          {}", self.target);
        let _ = writeln!(
            out,
            "host section:    {}",
            or(&self.alias.as_ref().map(|a| format!("[hosts.{a}]")), "none")
        );
        let _ = writeln!(out, "instance:        {}", self.instance);
        let _ = writeln!(
            out,
            "user:            {}",
            or(&self.user, "(from ssh or --user)")
        );
        let _ = writeln!(
            out,
            "profile:         {}",
            or(&self.profile, "(AWS_PROFILE or default)")
        );
        let _ = writeln!(
            out,
            "region:          {}",
            or(&self.region, "(AWS_REGION or the profile's)")
        );
        let _ = writeln!(
            out,
            "endpoint:        {}",
            or(&self.endpoint_id, "(discovered in the instance's VPC)")
        );
        let allow = if self.opted_out {
            "none: egress_check = false (the check is off by choice)".to_string()
        } else if self.allow.is_empty() {
            "none: no egress check".to_string()
        } else {
            format!(
                "{} (from {})",
                self.allow_list(),
                or(&self.allow_source, "?")
            )
        };
        let _ = writeln!(out, "allow:           {allow}");
        for (source, list) in &self.also_allow {
            let list: Vec<String> = list.iter().map(ToString::to_string).collect();
            let _ = writeln!(
                out,
                "also allow:      {} (from [{source}], which names the same instance; an IP must be in every list)",
                list.join(", ")
            );
        }
        for net in self.wide_entries() {
            let _ = writeln!(
                out,
                "warning:         {net} admits every address: the egress check allows any network"
            );
        }
        let _ = writeln!(
            out,
            "allow from SG:   {}",
            if self.allow_from_security_group {
                "yes"
            } else {
                "no"
            }
        );
        let _ = writeln!(out, "egress check:    {}", self.egress_urls.join(", "));
        let _ = writeln!(
            out,
            "quota wait:      {}",
            match self.quota_wait.as_secs() {
                0 => "none: a full endpoint (20 connections) is the answer at once".to_string(),
                secs =>
                    format!("up to {secs} s in all when the endpoint's 20 connections are in use"),
            }
        );
        if let Some(h) = &self.section {
            let extras = [
                ("port", h.port.map(|p| p.0.to_string())),
                ("private IP", h.private_ip.map(|ip| ip.to_string())),
                (
                    "endpoint DNS",
                    h.endpoint_dns_name.as_ref().map(|d| d.0.clone()),
                ),
                (
                    "max duration",
                    h.max_tunnel_duration.map(|d| format!("{} s", d.0)),
                ),
                ("host key alias", h.host_key_alias.clone()),
                (
                    "known_hosts",
                    h.known_hosts.as_ref().map(|p| p.display().to_string()),
                ),
            ];
            for (what, value) in extras {
                if let Some(value) = value {
                    let _ = writeln!(out, "{:<17}{value}", format!("{what}:"));
                }
            }
            for spec in self.forward_specs() {
                let _ = writeln!(out, "forward:         {spec}");
            }
        }
        out
    }
}

/// Merges flags, environment and the file for `target` (its section looked up once), with
/// every section naming the same instance bound.
pub fn for_target(
    config: &ConfigFile,
    path: Option<&Path>,
    target_text: &str,
    o: &Flags,
) -> Result<Settings, Failure> {
    let host = config.hosts.get(target_text);
    let instance = target::instance_ref(target_text, host)?;
    let mut eff = merge(config, path, target_text, host, instance, o)?;
    let instance = eff.instance.clone();
    eff.bind(config, &instance);
    Ok(eff)
}

/// The `[defaults]` alone, for commands that may run without a target (`eic-ssh egress`).
/// Its `instance` is an empty name: it must not be used to connect.
pub fn defaults(config: &ConfigFile, path: Option<&Path>) -> Result<Settings, Failure> {
    let instance = InstanceRef::Name(String::new());
    merge(
        config,
        path,
        "the defaults",
        None,
        instance,
        &Flags::default(),
    )
}

fn merge(
    config: &ConfigFile,
    path: Option<&Path>,
    target_text: &str,
    host: Option<&Host>,
    instance: InstanceRef,
    o: &Flags,
) -> Result<Settings, Failure> {
    let d = &config.defaults;
    let env_set = |names: &[&str]| {
        names
            .iter()
            .any(|n| std::env::var_os(n).is_some_and(|v| !v.is_empty()))
    };
    let pick = |flag: &Option<String>,
                env: &[&str],
                host_v: Option<&Option<String>>,
                default: &Option<String>| {
        if flag.is_some() {
            return flag.clone();
        }
        if env_set(env) {
            return None;
        }
        host_v.and_then(Clone::clone).or_else(|| default.clone())
    };
    let region = pick(
        &o.region,
        &["AWS_REGION", "AWS_DEFAULT_REGION"],
        host.map(|h| &h.region),
        &d.region,
    );
    let profile = pick(
        &o.profile,
        &["AWS_PROFILE"],
        host.map(|h| &h.profile),
        &d.profile,
    );
    let user = o
        .user
        .clone()
        .or_else(|| host.and_then(|h| h.user.clone()))
        .or_else(|| d.user.clone());
    if let Some(id) = &o.endpoint_id {
        crate::config::file::EndpointId::try_from(id.clone())
            .map_err(|e| Failure::usage(format!("--endpoint-id: {e}")))?;
    }
    let endpoint_id = o
        .endpoint_id
        .clone()
        .or_else(|| host.and_then(|h| h.endpoint.as_ref().map(|e| e.0.clone())));
    let opted_out = host
        .and_then(|h| h.egress_check)
        .or(d.egress_check)
        .is_some_and(|on| !on);
    let (allow, allow_source) = match (host.and_then(|h| h.allow.as_ref()), &d.allow) {
        _ if opted_out => (Vec::new(), None),
        (Some(list), _) => (list.clone(), Some(format!("hosts.{target_text}"))),
        (None, Some(list)) => (list.clone(), Some("defaults".to_string())),
        (None, None) => (Vec::new(), None),
    };
    let allow_from_security_group = !opted_out
        && host
            .and_then(|h| h.allow_from_security_group)
            .or(d.allow_from_security_group)
            .unwrap_or(false);
    let egress_urls = match std::env::var("EIC_SSH_EGRESS_CHECK_URL")
        .ok()
        .filter(|v| !v.trim().is_empty())
    {
        Some(list) => {
            let urls: Vec<String> = list
                .split([',', ' '])
                .filter(|u| !u.is_empty())
                .map(str::to_string)
                .collect();
            for u in &urls {
                check_url(u)
                    .map_err(|e| Failure::usage(format!("EIC_SSH_EGRESS_CHECK_URL: {e}")))?;
            }
            urls
        }
        None => host
            .and_then(|h| h.egress_check_url.as_ref())
            .or(d.egress_check_url.as_ref())
            .map(|us| us.iter().map(|u| u.0.clone()).collect())
            .unwrap_or_else(|| vec![DEFAULT_CHECK_URL.to_string()]),
    };
    if o.endpoint_dns_name
        .as_deref()
        .is_some_and(|d| d.trim().is_empty())
    {
        return Err(Failure::usage(
            "--endpoint-dns-name is empty: give the endpoint's DNS name (eice-….ec2-instance-connect-endpoint.REGION.amazonaws.com) or leave the flag out to look it up",
        ));
    }
    let section = |f: fn(&Host) -> Option<String>| host.and_then(f);
    Ok(Settings {
        endpoint_dns_name: o
            .endpoint_dns_name
            .clone()
            .or_else(|| section(|h| h.endpoint_dns_name.as_ref().map(|d| d.0.clone()))),
        private_ip: o.private_ip.or_else(|| host.and_then(|h| h.private_ip)),
        max_tunnel_duration: o
            .max_tunnel_duration
            .or_else(|| host.and_then(|h| h.max_tunnel_duration).map(|d| d.0)),
        port: o
            .port
            .or_else(|| host.and_then(|h| h.port).map(|p| p.0))
            .unwrap_or(22),
        host_key_alias: o
            .host_key_alias
            .clone()
            .or_else(|| section(|h| h.host_key_alias.clone())),
        known_hosts: o
            .known_hosts
            .clone()
            .or_else(|| host.and_then(|h| h.known_hosts.clone())),
        tunnel_endpoint_url: o.tunnel_endpoint_url.clone(),
        cache: !o.no_cache && config.defaults.cache != Some(false),
        quota_wait: o
            .quota_wait
            .or_else(|| host.and_then(|h| h.quota_wait).map(|q| q.0))
            .or(d.quota_wait.map(|q| q.0))
            .map_or(super::quota::DEFAULT_BOUND, Duration::from_secs),
        target: target_text.to_string(),
        alias: host.map(|_| target_text.to_string()),
        instance,
        user,
        profile,
        region,
        endpoint_id,
        allow: allow.into_iter().map(|c| c.0).collect(),
        allow_source,
        allow_from_security_group,
        also_allow: Vec::new(),
        opted_out,
        egress_urls,
        config_path: path.map(Path::to_path_buf),
        section: host.cloned(),
    })
}

fn shorten_home(path: &Path) -> String {
    match crate::local::paths::home() {
        Some(home) if path.starts_with(&home) && home != Path::new("/") => {
            format!("~/{}", path.strip_prefix(&home).unwrap_or(path).display())
        }
        _ => path.display().to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::file::parse;

    fn config() -> ConfigFile {
        parse(
            r#"
[defaults]
user = "ec2-user"
allow = ["203.0.113.0/24"]
[hosts.bastion]
instance = "i-0123456789abcdef0"
user = "ubuntu"
allow = ["198.51.100.0/24"]
[hosts.web]
name = "web-1"
"#,
            Path::new("c.toml"),
        )
        .unwrap()
    }

    #[test]
    fn host_sections_replace_defaults_and_flags_win() {
        let c = config();
        let e = for_target(&c, None, "bastion", &Flags::default()).unwrap();
        assert_eq!(e.instance, InstanceRef::Id("i-0123456789abcdef0".into()));
        assert_eq!(e.user.as_deref(), Some("ubuntu"));
        assert_eq!(e.allow_list(), "198.51.100.0/24");
        assert_eq!(e.allow_source.as_deref(), Some("hosts.bastion"));
        let o = Flags {
            user: Some("admin".into()),
            ..Flags::default()
        };
        assert_eq!(
            for_target(&c, None, "bastion", &o).unwrap().user.as_deref(),
            Some("admin")
        );
        let web = for_target(&c, None, "web", &Flags::default()).unwrap();
        assert_eq!(web.instance, InstanceRef::Name("web-1".into()));
        assert_eq!(web.allow_list(), "203.0.113.0/24");
        assert_eq!(web.user.as_deref(), Some("ec2-user"));
    }

    #[test]
    fn unknown_targets_are_ids_or_names() {
        let c = ConfigFile::default();
        let id = for_target(&c, None, "i-0123456789abcdef0", &Flags::default()).unwrap();
        assert_eq!(id.instance, InstanceRef::Id("i-0123456789abcdef0".into()));
        assert!(id.allow.is_empty());
        assert_eq!(id.egress_urls, [DEFAULT_CHECK_URL]);
        let name = for_target(&c, None, "db-primary", &Flags::default()).unwrap();
        assert_eq!(name.instance, InstanceRef::Name("db-primary".into()));
        assert!(for_target(&c, None, "i-123", &Flags::default()).is_err());
    }

    #[test]
    fn the_allowlist_binds_to_the_instance_however_it_is_typed() {
        let c = parse(
            r#"
[hosts.bastion]
instance = "i-0123456789abcdef0"
allow = ["198.51.100.0/24"]
[hosts.strict]
instance = "i-0123456789abcdef0"
allow = ["198.51.100.7/32"]
[hosts.open]
instance = "i-0123456789abcdef0"
egress_check = false
[hosts.web]
name = "web-1"
allow = ["192.0.2.0/24"]
"#,
            Path::new("c.toml"),
        )
        .unwrap();
        let by_id = for_target(&c, None, "i-0123456789abcdef0", &Flags::default()).unwrap();
        assert!(by_id.allow.is_empty() && by_id.has_allowlist());
        let sources: Vec<&str> = by_id.also_allow.iter().map(|(s, _)| s.as_str()).collect();
        assert_eq!(sources, ["hosts.bastion", "hosts.strict"]);
        // The opted-out alias still gets the other sections' lists.
        let open = for_target(&c, None, "open", &Flags::default()).unwrap();
        assert!(open.opted_out && open.allow.is_empty());
        assert_eq!(open.also_allow.len(), 2);
        let bastion = for_target(&c, None, "bastion", &Flags::default()).unwrap();
        assert_eq!(bastion.also_allow.len(), 1);
        assert_eq!(bastion.also_allow[0].0, "hosts.strict");
        // A Name tag binds the section that names it; once resolved, its id binds more.
        let mut by_name = for_target(&c, None, "web-1", &Flags::default()).unwrap();
        assert_eq!(by_name.also_allow.len(), 1);
        let id = InstanceRef::Id("i-0123456789abcdef0".into());
        assert_eq!(by_name.bind(&c, &id), 2);
        assert_eq!(by_name.bind(&c, &id), 0);
    }

    #[test]
    fn an_empty_allowlist_is_an_error_and_wide_ones_are_flagged() {
        let e = parse(
            "[hosts.x]\ninstance = \"i-0123456789abcdef0\"\nallow = []\n",
            Path::new("c.toml"),
        )
        .unwrap_err();
        assert!(e.message.starts_with("c.toml:3:"), "{e}");
        assert!(e.message.contains("egress_check = false"), "{e}");
        let c = parse("[defaults]\nallow = [\"0.0.0.0/0\"]\n", Path::new("c.toml")).unwrap();
        let eff = for_target(&c, None, "i-0123456789abcdef0", &Flags::default()).unwrap();
        assert!(eff.describe().contains("0.0.0.0/0 admits every address"));
    }
}
