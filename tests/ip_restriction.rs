//! Issue 3 end to end: the egress guard (before any AWS call), the config file and host
//! aliases, allowlists from security groups, and `eic-ssh doctor`, through the emulator.

mod common;

use std::path::PathBuf;
use std::process::{Command, Output};
use std::time::Duration;

use common::*;
use eic_ssh_sim::World;

/// A harness whose simulated internet sees us as `public_ip`, and a config file.
fn setup(world: World, public_ip: &str, config: &str) -> (Harness, PathBuf) {
    let mut world = world;
    world.client_public_ip = Some(public_ip.parse().unwrap());
    let h = Harness::with_world(world);
    let path = h.dir.path().join("config.toml");
    let text = config.replace("CHECKIP", &h.sim.checkip_url());
    std::fs::write(&path, text).unwrap();
    (h, path)
}

/// eic-ssh with the config and no egress cache (each run asks again).
fn eic(h: &Harness, config: &PathBuf, args: &[&str]) -> Output {
    let mut cmd = h.eic_ssh();
    cmd.env("EIC_SSH_CONFIG", config)
        .env("EIC_SSH_EGRESS_CACHE_SECS", "0")
        .args(args);
    run(&mut cmd, LIMIT)
}

/// `eic-ssh proxy bastion` with a key to push: what must not happen from a refused network.
fn proxy_pushing_a_key(h: &Harness, config: &PathBuf) -> Output {
    let key = h.public_key();
    let args = [
        "proxy",
        "bastion",
        "--user",
        "ec2-user",
        "--push-key",
        key.to_str().unwrap(),
    ];
    eic(h, config, &args)
}

fn ssh_alias(h: &Harness, config: &PathBuf, alias: &str) -> Output {
    let mut cmd = Command::new("ssh");
    h.isolate(&mut cmd);
    cmd.env("EIC_SSH_CONFIG", config)
        .env("EIC_SSH_EGRESS_CACHE_SECS", "0");
    cmd.args(h.ssh_options())
        .args(["-o", &format!("HostKeyAlias={BASTION}")]);
    cmd.arg(format!("{}@{alias}", h.user)).arg("true");
    run(&mut cmd, LIMIT)
}

fn count(h: &Harness, kind: &str) -> usize {
    h.sim.events_of(kind).len()
}

const ALLOW_OFFICE: &str = r#"
[defaults]
allow = ["203.0.113.0/24", "198.51.100.7/32"]
egress_check_url = "CHECKIP"

[hosts.bastion]
instance = "i-0123456789abcdef0"
"#;

#[test]
fn an_allowed_ip_connects_through_an_alias() {
    let (h, config) = setup(World::demo(), "203.0.113.10", ALLOW_OFFICE);
    let out = ssh_alias(&h, &config, "bastion");
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(count(&h, "checkip"), 1);
    assert_eq!(count(&h, "tunnel_open"), 1);
}

#[test]
fn an_outside_ip_is_refused_before_any_aws_call() {
    let (h, config) = setup(World::demo(), "192.0.2.44", ALLOW_OFFICE);
    let out = proxy_pushing_a_key(&h, &config);
    assert_eq!(out.status.code(), Some(3));
    assert_eq!(
        stderr(&out),
        format!(
            "eic-ssh: refusing to connect: egress IP 192.0.2.44 is not in the allowlist for bastion (203.0.113.0/24, 198.51.100.7/32). Connect from an allowed network (office/VPN) or edit ~/config.toml.\n"
        )
    );
    assert_eq!(count(&h, "checkip"), 1);
    assert_eq!(count(&h, "api_call"), 0, "no AWS call of any kind");
    assert_eq!(count(&h, "key_pushed"), 0);
    assert_eq!(count(&h, "tunnel_open") + count(&h, "tunnel_refused"), 0);
}

#[test]
fn unknown_garbage_or_disagreeing_sources_fail_closed() {
    let cases = [
        (
            "\"http://127.0.0.1:9/checkip\"",
            "http://127.0.0.1:9/checkip: ",
        ),
        (
            "\"CHECKIP/garbage\"",
            "/checkip/garbage answered \"<html><body>Service Unavailable",
        ),
        (
            "[\"CHECKIP\", \"CHECKIP/as/198.51.100.99\"]",
            "the egress IP sources disagree: ",
        ),
    ];
    for (urls, expected) in cases {
        let config =
            format!("[defaults]\nallow = [\"203.0.113.0/24\"]\negress_check_url = {urls}\n");
        let (h, path) = setup(World::demo(), "203.0.113.10", &config);
        let out = eic(&h, &path, &["proxy", BASTION]);
        assert_eq!(out.status.code(), Some(3), "{urls}: {}", stderr(&out));
        let err = stderr(&out);
        assert!(
            err.starts_with(&format!("eic-ssh: refusing to connect: cannot determine the egress IP, and {BASTION} has an allowlist (")),
            "{err}"
        );
        assert!(err.contains(expected), "{urls}: {err}");
        assert_eq!(count(&h, "api_call"), 0);
    }
}

#[test]
fn a_slow_source_times_out_and_fails_closed() {
    let config = "[defaults]\nallow = [\"203.0.113.0/24\"]\negress_check_url = \"CHECKIP/slow\"\n";
    let (h, path) = setup(World::demo(), "203.0.113.10", config);
    let out = eic(&h, &path, &["proxy", BASTION]);
    assert_eq!(out.status.code(), Some(3));
    assert!(
        stderr(&out).contains("/checkip/slow: no answer within 3s"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn ipv6_allowlists() {
    let config = "[defaults]\nallow = [\"2001:db8::/32\"]\negress_check_url = \"CHECKIP/as/2001:db8:1::5\"\n";
    let (h, path) = setup(World::demo(), "203.0.113.10", config);
    let out = eic(&h, &path, &["egress", BASTION]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("egress IP:  2001:db8:1::5") && text.contains("verdict:    allowed"),
        "{text}"
    );
    let config =
        "[defaults]\nallow = [\"2001:db8::/32\"]\negress_check_url = \"CHECKIP/as/2001:db9::5\"\n";
    std::fs::write(&path, config.replace("CHECKIP", &h.sim.checkip_url())).unwrap();
    let out = eic(&h, &path, &["proxy", BASTION]);
    assert_eq!(out.status.code(), Some(3));
    assert!(
        stderr(&out).contains("egress IP 2001:db9::5 is not in the allowlist"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn the_egress_ip_is_cached_for_at_most_the_ttl() {
    let (h, config) = setup(World::demo(), "203.0.113.10", ALLOW_OFFICE);
    let egress = |ttl: &str| {
        let mut cmd = h.eic_ssh();
        cmd.env("EIC_SSH_CONFIG", &config)
            .env("EIC_SSH_EGRESS_CACHE_SECS", ttl)
            .args(["egress", "bastion"]);
        let out = run(&mut cmd, LIMIT);
        assert!(out.status.success(), "{}", stderr(&out));
    };
    egress("60");
    egress("60");
    assert_eq!(count(&h, "checkip"), 1, "the second run used the cache");
    std::thread::sleep(Duration::from_millis(1100));
    egress("1");
    assert_eq!(
        count(&h, "checkip"),
        2,
        "a 1 s old answer is stale at TTL 1 s"
    );
    egress("0");
    assert_eq!(count(&h, "checkip"), 3, "TTL 0 turns the cache off");
    let cache = h.dir.path().join(".cache/eic-ssh/egress-ip.json");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(cache).unwrap().permissions().mode() & 0o777,
        0o600
    );
}

fn preserving(mut world: World, sg_cidr: &str) -> World {
    world.endpoints[0].preserve_client_ip = true;
    world.security_groups[0].inbound[0].cidrs = vec![sg_cidr.into()];
    world
}

const FROM_SG: &str = r#"
[defaults]
egress_check_url = "CHECKIP"
[hosts.bastion]
instance = "i-0123456789abcdef0"
allow = ["203.0.113.0/24"]
allow_from_security_group = true
"#;

#[test]
fn security_group_rules_extend_the_allowlist() {
    let (h, config) = setup(
        preserving(World::demo(), "198.51.100.0/24"),
        "198.51.100.7",
        FROM_SG,
    );
    let out = ssh_alias(&h, &config, "bastion");
    assert!(out.status.success(), "{}", stderr(&out));
    let events = h.sim.events();
    let at = |pred: &dyn Fn(&serde_json::Value) -> bool| events.iter().position(pred).unwrap();
    let sg = at(&|e| e["action"] == "DescribeSecurityGroups");
    let push = at(&|e| e["event"] == "key_pushed");
    assert!(
        sg < push,
        "the security group is read before the key is pushed"
    );
}

#[test]
fn security_group_rules_that_do_not_admit_us_refuse() {
    let (h, config) = setup(
        preserving(World::demo(), "10.99.0.0/16"),
        "198.51.100.7",
        FROM_SG,
    );
    let out = proxy_pushing_a_key(&h, &config);
    assert_eq!(out.status.code(), Some(3));
    assert_eq!(
        stderr(&out),
        format!(
            "eic-ssh: refusing to connect: egress IP 198.51.100.7 is not in the allowlist for bastion (203.0.113.0/24, 10.99.0.0/16). Connect from an allowed network (office/VPN) or edit ~/config.toml.\n"
        )
    );
    let actions: Vec<String> = h
        .sim
        .events_of("api_call")
        .iter()
        .map(|e| e["action"].as_str().unwrap().to_string())
        .collect();
    assert!(
        actions.iter().all(|a| a.starts_with("Describe")),
        "read-only calls only: {actions:?}"
    );
    assert_eq!(count(&h, "key_pushed"), 0);
    assert_eq!(count(&h, "tunnel_open") + count(&h, "tunnel_refused"), 0);
}

#[test]
fn without_preserve_client_ip_the_endpoint_group_admits_everyone() {
    let (h, config) = setup(World::demo(), "192.0.2.44", FROM_SG);
    let out = ssh_alias(&h, &config, "bastion");
    assert!(out.status.success(), "{}", stderr(&out));
}

#[test]
fn config_errors_name_file_line_and_key() {
    let h = Harness::new();
    let path = h.dir.path().join("bad.toml");
    let cases = [
        (
            "[defaults]\nregion = \"us-east-1\"\nallw = []\n",
            ":3:1: unknown field `allw`, expected one of",
        ),
        (
            "[defaults]\nallow = [\"203.0.113.0/33\"]\n",
            ":2:9: invalid CIDR \"203.0.113.0/33\"",
        ),
        ("[defaults\nallow = []\n", ":1:"),
        (
            "[hosts.web]\nuser = \"ubuntu\"\n",
            ":1: [hosts.web] needs `instance = \"i-…\"` or `name = \"NAME\"`",
        ),
        (
            "[defaults]\negress_check_url = \"http://checkip.example.com\"\n",
            "must use https://",
        ),
    ];
    for (text, expected) in cases {
        std::fs::write(&path, text).unwrap();
        for args in [vec!["config", "check"], vec!["proxy", BASTION]] {
            let out = eic(&h, &path, &args);
            assert_eq!(out.status.code(), Some(2), "{text:?}");
            let err = stderr(&out);
            assert!(
                err.starts_with(&format!("eic-ssh: {}", path.display())) && err.contains(expected),
                "{text:?}: {err}"
            );
            assert_eq!(err.lines().count(), 1, "one line: {err}");
        }
    }
    let mut cmd = h.eic_ssh();
    cmd.args(["proxy", BASTION, "--config", "/nonexistent/eic.toml"]);
    let out = run(&mut cmd, LIMIT);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).starts_with("eic-ssh: cannot read config file /nonexistent/eic.toml:"),
        "{}",
        stderr(&out)
    );
    assert!(h.sim.events().is_empty());
}

#[test]
fn config_check_prints_the_effective_settings() {
    let (h, config) = setup(World::demo(), "203.0.113.10", ALLOW_OFFICE);
    let out = eic(&h, &config, &["config", "check", "bastion"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(&format!("{} is valid", config.display())),
        "{text}"
    );
    assert!(
        text.contains("instance:        i-0123456789abcdef0"),
        "{text}"
    );
    assert!(
        text.contains("allow:           203.0.113.0/24, 198.51.100.7/32 (from defaults)"),
        "{text}"
    );
}

#[test]
fn name_tags_resolve_and_ambiguity_is_explained() {
    let h = Harness::new();
    let out = run(h.eic_ssh().args(["proxy", "bastion"]), LIMIT);
    assert!(
        out.status.success(),
        "the Name tag resolves: {}",
        stderr(&out)
    );
    let mut world = World::demo();
    let mut twin = world.instances[0].clone();
    twin.id = "i-0cccccccccccccccc3".into();
    world.instances.push(twin);
    let h = Harness::with_world(world);
    let out = run(h.eic_ssh().args(["proxy", "bastion"]), LIMIT);
    assert_eq!(out.status.code(), Some(5));
    assert_eq!(
        stderr(&out),
        "eic-ssh: 2 instances are named \"bastion\" in us-east-1 (i-0123456789abcdef0 running, i-0cccccccccccccccc3 running): use an instance id, or add a [hosts] section\n"
    );
}

fn doctor(h: &Harness, config: &PathBuf, port: &str) -> (i32, serde_json::Value) {
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
    let (h, config) = setup(
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
        let (h, config) = setup(world, "198.51.100.7", DOCTOR_CONFIG);
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
    let (h, config) = setup(World::demo(), "198.51.100.7", DOCTOR_CONFIG);
    let (code, report) = doctor(&h, &config, "22");
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(status_of(&report, "preserve-client-ip"), ["warn"]);
    assert_eq!(status_of(&report, "instance-inbound"), ["ok"]);

    let (h, config) = setup(
        preserving(World::demo(), "198.51.100.0/24"),
        "198.51.100.7",
        &DOCTOR_CONFIG.replace("198.51.100.0/24", "198.51.100.0/25"),
    );
    let (_, report) = doctor(&h, &config, "22");
    assert_eq!(status_of(&report, "allowlist-vs-sg"), ["warn"]);
}

/// `[hosts.bastion]` allows only the office; the instance is also reachable by id and by its
/// Name tag (`bastion`, under another alias here so the tag is not the alias).
const BOUND: &str = r#"
[defaults]
egress_check_url = "CHECKIP"

[hosts.office-only]
instance = "i-0123456789abcdef0"
allow = ["203.0.113.0/24"]

[hosts.opted-out]
instance = "i-0123456789abcdef0"
egress_check = false
"#;

#[test]
fn the_allowlist_binds_to_the_instance_by_id_alias_or_name_tag() {
    let (h, config) = setup(World::demo(), "192.0.2.99", BOUND);
    let key = h.public_key();
    let key = key.to_str().unwrap();
    for typed in ["i-0123456789abcdef0", "opted-out", "bastion"] {
        let out = eic(
            &h,
            &config,
            &["proxy", typed, "--user", "ec2-user", "--push-key", key],
        );
        assert_fails(&out, 3, "not in the allowlist of [hosts.office-only]");
        assert_eq!(count(&h, "key_pushed"), 0, "{typed}");
        assert_eq!(count(&h, "tunnel_open"), 0, "{typed}");
    }
    // By id or alias the guard decides before any AWS call; by Name tag right after the
    // one DescribeInstances that turns the tag into an id (no endpoint lookup).
    let api: Vec<String> = h
        .sim
        .events_of("api_call")
        .iter()
        .map(|e| e["action"].as_str().unwrap_or_default().to_string())
        .collect();
    assert_eq!(api, ["DescribeInstances"], "{api:?}");
    // From the office every way in works.
    let (h, config) = setup(World::demo(), "203.0.113.5", BOUND);
    let out = ssh_alias(&h, &config, "bastion");
    assert!(out.status.success(), "{}", stderr(&out));
}

#[test]
fn config_check_shows_bound_lists_and_opt_outs() {
    let (h, config) = setup(World::demo(), "192.0.2.99", BOUND);
    let out = eic(&h, &config, &["config", "check", "opted-out"]);
    let text = String::from_utf8_lossy(&out.stdout).into_owned() + &stderr(&out);
    assert!(text.contains("egress_check = false"), "{text}");
    assert!(text.contains("from [hosts.office-only]"), "{text}");
    std::fs::write(&config, "[defaults]\nallow = []\n").unwrap();
    let out = eic(&h, &config, &["config", "check"]);
    assert_fails(&out, 2, "config.toml:2:");
}

#[test]
fn a_check_url_that_redirects_fails_closed() {
    // A loopback check that answers with a redirect to the real (allowing) one.
    let server = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = server.local_addr().unwrap().port();
    let config = format!(
        "[defaults]\nallow = [\"203.0.113.0/24\"]\negress_check_url = \"http://127.0.0.1:{port}/ip\"\n"
    );
    let (h, path) = setup(World::demo(), "203.0.113.10", &config);
    let target = h.sim.checkip_url();
    std::thread::spawn(move || {
        use std::io::{Read, Write};
        for mut client in server.incoming().flatten() {
            let mut buf = [0u8; 1024];
            let _ = client.read(&mut buf);
            let _ = write!(
                client,
                "HTTP/1.1 302 Found\r\nLocation: {target}\r\nContent-Length: 0\r\n\r\n"
            );
        }
    });
    let out = eic(&h, &path, &["proxy", BASTION]);
    assert_fails(&out, 3, "cannot determine the egress IP");
    assert!(stderr(&out).contains("HTTP 302"), "{}", stderr(&out));
    assert_eq!(count(&h, "checkip"), 0, "the redirect was not followed");
}
