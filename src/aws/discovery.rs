//! Finds the instance's private IP and the endpoint that serves it (docs/protocol.md, "Discovery").

use super::context::AwsContext;
use super::ec2::{self, DnsNames, Endpoint, EndpointFilter, Instance, USABLE_STATES};
use super::error::AwsError;
use crate::error::{Failure, Kind};
use crate::family::Family;
use crate::target::{InstanceRef, looks_like_instance_id};

/// What the user pinned down; anything `None` is looked up.
#[derive(Debug, Clone)]
pub struct RouteQuery {
    /// The instance, by id or Name tag.
    pub instance: InstanceRef,
    /// The instance already described (a Name tag resolved by the caller), so it is not
    /// described twice.
    pub found: Option<Instance>,
    /// `--endpoint-id`.
    pub endpoint_id: Option<String>,
    /// `--endpoint-dns-name`.
    pub endpoint_dns_name: Option<String>,
    /// `--private-ip`.
    pub private_ip: Option<String>,
    /// A tunnel URL override is set, so no DNS name is needed.
    pub tunnel_url_overridden: bool,
    /// The address family the tunnel should go over: the endpoint's name for it is taken
    /// when the endpoint has one, else the name for the other family.
    pub family: Family,
}

/// Where a tunnel to the instance goes.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Route {
    /// `i-…`.
    pub instance_id: String,
    /// Address the endpoint connects to.
    pub private_ip: String,
    /// `eice-…`.
    pub endpoint_id: String,
    /// DNS name to open the tunnel at; `None` when an override supplies it.
    pub endpoint_dns_name: Option<String>,
    /// AZ of the instance, when it was looked up.
    pub availability_zone: Option<String>,
    /// The address family `endpoint_dns_name` is reached over, when it is the service's
    /// name chosen from the endpoint's names (not one the user gave).
    #[serde(default)]
    pub family: Option<Family>,
}

/// The route, plus what was learned on the way (for checks that need more).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Resolved {
    /// Where tunnels go.
    pub route: Route,
    /// The instance, when it was described.
    pub instance: Option<Instance>,
    /// The endpoint, when it was described.
    pub endpoint: Option<Endpoint>,
}

/// Discovers the route (instance and endpoint), making only the calls the query leaves
/// necessary.
pub async fn discover(ctx: &AwsContext, q: &RouteQuery) -> Result<Resolved, Failure> {
    let need_dns = q.endpoint_dns_name.is_none() && !q.tunnel_url_overridden;
    // The instance is described while the endpoints are listed: one round trip, not two.
    // Without the instance's VPC yet, the listing is the region's usable endpoints, and
    // the VPC chooses among them once both answers are in.
    let lookup = async {
        match &q.instance {
            _ if q.found.is_some() => Ok(q.found.clone()),
            InstanceRef::Name(name) => find_by_name(ctx, name).await.map(Some),
            InstanceRef::Id(id) if q.private_ip.is_none() || q.endpoint_id.is_none() => {
                describe_by_id(ctx, id).await.map(Some)
            }
            InstanceRef::Id(_) => Ok(None),
        }
    };
    let listing = async {
        let by = match (&q.endpoint_id, need_dns, &q.found) {
            (Some(_), false, _) => return Ok(None),
            (Some(id), true, _) => EndpointFilter::Id(id),
            (None, _, Some(found)) => {
                EndpointFilter::Vpc(found.vpc_id.as_deref().unwrap_or_default())
            }
            (None, _, None) => EndpointFilter::Usable,
        };
        ec2::describe_endpoints(ctx, by).await.map(Some)
    };
    let (instance, listed) = tokio::join!(lookup, listing);
    // The instance's failure says more than the listing's: it is told first.
    let instance = instance?;
    let listed = listed?;
    if let Some(i) = &instance {
        check_instance(i)?;
    }
    let instance_id = match (&q.instance, &instance) {
        (_, Some(i)) => i.id.clone(),
        (InstanceRef::Id(id), None) => id.clone(),
        (InstanceRef::Name(_), None) => unreachable!("names are always looked up"),
    };
    let endpoint = match (&q.endpoint_id, listed) {
        (_, None) => None,
        (Some(id), Some(found)) => {
            Some(endpoint_with_id(found, id, &ctx.region, instance.as_ref())?)
        }
        (None, Some(found)) => {
            let instance = instance
                .as_ref()
                .expect("looked up when no endpoint id is given");
            Some(choose_endpoint(instance, &found)?.clone())
        }
    };
    let private_ip = match (&q.private_ip, &instance) {
        (Some(ip), _) => ip.clone(),
        (None, Some(i)) => target_ip(i)?,
        (None, None) => unreachable!("the instance is looked up when no IP is given"),
    };
    let endpoint_id = q
        .endpoint_id
        .clone()
        .or_else(|| endpoint.as_ref().map(|e| e.id.clone()))
        .unwrap_or_default();
    // A name the user gave is used as given; one from the API must be the service's.
    let (endpoint_dns_name, family) = match (&q.endpoint_dns_name, &endpoint) {
        (Some(name), _) => (Some(name.clone()), None),
        (None, Some(e)) if need_dns => {
            let (name, family) = tunnel_name(e, q.family, ctx.use_fips, &ctx.region)?;
            (Some(name), Some(family))
        }
        (None, _) => (None, None),
    };
    let route = Route {
        instance_id,
        private_ip,
        endpoint_id,
        endpoint_dns_name,
        availability_zone: instance.as_ref().and_then(|i| i.availability_zone.clone()),
        family,
    };
    tracing::debug!("route: {route:?}");
    Ok(Resolved {
        route,
        instance,
        endpoint,
    })
}

/// The instance `id`, described; not found is a sentence naming where it was looked for.
async fn describe_by_id(ctx: &AwsContext, id: &str) -> Result<Instance, Failure> {
    let not_found = || {
        Failure::new(
            Kind::NotFound,
            format!(
                "instance {id} was not found in {}: {}",
                ctx.scope(),
                ctx.not_found_hint()
            ),
        )
    };
    match ec2::describe_instance(ctx, id).await {
        Err(AwsError::Service { code, .. }) if code == "InvalidInstanceID.NotFound" => {
            Err(not_found())
        }
        found => found?.ok_or_else(not_found),
    }
}

/// Describes one endpoint by id and checks it can serve `instance`.
pub async fn describe_endpoint(
    ctx: &AwsContext,
    id: &str,
    instance: Option<&Instance>,
) -> Result<Endpoint, Failure> {
    let found = ec2::describe_endpoints(ctx, EndpointFilter::Id(id)).await?;
    endpoint_with_id(found, id, &ctx.region, instance)
}

/// The endpoint `id` among those described, if it exists and can serve `instance`.
pub fn endpoint_with_id(
    found: Vec<Endpoint>,
    id: &str,
    region: &str,
    instance: Option<&Instance>,
) -> Result<Endpoint, Failure> {
    let endpoint = found.into_iter().find(|e| e.id == id).ok_or_else(|| {
        Failure::new(
            Kind::NotFound,
            format!("endpoint {id} was not found in {region}"),
        )
    })?;
    check_endpoint(&endpoint, instance)?;
    Ok(endpoint)
}

/// The one instance with this Name tag (a single running one wins over stopped ones).
pub async fn find_by_name(ctx: &AwsContext, name: &str) -> Result<Instance, Failure> {
    let found = ec2::find_instances_by_name(ctx, name).await?;
    pick_by_name(name, &ctx.region, found).map_err(|f| match f.kind {
        Kind::NotFound if f.message.starts_with("no instance is named") => Failure::new(
            Kind::NotFound,
            format!("{} ({}: {})", f.message, ctx.scope(), ctx.not_found_hint()),
        ),
        _ => f,
    })
}

/// Chooses among the instances named `name`.
pub fn pick_by_name(
    name: &str,
    region: &str,
    mut found: Vec<Instance>,
) -> Result<Instance, Failure> {
    // Only what carries exactly this Name, whatever the API answered; and a Name shaped
    // like an id never stands for an instance (the caller never asks for one).
    found.retain(|i| i.name.as_deref() == Some(name) && !looks_like_instance_id(name));
    let running: Vec<&Instance> = found.iter().filter(|i| i.state == "running").collect();
    if running.len() == 1 {
        return Ok(running[0].clone());
    }
    match found.len() {
        0 => Err(Failure::new(
            Kind::NotFound,
            format!(
                "no instance is named {name:?} in {region} (and no [hosts.{name}] is in the config file)"
            ),
        )),
        1 => Ok(found.remove(0)),
        _ => Err(Failure::new(
            Kind::NotFound,
            format!(
                "{} instances are named {name:?} in {region} ({}): use an instance id, or add a [hosts] section",
                found.len(),
                found
                    .iter()
                    .map(|i| format!("{} {}", i.id, i.state))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )),
    }
}

/// The instance must be running and in a VPC.
pub fn check_instance(i: &Instance) -> Result<(), Failure> {
    if i.state != "running" {
        return Err(Failure::new(
            Kind::NotFound,
            format!(
                "instance {} is {}, not running: start it first",
                i.id, i.state
            ),
        ));
    }
    if i.vpc_id.is_none() {
        return Err(Failure::new(
            Kind::NotFound,
            format!(
                "instance {} is not in a VPC, so no Instance Connect Endpoint can reach it",
                i.id
            ),
        ));
    }
    Ok(())
}

/// An explicitly named endpoint must be usable and in the instance's VPC.
pub fn check_endpoint(e: &Endpoint, instance: Option<&Instance>) -> Result<(), Failure> {
    if !USABLE_STATES.contains(&e.state.as_str()) {
        return Err(Failure::new(
            Kind::NotFound,
            format!(
                "endpoint {} is in state {} and cannot open tunnels",
                e.id, e.state
            ),
        ));
    }
    if let Some(i) = instance
        && i.vpc_id.as_deref() != Some(e.vpc_id.as_str())
    {
        return Err(Failure::new(
            Kind::NotFound,
            format!(
                "endpoint {} is in {}, but instance {} is in {}",
                e.id,
                e.vpc_id,
                i.id,
                i.vpc_id.as_deref().unwrap_or("no VPC")
            ),
        ));
    }
    Ok(())
}

/// Same subnet first, then any usable endpoint in the VPC (lowest id, so the choice is stable).
pub fn choose_endpoint<'a>(
    instance: &Instance,
    endpoints: &'a [Endpoint],
) -> Result<&'a Endpoint, Failure> {
    let vpc = instance.vpc_id.as_deref().unwrap_or_default();
    let mut usable: Vec<&Endpoint> = endpoints
        .iter()
        .filter(|e| e.vpc_id == vpc && USABLE_STATES.contains(&e.state.as_str()))
        .collect();
    usable.sort_by(|a, b| a.id.cmp(&b.id));
    let same_subnet = usable
        .iter()
        .find(|e| Some(e.subnet_id.as_str()) == instance.subnet_id.as_deref());
    same_subnet.or(usable.first()).copied().ok_or_else(|| {
        Failure::new(
            Kind::NotFound,
            format!(
                "no EC2 Instance Connect Endpoint in {vpc} (the VPC of {}): create one (`eic-ssh doctor TARGET --fix` prints how) or pass --endpoint-id",
                instance.id
            ),
        )
    })
}

/// The name a tunnel to `e` opens at over `family`, with the FIPS variant when `fips` (the
/// plain name where the partition has no FIPS one); `None` when no client reaches `e` over
/// `family`. IPv4: the IPv4-only name, else the legacy `DnsName`; an `ipv6` endpoint has
/// none. IPv6: the dual-stack name; an `ipv6` endpoint's legacy `DnsName` too.
pub fn name_over(e: &Endpoint, family: Family, fips: bool) -> Option<&str> {
    fn pick(names: &DnsNames, fips: bool) -> Option<&str> {
        match (fips, &names.fips_dns_name) {
            (true, Some(name)) => Some(name.as_str()),
            _ => names.dns_name.as_deref(),
        }
    }
    let legacy = || match (fips, &e.fips_dns_name) {
        (true, Some(name)) => Some(name.as_str()),
        _ => Some(e.dns_name.as_str()).filter(|n| !n.is_empty()),
    };
    let names = &e.public_dns_names;
    match family {
        Family::V4 if e.ipv6_only() => None,
        Family::V4 => names
            .ipv4
            .as_ref()
            .and_then(|n| pick(n, fips))
            .or_else(legacy),
        Family::V6 => names
            .dualstack
            .as_ref()
            .and_then(|n| pick(n, fips))
            .or_else(|| legacy().filter(|_| e.ipv6_only())),
    }
}

/// The service's name for a tunnel to `e` and the family it is reached over: `family`'s
/// name when `e` has one, else the other family's (the caller checks that family first).
/// The name must be the service's own (`check_service_dns_name`).
pub fn tunnel_name(
    e: &Endpoint,
    family: Family,
    fips: bool,
    region: &str,
) -> Result<(String, Family), Failure> {
    let (name, over) = match (
        name_over(e, family, fips),
        name_over(e, family.other(), fips),
    ) {
        (Some(name), _) => (name, family),
        (None, Some(name)) => (name, family.other()),
        (None, None) => {
            return Err(Failure::new(
                Kind::NotFound,
                format!(
                    "endpoint {} (IpAddressType {}) has no DNS name to open a tunnel at",
                    crate::printable::escape(&e.id),
                    crate::printable::escape(e.ip_address_type())
                ),
            ));
        }
    };
    check_service_dns_name(name, &e.id, region)?;
    Ok((name.to_string(), over))
}

/// An endpoint DNS name from DescribeInstanceConnectEndpoints must be the service's own
/// for this endpoint and region (PROTOCOL.md §1): `ID[.HASH][.fips]` followed by
/// `.ec2-instance-connect-endpoint.REGION.` and the domain of the region's partition (its
/// plain or dual-stack DNS suffix, `endpoints::partition`). The presigned URL,
/// signature included, goes to that host, so a forged answer must not send it elsewhere.
pub fn check_service_dns_name(name: &str, endpoint_id: &str, region: &str) -> Result<(), Failure> {
    if is_service_dns_name(name, endpoint_id, region) {
        return Ok(());
    }
    Err(Failure::new(
        Kind::NotFound,
        format!(
            "refusing the DNS name \"{}\" that the EC2 API gave for endpoint {}: it is not an EC2 Instance Connect Endpoint name in {region} (ID.ec2-instance-connect-endpoint.{region}.{}); if it is right, pass it with --endpoint-dns-name or endpoint_dns_name in the config file",
            crate::printable::escape(name),
            crate::printable::escape(endpoint_id),
            super::endpoints::partition(region).dns_suffix,
        ),
    ))
}

fn is_service_dns_name(name: &str, endpoint_id: &str, region: &str) -> bool {
    let name = name.to_ascii_lowercase();
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && l.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    };
    let service = format!(".ec2-instance-connect-endpoint.{region}.");
    let Some((head, suffix)) = name.split_once(&service) else {
        return false;
    };
    let head: Vec<&str> = head.split('.').collect();
    let head = match head.as_slice() {
        [rest @ .., "fips"] => rest,
        all => all,
    };
    let partition = super::endpoints::partition(region);
    (suffix == partition.dns_suffix || suffix == partition.dual_stack_dns_suffix)
        && name.len() <= 253
        && matches!(head, [id] | [id, _] if id.eq_ignore_ascii_case(endpoint_id))
        && head.iter().all(|l| label_ok(l))
}

/// Private IPv4, else IPv6.
pub fn target_ip(i: &Instance) -> Result<String, Failure> {
    i.private_ip
        .clone()
        .or_else(|| i.ipv6.clone())
        .ok_or_else(|| {
            Failure::new(
                Kind::NotFound,
                format!("instance {} has no private IP address", i.id),
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn instance() -> Instance {
        Instance {
            id: "i-1".into(),
            state: "running".into(),
            vpc_id: Some("vpc-1".into()),
            subnet_id: Some("subnet-b".into()),
            private_ip: Some("10.0.0.1".into()),
            ..Default::default()
        }
    }

    fn endpoint(id: &str, vpc: &str, subnet: &str, state: &str) -> Endpoint {
        Endpoint {
            id: id.into(),
            vpc_id: vpc.into(),
            subnet_id: subnet.into(),
            state: state.into(),
            ..Default::default()
        }
    }

    #[test]
    fn same_subnet_wins() {
        let eps = [
            endpoint("eice-a", "vpc-1", "subnet-a", "create-complete"),
            endpoint("eice-b", "vpc-1", "subnet-b", "update-complete"),
        ];
        assert_eq!(choose_endpoint(&instance(), &eps).unwrap().id, "eice-b");
    }

    #[test]
    fn else_any_usable_one_in_the_vpc() {
        let eps = [
            endpoint("eice-z", "vpc-1", "subnet-c", "create-complete"),
            endpoint("eice-y", "vpc-1", "subnet-b", "delete-in-progress"),
            endpoint("eice-x", "vpc-2", "subnet-b", "create-complete"),
        ];
        assert_eq!(choose_endpoint(&instance(), &eps).unwrap().id, "eice-z");
    }

    #[test]
    fn none_names_the_vpc() {
        let err = choose_endpoint(&instance(), &[]).unwrap_err();
        assert_eq!(err.kind, Kind::NotFound);
        assert!(
            err.message
                .starts_with("no EC2 Instance Connect Endpoint in vpc-1"),
            "{err}"
        );
    }

    #[test]
    fn stopped_instances_are_refused() {
        let mut i = instance();
        i.state = "stopped".into();
        let err = check_instance(&i).unwrap_err();
        assert_eq!(
            err.message,
            "instance i-1 is stopped, not running: start it first"
        );
    }

    #[test]
    fn names_must_be_unambiguous() {
        let named = |id: &str, state: &str| Instance {
            id: id.into(),
            name: Some("web".into()),
            state: state.into(),
            ..Default::default()
        };
        let one = pick_by_name(
            "web",
            "r",
            vec![named("i-1", "stopped"), named("i-2", "running")],
        )
        .unwrap();
        assert_eq!(one.id, "i-2");
        let err = pick_by_name(
            "web",
            "r",
            vec![named("i-1", "running"), named("i-2", "running")],
        )
        .unwrap_err();
        assert_eq!(
            err.message,
            "2 instances are named \"web\" in r (i-1 running, i-2 running): use an instance id, or add a [hosts] section"
        );
        assert!(
            pick_by_name("web", "r", vec![])
                .unwrap_err()
                .message
                .starts_with("no instance is named")
        );
    }

    #[test]
    fn only_instances_carrying_the_name_are_picked() {
        // An API answer listing an instance under another Name is not believed.
        let other = Instance {
            id: "i-0fedcba9876543210".into(),
            name: Some("db".into()),
            state: "running".into(),
            ..Default::default()
        };
        assert!(pick_by_name("web", "r", vec![other.clone()]).is_err());
        // A Name shaped like an id is never matched, even when the API says so.
        let impostor = Instance {
            name: Some("I-0AAAAAAAAAAAAAAA1".into()),
            ..other
        };
        assert!(pick_by_name("I-0AAAAAAAAAAAAAAA1", "r", vec![impostor]).is_err());
    }

    #[test]
    fn only_the_services_dns_names_are_taken_from_the_api() {
        let id = "eice-0123456789abcdef0";
        for good in [
            "eice-0123456789abcdef0.ec2-instance-connect-endpoint.us-east-1.amazonaws.com",
            "eice-0123456789abcdef0.1a2b3c4d.ec2-instance-connect-endpoint.us-east-1.amazonaws.com",
            "eice-0123456789abcdef0.fips.ec2-instance-connect-endpoint.us-east-1.amazonaws.com",
            "EICE-0123456789ABCDEF0.1a2b3c4d.fips.ec2-instance-connect-endpoint.us-east-1.amazonaws.com",
            "eice-0123456789abcdef0.1a2b3c4d.ec2-instance-connect-endpoint.us-east-1.api.aws",
        ] {
            assert!(is_service_dns_name(good, id, "us-east-1"), "{good}");
        }
        assert!(is_service_dns_name(
            "eice-0123456789abcdef0.ec2-instance-connect-endpoint.cn-north-1.amazonaws.com.cn",
            id,
            "cn-north-1"
        ));
        // Each partition's own domains: the ISO ones, and the dual-stack one in China.
        for (name, region) in [
            (
                "eice-0123456789abcdef0.ec2-instance-connect-endpoint.us-iso-east-1.c2s.ic.gov",
                "us-iso-east-1",
            ),
            (
                "eice-0123456789abcdef0.ec2-instance-connect-endpoint.eu-isoe-west-1.cloud.adc-e.uk",
                "eu-isoe-west-1",
            ),
            (
                "eice-0123456789abcdef0.ec2-instance-connect-endpoint.cn-north-1.api.amazonwebservices.com.cn",
                "cn-north-1",
            ),
        ] {
            assert!(is_service_dns_name(name, id, region), "{name}");
        }
        // Another partition's domain is no name of this region's endpoint.
        for (name, region) in [
            (
                "eice-0123456789abcdef0.ec2-instance-connect-endpoint.us-east-1.amazonaws.com.cn",
                "us-east-1",
            ),
            (
                "eice-0123456789abcdef0.ec2-instance-connect-endpoint.cn-north-1.amazonaws.com",
                "cn-north-1",
            ),
            (
                "eice-0123456789abcdef0.ec2-instance-connect-endpoint.us-iso-east-1.amazonaws.com",
                "us-iso-east-1",
            ),
        ] {
            assert!(!is_service_dns_name(name, id, region), "{name}");
        }
        for bad in [
            "attacker.example",
            "127.0.0.1",
            "eice-0123456789abcdef0.ec2-instance-connect-endpoint.us-east-1.amazonaws.com.evil.example",
            "eice-0123456789abcdef0.ec2-instance-connect-endpoint.eu-west-1.amazonaws.com",
            "eice-0ffffffffffffffff.ec2-instance-connect-endpoint.us-east-1.amazonaws.com",
            "evil.example/x.eice-0123456789abcdef0.ec2-instance-connect-endpoint.us-east-1.amazonaws.com",
            "a.b.c.eice-0123456789abcdef0.ec2-instance-connect-endpoint.us-east-1.amazonaws.com",
            "eice-0123456789abcdef0.ec2-instance-connect-endpoint.us-east-1.amazonaws.com:444",
            "eice-0123456789abcdef0..ec2-instance-connect-endpoint.us-east-1.amazonaws.com",
            "",
        ] {
            assert!(!is_service_dns_name(bad, id, "us-east-1"), "{bad}");
        }
        let err = check_service_dns_name("evil\n.example", id, "us-east-1").unwrap_err();
        assert_eq!(err.kind, Kind::NotFound);
        assert!(err.message.contains("\"evil\\n.example\""), "{err}");
    }

    #[test]
    fn the_name_fits_the_family() {
        use crate::aws::ec2::PublicDnsNames;
        let names = |plain: &str| DnsNames {
            dns_name: Some(plain.into()),
            fips_dns_name: Some(format!("fips.{plain}")),
        };
        let mut e = Endpoint {
            dns_name: "legacy".into(),
            ..Default::default()
        };
        // An answer without PublicDnsNames: the legacy name over IPv4, none over IPv6.
        assert_eq!(name_over(&e, Family::V4, false), Some("legacy"));
        assert_eq!(name_over(&e, Family::V6, false), None);
        e.ip_address_type = Some("dualstack".into());
        e.public_dns_names = PublicDnsNames {
            ipv4: Some(names("v4")),
            dualstack: Some(names("ds")),
        };
        assert_eq!(name_over(&e, Family::V4, false), Some("v4"));
        assert_eq!(name_over(&e, Family::V6, false), Some("ds"));
        assert_eq!(name_over(&e, Family::V4, true), Some("fips.v4"));
        assert_eq!(name_over(&e, Family::V6, true), Some("fips.ds"));
        // An ipv6 endpoint: only IPv6 clients, at the dual-stack name.
        e.ip_address_type = Some("ipv6".into());
        e.public_dns_names.ipv4 = None;
        assert_eq!(name_over(&e, Family::V4, false), None);
        assert_eq!(name_over(&e, Family::V6, false), Some("ds"));
        // An ipv4 endpoint from IPv6: the IPv4 name is the only one, and it says so.
        let id = "eice-0123456789abcdef0";
        let v4 = Endpoint {
            id: id.into(),
            dns_name: format!("{id}.ec2-instance-connect-endpoint.us-east-1.amazonaws.com"),
            ip_address_type: Some("ipv4".into()),
            ..Default::default()
        };
        let (name, over) = tunnel_name(&v4, Family::V6, false, "us-east-1").unwrap();
        assert_eq!((name.as_str(), over), (v4.dns_name.as_str(), Family::V4));
        let none = Endpoint {
            id: id.into(),
            ip_address_type: Some("ipv6".into()),
            ..Default::default()
        };
        let err = tunnel_name(&none, Family::V6, false, "us-east-1").unwrap_err();
        assert!(err.message.contains("has no DNS name"), "{err}");
    }

    #[test]
    fn ipv6_is_the_fallback() {
        let mut i = instance();
        i.private_ip = None;
        i.ipv6 = Some("2001:db8::1".into());
        assert_eq!(target_ip(&i).unwrap(), "2001:db8::1");
    }
}
