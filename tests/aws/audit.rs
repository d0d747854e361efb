//! `eic-ssh audit` against the emulator's CloudTrail: real tunnels and key pushes shown
//! with today's allowlist verdicts, seeded history paged and throttled, and bad input.

use crate::common;

use std::path::Path;
use std::process::{Command, Output};

use common::*;
use eic_ssh_sim::{TrailEvent, World};
use serde_json::{Value, json};

/// Connects with OpenSSH through `eic-ssh proxy` (key pushed) and runs `true`.
fn connect(h: &Harness, config: &Path) -> Output {
    let mut cmd = Command::new("ssh");
    h.isolate(&mut cmd);
    cmd.env("EIC_SSH_CONFIG", config)
        .env("EIC_SSH_EGRESS_CACHE_SECS", "0");
    cmd.args(h.ssh_options())
        .args(["-o", &format!("HostKeyAlias={BASTION}")]);
    cmd.arg(format!("{}@{BASTION}", h.user)).arg("true");
    run(&mut cmd, LIMIT)
}

/// The JSON lines of `audit --json …`.
fn lines(out: &Output) -> Vec<Value> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// A seeded OpenTunnel to the bastion's private IP from `source`, `ago` seconds ago.
fn seeded(n: usize, ago: i64, source: &str, error: Option<&str>) -> TrailEvent {
    TrailEvent {
        id: format!("seed-{n:04}"),
        time: now() - ago,
        name: "OpenTunnel".into(),
        source: "ec2-instance-connect.amazonaws.com".into(),
        principal: "arn:aws:iam::123456789012:user/mallory".into(),
        access_key: "AKIAOTHERKEY00000001".into(),
        source_ip: source.into(),
        request_parameters: json!({"instanceConnectEndpointId": "eice-0123456789abcdef0",
            "privateIpAddress": "10.0.1.5", "remotePort": "22", "maxTunnelDuration": "3600"}),
        error_code: error.map(str::to_string),
        error_message: error.map(|_| "denied".to_string()),
        region: None,
    }
}

#[test]
fn real_tunnels_are_listed_with_todays_verdict_and_outside_ones_fail_the_run() {
    let (h, office) = with_config(World::demo(), "203.0.113.10", ALLOW_OFFICE);
    let out = connect(&h, &office);
    assert!(out.status.success(), "{}", stderr(&out));
    // A colleague with no allowlist connects from elsewhere.
    let open = h.dir.path().join("open.toml");
    std::fs::write(&open, "").unwrap();
    h.sim
        .update_world(|w| w.client_public_ip = Some("192.0.2.44".parse().unwrap()));
    let out = connect(&h, &open);
    assert!(out.status.success(), "{}", stderr(&out));

    let out = eic(&h, &office, &["audit", "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let events = lines(&out);
    // A key push and its tunnel fall in the same second: compare them without order.
    let mut what: Vec<(String, String, Value)> = events
        .iter()
        .map(|e| {
            (
                e["event"].as_str().unwrap().to_string(),
                e["source_ip"].as_str().unwrap().to_string(),
                e["allowed"].clone(),
            )
        })
        .collect();
    what.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
    assert_eq!(
        what,
        [
            ("OpenTunnel".into(), "192.0.2.44".into(), json!(false)),
            ("OpenTunnel".into(), "203.0.113.10".into(), json!(true)),
            ("SendSSHPublicKey".into(), "192.0.2.44".into(), json!(false)),
            (
                "SendSSHPublicKey".into(),
                "203.0.113.10".into(),
                json!(true)
            ),
        ],
        "{events:#?}"
    );
    let tunnel = events
        .iter()
        .find(|e| e["event"] == "OpenTunnel" && e["source_ip"] == "203.0.113.10")
        .unwrap();
    assert_eq!(
        tunnel["principal"],
        "arn:aws:iam::123456789012:user/developer"
    );
    assert_eq!(tunnel["endpoint_id"], "eice-0123456789abcdef0");
    assert_eq!(tunnel["private_ip"], "10.0.1.5");
    assert_eq!(tunnel["instance_id"], BASTION);
    assert_eq!(tunnel["aliases"], json!(["bastion"]));
    assert_eq!(tunnel["port"], 22);
    assert_eq!(tunnel["error_code"], Value::Null);

    // The table marks the outside tunnel, and the summary counts it.
    let out = eic(&h, &office, &["audit", "--fail-on-outside"]);
    assert_eq!(out.status.code(), Some(9), "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    let marked: Vec<&str> = text.lines().filter(|l| l.starts_with('!')).collect();
    assert_eq!(marked.len(), 2, "{text}");
    assert!(marked.iter().all(|l| l.contains("192.0.2.44")), "{text}");
    assert!(marked.iter().any(|l| l.contains("  tunnel  ")), "{text}");
    assert!(
        marked
            .iter()
            .all(|l| l.contains("i-0123456789abcdef0 (bastion)")),
        "{text}"
    );
    assert!(
        text.contains(
            "outside the allowlist: 1 successful tunnels, 1 key pushes (marked !) from 192.0.2.44"
        ),
        "{text}"
    );
    assert!(text.contains("4 events from "), "{text}");

    // A target that is not the bastion leaves every event out.
    let out = eic(&h, &office, &["audit", "--fail-on-outside", ORPHAN]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout)
            .starts_with("no OpenTunnel or SendSSHPublicKey events"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[test]
fn every_page_is_read_and_throttling_is_waited_out() {
    let (h, office) = with_config(World::demo(), "203.0.113.10", ALLOW_OFFICE);
    let mut history: Vec<TrailEvent> = (0..120)
        .map(|n| seeded(n, 600 + n as i64, "203.0.113.20", None))
        .collect();
    history.push(seeded(500, 300, "198.51.100.99", None));
    history.push(seeded(501, 200, "198.51.100.99", Some("AccessDenied")));
    // Outside the window, and another service's event: neither is shown.
    history.push(seeded(502, 3 * 86_400, "198.51.100.99", None));
    let mut other = seeded(503, 100, "198.51.100.99", None);
    other.name = "CreateInstanceConnectEndpoint".into();
    other.source = "ec2.amazonaws.com".into();
    history.push(other);
    h.sim.seed_trail(history);

    let out = eic(&h, &office, &["audit", "--json", "--fail-on-outside"]);
    assert_eq!(out.status.code(), Some(9), "{}", stderr(&out));
    assert_eq!(stderr(&out), "", "throttling is never shown");
    let events = lines(&out);
    assert_eq!(events.len(), 122);
    let times: Vec<&str> = events.iter().map(|e| e["time"].as_str().unwrap()).collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "oldest first");
    let outside: Vec<&Value> = events.iter().filter(|e| e["allowed"] == false).collect();
    assert_eq!(outside.len(), 2);
    assert_eq!(outside[1]["error_code"], "AccessDenied");
    let lookups: Vec<Value> = h
        .sim
        .events_of("api_call")
        .into_iter()
        .filter(|e| e["action"] == "LookupEvents")
        .collect();
    let ok = lookups.iter().filter(|e| e["ok"] == true).count();
    let throttled = lookups
        .iter()
        .filter(|e| e["code"] == "ThrottlingException")
        .count();
    assert_eq!(ok, 3, "122 events are three pages of at most 50");
    assert!(
        throttled >= 1,
        "three calls at once exceed 2 a second: {lookups:?}"
    );

    // Only the refused attempt from outside: not a failure for --fail-on-outside.
    let out = eic(
        &h,
        &office,
        &[
            "audit",
            "--since",
            "250s",
            "--until",
            "150s",
            "--fail-on-outside",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.lines().any(|l| l.starts_with('x')), "{text}");
    assert!(
        text.contains("1 events from") && text.contains("1 refused"),
        "{text}"
    );
}

#[test]
fn bad_input_gets_one_line_and_its_code() {
    let mut world = World::demo();
    world.credentials.push(eic_ssh_sim::world::Credential {
        access_key: "AKIANOTRAIL000000001".into(),
        secret_key: "notrail/secret/0000000000000000000000000".into(),
        session_token: None,
        expires_at: None,
        deny: vec!["cloudtrail:LookupEvents".into()],
        principal: "arn:aws:iam::123456789012:user/intern".into(),
    });
    let (h, office) = with_config(world, "203.0.113.10", ALLOW_OFFICE);
    let audit = |args: &[&str]| {
        let mut all = vec!["audit"];
        all.extend(args);
        eic(&h, &office, &all)
    };
    assert_fails_exactly(
        &audit(&["--since", "yesterday"]),
        2,
        "eic-ssh: cannot read --since \"yesterday\": give a duration before now (30m, 24h, 7d, 2w) or a UTC time (2024-05-01T10:00:00Z, 2024-05-01)\n",
    );
    assert_fails(
        &audit(&["--since", "1h", "--until", "2h"]),
        2,
        "is before --since",
    );
    assert_fails(
        &audit(&["--since", "2999-01-01"]),
        2,
        "the window starts in the future",
    );
    assert_fails(
        &audit(&["--since", "91d"]),
        2,
        "CloudTrail keeps 90 days of event history",
    );
    assert_fails(
        &audit(&["--region", "ap-south-1"]),
        4,
        "CloudTrail in ap-south-1 has no history for these credentials: the region is not enabled",
    );
    let out = audit(&["--region", "eu-west-1"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("in eu-west-1"));
    let mut cmd = h.eic_ssh();
    cmd.env("EIC_SSH_CONFIG", &office)
        .env("AWS_ACCESS_KEY_ID", "AKIANOTRAIL000000001")
        .env(
            "AWS_SECRET_ACCESS_KEY",
            "notrail/secret/0000000000000000000000000",
        )
        .arg("audit");
    let out = run(&mut cmd, LIMIT);
    assert_fails(
        &out,
        4,
        "Your IAM policy must allow cloudtrail:LookupEvents",
    );
    assert_eq!(stderr(&out).lines().count(), 1, "{}", stderr(&out));
}

#[test]
fn doctor_says_whether_the_history_can_be_read() {
    let mut world = World::demo();
    world.credentials[0].deny = vec!["cloudtrail:LookupEvents".into()];
    let (h, office) = with_config(world, "203.0.113.10", ALLOW_OFFICE);
    let check = |h: &Harness| {
        let out = eic(h, &office, &["doctor", "bastion", "--json"]);
        let report: Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|_| panic!("JSON: {}", stderr(&out)));
        report["checks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["check"] == "audit-history")
            .cloned()
            .unwrap_or_else(|| panic!("{report:#}"))
    };
    let denied = check(&h);
    assert_eq!(denied["status"], "warn", "{denied:#}");
    assert!(
        denied["fix"]
            .as_str()
            .unwrap()
            .contains("cloudtrail:LookupEvents"),
        "{denied:#}"
    );
    h.sim.update_world(|w| w.credentials[0].deny.clear());
    assert_eq!(check(&h)["status"], "ok");
}
