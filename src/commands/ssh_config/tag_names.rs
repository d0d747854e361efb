//! Which Name tags may become `Host` names: a tag is anyone's to set who may tag an
//! instance, and a `Host` line for a name that is already a real host (an address,
//! `localhost`, `github.com`) would send ssh and git traffic meant for that host through
//! eic-ssh's ProxyCommand, to that instance.

use std::net::{Ipv4Addr, Ipv6Addr};

/// Why a Name tag is not written as a `Host` name (its instance is then named by id only).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// `localhost`, `localhost.`, `*.localhost` and the loopback names of /etc/hosts:
    /// never, flag or not (a `[hosts.NAME]` alias is the way to name an instance so).
    Loopback,
    /// An IP address in any form ssh resolves (`10.0.1.5`, `127.1`, `2130706433`, `::1`).
    Address,
    /// A name with a dot, which ssh and DNS take for a host on the network.
    Dotted,
}

impl Refusal {
    /// The end of the sentence "its Name X …", with what to do.
    pub fn reason(self) -> &'static str {
        match self {
            Refusal::Loopback => {
                "names this machine, so a Host line for it would take ssh traffic meant for this machine; name the instance with a [hosts.NAME] alias instead"
            }
            Refusal::Address => {
                "is an IP address, so a Host line for it would take ssh traffic meant for that address; pass --allow-dotted-names to use it"
            }
            Refusal::Dotted => {
                "has a dot, so a Host line for it would take ssh and git traffic meant for a host of that name; pass --allow-dotted-names to use it"
            }
        }
    }
}

/// Names that /etc/hosts gives the loopback address (Debian, Fedora, macOS).
const LOOPBACK_NAMES: [&str; 5] = [
    "localhost",
    "localhost6",
    "ip6-localhost",
    "ip6-loopback",
    "localhost.localdomain",
];

/// Why `name` (a plain host name) may not be a `Host` name; `None` when it may.
/// `allow_dotted` (`--allow-dotted-names`) lets dotted names and addresses through, never
/// loopback names.
pub fn refusal(name: &str, allow_dotted: bool) -> Option<Refusal> {
    let lower = name.to_ascii_lowercase();
    let bare = lower.strip_suffix('.').unwrap_or(&lower);
    let loopback = LOOPBACK_NAMES.contains(&bare)
        || bare.ends_with(".localhost")
        || bare.starts_with("localhost.");
    if loopback {
        return Some(Refusal::Loopback);
    }
    if allow_dotted {
        return None;
    }
    if is_address(bare) {
        Some(Refusal::Address)
    } else if name.contains('.') {
        Some(Refusal::Dotted)
    } else {
        None
    }
}

/// Whether ssh would take `name` for an address: IPv6, or IPv4 in any form `inet_aton`
/// reads (one to four parts, each decimal, octal `0…` or hex `0x…`: `127.1`, `0x7f000001`).
fn is_address(name: &str) -> bool {
    let bracketed = name.strip_prefix('[').and_then(|n| n.strip_suffix(']'));
    if name.parse::<Ipv6Addr>().is_ok() || bracketed.is_some_and(|n| n.parse::<Ipv6Addr>().is_ok())
    {
        return true;
    }
    if name.parse::<Ipv4Addr>().is_ok() {
        return true;
    }
    let parts: Vec<&str> = name.split('.').collect();
    parts.len() <= 4
        && parts.iter().all(|part| {
            let hex = part.strip_prefix("0x").or_else(|| part.strip_prefix("0X"));
            match hex {
                Some(digits) => digits.bytes().all(|b| b.is_ascii_hexdigit()),
                None => !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit()),
            }
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_names_are_refused_even_when_dotted_names_are_allowed() {
        for name in [
            "localhost",
            "LocalHost",
            "localhost.",
            "web.localhost",
            "ip6-localhost",
            "localhost.localdomain",
        ] {
            assert_eq!(refusal(name, false), Some(Refusal::Loopback), "{name}");
            assert_eq!(refusal(name, true), Some(Refusal::Loopback), "{name}");
        }
    }

    #[test]
    fn addresses_in_every_form_ssh_reads_are_refused_unless_allowed() {
        for name in [
            "1.2.3.4",
            "127.1",
            "2130706433",
            "0x7f000001",
            "0177.0.0.1",
            "::1",
            "[::1]",
        ] {
            assert_eq!(refusal(name, false), Some(Refusal::Address), "{name}");
            assert_eq!(refusal(name, true), None, "{name}");
        }
    }

    #[test]
    fn dotted_names_are_refused_unless_allowed_and_plain_names_pass() {
        for name in ["github.com", "web.example.com", "GitHub.com.", "db.1"] {
            assert_eq!(refusal(name, false), Some(Refusal::Dotted), "{name}");
            assert_eq!(refusal(name, true), None, "{name}");
        }
        for name in ["bastion", "web-1", "db_2", "x1", "0xbastion"] {
            assert_eq!(refusal(name, false), None, "{name}");
        }
    }
}
