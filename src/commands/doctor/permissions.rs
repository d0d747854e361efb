//! OpenTunnel and SendSSHPublicKey, asked of IAM's policy simulator for the caller (an
//! assumed role's own ARN from GetRole), on the endpoint and the instance with the
//! condition keys the service sets; where the simulator cannot be asked, the line to run.

use crate::aws::AwsContext;
use crate::aws::ec2::{Endpoint, Instance};
use crate::aws::endpoints;
use crate::aws::error::AwsError;
use crate::aws::iam::{self, ContextKey, Principal, Question};
use crate::error::Failure;

use super::checks::{Missing, Permission};

/// What the connect path would send, which IAM's conditions may test.
pub struct Request<'a> {
    /// The OS user a key is pushed for (`ec2:osuser`).
    pub user: Option<&'a str>,
    /// The port (`ec2-instance-connect:remotePort`).
    pub port: u16,
    /// `--max-tunnel-duration` (`ec2-instance-connect:maxTunnelDuration`), when given.
    pub max_tunnel_duration: Option<u32>,
    /// This network's public address (`aws:SourceIp`), when known.
    pub source_ip: Option<std::net::IpAddr>,
}

/// The two permissions, each with IAM's answer or why there is none.
pub async fn simulate(
    aws: &AwsContext,
    instance: &Instance,
    endpoint: &Endpoint,
    request: &Request<'_>,
) -> Vec<Permission> {
    let caller = iam::caller(aws).await;
    let account = caller.as_ref().map_or("ACCOUNT", |c| c.account.as_str());
    let mut asked = questions(aws, instance, endpoint, request, account);
    let caller = match caller {
        Ok(c) => c,
        Err(e) => {
            let why = Missing::NoAnswer(format!(
                "cannot tell whom the credentials belong to: {}",
                Failure::from(e).message
            ));
            for p in &mut asked {
                p.0.answer = Err(why.clone());
            }
            return asked.into_iter().map(|(p, _)| p).collect();
        }
    };
    let (principal, grantee, guessed) = match iam::principal_of(&caller.arn) {
        Principal::User { arn, name } => (arn, Some(("user", name)), None),
        Principal::Role { name, guess } => match iam::role_arn(aws, &name).await {
            Ok(arn) => (arn, Some(("role", name)), None),
            Err(e) => (
                guess,
                Some(("role", name.clone())),
                Some(format!(
                    "the ARN of role {name} is unknown (its path, if any, is missing: {}); `aws iam get-role --role-name {name}` gives it",
                    Failure::from(e).message
                )),
            ),
        },
        Principal::Other(arn) => {
            let why = Missing::NoAnswer(format!(
                "{arn} is not an IAM user or role, so the policy simulator cannot be asked"
            ));
            for p in &mut asked {
                p.0.answer = Err(why.clone());
            }
            return asked.into_iter().map(|(p, _)| p).collect();
        }
    };
    let mut out = Vec::new();
    for (mut p, q) in asked {
        p.grantee = grantee.clone();
        p.by_hand = Some(iam::by_hand(&principal, &q));
        p.answer = match iam::simulate(aws, &principal, &q).await {
            Ok(a) => Ok((a.decision, a.missing_context)),
            Err(e) => Err(Missing::NoAnswer(unanswered(e, guessed.as_deref()))),
        };
        out.push(p);
    }
    out
}

/// Why the simulator gave no decision, in one clause.
fn unanswered(e: AwsError, guessed: Option<&str>) -> String {
    match (&e, guessed) {
        (AwsError::Service { code, .. }, _) if code == "AccessDenied" => {
            "the credentials may not call iam:SimulatePrincipalPolicy".to_string()
        }
        (AwsError::Service { code, .. }, Some(guessed))
            if code == "NoSuchEntity" || code == "InvalidInput" =>
        {
            guessed.to_string()
        }
        _ => Failure::from(e).message,
    }
}

/// The questions (with their facts, answers still unknown): OpenTunnel on the endpoint
/// for the port and the private IP, SendSSHPublicKey on the instance for the user.
fn questions(
    aws: &AwsContext,
    instance: &Instance,
    endpoint: &Endpoint,
    request: &Request<'_>,
    account: &str,
) -> Vec<(Permission, Question)> {
    let (user, port) = (request.user, request.port);
    // Keys every request carries, which a policy may test but a grant need not.
    let source: Vec<ContextKey> = request
        .source_ip
        .map(|ip| ContextKey {
            name: "aws:SourceIp",
            kind: "ip",
            value: ip.to_string(),
        })
        .into_iter()
        .collect();
    let partition = endpoints::partition(&aws.region).id;
    let region = &aws.region;
    let arn = |kind: &str, id: &str| format!("arn:{partition}:ec2:{region}:{account}:{kind}/{id}");
    let mut tunnel = vec![ContextKey {
        name: "ec2-instance-connect:remotePort",
        kind: "numeric",
        value: port.to_string(),
    }];
    let mut conditions = vec![(
        "ec2-instance-connect:remotePort",
        "NumericEquals",
        port.to_string(),
    )];
    let target = instance.private_ip.as_deref().or(instance.ipv6.as_deref());
    if let Some(ip) = target {
        tunnel.push(ContextKey {
            name: "ec2-instance-connect:privateIpAddress",
            kind: "ip",
            value: ip.to_string(),
        });
        conditions.push((
            "ec2-instance-connect:privateIpAddress",
            "IpAddress",
            ip.to_string(),
        ));
    }
    if let Some(seconds) = request.max_tunnel_duration {
        tunnel.push(ContextKey {
            name: "ec2-instance-connect:maxTunnelDuration",
            kind: "numeric",
            value: seconds.to_string(),
        });
    }
    tunnel.extend(source.iter().cloned());
    let open = Question {
        action: "ec2-instance-connect:OpenTunnel",
        resource: arn("instance-connect-endpoint", &endpoint.id),
        context: tunnel,
    };
    let push = Question {
        action: "ec2-instance-connect:SendSSHPublicKey",
        resource: arn("instance", &instance.id),
        context: user
            .map(|u| ContextKey {
                name: "ec2:osuser",
                kind: "string",
                value: u.to_string(),
            })
            .into_iter()
            .chain(source)
            .collect(),
    };
    let unasked = || Err(Missing::NoAnswer("not asked".into()));
    vec![
        (
            Permission {
                check: "open-tunnel",
                action: open.action,
                on: format!(
                    "{} for port {port}{}",
                    endpoint.id,
                    target.map_or(String::new(), |ip| format!(" to {ip}"))
                ),
                resource: open.resource.clone(),
                conditions,
                grantee: None,
                answer: unasked(),
                by_hand: None,
            },
            open,
        ),
        (
            Permission {
                check: "send-ssh-public-key",
                action: push.action,
                on: match user {
                    Some(u) => format!("{} as {u}", instance.id),
                    None => format!("{} (no user given)", instance.id),
                },
                resource: push.resource.clone(),
                conditions: user
                    .map(|u| ("ec2:osuser", "StringEquals", u.to_string()))
                    .into_iter()
                    .collect(),
                grantee: None,
                answer: unasked(),
                by_hand: None,
            },
            push,
        ),
    ]
}
