//! The EC2 Query API calls eic-ssh needs (read-only), and their XML.

use roxmltree::{Document, Node};

use super::client::{ApiCall, send};
use super::context::AwsContext;
use super::error::{AwsError, one_line};

const VERSION: &str = "2016-11-15";

/// What eic-ssh needs to know about an instance.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct Instance {
    /// `i-…`.
    pub id: String,
    /// `running`, `stopped`, …
    pub state: String,
    /// `None` for EC2-Classic leftovers or instances still being placed.
    pub vpc_id: Option<String>,
    /// Subnet of the primary interface.
    pub subnet_id: Option<String>,
    /// Primary private IPv4.
    pub private_ip: Option<String>,
    /// Primary IPv6, or the first IPv6 of any interface.
    pub ipv6: Option<String>,
    /// Availability zone.
    pub availability_zone: Option<String>,
    /// The `Name` tag.
    pub name: Option<String>,
    /// Security groups of the instance.
    pub security_groups: Vec<String>,
    /// Every tag, `Name` included (`eic-ssh inventory` groups by them).
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub tags: std::collections::BTreeMap<String, String>,
}

/// An EC2 Instance Connect Endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct Endpoint {
    /// `eice-…`.
    pub id: String,
    /// `create-complete`, …
    pub state: String,
    /// VPC it serves.
    pub vpc_id: String,
    /// Subnet its interface is in.
    pub subnet_id: String,
    /// `eice-….ec2-instance-connect-endpoint.REGION.amazonaws.com`.
    pub dns_name: String,
    /// The FIPS name, where the partition has one.
    pub fips_dns_name: Option<String>,
    /// Whether the instance sees the client's public IP.
    pub preserve_client_ip: bool,
    /// The endpoint's security groups.
    pub security_groups: Vec<String>,
    /// `ipv4`, `dualstack` or `ipv6`; `None` when the API did not say (older answers: ipv4).
    #[serde(default)]
    pub ip_address_type: Option<String>,
    /// The IPv4-only and dual-stack names (`PublicDnsNames`), when the API gave them.
    #[serde(default)]
    pub public_dns_names: PublicDnsNames,
}

impl Endpoint {
    /// Whether the endpoint is `ipv6` only: no IPv4 client reaches it.
    pub fn ipv6_only(&self) -> bool {
        self.ip_address_type.as_deref() == Some("ipv6")
    }

    /// The `IpAddressType`, `ipv4` when the API did not say.
    pub fn ip_address_type(&self) -> &str {
        self.ip_address_type.as_deref().unwrap_or("ipv4")
    }
}

/// An endpoint's `PublicDnsNames`.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct PublicDnsNames {
    /// The IPv4-only name and its FIPS variant.
    pub ipv4: Option<DnsNames>,
    /// The dual-stack name (IPv4 and IPv6 clients) and its FIPS variant.
    pub dualstack: Option<DnsNames>,
}

/// One name of an endpoint and its FIPS variant.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct DnsNames {
    /// The name.
    pub dns_name: Option<String>,
    /// The FIPS name, where the partition has one.
    pub fips_dns_name: Option<String>,
}

/// A security group and its rules.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SecurityGroup {
    /// `sg-…`.
    pub id: String,
    /// Group name.
    pub name: String,
    /// Inbound rules.
    pub inbound: Vec<Permission>,
    /// Outbound rules.
    pub outbound: Vec<Permission>,
}

/// One rule of a security group.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Permission {
    /// `tcp`, `udp`, `icmp`, or `-1` for all traffic.
    pub protocol: String,
    /// First port (absent for all traffic).
    pub from_port: Option<i32>,
    /// Last port.
    pub to_port: Option<i32>,
    /// IPv4 and IPv6 CIDRs.
    pub cidrs: Vec<String>,
    /// Referenced security groups.
    pub groups: Vec<String>,
}

impl Permission {
    /// Whether this rule covers TCP `port`.
    pub fn covers_tcp(&self, port: u16) -> bool {
        let port = i32::from(port);
        match self.protocol.as_str() {
            "-1" | "all" => true,
            "tcp" | "6" => {
                self.from_port.is_none_or(|f| f == -1 || f <= port)
                    && self.to_port.is_none_or(|t| t == -1 || port <= t)
            }
            _ => false,
        }
    }
}

/// DescribeSecurityGroups for some ids.
pub async fn describe_security_groups(
    ctx: &AwsContext,
    ids: &[String],
) -> Result<Vec<SecurityGroup>, AwsError> {
    const ACTION: &str = "DescribeSecurityGroups";
    let keys: Vec<String> = (1..=ids.len()).map(|i| format!("GroupId.{i}")).collect();
    let params: Vec<(&str, &str)> = keys
        .iter()
        .map(String::as_str)
        .zip(ids.iter().map(String::as_str))
        .collect();
    let body = query(ctx, ACTION, &params).await?;
    parse_security_groups(&body).map_err(|reason| malformed(ACTION, reason))
}

/// Groups of a DescribeSecurityGroups response.
pub fn parse_security_groups(xml: &str) -> Result<Vec<SecurityGroup>, String> {
    let doc = Document::parse(xml).map_err(|e| format!("bad XML: {e}"))?;
    let root = doc.root_element();
    let permissions = |group: Node, tag: &str| -> Vec<Permission> {
        child(group, tag)
            .into_iter()
            .flat_map(|set| children(set, "item"))
            .map(|p| {
                let mut cidrs: Vec<String> = child(p, "ipRanges")
                    .into_iter()
                    .flat_map(|r| children(r, "item"))
                    .filter_map(|r| text_of(r, "cidrIp"))
                    .collect();
                cidrs.extend(
                    child(p, "ipv6Ranges")
                        .into_iter()
                        .flat_map(|r| children(r, "item"))
                        .filter_map(|r| text_of(r, "cidrIpv6")),
                );
                Permission {
                    protocol: text_of(p, "ipProtocol").unwrap_or_default(),
                    from_port: text_of(p, "fromPort").and_then(|v| v.parse().ok()),
                    to_port: text_of(p, "toPort").and_then(|v| v.parse().ok()),
                    cidrs,
                    groups: child(p, "groups")
                        .into_iter()
                        .flat_map(|g| children(g, "item"))
                        .filter_map(|g| text_of(g, "groupId"))
                        .collect(),
                }
            })
            .collect()
    };
    Ok(child(root, "securityGroupInfo")
        .into_iter()
        .flat_map(|set| children(set, "item"))
        .map(|g| SecurityGroup {
            id: text_of(g, "groupId").unwrap_or_default(),
            name: text_of(g, "groupName").unwrap_or_default(),
            inbound: permissions(g, "ipPermissions"),
            outbound: permissions(g, "ipPermissionsEgress"),
        })
        .collect())
}

/// GetConsoleOutput: the instance's console log, decoded (empty when there is none yet).
pub async fn get_console_output(ctx: &AwsContext, id: &str) -> Result<String, AwsError> {
    const ACTION: &str = "GetConsoleOutput";
    let body = query(ctx, ACTION, &[("InstanceId", id)]).await?;
    let doc = Document::parse(&body).map_err(|e| malformed(ACTION, format!("bad XML: {e}")))?;
    let encoded = text_of(doc.root_element(), "output").unwrap_or_default();
    let bytes = data_encoding::BASE64_MIME
        .decode(encoded.as_bytes())
        .map_err(|e| malformed(ACTION, format!("the output is not base64: {e}")))?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// Instances whose Name tag is `name` (not terminated), every page.
pub async fn find_instances_by_name(
    ctx: &AwsContext,
    name: &str,
) -> Result<Vec<Instance>, AwsError> {
    let states = ["pending", "running", "stopping", "stopped"];
    describe_instances(
        ctx,
        &[
            ("tag:Name".into(), vec![name.into()]),
            (
                "instance-state-name".into(),
                states.iter().map(|s| s.to_string()).collect(),
            ),
        ],
    )
    .await
}

/// One `Filter.N` of a Describe call: a name (`tag:KEY`, `vpc-id`, …) and its values.
pub type Filter = (String, Vec<String>);

/// DescribeInstances with filters, every page.
pub async fn describe_instances(
    ctx: &AwsContext,
    filters: &[Filter],
) -> Result<Vec<Instance>, AwsError> {
    const ACTION: &str = "DescribeInstances";
    let mut params = filter_params(filters);
    params.push(("MaxResults".into(), "1000".into()));
    let mut found = Vec::new();
    paged(ctx, ACTION, params, |body| {
        let (page, token) = parse_instances_page(body)?;
        found.extend(page);
        Ok(token)
    })
    .await?;
    Ok(found)
}

/// `Filter.N.Name` and `Filter.N.Value.M` parameters.
fn filter_params(filters: &[Filter]) -> Vec<(String, String)> {
    let mut params = Vec::new();
    for (i, (name, values)) in filters.iter().enumerate() {
        params.push((format!("Filter.{}.Name", i + 1), name.clone()));
        for (j, value) in values.iter().enumerate() {
            params.push((format!("Filter.{}.Value.{}", i + 1, j + 1), value.clone()));
        }
    }
    params
}

/// DescribeRegions: the regions enabled for the account, sorted.
pub async fn describe_regions(ctx: &AwsContext) -> Result<Vec<String>, AwsError> {
    const ACTION: &str = "DescribeRegions";
    let body = query(ctx, ACTION, &[]).await?;
    let doc = Document::parse(&body).map_err(|e| malformed(ACTION, format!("bad XML: {e}")))?;
    let mut regions: Vec<String> = doc
        .descendants()
        .filter(|n| n.has_tag_name("item"))
        .filter_map(|item| text_of(item, "regionName"))
        .collect();
    regions.sort();
    Ok(regions)
}

/// Sends `params`, then again with each `NextToken` that `read` returns, until there is none.
async fn paged(
    ctx: &AwsContext,
    action: &str,
    params: Vec<(String, String)>,
    mut read: impl FnMut(&str) -> Result<Option<String>, String>,
) -> Result<(), AwsError> {
    let mut next: Option<String> = None;
    loop {
        let mut pairs: Vec<(&str, &str)> = params
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        if let Some(token) = &next {
            pairs.push(("NextToken", token));
        }
        let body = query(ctx, action, &pairs).await?;
        match read(&body).map_err(|reason| malformed(action, reason))? {
            Some(token) => next = Some(token),
            None => return Ok(()),
        }
    }
}

/// Endpoint states that can open tunnels (docs/protocol.md, "Discovery").
pub const USABLE_STATES: &[&str] = &[
    "create-complete",
    "update-in-progress",
    "update-failed",
    "update-complete",
];

/// DescribeInstances for one id.
pub async fn describe_instance(ctx: &AwsContext, id: &str) -> Result<Option<Instance>, AwsError> {
    let body = query(ctx, "DescribeInstances", &[("InstanceId.1", id)]).await?;
    let instances =
        parse_instances(&body).map_err(|reason| malformed("DescribeInstances", reason))?;
    Ok(instances.into_iter().find(|i| i.id == id))
}

/// DescribeInstanceConnectEndpoints: one id, or the usable ones in a VPC or the region (all pages).
pub async fn describe_endpoints(
    ctx: &AwsContext,
    by: EndpointFilter<'_>,
) -> Result<Vec<Endpoint>, AwsError> {
    const ACTION: &str = "DescribeInstanceConnectEndpoints";
    let usable = || {
        (
            "state".to_string(),
            USABLE_STATES.iter().map(|s| s.to_string()).collect(),
        )
    };
    let mut params = match by {
        // By id, so that an unknown id is an error rather than an empty answer.
        EndpointFilter::Id(id) => vec![("InstanceConnectEndpointId.1".into(), id.into())],
        EndpointFilter::Vpc(vpc) => filter_params(&[("vpc-id".into(), vec![vpc.into()]), usable()]),
        EndpointFilter::Usable => filter_params(&[usable()]),
    };
    if !matches!(by, EndpointFilter::Id(_)) {
        params.push(("MaxResults".into(), "50".into()));
    }
    let mut found = Vec::new();
    paged(ctx, ACTION, params, |body| {
        let (page, token) = parse_endpoints(body)?;
        found.extend(page);
        Ok(token.filter(|_| !matches!(by, EndpointFilter::Id(_))))
    })
    .await?;
    Ok(found)
}

/// Which endpoints to describe.
#[derive(Debug, Clone, Copy)]
pub enum EndpointFilter<'a> {
    /// Exactly this endpoint id.
    Id(&'a str),
    /// Usable endpoints in this VPC.
    Vpc(&'a str),
    /// Usable endpoints in the region.
    Usable,
}

fn malformed(action: &str, reason: String) -> AwsError {
    AwsError::Malformed {
        action: action.into(),
        reason,
    }
}

/// Sends an EC2 Query action; a non-2xx answer becomes [`AwsError::Service`].
async fn query(
    ctx: &AwsContext,
    action: &str,
    params: &[(&str, &str)],
) -> Result<String, AwsError> {
    // Built before the first await: the serializer is not `Send`.
    let body = {
        let mut form = form_urlencoded::Serializer::new(String::new());
        form.append_pair("Action", action)
            .append_pair("Version", VERSION);
        for (k, v) in params {
            form.append_pair(k, v);
        }
        form.finish().into_bytes()
    };
    let response = send(
        ctx,
        ApiCall {
            action,
            service: "ec2",
            url: &ctx.ec2_url,
            content_type: "application/x-www-form-urlencoded; charset=utf-8",
            target: None,
            body,
        },
    )
    .await?;
    let text = String::from_utf8_lossy(&response.body).into_owned();
    if (200..300).contains(&response.status) {
        return Ok(text);
    }
    let (code, message) = parse_error(&text).unwrap_or_else(|| {
        (
            format!("HTTP{}", response.status),
            one_line(&text).chars().take(200).collect(),
        )
    });
    Err(AwsError::Service {
        action: action.into(),
        status: response.status,
        code,
        message,
    })
}

/// `<Response><Errors><Error><Code>…</Code><Message>…</Message>`.
pub fn parse_error(xml: &str) -> Option<(String, String)> {
    let doc = Document::parse(xml).ok()?;
    let error = doc.descendants().find(|n| n.has_tag_name("Error"))?;
    let code = text_of(error, "Code")?;
    let message = text_of(error, "Message").unwrap_or_default();
    Some((crate::printable::escape(&code), one_line(&message)))
}

/// Instances of a DescribeInstances response.
pub fn parse_instances(xml: &str) -> Result<Vec<Instance>, String> {
    parse_instances_page(xml).map(|(instances, _)| instances)
}

/// Instances of a DescribeInstances response, and the token of the next page.
fn parse_instances_page(xml: &str) -> Result<(Vec<Instance>, Option<String>), String> {
    let doc = Document::parse(xml).map_err(|e| format!("bad XML: {e}"))?;
    let mut out = Vec::new();
    for set in doc.descendants().filter(|n| n.has_tag_name("instancesSet")) {
        for item in children(set, "item") {
            out.push(instance_from(item));
        }
    }
    let token = text_of(doc.root_element(), "nextToken").filter(|t| !t.is_empty());
    Ok((out, token))
}

fn instance_from(item: Node) -> Instance {
    let ipv6 = text_of(item, "ipv6Address").or_else(|| {
        child(item, "networkInterfaceSet")
            .into_iter()
            .flat_map(|set| children(set, "item"))
            .flat_map(|eni| child(eni, "ipv6AddressesSet"))
            .flat_map(|set| children(set, "item"))
            .find_map(|a| text_of(a, "ipv6Address"))
    });
    let tags: std::collections::BTreeMap<String, String> = child(item, "tagSet")
        .into_iter()
        .flat_map(|set| children(set, "item"))
        .filter_map(|tag| {
            Some((
                text_of(tag, "key")?,
                text_of(tag, "value").unwrap_or_default(),
            ))
        })
        .collect();
    let name = tags.get("Name").cloned();
    let security_groups = child(item, "groupSet")
        .into_iter()
        .flat_map(|set| children(set, "item"))
        .filter_map(|g| text_of(g, "groupId"))
        .collect();
    Instance {
        id: text_of(item, "instanceId").unwrap_or_default(),
        state: child(item, "instanceState")
            .and_then(|s| text_of(s, "name"))
            .unwrap_or_default(),
        vpc_id: text_of(item, "vpcId"),
        subnet_id: text_of(item, "subnetId"),
        private_ip: text_of(item, "privateIpAddress"),
        ipv6,
        availability_zone: child(item, "placement").and_then(|p| text_of(p, "availabilityZone")),
        name,
        security_groups,
        tags,
    }
}

/// Endpoints of one DescribeInstanceConnectEndpoints page, and the next token.
pub fn parse_endpoints(xml: &str) -> Result<(Vec<Endpoint>, Option<String>), String> {
    let doc = Document::parse(xml).map_err(|e| format!("bad XML: {e}"))?;
    let root = doc.root_element();
    let set = child(root, "instanceConnectEndpointSet");
    let endpoints = set
        .into_iter()
        .flat_map(|s| children(s, "item"))
        .map(|item| Endpoint {
            id: text_of(item, "instanceConnectEndpointId").unwrap_or_default(),
            state: text_of(item, "state").unwrap_or_default(),
            vpc_id: text_of(item, "vpcId").unwrap_or_default(),
            subnet_id: text_of(item, "subnetId").unwrap_or_default(),
            dns_name: text_of(item, "dnsName").unwrap_or_default(),
            fips_dns_name: text_of(item, "fipsDnsName"),
            preserve_client_ip: text_of(item, "preserveClientIp").as_deref() == Some("true"),
            security_groups: child(item, "securityGroupIdSet")
                .into_iter()
                .flat_map(|s| children(s, "item"))
                .filter_map(|n| n.text().map(|t| t.trim().to_string()))
                .collect(),
            ip_address_type: text_of(item, "ipAddressType"),
            public_dns_names: child(item, "publicDnsNames")
                .map(|names| {
                    let pair = |tag: &str| {
                        child(names, tag).map(|n| DnsNames {
                            dns_name: text_of(n, "dnsName"),
                            fips_dns_name: text_of(n, "fipsDnsName"),
                        })
                    };
                    PublicDnsNames {
                        ipv4: pair("ipv4"),
                        dualstack: pair("dualstack"),
                    }
                })
                .unwrap_or_default(),
        })
        .collect();
    Ok((endpoints, text_of(root, "nextToken")))
}

fn child<'a, 'i>(node: Node<'a, 'i>, name: &str) -> Option<Node<'a, 'i>> {
    node.children().find(|n| n.has_tag_name(name))
}

fn children<'a, 'i>(node: Node<'a, 'i>, name: &'a str) -> impl Iterator<Item = Node<'a, 'i>> + 'a {
    node.children().filter(move |n| n.has_tag_name(name))
}

fn text_of(node: Node, name: &str) -> Option<String> {
    child(node, name)
        .and_then(|n| n.text())
        .map(|t| t.trim().to_string())
        .filter(|t| !t.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    const INSTANCES: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<DescribeInstancesResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/">
  <requestId>r-1</requestId>
  <reservationSet><item><reservationId>r-0</reservationId>
    <groupSet/>
    <instancesSet><item>
      <instanceId>i-0123456789abcdef0</instanceId>
      <instanceState><code>16</code><name>running</name></instanceState>
      <placement><availabilityZone>us-east-1a</availabilityZone></placement>
      <subnetId>subnet-1</subnetId><vpcId>vpc-1</vpcId>
      <privateIpAddress>10.0.1.5</privateIpAddress>
      <groupSet><item><groupId>sg-1</groupId><groupName>web</groupName></item></groupSet>
      <networkInterfaceSet><item><ipv6AddressesSet><item><ipv6Address>2001:db8::5</ipv6Address></item></ipv6AddressesSet></item></networkInterfaceSet>
      <tagSet><item><key>env</key><value>dev</value></item><item><key>Name</key><value>bastion</value></item></tagSet>
    </item></instancesSet>
  </item></reservationSet>
</DescribeInstancesResponse>"#;

    #[test]
    fn instances_are_read() {
        let got = parse_instances(INSTANCES).unwrap();
        assert_eq!(
            got,
            vec![Instance {
                id: "i-0123456789abcdef0".into(),
                state: "running".into(),
                vpc_id: Some("vpc-1".into()),
                subnet_id: Some("subnet-1".into()),
                private_ip: Some("10.0.1.5".into()),
                ipv6: Some("2001:db8::5".into()),
                availability_zone: Some("us-east-1a".into()),
                name: Some("bastion".into()),
                security_groups: vec!["sg-1".into()],
                tags: [("Name", "bastion"), ("env", "dev")]
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .into(),
            }]
        );
    }

    #[test]
    fn endpoints_and_token_are_read() {
        let xml = r#"<DescribeInstanceConnectEndpointsResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/">
  <requestId>x</requestId>
  <instanceConnectEndpointSet><item>
    <instanceConnectEndpointId>eice-1</instanceConnectEndpointId><state>create-complete</state>
    <vpcId>vpc-1</vpcId><subnetId>subnet-1</subnetId><dnsName>eice-1.example</dnsName>
    <fipsDnsName>eice-1.fips.example</fipsDnsName><preserveClientIp>true</preserveClientIp>
    <securityGroupIdSet><item>sg-e</item></securityGroupIdSet>
  </item></instanceConnectEndpointSet>
  <nextToken>tok</nextToken>
</DescribeInstanceConnectEndpointsResponse>"#;
        let (eps, token) = parse_endpoints(xml).unwrap();
        assert_eq!(token.as_deref(), Some("tok"));
        assert_eq!(eps.len(), 1);
        assert!(eps[0].preserve_client_ip);
        assert_eq!(eps[0].fips_dns_name.as_deref(), Some("eice-1.fips.example"));
        assert_eq!(eps[0].security_groups, vec!["sg-e".to_string()]);
        assert_eq!(eps[0].ip_address_type(), "ipv4");
        assert_eq!(eps[0].public_dns_names, PublicDnsNames::default());
    }

    #[test]
    fn address_types_and_public_names_are_read() {
        let xml = r#"<DescribeInstanceConnectEndpointsResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/">
  <instanceConnectEndpointSet><item>
    <instanceConnectEndpointId>eice-1</instanceConnectEndpointId><state>create-complete</state>
    <dnsName>eice-1.v4</dnsName><fipsDnsName>eice-1.fips.v4</fipsDnsName>
    <ipAddressType>dualstack</ipAddressType>
    <publicDnsNames>
      <ipv4><dnsName>eice-1.v4</dnsName><fipsDnsName>eice-1.fips.v4</fipsDnsName></ipv4>
      <dualstack><dnsName>eice-1.ds</dnsName><fipsDnsName>eice-1.fips.ds</fipsDnsName></dualstack>
    </publicDnsNames>
  </item></instanceConnectEndpointSet>
</DescribeInstanceConnectEndpointsResponse>"#;
        let (eps, _) = parse_endpoints(xml).unwrap();
        let e = &eps[0];
        assert_eq!(e.ip_address_type(), "dualstack");
        assert!(!e.ipv6_only());
        let names = |n: &Option<DnsNames>| {
            n.as_ref().map(|n| {
                (
                    n.dns_name.clone().unwrap(),
                    n.fips_dns_name.clone().unwrap(),
                )
            })
        };
        assert_eq!(
            names(&e.public_dns_names.ipv4),
            Some(("eice-1.v4".into(), "eice-1.fips.v4".into()))
        );
        assert_eq!(
            names(&e.public_dns_names.dualstack),
            Some(("eice-1.ds".into(), "eice-1.fips.ds".into()))
        );
    }

    #[test]
    fn security_groups_are_read() {
        let xml = r#"<DescribeSecurityGroupsResponse><securityGroupInfo><item>
  <groupId>sg-1</groupId><groupName>web</groupName>
  <ipPermissions>
    <item><ipProtocol>tcp</ipProtocol><fromPort>22</fromPort><toPort>22</toPort>
      <groups><item><userId>1</userId><groupId>sg-e</groupId></item></groups>
      <ipRanges><item><cidrIp>203.0.113.0/24</cidrIp></item></ipRanges>
      <ipv6Ranges><item><cidrIpv6>2001:db8::/32</cidrIpv6></item></ipv6Ranges></item>
    <item><ipProtocol>udp</ipProtocol><fromPort>22</fromPort><toPort>22</toPort><groups/><ipRanges/></item>
  </ipPermissions>
  <ipPermissionsEgress><item><ipProtocol>-1</ipProtocol><ipRanges><item><cidrIp>0.0.0.0/0</cidrIp></item></ipRanges></item></ipPermissionsEgress>
</item></securityGroupInfo></DescribeSecurityGroupsResponse>"#;
        let groups = parse_security_groups(xml).unwrap();
        assert_eq!(groups.len(), 1);
        let g = &groups[0];
        assert_eq!(g.inbound[0].cidrs, ["203.0.113.0/24", "2001:db8::/32"]);
        assert_eq!(g.inbound[0].groups, ["sg-e"]);
        assert!(g.inbound[0].covers_tcp(22) && !g.inbound[0].covers_tcp(23));
        assert!(!g.inbound[1].covers_tcp(22));
        assert!(g.outbound[0].covers_tcp(3389));
    }

    #[test]
    fn errors_are_read() {
        let xml = "<Response><Errors><Error><Code>InvalidInstanceID.NotFound</Code><Message>The instance ID 'i-1' does not exist</Message></Error></Errors><RequestID>x</RequestID></Response>";
        assert_eq!(
            parse_error(xml),
            Some((
                "InvalidInstanceID.NotFound".into(),
                "The instance ID 'i-1' does not exist".into()
            ))
        );
    }
}
