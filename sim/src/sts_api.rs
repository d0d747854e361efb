//! STS AssumeRole (for profiles with `mfa_serial`) and GetCallerIdentity (doctor's "who am
//! I"): the caller must sign for `sts`; for AssumeRole the role must exist, and a role that
//! requires MFA gets its serial and the current code, or AccessDenied as the service says it.

use std::collections::BTreeMap;

use bytes::Bytes;
use serde_json::json;
use time::format_description::well_known::Rfc3339;

use crate::State;
use crate::auth::{Api, Denial, authenticate_request};
use crate::reply::{Reply, esc, request_id};
use crate::world::{Credential, World};

const NS: &str = "https://sts.amazonaws.com/doc/2011-06-15/";

/// Answers one STS Query request.
pub fn handle(parts: &http::request::Parts, body: &Bytes, state: &State) -> Reply {
    let params: BTreeMap<String, String> = form_urlencoded::parse(body).into_owned().collect();
    let action = params.get("Action").cloned().unwrap_or_default();
    let mut world = state.world.write().unwrap();
    let outcome = match action.as_str() {
        "AssumeRole" => assume_role(parts, body, &mut world, &params),
        "GetCallerIdentity" => caller_identity(parts, body, &world),
        other => Err(Denial::new(
            400,
            "InvalidAction",
            format!("Could not find operation {other} for version 2011-06-15"),
        )),
    };
    drop(world);
    state.events.record(
        "api_call",
        json!({"service": "sts", "action": action, "ok": outcome.is_ok(),
               "peer": crate::reply::peer_of(parts),
               "code": outcome.as_ref().err().map(|d| d.code.clone()),
               "serial": params.get("SerialNumber"), "role": params.get("RoleArn")}),
    );
    crate::reply::query_reply(outcome, NS)
}

/// Who signed: GetCallerIdentity needs no permission (an explicit Deny cannot stop it).
fn caller_identity(
    parts: &http::request::Parts,
    body: &Bytes,
    world: &World,
) -> Result<String, Denial> {
    let mut open = world.clone();
    for c in &mut open.credentials {
        c.deny.clear();
    }
    let caller = authenticate_request(
        &open,
        Api::Sts,
        "sts",
        parts,
        body,
        "sts:GetCallerIdentity",
        "*",
    )?;
    let user_id = match caller.principal.split_once(":assumed-role/") {
        Some((_, rest)) => format!(
            "AROASIMROLE:{}",
            rest.split_once('/').map_or("", |(_, session)| session)
        ),
        None => "AIDASIMUSER".to_string(),
    };
    Ok(format!(
        "<GetCallerIdentityResponse xmlns=\"{NS}\"><GetCallerIdentityResult><Arn>{}</Arn><UserId>{}</UserId><Account>{}</Account></GetCallerIdentityResult><ResponseMetadata><RequestId>{}</RequestId></ResponseMetadata></GetCallerIdentityResponse>",
        esc(&caller.principal),
        esc(&user_id),
        esc(&world.account),
        request_id()
    ))
}

fn assume_role(
    parts: &http::request::Parts,
    body: &Bytes,
    world: &mut World,
    params: &BTreeMap<String, String>,
) -> Result<String, Denial> {
    let arn = params.get("RoleArn").cloned().unwrap_or_default();
    let caller = authenticate_request(world, Api::Sts, "sts", parts, body, "sts:AssumeRole", &arn)?;
    let validation = |m: String| Denial::new(400, "ValidationError", m);
    let session = params.get("RoleSessionName").cloned().unwrap_or_default();
    let session_ok = (2..=64).contains(&session.len())
        && session
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_+=,.@-".contains(&b));
    if !session_ok {
        return Err(validation(format!(
            "1 validation error detected: Value '{session}' at 'roleSessionName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]*"
        )));
    }
    if let Some(code) = params.get("TokenCode")
        && (code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()))
    {
        return Err(validation(format!(
            "1 validation error detected: Value '{code}' at 'tokenCode' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\d]*"
        )));
    }
    let not_authorized = || {
        Denial::new(
            403,
            "AccessDenied",
            format!(
                "User: {} is not authorized to perform: sts:AssumeRole on resource: {arn}",
                caller.principal
            ),
        )
    };
    let role = world
        .roles
        .iter()
        .find(|r| r.arn == arn)
        .ok_or_else(not_authorized)?;
    if let Some(serial) = &role.mfa_serial {
        match (params.get("SerialNumber"), params.get("TokenCode")) {
            (Some(s), Some(code)) if s == serial => {
                if *code != role.mfa_code {
                    return Err(Denial::new(
                        403,
                        "AccessDenied",
                        "MultiFactorAuthentication failed with invalid MFA one time pass code. ",
                    ));
                }
            }
            // The trust policy's aws:MultiFactorAuthPresent condition fails.
            _ => return Err(not_authorized()),
        }
    }
    let duration: i64 = params
        .get("DurationSeconds")
        .and_then(|d| d.parse().ok())
        .unwrap_or(3600);
    let n = world.credentials.len();
    let expires = time::OffsetDateTime::now_utc() + time::Duration::seconds(duration);
    let role_name = arn.rsplit('/').next().unwrap_or("role").to_string();
    let issued = Credential {
        access_key: format!("ASIASIMASSUMED{n:06}"),
        secret_key: format!("assumed-secret-{n}-{}", request_id()),
        session_token: Some(format!("assumed-token-{n}-{}", request_id())),
        expires_at: Some(expires.unix_timestamp()),
        deny: Vec::new(),
        principal: format!(
            "arn:aws:sts::{}:assumed-role/{role_name}/{session}",
            world.account
        ),
    };
    let xml = format!(
        "<AssumeRoleResponse xmlns=\"{NS}\"><AssumeRoleResult><Credentials><AccessKeyId>{}</AccessKeyId><SecretAccessKey>{}</SecretAccessKey><SessionToken>{}</SessionToken><Expiration>{}</Expiration></Credentials><AssumedRoleUser><AssumedRoleId>AROASIM:{}</AssumedRoleId><Arn>{}</Arn></AssumedRoleUser></AssumeRoleResult><ResponseMetadata><RequestId>{}</RequestId></ResponseMetadata></AssumeRoleResponse>",
        esc(&issued.access_key),
        esc(&issued.secret_key),
        esc(issued.session_token.as_deref().unwrap_or_default()),
        expires.format(&Rfc3339).unwrap_or_default(),
        esc(&session),
        esc(&issued.principal),
        request_id()
    );
    world.credentials.push(issued);
    Ok(xml)
}
