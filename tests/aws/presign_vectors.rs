//! eic-ssh's presigned openTunnel URLs against botocore's (tests/vectors, made by the script there).

use std::collections::BTreeSet;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_credential_types::Credentials;
use eic_ssh::tunnel::presign::presign;
use eic_ssh::tunnel::{TunnelEndpoint, TunnelRequest};

/// The golden vector of docs/protocol.md, "Opening a tunnel", byte for byte.
const GOLDEN: &str = "wss://eice-0123456789abcdef0.ec2-instance-connect-endpoint.us-east-1.amazonaws.com/openTunnel?instanceConnectEndpointId=eice-0123456789abcdef0&remotePort=22&privateIpAddress=10.0.1.5&maxTunnelDuration=3600&X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIDEXAMPLE%2F20240101%2Fus-east-1%2Fec2-instance-connect%2Faws4_request&X-Amz-Date=20240101T000000Z&X-Amz-Expires=60&X-Amz-SignedHeaders=host&X-Amz-Signature=679aee52ad1d00a059eccb46e627ac1ceadbab1588033bc6b9849da3ad796fed";

fn parse_time(text: &str) -> SystemTime {
    // "YYYY-MM-DDTHH:MM:SSZ" → seconds since the epoch (civil-from-days, proleptic Gregorian).
    let n = |r: std::ops::Range<usize>| text[r].parse::<i64>().unwrap();
    let (y, m, d) = (n(0..4), n(5..7), n(8..10));
    let (y, m) = if m <= 2 { (y - 1, m + 9) } else { (y, m - 3) };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * m + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146097 + doe - 719468;
    let secs = days * 86400 + n(11..13) * 3600 + n(14..16) * 60 + n(17..19);
    UNIX_EPOCH + Duration::from_secs(secs as u64)
}

fn sign_case(case: &serde_json::Value, key: &str, secret: &str) -> String {
    let token = case["token"].as_str().map(str::to_string);
    let credentials = Credentials::new(key, secret, token, None, "test");
    let endpoint =
        TunnelEndpoint::parse(&format!("wss://{}", case["host"].as_str().unwrap())).unwrap();
    let request = TunnelRequest {
        endpoint_id: "eice-0123456789abcdef0".into(),
        private_ip: case["ip"].as_str().unwrap().into(),
        remote_port: case["port"].as_u64().unwrap() as u16,
        max_tunnel_duration: case["duration"].as_u64().map(|d| d as u32),
    };
    presign(
        &endpoint,
        &request,
        &credentials,
        case["region"].as_str().unwrap(),
        parse_time(case["time"].as_str().unwrap()),
    )
    .unwrap()
}

fn split(url: &str) -> (&str, BTreeSet<&str>) {
    let (base, query) = url.split_once('?').unwrap();
    (base, query.split('&').collect())
}

#[test]
fn golden_vector_matches_byte_for_byte() {
    let vectors: serde_json::Value =
        serde_json::from_str(include_str!("../vectors/presign.json")).unwrap();
    let golden = &vectors["cases"][0];
    assert_eq!(golden["name"], "golden");
    assert_eq!(golden["url"], GOLDEN);
    let ours = sign_case(
        golden,
        "AKIDEXAMPLE",
        "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
    );
    assert_eq!(ours, GOLDEN);
}

#[test]
fn every_botocore_vector_matches() {
    let vectors: serde_json::Value =
        serde_json::from_str(include_str!("../vectors/presign.json")).unwrap();
    let key = vectors["access_key"].as_str().unwrap();
    let secret = vectors["secret_key"].as_str().unwrap();
    let cases = vectors["cases"].as_array().unwrap();
    assert!(cases.len() >= 5);
    for case in cases {
        let ours = sign_case(case, key, secret);
        let theirs = case["url"].as_str().unwrap();
        // aws-sigv4 puts X-Amz-Security-Token after the signature, botocore before it:
        // the same parameters, in another order, which the service does not mind.
        assert_eq!(split(&ours), split(theirs), "case {}", case["name"]);
    }
}
