//! IAM's SimulatePrincipalPolicy and GetRole, as doctor calls them: signed for the
//! partition's global region, AccessDenied without `iam:SimulatePrincipalPolicy` (or
//! `iam:GetRole`), NoSuchEntity for an unknown user or role, InvalidInput for what is not an
//! IAM user or role (an assumed-role session's ARN), answers shaped as botocore's model says.

use std::collections::BTreeMap;

use bytes::Bytes;
use serde_json::json;

use crate::State;
use crate::auth::{Api, Denial, authenticate_request};
use crate::reply::{Reply, esc, request_id};
use crate::world::World;

const NS: &str = "https://iam.amazonaws.com/doc/2010-05-08/";

/// The context key types IAM accepts (`ContextKeyTypeEnum`).
const KEY_TYPES: [&str; 12] = [
    "string",
    "stringList",
    "numeric",
    "numericList",
    "boolean",
    "booleanList",
    "ip",
    "ipList",
    "binary",
    "binaryList",
    "date",
    "dateList",
];

/// Answers one IAM Query request.
pub fn handle(parts: &http::request::Parts, body: &Bytes, state: &State) -> Reply {
    let params: BTreeMap<String, String> = form_urlencoded::parse(body).into_owned().collect();
    let action = params.get("Action").cloned().unwrap_or_default();
    let world = state.world.read().unwrap();
    let version_ok = params.get("Version").map(String::as_str) == Some("2010-05-08");
    let outcome = match action.as_str() {
        _ if !version_ok => Err(Denial::new(
            400,
            "InvalidAction",
            format!("Could not find operation {action} for version NO_VERSION_SPECIFIED"),
        )),
        "SimulatePrincipalPolicy" => simulate(parts, body, &world, &params),
        "GetRole" => get_role(parts, body, &world, &params),
        other => Err(Denial::new(
            400,
            "InvalidAction",
            format!("Could not find operation {other} for version 2010-05-08"),
        )),
    };
    drop(world);
    let context: BTreeMap<String, String> = (1..=10)
        .filter_map(|n| {
            let entry = format!("ContextEntries.member.{n}");
            Some((
                params.get(&format!("{entry}.ContextKeyName"))?.clone(),
                params
                    .get(&format!("{entry}.ContextKeyValues.member.1"))?
                    .clone(),
            ))
        })
        .collect();
    state.events.record(
        "api_call",
        json!({"service": "iam", "action": action, "ok": outcome.is_ok(),
               "code": outcome.as_ref().err().map(|d| d.code.clone()),
               "principal": params.get("PolicySourceArn"),
               "actions": params.get("ActionNames.member.1"),
               "resource": params.get("ResourceArns.member.1"),
               "context": context}),
    );
    crate::reply::query_reply(outcome, NS)
}

/// `ListName.member.N` values, in order.
fn members(params: &BTreeMap<String, String>, list: &str) -> Vec<String> {
    (1..)
        .map_while(|n| params.get(&format!("{list}.member.{n}")).cloned())
        .collect()
}

fn invalid(message: impl Into<String>) -> Denial {
    Denial::new(400, "InvalidInput", message)
}

fn validation(member: &str) -> Denial {
    Denial::new(
        400,
        "ValidationError",
        format!(
            "1 validation error detected: Value null at '{member}' failed to satisfy constraint: Member must not be null"
        ),
    )
}

/// What a principal's policies say about `action`: the world's policy when set, else
/// `implicitDeny` when a credential of that principal is denied it, else `allowed`.
fn decide(world: &World, principal: &str, action: &str) -> String {
    if let Some(d) = world
        .policies
        .iter()
        .find(|p| p.principal == principal)
        .and_then(|p| p.decisions.get(action))
    {
        return d.clone();
    }
    let role_session = principal
        .split_once(":role/")
        .map(|(_, path)| path.rsplit('/').next().unwrap_or_default().to_string());
    let denied = world.credentials.iter().any(|c| {
        let own = c.principal == principal
            || role_session.as_ref().is_some_and(|name| {
                c.principal
                    .split_once(":assumed-role/")
                    .is_some_and(|(_, rest)| rest.split('/').next() == Some(name.as_str()))
            });
        own && c.deny.iter().any(|d| d == action)
    });
    if denied { "implicitDeny" } else { "allowed" }.to_string()
}

/// The user or role `arn` names, if the world has it: NoSuchEntity or InvalidInput else.
fn known_entity(world: &World, arn: &str) -> Result<(), Denial> {
    let Some((_, resource)) = arn
        .strip_prefix("arn:aws:iam::")
        .and_then(|rest| rest.split_once(':'))
    else {
        return Err(invalid(format!(
            "Invalid Entity Arn: {arn} does not clearly define entity type and name."
        )));
    };
    let name = resource.rsplit('/').next().unwrap_or_default();
    match resource.split_once('/') {
        Some(("user", _)) if world.credentials.iter().any(|c| c.principal == arn) => Ok(()),
        Some(("user", _)) => Err(Denial::new(
            404,
            "NoSuchEntity",
            format!("The user with name {name} cannot be found."),
        )),
        Some(("role", _)) if world.roles.iter().any(|r| r.arn == arn) => Ok(()),
        Some(("role", _)) => Err(Denial::new(
            404,
            "NoSuchEntity",
            format!("The role with name {name} cannot be found."),
        )),
        _ => Err(invalid(format!(
            "Invalid Entity Arn: {arn} does not clearly define entity type and name."
        ))),
    }
}

fn simulate(
    parts: &http::request::Parts,
    body: &Bytes,
    world: &World,
    params: &BTreeMap<String, String>,
) -> Result<String, Denial> {
    let source = params.get("PolicySourceArn").cloned().unwrap_or_default();
    authenticate_request(
        world,
        Api::Iam,
        "iam",
        parts,
        body,
        "iam:SimulatePrincipalPolicy",
        &source,
    )?;
    if source.is_empty() {
        return Err(validation("policySourceArn"));
    }
    let actions = members(params, "ActionNames");
    if actions.is_empty() {
        return Err(validation("actionNames"));
    }
    for n in 1.. {
        let entry = format!("ContextEntries.member.{n}");
        let Some(name) = params.get(&format!("{entry}.ContextKeyName")) else {
            break;
        };
        let kind = params
            .get(&format!("{entry}.ContextKeyType"))
            .cloned()
            .unwrap_or_default();
        if name.is_empty() || !KEY_TYPES.contains(&kind.as_str()) {
            return Err(invalid(format!(
                "Invalid context entry {name}: type {kind:?} is not one of {}",
                KEY_TYPES.join(", ")
            )));
        }
        if members(params, &format!("{entry}.ContextKeyValues")).is_empty() {
            return Err(invalid(format!("Context key {name} has no value.")));
        }
    }
    known_entity(world, &source)?;
    let resources = {
        let listed = members(params, "ResourceArns");
        if listed.is_empty() {
            vec!["*".to_string()]
        } else {
            listed
        }
    };
    let mut results = String::new();
    for action in &actions {
        for resource in &resources {
            results.push_str(&format!(
                "<member><EvalActionName>{}</EvalActionName><EvalResourceName>{}</EvalResourceName><EvalDecision>{}</EvalDecision><MatchedStatements/><MissingContextValues/></member>",
                esc(action),
                esc(resource),
                esc(&decide(world, &source, action))
            ));
        }
    }
    Ok(format!(
        "<SimulatePrincipalPolicyResponse xmlns=\"{NS}\"><SimulatePrincipalPolicyResult><IsTruncated>false</IsTruncated><EvaluationResults>{results}</EvaluationResults></SimulatePrincipalPolicyResult><ResponseMetadata><RequestId>{}</RequestId></ResponseMetadata></SimulatePrincipalPolicyResponse>",
        request_id()
    ))
}

fn get_role(
    parts: &http::request::Parts,
    body: &Bytes,
    world: &World,
    params: &BTreeMap<String, String>,
) -> Result<String, Denial> {
    let name = params.get("RoleName").cloned().unwrap_or_default();
    let resource = format!("arn:aws:iam::{}:role/{name}", world.account);
    authenticate_request(
        world,
        Api::Iam,
        "iam",
        parts,
        body,
        "iam:GetRole",
        &resource,
    )?;
    if name.is_empty() {
        return Err(validation("roleName"));
    }
    let role = world
        .roles
        .iter()
        .find(|r| r.arn.rsplit('/').next() == Some(name.as_str()))
        .ok_or_else(|| {
            Denial::new(
                404,
                "NoSuchEntity",
                format!("The role with name {name} cannot be found."),
            )
        })?;
    let path = role
        .arn
        .split_once(":role")
        .map(|(_, rest)| rest.strip_suffix(name.as_str()).unwrap_or("/"))
        .unwrap_or("/");
    Ok(format!(
        "<GetRoleResponse xmlns=\"{NS}\"><GetRoleResult><Role><Path>{}</Path><RoleName>{}</RoleName><RoleId>AROASIMROLE</RoleId><Arn>{}</Arn><CreateDate>2024-01-01T00:00:00Z</CreateDate><AssumeRolePolicyDocument>%7B%7D</AssumeRolePolicyDocument><MaxSessionDuration>3600</MaxSessionDuration></Role></GetRoleResult><ResponseMetadata><RequestId>{}</RequestId></ResponseMetadata></GetRoleResponse>",
        esc(path),
        esc(&name),
        esc(&role.arn),
        request_id()
    ))
}
