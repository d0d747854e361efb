//! The route cache: a repeated connect sends no discovery call, the guard still decides
//! first (with the sections bound to the cached instance), a route that went stale is
//! resolved afresh without the user noticing, and `--no-cache` / `cache = false` ask the
//! API every time.

mod common;

use std::process::Output;

use common::*;
use eic_ssh_sim::World;

const DISCOVERY: [&str; 2] = ["DescribeInstances", "DescribeInstanceConnectEndpoints"];

/// Runs `eic-ssh ARGS… -- echo cached-ok` and returns the API actions it caused.
fn connect(h: &Harness, config: &std::path::Path, args: &[&str]) -> (Output, Vec<String>) {
    let before = api_actions(h).len();
    let mut all: Vec<&str> = args.to_vec();
    all.extend(["--", "echo", "cached-ok"]);
    let mut cmd = h.eic_ssh();
    cmd.env("EIC_SSH_CONFIG", config)
        .env("EIC_SSH_EGRESS_CACHE_SECS", "0")
        .env("EIC_SSH_KNOWN_HOSTS", &h.known_hosts)
        .args(&all);
    let out = run(&mut cmd, LIMIT);
    (out, api_actions(h)[before..].to_vec())
}

fn discovery_calls(actions: &[String]) -> usize {
    actions
        .iter()
        .filter(|a| DISCOVERY.contains(&a.as_str()))
        .count()
}

fn ok(out: &Output) {
    assert!(out.status.success(), "{}", stderr(out));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "cached-ok\n");
}

/// The session form's refusal: 255 like every failure of ssh itself, in one line.
fn refused(out: &Output) {
    assert_eq!(out.status.code(), Some(255), "{}", stderr(out));
    assert!(
        stderr(out).starts_with("eic-ssh: refusing to connect"),
        "{}",
        stderr(out)
    );
}

#[test]
fn a_repeated_connect_sends_no_discovery_call() {
    let (h, config) = with_config(World::demo(), "203.0.113.7", ALLOW_OFFICE);
    let target = format!("{}@bastion", h.user);
    let (out, first) = connect(&h, &config, &[&target]);
    ok(&out);
    assert_eq!(discovery_calls(&first), 2, "{first:?}");
    let (out, second) = connect(&h, &config, &[&target]);
    ok(&out);
    assert_eq!(second, ["SendSSHPublicKey"], "only the key push");

    // By its Name tag, the same: the first run describes, the next does not.
    let by_name = format!("{}@{}", h.user, "bastion-by-tag");
    let tagged = ALLOW_OFFICE.to_string() + "\n[hosts.bastion-by-tag]\nname = \"bastion\"\n";
    std::fs::write(&config, tagged.replace("CHECKIP", &h.sim.checkip_url())).unwrap();
    let (out, first) = connect(&h, &config, &[&by_name]);
    ok(&out);
    assert!(discovery_calls(&first) >= 1, "{first:?}");
    let (out, second) = connect(&h, &config, &[&by_name]);
    ok(&out);
    assert_eq!(second, ["SendSSHPublicKey"]);

    // The cache file is private.
    let file = h.dir.path().join(".cache/eic-ssh/routes.json");
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(text.contains(BASTION), "{text}");
    assert!(!text.contains(&World::demo().credentials[0].secret_key));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}

#[test]
fn no_cache_and_cache_false_ask_the_api_every_time() {
    let (h, config) = with_config(World::demo(), "203.0.113.7", ALLOW_OFFICE);
    let target = format!("{}@bastion", h.user);
    ok(&connect(&h, &config, &[&target]).0);
    let (out, again) = connect(&h, &config, &[&target, "--no-cache"]);
    ok(&out);
    assert_eq!(discovery_calls(&again), 2, "{again:?}");

    let off = ALLOW_OFFICE.replace("[defaults]\n", "[defaults]\ncache = false\n");
    std::fs::write(&config, off.replace("CHECKIP", &h.sim.checkip_url())).unwrap();
    let (out, again) = connect(&h, &config, &[&target]);
    ok(&out);
    assert_eq!(discovery_calls(&again), 2, "{again:?}");
}

#[test]
fn the_guard_still_decides_first_on_a_cached_route() {
    // Cached from the office; then the network changes to one the allowlist refuses.
    let (h, config) = with_config(World::demo(), "203.0.113.7", ALLOW_OFFICE);
    let target = format!("{}@bastion", h.user);
    ok(&connect(&h, &config, &[&target]).0);
    h.sim
        .update_world(|w| w.client_public_ip = Some("192.0.2.50".parse().unwrap()));
    let (out, actions) = connect(&h, &config, &[&target]);
    refused(&out);
    assert!(actions.is_empty(), "no AWS request: {actions:?}");

    // A section bound to the cached instance by its id still applies: typed by its Name
    // tag, the stricter section's allowlist refuses the hotel network too.
    let (h, config) = with_config(World::demo(), "198.51.100.7", BOUND);
    let by_tag = format!("{}@bastion", h.user);
    let (first, _) = connect(&h, &config, &[&by_tag]);
    refused(&first);
    // Now from the office: admitted, and the route is cached.
    h.sim
        .update_world(|w| w.client_public_ip = Some("203.0.113.7".parse().unwrap()));
    ok(&connect(&h, &config, &[&by_tag]).0);
    h.sim
        .update_world(|w| w.client_public_ip = Some("198.51.100.7".parse().unwrap()));
    let (out, actions) = connect(&h, &config, &[&by_tag]);
    refused(&out);
    assert!(
        !actions.iter().any(|a| a == "SendSSHPublicKey"),
        "no key for a refused network: {actions:?}"
    );
}

#[test]
fn a_stale_route_is_resolved_again() {
    let (h, config) = with_config(World::demo(), "203.0.113.7", ALLOW_OFFICE);
    let target = format!("{}@bastion", h.user);
    ok(&connect(&h, &config, &[&target]).0);
    // The instance moved to another address (stopped and started in another subnet).
    h.sim
        .update_world(|w| w.instances[0].private_ip = Some("10.0.1.50".into()));
    let (out, actions) = connect(&h, &config, &[&target]);
    ok(&out);
    assert_eq!(discovery_calls(&actions), 2, "asked again: {actions:?}");
    let failed = h.sim.events_of("tunnel_target_failed");
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert_eq!(failed[0]["ip"], "10.0.1.5");
    // The new route is what the cache holds now.
    let (out, actions) = connect(&h, &config, &[&target]);
    ok(&out);
    assert_eq!(actions, ["SendSSHPublicKey"]);

    // Through the ProxyCommand too: ssh never sees the stale tunnel.
    h.sim
        .update_world(|w| w.instances[0].private_ip = Some("10.0.1.5".into()));
    let mut ssh = h.ssh("echo proxied-ok");
    ssh.env("EIC_SSH_CONFIG", &config);
    let out = run(&mut ssh, LIMIT);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "proxied-ok\n");
    assert_eq!(h.sim.events_of("tunnel_target_failed").len(), 2);
}

#[test]
fn a_cached_instance_that_is_gone_gets_the_apis_answer() {
    let (h, config) = with_config(World::demo(), "203.0.113.7", ALLOW_OFFICE);
    let target = format!("{}@bastion", h.user);
    ok(&connect(&h, &config, &[&target]).0);
    h.sim
        .update_world(|w| w.instances[0].state = "stopped".into());
    let (out, actions) = connect(&h, &config, &[&target]);
    assert_eq!(out.status.code(), Some(255), "{}", stderr(&out));
    assert!(stderr(&out).contains("stopped"), "{}", stderr(&out));
    assert!(discovery_calls(&actions) >= 1, "{actions:?}");
}
