//! SendSSHPublicKey: the EC2 Instance Connect API call that lets a key in for 60 seconds.

use serde::Deserialize;

use super::client::{ApiCall, send};
use super::context::AwsContext;
use super::error::{AwsError, one_line};

/// A public key to push for one OS user.
#[derive(Debug, Clone)]
pub struct KeyPush<'a> {
    /// `i-…`.
    pub instance_id: &'a str,
    /// Login name on the instance.
    pub os_user: &'a str,
    /// OpenSSH one-line public key (`ssh-ed25519 AAAA… comment`).
    pub public_key: &'a str,
    /// The instance's AZ, when known (optional in the API).
    pub availability_zone: Option<&'a str>,
}

/// Pushes the key. The instance accepts it for 60 seconds.
pub async fn send_ssh_public_key(ctx: &AwsContext, push: &KeyPush<'_>) -> Result<(), AwsError> {
    const ACTION: &str = "SendSSHPublicKey";
    let mut body = serde_json::json!({
        "InstanceId": push.instance_id,
        "InstanceOSUser": push.os_user,
        "SSHPublicKey": push.public_key,
    });
    if let Some(az) = push.availability_zone {
        body["AvailabilityZone"] = az.into();
    }
    let response = send(
        ctx,
        ApiCall {
            action: ACTION,
            service: "ec2-instance-connect",
            url: &ctx.eic_url,
            content_type: "application/x-amz-json-1.1",
            target: Some("AWSEC2InstanceConnectService.SendSSHPublicKey"),
            body: body.to_string().into_bytes(),
        },
    )
    .await?;
    if (200..300).contains(&response.status) {
        #[derive(Deserialize)]
        struct Ok {
            #[serde(rename = "Success")]
            success: Option<bool>,
        }
        let ok: Ok = serde_json::from_slice(&response.body).map_err(|e| AwsError::Malformed {
            action: ACTION.into(),
            reason: e.to_string(),
        })?;
        if ok.success == Some(false) {
            return Err(AwsError::Service {
                action: ACTION.into(),
                status: response.status,
                code: "NotSuccessful".into(),
                message: "the service did not accept the key".into(),
            });
        }
        return Ok(());
    }
    let (code, message) = parse_json_error(&response.body)
        .unwrap_or_else(|| (format!("HTTP{}", response.status), String::new()));
    Err(AwsError::Service {
        action: ACTION.into(),
        status: response.status,
        code,
        message,
    })
}

/// `{"__type": "ns#Code", "Message": …}` — the JSON 1.1 error shape.
pub fn parse_json_error(body: &[u8]) -> Option<(String, String)> {
    #[derive(Deserialize)]
    struct Error {
        #[serde(rename = "__type", alias = "code", alias = "Code")]
        kind: String,
        #[serde(rename = "Message", alias = "message")]
        message: Option<String>,
    }
    let e: Error = serde_json::from_slice(body).ok()?;
    let code = crate::printable::escape(e.kind.rsplit('#').next().unwrap_or_default());
    Some((code, one_line(&e.message.unwrap_or_default())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_errors_drop_the_namespace() {
        let body = br#"{"__type":"com.amazon.ec2instanceconnect#EC2InstanceNotFoundException","Message":"Instance not found"}"#;
        assert_eq!(
            parse_json_error(body),
            Some((
                "EC2InstanceNotFoundException".into(),
                "Instance not found".into()
            ))
        );
    }
}
