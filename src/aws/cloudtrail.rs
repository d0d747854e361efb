//! CloudTrail's `LookupEvents` (JSON 1.1): the Instance Connect calls of a window, every
//! page followed, throttling waited out with the shared jittered backoff.

use std::time::Duration;

use serde::Deserialize;
use serde_json::Value;

use super::client::{ApiCall, send};
use super::context::AwsContext;
use super::error::AwsError;
use super::instance_connect::parse_json_error;
use crate::net::backoff::Backoff;

/// The event source of `OpenTunnel` and `SendSSHPublicKey`.
pub const EVENT_SOURCE: &str = "ec2-instance-connect.amazonaws.com";

/// The events read: connections through an endpoint, and key pushes.
pub const EVENT_NAMES: [&str; 2] = ["OpenTunnel", "SendSSHPublicKey"];

/// What one page's throttling may cost in waits before it is given up: the API allows 2
/// calls a second, so this is many times what a busy account needs.
const THROTTLE_BOUND: Duration = Duration::from_secs(120);

const ACTION: &str = "LookupEvents";
const TARGET: &str = "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.LookupEvents";

/// One Instance Connect call as CloudTrail recorded it; every text is as sent (escape it
/// before printing).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrailEvent {
    /// When, in Unix seconds.
    pub time: i64,
    /// `OpenTunnel` or `SendSSHPublicKey`.
    pub name: String,
    /// `userIdentity.arn` (else its type, e.g. `AWSService`).
    pub principal: String,
    /// `sourceIPAddress`: the client's address, or a service's name.
    pub source_ip: String,
    /// `requestParameters.instanceConnectEndpointId` (OpenTunnel).
    pub endpoint_id: Option<String>,
    /// `requestParameters.privateIpAddress` (OpenTunnel).
    pub private_ip: Option<String>,
    /// `requestParameters.instanceId` (SendSSHPublicKey).
    pub instance_id: Option<String>,
    /// `requestParameters.remotePort` (OpenTunnel).
    pub port: Option<u16>,
    /// `errorCode`, when the call was refused.
    pub error_code: Option<String>,
}

/// The window asked for, in Unix seconds (both ends included).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// `StartTime`.
    pub start: i64,
    /// `EndTime`.
    pub end: i64,
}

/// One page: its events (every source's; the caller keeps the names it wants) and the
/// token of the next.
struct Page {
    events: Vec<Value>,
    next: Option<String>,
}

/// Every `OpenTunnel` and `SendSSHPublicKey` event in `window`, newest first, all pages
/// followed. `progress` is told the pages and events read so far; `throttled` each wait.
pub async fn tunnel_events(
    ctx: &AwsContext,
    window: Window,
    mut progress: impl FnMut(usize, usize),
) -> Result<Vec<TrailEvent>, AwsError> {
    let mut events = Vec::new();
    let mut token: Option<String> = None;
    let mut pages = 0;
    loop {
        let page = page_waiting_out_throttling(ctx, window, token.as_deref()).await?;
        pages += 1;
        for raw in page.events {
            if let Some(event) = parse_event(&raw)? {
                events.push(event);
            }
        }
        progress(pages, events.len());
        match page.next {
            Some(next) if Some(&next) != token.as_ref() => token = Some(next),
            _ => return Ok(events),
        }
    }
}

/// One page; `ThrottlingException` is waited out (jittered, growing waits), never shown.
async fn page_waiting_out_throttling(
    ctx: &AwsContext,
    window: Window,
    token: Option<&str>,
) -> Result<Page, AwsError> {
    let mut backoff = Backoff::new(THROTTLE_BOUND);
    loop {
        match page(ctx, window, token, 50).await {
            Err(AwsError::Service { code, .. }) if is_throttling(&code) => {
                let Some(wait) = backoff.next_wait() else {
                    return Err(AwsError::Service {
                        action: ACTION.into(),
                        status: 400,
                        code,
                        message: format!(
                            "still throttled after {} s of waiting: another tool may be reading the same account and region; try again later",
                            backoff.waited().as_secs()
                        ),
                    });
                };
                tracing::debug!("LookupEvents throttled: waiting {wait:?}");
                tokio::time::sleep(wait).await;
            }
            other => return other,
        }
    }
}

fn is_throttling(code: &str) -> bool {
    matches!(
        code,
        "ThrottlingException" | "Throttling" | "TooManyRequestsException"
    )
}

/// Whether the caller may read the history: one event asked for. `Ok(())`, or the error
/// (AccessDenied naming the action, or anything else) as it came.
pub async fn probe(ctx: &AwsContext, window: Window) -> Result<(), AwsError> {
    page(ctx, window, None, 1).await.map(|_| ())
}

async fn page(
    ctx: &AwsContext,
    window: Window,
    token: Option<&str>,
    max: u8,
) -> Result<Page, AwsError> {
    let mut body = serde_json::json!({
        "LookupAttributes": [{"AttributeKey": "EventSource", "AttributeValue": EVENT_SOURCE}],
        "StartTime": window.start,
        "EndTime": window.end,
        "MaxResults": max,
    });
    if let Some(token) = token {
        body["NextToken"] = token.into();
    }
    let response = send(
        ctx,
        ApiCall {
            action: ACTION,
            service: "cloudtrail",
            url: &ctx.cloudtrail_url,
            content_type: "application/x-amz-json-1.1",
            target: Some(TARGET),
            body: body.to_string().into_bytes(),
        },
    )
    .await?;
    if !(200..300).contains(&response.status) {
        let (code, message) = parse_json_error(&response.body)
            .unwrap_or_else(|| (format!("HTTP{}", response.status), String::new()));
        return Err(AwsError::Service {
            action: ACTION.into(),
            status: response.status,
            code,
            message,
        });
    }
    #[derive(Deserialize)]
    struct Answer {
        #[serde(rename = "Events", default)]
        events: Vec<Value>,
        #[serde(rename = "NextToken")]
        next: Option<String>,
    }
    let answer: Answer = serde_json::from_slice(&response.body).map_err(malformed)?;
    Ok(Page {
        events: answer.events,
        next: answer.next.filter(|t| !t.is_empty()),
    })
}

fn malformed(e: impl std::fmt::Display) -> AwsError {
    AwsError::Malformed {
        action: ACTION.into(),
        reason: e.to_string(),
    }
}

/// One `Event` of the answer, when it is an Instance Connect call this report reads.
pub fn parse_event(raw: &Value) -> Result<Option<TrailEvent>, AwsError> {
    let name = raw.get("EventName").and_then(Value::as_str).unwrap_or("");
    let source = raw.get("EventSource").and_then(Value::as_str);
    if !EVENT_NAMES.contains(&name) || source.is_some_and(|s| s != EVENT_SOURCE) {
        return Ok(None);
    }
    let text = raw
        .get("CloudTrailEvent")
        .and_then(Value::as_str)
        .ok_or_else(|| malformed(format!("a {name} event has no CloudTrailEvent")))?;
    let record: Value = serde_json::from_str(text).map_err(malformed)?;
    let time = match raw.get("EventTime") {
        Some(Value::Number(n)) => n.as_f64().map(|f| f.floor() as i64),
        Some(Value::String(s)) => rfc3339(s),
        _ => None,
    }
    .or_else(|| {
        record
            .get("eventTime")
            .and_then(Value::as_str)
            .and_then(rfc3339)
    })
    .ok_or_else(|| malformed(format!("a {name} event has no time")))?;
    let text_of = |v: Option<&Value>| -> Option<String> {
        match v? {
            Value::String(s) if !s.is_empty() => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        }
    };
    let identity = record.get("userIdentity");
    let principal = text_of(identity.and_then(|i| i.get("arn")))
        .or_else(|| text_of(identity.and_then(|i| i.get("invokedBy"))))
        .or_else(|| text_of(identity.and_then(|i| i.get("type"))))
        .unwrap_or_else(|| "unknown".into());
    let params = record.get("requestParameters");
    let param = |key: &str| text_of(params.and_then(|p| p.get(key)));
    Ok(Some(TrailEvent {
        time,
        name: name.to_string(),
        principal,
        source_ip: text_of(record.get("sourceIPAddress")).unwrap_or_else(|| "unknown".into()),
        endpoint_id: param("instanceConnectEndpointId"),
        private_ip: param("privateIpAddress"),
        instance_id: param("instanceId"),
        port: param("remotePort").and_then(|p| p.parse().ok()),
        error_code: text_of(record.get("errorCode")),
    }))
}

/// An RFC 3339 time in Unix seconds.
fn rfc3339(text: &str) -> Option<i64> {
    aws_smithy_types::DateTime::from_str(text, aws_smithy_types::date_time::Format::DateTime)
        .ok()
        .map(|t| t.secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_open_tunnel_record_gives_its_fields() {
        let record = serde_json::json!({
            "userIdentity": {"type": "IAMUser", "arn": "arn:aws:iam::1:user/alice"},
            "eventTime": "2024-05-01T10:00:00Z",
            "sourceIPAddress": "198.51.100.7",
            "requestParameters": {"instanceConnectEndpointId": "eice-1", "privateIpAddress": "10.0.1.5", "remotePort": 22},
            "errorCode": "AccessDenied",
        });
        let raw = serde_json::json!({
            "EventName": "OpenTunnel",
            "EventSource": EVENT_SOURCE,
            "CloudTrailEvent": record.to_string(),
        });
        let event = parse_event(&raw).unwrap().unwrap();
        assert_eq!(event.time, 1_714_557_600);
        assert_eq!(event.principal, "arn:aws:iam::1:user/alice");
        assert_eq!(event.port, Some(22), "a number or a string");
        assert_eq!(event.private_ip.as_deref(), Some("10.0.1.5"));
        assert_eq!(event.error_code.as_deref(), Some("AccessDenied"));
        let other = serde_json::json!({"EventName": "CreateInstanceConnectEndpoint"});
        assert_eq!(parse_event(&other).unwrap(), None);
    }
}
