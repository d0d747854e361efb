//! Who the credentials are (STS GetCallerIdentity) and what IAM's policy simulator says they
//! may do (SimulatePrincipalPolicy, GetRole for a role's real ARN): `doctor` only.

use roxmltree::Document;

use super::client::{ApiCall, send};
use super::context::AwsContext;
use super::endpoints::{self, Service, Variant};
use super::error::AwsError;

const IAM_VERSION: &str = "2010-05-08";
const STS_VERSION: &str = "2011-06-15";

/// The caller, as STS names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// `arn:aws:iam::ACCT:user/NAME`, `arn:aws:sts::ACCT:assumed-role/ROLE/SESSION`, …
    pub arn: String,
    /// The account id.
    pub account: String,
}

/// Whom to simulate for: the caller's IAM identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    /// An IAM user: its ARN is the caller's.
    User {
        /// `arn:PARTITION:iam::ACCT:user/PATH/NAME`.
        arn: String,
        /// The user's name (the ARN's last part).
        name: String,
    },
    /// A role the caller assumed (`assumed-role/ROLE/SESSION`): the role's ARN is not in the
    /// caller's, since the role's path is missing there.
    Role {
        /// The role's name.
        name: String,
        /// `arn:PARTITION:iam::ACCT:role/NAME`: the role's ARN when it has no path.
        guess: String,
    },
    /// Anything else (the root user, a federated user): not simulated.
    Other(String),
}

/// What the caller's ARN says about whom to simulate for.
pub fn principal_of(caller_arn: &str) -> Principal {
    let parts: Vec<&str> = caller_arn.splitn(6, ':').collect();
    let [_, partition, service, _, account, resource] = parts[..] else {
        return Principal::Other(caller_arn.to_string());
    };
    match (service, resource.split_once('/')) {
        ("iam", Some(("user", path_and_name))) => Principal::User {
            arn: caller_arn.to_string(),
            name: path_and_name
                .rsplit('/')
                .next()
                .unwrap_or_default()
                .to_string(),
        },
        ("sts", Some(("assumed-role", rest))) => match rest.split_once('/') {
            Some((role, _session)) if !role.is_empty() => Principal::Role {
                name: role.to_string(),
                guess: format!("arn:{partition}:iam::{account}:role/{role}"),
            },
            _ => Principal::Other(caller_arn.to_string()),
        },
        _ => Principal::Other(caller_arn.to_string()),
    }
}

/// One context key of a simulation (`ContextEntries`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContextKey {
    /// `ec2-instance-connect:remotePort`, …
    pub name: &'static str,
    /// `string`, `numeric`, `ip`.
    pub kind: &'static str,
    /// The value.
    pub value: String,
}

/// One action on one resource, to simulate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Question {
    /// `ec2-instance-connect:OpenTunnel`.
    pub action: &'static str,
    /// The resource's ARN.
    pub resource: String,
    /// The condition keys the service sets for the request.
    pub context: Vec<ContextKey>,
}

/// IAM's answer for one action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// `allowed`, `explicitDeny` or `implicitDeny`.
    pub decision: String,
    /// Context keys a policy's condition needed and the question did not give.
    pub missing_context: Vec<String>,
}

/// STS GetCallerIdentity (needs no permission).
pub async fn caller(ctx: &AwsContext) -> Result<Caller, AwsError> {
    const ACTION: &str = "GetCallerIdentity";
    let body = form(ACTION, STS_VERSION, &[]);
    let response = send(
        ctx,
        ApiCall {
            action: ACTION,
            service: "sts",
            url: &ctx.sts_url,
            content_type: FORM,
            target: None,
            body,
        },
    )
    .await?;
    let text = answer(ACTION, response)?;
    parse_caller(&text).map_err(|reason| AwsError::Malformed {
        action: ACTION.into(),
        reason,
    })
}

/// IAM GetRole: the role's real ARN (with its path).
pub async fn role_arn(ctx: &AwsContext, name: &str) -> Result<String, AwsError> {
    const ACTION: &str = "GetRole";
    let text = iam_call(ctx, ACTION, &[("RoleName".into(), name.to_string())]).await?;
    first_text(&text, "Arn").ok_or_else(|| AwsError::Malformed {
        action: ACTION.into(),
        reason: "no Role/Arn".into(),
    })
}

/// IAM SimulatePrincipalPolicy for one question about `principal_arn`.
pub async fn simulate(
    ctx: &AwsContext,
    principal_arn: &str,
    q: &Question,
) -> Result<Answer, AwsError> {
    const ACTION: &str = "SimulatePrincipalPolicy";
    let text = iam_call(ctx, ACTION, &simulate_params(principal_arn, q)).await?;
    parse_simulation(&text).map_err(|reason| AwsError::Malformed {
        action: ACTION.into(),
        reason,
    })
}

/// The Query parameters of a simulation.
pub fn simulate_params(principal_arn: &str, q: &Question) -> Vec<(String, String)> {
    let mut params = vec![
        ("PolicySourceArn".to_string(), principal_arn.to_string()),
        ("ActionNames.member.1".into(), q.action.to_string()),
        ("ResourceArns.member.1".into(), q.resource.clone()),
    ];
    for (n, key) in q.context.iter().enumerate() {
        let entry = format!("ContextEntries.member.{}", n + 1);
        params.push((format!("{entry}.ContextKeyName"), key.name.to_string()));
        params.push((format!("{entry}.ContextKeyType"), key.kind.to_string()));
        params.push((
            format!("{entry}.ContextKeyValues.member.1"),
            key.value.clone(),
        ));
    }
    params
}

/// The same question as an `aws iam simulate-principal-policy` command line, to run by hand.
pub fn by_hand(principal_arn: &str, q: &Question) -> String {
    let mut line = format!(
        "aws iam simulate-principal-policy --policy-source-arn {principal_arn} --action-names {} --resource-arns {}",
        q.action, q.resource
    );
    if !q.context.is_empty() {
        line.push_str(" --context-entries");
        for key in &q.context {
            line.push_str(&format!(
                " ContextKeyName={},ContextKeyValues={},ContextKeyType={}",
                key.name, key.value, key.kind
            ));
        }
    }
    line.push_str(" --query 'EvaluationResults[].[EvalActionName,EvalDecision]' --output text");
    line
}

const FORM: &str = "application/x-www-form-urlencoded; charset=utf-8";

fn form(action: &str, version: &str, params: &[(String, String)]) -> Vec<u8> {
    let mut form = form_urlencoded::Serializer::new(String::new());
    form.append_pair("Action", action)
        .append_pair("Version", version);
    for (k, v) in params {
        form.append_pair(k, v);
    }
    form.finish().into_bytes()
}

/// One IAM Query call, signed for the partition's global region.
async fn iam_call(
    ctx: &AwsContext,
    action: &'static str,
    params: &[(String, String)],
) -> Result<String, AwsError> {
    let Some(url) = ctx.iam_url.clone() else {
        return Err(AwsError::Network {
            action: action.into(),
            endpoint: "IAM".into(),
            reason: format!(
                "the partition of {} offers no IAM endpoint of the kind asked for (FIPS or dual-stack); set AWS_ENDPOINT_URL_IAM",
                ctx.region
            ),
        });
    };
    let global = AwsContext {
        region: endpoints::signing_region(Service::Iam, &ctx.region, Variant::default()),
        ..ctx.clone()
    };
    let body = form(action, IAM_VERSION, params);
    let response = send(
        &global,
        ApiCall {
            action,
            service: "iam",
            url: &url,
            content_type: FORM,
            target: None,
            body,
        },
    )
    .await?;
    answer(action, response)
}

/// The body of a 2xx answer, else the Query protocol's error.
fn answer(action: &str, response: super::client::ApiResponse) -> Result<String, AwsError> {
    let text = String::from_utf8_lossy(&response.body).into_owned();
    if (200..300).contains(&response.status) {
        return Ok(text);
    }
    let (code, message) = super::ec2::parse_error(&text)
        .unwrap_or_else(|| (format!("HTTP{}", response.status), String::new()));
    Err(AwsError::Service {
        action: action.into(),
        status: response.status,
        code,
        message,
    })
}

fn first_text(xml: &str, tag: &str) -> Option<String> {
    let doc = Document::parse(xml).ok()?;
    doc.descendants()
        .find(|n| n.has_tag_name(tag))
        .and_then(|n| n.text())
        .map(|t| crate::printable::escape(t.trim()))
        .filter(|t| !t.is_empty())
}

/// `<GetCallerIdentityResult><Arn>…</Arn><Account>…</Account>`.
pub fn parse_caller(xml: &str) -> Result<Caller, String> {
    Document::parse(xml).map_err(|e| format!("bad XML: {e}"))?;
    Ok(Caller {
        arn: first_text(xml, "Arn").ok_or("no Arn")?,
        account: first_text(xml, "Account").ok_or("no Account")?,
    })
}

/// The first `EvaluationResults` member: its decision and missing context keys.
pub fn parse_simulation(xml: &str) -> Result<Answer, String> {
    let doc = Document::parse(xml).map_err(|e| format!("bad XML: {e}"))?;
    let results = doc
        .descendants()
        .find(|n| n.has_tag_name("EvaluationResults"))
        .ok_or("no EvaluationResults")?;
    let member = results
        .children()
        .find(|n| n.has_tag_name("member"))
        .ok_or("no result")?;
    let child = |name: &str| member.children().find(|n| n.has_tag_name(name));
    let decision = child("EvalDecision")
        .and_then(|n| n.text())
        .map(str::trim)
        .ok_or("no EvalDecision")?;
    if !["allowed", "explicitDeny", "implicitDeny"].contains(&decision) {
        return Err(format!(
            "an unknown EvalDecision {:?}",
            crate::printable::escape(decision)
        ));
    }
    let missing_context = child("MissingContextValues")
        .map(|n| {
            n.children()
                .filter(|m| m.has_tag_name("member"))
                .filter_map(|m| m.text())
                .map(|t| crate::printable::escape(t.trim()))
                .collect()
        })
        .unwrap_or_default();
    Ok(Answer {
        decision: decision.to_string(),
        missing_context,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_assumed_role_maps_to_its_role() {
        assert_eq!(
            principal_of("arn:aws:sts::123456789012:assumed-role/Admin/alice@example.com"),
            Principal::Role {
                name: "Admin".into(),
                guess: "arn:aws:iam::123456789012:role/Admin".into()
            }
        );
        assert_eq!(
            principal_of("arn:aws-us-gov:iam::123456789012:user/ops/bob"),
            Principal::User {
                arn: "arn:aws-us-gov:iam::123456789012:user/ops/bob".into(),
                name: "bob".into()
            }
        );
        assert!(matches!(
            principal_of("arn:aws:iam::123456789012:root"),
            Principal::Other(_)
        ));
    }

    #[test]
    fn simulation_answers_are_read() {
        let xml = "<SimulatePrincipalPolicyResponse xmlns=\"https://iam.amazonaws.com/doc/2010-05-08/\"><SimulatePrincipalPolicyResult><IsTruncated>false</IsTruncated><EvaluationResults><member><EvalActionName>ec2-instance-connect:SendSSHPublicKey</EvalActionName><EvalResourceName>arn:aws:ec2:us-east-1:1:instance/i-1</EvalResourceName><EvalDecision>implicitDeny</EvalDecision><MatchedStatements/><MissingContextValues><member>ec2:osuser</member></MissingContextValues></member></EvaluationResults></SimulatePrincipalPolicyResult><ResponseMetadata><RequestId>x</RequestId></ResponseMetadata></SimulatePrincipalPolicyResponse>";
        assert_eq!(
            parse_simulation(xml),
            Ok(Answer {
                decision: "implicitDeny".into(),
                missing_context: vec!["ec2:osuser".into()]
            })
        );
        assert!(parse_simulation("<a/>").is_err());
    }

    #[test]
    fn the_command_by_hand_asks_the_same() {
        let q = Question {
            action: "ec2-instance-connect:OpenTunnel",
            resource: "arn:aws:ec2:us-east-1:1:instance-connect-endpoint/eice-1".into(),
            context: vec![ContextKey {
                name: "ec2-instance-connect:remotePort",
                kind: "numeric",
                value: "22".into(),
            }],
        };
        let line = by_hand("arn:aws:iam::1:role/R", &q);
        assert!(line.starts_with("aws iam simulate-principal-policy --policy-source-arn arn:aws:iam::1:role/R --action-names ec2-instance-connect:OpenTunnel"), "{line}");
        assert!(
            line.contains(" --context-entries ContextKeyName=ec2-instance-connect:remotePort,ContextKeyValues=22,ContextKeyType=numeric"),
            "{line}"
        );
        let params = simulate_params("arn:aws:iam::1:role/R", &q);
        assert!(params.contains(&(
            "ContextEntries.member.1.ContextKeyValues.member.1".into(),
            "22".into()
        )));
    }
}
