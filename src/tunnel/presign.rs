//! Presigns an `openTunnel` URL with SigV4 in the query string (docs/protocol.md, "Opening a tunnel").

use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{
    SignableBody, SignableRequest, SignatureLocation, SigningSettings, sign,
};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

use super::endpoint::TunnelEndpoint;

/// SigV4's unreserved set: everything but `A-Za-z0-9-_.~` is percent-encoded.
const AWS_QUERY: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// How long a presigned URL is valid: the service and the AWS CLI use 60 s.
pub const PRESIGN_EXPIRY: Duration = Duration::from_secs(60);

/// The signing name of the service.
pub const SERVICE: &str = "ec2-instance-connect";

/// What the tunnel connects to: the query of `openTunnel`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TunnelRequest {
    /// `eice-…` id of the endpoint.
    pub endpoint_id: String,
    /// The instance's private IPv4 or IPv6 address.
    pub private_ip: String,
    /// 22 or 3389.
    pub remote_port: u16,
    /// 1..=3600 seconds; `None` leaves the service default (3600).
    pub max_tunnel_duration: Option<u32>,
}

/// Fails only when the signer rejects its input (e.g. an unparsable URL).
#[derive(Debug, thiserror::Error)]
#[error("could not presign the tunnel URL: {0}")]
pub struct PresignError(String);

/// Builds the presigned `openTunnel` URL for `request` at `time`.
pub fn presign(
    endpoint: &TunnelEndpoint,
    request: &TunnelRequest,
    credentials: &Credentials,
    region: &str,
    time: SystemTime,
) -> Result<String, PresignError> {
    let mut url = format!("{endpoint}/openTunnel?");
    let mut pairs: Vec<(&str, String)> = vec![
        ("instanceConnectEndpointId", request.endpoint_id.clone()),
        ("remotePort", request.remote_port.to_string()),
        ("privateIpAddress", request.private_ip.clone()),
    ];
    if let Some(d) = request.max_tunnel_duration {
        pairs.push(("maxTunnelDuration", d.to_string()));
    }
    append_query(&mut url, pairs.iter().map(|(k, v)| (*k, v.as_str())));

    let mut settings = SigningSettings::default();
    settings.signature_location = SignatureLocation::QueryParams;
    settings.expires_in = Some(PRESIGN_EXPIRY);
    let identity: Identity = credentials.clone().into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name(SERVICE)
        .time(time)
        .settings(settings)
        .build()
        .map_err(|e| PresignError(e.to_string()))?
        .into();
    // The service hashes an empty payload; UNSIGNED-PAYLOAD gives another signature.
    let signable = SignableRequest::new("GET", &url, std::iter::empty(), SignableBody::Bytes(&[]))
        .map_err(|e| PresignError(e.to_string()))?;
    let (instructions, _) = sign(signable, &params)
        .map_err(|e| PresignError(e.to_string()))?
        .into_parts();
    url.push('&');
    append_query(
        &mut url,
        instructions.params().iter().map(|(k, v)| (*k, v.as_ref())),
    );
    Ok(url)
}

fn append_query<'a>(url: &mut String, pairs: impl Iterator<Item = (&'a str, &'a str)>) {
    for (i, (key, value)) in pairs.enumerate() {
        if i > 0 {
            url.push('&');
        }
        url.extend(utf8_percent_encode(key, AWS_QUERY));
        url.push('=');
        url.extend(utf8_percent_encode(value, AWS_QUERY));
    }
}

/// The URL with its signature and session token replaced by `***`, for logs.
pub fn redact(url: &str) -> String {
    let Some((base, query)) = url.split_once('?') else {
        return url.to_string();
    };
    let kept: Vec<String> = query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((k, _)) if k == "X-Amz-Signature" || k == "X-Amz-Security-Token" => {
                format!("{k}=***")
            }
            _ => pair.to_string(),
        })
        .collect();
    format!("{base}?{}", kept.join("&"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redact_hides_signature_and_token() {
        let url = "wss://h/openTunnel?a=1&X-Amz-Security-Token=SECRET&X-Amz-Signature=abc";
        let out = redact(url);
        assert_eq!(
            out,
            "wss://h/openTunnel?a=1&X-Amz-Security-Token=***&X-Amz-Signature=***"
        );
    }
}
