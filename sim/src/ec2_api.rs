//! The EC2 Query API actions eic-ssh reads: DescribeInstances, DescribeInstanceConnectEndpoints,
//! DescribeSecurityGroups; XML shaped like the service's.

use std::collections::BTreeMap;

use bytes::Bytes;
use hyper::StatusCode;
use serde_json::json;

use crate::State;
use crate::auth::{Api, Denial, authenticate_request};
use crate::reply::{Reply, esc, reply, request_id};
use crate::world::{Endpoint, Instance, SecurityGroup, World};

const NS: &str = "http://ec2.amazonaws.com/doc/2016-11-15/";

/// Answers one EC2 Query request.
pub fn handle(parts: &http::request::Parts, body: &Bytes, state: &State) -> Reply {
    let params: BTreeMap<String, String> = form_urlencoded::parse(body).into_owned().collect();
    let action = params.get("Action").cloned().unwrap_or_default();
    let mut world = state.world.read().unwrap().clone();
    let outcome = authorize(parts, body, &world, &action).map(|caller| {
        if caller.region != world.region {
            // Another region of the account: the same API, nothing in it.
            world.instances.clear();
            world.endpoints.clear();
            world.security_groups.clear();
        }
    });
    let outcome = outcome.and_then(|()| match action.as_str() {
        "DescribeRegions" => Ok(describe_regions(&world)),
        "DescribeInstances" => describe_instances(&world, &params),
        "DescribeInstanceConnectEndpoints" => describe_endpoints(&world, &params),
        "DescribeSecurityGroups" => describe_security_groups(&world, &params),
        "GetConsoleOutput" => get_console_output(&world, &params, state),
        other => Err(Denial::new(
            400,
            "InvalidAction",
            format!("The action {other} is not valid for this web service."),
        )),
    });
    state.events.record(
        "api_call",
        json!({"service": "ec2", "action": action, "ok": outcome.is_ok(),
               "peer": crate::reply::peer_of(parts),
               "code": outcome.as_ref().err().map(|d| d.code.clone())}),
    );
    match outcome {
        Ok(xml) => reply(StatusCode::OK, "text/xml;charset=UTF-8", xml.into_bytes()),
        Err(d) => error_reply(&d),
    }
}

fn authorize(
    parts: &http::request::Parts,
    body: &Bytes,
    world: &World,
    action: &str,
) -> Result<crate::auth::Caller, Denial> {
    let resource = format!("arn:aws:ec2:{}:{}:*", world.region, world.account);
    let iam_action = format!("ec2:{action}");
    authenticate_request(world, Api::Ec2, "ec2", parts, body, &iam_action, &resource)
}

fn error_reply(d: &Denial) -> Reply {
    let xml = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Response><Errors><Error><Code>{}</Code><Message>{}</Message></Error></Errors><RequestID>{}</RequestID></Response>",
        esc(&d.code),
        esc(&d.message),
        request_id()
    );
    reply(
        StatusCode::from_u16(d.status).unwrap_or(StatusCode::BAD_REQUEST),
        "text/xml;charset=UTF-8",
        xml.into_bytes(),
    )
}

/// DescribeRegions: the account's enabled regions, each with its endpoint.
fn describe_regions(world: &World) -> String {
    let mut regions: Vec<&str> = std::iter::once(world.region.as_str())
        .chain(world.empty_regions.iter().map(String::as_str))
        .collect();
    regions.sort_unstable();
    let items: String = regions
        .iter()
        .map(|r| format!("<item><regionName>{}</regionName><regionEndpoint>ec2.{}.amazonaws.com</regionEndpoint><optInStatus>opt-in-not-required</optInStatus></item>", esc(r), esc(r)))
        .collect();
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<DescribeRegionsResponse xmlns=\"{NS}\"><requestId>{}</requestId><regionInfo>{items}</regionInfo></DescribeRegionsResponse>",
        request_id()
    )
}

/// Values of `Prefix.1`, `Prefix.2`, …
fn numbered(params: &BTreeMap<String, String>, prefix: &str) -> Vec<String> {
    (1..)
        .map_while(|i| params.get(&format!("{prefix}.{i}")).cloned())
        .collect()
}

/// `Filter.N.Name` → values.
fn filters(params: &BTreeMap<String, String>) -> Vec<(String, Vec<String>)> {
    (1..)
        .map_while(|i| {
            let name = params.get(&format!("Filter.{i}.Name"))?;
            Some((name.clone(), numbered(params, &format!("Filter.{i}.Value"))))
        })
        .collect()
}

fn matches(filters: &[(String, Vec<String>)], field: impl Fn(&str) -> Option<String>) -> bool {
    filters
        .iter()
        .all(|(name, values)| field(name).is_some_and(|v| values.contains(&v)))
}

fn describe_instances(world: &World, params: &BTreeMap<String, String>) -> Result<String, Denial> {
    let ids = numbered(params, "InstanceId");
    for id in &ids {
        let hex = id.strip_prefix("i-").unwrap_or_default();
        if !matches!(hex.len(), 8 | 17) || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(Denial::new(
                400,
                "InvalidInstanceID.Malformed",
                format!("Invalid id: \"{id}\""),
            ));
        }
        if world.instance(id).is_none() {
            return Err(Denial::new(
                400,
                "InvalidInstanceID.NotFound",
                format!("The instance ID '{id}' does not exist"),
            ));
        }
    }
    let filters = filters(params);
    // As in EC2: MaxResults (5-1000) pages the reservations, and cannot go with ids.
    let max: usize = match params.get("MaxResults") {
        None => usize::MAX,
        Some(_) if !ids.is_empty() => {
            return Err(Denial::new(
                400,
                "InvalidParameterCombination",
                "The parameter instancesSet cannot be used with the parameter maxResults",
            ));
        }
        Some(m) => match m.parse::<usize>() {
            Ok(n) if (5..=1000).contains(&n) => n,
            _ => {
                return Err(Denial::new(
                    400,
                    "InvalidParameterValue",
                    format!(
                        "Value ( {m} ) for parameter maxResults is invalid. Expecting a value between 5 and 1000."
                    ),
                ));
            }
        },
    };
    let start = page_start(params)?;
    // As in EC2, a page is MaxResults reservations read, then filtered: a filtered page
    // may hold fewer (or none) and still carry a NextToken.
    let scanned: Vec<&Instance> = world
        .instances
        .iter()
        .filter(|i| ids.is_empty() || ids.contains(&i.id))
        .collect();
    let next = if start.saturating_add(max) < scanned.len() {
        format!("<nextToken>page-{}</nextToken>", start + max)
    } else {
        String::new()
    };
    let selected: Vec<&Instance> = scanned
        .into_iter()
        .skip(start)
        .take(max)
        .filter(|i| {
            matches(&filters, |name| match name {
                "instance-id" => Some(i.id.clone()),
                "tag:Name" => i.name.clone(),
                "instance-state-name" => Some(i.state.clone()),
                "vpc-id" => (i.state != "terminated").then(|| i.vpc_id.clone()),
                _ => name
                    .strip_prefix("tag:")
                    .and_then(|key| i.tags.get(key).cloned()),
            })
        })
        .collect();
    let items: String = selected
        .iter()
        .map(|i| format!("<item><reservationId>r-{}</reservationId><ownerId>{}</ownerId><groupSet/><instancesSet>{}</instancesSet></item>", &i.id[2..], world.account, instance_xml(world, i)))
        .collect();
    Ok(format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<DescribeInstancesResponse xmlns=\"{NS}\"><requestId>{}</requestId><reservationSet>{items}</reservationSet>{next}</DescribeInstancesResponse>",
        request_id()
    ))
}

/// Where a page starts: `NextToken` is `page-N`, as this emulator hands them out.
fn page_start(params: &BTreeMap<String, String>) -> Result<usize, Denial> {
    match params.get("NextToken") {
        None => Ok(0),
        Some(t) => t
            .strip_prefix("page-")
            .and_then(|n| n.parse().ok())
            .ok_or_else(|| {
                Denial::new(
                    400,
                    "InvalidNextToken",
                    "The provided NextToken is not valid.",
                )
            }),
    }
}

fn instance_xml(world: &World, i: &Instance) -> String {
    let code = match i.state.as_str() {
        "pending" => 0,
        "running" => 16,
        "shutting-down" => 32,
        "terminated" => 48,
        "stopping" => 64,
        _ => 80,
    };
    let opt = |tag: &str, v: &Option<String>| {
        v.as_ref()
            .map(|v| format!("<{tag}>{}</{tag}>", esc(v)))
            .unwrap_or_default()
    };
    let groups: String = i
        .security_groups
        .iter()
        .map(|g| {
            let name = world
                .security_group(g)
                .map(|s| s.name.clone())
                .unwrap_or_default();
            format!(
                "<item><groupId>{}</groupId><groupName>{}</groupName></item>",
                esc(g),
                esc(&name)
            )
        })
        .collect();
    let tags: String = i
        .name
        .iter()
        .map(|n| ("Name", n.as_str()))
        .chain(i.tags.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .map(|(k, v)| {
            format!(
                "<item><key>{}</key><value>{}</value></item>",
                esc(k),
                esc(v)
            )
        })
        .collect();
    let tags = if tags.is_empty() {
        String::new()
    } else {
        format!("<tagSet>{tags}</tagSet>")
    };
    let ipv6_set = i
        .ipv6
        .as_ref()
        .map(|v| {
            format!(
                "<ipv6AddressesSet><item><ipv6Address>{}</ipv6Address></item></ipv6AddressesSet>",
                esc(v)
            )
        })
        .unwrap_or_default();
    // A terminated instance has released its network interface: no subnet, VPC or
    // interfaces are reported for it (nor addresses or groups, which `World::terminate`
    // cleared).
    let network = if i.state == "terminated" {
        String::new()
    } else {
        format!(
            "<subnetId>{}</subnetId><vpcId>{}</vpcId>",
            esc(&i.subnet_id),
            esc(&i.vpc_id)
        )
    };
    let interfaces = if i.state == "terminated" {
        String::new()
    } else {
        format!(
            "<item><networkInterfaceId>eni-{}</networkInterfaceId>{ipv6_set}</item>",
            &i.id[2..]
        )
    };
    format!(
        "<item><instanceId>{id}</instanceId><imageId>ami-0sim</imageId><instanceState><code>{code}</code><name>{state}</name></instanceState><instanceType>t3.micro</instanceType><placement><availabilityZone>{az}</availabilityZone><tenancy>default</tenancy></placement>{network}{ip}{ipv6}<groupSet>{groups}</groupSet><networkInterfaceSet>{interfaces}</networkInterfaceSet>{tags}</item>",
        id = esc(&i.id),
        state = esc(&i.state),
        az = esc(&i.availability_zone),
        ip = opt("privateIpAddress", &i.private_ip),
        ipv6 = opt("ipv6Address", &i.ipv6),
    )
}

fn describe_endpoints(world: &World, params: &BTreeMap<String, String>) -> Result<String, Denial> {
    let ids = numbered(params, "InstanceConnectEndpointId");
    for id in &ids {
        if world.endpoint(id).is_none() {
            return Err(Denial::new(
                400,
                "InvalidInstanceConnectEndpointId.NotFound",
                format!("The instanceConnectEndpoint ID '{id}' does not exist"),
            ));
        }
    }
    let filters = filters(params);
    let max: usize = match params.get("MaxResults") {
        None => 50,
        Some(m) => match m.parse::<usize>() {
            Ok(n) if (1..=50).contains(&n) => n,
            _ => {
                return Err(Denial::new(
                    400,
                    "InvalidParameterValue",
                    format!("MaxResults must be between 1 and 50, not {m}"),
                ));
            }
        },
    };
    let start = page_start(params)?;
    let selected: Vec<&Endpoint> = world
        .endpoints
        .iter()
        .filter(|e| ids.is_empty() || ids.contains(&e.id))
        .filter(|e| {
            matches(&filters, |name| match name {
                "vpc-id" => Some(e.vpc_id.clone()),
                "state" => Some(e.state.clone()),
                "subnet-id" => Some(e.subnet_id.clone()),
                "instance-connect-endpoint-id" => Some(e.id.clone()),
                _ => None,
            })
        })
        .collect();
    let page: String = selected
        .iter()
        .skip(start)
        .take(max)
        .map(|e| endpoint_xml(world, e))
        .collect();
    let next = if start + max < selected.len() {
        format!("<nextToken>page-{}</nextToken>", start + max)
    } else {
        String::new()
    };
    Ok(format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<DescribeInstanceConnectEndpointsResponse xmlns=\"{NS}\"><requestId>{}</requestId><instanceConnectEndpointSet>{page}</instanceConnectEndpointSet>{next}</DescribeInstanceConnectEndpointsResponse>",
        request_id()
    ))
}

fn endpoint_xml(world: &World, e: &Endpoint) -> String {
    let groups: String = e
        .security_groups
        .iter()
        .map(|g| format!("<item>{}</item>", esc(g)))
        .collect();
    format!(
        "<item><ownerId>{acct}</ownerId><instanceConnectEndpointId>{id}</instanceConnectEndpointId><instanceConnectEndpointArn>arn:aws:ec2:{region}:{acct}:instance-connect-endpoint/{id}</instanceConnectEndpointArn><state>{state}</state><stateMessage/><dnsName>{dns}</dnsName><fipsDnsName>{fips}</fipsDnsName><networkInterfaceIdSet><item>eni-{id}</item></networkInterfaceIdSet><vpcId>{vpc}</vpcId><availabilityZone>{az}</availabilityZone><createdAt>2024-01-01T00:00:00.000Z</createdAt><subnetId>{subnet}</subnetId><preserveClientIp>{preserve}</preserveClientIp><securityGroupIdSet>{groups}</securityGroupIdSet><ipAddressType>{family}</ipAddressType>{public}</item>",
        acct = world.account,
        id = esc(&e.id),
        region = world.region,
        state = esc(&e.state),
        dns = world.dns_name(&e.id),
        fips = world.fips_dns_name(&e.id),
        vpc = esc(&e.vpc_id),
        az = esc(&e.availability_zone),
        subnet = esc(&e.subnet_id),
        preserve = e.preserve_client_ip,
        family = esc(&e.ip_address_type),
        public = public_dns_names_xml(world, e),
    )
}

/// `<publicDnsNames>` with the `<ipv4>` and `<dualstack>` names the endpoint has (none
/// when a test forged its DNS name: the forged one is all it reports).
fn public_dns_names_xml(world: &World, e: &Endpoint) -> String {
    if e.forged_dns_name.is_some() {
        return String::new();
    }
    let names = world.public_dns_names(e);
    let pair = |tag: &str, names: &Option<(String, String)>| {
        names
            .as_ref()
            .map(|(plain, fips)| {
                format!(
                    "<{tag}><dnsName>{}</dnsName><fipsDnsName>{}</fipsDnsName></{tag}>",
                    esc(plain),
                    esc(fips)
                )
            })
            .unwrap_or_default()
    };
    format!(
        "<publicDnsNames>{}{}</publicDnsNames>",
        pair("ipv4", &names.ipv4),
        pair("dualstack", &names.dualstack)
    )
}

/// The boot log, with the `SSH HOST KEY KEYS` block cloud-init prints.
fn get_console_output(
    world: &World,
    params: &BTreeMap<String, String>,
    state: &crate::State,
) -> Result<String, Denial> {
    use base64::Engine;
    let id = params.get("InstanceId").cloned().unwrap_or_default();
    let instance = world.instance(&id).ok_or_else(|| {
        Denial::new(
            400,
            "InvalidInstanceID.NotFound",
            format!("The instance ID '{id}' does not exist"),
        )
    })?;
    let keys: Vec<String> = match &instance.console_host_keys {
        Some(keys) => keys.clone(),
        None => state
            .sshd
            .iter()
            .map(|s| s.host_public_key.clone())
            .collect(),
    };
    let mut log = String::from(
        "[    0.000000] Linux version 6.1.0-sim (eic-sim)\n[    2.345678] cloud-init[512]: Cloud-init v. 23.1 running 'modules:final'\n",
    );
    if !keys.is_empty() {
        log.push_str("-----BEGIN SSH HOST KEY KEYS-----\n");
        for key in &keys {
            let mut parts = key.split_whitespace();
            let (kind, blob) = (
                parts.next().unwrap_or_default(),
                parts.next().unwrap_or_default(),
            );
            log.push_str(&format!("{kind} {blob} root@ip-10-0-1-5\n"));
        }
        log.push_str("-----END SSH HOST KEY KEYS-----\n");
    }
    log.push_str("[   12.000000] cloud-init[512]: Cloud-init v. 23.1 finished\n");
    let encoded = base64::engine::general_purpose::STANDARD.encode(log);
    Ok(format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<GetConsoleOutputResponse xmlns=\"{NS}\"><requestId>{}</requestId><instanceId>{}</instanceId><timestamp>2026-01-01T00:00:00.000Z</timestamp><output>{encoded}</output></GetConsoleOutputResponse>",
        request_id(),
        esc(&id)
    ))
}

fn describe_security_groups(
    world: &World,
    params: &BTreeMap<String, String>,
) -> Result<String, Denial> {
    let ids = numbered(params, "GroupId");
    for id in &ids {
        if world.security_group(id).is_none() {
            return Err(Denial::new(
                400,
                "InvalidGroup.NotFound",
                format!("The security group '{id}' does not exist"),
            ));
        }
    }
    let items: String = world
        .security_groups
        .iter()
        .filter(|g| ids.is_empty() || ids.contains(&g.id))
        .map(|g| group_xml(world, g))
        .collect();
    Ok(format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<DescribeSecurityGroupsResponse xmlns=\"{NS}\"><requestId>{}</requestId><securityGroupInfo>{items}</securityGroupInfo></DescribeSecurityGroupsResponse>",
        request_id()
    ))
}

fn group_xml(world: &World, g: &SecurityGroup) -> String {
    let rules = |rules: &[crate::world::Rule]| -> String {
        rules
            .iter()
            .map(|r| {
                let (v4, v6): (Vec<&String>, Vec<&String>) = r.cidrs.iter().partition(|c| !c.contains(':'));
                let v4: String = v4.iter().map(|c| format!("<item><cidrIp>{}</cidrIp></item>", esc(c))).collect();
                let v6: String = v6.iter().map(|c| format!("<item><cidrIpv6>{}</cidrIpv6></item>", esc(c))).collect();
                let groups: String = r
                    .groups
                    .iter()
                    .map(|gid| format!("<item><userId>{}</userId><groupId>{}</groupId></item>", world.account, esc(gid)))
                    .collect();
                format!(
                    "<item><ipProtocol>tcp</ipProtocol><fromPort>{}</fromPort><toPort>{}</toPort><groups>{groups}</groups><ipRanges>{v4}</ipRanges><ipv6Ranges>{v6}</ipv6Ranges><prefixListIds/></item>",
                    r.from_port, r.to_port
                )
            })
            .collect()
    };
    let egress = match &g.outbound {
        Some(r) => rules(r),
        None => "<item><ipProtocol>-1</ipProtocol><groups/><ipRanges><item><cidrIp>0.0.0.0/0</cidrIp></item></ipRanges><ipv6Ranges/><prefixListIds/></item>".into(),
    };
    format!(
        "<item><ownerId>{}</ownerId><groupId>{}</groupId><groupName>{}</groupName><groupDescription>{}</groupDescription><vpcId>{}</vpcId><ipPermissions>{}</ipPermissions><ipPermissionsEgress>{egress}</ipPermissionsEgress></item>",
        world.account,
        esc(&g.id),
        esc(&g.name),
        esc(&g.name),
        esc(&g.vpc_id),
        rules(&g.inbound)
    )
}
