//! `eic-ssh doctor` against the emulator: a good setup passes, each broken piece is named
//! with its fix, and the JSON report is stable.

mod common;

use std::path::Path;

use common::*;
use eic_ssh_sim::World;

fn doctor(h: &Harness, config: &Path, port: &str) -> (i32, serde_json::Value) {
    let out = eic(h, config, &["doctor", "bastion", "--json", "--port", port]);
    let report: serde_json::Value =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|_| panic!("JSON: {}", stderr(&out)));
    (out.status.code().unwrap(), report)
}

fn status_of(report: &serde_json::Value, check: &str) -> Vec<String> {
    report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["check"] == check)
        .map(|c| c["status"].as_str().unwrap().to_string())
        .collect()
}

const DOCTOR_CONFIG: &str = r#"
[defaults]
egress_check_url = "CHECKIP"
[hosts.bastion]
instance = "i-0123456789abcdef0"
allow = ["198.51.100.0/24"]
"#;

#[test]
fn doctor_passes_a_good_setup() {
    let (h, config) = with_config(
        preserving(World::demo(), "198.51.100.0/24"),
        "198.51.100.7",
        DOCTOR_CONFIG,
    );
    let (code, report) = doctor(&h, &config, "22");
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(report["ok"], true);
    let all: Vec<&str> = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["status"].as_str().unwrap())
        .collect();
    assert!(all.iter().all(|s| *s == "ok"), "{report:#}");
    let text = eic(&h, &config, &["doctor", "bastion"]);
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(
        text.contains("✓ Preserve Client IP is on") && text.ends_with("0 failed, 0 warnings\n"),
        "{text}"
    );
    assert_eq!(
        count(&h, "key_pushed") + count(&h, "tunnel_open"),
        0,
        "doctor only reads"
    );
}

#[test]
fn doctor_reports_each_broken_piece() {
    type Break = fn(&mut World);
    let cases: [(&str, Break, &str, &str); 7] = [
        (
            "instance",
            |w| w.instances[0].state = "stopped".into(),
            "22",
            "fail",
        ),
        ("endpoint", |w| w.endpoints.clear(), "22", "fail"),
        (
            "endpoint-egress",
            |w| w.security_groups[1].outbound = Some(vec![]),
            "22",
            "fail",
        ),
        (
            "egress-ip",
            |w| w.security_groups[0].inbound[0].cidrs = vec!["10.99.0.0/16".into()],
            "22",
            "fail",
        ),
        (
            "credentials",
            |w| {
                w.credentials[0]
                    .deny
                    .push("ec2:DescribeSecurityGroups".into())
            },
            "22",
            "fail",
        ),
        ("port", |_| {}, "2222", "fail"),
        (
            "open-to-world",
            |w| {
                w.security_groups[0].inbound[0]
                    .cidrs
                    .push("0.0.0.0/0".into())
            },
            "22",
            "warn",
        ),
    ];
    for (check, break_it, port, expected) in cases {
        let mut world = preserving(World::demo(), "198.51.100.0/24");
        break_it(&mut world);
        let (h, config) = with_config(world, "198.51.100.7", DOCTOR_CONFIG);
        let (code, report) = doctor(&h, &config, port);
        assert!(
            status_of(&report, check).contains(&expected.to_string()),
            "{check}: {report:#}"
        );
        assert_eq!(
            code,
            if expected == "fail" { 1 } else { 0 },
            "{check}: {report:#}"
        );
    }
}

#[test]
fn doctor_warns_about_preserve_client_ip_off_and_disagreeing_allowlists() {
    let (h, config) = with_config(World::demo(), "198.51.100.7", DOCTOR_CONFIG);
    let (code, report) = doctor(&h, &config, "22");
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(status_of(&report, "preserve-client-ip"), ["warn"]);
    assert_eq!(status_of(&report, "instance-inbound"), ["ok"]);

    let (h, config) = with_config(
        preserving(World::demo(), "198.51.100.0/24"),
        "198.51.100.7",
        &DOCTOR_CONFIG.replace("198.51.100.0/24", "198.51.100.0/25"),
    );
    let (_, report) = doctor(&h, &config, "22");
    assert_eq!(status_of(&report, "allowlist-vs-sg"), ["warn"]);
}

#[test]
fn doctor_fix_prints_the_commands_and_changes_nothing() {
    // Preserve Client IP on, but the instance admits only another network.
    let (h, config) = with_config(
        preserving(World::demo(), "192.0.2.0/24"),
        "198.51.100.7",
        DOCTOR_CONFIG,
    );
    let out = eic(&h, &config, &["doctor", "bastion", "--fix"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("Fixes (printed only; eic-ssh changes nothing in AWS):"),
        "{text}"
    );
    assert!(
        text.contains("aws ec2 authorize-security-group-ingress --region us-east-1 --group-id sg-0instance000000001 --ip-permissions 'IpProtocol=tcp,FromPort=22,ToPort=22,IpRanges=[{CidrIp=198.51.100.0/24,Description=eic-ssh allowlist}]'"),
        "{text}"
    );
    assert!(
        text.contains("#   resource \"aws_vpc_security_group_ingress_rule\""),
        "{text}"
    );
    let calls = api_actions(&h);
    assert!(
        calls.iter().all(|a| a.starts_with("Describe")),
        "only reads: {calls:?}"
    );

    // Preserve Client IP off: recreate, never "modify".
    let (h, config) = with_config(World::demo(), "198.51.100.7", DOCTOR_CONFIG);
    let out = eic(&h, &config, &["doctor", "bastion", "--fix", "--json"]);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let fix = report["fixes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["check"] == "preserve-client-ip")
        .expect("a fix for Preserve Client IP");
    assert!(
        fix["note"]
            .as_str()
            .unwrap()
            .contains("cannot be changed on an existing endpoint")
    );
    assert!(fix["aws_cli"][0].as_str().unwrap().contains(
        "create-instance-connect-endpoint --region us-east-1 --subnet-id subnet-0demo0000000000a"
    ));
    assert!(
        fix["terraform"]
            .as_str()
            .unwrap()
            .contains("preserve_client_ip = true")
    );

    // A good setup: nothing to fix.
    let (h, config) = with_config(
        preserving(World::demo(), "198.51.100.0/24"),
        "198.51.100.7",
        DOCTOR_CONFIG,
    );
    let out = eic(&h, &config, &["doctor", "bastion", "--fix"]);
    assert!(String::from_utf8_lossy(&out.stdout).ends_with("nothing to fix\n"));
}
