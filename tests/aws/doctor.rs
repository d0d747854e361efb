//! `eic-ssh doctor` against the emulator: a good setup passes, each broken piece is named
//! with its fix, and the JSON report is stable.

use crate::common;

use std::path::Path;
use std::process::Output;

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
    // The road, under the header: no proxy variable, so straight out.
    assert!(
        text.lines()
            .nth(1)
            .is_some_and(|l| l.starts_with("the egress check and the tunnel go direct over IPv")),
        "{text}"
    );
    assert_eq!(report["road"], "direct", "{report:#}");
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
        calls.iter().all(|a| a.starts_with("Describe")
            || a.starts_with("Get")
            || a == "SimulatePrincipalPolicy"
            || a == "LookupEvents"),
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

/// eic-ssh with the config and extra environment.
fn eic_with(h: &Harness, config: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = h.eic_ssh();
    cmd.env("EIC_SSH_CONFIG", config)
        .env("EIC_SSH_EGRESS_CACHE_SECS", "0")
        .envs(env.iter().copied())
        .args(args);
    run(&mut cmd, LIMIT)
}

/// `doctor TARGET --json --fix`'s report and exit code, with extra environment.
fn doctor_env(
    h: &Harness,
    config: &Path,
    target: &str,
    env: &[(&str, &str)],
) -> (i32, serde_json::Value) {
    let out = eic_with(h, config, &["doctor", target, "--json", "--fix"], env);
    let report: serde_json::Value =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|_| panic!("JSON: {}", stderr(&out)));
    (out.status.code().unwrap(), report)
}

fn check_of<'a>(report: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["check"] == name)
        .unwrap_or_else(|| panic!("no {name} check: {report:#}"))
}

#[test]
fn doctor_says_unknown_when_the_api_does_not_answer() {
    let (h, config) = with_config(
        preserving(World::demo(), "198.51.100.0/24"),
        "198.51.100.7",
        DOCTOR_CONFIG,
    );
    let nowhere = [("AWS_ENDPOINT_URL_EC2", "https://ec2.nowhere.invalid")];
    let (code, report) = doctor_env(&h, &config, "bastion", &nowhere);
    assert_eq!(code, 1, "{report:#}");
    assert_eq!(report["ok"], false);
    assert_eq!(check_of(&report, "credentials")["status"], "unknown");
    let instance = check_of(&report, "instance");
    assert_eq!(instance["status"], "unknown", "{report:#}");
    assert!(
        instance["summary"]
            .as_str()
            .unwrap()
            .contains("cannot reach ec2.nowhere.invalid:443"),
        "the real cause is named: {instance:#}"
    );
    assert!(
        !report
            .to_string()
            .contains("check the target, region and profile"),
        "no answer is not a wrong target: {report:#}"
    );
    let out = eic_with(&h, &config, &["doctor", "bastion"], &nowhere);
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("\n? credentials not checked: the EC2 API did not answer")
            && text.contains("\n? DescribeInstances failed: cannot reach ec2.nowhere.invalid:443")
            && text.ends_with("0 failed, 2 not checked, 0 warnings\n"),
        "{text}"
    );
    assert_eq!(
        text.matches("nowhere.invalid").count(),
        1,
        "the cause is said once: {text}"
    );
}

const USER_CONFIG: &str = r#"
[defaults]
egress_check_url = "CHECKIP"
[hosts.bastion]
instance = "i-0123456789abcdef0"
user = "ec2-user"
allow = ["198.51.100.0/24"]
"#;

#[test]
fn doctor_asks_iam_about_open_tunnel_and_send_ssh_public_key() {
    // Allowed: both ✓, asked with the port, the private IP and the user.
    let (h, config) = with_config(
        preserving(World::demo(), "198.51.100.0/24"),
        "198.51.100.7",
        USER_CONFIG,
    );
    let (code, report) = doctor_env(&h, &config, "bastion", &[]);
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(check_of(&report, "open-tunnel")["status"], "ok");
    assert_eq!(check_of(&report, "send-ssh-public-key")["status"], "ok");
    let asked: Vec<serde_json::Value> = h
        .sim
        .events_of("api_call")
        .into_iter()
        .filter(|e| e["action"] == "SimulatePrincipalPolicy")
        .collect();
    assert_eq!(asked.len(), 2, "{asked:#?}");
    let open = &asked[0];
    assert_eq!(
        open["principal"],
        "arn:aws:iam::123456789012:user/developer"
    );
    assert_eq!(open["actions"], "ec2-instance-connect:OpenTunnel");
    assert_eq!(
        open["resource"],
        "arn:aws:ec2:us-east-1:123456789012:instance-connect-endpoint/eice-0123456789abcdef0"
    );
    assert_eq!(open["context"]["ec2-instance-connect:remotePort"], "22");
    assert_eq!(
        open["context"]["ec2-instance-connect:privateIpAddress"],
        "10.0.1.5"
    );
    let push = &asked[1];
    assert_eq!(
        push["resource"],
        "arn:aws:ec2:us-east-1:123456789012:instance/i-0123456789abcdef0"
    );
    assert_eq!(push["context"]["ec2:osuser"], "ec2-user");
    for asked in [open, push] {
        assert_eq!(
            asked["context"]["aws:SourceIp"], "198.51.100.7",
            "{asked:#}"
        );
    }

    // Not allowed (implicitly) and denied (explicitly): both ✗, and --fix grants the first.
    let mut world = preserving(World::demo(), "198.51.100.0/24");
    world.credentials[0]
        .deny
        .push("ec2-instance-connect:OpenTunnel".into());
    world.policies.push(eic_ssh_sim::world::Policy {
        principal: "arn:aws:iam::123456789012:user/developer".into(),
        decisions: [(
            "ec2-instance-connect:SendSSHPublicKey".to_string(),
            "explicitDeny".to_string(),
        )]
        .into(),
    });
    let (h, config) = with_config(world, "198.51.100.7", USER_CONFIG);
    let (code, report) = doctor_env(&h, &config, "bastion", &[]);
    assert_eq!(code, 1, "{report:#}");
    let open = check_of(&report, "open-tunnel");
    assert_eq!(open["status"], "fail", "{report:#}");
    assert!(
        open["summary"]
            .as_str()
            .unwrap()
            .contains("no policy allows it")
    );
    let push = check_of(&report, "send-ssh-public-key");
    assert_eq!(push["status"], "fail");
    assert!(push["summary"].as_str().unwrap().contains("explicit Deny"));
    let fixes = report["fixes"].as_array().unwrap();
    let grant = fixes
        .iter()
        .find(|f| f["check"] == "open-tunnel")
        .expect("a grant");
    let line = grant["aws_cli"][0].as_str().unwrap();
    assert!(
        line.starts_with("aws iam put-user-policy --user-name developer --policy-name eic-ssh-open-tunnel --policy-document '")
            && line.contains("\"Resource\":\"arn:aws:ec2:us-east-1:123456789012:instance-connect-endpoint/eice-0123456789abcdef0\"")
            && line.contains("\"NumericEquals\":{\"ec2-instance-connect:remotePort\":\"22\"}"),
        "{line}"
    );
    let document = line
        .split_once("--policy-document '")
        .and_then(|(_, rest)| rest.strip_suffix('\''))
        .unwrap();
    let _: serde_json::Value = serde_json::from_str(document).expect("the policy is JSON");
    assert!(
        fixes.iter().all(|f| f["check"] != "send-ssh-public-key"),
        "no Allow overrides an explicit Deny"
    );
}

#[test]
fn doctor_says_how_to_check_by_hand_where_it_may_not_simulate() {
    let mut world = preserving(World::demo(), "198.51.100.0/24");
    world.credentials[0]
        .deny
        .push("iam:SimulatePrincipalPolicy".into());
    let (h, config) = with_config(world, "198.51.100.7", USER_CONFIG);
    let (code, report) = doctor_env(&h, &config, "bastion", &[]);
    assert_eq!(code, 1, "? is not a pass: {report:#}");
    assert_eq!(report["ok"], false);
    for name in ["open-tunnel", "send-ssh-public-key"] {
        let c = check_of(&report, name);
        assert_eq!(c["status"], "unknown", "{report:#}");
        assert!(
            c["summary"]
                .as_str()
                .unwrap()
                .contains("may not call iam:SimulatePrincipalPolicy"),
            "{c:#}"
        );
        assert!(
            c["fix"]
                .as_str()
                .unwrap()
                .starts_with("check by hand: aws iam simulate-principal-policy --policy-source-arn arn:aws:iam::123456789012:user/developer --action-names ec2-instance-connect:"),
            "{c:#}"
        );
    }
    // Every other check still passes: only the two are unknown.
    let others: Vec<&serde_json::Value> = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["status"] != "ok")
        .collect();
    assert_eq!(others.len(), 2, "{others:#?}");
}

#[test]
fn an_assumed_role_is_simulated_as_its_role_with_its_path() {
    let role = "arn:aws:iam::123456789012:role/teams/ops/deploy";
    let assumed = "arn:aws:sts::123456789012:assumed-role/deploy/alice";
    let world = |get_role: bool| {
        let mut w = preserving(World::demo(), "198.51.100.0/24");
        w.credentials[0].principal = assumed.into();
        if !get_role {
            w.credentials[0].deny.push("iam:GetRole".into());
        }
        w.roles.push(eic_ssh_sim::world::Role {
            arn: role.into(),
            mfa_serial: None,
            mfa_code: String::new(),
        });
        w
    };
    let (h, config) = with_config(world(true), "198.51.100.7", USER_CONFIG);
    let (code, report) = doctor_env(&h, &config, "bastion", &[]);
    assert_eq!(code, 0, "{report:#}");
    let asked: Vec<String> = h
        .sim
        .events_of("api_call")
        .iter()
        .filter(|e| e["action"] == "SimulatePrincipalPolicy")
        .map(|e| e["principal"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(asked, [role, role]);

    // GetRole refused: the path is unknown, and the line says so.
    let (h, config) = with_config(world(false), "198.51.100.7", USER_CONFIG);
    let (code, report) = doctor_env(&h, &config, "bastion", &[]);
    assert_eq!(code, 1, "{report:#}");
    let c = check_of(&report, "open-tunnel");
    assert_eq!(c["status"], "unknown");
    let summary = c["summary"].as_str().unwrap();
    assert!(
        summary.contains("the ARN of role deploy is unknown")
            && summary.contains("aws iam get-role --role-name deploy"),
        "{c:#}"
    );
}

/// The AWS CLI v2's options for the commands doctor prints (tests/vectors/aws-cli-options.tsv,
/// from botocore's models by scripts/aws-cli-options.py).
struct CliModel {
    /// Options every command takes.
    global: Vec<String>,
    /// `service command` → its options.
    commands: std::collections::BTreeMap<String, Vec<String>>,
    /// `service command option` → the shorthand keys of its value.
    keys: std::collections::BTreeMap<String, Vec<String>>,
}

fn cli_model() -> CliModel {
    let text = include_str!("../vectors/aws-cli-options.tsv");
    let mut model = CliModel {
        global: Vec::new(),
        commands: Default::default(),
        keys: Default::default(),
    };
    let words = |s: &str| s.split(' ').map(str::to_string).collect::<Vec<_>>();
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let cols: Vec<&str> = line.split('\t').collect();
        match cols[..] {
            ["global", options] => model.global = words(options),
            ["command", service, command, options] => {
                model
                    .commands
                    .insert(format!("{service} {command}"), words(options));
            }
            ["keys", service, command, option, keys] => {
                model
                    .keys
                    .insert(format!("{service} {command} {option}"), words(keys));
            }
            _ => panic!("a bad vector line: {line:?}"),
        }
    }
    model
}

/// A command line split as sh splits it (single quotes; `#` starts a comment).
fn shell_words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word: Option<String> = None;
    let mut quoted = false;
    for c in line.chars() {
        match c {
            '\'' => {
                quoted = !quoted;
                word.get_or_insert_with(String::new);
            }
            c if c.is_whitespace() && !quoted => words.extend(word.take()),
            '#' if !quoted && word.is_none() => break,
            c => word.get_or_insert_with(String::new).push(c),
        }
    }
    assert!(!quoted, "an unclosed quote: {line}");
    words.extend(word);
    words
}

/// The top-level keys of a shorthand value: `A=1,B=[{C=2}]` → A, B.
fn shorthand_keys(value: &str) -> Vec<String> {
    let (mut depth, mut start, mut keys) = (0i32, 0usize, Vec::new());
    for (i, c) in value.char_indices().chain([(value.len(), ',')]) {
        match c {
            '[' | '{' => depth += 1,
            ']' | '}' => depth -= 1,
            ',' if depth == 0 => {
                if let Some((key, _)) = value[start..i].split_once('=') {
                    keys.push(key.to_string());
                }
                start = i + 1;
            }
            _ => {}
        }
    }
    keys
}

/// Every option of `line` is one the AWS CLI v2 takes for its command.
fn check_cli_line(model: &CliModel, line: &str) -> Result<(), String> {
    let words = shell_words(line);
    let [aws, service, command, rest @ ..] = &words[..] else {
        return Err(format!("too short: {line}"));
    };
    if aws != "aws" {
        return Err(format!("not an aws command: {line}"));
    }
    let name = format!("{service} {command}");
    let options = model
        .commands
        .get(&name)
        .ok_or_else(|| format!("{name} is not in the vectors: {line}"))?;
    let mut last = None;
    for word in rest {
        if let Some(option) = word.strip_prefix("--").map(|_| word.as_str()) {
            if !options.iter().chain(&model.global).any(|o| o == option) {
                return Err(format!("`aws {name}` takes no {option}: {line}"));
            }
            last = Some(option);
        } else if let Some(option) = last
            && let Some(keys) = model.keys.get(&format!("{name} {option}"))
        {
            for key in shorthand_keys(word) {
                if !keys.contains(&key) {
                    return Err(format!("{option} takes no key {key}: {line}"));
                }
            }
        }
    }
    Ok(())
}

#[test]
fn the_cli_check_catches_what_the_cli_would_refuse() {
    let model = cli_model();
    assert!(
        check_cli_line(
            &model,
            "aws ec2 start-instances --region us-east-1 --instance-ids i-1"
        )
        .is_ok()
    );
    assert!(check_cli_line(&model, "aws ec2 start-instances --instance-id i-1").is_err());
    assert!(
        check_cli_line(
            &model,
            "aws ec2 authorize-security-group-egress --group-id sg-1 --ip-permissions 'IpProtocol=tcp,Port=22'"
        )
        .is_err()
    );
    assert!(check_cli_line(&model, "aws ec2 delete-everything").is_err());
}

#[test]
fn every_printed_fix_is_valid_input_for_what_it_targets() {
    let model = cli_model();
    type Break = fn(&mut World);
    // Worlds that between them bring out every fix doctor prints.
    let worlds: [(&str, Break, &str); 8] = [
        ("good", |_| {}, DOCTOR_CONFIG),
        (
            "stopped",
            |w| w.instances[0].state = "stopped".into(),
            DOCTOR_CONFIG,
        ),
        ("no endpoint", |w| w.endpoints.clear(), DOCTOR_CONFIG),
        (
            "closed groups",
            |w| {
                w.security_groups[1].outbound = Some(vec![]);
                w.security_groups[0].inbound[0].cidrs =
                    vec!["0.0.0.0/0".into(), "10.9.0.0/16".into()];
            },
            DOCTOR_CONFIG,
        ),
        (
            "denied",
            |w| {
                let deny = &mut w.credentials[0].deny;
                deny.push("ec2:DescribeSecurityGroups".into());
                deny.push("ec2-instance-connect:OpenTunnel".into());
                deny.push("ec2-instance-connect:SendSSHPublicKey".into());
            },
            USER_CONFIG,
        ),
        (
            "no simulation",
            |w| {
                w.credentials[0]
                    .deny
                    .push("iam:SimulatePrincipalPolicy".into())
            },
            USER_CONFIG,
        ),
        (
            "no allowlist",
            |w| w.endpoints[0].ip_address_type = "dualstack".into(),
            "[defaults]\negress_check_url = \"CHECKIP\"\n[hosts.bastion]\ninstance = \"i-0123456789abcdef0\"\n",
        ),
        (
            "opted out, no egress IP",
            |_| {},
            "[defaults]\negress_check_url = \"http://127.0.0.1:1/checkip\"\negress_check = false\n[hosts.\"bastion.prod\"]\ninstance = \"i-0123456789abcdef0\"\n",
        ),
    ];
    let (mut cli_lines, mut snippets) = (0, 0);
    for (label, break_it, config) in worlds {
        let mut world = preserving(World::demo(), "198.51.100.0/24");
        if label == "no allowlist" {
            world = World::demo();
        }
        break_it(&mut world);
        let (h, path) = with_config(world, "198.51.100.7", config);
        let target = if label.starts_with("opted out") {
            "bastion.prod"
        } else {
            "bastion"
        };
        let (_, report) = doctor_env(&h, &path, target, &[]);
        let mut lines: Vec<String> = Vec::new();
        for c in report["checks"].as_array().unwrap() {
            if let Some(fix) = c["fix"].as_str() {
                let fix = fix.strip_prefix("check by hand: ").unwrap_or(fix);
                if fix.starts_with("aws ") {
                    lines.push(fix.to_string());
                }
            }
        }
        for f in report["fixes"].as_array().unwrap() {
            lines.extend(
                f["aws_cli"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|l| l.as_str().unwrap().to_string()),
            );
            if let Some(snippet) = f["config"].as_str() {
                let file = format!("{config}\n{snippet}\n");
                // The snippet alone, and as the section it names (a new file, or replacing
                // the section of the same name) must parse with the real parser.
                eic_ssh::config::file::parse(snippet, Path::new("snippet.toml"))
                    .unwrap_or_else(|e| panic!("{label}: {snippet:?}: {e}"));
                if !config.contains(snippet.lines().next().unwrap()) {
                    eic_ssh::config::file::parse(&file, Path::new("config.toml"))
                        .unwrap_or_else(|e| panic!("{label}: {file:?}: {e}"));
                }
                snippets += 1;
            }
        }
        for line in &lines {
            check_cli_line(&model, line).unwrap_or_else(|e| panic!("{label}: {e}"));
            cli_lines += 1;
        }
    }
    assert!(
        cli_lines >= 12 && snippets >= 2,
        "{cli_lines} CLI lines, {snippets} snippets"
    );
}

/// A proxy that refuses every CONNECT with `answer` (nothing: it closes the connection).
fn refusing_proxy(answer: &'static str) -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { continue };
            use std::io::{BufRead, Write};
            let mut reader = std::io::BufReader::new(conn.try_clone().unwrap());
            let mut line = String::new();
            while reader.read_line(&mut line).is_ok_and(|n| n > 0) && line != "\r\n" {
                line.clear();
            }
            let _ = conn.write_all(answer.as_bytes());
        }
    });
    port
}

#[test]
fn a_refusing_proxy_on_the_egress_check_is_named_with_what_it_answered() {
    let cases = [
        (
            "HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n",
            "HTTP/1.1 403 Forbidden; the proxy does not allow this destination",
        ),
        (
            "HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 0\r\n\r\n",
            "HTTP/1.1 407 Proxy Authentication Required; check the user name and password in HTTPS_PROXY",
        ),
        ("", "proxy"),
    ];
    for (answer, said) in cases {
        let (h, config) = with_config(
            preserving(World::demo(), "198.51.100.0/24"),
            "198.51.100.7",
            "",
        );
        let checkip = h.sim.checkip_https_url().replace("127.0.0.1", "localhost");
        std::fs::write(&config, DOCTOR_CONFIG.replace("CHECKIP", &checkip)).unwrap();
        let port = refusing_proxy(answer);
        let proxy = format!("http://ops:s3cret@127.0.0.1:{port}");
        // Every road goes through the proxy (the egress check takes the tunnel's).
        let env = [("HTTPS_PROXY", proxy.as_str())];
        let out = eic_with(&h, &config, &["doctor", "bastion"], &env);
        let text = String::from_utf8_lossy(&out.stdout);
        // The egress check's line names the proxy, its variable and what it answered.
        let line = text
            .lines()
            .find(|l| l.contains("egress IP"))
            .unwrap_or_else(|| panic!("{text}"));
        assert!(line.contains(said), "{line}");
        if !answer.is_empty() {
            assert!(
                line.contains(&format!(
                    "the proxy 127.0.0.1:{port} (HTTPS_PROXY) refused to connect to localhost:"
                )),
                "{line}"
            );
        }
        assert!(!text.contains("tunnel error"), "{text}");
        // The road is named, the proxy's credentials not.
        assert!(
            text.contains(&format!(
                "\nthe egress check and the tunnel go via 127.0.0.1:{port} (HTTPS_PROXY)\n"
            )),
            "{text}"
        );
        assert!(
            !text.contains(&format!("{checkip}: {checkip}")),
            "the URL named once: {text}"
        );
        assert!(!text.contains("s3cret") && !stderr(&out).contains("s3cret"));
        assert_eq!(out.status.code(), Some(1), "{text}");

        // The guard's own refusal says the same, in one line.
        let out = eic_with(&h, &config, &["egress", "bastion"], &env);
        let err = stderr(&out);
        assert!(
            err.contains(said) && !err.contains("s3cret") && !err.contains("tunnel error"),
            "{err}"
        );
    }
}

/// Holds `n` of the endpoint's slots the way another eic-ssh process of this user does (a
/// lock on each slot file in the private slots directory).
fn hold_slots(h: &Harness, endpoint: &str, slots: std::ops::Range<usize>) -> Vec<std::fs::File> {
    let dir = h.dir.path().join(".cache/eic-ssh/slots").join(endpoint);
    std::fs::create_dir_all(&dir).unwrap();
    #[cfg(unix)]
    for d in [dir.as_path(), dir.parent().unwrap()] {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o700)).unwrap();
    }
    slots
        .map(|i| {
            let f = std::fs::File::create(dir.join(format!("{i}.lock"))).unwrap();
            f.try_lock().unwrap();
            f
        })
        .collect()
}

#[test]
fn doctor_counts_the_slots_this_user_holds_on_the_endpoint() {
    let (h, config) = with_config(
        preserving(World::demo(), "198.51.100.0/24"),
        "198.51.100.7",
        DOCTOR_CONFIG,
    );
    let endpoint = "eice-0123456789abcdef0";
    let held = hold_slots(&h, endpoint, 0..3);
    let (code, report) = doctor(&h, &config, "22");
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(report["slots_held"], 3, "{report:#}");
    assert_eq!(status_of(&report, "slots"), ["ok"]);
    let text = eic(&h, &config, &["doctor", "bastion"]);
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(
        text.contains(&format!(
            "✓ your eic-ssh processes hold 3 of {endpoint}'s 20 connections on this machine"
        )),
        "{text}"
    );
    // Near the quota it warns; released slots are no longer counted.
    let more = hold_slots(&h, endpoint, 3..18);
    let (code, report) = doctor(&h, &config, "22");
    assert_eq!(code, 0, "a warning is not a failure: {report:#}");
    assert_eq!(report["slots_held"], 18);
    assert_eq!(status_of(&report, "slots"), ["warn"]);
    drop(held);
    let (_, report) = doctor(&h, &config, "22");
    assert_eq!(report["slots_held"], 15, "{report:#}");
    drop(more);
}
