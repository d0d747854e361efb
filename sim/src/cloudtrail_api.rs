//! CloudTrail's JSON 1.1 API, as far as `LookupEvents` goes: the shapes of botocore's
//! `cloudtrail` model, 50 events a page newest first, one lookup attribute, and 2 calls a
//! second per account and region (`ThrottlingException` beyond).

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use bytes::Bytes;
use serde_json::{Value, json};

use crate::State;
use crate::auth::{Api, Denial, authenticate_request};
use crate::reply::Reply;
use crate::sigv4::sha256_hex;
use crate::trail::TrailEvent;

/// `X-Amz-Target`'s prefix.
pub const TARGET_PREFIX: &str = "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.";

/// How much history the service keeps.
const KEPT_SECS: i64 = 90 * 24 * 3600;

/// Calls allowed per second, per account and region.
const PER_SECOND: usize = 2;

/// The largest page.
const MAX_RESULTS: i64 = 50;

/// The lookup attribute keys of the model's `LookupAttributeKey`.
const KEYS: &[&str] = &[
    "EventId",
    "EventName",
    "ReadOnly",
    "Username",
    "ResourceType",
    "ResourceName",
    "EventSource",
    "AccessKeyId",
];

/// When the last calls of each region were let through (the rate limit's window).
#[derive(Default)]
pub struct Rate {
    calls: Mutex<HashMap<String, VecDeque<Instant>>>,
}

impl Rate {
    /// Whether one more call in `region` fits in the last second; it is counted if so.
    fn admit(&self, region: &str) -> bool {
        let now = Instant::now();
        let mut calls = self.calls.lock().unwrap();
        let window = calls.entry(region.to_string()).or_default();
        while window
            .front()
            .is_some_and(|t| now.duration_since(*t) >= Duration::from_secs(1))
        {
            window.pop_front();
        }
        if window.len() >= PER_SECOND {
            return false;
        }
        window.push_back(now);
        true
    }
}

/// Answers one CloudTrail request.
pub fn handle(parts: &http::request::Parts, body: &Bytes, state: &State) -> Reply {
    let target = parts
        .headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let action = target.strip_prefix(TARGET_PREFIX).unwrap_or(target);
    let outcome = match action {
        "LookupEvents" => lookup_events(parts, body, state),
        other => Err(Denial::new(
            400,
            "UnknownOperationException",
            format!("Unknown operation {other}"),
        )),
    };
    state.events.record(
        "api_call",
        json!({"service": "cloudtrail", "action": action, "ok": outcome.is_ok(),
               "code": outcome.as_ref().err().map(|d| d.code.clone())}),
    );
    crate::reply::json11_reply(outcome, "com.amazonaws.cloudtrail.v20131101")
}

/// What one call asks for, once validated.
struct Lookup {
    attribute: Option<(String, String)>,
    start: Option<i64>,
    end: Option<i64>,
    max: usize,
    token: Option<String>,
    insight: bool,
}

fn lookup_events(
    parts: &http::request::Parts,
    body: &Bytes,
    state: &State,
) -> Result<Value, Denial> {
    let world = state.world.read().unwrap().clone();
    let caller = authenticate_request(
        &world,
        Api::CloudTrail,
        "cloudtrail",
        parts,
        body,
        "cloudtrail:LookupEvents",
        "*",
    )?;
    if !state.lookup_rate.admit(&caller.region) {
        return Err(Denial::new(400, "ThrottlingException", "Rate exceeded"));
    }
    let input: Value = serde_json::from_slice(body).map_err(|_| {
        Denial::new(
            400,
            "SerializationException",
            "The request body is not valid JSON",
        )
    })?;
    let ask = validate(&input)?;
    if ask.insight {
        // No trail here enables Insights.
        return Ok(json!({"Events": []}));
    }
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let oldest = now - KEPT_SECS;
    let mut events: Vec<TrailEvent> = state
        .trail
        .all()
        .into_iter()
        .filter(|e| e.region.as_deref().unwrap_or(&world.region) == caller.region)
        .filter(|e| e.time >= oldest)
        .filter(|e| ask.start.is_none_or(|s| e.time >= s))
        .filter(|e| ask.end.is_none_or(|t| e.time <= t))
        .filter(|e| ask.attribute.as_ref().is_none_or(|(k, v)| e.matches(k, v)))
        .collect();
    // Newest first; ties in a stable, token-friendly order.
    events.sort_by(|a, b| (b.time, &b.id).cmp(&(a.time, &a.id)));
    let scope = scope_of(&ask);
    let after = match &ask.token {
        None => None,
        Some(token) => Some(read_token(token, &scope)?),
    };
    let rest: Vec<&TrailEvent> = events
        .iter()
        .filter(|e| {
            after
                .as_ref()
                .is_none_or(|(t, id)| (e.time, &e.id) < (*t, id))
        })
        .collect();
    let page = &rest[..rest.len().min(ask.max)];
    let mut answer = json!({
        "Events": page.iter().map(|e| e.to_lookup(&world)).collect::<Vec<_>>(),
    });
    if rest.len() > page.len()
        && let Some(last) = page.last()
    {
        answer["NextToken"] = token(&scope, last).into();
    }
    Ok(answer)
}

/// The request's members checked as the service checks them.
fn validate(input: &Value) -> Result<Lookup, Denial> {
    let Some(members) = input.as_object() else {
        return Err(Denial::new(
            400,
            "SerializationException",
            "The request body must be a JSON object",
        ));
    };
    let serialization = |m: &str| Denial::new(400, "SerializationException", m.to_string());
    let attributes = match members.get("LookupAttributes") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(list)) => list.clone(),
        Some(_) => return Err(serialization("LookupAttributes must be a list")),
    };
    let bad_attributes =
        |m: &str| Denial::new(400, "InvalidLookupAttributesException", m.to_string());
    if attributes.len() > 1 {
        return Err(bad_attributes(
            "You cannot specify more than one lookup attribute.",
        ));
    }
    let attribute = match attributes.first() {
        None => None,
        Some(a) => {
            let key = a.get("AttributeKey").and_then(Value::as_str);
            let value = a.get("AttributeValue").and_then(Value::as_str);
            let (Some(key), Some(value)) = (key, value) else {
                return Err(bad_attributes(
                    "A lookup attribute needs an AttributeKey and an AttributeValue.",
                ));
            };
            if !KEYS.contains(&key) {
                return Err(bad_attributes(&format!(
                    "{key} is not a valid lookup attribute key."
                )));
            }
            if value.is_empty() || value.chars().count() > 2000 {
                return Err(bad_attributes(
                    "The AttributeValue must be 1 to 2000 characters long.",
                ));
            }
            Some((key.to_string(), value.to_string()))
        }
    };
    let time = |name: &str| -> Result<Option<i64>, Denial> {
        match members.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Number(n)) => n
                .as_f64()
                .map(|f| Some(f.floor() as i64))
                .ok_or_else(|| serialization(&format!("{name} is not a timestamp"))),
            Some(_) => Err(serialization(&format!(
                "{name} must be a timestamp in epoch seconds"
            ))),
        }
    };
    let (start, end) = (time("StartTime")?, time("EndTime")?);
    if let (Some(s), Some(e)) = (start, end)
        && s > e
    {
        return Err(Denial::new(
            400,
            "InvalidTimeRangeException",
            "Start time must be before end time.",
        ));
    }
    let max = match members.get("MaxResults") {
        None | Some(Value::Null) => MAX_RESULTS,
        Some(v) => v
            .as_i64()
            .ok_or_else(|| serialization("MaxResults must be an integer"))?,
    };
    if !(1..=MAX_RESULTS).contains(&max) {
        return Err(Denial::new(
            400,
            "InvalidMaxResultsException",
            "Value for parameter MaxResults must be between 1 and 50.",
        ));
    }
    let insight = match members.get("EventCategory") {
        None | Some(Value::Null) => false,
        Some(Value::String(s)) if s == "insight" => true,
        Some(_) => {
            return Err(Denial::new(
                400,
                "InvalidEventCategoryException",
                "The only valid EventCategory is insight.",
            ));
        }
    };
    let token = match members.get("NextToken") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => return Err(serialization("NextToken must be a string")),
    };
    Ok(Lookup {
        attribute,
        start,
        end,
        max: max as usize,
        token,
        insight,
    })
}

/// What a token is bound to: the same attribute and window (the page size may change).
fn scope_of(ask: &Lookup) -> String {
    let text = format!("{:?}|{:?}|{:?}", ask.attribute, ask.start, ask.end);
    sha256_hex(text.as_bytes())[..16].to_string()
}

/// `SCOPE.TIME.ID`, hex-encoded so it is opaque.
fn token(scope: &str, last: &TrailEvent) -> String {
    hex::encode(format!("{scope}.{}.{}", last.time, last.id))
}

/// The position a token stands for, when it was made for the same parameters.
fn read_token(token: &str, scope: &str) -> Result<(i64, String), Denial> {
    let invalid = || {
        Denial::new(
            400,
            "InvalidNextTokenException",
            "Invalid NextToken: it is not valid, or was made for different parameters.",
        )
    };
    let text = hex::decode(token)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or_else(invalid)?;
    let mut parts = text.splitn(3, '.');
    let (Some(s), Some(t), Some(id)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(invalid());
    };
    if s != scope {
        return Err(invalid());
    }
    let t = t.parse().map_err(|_| invalid())?;
    Ok((t, id.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(input: Value) -> String {
        validate(&input).err().map(|d| d.code).unwrap_or_default()
    }

    #[test]
    fn requests_are_checked_as_the_service_checks_them() {
        assert_eq!(
            code(json!({"MaxResults": 51})),
            "InvalidMaxResultsException"
        );
        assert_eq!(code(json!({"MaxResults": 0})), "InvalidMaxResultsException");
        let attribute = json!({"AttributeKey": "EventName", "AttributeValue": "OpenTunnel"});
        assert_eq!(
            code(json!({"LookupAttributes": [attribute, attribute]})),
            "InvalidLookupAttributesException"
        );
        assert_eq!(
            code(
                json!({"LookupAttributes": [{"AttributeKey": "SourceIp", "AttributeValue": "x"}]})
            ),
            "InvalidLookupAttributesException"
        );
        assert_eq!(
            code(json!({"StartTime": 20, "EndTime": 10})),
            "InvalidTimeRangeException"
        );
        assert_eq!(
            code(json!({"StartTime": "yesterday"})),
            "SerializationException"
        );
        assert_eq!(
            code(json!({"EventCategory": "data"})),
            "InvalidEventCategoryException"
        );
        assert_eq!(
            code(json!({"LookupAttributes": [attribute], "MaxResults": 50})),
            ""
        );
    }

    #[test]
    fn a_token_serves_only_the_parameters_it_was_made_for() {
        let ask = validate(&json!({"StartTime": 1, "EndTime": 2})).unwrap();
        let other = validate(&json!({"StartTime": 1, "EndTime": 3})).unwrap();
        let event = TrailEvent {
            id: "e-1".into(),
            time: 2,
            name: "OpenTunnel".into(),
            source: crate::trail::EVENT_SOURCE.into(),
            principal: "arn:aws:iam::1:user/a".into(),
            access_key: String::new(),
            source_ip: "192.0.2.1".into(),
            request_parameters: Value::Null,
            error_code: None,
            error_message: None,
            region: None,
        };
        let t = token(&scope_of(&ask), &event);
        assert_eq!(read_token(&t, &scope_of(&ask)).unwrap(), (2, "e-1".into()));
        assert_eq!(
            read_token(&t, &scope_of(&other)).unwrap_err().code,
            "InvalidNextTokenException"
        );
        assert!(read_token("zz", &scope_of(&ask)).is_err());
    }
}
