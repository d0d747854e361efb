//! The account's CloudTrail event history as far as EC2 Instance Connect goes: every
//! `OpenTunnel` and `SendSSHPublicKey` the emulator answered for a known caller, with the
//! source address it was configured to see, plus history a test or `--world` seeds.

use std::sync::Mutex;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::world::{Credential, World};

/// The event source of both recorded calls.
pub const EVENT_SOURCE: &str = "ec2-instance-connect.amazonaws.com";

/// One management event, as CloudTrail keeps it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrailEvent {
    /// `eventID` (a UUID at AWS; any unique text here).
    pub id: String,
    /// When it happened, in Unix seconds.
    pub time: i64,
    /// `OpenTunnel` or `SendSSHPublicKey` (any name may be seeded).
    pub name: String,
    /// `eventSource`; defaults to Instance Connect's.
    #[serde(default = "default_source")]
    pub source: String,
    /// The caller's principal ARN (`userIdentity.arn`).
    pub principal: String,
    /// The access key the call was signed with.
    #[serde(default)]
    pub access_key: String,
    /// `sourceIPAddress`: the client's public address (or a service name).
    pub source_ip: String,
    /// `requestParameters`.
    #[serde(default)]
    pub request_parameters: Value,
    /// `errorCode`, when the call was refused.
    #[serde(default)]
    pub error_code: Option<String>,
    /// `errorMessage`, when the call was refused.
    #[serde(default)]
    pub error_message: Option<String>,
    /// The region it was recorded in; `None`: the world's.
    #[serde(default)]
    pub region: Option<String>,
}

fn default_source() -> String {
    EVENT_SOURCE.into()
}

impl TrailEvent {
    /// An event for a call made now by `cred`, seen from `source_ip`.
    pub fn now(name: &str, cred: &Credential, source_ip: String, params: Value) -> TrailEvent {
        let now = time::OffsetDateTime::now_utc();
        TrailEvent {
            id: crate::reply::request_id(),
            time: now.unix_timestamp(),
            name: name.into(),
            source: default_source(),
            principal: cred.principal.clone(),
            access_key: cred.access_key.clone(),
            source_ip,
            request_parameters: params,
            error_code: None,
            error_message: None,
            region: None,
        }
    }

    /// The same event, refused with `code` and `message`.
    pub fn refused(mut self, code: &str, message: &str) -> TrailEvent {
        self.error_code = Some(code.into());
        self.error_message = Some(message.into());
        self
    }

    /// The user name LookupEvents reports: the last part of the ARN.
    fn username(&self) -> &str {
        self.principal.rsplit('/').next().unwrap_or_default()
    }

    /// The `Event` of a LookupEvents answer, with `CloudTrailEvent` as the JSON string AWS
    /// sends.
    pub fn to_lookup(&self, world: &World) -> Value {
        let region = self.region.as_deref().unwrap_or(&world.region);
        let when = time::OffsetDateTime::from_unix_timestamp(self.time)
            .ok()
            .and_then(|t| {
                t.format(&time::format_description::well_known::Rfc3339)
                    .ok()
            })
            .unwrap_or_default();
        let kind = if self.principal.contains(":assumed-role/") {
            "AssumedRole"
        } else {
            "IAMUser"
        };
        let mut record = json!({
            "eventVersion": "1.09",
            "userIdentity": {
                "type": kind,
                "principalId": "AIDAEICSIMPRINCIPAL01",
                "arn": self.principal,
                "accountId": world.account,
                "accessKeyId": self.access_key,
                "userName": self.username(),
            },
            "eventTime": when,
            "eventSource": self.source,
            "eventName": self.name,
            "awsRegion": region,
            "sourceIPAddress": self.source_ip,
            "userAgent": "eic-sim",
            "requestParameters": self.request_parameters,
            "responseElements": null,
            "requestID": self.id,
            "eventID": self.id,
            "readOnly": false,
            "eventType": "AwsApiCall",
            "managementEvent": true,
            "recipientAccountId": world.account,
            "eventCategory": "Management",
        });
        if let Some(code) = &self.error_code {
            record["errorCode"] = code.clone().into();
            record["errorMessage"] = self.error_message.clone().unwrap_or_default().into();
        }
        let resources: Vec<Value> = self
            .resource()
            .map(|(kind, name)| json!({"ResourceType": kind, "ResourceName": name}))
            .into_iter()
            .collect();
        json!({
            "EventId": self.id,
            "EventName": self.name,
            "ReadOnly": "false",
            "AccessKeyId": self.access_key,
            "EventTime": self.time,
            "EventSource": self.source,
            "Username": self.username(),
            "Resources": resources,
            "CloudTrailEvent": record.to_string(),
        })
    }

    /// The resource the event names, for `ResourceType`/`ResourceName` lookups.
    fn resource(&self) -> Option<(&'static str, String)> {
        let p = &self.request_parameters;
        if let Some(id) = p.get("instanceConnectEndpointId").and_then(Value::as_str) {
            return Some(("AWS::EC2::InstanceConnectEndpoint", id.to_string()));
        }
        let id = p.get("instanceId").and_then(Value::as_str)?;
        Some(("AWS::EC2::Instance", id.to_string()))
    }

    /// Whether the event matches one lookup attribute (key as the API names it).
    pub fn matches(&self, key: &str, value: &str) -> bool {
        match key {
            "EventId" => self.id == value,
            "EventName" => self.name == value,
            "ReadOnly" => value == "false",
            "Username" => self.username() == value,
            "ResourceType" => self.resource().is_some_and(|(t, _)| t == value),
            "ResourceName" => self.resource().is_some_and(|(_, n)| n == value),
            "EventSource" => self.source == value,
            "AccessKeyId" => self.access_key == value,
            _ => false,
        }
    }
}

/// The history, newest last as recorded; LookupEvents sorts it.
#[derive(Default)]
pub struct Trail {
    events: Mutex<Vec<TrailEvent>>,
}

impl Trail {
    /// A history that starts with `seeded`.
    pub fn with(seeded: Vec<TrailEvent>) -> Trail {
        Trail {
            events: Mutex::new(seeded),
        }
    }

    /// Adds an event.
    pub fn record(&self, event: TrailEvent) {
        self.events.lock().unwrap().push(event);
    }

    /// Every event so far.
    pub fn all(&self) -> Vec<TrailEvent> {
        self.events.lock().unwrap().clone()
    }
}
