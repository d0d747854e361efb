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
        calls
            .iter()
            .all(|a| a.starts_with("Describe") || a == "LookupEvents"),
        "only reads: {calls:?}"
    );

    // Preserve Client IP off: turned on in place, never "delete and recreate".
    let (h, config) = with_config(World::demo(), "198.51.100.7", DOCTOR_CONFIG);
    let out = eic(&h, &config, &["doctor", "bastion", "--fix", "--json"]);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let fix = report["fixes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["check"] == "preserve-client-ip")
        .expect("a fix for Preserve Client IP");
    assert_eq!(
        fix["aws_cli"],
        serde_json::json!([
            "aws ec2 modify-instance-connect-endpoint --region us-east-1 --instance-connect-endpoint-id eice-0123456789abcdef0 --preserve-client-ip"
        ])
    );
    assert!(
        fix["note"]
            .as_str()
            .unwrap()
            .contains("applies to new connections")
    );
    assert!(
        fix["terraform"]
            .as_str()
            .unwrap()
            .contains("preserve_client_ip = true")
    );
    assert!(
        !out.stdout.windows(6).any(|w| w == b"delete"),
        "no outage prescribed"
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

/// One cell of the doctor ≡ guard matrix: the config, how the instance is typed, the IP.
struct Cell {
    layout: &'static str,
    sg: bool,
    opt_out: bool,
    typed: &'static str,
    ip: &'static str,
}

impl Cell {
    /// Sections naming the bastion: `web` (by id, or by Name tag in layout `by-name`) with
    /// 203.0.113.0/24, and in the layouts other than `one`, `strict` by id with
    /// 203.0.113.0/25.
    fn config(&self) -> String {
        let web_names = if self.layout == "by-name" {
            "name = \"bastion\"".to_string()
        } else {
            format!("instance = \"{BASTION}\"")
        };
        let mut text = format!(
            "[defaults]\negress_check_url = \"CHECKIP\"\n\n[hosts.web]\n{web_names}\nallow = [\"203.0.113.0/24\"]\nallow_from_security_group = {}\negress_check = {}\n",
            self.sg, !self.opt_out
        );
        if self.layout != "one" {
            text.push_str(&format!(
                "\n[hosts.strict]\ninstance = \"{BASTION}\"\nallow = [\"203.0.113.0/25\"]\n"
            ));
        }
        text
    }
}

#[test]
fn doctor_and_the_guard_agree_in_every_cell() {
    // The security group admits 192.0.2.0/24 and 203.0.113.0/25, with Preserve Client IP.
    let mut world = preserving(World::demo(), "192.0.2.0/24");
    world.security_groups[0].inbound[0]
        .cidrs
        .push("203.0.113.0/25".into());
    let (h, config) = with_config(world, "192.0.2.1", "");
    let mut cells = Vec::new();
    for layout in ["one", "two", "by-name"] {
        for sg in [false, true] {
            for opt_out in [false, true] {
                for typed in ["web", BASTION, "bastion"] {
                    for ip in ["203.0.113.10", "203.0.113.200", "192.0.2.1"] {
                        cells.push(Cell {
                            layout,
                            sg,
                            opt_out,
                            typed,
                            ip,
                        });
                    }
                }
            }
        }
    }
    let mut verdicts = std::collections::BTreeMap::new();
    for cell in &cells {
        let text = cell.config().replace("CHECKIP", &h.sim.checkip_url());
        std::fs::write(&config, text).unwrap();
        h.sim
            .update_world(|w| w.client_public_ip = Some(cell.ip.parse().unwrap()));
        let label = format!(
            "{} sg={} opt_out={} typed={} ip={}",
            cell.layout, cell.sg, cell.opt_out, cell.typed, cell.ip
        );
        let out = eic(&h, &config, &["doctor", cell.typed, "--json"]);
        let report: serde_json::Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|_| panic!("{label}: {}", stderr(&out)));
        let allowlist = status_of(&report, "allowlist");
        assert_eq!(allowlist.len(), 1, "{label}: {report:#}");
        let out = eic(&h, &config, &["proxy", cell.typed, "22"]);
        let err = stderr(&out);
        let guard_refused = err.contains("refusing to connect");
        assert_eq!(
            guard_refused,
            out.status.code() == Some(3),
            "{label}: exit 3 is the guard's alone: {err}"
        );
        let doctor_says = allowlist[0].as_str();
        assert_eq!(
            doctor_says == "fail",
            guard_refused,
            "{label}: doctor says {doctor_says}, the guard {}",
            if guard_refused {
                "refused"
            } else {
                "let it through"
            }
        );
        *verdicts.entry(doctor_says.to_string()).or_insert(0) += 1;
    }
    // The matrix covers all three outcomes.
    assert!(
        ["ok", "warn", "fail"]
            .iter()
            .all(|s| verdicts.get(*s).copied().unwrap_or(0) > 0),
        "{verdicts:?}"
    );
}
