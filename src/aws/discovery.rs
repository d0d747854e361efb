//! Finds the instance's private IP and the endpoint that serves it (PROTOCOL.md §4).

use super::context::AwsContext;
use super::ec2::{self, Endpoint, EndpointFilter, Instance, USABLE_STATES};
use crate::error::{Exit, Failure};

/// What the user pinned down; anything `None` is looked up.
#[derive(Debug, Clone, Default)]
pub struct RouteQuery {
    /// `i-…`.
    pub instance_id: String,
    /// `--endpoint-id`.
    pub endpoint_id: Option<String>,
    /// `--endpoint-dns-name`.
    pub endpoint_dns_name: Option<String>,
    /// `--private-ip`.
    pub private_ip: Option<String>,
    /// A tunnel URL override is set, so no DNS name is needed.
    pub tunnel_url_overridden: bool,
}

/// Where a tunnel to the instance goes.
#[derive(Debug, Clone, PartialEq, Eq)]
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
}

/// Resolves the route, making only the calls the query leaves necessary.
pub async fn resolve(ctx: &AwsContext, q: &RouteQuery) -> Result<Route, Failure> {
    let need_dns = q.endpoint_dns_name.is_none() && !q.tunnel_url_overridden;
    let instance = if q.private_ip.is_none() || q.endpoint_id.is_none() {
        let found = ec2::describe_instance(ctx, &q.instance_id).await?;
        let instance = found.ok_or_else(|| {
            Failure::new(
                Exit::NotFound,
                format!("instance {} was not found in {}", q.instance_id, ctx.region),
            )
        })?;
        check_instance(&instance)?;
        Some(instance)
    } else {
        None
    };
    let endpoint = match (&q.endpoint_id, need_dns) {
        (Some(_), false) => None,
        (Some(id), true) => {
            let found = ec2::describe_endpoints(ctx, EndpointFilter::Id(id)).await?;
            let endpoint = found.into_iter().find(|e| &e.id == id).ok_or_else(|| {
                Failure::new(
                    Exit::NotFound,
                    format!("endpoint {id} was not found in {}", ctx.region),
                )
            })?;
            check_endpoint(&endpoint, instance.as_ref())?;
            Some(endpoint)
        }
        (None, _) => {
            let instance = instance
                .as_ref()
                .expect("looked up when no endpoint id is given");
            let vpc = instance.vpc_id.as_deref().unwrap_or_default();
            let found = ec2::describe_endpoints(ctx, EndpointFilter::Vpc(vpc)).await?;
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
    let endpoint_dns_name = q.endpoint_dns_name.clone().or_else(|| {
        endpoint
            .as_ref()
            .map(|e| match (&e.fips_dns_name, ctx.use_fips) {
                (Some(fips), true) => fips.clone(),
                _ => e.dns_name.clone(),
            })
    });
    let route = Route {
        instance_id: q.instance_id.clone(),
        private_ip,
        endpoint_id,
        endpoint_dns_name,
        availability_zone: instance.and_then(|i| i.availability_zone),
    };
    tracing::debug!("route: {route:?}");
    Ok(route)
}

/// The instance must be running and in a VPC.
pub fn check_instance(i: &Instance) -> Result<(), Failure> {
    if i.state != "running" {
        return Err(Failure::new(
            Exit::NotFound,
            format!(
                "instance {} is {}, not running: start it first",
                i.id, i.state
            ),
        ));
    }
    if i.vpc_id.is_none() {
        return Err(Failure::new(
            Exit::NotFound,
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
            Exit::NotFound,
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
            Exit::NotFound,
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
            Exit::NotFound,
            format!(
                "no EC2 Instance Connect Endpoint in {vpc} (the VPC of {}): create one (docs/aws-setup.md) or pass --endpoint-id",
                instance.id
            ),
        )
    })
}

/// Private IPv4, else IPv6.
pub fn target_ip(i: &Instance) -> Result<String, Failure> {
    i.private_ip
        .clone()
        .or_else(|| i.ipv6.clone())
        .ok_or_else(|| {
            Failure::new(
                Exit::NotFound,
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
        assert_eq!(err.exit, Exit::NotFound);
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
    fn ipv6_is_the_fallback() {
        let mut i = instance();
        i.private_ip = None;
        i.ipv6 = Some("2001:db8::1".into());
        assert_eq!(target_ip(&i).unwrap(), "2001:db8::1");
    }
}
