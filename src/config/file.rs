//! The TOML config file: its schema, where it lives, and errors that name file, line and key.

use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use ipnet::IpNet;
use serde::{Deserialize, Deserializer};

use crate::error::Failure;
use crate::target;

/// The whole file.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    /// `[defaults]`: applies to every target.
    #[serde(default)]
    pub defaults: Defaults,
    /// `[hosts.ALIAS]`: named targets.
    #[serde(default)]
    pub hosts: BTreeMap<String, Host>,
}

/// Declares a section struct with its own keys followed by the keys `[defaults]` and every
/// `[hosts.ALIAS]` share, written once here. (serde's `flatten` would do it without a
/// macro, but it disables `deny_unknown_fields` and loses the spans that make errors point
/// at a line.) A shared key is merged in `route::settings::merge` as flag > host section >
/// environment > `[defaults]` > built-in.
macro_rules! section {
    ($(#[$meta:meta])* pub struct $name:ident { $($(#[$fmeta:meta])* pub $field:ident: $ty:ty,)* }) => {
        $(#[$meta])*
        pub struct $name {
            $($(#[$fmeta])* pub $field: $ty,)*
            /// AWS region.
            #[serde(default, deserialize_with = "plain")]
            pub region: Option<String>,
            /// AWS profile.
            #[serde(default, deserialize_with = "plain")]
            pub profile: Option<String>,
            /// OS user on the instance.
            #[serde(default, deserialize_with = "plain")]
            pub user: Option<String>,
            /// Egress allowlist (IPv4 and IPv6 CIDRs); a host's replaces `[defaults]`';
            /// never empty.
            #[serde(default, deserialize_with = "non_empty")]
            pub allow: Option<Vec<Cidr>>,
            /// `false` turns the egress check off, explicitly (an empty `allow` is an error).
            pub egress_check: Option<bool>,
            /// Where to learn the public egress IP; several must agree.
            #[serde(default, deserialize_with = "one_or_many")]
            pub egress_check_url: Option<Vec<CheckUrl>>,
            /// Also admit what the instance's security group admits on the port.
            pub allow_from_security_group: Option<bool>,
            /// Seconds a tunnel may wait in all for the endpoint's 20-connection quota (0: none).
            pub quota_wait: Option<QuotaSeconds>,
            /// Seconds opening a tunnel may take (TCP, proxy, TLS, upgrade), instead of
            /// `net::timeouts::CONNECT`.
            pub connect_timeout: Option<ConnectSeconds>,
        }
    };
}

section! {
    /// `[defaults]`: settings for every target (a host section may replace each).
    #[derive(Debug, Default, Clone, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct Defaults {
        /// `false` turns the local connection log off.
        pub log: Option<bool>,
        /// `false` turns the route cache off: every connect asks the API where the target is.
        pub cache: Option<bool>,
    }
}

section! {
    /// One `[hosts.ALIAS]` section: where the host is, then the keys it shares with
    /// `[defaults]`.
    #[derive(Debug, Default, Clone, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct Host {
        /// Instance id.
        pub instance: Option<InstanceId>,
        /// Name tag, resolved with DescribeInstances.
        #[serde(default, deserialize_with = "name_tag")]
        pub name: Option<String>,
        /// Endpoint id to use instead of discovery (`endpoint_id` is accepted too).
        #[serde(alias = "endpoint_id")]
        pub endpoint: Option<EndpointId>,
        /// The endpoint's DNS name: with `endpoint` and `private_ip`, no EC2 call is made.
        pub endpoint_dns_name: Option<DnsName>,
        /// The instance's private IP: with `endpoint`, no DescribeInstances is needed.
        pub private_ip: Option<IpAddr>,
        /// Port on the instance: 22 or 3389.
        pub port: Option<InstancePort>,
        /// Seconds after which the endpoint ends each tunnel (1-3600).
        pub max_tunnel_duration: Option<TunnelSeconds>,
        /// Name the host key is recorded and looked up under (OpenSSH's HostKeyAlias).
        #[serde(default, deserialize_with = "plain")]
        pub host_key_alias: Option<String>,
        /// known_hosts file for this host.
        pub known_hosts: Option<PathBuf>,
        /// Forwards the session opens, as on the command line: `-L …`, `-D …`, `-R …`.
        pub forward: Option<Vec<ForwardEntry>>,
    }
}

impl Host {
    /// What the section says names its instance, for `target::instance_ref`.
    pub fn section(&self) -> target::Section<'_> {
        target::Section {
            instance: self.instance.as_ref().map(|id| id.0.as_str()),
            name: self.name.as_deref(),
        }
    }
}

/// A CIDR (a bare address means that one host).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct Cidr(pub IpNet);

impl TryFrom<String> for Cidr {
    type Error = String;
    fn try_from(text: String) -> Result<Self, String> {
        if let Ok(net) = text.parse::<IpNet>() {
            return Ok(Cidr(net));
        }
        if let Ok(ip) = text.parse::<IpAddr>() {
            return Ok(Cidr(IpNet::from(ip)));
        }
        Err(format!(
            "invalid CIDR {text:?}: expected ADDRESS/PREFIX, e.g. 203.0.113.0/24 or 2001:db8::/32"
        ))
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// An `i-…` id, checked when read.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct InstanceId(pub String);

impl TryFrom<String> for InstanceId {
    type Error = String;
    fn try_from(text: String) -> Result<Self, String> {
        target::instance_id(&text).map_err(|f| f.message)?;
        Ok(InstanceId(text))
    }
}

/// An `eice-…` id, checked when read.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct EndpointId(pub String);

impl TryFrom<String> for EndpointId {
    type Error = String;
    fn try_from(text: String) -> Result<Self, String> {
        let hex = text.strip_prefix("eice-").unwrap_or_default();
        if hex.len() == 17 && hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            Ok(EndpointId(text))
        } else {
            Err(format!(
                "{text:?} is not an endpoint id (expected eice- and 17 hex digits)"
            ))
        }
    }
}

/// An endpoint DNS name: not empty, no spaces or slashes.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct DnsName(pub String);

impl TryFrom<String> for DnsName {
    type Error = String;
    fn try_from(text: String) -> Result<Self, String> {
        let ok = !text.is_empty()
            && text.len() <= 253
            && text
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-');
        if ok {
            Ok(DnsName(text))
        } else {
            Err(format!(
                "{text:?} is not a DNS name (e.g. eice-0123456789abcdef0.1a2b3c4d.ec2-instance-connect-endpoint.us-east-1.amazonaws.com)"
            ))
        }
    }
}

/// 22 or 3389, the only ports an endpoint opens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(try_from = "i64")]
pub struct InstancePort(pub u16);

impl TryFrom<i64> for InstancePort {
    type Error = String;
    fn try_from(n: i64) -> Result<Self, String> {
        let port = u16::try_from(n).map_err(|_| format!("port {n} is not a TCP port"))?;
        // The one ports rule, where the tunnel decides it.
        crate::tunnel::endpoint::check_port(port).map_err(|f| f.message)?;
        Ok(InstancePort(port))
    }
}

/// A `max_tunnel_duration`: 1 to 3600 seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(try_from = "i64")]
pub struct TunnelSeconds(pub u32);

impl TryFrom<i64> for TunnelSeconds {
    type Error = String;
    fn try_from(n: i64) -> Result<Self, String> {
        match n {
            1..=3600 => Ok(TunnelSeconds(n as u32)),
            _ => Err(format!(
                "max_tunnel_duration {n}: expected 1 to 3600 seconds"
            )),
        }
    }
}

/// A `quota_wait`: 0 to 3600 seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(try_from = "i64")]
pub struct QuotaSeconds(pub u64);

/// The largest `quota_wait` and `--quota-wait`: an hour.
pub const MAX_QUOTA_WAIT: u64 = 3600;

impl TryFrom<i64> for QuotaSeconds {
    type Error = String;
    fn try_from(n: i64) -> Result<Self, String> {
        match u64::try_from(n) {
            Ok(secs @ 0..=MAX_QUOTA_WAIT) => Ok(QuotaSeconds(secs)),
            _ => Err(format!(
                "quota_wait {n}: expected 0 (no waiting) to {MAX_QUOTA_WAIT} seconds"
            )),
        }
    }
}

/// A `connect_timeout`: 1 to 600 seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(try_from = "i64")]
pub struct ConnectSeconds(pub u64);

impl TryFrom<i64> for ConnectSeconds {
    type Error = String;
    fn try_from(n: i64) -> Result<Self, String> {
        match u64::try_from(n) {
            Ok(secs @ 1..=600) => Ok(ConnectSeconds(secs)),
            _ => Err(format!("connect_timeout {n}: expected 1 to 600 seconds")),
        }
    }
}

/// Which kind of forward a `forward` entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ForwardKind {
    /// `-L [BIND:]PORT:HOST:HOSTPORT`.
    Local,
    /// `-D [BIND:]PORT`.
    Dynamic,
    /// `-R [BIND:]PORT:HOST:HOSTPORT`.
    Remote,
}

impl ForwardKind {
    /// The command-line flag.
    pub fn flag(self) -> &'static str {
        match self {
            ForwardKind::Local => "-L",
            ForwardKind::Dynamic => "-D",
            ForwardKind::Remote => "-R",
        }
    }
}

/// One `forward` entry: the flag and its spec, as typed on the command line.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct ForwardEntry {
    /// `-L`, `-D` or `-R`.
    pub kind: ForwardKind,
    /// What follows the flag.
    pub spec: String,
}

impl TryFrom<String> for ForwardEntry {
    type Error = String;
    fn try_from(text: String) -> Result<Self, String> {
        let trimmed = text.trim();
        let kind = match trimmed.get(..2) {
            Some("-L") => ForwardKind::Local,
            Some("-D") => ForwardKind::Dynamic,
            Some("-R") => ForwardKind::Remote,
            _ => {
                return Err(format!(
                    "forward {text:?}: expected \"-L [BIND:]PORT:HOST:HOSTPORT\", \"-D [BIND:]PORT\" or \"-R [BIND:]PORT:HOST:HOSTPORT\""
                ));
            }
        };
        let spec = trimmed[2..].trim_start().to_string();
        if spec.is_empty() || spec.contains(char::is_whitespace) {
            return Err(format!(
                "forward {text:?}: expected one spec after the flag"
            ));
        }
        Ok(ForwardEntry { kind, spec })
    }
}

/// An egress check URL: `https://`, or `http://` to a loopback host only.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct CheckUrl(pub String);

impl TryFrom<String> for CheckUrl {
    type Error = String;
    fn try_from(text: String) -> Result<Self, String> {
        check_url(&text)?;
        Ok(CheckUrl(text))
    }
}

/// Accepts `https://…`, and `http://…` only when the host is loopback.
pub fn check_url(text: &str) -> Result<(), String> {
    let uri: http::Uri = text.parse().map_err(|_| format!("invalid URL {text:?}"))?;
    let host = uri.host().unwrap_or_default();
    let loopback = host == "localhost"
        || host
            .trim_matches(['[', ']'])
            .parse::<IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    match uri.scheme_str() {
        Some("https") if !host.is_empty() => Ok(()),
        Some("http") if loopback => Ok(()),
        Some("http") => Err(format!(
            "egress check URL {text:?} must use https:// (http:// is only accepted for loopback hosts)"
        )),
        _ => Err(format!(
            "invalid egress check URL {text:?}: expected https://HOST/PATH"
        )),
    }
}

/// An allowlist with at least one entry: `allow = []` would silently turn the check off.
fn non_empty<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<Cidr>>, D::Error> {
    let list = Vec::<Cidr>::deserialize(d)?;
    if list.is_empty() {
        return Err(serde::de::Error::custom(
            "an empty allowlist would turn the egress check off; list at least one CIDR, or write `egress_check = false` to opt out",
        ));
    }
    Ok(Some(list))
}

/// A value that ends up in known_hosts, ssh_config or the log: a plain name.
fn plain<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let text = String::deserialize(d)?;
    crate::plain_name::check("the value", &text).map_err(serde::de::Error::custom)?;
    Ok(Some(text))
}

/// A Name tag: not empty, no control characters, and not shaped like an instance id (write
/// `instance = "i-…"` for that; a Name tag that reads as an id could be another instance's).
fn name_tag<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let text = String::deserialize(d)?;
    let shown = crate::printable::escape(&text);
    if text.is_empty() || text.len() > 255 || text.chars().any(char::is_control) {
        return Err(serde::de::Error::custom(format!(
            "name \"{shown}\": a Name tag is 1 to 255 characters, none of them control characters"
        )));
    }
    if target::looks_like_instance_id(&text) {
        return Err(serde::de::Error::custom(format!(
            "name \"{shown}\" looks like an instance id: write `instance = \"{}\"` (a Name tag shaped like an id is never matched)",
            shown.to_ascii_lowercase()
        )));
    }
    Ok(Some(text))
}

fn one_or_many<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<CheckUrl>>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Form {
        One(String),
        Many(Vec<String>),
    }
    let urls = match Form::deserialize(d)
        .map_err(|_| serde::de::Error::custom("expected a URL or a list of URLs"))?
    {
        Form::One(u) => vec![u],
        Form::Many(us) => us,
    };
    urls.into_iter()
        .map(|u| CheckUrl::try_from(u).map_err(serde::de::Error::custom))
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}

/// Where the config file is: `--config`, else `$EIC_SSH_CONFIG`, else
/// `$XDG_CONFIG_HOME/eic-ssh/config.toml` (`~/.config/eic-ssh/config.toml`).
/// The flag and the variable name a file that must exist; the default may be absent.
pub fn locate(flag: Option<&Path>) -> Option<(PathBuf, bool)> {
    if let Some(path) = flag {
        return Some((crate::local::paths::expand_tilde(path), true));
    }
    if let Some(path) = std::env::var_os("EIC_SSH_CONFIG").filter(|v| !v.is_empty()) {
        return Some((crate::local::paths::expand_tilde(Path::new(&path)), true));
    }
    let base = crate::local::paths::config_base()?;
    Some((base.join("eic-ssh").join("config.toml"), false))
}

/// The largest config file read: far more than thousands of sections need.
pub const MAX_BYTES: u64 = 1024 * 1024;

/// The config file as a connecting command reads it, once per run, and where it came from.
pub struct Loaded {
    pub file: ConfigFile,
    pub path: Option<PathBuf>,
}

impl Loaded {
    /// Reads and checks the file (see [`load`]).
    pub fn read(flag: Option<&Path>) -> Result<Self, Failure> {
        let (file, path) = load(flag)?;
        Ok(Self { file, path })
    }
}

/// Reads and checks the file. A missing default file, an empty file and `/dev/null` are
/// no file (defaults only); a missing file named by `--config` or `EIC_SSH_CONFIG` is an
/// error, so that a typo never drops the allowlist it holds.
pub fn load(flag: Option<&Path>) -> Result<(ConfigFile, Option<PathBuf>), Failure> {
    let Some((path, explicit)) = locate(flag) else {
        return Ok((ConfigFile::default(), None));
    };
    let text = match crate::local::files::read_limited_text(&path, MAX_BYTES) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !explicit => {
            return Ok((ConfigFile::default(), None));
        }
        Err(e) => {
            return Err(Failure::usage(format!(
                "cannot read config file {}: {e}",
                path.display()
            )));
        }
    };
    // Empty (or /dev/null, as `ssh -F /dev/null` reads it): no file, so nothing to trust.
    if text.is_empty() {
        return Ok((ConfigFile::default(), None));
    }
    if let Some(problem) = crate::local::files::trust_problem(&path) {
        return Err(Failure::usage(format!(
            "refusing the config file {}: it {problem}",
            path.display()
        )));
    }
    let config = parse(&text, &path)?;
    Ok((config, Some(path)))
}

/// Parses config text; errors read `FILE:LINE:COLUMN: what is wrong`.
pub fn parse(text: &str, path: &Path) -> Result<ConfigFile, Failure> {
    let config: ConfigFile = toml::from_str(text).map_err(|e| {
        let (line, col) = e
            .span()
            .map(|span| line_col(text, span.start))
            .unwrap_or((1, 1));
        let message = e.message().trim().replace('\n', " ");
        Failure::usage(format!("{}:{line}:{col}: {message}", path.display()))
    })?;
    for (alias, host) in &config.hosts {
        if let Some(problem) = section_problem(alias, host) {
            // Looked up only for the error: scanning the file for every section made
            // loading quadratic in the number of hosts.
            let (plain, quoted) = (format!("[hosts.{alias}]"), format!("[hosts.\"{alias}\"]"));
            let line = text
                .lines()
                .position(|l| l.trim() == plain || l.trim() == quoted)
                .map_or(1, |i| i + 1);
            let label = if crate::plain_name::is_plain(alias) {
                alias.to_string()
            } else {
                format!("\"{}\"", crate::printable::escape(alias))
            };
            return Err(Failure::usage(format!(
                "{}:{line}: [hosts.{label}] {problem}",
                path.display()
            )));
        }
    }
    Ok(config)
}

/// What is wrong with one `[hosts.ALIAS]` section as a whole, if anything.
fn section_problem(alias: &str, host: &Host) -> Option<String> {
    if !crate::plain_name::is_plain(alias) {
        return Some(format!(
            "is not a plain alias ({}): the alias is written into ssh_config and typed as a target",
            crate::plain_name::RULE
        ));
    }
    match (&host.instance, &host.name) {
        (None, None) => Some("needs `instance = \"i-…\"` or `name = \"NAME\"`".into()),
        (Some(_), Some(_)) => Some("has both `instance` and `name`; keep one".into()),
        (Some(id), None) if target::looks_like_instance_id(alias) && id.0 != alias => Some(
            format!(
                "looks like an instance id but names {}: an alias shaped like an id must name that instance",
                id.0
            ),
        ),
        (None, Some(_)) if target::looks_like_instance_id(alias) => Some(
            "looks like an instance id but names a Name tag: an alias shaped like an id must name that instance"
                .into(),
        ),
        _ => None,
    }
}

fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = before
        .rfind('\n')
        .map_or(before.len(), |i| before.len() - i - 1)
        + 1;
    (line, col)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_err(text: &str) -> String {
        parse(text, Path::new("c.toml")).unwrap_err().message
    }

    #[test]
    fn the_documented_example_parses() {
        let text = r#"
[defaults]
region = "ap-northeast-1"
profile = "dev"
user = "ec2-user"
allow = ["203.0.113.0/24", "198.51.100.7/32", "2001:db8::/32", "192.0.2.1"]
egress_check_url = "https://checkip.amazonaws.com"

[hosts.bastion]
instance = "i-0123456789abcdef0"
user = "ubuntu"
endpoint = "eice-0123456789abcdef0"
allow = ["198.51.100.0/24"]
allow_from_security_group = true

[hosts.web]
name = "web-1"
egress_check_url = ["https://a.example/ip", "http://127.0.0.1:9/ip"]
"#;
        let c = parse(text, Path::new("c.toml")).unwrap();
        assert_eq!(c.defaults.allow.as_ref().unwrap().len(), 4);
        assert_eq!(
            c.defaults.allow.as_ref().unwrap()[3].to_string(),
            "192.0.2.1/32"
        );
        let b = &c.hosts["bastion"];
        assert_eq!(b.user.as_deref(), Some("ubuntu"));
        assert_eq!(b.allow_from_security_group, Some(true));
        assert_eq!(c.hosts["web"].egress_check_url.as_ref().unwrap().len(), 2);
    }

    #[test]
    fn errors_name_line_column_and_key() {
        assert_eq!(
            parse_err("[defaults]\nregion = \"x\"\nalow = []\n"),
            "c.toml:3:1: unknown field `alow`, expected one of `log`, `cache`, `region`, `profile`, `user`, `allow`, `egress_check`, `egress_check_url`, `allow_from_security_group`, `quota_wait`, `connect_timeout`"
        );
        assert_eq!(
            parse_err("[defaults]\nallow = [\"10.0.0.0/33\"]\n"),
            "c.toml:2:9: invalid CIDR \"10.0.0.0/33\": expected ADDRESS/PREFIX, e.g. 203.0.113.0/24 or 2001:db8::/32"
        );
        assert!(parse_err("[defaults\n").starts_with("c.toml:1:"));
        assert_eq!(
            parse_err("[hosts.x]\nuser = \"u\"\n"),
            "c.toml:1: [hosts.x] needs `instance = \"i-…\"` or `name = \"NAME\"`"
        );
        assert!(
            parse_err("[hosts.x]\ninstance = \"i-zz\"\n")
                .starts_with("c.toml:2:12: \"i-zz\" is not an instance id")
        );
    }

    #[test]
    fn docs_configuration_lists_every_key_with_its_precedence() {
        // The keys serde knows, from its own message for an unknown one.
        let keys = |section: &str| -> Vec<String> {
            let err = parse_err(&format!("{section}\nzz = 1\n"));
            let list = err.split("expected one of ").nth(1).unwrap_or_default();
            list.split(", ")
                .map(|k| k.trim_matches('`').to_string())
                .collect()
        };
        let doc = include_str!("../../docs/configuration.md");
        let defaults = keys("[defaults]");
        let host = keys("[hosts.x]\ninstance = \"i-0123456789abcdef0\"");
        assert!(
            defaults.len() > 5 && host.len() > defaults.len(),
            "{defaults:?} {host:?}"
        );
        for key in defaults.iter().chain(&host) {
            let row = doc
                .lines()
                .find(|l| {
                    let first = l.split('|').nth(1).unwrap_or_default();
                    l.starts_with("| `") && first.contains(&format!("`{key}`"))
                })
                .unwrap_or_else(|| panic!("docs/configuration.md has no row for `{key}`"));
            let where_ = match (defaults.contains(key), host.contains(key)) {
                (true, true) => "| both |",
                (true, false) => "| defaults |",
                _ => "| host |",
            };
            assert!(
                row.contains(where_),
                "`{key}` is not marked {where_}: {row}"
            );
        }
    }

    #[test]
    fn check_urls_are_https_or_loopback_http() {
        assert!(check_url("https://checkip.amazonaws.com").is_ok());
        assert!(check_url("http://127.0.0.1:8080/checkip").is_ok());
        assert!(check_url("http://[::1]/ip").is_ok());
        assert!(
            check_url("http://checkip.amazonaws.com")
                .unwrap_err()
                .contains("must use https://")
        );
        assert!(check_url("ftp://x").is_err());
    }
}
