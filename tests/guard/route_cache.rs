//! The route cache: a repeated connect skips the discovery round trip before the tunnel,
//! but nothing passes along a cached route (nor is a key pushed) until a fresh lookup made
//! beside the tunnel's opening agrees with it; the guard still decides first (with the
//! sections bound to the cached instance), a route that went stale is resolved afresh and
//! decided on again (an instance terminated and its address given to another, a Name tag
//! moved), and `--no-cache` / `cache = false` ask the API before every tunnel.

use crate::common;

use std::io::Write;
use std::process::{Output, Stdio};

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

/// `eic-ssh proxy ARGS…` with `input` on stdin, then its end.
fn proxy(h: &Harness, config: &std::path::Path, args: &[&str], input: &[u8]) -> Output {
    let mut cmd = h.eic_ssh();
    cmd.env("EIC_SSH_CONFIG", config)
        .env("EIC_SSH_EGRESS_CACHE_SECS", "0")
        .arg("proxy")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("eic-ssh starts");
    let mut stdin = child.stdin.take().unwrap();
    // A proxy that ends first closes its stdin: what it did not read is not the point.
    let _ = stdin.write_all(input);
    drop(stdin);
    wait(child, LIMIT)
}

/// How many tunnels the emulator closed, once it has closed every tunnel it opened.
fn tunnels_closed(h: &Harness) -> usize {
    assert!(
        h.sim.until(LIMIT, || count(h, "tunnel_closed")
            == count(h, "tunnel_open")),
        "a tunnel stayed open"
    );
    count(h, "tunnel_closed")
}

/// What the client sent up each tunnel the emulator closed after the first `from` ones,
/// once every tunnel it opened is closed.
fn bytes_up_since(h: &Harness, from: usize) -> Vec<u64> {
    tunnels_closed(h);
    h.sim.events_of("tunnel_closed")[from..]
        .iter()
        .map(|e| e["bytes_up"].as_u64().unwrap())
        .collect()
}

/// The instances keys were pushed to.
fn pushed_to(h: &Harness) -> Vec<String> {
    h.sim
        .events_of("key_pushed")
        .iter()
        .map(|e| e["instance"].as_str().unwrap().to_string())
        .collect()
}

/// Another instance like the bastion: `id`, at `ip`, named `name`.
fn launch(w: &mut World, id: &str, ip: &str, name: &str) {
    let mut next = w.instances[0].clone();
    next.id = id.into();
    next.private_ip = Some(ip.into());
    next.name = Some(name.into());
    next.state = "running".into();
    w.instances.push(next);
}

/// The instance launched after the bastion in these tests.
const SUCCESSOR: &str = "i-0ccccccccccccccc3";

/// A line an SSH client would send first.
const HELLO: &[u8] = b"SSH-2.0-OpenSSH_9.6 route-cache-test\r\n";

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

/// The calls of a warm connect: the lookup that confirms the cached route (the instance
/// and the endpoints, asked at once beside the tunnel), then the key push.
#[track_caller]
fn confirmed_then_pushed(actions: &[String]) {
    assert_eq!(actions.len(), 3, "{actions:?}");
    assert_eq!(discovery_calls(&actions[..2]), 2, "{actions:?}");
    assert_eq!(actions[2], "SendSSHPublicKey", "{actions:?}");
}

#[test]
fn a_repeated_connect_is_confirmed_beside_the_tunnel() {
    let (h, config) = with_config(World::demo(), "203.0.113.7", ALLOW_OFFICE);
    let target = format!("{}@bastion", h.user);
    let (out, first) = connect(&h, &config, &[&target]);
    ok(&out);
    assert_eq!(discovery_calls(&first), 2, "{first:?}");
    let (out, second) = connect(&h, &config, &[&target, "-v"]);
    ok(&out);
    confirmed_then_pushed(&second);
    assert!(
        stderr(&out).contains("route from the cache"),
        "{}",
        stderr(&out)
    );

    // By its Name tag, the same: the first run describes, the next does not.
    let by_name = format!("{}@{}", h.user, "bastion-by-tag");
    let tagged = ALLOW_OFFICE.to_string() + "\n[hosts.bastion-by-tag]\nname = \"bastion\"\n";
    std::fs::write(&config, tagged.replace("CHECKIP", &h.sim.checkip_url())).unwrap();
    let (out, first) = connect(&h, &config, &[&by_name]);
    ok(&out);
    assert!(discovery_calls(&first) >= 1, "{first:?}");
    let (out, second) = connect(&h, &config, &[&by_name]);
    ok(&out);
    confirmed_then_pushed(&second);

    // ssh through `eic-ssh proxy --push-key`: the same calls; without a key, the lookup.
    let mut ssh = h.ssh("echo proxied-ok");
    ssh.env("EIC_SSH_CONFIG", &config);
    let before = api_actions(&h).len();
    for _ in 0..2 {
        let out = run(&mut ssh, LIMIT);
        assert!(out.status.success(), "{}", stderr(&out));
        assert_eq!(String::from_utf8_lossy(&out.stdout), "proxied-ok\n");
    }
    let proxied = api_actions(&h)[before..].to_vec();
    confirmed_then_pushed(&proxied[proxied.len() - 3..]);
    let before = api_actions(&h).len();
    let out = proxy(&h, &config, &[BASTION, "22"], b"");
    assert!(out.status.success(), "{}", stderr(&out));
    let bare = api_actions(&h)[before..].to_vec();
    assert_eq!((bare.len(), discovery_calls(&bare)), (2, 2), "{bare:?}");

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
    let closed = tunnels_closed(&h);
    let (out, actions) = connect(&h, &config, &[&target, "-v"]);
    ok(&out);
    // The lookup beside the tunnel disagreed; then the whole resolution, once.
    assert_eq!(discovery_calls(&actions), 4, "asked again: {actions:?}");
    assert_eq!(actions.last().unwrap(), "SendSSHPublicKey", "{actions:?}");
    assert!(
        stderr(&out).contains(
            "the cached route to i-0123456789abcdef0 is stale (i-0123456789abcdef0's private IP is now 10.0.1.50, not 10.0.1.5); resolving again"
        ),
        "{}",
        stderr(&out)
    );
    let up = bytes_up_since(&h, closed);
    assert_eq!(up.len(), 1, "one tunnel carried the session: {up:?}");
    // The new route is what the cache holds now.
    let (out, actions) = connect(&h, &config, &[&target]);
    ok(&out);
    confirmed_then_pushed(&actions);

    // Through the ProxyCommand too: ssh never sees the stale tunnel.
    h.sim
        .update_world(|w| w.instances[0].private_ip = Some("10.0.1.5".into()));
    let before = api_actions(&h).len();
    let mut ssh = h.ssh("echo proxied-ok");
    ssh.env("EIC_SSH_CONFIG", &config);
    let out = run(&mut ssh, LIMIT);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "proxied-ok\n");
    assert_eq!(discovery_calls(&api_actions(&h)[before..]), 4);
}

#[test]
fn a_cached_route_carries_nothing_to_the_instance_that_took_its_address() {
    // The successor's own section refuses this network.
    let config = r#"
[defaults]
allow = ["203.0.113.0/24"]
egress_check_url = "CHECKIP"

[hosts.successor]
instance = "i-0ccccccccccccccc3"
allow = ["192.0.2.0/24"]
"#;
    let (h, config) = with_config(World::demo(), "203.0.113.7", config);
    let key = h.public_key();
    let key = key.to_str().unwrap();
    let with_key = [BASTION, "22", "--user", &h.user, "--push-key", key];
    let out = proxy(&h, &config, &with_key, HELLO);
    assert!(out.status.success(), "{}", stderr(&out));
    // The bastion is terminated; its address goes to the next instance launched.
    h.sim.update_world(|w| {
        launch(w, SUCCESSOR, "10.0.1.5", "successor");
        w.terminate(BASTION);
    });
    let closed = tunnels_closed(&h);
    let pushed = pushed_to(&h).len();
    let gone = format!("eic-ssh: instance {BASTION} is terminated, not running");
    for args in [&[BASTION, "22"][..], &with_key] {
        let out = proxy(&h, &config, args, HELLO);
        assert_fails(&out, 5, &gone);
        assert_eq!(stderr(&out).lines().count(), 1, "{}", stderr(&out));
    }
    let (out, _) = connect(&h, &config, &[&format!("{}@{BASTION}", h.user)]);
    assert_fails(&out, 255, &gone);
    // Not a byte went up a tunnel to the successor, and no key was pushed.
    let up = bytes_up_since(&h, closed);
    assert!(up.iter().all(|&n| n == 0), "{up:?}");
    assert_eq!(pushed_to(&h)[pushed..], [] as [String; 0]);
    // The stale entry is gone: the next try asks the API before any tunnel.
    let before = count(&h, "tunnel_open") + count(&h, "tunnel_target_failed");
    assert_fails(&proxy(&h, &config, &[BASTION, "22"], HELLO), 5, &gone);
    assert_eq!(
        count(&h, "tunnel_open") + count(&h, "tunnel_target_failed"),
        before
    );
    // And the successor, asked for, is refused by its own section.
    let out = proxy(&h, &config, &[SUCCESSOR, "22"], HELLO);
    assert_fails(&out, 3, "refusing to connect");
}

#[test]
fn a_name_tag_moved_after_caching_binds_its_refusing_section() {
    let text = r#"
[defaults]
allow = ["203.0.113.0/24"]
egress_check_url = "CHECKIP"

[hosts.vault]
name = "vault"
allow = ["192.0.2.0/24"]

[hosts.newcomer]
instance = "i-0ccccccccccccccc3"
allow = ["192.0.2.0/24"]
"#;
    // By id: cached while the bastion is named "bastion"; then it is tagged "vault", whose
    // section refuses this network.
    let (h, config) = with_config(World::demo(), "203.0.113.7", text);
    let out = proxy(&h, &config, &[BASTION, "22"], HELLO);
    assert!(out.status.success(), "{}", stderr(&out));
    h.sim
        .update_world(|w| w.instances[0].name = Some("vault".into()));
    let closed = tunnels_closed(&h);
    let out = proxy(&h, &config, &[BASTION, "22", "-v"], HELLO);
    assert_fails(&out, 3, "eic-ssh: refusing to connect");
    assert!(
        stderr(&out).contains(&format!(
            "the cached route to {BASTION} is stale ({BASTION}'s Name tag is now \"vault\"); resolving again"
        )),
        "{}",
        stderr(&out)
    );
    assert!(bytes_up_since(&h, closed).iter().all(|&n| n == 0));

    // By Name: `bastion` is cached (the session, then `cp`); then the tag moves to a new
    // instance, whose section refuses this network.
    let (h, config) = with_config(World::demo(), "203.0.113.7", text);
    let target = format!("{}@bastion", h.user);
    ok(&connect(&h, &config, &[&target]).0);
    h.sim.update_world(|w| {
        w.instances[0].name = Some("retired".into());
        launch(w, SUCCESSOR, "10.0.1.7", "bastion");
    });
    let closed = tunnels_closed(&h);
    let pushed = pushed_to(&h).len();
    let file = h.random_file("up.bin", 1000);
    let mut cp = h.eic_ssh();
    cp.env("EIC_SSH_CONFIG", &config)
        .env("EIC_SSH_EGRESS_CACHE_SECS", "0")
        .env("EIC_SSH_KNOWN_HOSTS", &h.known_hosts)
        .args(["cp", file.to_str().unwrap()])
        .arg(format!(
            "{target}:{}",
            h.dir.path().join("copied").display()
        ));
    assert_fails(&run(&mut cp, LIMIT), 3, "eic-ssh: refusing to connect");
    assert!(!h.dir.path().join("copied").exists());
    refused(&connect(&h, &config, &[&target]).0);
    assert!(bytes_up_since(&h, closed).iter().all(|&n| n == 0));
    assert_eq!(pushed_to(&h)[pushed..], [] as [String; 0]);
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
