//! Sends one SigV4-signed POST to an AWS API and returns the status and body.

use std::time::SystemTime;

use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;
use bytes::Bytes;

use super::connections::CallError;
use super::context::AwsContext;
use super::error::AwsError;

/// One API call, before signing.
pub struct ApiCall<'a> {
    /// Action name for messages, e.g. `DescribeInstances`.
    pub action: &'a str,
    /// SigV4 signing name: `ec2` or `ec2-instance-connect`.
    pub service: &'a str,
    /// Base URL of the API.
    pub url: &'a str,
    /// Content-Type of the body.
    pub content_type: &'a str,
    /// `X-Amz-Target` for JSON protocols.
    pub target: Option<&'a str>,
    /// The request body.
    pub body: Vec<u8>,
}

/// What came back: any status; the caller reads its protocol's error shape.
pub struct ApiResponse {
    /// HTTP status.
    pub status: u16,
    /// Raw body.
    pub body: Bytes,
}

/// Signs `call` with the current credentials and sends it.
pub async fn send(ctx: &AwsContext, call: ApiCall<'_>) -> Result<ApiResponse, AwsError> {
    let credentials = ctx.credentials().await?;
    let url = format!("{}/", call.url.trim_end_matches('/'));
    let mut headers = vec![("content-type", call.content_type)];
    if let Some(target) = call.target {
        headers.push(("x-amz-target", target));
    }
    let malformed = |reason: String| AwsError::Malformed {
        action: call.action.to_string(),
        reason,
    };
    let identity: Identity = credentials.into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(&ctx.region)
        .name(call.service)
        .time(SystemTime::now())
        .settings(SigningSettings::default())
        .build()
        .map_err(|e| malformed(e.to_string()))?
        .into();
    let signable = SignableRequest::new(
        "POST",
        &url,
        headers.iter().copied(),
        SignableBody::Bytes(&call.body),
    )
    .map_err(|e| malformed(format!("bad endpoint URL {url}: {e}")))?;
    let (instructions, _) = sign(signable, &params)
        .map_err(|e| malformed(e.to_string()))?
        .into_parts();

    let headers: Vec<(&str, &str)> = headers
        .iter()
        .copied()
        .chain(instructions.headers())
        .collect();
    tracing::debug!("{} → {url}", call.action);
    let sent = ctx
        .api
        .post(&url, &headers, call.body, crate::net::MAX_API_BODY)
        .await;
    let (status, body) = sent.map_err(|e| match e {
        too_large @ CallError::TooLarge(_) => malformed(too_large.to_string()),
        e => AwsError::Network {
            action: call.action.to_string(),
            endpoint: url.clone(),
            reason: e.to_string(),
        },
    })?;
    tracing::debug!("{} ← HTTP {status}, {} bytes", call.action, body.len());
    Ok(ApiResponse { status, body })
}
