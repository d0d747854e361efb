//! Where a tunnel connects: the endpoint's `wss://` base, or an override for tests and private setups.

use std::fmt;

use crate::error::Failure;

/// Transport of the tunnel's WebSocket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// Plain WebSocket: only allowed to loopback hosts (tests, local relays).
    Ws,
    /// WebSocket over TLS: the real service.
    Wss,
}

impl Scheme {
    /// The port a URL of this scheme means when it names none.
    pub fn default_port(self) -> u16 {
        match self {
            Scheme::Ws => 80,
            Scheme::Wss => 443,
        }
    }
}

/// The base of an `openTunnel` URL: scheme and authority, without path or query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TunnelEndpoint {
    /// `ws` or `wss`.
    pub scheme: Scheme,
    /// Host name or IP literal (IPv6 without brackets); also the TLS server name.
    pub host: String,
    /// TCP port to dial.
    pub port: u16,
}

impl TunnelEndpoint {
    /// The service endpoint for a DNS name from DescribeInstanceConnectEndpoints.
    pub fn for_dns_name(dns_name: &str) -> Self {
        TunnelEndpoint {
            scheme: Scheme::Wss,
            host: dns_name.to_string(),
            port: 443,
        }
    }

    /// Parses `wss://host[:port]` or `ws://loopback[:port]` (a trailing `/` is allowed).
    /// The one check of `--tunnel-endpoint-url` and `EIC_SSH_TUNNEL_ENDPOINT_URL` alike.
    pub fn parse(url: &str) -> Result<Self, Failure> {
        let bad = |why: &str| {
            Failure::usage(format!(
                "bad tunnel endpoint URL \"{}\" (--tunnel-endpoint-url or EIC_SSH_TUNNEL_ENDPOINT_URL): {why} (expected wss://HOST[:PORT])",
                crate::printable::escape(url)
            ))
        };
        let (scheme, rest) = if let Some(rest) = url.strip_prefix("wss://") {
            (Scheme::Wss, rest)
        } else if let Some(rest) = url.strip_prefix("ws://") {
            (Scheme::Ws, rest)
        } else {
            return Err(bad("the scheme must be wss:// or ws://"));
        };
        let authority = rest.strip_suffix('/').unwrap_or(rest);
        if authority.is_empty() || authority.contains(['/', '?', '#', '@']) {
            return Err(bad(
                "only a host and an optional port may follow the scheme",
            ));
        }
        let (host, port) =
            split_host_port(authority).ok_or_else(|| bad("the port is not a number"))?;
        let bracketed = authority.starts_with('[');
        if bracketed != host.parse::<std::net::Ipv6Addr>().is_ok() || !is_host(host) {
            return Err(bad(
                "the host must be a DNS name (letters, digits, '-' and '.') or an IP address ([…] for IPv6)",
            ));
        }
        let port = port.unwrap_or(scheme.default_port());
        let endpoint = TunnelEndpoint {
            scheme,
            host: host.to_string(),
            port,
        };
        if scheme == Scheme::Ws && !endpoint.is_loopback() {
            return Err(bad("ws:// (no TLS) is only allowed to loopback hosts"));
        }
        Ok(endpoint)
    }

    /// The authority as it appears in the URL and in the signed `host` header:
    /// default ports are left out, as the service signs the bare name.
    pub fn authority(&self) -> String {
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        if self.port == self.scheme.default_port() {
            host
        } else {
            format!("{host}:{}", self.port)
        }
    }

    /// True for `localhost` and loopback IP literals.
    pub fn is_loopback(&self) -> bool {
        self.host.eq_ignore_ascii_case("localhost")
            || self
                .host
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback())
    }
}

impl fmt::Display for TunnelEndpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = match self.scheme {
            Scheme::Ws => "ws",
            Scheme::Wss => "wss",
        };
        write!(f, "{scheme}://{}", self.authority())
    }
}

/// A DNS name of `[A-Za-z0-9-]` labels, or an IP literal: what may go in a URL's authority
/// and a TLS server name as it is.
fn is_host(host: &str) -> bool {
    if host.parse::<std::net::IpAddr>().is_ok() {
        return true;
    }
    host.len() <= 253
        && host.split('.').all(|label| {
            (1..=63).contains(&label.len())
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

/// Splits `host`, `host:port`, `[v6]` or `[v6]:port`. `None` when the port is not a number.
fn split_host_port(authority: &str) -> Option<(&str, Option<u16>)> {
    if let Some(rest) = authority.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        return match after.strip_prefix(':') {
            Some(port) => Some((host, Some(port.parse().ok()?))),
            None if after.is_empty() => Some((host, None)),
            None => None,
        };
    }
    match authority.rsplit_once(':') {
        Some((host, port)) => Some((host, Some(port.parse().ok()?))),
        None => Some((authority, None)),
    }
}

/// Ports an endpoint opens tunnels to (docs/protocol.md, "Limits").
pub const ALLOWED_PORTS: [u16; 2] = [22, 3389];

/// Refuses a port the endpoint will not open, saying how to reach it instead.
pub fn check_port(port: u16) -> Result<(), Failure> {
    if ALLOWED_PORTS.contains(&port) {
        return Ok(());
    }
    Err(Failure::usage(format!(
        "port {port} cannot be tunnelled: an EC2 Instance Connect Endpoint only opens ports 22 and 3389; reach other ports inside SSH (ssh -L {port}:localhost:{port})"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Kind;

    #[test]
    fn default_port_is_not_part_of_the_authority() {
        let e = TunnelEndpoint::parse("wss://eice-1.example.com:443/").unwrap();
        assert_eq!(e.authority(), "eice-1.example.com");
        assert_eq!(e.port, 443);
        assert_eq!(e.to_string(), "wss://eice-1.example.com");
    }

    #[test]
    fn other_ports_and_ipv6_are_kept() {
        let e = TunnelEndpoint::parse("wss://localhost:8443").unwrap();
        assert_eq!(e.authority(), "localhost:8443");
        let e = TunnelEndpoint::parse("ws://[::1]:9000").unwrap();
        assert_eq!((e.host.as_str(), e.port), ("::1", 9000));
        assert_eq!(e.authority(), "[::1]:9000");
    }

    #[test]
    fn plain_ws_only_to_loopback() {
        assert!(TunnelEndpoint::parse("ws://127.0.0.1:80").is_ok());
        let err = TunnelEndpoint::parse("ws://example.com").unwrap_err();
        assert!(err.message.contains("only allowed to loopback"), "{err}");
    }

    #[test]
    fn rejects_paths_and_other_schemes() {
        assert!(TunnelEndpoint::parse("https://example.com").is_err());
        assert!(TunnelEndpoint::parse("wss://example.com/openTunnel").is_err());
        assert!(TunnelEndpoint::parse("wss://example.com:http").is_err());
    }

    #[test]
    fn the_host_is_a_name_or_an_address() {
        for bad in [
            "wss://a b",
            "wss://:443",
            "wss://a..b",
            "wss://a%20b",
            "wss://[zz]:1",
        ] {
            let err = TunnelEndpoint::parse(bad).unwrap_err();
            assert_eq!(err.kind, Kind::Usage, "{bad}");
        }
        let err = TunnelEndpoint::parse("wss://a\nb").unwrap_err();
        assert_eq!(
            err.message,
            "bad tunnel endpoint URL \"wss://a\\nb\" (--tunnel-endpoint-url or EIC_SSH_TUNNEL_ENDPOINT_URL): the host must be a DNS name (letters, digits, '-' and '.') or an IP address ([…] for IPv6) (expected wss://HOST[:PORT])"
        );
        assert!(TunnelEndpoint::parse("wss://[::1]:8443").is_ok());
        assert!(TunnelEndpoint::parse("wss://eice-1.example.com").is_ok());
    }

    #[test]
    fn only_22_and_3389() {
        assert!(check_port(22).is_ok() && check_port(3389).is_ok());
        let err = check_port(2222).unwrap_err();
        assert_eq!(err.kind, Kind::Usage);
        assert!(
            err.message.starts_with("port 2222 cannot be tunnelled"),
            "{err}"
        );
    }
}
