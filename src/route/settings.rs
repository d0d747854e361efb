//! The settings for one target, merged once, each with where it came from: flag > host
//! section > environment > `[defaults]` > AWS profile > built-in.

use std::fmt::Write as _;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use ipnet::IpNet;

use super::origin::{self, Origin, Origins, Overridden};
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

impl Flags {
    /// Only `--profile` and `--region` (the global flags), for commands that take no
    /// connection flags.
    pub fn aws(profile: Option<String>, region: Option<String>) -> Flags {
        Flags {
            profile,
            region,
            ..Flags::default()
        }
    }
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
    /// AWS profile from the flag, the section or `[defaults]`, passed to the AWS layer so
    /// that `AWS_PROFILE` cannot override it; `None` leaves it to `AWS_PROFILE` (which
    /// beats `[defaults]`) or the default.
    pub profile: Option<String>,
    /// AWS region, the same way: `None` leaves it to `AWS_REGION`/`AWS_DEFAULT_REGION` or
    /// the profile's.
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
    /// Attempts are written to the local connection log (no `log = false`).
    pub log: bool,
    /// How long opening a tunnel may take (TCP, proxy, TLS, upgrade): `connect_timeout`,
    /// else `net::timeouts::CONNECT`.
    pub connect_timeout: Duration,
    /// Where each setting with a value came from (`config check`). A region or profile
    /// from the environment is recorded here but left out of `region`/`profile`.
    pub origins: Origins,
    /// AWS_REGION/AWS_PROFILE values that this target's section overrode (`-v` says so).
    pub overridden: Vec<Overridden>,
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

    /// The region or profile in effect: the settings' own, else what the environment or
    /// the AWS profile holds (when known).
    pub fn aws_value(&self, key: &str) -> Option<String> {
        let own = match key {
            "region" => &self.region,
            "profile" => &self.profile,
            _ => &None,
        };
        own.clone().or_else(|| {
            self.origins
                .get(key)
                .and_then(Origin::held)
                .map(str::to_string)
        })
    }

    /// The settings as JSON, for `config check --json` (schema in docs/commands.md).
    pub fn to_json(&self) -> serde_json::Value {
        let nets = |l: &[IpNet]| l.iter().map(ToString::to_string).collect::<Vec<_>>();
        let (id, name) = match &self.instance {
            InstanceRef::Id(id) => (Some(id.as_str()), None),
            InstanceRef::Name(n) => (None, Some(n.as_str())),
        };
        let origins: serde_json::Map<String, serde_json::Value> = self
            .origins
            .iter()
            .map(|(key, origin)| (key.to_string(), origin.to_string().into()))
            .collect();
        serde_json::json!({
            "target": self.target,
            "section": self.alias.as_ref().map(|a| format!("hosts.{a}")),
            "instance_id": id,
            "name_tag": name,
            "user": self.user,
            "profile": self.aws_value("profile"),
            "region": self.aws_value("region"),
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
            "port": self.port,
            "private_ip": self.private_ip,
            "endpoint_dns_name": self.endpoint_dns_name,
            "max_tunnel_duration": self.max_tunnel_duration,
            "host_key_alias": self.host_key_alias,
            "known_hosts": self.known_hosts,
            "forward": self.forward_specs(),
            "quota_wait": self.quota_wait.as_secs(),
            "connect_timeout": self.connect_timeout.as_secs(),
            "tunnel_endpoint_url": self.tunnel_endpoint_url,
            "cache": self.cache,
            "log": self.log,
            "origins": origins,
            "overridden": self.overridden.iter().map(ToString::to_string).collect::<Vec<_>>(),
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

    /// A human summary, one setting a line with where it came from, like `git config
    /// --show-origin` (for `eic-ssh config check`).
    pub fn describe(&self) -> String {
        let mut out = String::new();
        let mut line = |what: &str, value: &str, key: Option<&str>| {
            let from = key.and_then(|k| self.origins.get(k));
            let mut text = format!("{:<17}{value}", format!("{what}:"));
            if let Some(from) = from {
                let _ = write!(text, " ({from}");
                for o in self.overridden.iter().filter(|o| Some(o.key) == key) {
                    let _ = write!(
                        text,
                        "; {}={} ignored",
                        o.var,
                        crate::printable::escape(&o.ignored)
                    );
                }
                text.push(')');
            }
            let _ = writeln!(out, "{text}");
        };
        line("target", &self.target, None);
        let section = self.alias.as_ref().map(|a| format!("[hosts.{a}]"));
        line("host section", section.as_deref().unwrap_or("none"), None);
        let instance = self.instance.to_string();
        match &self.alias {
            Some(alias) => line(
                "instance",
                &format!("{instance} (config [hosts.{alias}])"),
                None,
            ),
            None => line("instance", &format!("{instance} (the target)"), None),
        }
        line(
            "user",
            self.user
                .as_deref()
                .unwrap_or("none: write user@TARGET or pass -l USER (`proxy` takes ssh's %r)"),
            Some("user"),
        );
        let profile = self.aws_value("profile");
        let profile = profile.as_deref().map(crate::printable::escape);
        line(
            "profile",
            profile.as_deref().unwrap_or("default"),
            Some("profile"),
        );
        let region = self.aws_value("region");
        let region = region.as_deref().map(crate::printable::escape);
        line(
            "region",
            region.as_deref().unwrap_or(
                "none: pass --region, set `region` in the config or the AWS profile, or set AWS_REGION",
            ),
            Some("region"),
        );
        line(
            "endpoint",
            self.endpoint_id
                .as_deref()
                .unwrap_or("none: discovered in the instance's VPC"),
            Some("endpoint"),
        );
        let allow = if self.opted_out {
            "none: egress_check = false (the check is off by choice)".to_string()
        } else if self.allow.is_empty() {
            "none: no egress check".to_string()
        } else {
            self.allow_list()
        };
        let allow_key = if self.opted_out {
            "egress_check"
        } else {
            "allow"
        };
        line("allow", &allow, Some(allow_key));
        for (source, list) in &self.also_allow {
            let list: Vec<String> = list.iter().map(ToString::to_string).collect();
            line(
                "also allow",
                &format!(
                    "{} (from [{source}], which names the same instance; an IP must be in every list)",
                    list.join(", ")
                ),
                None,
            );
        }
        for net in self.wide_entries() {
            line(
                "warning",
                &format!("{net} admits every address: the egress check allows any network"),
                None,
            );
        }
        line(
            "allow from SG",
            if self.allow_from_security_group {
                "yes"
            } else {
                "no"
            },
            Some("allow_from_security_group"),
        );
        line(
            "egress check",
            &self.egress_urls.join(", "),
            Some("egress_check_url"),
        );
        let wait = match self.quota_wait.as_secs() {
            0 => "none: a full endpoint (20 connections) is the answer at once".to_string(),
            secs => format!("up to {secs} s in all when the endpoint's 20 connections are in use"),
        };
        line("quota wait", &wait, Some("quota_wait"));
        line(
            "route cache",
            if self.cache {
                "on: routes kept 10 minutes"
            } else {
                "off"
            },
            Some("cache"),
        );
        line(
            "connect timeout",
            &format!("{} s to open a tunnel", self.connect_timeout.as_secs()),
            Some("connect_timeout"),
        );
        line(
            "connection log",
            if self.log { "on" } else { "off" },
            Some("log"),
        );
        let extras = [
            ("port", Some(self.port.to_string()), "port", ""),
            (
                "private IP",
                self.private_ip.map(|ip| ip.to_string()),
                "private_ip",
                "none: looked up with DescribeInstances",
            ),
            (
                "endpoint DNS",
                self.endpoint_dns_name.clone(),
                "endpoint_dns_name",
                "none: looked up with DescribeInstanceConnectEndpoints",
            ),
            (
                "max duration",
                self.max_tunnel_duration.map(|d| format!("{d} s")),
                "max_tunnel_duration",
                "3600 s, the endpoint's limit",
            ),
            (
                "host key alias",
                self.host_key_alias.clone(),
                "host_key_alias",
                "none: the instance id",
            ),
            (
                "known_hosts",
                self.known_hosts.as_ref().map(|p| p.display().to_string()),
                "known_hosts",
                "~/.ssh/known_hosts",
            ),
            (
                "tunnel URL",
                self.tunnel_endpoint_url.clone(),
                "tunnel_endpoint_url",
                "none: wss:// and the endpoint's DNS name",
            ),
        ];
        for (what, value, key, unset) in extras {
            line(what, value.as_deref().unwrap_or(unset), Some(key));
        }
        if self.forward_specs().is_empty() {
            line("forward", "none", Some("forward"));
        }
        for spec in self.forward_specs() {
            line("forward", &spec, Some("forward"));
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
    let instance = target::instance_ref(target_text, host.map(|h| h.section()))?;
    let mut eff = merge(config, path, target_text, host, instance, o)?;
    let instance = eff.instance.clone();
    eff.bind(config, &instance);
    Ok(eff)
}

/// Whether attempts are logged: the `log` of [`Settings`], for an attempt that has none
/// because the merge refused its flags (`log` is only ever set in `[defaults]`).
pub fn log_on(config: &ConfigFile) -> bool {
    config.defaults.log != Some(false)
}

/// The `[defaults]` alone, for commands that may run without a target (`eic-ssh egress`).
/// Its `instance` is an empty name: it must not be used to connect.
pub fn defaults(config: &ConfigFile, path: Option<&Path>) -> Result<Settings, Failure> {
    defaults_for(config, path, &Flags::default())
}

/// [`defaults`] under the command's flags: what `list`, `audit` and a fleet run without
/// one target hand the AWS layer (`AwsChoices::from`).
pub fn defaults_for(
    config: &ConfigFile,
    path: Option<&Path>,
    flags: &Flags,
) -> Result<Settings, Failure> {
    let instance = InstanceRef::Name(String::new());
    merge(config, path, "the defaults", None, instance, flags)
}

/// The layers one target's settings come from, and where each value was found.
struct Layers {
    /// The section's origin (`config [hosts.X]`).
    here: Origin,
    /// Where each value came from.
    origins: Origins,
}

impl Layers {
    /// The first of the flag (or what stands for it, with its origin), the section's value,
    /// `[defaults]`' and the built-in, with its origin kept under `key` (`default` when none
    /// holds one: the setting is unset).
    fn pick<T>(
        &mut self,
        key: &'static str,
        flag: (Option<T>, Origin),
        section: Option<T>,
        defaults: Option<T>,
        builtin: Option<T>,
    ) -> Option<T> {
        let picked = self.origins.pick(
            key,
            [
                flag,
                (section, self.here.clone()),
                (defaults, Origin::Defaults),
                (builtin, Origin::Default),
            ],
        );
        if picked.is_none() {
            self.origins.insert(key, Origin::Default);
        }
        picked
    }

    /// A flag that clap also reads from an environment variable (`env = VAR`), which ranks
    /// with flags: its value, the flag's or else the variable's (so that `config check`,
    /// which takes no such flag, sees what a connecting command would), and its origin.
    fn flag_or_env<T: From<String> + PartialEq>(
        flag: Option<T>,
        name: &'static str,
        var: &'static str,
    ) -> (Option<T>, Origin) {
        let env = origin::env(&[var]);
        let held = env.as_ref().and_then(Origin::held);
        let read = |h: &str| T::from(h.to_string());
        match (flag, env.clone()) {
            (Some(v), Some(env)) if held.map(read).as_ref() == Some(&v) => (Some(v), env),
            (Some(v), _) => (Some(v), Origin::Flag(name)),
            (None, Some(env)) => (held.map(read), env),
            (None, None) => (None, Origin::Default),
        }
    }

    /// Region or profile: the flag, else the section's, else the environment, else
    /// `[defaults]`. A value from the environment is left to the AWS layer, which reads it
    /// the same way (`None`), while every other is passed on explicitly so that
    /// AWS_PROFILE/AWS_REGION cannot override it; a section's value that overrode a
    /// variable is noted in `overridden`.
    fn aws(
        &mut self,
        key: &'static str,
        flag: (&Option<String>, Origin),
        section: Option<&String>,
        vars: &[&'static str],
        defaults: &Option<String>,
        overridden: &mut Vec<Overridden>,
    ) -> Option<String> {
        let env = origin::env(vars);
        let (value, from) = origin::first([
            (flag.0.clone(), flag.1),
            (section.cloned(), self.here.clone()),
            (
                env.as_ref().and_then(Origin::held).map(str::to_string),
                env.clone().unwrap_or(Origin::Default),
            ),
            (defaults.clone(), Origin::Defaults),
        ])?;
        if let (
            Origin::Section(alias),
            Some(Origin::Env {
                var,
                value: ignored,
            }),
        ) = (&from, env)
            && ignored != value
        {
            overridden.push(Overridden {
                key,
                value: value.clone(),
                alias: alias.clone(),
                var,
                ignored,
            });
        }
        let explicit = !matches!(from, Origin::Env { .. });
        self.origins.insert(key, from);
        explicit.then_some(value)
    }
}

/// The one merge: every setting of one target from the flags, its section, the
/// environment, `[defaults]` and the built-in values, each with where it came from. A
/// setting is one field of [`Settings`] and one line here (the AWS profile's region is
/// added by `config check`, which reads `~/.aws/config`).
fn merge(
    config: &ConfigFile,
    path: Option<&Path>,
    target_text: &str,
    host: Option<&Host>,
    instance: InstanceRef,
    o: &Flags,
) -> Result<Settings, Failure> {
    let d = &config.defaults;
    let mut m = Layers {
        here: Origin::Section(target_text.to_string()),
        origins: Origins::new(),
    };
    let mut overridden = Vec::new();
    let region = m.aws(
        "region",
        (&o.region, Origin::Flag("--region")),
        host.and_then(|h| h.region.as_ref()),
        &["AWS_REGION", "AWS_DEFAULT_REGION"],
        &d.region,
        &mut overridden,
    );
    let profile = m.aws(
        "profile",
        (&o.profile, Origin::Flag("--profile")),
        host.and_then(|h| h.profile.as_ref()),
        &["AWS_PROFILE"],
        &d.profile,
        &mut overridden,
    );
    if m.origins.get("profile").is_none() {
        m.origins.insert("profile", Origin::Default);
    }
    let user = m.pick(
        "user",
        (o.user.clone(), Origin::Flag("--user")),
        host.and_then(|h| h.user.clone()),
        d.user.clone(),
        None,
    );
    if let Some(id) = &o.endpoint_id {
        crate::config::file::EndpointId::try_from(id.clone())
            .map_err(|e| Failure::usage(format!("--endpoint-id: {e}")))?;
    }
    let endpoint_id = m.pick(
        "endpoint",
        (o.endpoint_id.clone(), Origin::Flag("--endpoint-id")),
        host.and_then(|h| h.endpoint.as_ref().map(|e| e.0.clone())),
        None,
        None,
    );
    let opted_out = !m
        .pick(
            "egress_check",
            (None, Origin::Default),
            host.and_then(|h| h.egress_check),
            d.egress_check,
            Some(true),
        )
        .unwrap_or(true);
    let allow_list = m.pick(
        "allow",
        (None, Origin::Default),
        host.and_then(|h| h.allow.clone()),
        d.allow.clone(),
        None,
    );
    let from_section = matches!(m.origins.get("allow"), Some(Origin::Section(_)));
    let (allow, allow_source) = match allow_list {
        Some(list) if !opted_out && from_section => (list, Some(format!("hosts.{target_text}"))),
        Some(list) if !opted_out => (list, Some("defaults".to_string())),
        _ => (Vec::new(), None),
    };
    let from_security_group = m.pick(
        "allow_from_security_group",
        (None, Origin::Default),
        host.and_then(|h| h.allow_from_security_group),
        d.allow_from_security_group,
        Some(false),
    );
    let allow_from_security_group = !opted_out && from_security_group == Some(true);
    if opted_out {
        // `egress_check = false` empties the allowlist, whatever the file holds.
        let from = m
            .origins
            .get("egress_check")
            .cloned()
            .unwrap_or(Origin::Default);
        m.origins.insert("allow", from.clone());
        m.origins.insert("allow_from_security_group", from);
    }
    // EIC_SSH_EGRESS_CHECK_URL stands for a flag (docs/configuration.md, "Precedence").
    let from_env = origin::env(&["EIC_SSH_EGRESS_CHECK_URL"]);
    let env_urls = match from_env.as_ref().and_then(Origin::held) {
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
            Some(urls)
        }
        None => None,
    };
    let urls = |l: Option<&Vec<crate::config::file::CheckUrl>>| {
        l.map(|us| us.iter().map(|u| u.0.clone()).collect::<Vec<_>>())
    };
    let egress_urls = m
        .pick(
            "egress_check_url",
            (env_urls, from_env.unwrap_or(Origin::Default)),
            urls(host.and_then(|h| h.egress_check_url.as_ref())),
            urls(d.egress_check_url.as_ref()),
            Some(vec![DEFAULT_CHECK_URL.to_string()]),
        )
        .unwrap_or_default();
    if o.endpoint_dns_name
        .as_deref()
        .is_some_and(|d| d.trim().is_empty())
    {
        return Err(Failure::usage(
            "--endpoint-dns-name is empty: give the endpoint's DNS name (eice-….ec2-instance-connect-endpoint.REGION.amazonaws.com) or leave the flag out to look it up",
        ));
    }
    let endpoint_dns_name = m.pick(
        "endpoint_dns_name",
        (
            o.endpoint_dns_name.clone(),
            Origin::Flag("--endpoint-dns-name"),
        ),
        host.and_then(|h| h.endpoint_dns_name.as_ref().map(|d| d.0.clone())),
        None,
        None,
    );
    let private_ip = m.pick(
        "private_ip",
        (o.private_ip, Origin::Flag("--private-ip")),
        host.and_then(|h| h.private_ip),
        None,
        None,
    );
    let max_tunnel_duration = m.pick(
        "max_tunnel_duration",
        (o.max_tunnel_duration, Origin::Flag("--max-tunnel-duration")),
        host.and_then(|h| h.max_tunnel_duration).map(|d| d.0),
        None,
        None,
    );
    let port = m
        .pick(
            "port",
            (o.port, Origin::Flag("-p")),
            host.and_then(|h| h.port).map(|p| p.0),
            None,
            Some(22),
        )
        .unwrap_or(22);
    let host_key_alias = m.pick(
        "host_key_alias",
        (o.host_key_alias.clone(), Origin::Flag("--host-key-alias")),
        host.and_then(|h| h.host_key_alias.clone()),
        None,
        None,
    );
    let (flag, from) = Layers::flag_or_env(
        o.known_hosts.clone(),
        "--known-hosts",
        "EIC_SSH_KNOWN_HOSTS",
    );
    let known_hosts = m.pick(
        "known_hosts",
        (flag, from),
        host.and_then(|h| h.known_hosts.clone()),
        None,
        None,
    );
    let (flag, from) = Layers::flag_or_env(
        o.tunnel_endpoint_url.clone(),
        "--tunnel-endpoint-url",
        "EIC_SSH_TUNNEL_ENDPOINT_URL",
    );
    let tunnel_endpoint_url = m.pick("tunnel_endpoint_url", (flag, from), None, None, None);
    let quota_wait = m
        .pick(
            "quota_wait",
            (o.quota_wait, Origin::Flag("--quota-wait")),
            host.and_then(|h| h.quota_wait).map(|q| q.0),
            d.quota_wait.map(|q| q.0),
            Some(crate::net::backoff::DEFAULT_BOUND.as_secs()),
        )
        .map_or(crate::net::backoff::DEFAULT_BOUND, Duration::from_secs);
    let connect_timeout = m
        .pick(
            "connect_timeout",
            (None, Origin::Default),
            host.and_then(|h| h.connect_timeout).map(|c| c.0),
            d.connect_timeout.map(|c| c.0),
            Some(crate::net::timeouts::CONNECT.as_secs()),
        )
        .map_or(crate::net::timeouts::CONNECT, Duration::from_secs);
    let cache = m
        .pick(
            "cache",
            (o.no_cache.then_some(false), Origin::Flag("--no-cache")),
            None,
            d.cache,
            Some(true),
        )
        .unwrap_or(true);
    let log = m
        .pick("log", (None, Origin::Default), None, d.log, Some(true))
        .unwrap_or(true);
    // The forwards stay in `section` (the command line's come first, in `forwards`).
    m.pick(
        "forward",
        (None, Origin::Default),
        host.and_then(|h| h.forward.as_ref()),
        None,
        None,
    );
    Ok(Settings {
        endpoint_dns_name,
        private_ip,
        max_tunnel_duration,
        port,
        host_key_alias,
        known_hosts,
        tunnel_endpoint_url,
        cache,
        log,
        quota_wait,
        connect_timeout,
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
        origins: m.origins,
        overridden,
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
