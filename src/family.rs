//! IP address families: which one this machine reaches the internet over, and which one a
//! connection went over, so the egress check and the tunnel judge and use the same one.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};

use crate::error::Failure;

/// An IP address family.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Family {
    /// IPv4 (OpenSSH's `inet`).
    #[serde(rename = "ipv4")]
    V4,
    /// IPv6 (OpenSSH's `inet6`).
    #[serde(rename = "ipv6")]
    V6,
}

/// The environment variable that names the family instead of the routing table.
pub const ENV: &str = "EIC_SSH_ADDRESS_FAMILY";

impl Family {
    /// The family a connection to or from `ip` goes over. An IPv4-mapped address and the
    /// NAT64 well-known prefix (64:ff9b::/96) leave the network as IPv4.
    pub fn of(ip: IpAddr) -> Family {
        match ip {
            IpAddr::V4(_) => Family::V4,
            IpAddr::V6(v6) if v6.to_ipv4_mapped().is_some() => Family::V4,
            IpAddr::V6(v6) if v6.segments()[..6] == [0x64, 0xff9b, 0, 0, 0, 0] => Family::V4,
            IpAddr::V6(_) => Family::V6,
        }
    }

    /// The other family.
    pub fn other(self) -> Family {
        match self {
            Family::V4 => Family::V6,
            Family::V6 => Family::V4,
        }
    }

    /// The unspecified local address of this family: binding to it pins a dial to it.
    pub fn unspecified(self) -> IpAddr {
        match self {
            Family::V4 => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            Family::V6 => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
        }
    }

    /// `ipv4` or `ipv6`, as JSON and the connection log write it.
    pub fn word(self) -> &'static str {
        match self {
            Family::V4 => "ipv4",
            Family::V6 => "ipv6",
        }
    }

    /// Whether this machine has a route to the internet over this family. Asks the routing
    /// table only: connecting a UDP socket sends nothing.
    pub fn routed(self) -> bool {
        // Any address off the local links exercises the default route; documentation
        // addresses are never anyone's.
        let probe: SocketAddr = match self {
            Family::V4 => (Ipv4Addr::new(198, 51, 100, 1), 443).into(),
            Family::V6 => (Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1), 443).into(),
        };
        UdpSocket::bind((self.unspecified(), 0))
            .and_then(|socket| socket.connect(probe))
            .is_ok()
    }

    /// The family this machine reaches the internet over: `EIC_SSH_ADDRESS_FAMILY`
    /// (`inet`/`ipv4`, `inet6`/`ipv6`, `any`) when set, else IPv4 when it has an IPv4
    /// route, else IPv6 when it has an IPv6 route, else IPv4.
    pub fn preferred() -> Result<Family, Failure> {
        if let Some(family) = from_env()? {
            return Ok(family);
        }
        Ok(match (Family::V4.routed(), Family::V6.routed()) {
            (false, true) => Family::V6,
            _ => Family::V4,
        })
    }
}

impl std::fmt::Display for Family {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Family::V4 => "IPv4",
            Family::V6 => "IPv6",
        })
    }
}

/// `EIC_SSH_ADDRESS_FAMILY`, read; `None` when unset, empty or `any`.
fn from_env() -> Result<Option<Family>, Failure> {
    let Some(value) = std::env::var_os(ENV) else {
        return Ok(None);
    };
    parse(&value.to_string_lossy()).ok_or_else(|| {
        Failure::usage(format!(
            "{ENV}=\"{}\" is not an address family: use inet (IPv4), inet6 (IPv6) or any",
            crate::printable::escape(&value.to_string_lossy())
        ))
    })
}

/// `inet`/`ipv4` → IPv4, `inet6`/`ipv6` → IPv6, `any`/empty → none; else not a family.
pub fn parse(value: &str) -> Option<Option<Family>> {
    match value.trim().to_ascii_lowercase().as_str() {
        "" | "any" => Some(None),
        "inet" | "ipv4" | "4" => Some(Some(Family::V4)),
        "inet6" | "ipv6" | "6" => Some(Some(Family::V6)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_of_addresses() {
        let of = |s: &str| Family::of(s.parse().unwrap());
        assert_eq!(of("203.0.113.9"), Family::V4);
        assert_eq!(of("2001:db8::1"), Family::V6);
        assert_eq!(of("::ffff:203.0.113.9"), Family::V4);
        assert_eq!(of("64:ff9b::cb00:7109"), Family::V4);
        assert_eq!(Family::V4.other(), Family::V6);
    }

    #[test]
    fn names_of_families() {
        assert_eq!(parse("inet6"), Some(Some(Family::V6)));
        assert_eq!(parse(" IPv4 "), Some(Some(Family::V4)));
        assert_eq!(parse("any"), Some(None));
        assert_eq!(parse("both"), None);
    }
}
