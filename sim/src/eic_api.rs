//! The EC2 Instance Connect JSON 1.1 API: SendSSHPublicKey, which lets a key into sshd for 60 s.

use std::time::Duration;

use bytes::Bytes;
use serde_json::{Value, json};

use crate::State;
use crate::auth::{Api, Denial, authenticate_request};
use crate::reply::{Reply, request_id};
use crate::sigv4::sha256_hex;
use crate::trail::TrailEvent;
use crate::world::World;

/// Answers one Instance Connect request.
pub fn handle(
    parts: &http::request::Parts,
    body: &Bytes,
    state: &State,
    peer: std::net::SocketAddr,
) -> Reply {
    let target = parts
        .headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let action = target.rsplit('.').next().unwrap_or_default().to_string();
    let outcome = match action.as_str() {
        "SendSSHPublicKey" => send_ssh_public_key(parts, body, state, peer),
        other => Err(Denial::new(
            400,
            "UnknownOperationException",
            format!("Unknown operation {other}"),
        )),
    };
    state.events.record(
        "api_call",
        json!({"service": "ec2-instance-connect", "action": action, "ok": outcome.is_ok(),
               "peer": crate::reply::peer_of(parts),
               "code": outcome.as_ref().err().map(|d| d.code.clone())}),
    );
    crate::reply::json11_reply(outcome, "com.amazon.ec2instanceconnect")
}

fn send_ssh_public_key(
    parts: &http::request::Parts,
    body: &Bytes,
    state: &State,
    peer: std::net::SocketAddr,
) -> Result<Value, Denial> {
    let world = state.world.read().unwrap().clone();
    let input: Value = serde_json::from_slice(body).map_err(|_| {
        Denial::new(
            400,
            "SerializationException",
            "The request body is not valid JSON",
        )
    })?;
    let field_of = |k: &str| input.get(k).and_then(Value::as_str).map(str::to_string);
    let instance_id = field_of("InstanceId").unwrap_or_default();
    let resource = format!(
        "arn:aws:ec2:{}:{}:instance/{instance_id}",
        world.region, world.account
    );
    let caller = authenticate_request(
        &world,
        Api::InstanceConnect,
        "ec2-instance-connect",
        parts,
        body,
        "ec2-instance-connect:SendSSHPublicKey",
        &resource,
    );
    // CloudTrail keeps the call under its caller, refused or not (the key itself too).
    let header = crate::auth::header_of(&parts.headers);
    let access_key = header("authorization")
        .and_then(|a| a.split("Credential=").nth(1).map(str::to_string))
        .and_then(|c| c.split('/').next().map(str::to_string))
        .unwrap_or_default();
    let recorded = world.credential(&access_key).map(|cred| {
        let mut params = serde_json::Map::new();
        for (name, field) in [
            ("InstanceId", "instanceId"),
            ("InstanceOSUser", "instanceOSUser"),
            ("SSHPublicKey", "sSHPublicKey"),
            ("AvailabilityZone", "availabilityZone"),
        ] {
            if let Some(v) = field_of(name) {
                params.insert(field.into(), v.into());
            }
        }
        TrailEvent::now(
            "SendSSHPublicKey",
            cred,
            world.public_ip_for(peer.ip()).to_string(),
            params.into(),
        )
    });
    let outcome = caller.and_then(|_| push(&world, &input, &instance_id, state));
    if let Some(event) = recorded {
        let unauthenticated = outcome.as_ref().err().is_some_and(|d| {
            matches!(
                d.code.as_str(),
                "UnrecognizedClientException"
                    | "InvalidSignatureException"
                    | "IncompleteSignature"
                    | "ExpiredTokenException"
                    | "RequestExpired"
                    | "RequestTimeTooSkewed"
            )
        });
        if !unauthenticated {
            state.trail.record(match &outcome {
                Ok(_) => event,
                Err(d) => event.refused(&d.code, &d.message),
            });
        }
    }
    outcome
}

/// The call's rules once the caller may make it: the key's form, the instance, its state.
fn push(world: &World, input: &Value, instance_id: &str, state: &State) -> Result<Value, Denial> {
    let field = |k: &str| input.get(k).and_then(Value::as_str).map(str::to_string);
    let invalid = |m: &str| Denial::new(400, "InvalidArgsException", m);
    let user = field("InstanceOSUser").ok_or_else(|| invalid("InstanceOSUser is required"))?;
    let key = field("SSHPublicKey").ok_or_else(|| invalid("SSHPublicKey is required"))?;
    if instance_id.is_empty() {
        return Err(invalid("InstanceId is required"));
    }
    let kind = key.split_whitespace().next().unwrap_or_default();
    let blob_ok = key.split_whitespace().nth(1).is_some_and(|b| b.len() > 16);
    if !matches!(
        kind,
        "ssh-rsa"
            | "ssh-ed25519"
            | "ecdsa-sha2-nistp256"
            | "ecdsa-sha2-nistp384"
            | "ecdsa-sha2-nistp521"
    ) || !blob_ok
    {
        return Err(invalid("Unsupported SSH public key format"));
    }
    let instance = world.instance(instance_id).ok_or_else(|| {
        Denial::new(
            400,
            "EC2InstanceNotFoundException",
            format!("Instance {instance_id} not found"),
        )
    })?;
    if instance.state != "running" {
        return Err(Denial::new(
            400,
            "EC2InstanceStateInvalidException",
            format!(
                "Instance {instance_id} is in state {}; it must be running",
                instance.state
            ),
        ));
    }
    if let Some(az) = field("AvailabilityZone")
        && az != instance.availability_zone
    {
        return Err(invalid(
            "The AvailabilityZone does not match the instance's",
        ));
    }
    let sshd = state
        .sshd
        .as_ref()
        .ok_or_else(|| Denial::new(500, "ServiceException", "no sshd behind this emulator"))?;
    sshd.authorize(
        instance_id,
        &user,
        &key,
        Duration::from_secs(world.key_ttl_secs),
    )
    .map_err(|e| invalid(&format!("Cannot accept the key: {e}")))?;
    state.events.record(
        "key_pushed",
        json!({"instance": instance_id, "user": user, "key_type": kind,
               "key_sha256": &sha256_hex(key.as_bytes())[..16], "ttl_secs": world.key_ttl_secs}),
    );
    Ok(json!({"RequestId": request_id(), "Success": true}))
}
