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
/// configured tunnel URL, else the endpoint's configured name, else the endpoint domain of
/// the region (`region`, else the settings', else `AWS_REGION`/`AWS_DEFAULT_REGION`'s).
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
        None => {
            let known = region.map(str::to_string);
            endpoint_domain_name(known.or_else(|| settings.aws_value("region")).as_deref())
        }
    };
    Ok(Dest {
        secure: true,
        host,
        port: 443,
    })
}

/// Where the tunnel goes once the endpoint's own name (`name`, as discovery picks it) is
/// known: the configured tunnel URL or endpoint name if any, else `name`.
pub fn endpoint_dest(settings: &Settings, name: &str) -> Result<Dest, Failure> {
    let configured = settings
        .tunnel_endpoint_url
        .as_deref()
        .is_some_and(|u| !u.is_empty())
        || settings.endpoint_dns_name.is_some();
    if configured {
        return tunnel_dest(settings, None);
    }
    Ok(Dest {
        secure: true,
        host: name.to_string(),
        port: 443,
    })
}

/// The path of the egress check for a tunnel to `dest`: through the proxy the variables
/// name for it, else straight out over `family`.
pub fn path_to(dest: &Dest, family: Family) -> Result<Path, Failure> {
    Ok(path_with(&Proxies::from_env()?, dest, family))
}

/// [`path_to`] under the rules `proxies`.
pub fn path_with(proxies: &Proxies, dest: &Dest, family: Family) -> Path {
    Path::of_tunnel(proxies.for_host(dest.secure, &dest.host, dest.port), family)
}

/// The path of the egress check before the endpoint is known (`egress`, `list`, the first
/// check of a connect).
pub fn guard_path(settings: &Settings, family: Family) -> Result<Path, Failure> {
    path_to(&tunnel_dest(settings, None)?, family)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(text: &str) -> Settings {
        let file = crate::config::file::parse(text, std::path::Path::new("c.toml")).unwrap();
        super::super::settings::for_target(
            &file,
            None,
            "i-0123456789abcdef0",
            &super::super::Flags::default(),
        )
        .unwrap()
    }

    fn proxies(no_proxy: &str) -> Proxies {
        Proxies::from_lookup(|name| match name {
            "HTTPS_PROXY" => Some("http://proxy.corp:3128".into()),
            "NO_PROXY" => Some(no_proxy.into()),
            _ => None,
        })
        .unwrap()
    }

    #[test]
    fn before_discovery_the_region_domain_or_the_configured_name_decides() {
        let cold = tunnel_dest(&settings(""), Some("eu-west-1")).unwrap();
        assert_eq!(
            cold.host,
            "eice.ec2-instance-connect-endpoint.eu-west-1.amazonaws.com"
        );
        // NO_PROXY for the region's endpoints: the check goes direct, as the tunnel will.
        let direct = path_with(&proxies(".eu-west-1.amazonaws.com"), &cold, Family::V4);
        assert_eq!(direct, Path::Direct(Family::V4));
        // NO_PROXY for another region: both go through the proxy.
        let proxied = path_with(&proxies("us-east-1.amazonaws.com"), &cold, Family::V4);
        assert_eq!(proxied.road().to_string(), "via proxy.corp:3128");
        // One endpoint named in NO_PROXY: the domain goes through the proxy, the endpoint's
        // own name does not (resolve checks again on the endpoint's road).
        let one = proxies("eice-1.ec2-instance-connect-endpoint.eu-west-1.amazonaws.com");
        let named = Dest {
            host: "eice-1.ec2-instance-connect-endpoint.eu-west-1.amazonaws.com".into(),
            ..cold.clone()
        };
        assert!(
            !path_with(&one, &cold, Family::V4)
                .same_road(&path_with(&one, &named, Family::V4).road())
        );
    }

    #[test]
    fn a_region_from_the_environment_names_the_endpoint_domain() {
        // AWS_REGION is left to the AWS layer (`region` stays `None`) but recorded: without
        // it the domain would lack the region, and NO_PROXY=.eu-west-1.amazonaws.com would
        // send the first check through the proxy and the tunnel direct.
        let mut s = settings("");
        assert_eq!(s.region, None);
        s.origins.insert(
            "region",
            super::super::origin::Origin::Env {
                var: "AWS_REGION",
                value: "eu-west-1".into(),
            },
        );
        let cold = tunnel_dest(&s, None).unwrap();
        assert_eq!(
            cold.host,
            "eice.ec2-instance-connect-endpoint.eu-west-1.amazonaws.com"
        );
        let direct = path_with(&proxies(".eu-west-1.amazonaws.com"), &cold, Family::V4);
        assert_eq!(direct, Path::Direct(Family::V4));
    }

    #[test]
    fn the_endpoint_domain_stands_for_an_unknown_endpoint() {
        assert_eq!(
            endpoint_domain_name(Some("eu-west-1")),
            "eice.ec2-instance-connect-endpoint.eu-west-1.amazonaws.com"
        );
    }
}
