//! A route from the cache is checked before it carries anything: a fresh lookup, made
//! while its first tunnel opens, must find the same instance, private IP, endpoint and
//! Name tag (so the same config sections bind and the guard's decision stands).

use super::cache::Key;
use crate::aws::AwsContext;
use crate::aws::discovery::{self, Resolved, RouteQuery};
use crate::aws::ec2::{Endpoint, Instance};
use crate::printable::escape;

/// A route read from the cache and not yet confirmed: what to ask the API again, and the
/// entry to forget when the answer differs.
#[derive(Debug, Clone)]
pub struct Unconfirmed {
    /// The query the route was cached for (nothing described yet).
    pub query: RouteQuery,
    /// Its key in the route cache.
    pub key: Key,
}

/// Asks the API for the route again, exactly as a connect without the cache would, and
/// compares its answer with `cached`. `Err` says why the cached route no longer holds: a
/// difference, or the lookup's own failure (an instance terminated, not found…).
pub async fn confirm(
    aws: &AwsContext,
    query: &RouteQuery,
    cached: &Resolved,
) -> Result<(), String> {
    let fresh = discovery::discover(aws, query)
        .await
        .map_err(|f| f.message)?;
    difference(cached, &fresh).map_or(Ok(()), Err)
}

/// What differs between a cached route and a fresh one, in words; `None`: they agree.
/// Everything the route and the sections bound to it rest on counts: the instance, its
/// addresses, Name tag, network and security groups, and the endpoint (its state aside).
pub fn difference(cached: &Resolved, fresh: &Resolved) -> Option<String> {
    let (was, now) = (&cached.route, &fresh.route);
    if was.instance_id != now.instance_id {
        return Some(format!(
            "the target now leads to {}, not {}",
            escape(&now.instance_id),
            escape(&was.instance_id)
        ));
    }
    let id = escape(&now.instance_id);
    if was.private_ip != now.private_ip {
        return Some(format!(
            "{id}'s private IP is now {}, not {}",
            escape(&now.private_ip),
            escape(&was.private_ip)
        ));
    }
    if was.endpoint_id != now.endpoint_id {
        return Some(format!(
            "{id} is now reached through {}, not {}",
            escape(&now.endpoint_id),
            escape(&was.endpoint_id)
        ));
    }
    if let (Some(a), Some(b)) = (&cached.instance, &fresh.instance)
        && a.name != b.name
    {
        let name = b
            .name
            .as_deref()
            .map_or("gone".to_string(), |n| format!("\"{}\"", escape(n)));
        return Some(format!("{id}'s Name tag is now {name}"));
    }
    let instance = |r: &Resolved| r.instance.as_ref().map(instance_facts);
    let endpoint = |r: &Resolved| r.endpoint.as_ref().map(endpoint_facts);
    if instance(cached) != instance(fresh) {
        return Some(format!("{id} has changed since its route was cached"));
    }
    if was != now || endpoint(cached) != endpoint(fresh) {
        return Some(format!("the route to {id} has changed since it was cached"));
    }
    None
}

/// An instance as it bears on the route (its state is checked by discovery itself; its
/// tags other than Name do not bear on it).
fn instance_facts(i: &Instance) -> Instance {
    Instance {
        state: String::new(),
        tags: Default::default(),
        ..i.clone()
    }
}

/// An endpoint as it bears on the route (its state is checked by discovery itself).
fn endpoint_facts(e: &Endpoint) -> Endpoint {
    Endpoint {
        state: String::new(),
        ..e.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aws::discovery::Route;

    fn resolved() -> Resolved {
        Resolved {
            route: Route {
                instance_id: "i-0123456789abcdef0".into(),
                private_ip: "10.0.1.5".into(),
                endpoint_id: "eice-0123456789abcdef0".into(),
                endpoint_dns_name: Some(
                    "eice-0123456789abcdef0.ec2-instance-connect-endpoint.us-east-1.amazonaws.com"
                        .into(),
                ),
                availability_zone: Some("us-east-1a".into()),
                family: None,
            },
            instance: Some(Instance {
                id: "i-0123456789abcdef0".into(),
                state: "running".into(),
                vpc_id: Some("vpc-1".into()),
                subnet_id: Some("subnet-1".into()),
                private_ip: Some("10.0.1.5".into()),
                name: Some("bastion".into()),
                security_groups: vec!["sg-1".into()],
                ..Instance::default()
            }),
            endpoint: Some(Endpoint {
                id: "eice-0123456789abcdef0".into(),
                state: "create-complete".into(),
                vpc_id: "vpc-1".into(),
                ..Endpoint::default()
            }),
        }
    }

    #[test]
    fn the_same_route_agrees_whatever_the_states_say() {
        let mut fresh = resolved();
        assert_eq!(difference(&resolved(), &fresh), None);
        fresh.endpoint.as_mut().unwrap().state = "update-complete".into();
        assert_eq!(difference(&resolved(), &fresh), None);
    }

    #[test]
    fn each_difference_is_named() {
        let differs = |change: fn(&mut Resolved)| {
            let mut fresh = resolved();
            change(&mut fresh);
            difference(&resolved(), &fresh).expect("a difference")
        };
        assert_eq!(
            differs(|r| r.route.instance_id = "i-0bbbbbbbbbbbbbbb2".into()),
            "the target now leads to i-0bbbbbbbbbbbbbbb2, not i-0123456789abcdef0"
        );
        assert_eq!(
            differs(|r| r.route.private_ip = "10.0.1.50".into()),
            "i-0123456789abcdef0's private IP is now 10.0.1.50, not 10.0.1.5"
        );
        assert!(
            differs(|r| r.route.endpoint_id = "eice-0fffffffffffffff0".into())
                .contains("eice-0fffffffffffffff0")
        );
        assert_eq!(
            differs(|r| r.instance.as_mut().unwrap().name = Some("vault\x1b[2J".into())),
            "i-0123456789abcdef0's Name tag is now \"vault\\033[2J\""
        );
        assert!(differs(|r| r.instance.as_mut().unwrap().name = None).ends_with("is now gone"));
        assert!(
            differs(|r| r.instance.as_mut().unwrap().security_groups = vec![])
                .contains("has changed")
        );
        assert!(differs(|r| r.route.availability_zone = None).contains("has changed"));
        assert!(
            differs(|r| r.endpoint.as_mut().unwrap().preserve_client_ip = true)
                .contains("has changed")
        );
        assert!(differs(|r| r.instance = None).contains("has changed"));
    }
}
