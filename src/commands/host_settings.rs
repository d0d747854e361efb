//! What a `[hosts.ALIAS]` section sets for the flags a command left unset (flags win).

use crate::cli::{ConnectArgs, HostKeyArgs};
use crate::config::file::{ForwardKind, Host};

/// Routing flags from the section: endpoint DNS name, private IP, tunnel duration.
pub fn fill_connect(args: &mut ConnectArgs, host: Option<&Host>) {
    let Some(host) = host else { return };
    if args.endpoint_dns_name.is_none() {
        args.endpoint_dns_name = host.endpoint_dns_name.as_ref().map(|d| d.0.clone());
    }
    if args.private_ip.is_none() {
        args.private_ip = host.private_ip;
    }
    if args.max_tunnel_duration.is_none() {
        args.max_tunnel_duration = host.max_tunnel_duration.map(|d| d.0);
    }
}

/// Host-key flags from the section: the alias and the known_hosts file.
pub fn fill_host_keys(keys: &mut HostKeyArgs, host: Option<&Host>) {
    let Some(host) = host else { return };
    if keys.host_key_alias.is_none() {
        keys.host_key_alias.clone_from(&host.host_key_alias);
    }
    if keys.known_hosts.is_none() {
        keys.known_hosts.clone_from(&host.known_hosts);
    }
}

/// The instance port: the flag, else the section's, else 22.
pub fn port(flag: Option<u16>, host: Option<&Host>) -> u16 {
    flag.or_else(|| host.and_then(|h| h.port).map(|p| p.0))
        .unwrap_or(22)
}

/// The section's forwards of one kind, as specs (the command line's come first).
pub fn forwards(host: Option<&Host>, kind: ForwardKind) -> Vec<String> {
    host.and_then(|h| h.forward.as_ref())
        .into_iter()
        .flatten()
        .filter(|f| f.kind == kind)
        .map(|f| f.spec.clone())
        .collect()
}
