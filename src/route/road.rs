//! The road the egress check takes: the tunnel's. Before the endpoint is known it is the
//! road of the configured tunnel URL, else of the region's endpoint domain; once the
//! endpoint's own name is known, a tunnel that would leave another way is checked again.

use crate::error::Failure;
use crate::family::Family;
use crate::guard::Path;
use crate::net::dial::Dest;
use crate::net::proxy::Proxies;
use crate::tunnel::{TunnelEndpoint, connect};

use super::Settings;

/// A name in the region's endpoint domain (`*.ec2-instance-connect-endpoint.REGION.
/// amazonaws.com`), standing for an endpoint not known yet: NO_PROXY decides for it as for
/// the endpoint's own name unless it names that endpoint alone.
pub fn endpoint_domain_name(region: Option<&str>) -> String {
    match region {
        Some(region) => format!("eice.ec2-instance-connect-endpoint.{region}.amazonaws.com"),
        None => "eice.ec2-instance-connect-endpoint.amazonaws.com".into(),
    }
}

/// Where the tunnel for `settings` goes, as far as is known before any AWS call: the
/// configured tunnel URL, else the endpoint's configured name, else the region's endpoint
/// domain.
pub fn tunnel_dest(settings: &Settings, region: Option<&str>) -> Result<Dest, Failure> {
    if let Some(url) = settings
        .tunnel_endpoint_url
        .as_deref()
        .filter(|u| !u.is_empty())
    {
        return Ok(connect::dest(&TunnelEndpoint::parse(url)?));
    }
    let host = match &settings.endpoint_dns_name {
        Some(name) => name.clone(),
        None => endpoint_domain_name(region.or(settings.region.as_deref())),
    };
    Ok(Dest {
        secure: true,
        host,
        port: 443,
    })
}

/// The path of the egress check for a tunnel to `dest`: through the proxy the variables
/// name for it, else straight out over `family`.
pub fn path_to(dest: &Dest, family: Family) -> Result<Path, Failure> {
    let proxies = Proxies::from_env()?;
    Ok(Path::of_tunnel(
        proxies.for_host(dest.secure, &dest.host, dest.port),
        family,
    ))
}

/// The path of the egress check before the endpoint is known (`egress`, `list`, the first
/// check of a connect).
pub fn guard_path(settings: &Settings, family: Family) -> Result<Path, Failure> {
    path_to(&tunnel_dest(settings, None)?, family)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_endpoint_domain_stands_for_an_unknown_endpoint() {
        assert_eq!(
            endpoint_domain_name(Some("eu-west-1")),
            "eice.ec2-instance-connect-endpoint.eu-west-1.amazonaws.com"
        );
    }
}
