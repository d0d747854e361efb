//! The egress guard end to end: refused before any AWS call, fail closed, cached at most
//! 60 s, allowlists from security groups and bound to the instance however it is named.

use crate::common;

use std::path::Path;

use std::process::{Command, Output};

use common::*;
use eic_ssh_sim::World;

/// `eic-ssh proxy bastion` with a key to push: what must not happen from a refused network.
fn proxy_pushing_a_key(h: &Harness, config: &Path) -> Output {
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

fn ssh_alias(h: &Harness, config: &Path, alias: &str) -> Output {
    let mut cmd = Command::new("ssh");
    h.isolate(&mut cmd);
    cmd.env("EIC_SSH_CONFIG", config)
        .env("EIC_SSH_EGRESS_CACHE_SECS", "0");
    cmd.args(h.ssh_options())
        .args(["-o", &format!("HostKeyAlias={BASTION}")]);
    cmd.arg(format!("{}@{alias}", h.user)).arg("true");
    run(&mut cmd, LIMIT)
}

#[test]
fn an_allowed_ip_connects_through_an_alias() {
    let (h, config) = with_config(World::demo(), "203.0.113.10", ALLOW_OFFICE);
    let out = ssh_alias(&h, &config, "bastion");
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(count(&h, "checkip"), 1);
    assert_eq!(count(&h, "tunnel_open"), 1);
}

#[test]
fn an_outside_ip_is_refused_before_any_aws_call() {
    let (h, config) = with_config(World::demo(), "192.0.2.44", ALLOW_OFFICE);
    let out = proxy_pushing_a_key(&h, &config);
    assert_fails_exactly(
        &out,
        3,
        "eic-ssh: refusing to connect: egress IP 192.0.2.44 is not in the allowlist for bastion (203.0.113.0/24, 198.51.100.7/32). Connect from an allowed network (office/VPN) or edit ~/config.toml.\n",
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
        let (h, path) = with_config(World::demo(), "203.0.113.10", &config);
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
    let (h, path) = with_config(World::demo(), "203.0.113.10", config);
    let out = eic(&h, &path, &["proxy", BASTION]);
    assert_fails(&out, 3, "/checkip/slow: no answer within 3s");
}

#[test]
fn ipv6_allowlists() {
    let config = "[defaults]\nallow = [\"2001:db8::/32\"]\negress_check_url = \"CHECKIP/as/2001:db8:1::5\"\n";
    let (h, path) = with_config(World::demo(), "203.0.113.10", config);
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
    assert_fails(&out, 3, "egress IP 2001:db9::5 is not in the allowlist");
}

#[test]
fn the_egress_ip_is_cached_for_at_most_the_ttl() {
    let (h, config) = with_config(World::demo(), "203.0.113.10", ALLOW_OFFICE);
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
    // The answer made a second older than it is (the file keeps seconds), not waited for.
    let cache = h.dir.path().join(".cache/eic-ssh/egress-ip.json");
    let mut entry: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&cache).unwrap()).unwrap();
    entry["at"] = (entry["at"].as_u64().unwrap() - 1).into();
    std::fs::write(&cache, entry.to_string()).unwrap();
    egress("1");
    assert_eq!(
        count(&h, "checkip"),
        2,
        "a 1 s old answer is stale at TTL 1 s"
    );
    egress("0");
    assert_eq!(count(&h, "checkip"), 3, "TTL 0 turns the cache off");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(cache).unwrap().permissions().mode() & 0o777,
        0o600
    );
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
    let (h, config) = with_config(
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
    let (h, config) = with_config(
        preserving(World::demo(), "10.99.0.0/16"),
        "198.51.100.7",
        FROM_SG,
    );
    let out = proxy_pushing_a_key(&h, &config);
    assert_fails_exactly(
        &out,
        3,
        "eic-ssh: refusing to connect: egress IP 198.51.100.7 is not in the allowlist for bastion (203.0.113.0/24, 10.99.0.0/16). Connect from an allowed network (office/VPN) or edit ~/config.toml.\n",
    );
    let actions = api_actions(&h);
    assert!(
        actions.iter().all(|a| a.starts_with("Describe")),
        "read-only calls only: {actions:?}"
    );
    assert_eq!(count(&h, "key_pushed"), 0);
    assert_eq!(count(&h, "tunnel_open") + count(&h, "tunnel_refused"), 0);
}

#[test]
fn without_preserve_client_ip_the_endpoint_group_admits_everyone() {
    let (h, config) = with_config(World::demo(), "192.0.2.44", FROM_SG);
    let out = ssh_alias(&h, &config, "bastion");
    assert!(out.status.success(), "{}", stderr(&out));
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
    assert_fails_exactly(
        &out,
        5,
        "eic-ssh: 2 instances are named \"bastion\" in us-east-1 (i-0123456789abcdef0 running, i-0cccccccccccccccc3 running): use an instance id, or add a [hosts] section\n",
    );
}

#[test]
fn the_allowlist_binds_to_the_instance_by_id_alias_or_name_tag() {
    let (h, config) = with_config(World::demo(), "192.0.2.99", BOUND);
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
    let api = api_actions(&h);
    assert_eq!(api, ["DescribeInstances"], "{api:?}");
    // From the office every way in works.
    let (h, config) = with_config(World::demo(), "203.0.113.5", BOUND);
    let out = ssh_alias(&h, &config, "bastion");
    assert!(out.status.success(), "{}", stderr(&out));
}

#[test]
fn a_check_url_that_redirects_fails_closed() {
    // A loopback check that answers with a redirect to the real (allowing) one.
    let server = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = server.local_addr().unwrap().port();
    let config = format!(
        "[defaults]\nallow = [\"203.0.113.0/24\"]\negress_check_url = \"http://127.0.0.1:{port}/ip\"\n"
    );
    let (h, path) = with_config(World::demo(), "203.0.113.10", &config);
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

#[test]
fn an_ip_learned_directly_is_not_reused_through_a_proxy() {
    let (h, config) = with_config(World::demo(), "203.0.113.10", ALLOW_OFFICE);
    // The cache is on (60 s) for both runs.
    let mut cmd = h.eic_ssh();
    cmd.env("EIC_SSH_CONFIG", &config)
        .args(["proxy", "bastion"]);
    let out = run(&mut cmd, LIMIT);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(count(&h, "checkip"), 1);

    // Through a proxy the egress is the proxy's: the cached answer does not apply, and
    // this proxy is down, so the IP is unknown and the guard fails closed.
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let proxy = format!("http://{}", dead.local_addr().unwrap());
    drop(dead);
    let mut cmd = h.eic_ssh();
    cmd.env("EIC_SSH_CONFIG", &config)
        .env("HTTP_PROXY", &proxy)
        .env("HTTPS_PROXY", &proxy)
        .args(["proxy", "bastion"]);
    let out = run(&mut cmd, LIMIT);
    assert_fails(&out, 3, "cannot determine the egress IP");
    assert_eq!(count(&h, "checkip"), 1);
}

/// A dual-stack network (203.0.113.10 over IPv4, 2001:db8::10 over IPv6) and a dualstack
/// endpoint; the config admits `allow` and checks over both families (the emulator's checkip on 127.0.0.1 and [::1]).
fn dual_stack(allow: &str) -> Option<(Harness, std::path::PathBuf)> {
    let mut world = World::demo();
    world.client_public_ipv6 = Some("2001:db8::10".parse().unwrap());
    world.endpoints[0].ip_address_type = "dualstack".into();
    let (h, path) = with_config(world, "203.0.113.10", "");
    let v6 = h.sim.checkip_url_v6()?;
    let config = format!(
        "[defaults]\nallow = [{allow}]\negress_check_url = [\"{}\", \"{v6}\"]\n",
        h.sim.checkip_url()
    );
    std::fs::write(&path, config).unwrap();
    Some((h, path))
}

#[test]
fn egress_shows_each_familys_ip_and_verdict() {
    let Some((h, path)) = dual_stack("\"203.0.113.0/24\"") else {
        return no_ipv6_loopback();
    };
    let out = eic(&h, &path, &["egress"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("egress IP:  203.0.113.10 over IPv4")
            && text.contains("egress IP:  2001:db8::10 over IPv6")
            && text.contains("verdict:    over IPv4: allowed")
            && text.contains("verdict:    over IPv6: refusing to connect: egress IP 2001:db8::10"),
        "{text}"
    );
    let out = eic(&h, &path, &["egress", "--json"]);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["family"], "ipv4");
    assert_eq!(report["families"][1]["family"], "ipv6");
    assert_eq!(report["families"][1]["verdict"], "refused");
}

#[test]
fn an_ipv4_verdict_never_covers_an_ipv6_tunnel() {
    let Some((h, path)) = dual_stack("\"203.0.113.0/24\"") else {
        return no_ipv6_loopback();
    };
    // The endpoint is reached over IPv6 only: that family is checked before the tunnel.
    let over_v6 = |h: &Harness, path: &std::path::Path| {
        let mut cmd = h.eic_ssh();
        cmd.env("EIC_SSH_CONFIG", path)
            .env("EIC_SSH_EGRESS_CACHE_SECS", "0")
            .env(
                "EIC_SSH_TUNNEL_ENDPOINT_URL",
                h.sim.tunnel_url_v6().unwrap(),
            )
            .args(["proxy", BASTION, "22"]);
        run(&mut cmd, LIMIT)
    };
    let out = over_v6(&h, &path);
    assert_fails(
        &out,
        3,
        "refusing to connect: egress IP 2001:db8::10 is not in the allowlist",
    );
    assert_eq!(
        count(&h, "tunnel_open"),
        0,
        "no tunnel for a refused family"
    );
    // Admitted over IPv6 too, the tunnel opens over IPv6 and SSH works through it.
    let (h, path) = dual_stack("\"203.0.113.0/24\", \"2001:db8::/64\"").unwrap();
    let proxy = format!(
        "{} proxy %h %p --user %r --push-key {}",
        env!("CARGO_BIN_EXE_eic-ssh"),
        h.public_key().display()
    );
    let mut ssh = h.ssh_via(&proxy, "echo over-v6");
    ssh.env("EIC_SSH_CONFIG", &path)
        .env("EIC_SSH_EGRESS_CACHE_SECS", "0")
        .env(
            "EIC_SSH_TUNNEL_ENDPOINT_URL",
            h.sim.tunnel_url_v6().unwrap(),
        );
    let out = run(&mut ssh, LIMIT);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "over-v6");
}

#[test]
fn an_ipv6_verdict_never_covers_an_ipv4_tunnel() {
    let Some((h, path)) = dual_stack("\"2001:db8::/64\"") else {
        return no_ipv6_loopback();
    };
    // Checked over IPv6 (EIC_SSH_ADDRESS_FAMILY), the tunnel can only go over IPv4.
    let mut cmd = h.eic_ssh();
    cmd.env("EIC_SSH_CONFIG", &path)
        .env("EIC_SSH_EGRESS_CACHE_SECS", "0")
        .env("EIC_SSH_ADDRESS_FAMILY", "inet6")
        .args(["proxy", BASTION, "22"]);
    let out = run(&mut cmd, LIMIT);
    assert_fails(
        &out,
        3,
        "refusing to connect: egress IP 203.0.113.10 is not in the allowlist",
    );
    assert_eq!(count(&h, "tunnel_open"), 0);
}

#[test]
fn read_only_lookups_run_from_a_refused_network_and_say_what_the_guard_refuses() {
    // `list`, `ssh-config --discover` and `doctor` are not guarded: they only read
    // (Describe…), push no key and open no tunnel, and each says what the guard would
    // refuse from here. Every command that connects is refused before any AWS call.
    let (h, config) = with_config(World::demo(), "192.0.2.44", ALLOW_OFFICE);
    let read_only = |h: &Harness| {
        let actions = api_actions(h);
        // Reads only: EC2's Describe calls, and doctor's questions to STS, IAM and CloudTrail.
        let reads = [
            "GetCallerIdentity",
            "SimulatePrincipalPolicy",
            "GetRole",
            "LookupEvents",
        ];
        assert!(
            actions
                .iter()
                .all(|a| a.starts_with("Describe") || reads.contains(&a.as_str())),
            "{actions:?}"
        );
        assert_eq!(count(h, "key_pushed"), 0);
        assert_eq!(count(h, "tunnel_open") + count(h, "tunnel_refused"), 0);
    };

    let out = eic(&h, &config, &["list"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(
        table
            .lines()
            .any(|l| l.starts_with(BASTION) && l.contains("refused")),
        "{table}"
    );
    read_only(&h);

    let key = h.public_key();
    let out = eic(
        &h,
        &config,
        &[
            "ssh-config",
            "--discover",
            "--identity",
            key.to_str().unwrap(),
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains(&format!(
            "note: from this network the guard refuses {BASTION}: egress IP 192.0.2.44 is not in the allowlist"
        )),
        "{err}"
    );
    assert!(
        err.contains("is refused until you connect from an allowed network"),
        "{err}"
    );
    read_only(&h);

    let out = eic(&h, &config, &["doctor", "bastion"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(
        report.contains("✗") && report.contains("192.0.2.44"),
        "{report}"
    );
    read_only(&h);

    let calls = count(&h, "api_call");
    let out = proxy_pushing_a_key(&h, &config);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert_eq!(count(&h, "api_call"), calls, "no AWS call for a connect");
}
