//! Every connection takes the road the proxy variables give the tunnel: with HTTPS_PROXY
//! the egress check, every API call and the tunnel go through the proxy; with NO_PROXY=*
//! none does; when NO_PROXY sends the tunnel one way, the check goes the same way. Each
//! service has its own port (and, where a name matters, its own host name), and the
//! emulator records the address each request came from, so the proxy's log proves it.

use crate::common;

use std::path::PathBuf;

use common::connect_proxy::{Behaviour, ConnectProxy, Onward};
use common::*;
use eic_ssh_sim::World;

/// Services apart, the office's egress IP, and a config whose allowlist admits it with
/// the emulator's checkip over TLS.
fn office() -> (Harness, PathBuf) {
    let mut world = World::demo();
    world.client_public_ip = Some("203.0.113.10".parse().unwrap());
    let h = Harness::apart(world);
    let path = h.dir.path().join("config.toml");
    std::fs::write(
        &path,
        format!(
            "[defaults]\nallow = [\"203.0.113.0/24\"]\negress_check_url = \"{}\"\n",
            h.sim.checkip_https_url()
        ),
    )
    .unwrap();
    (h, path)
}

/// `ssh true` through `eic-ssh proxy` (a key pushed), with the config, no egress cache and
/// `env`.
fn connect(h: &Harness, config: &PathBuf, env: &[(&str, String)]) -> std::process::Output {
    let mut cmd = h.ssh("true");
    cmd.env("EIC_SSH_CONFIG", config)
        .env("EIC_SSH_EGRESS_CACHE_SECS", "0");
    for (name, value) in env {
        cmd.env(name, value);
    }
    run(&mut cmd, LIMIT)
}

/// The connection log's text.
fn connection_log(h: &Harness) -> String {
    std::fs::read_to_string(h.dir.path().join(".local/state/eic-ssh/log.jsonl")).unwrap_or_default()
}

/// The address each request of `kind` came from.
fn peers(h: &Harness, kind: &str) -> Vec<String> {
    h.sim
        .events_of(kind)
        .iter()
        .map(|e| e["peer"].as_str().unwrap_or_default().to_string())
        .collect()
}

#[test]
fn with_https_proxy_the_check_every_api_call_and_the_tunnel_go_through_it() {
    let (h, config) = office();
    let proxy = ConnectProxy::start(Behaviour::Relay);
    let out = connect(&h, &config, &[("HTTPS_PROXY", proxy.url(None))]);
    assert!(out.status.success(), "{}", stderr(&out));
    let hosts = h.sim.hosts;
    for (service, port) in [
        ("checkip", hosts.checkip.port()),
        ("EC2", hosts.ec2.port()),
        ("EC2 Instance Connect", hosts.instance_connect.port()),
        ("the tunnel", hosts.tunnel.port()),
    ] {
        assert!(
            proxy.connected_to_port(port),
            "{service} went through the proxy: {:?}",
            proxy.targets()
        );
    }
    let actions = api_actions(&h);
    assert!(
        actions.iter().any(|a| a == "SendSSHPublicKey")
            && actions.iter().any(|a| a == "DescribeInstances"),
        "{actions:?}"
    );
    for kind in ["checkip", "api_call", "tunnel_open"] {
        let seen = peers(&h, kind);
        assert!(!seen.is_empty(), "no {kind}");
        for peer in seen {
            assert!(
                proxy.carried(&peer),
                "a {kind} from {peer} did not come through the proxy"
            );
        }
    }
    let log = connection_log(&h);
    assert!(
        log.contains(&format!("\"road\":\"via 127.0.0.1:{}\"", proxy.port)),
        "{log}"
    );
}

#[test]
fn with_no_proxy_star_nothing_goes_through_it() {
    let (h, config) = office();
    let proxy = ConnectProxy::start(Behaviour::Relay);
    let out = connect(
        &h,
        &config,
        &[("HTTPS_PROXY", proxy.url(None)), ("NO_PROXY", "*".into())],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(proxy.targets().is_empty(), "{:?}", proxy.targets());
    assert!(!peers(&h, "tunnel_open").is_empty());
    let log = connection_log(&h);
    assert!(log.contains("\"road\":\"direct\""), "{log}");
}

#[test]
fn the_check_takes_the_tunnels_road_when_no_proxy_names_only_one_of_them() {
    let (h, config) = office();
    let proxy = ConnectProxy::start(Behaviour::Relay);
    let tunnel_by_name = format!("wss://localhost:{}", h.sim.hosts.tunnel.port());
    let hosts = h.sim.hosts;

    // NO_PROXY exempts the tunnel's host (localhost) and not the checkip's (127.0.0.1):
    // the tunnel goes direct, and so does the check; the API calls (127.0.0.1) do not.
    let out = connect(
        &h,
        &config,
        &[
            ("HTTPS_PROXY", proxy.url(None)),
            ("NO_PROXY", "localhost".into()),
            ("EIC_SSH_TUNNEL_ENDPOINT_URL", tunnel_by_name.clone()),
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        !proxy.connected_to_port(hosts.tunnel.port()),
        "{:?}",
        proxy.targets()
    );
    assert!(
        !proxy.connected_to_port(hosts.checkip.port()),
        "{:?}",
        proxy.targets()
    );
    assert!(
        proxy.connected_to_port(hosts.ec2.port()),
        "{:?}",
        proxy.targets()
    );

    // The other way round: the checkip's host is exempt and the tunnel's is not, so the
    // check goes through the proxy, as the tunnel does.
    proxy.clear();
    let out = connect(
        &h,
        &config,
        &[
            ("HTTPS_PROXY", proxy.url(None)),
            ("NO_PROXY", "127.0.0.1".into()),
            ("EIC_SSH_TUNNEL_ENDPOINT_URL", tunnel_by_name),
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        proxy.connected_to_port(hosts.tunnel.port()),
        "{:?}",
        proxy.targets()
    );
    assert!(
        proxy.connected_to_port(hosts.checkip.port()),
        "{:?}",
        proxy.targets()
    );
    assert!(
        !proxy.connected_to_port(hosts.ec2.port()),
        "{:?}",
        proxy.targets()
    );
}

/// The demo endpoint.
const ENDPOINT: &str = "eice-0123456789abcdef0";

/// A world whose checkip answers each connection's own address (a connection through the
/// proxy comes from 127.0.0.2, its egress; a direct one from 127.0.0.1), with the demo
/// endpoint of `ip_address_type`, and a config admitting `allow`; its endpoint's DNS name
/// as DescribeInstanceConnectEndpoints gives it to an IPv4 client.
fn seen_by_address(ip_address_type: &str, allow: &str) -> (Harness, PathBuf, String) {
    let mut world = World::demo();
    world.client_public_ip = None;
    world.client_public_ipv6 = None;
    for e in &mut world.endpoints {
        e.ip_address_type = ip_address_type.into();
    }
    assert!(world.endpoint(ENDPOINT).is_some());
    let name = world.service_name(ENDPOINT, ip_address_type == "ipv6", false);
    let h = Harness::apart(world);
    let path = h.dir.path().join("config.toml");
    std::fs::write(
        &path,
        format!(
            "[defaults]\nallow = [{allow}]\negress_check_url = \"{}\"\n",
            h.sim.checkip_https_url()
        ),
    )
    .unwrap();
    (h, path, name)
}

/// A cold `ssh true` through `eic-ssh -v proxy`: no tunnel URL configured, so the road is
/// first decided for the region's endpoint domain, then for the endpoint's own name.
fn connect_cold(h: &Harness, config: &PathBuf, env: &[(&str, String)]) -> std::process::Output {
    let proxy_command = h.proxy_command().replacen(" proxy ", " -v proxy ", 1);
    let mut cmd = h.ssh_via(&proxy_command, "true");
    cmd.env_remove("EIC_SSH_TUNNEL_ENDPOINT_URL")
        .env("EIC_SSH_CONFIG", config)
        .env("EIC_SSH_EGRESS_CACHE_SECS", "0");
    for (name, value) in env {
        cmd.env(name, value);
    }
    run(&mut cmd, LIMIT)
}

/// The emulator's events in order, each as its kind (an API call as its action) and, for
/// checkip and the tunnel, the address it came from.
fn timeline(h: &Harness) -> Vec<(String, String)> {
    h.sim
        .events()
        .iter()
        .filter_map(|e| {
            let kind = e["event"].as_str()?;
            let peer = e["peer"].as_str().unwrap_or_default().to_string();
            match kind {
                "api_call" => Some((e["action"].as_str()?.to_string(), peer)),
                "checkip" | "tunnel_open" => Some((kind.to_string(), peer)),
                _ => None,
            }
        })
        .collect()
}

#[test]
fn when_the_endpoints_own_name_goes_another_way_the_check_is_made_again_on_its_road() {
    // An `ipv6` endpoint's name is in api.aws: NO_PROXY=.amazonaws.com sends the region's
    // endpoint domain direct and the endpoint itself through the proxy, which resolves it.
    let (h, config, name) = seen_by_address("ipv6", "\"127.0.0.1/32\", \"127.0.0.2/32\"");
    assert!(name.ends_with(".api.aws"), "{name}");
    let proxy = ConnectProxy::start_with(
        Behaviour::Relay,
        Onward {
            from: Some("127.0.0.2".parse().unwrap()),
            names: vec![(format!("{name}:443"), h.sim.hosts.tunnel)],
        },
    );
    let out = connect_cold(
        &h,
        &config,
        &[
            ("HTTPS_PROXY", proxy.url(None)),
            ("NO_PROXY", ".amazonaws.com".into()),
        ],
    );
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    let via = format!("via 127.0.0.1:{}", proxy.port);
    assert!(
        err.contains("egress on the tunnel's road")
            && err.contains(&format!(
                "the tunnel to {name} goes {via}, not direct as checked"
            )),
        "{err}"
    );
    // First checked direct (the domain's road), then through the proxy (the endpoint's),
    // and only then the key pushed and the tunnel opened, both through the proxy.
    let events = timeline(&h);
    let checks: Vec<&(String, String)> = events.iter().filter(|(k, _)| k == "checkip").collect();
    assert_eq!(checks.len(), 2, "{events:?}");
    assert!(checks[0].1.starts_with("127.0.0.1:"), "{events:?}");
    assert!(
        checks[1].1.starts_with("127.0.0.2:") && proxy.carried(&checks[1].1),
        "{events:?}"
    );
    let at = |kind: &str| events.iter().position(|(k, _)| k == kind);
    let second_check = events.iter().rposition(|(k, _)| k == "checkip").unwrap();
    let (push, tunnel) = (at("SendSSHPublicKey"), at("tunnel_open"));
    assert!(
        push.is_some_and(|p| p > second_check) && tunnel.is_some_and(|t| t > second_check),
        "{events:?}"
    );
    assert!(proxy.carried(&events[tunnel.unwrap()].1), "{events:?}");
    let targets = proxy.targets();
    let second_check_at = targets
        .iter()
        .position(|t| t.ends_with(&format!(":{}", h.sim.hosts.checkip.port())));
    let tunnel_at = targets.iter().position(|t| *t == format!("{name}:443"));
    assert!(
        matches!((second_check_at, tunnel_at), (Some(c), Some(t)) if c < t),
        "{targets:?}"
    );
    let log = connection_log(&h);
    assert!(log.contains(&format!("\"road\":\"{via}\"")), "{log}");
}

#[test]
fn a_refusal_on_the_endpoints_own_road_stops_before_any_key_push() {
    // NO_PROXY names the endpoint's exact host: the domain goes through the proxy (its
    // egress, 127.0.0.2, is allowed), the endpoint direct (127.0.0.1 is not).
    let (h, config, name) = seen_by_address("ipv4", "\"127.0.0.2/32\"");
    assert!(name.ends_with(".amazonaws.com"), "{name}");
    let proxy = ConnectProxy::start_with(
        Behaviour::Relay,
        Onward {
            from: Some("127.0.0.2".parse().unwrap()),
            names: Vec::new(),
        },
    );
    // `eic-ssh proxy` itself, for its exit code (ssh's would be 255).
    let mut cmd = h.eic_ssh();
    cmd.env_remove("EIC_SSH_TUNNEL_ENDPOINT_URL")
        .env("EIC_SSH_CONFIG", &config)
        .env("EIC_SSH_EGRESS_CACHE_SECS", "0")
        .env("HTTPS_PROXY", proxy.url(None))
        .env("NO_PROXY", &name)
        .args([
            "-v",
            "proxy",
            BASTION,
            "22",
            "--user",
            &h.user,
            "--push-key",
        ])
        .arg(h.public_key());
    let out = run(&mut cmd, LIMIT);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(3), "{err}");
    let via = format!("via 127.0.0.1:{}", proxy.port);
    assert!(
        err.contains(&format!(
            "the tunnel to {name} goes direct, not {via} as checked"
        )),
        "{err}"
    );
    assert!(
        err.contains("refusing to connect: egress IP 127.0.0.1 is not in the allowlist"),
        "{err}"
    );
    let events = timeline(&h);
    let checks: Vec<&(String, String)> = events.iter().filter(|(k, _)| k == "checkip").collect();
    assert_eq!(checks.len(), 2, "{events:?}");
    assert!(proxy.carried(&checks[0].1), "{events:?}");
    assert!(
        checks[1].1.starts_with("127.0.0.1:") && !proxy.carried(&checks[1].1),
        "{events:?}"
    );
    // The endpoint was looked up (through the proxy), and nothing more was done.
    assert!(
        events
            .iter()
            .any(|(k, _)| k == "DescribeInstanceConnectEndpoints"),
        "{events:?}"
    );
    assert!(
        !events
            .iter()
            .any(|(k, _)| k == "SendSSHPublicKey" || k == "tunnel_open"),
        "{events:?}"
    );
    assert!(
        !proxy.targets().iter().any(|t| t.starts_with(&name)),
        "{:?}",
        proxy.targets()
    );
    let log = connection_log(&h);
    assert!(
        log.contains("\"road\":\"direct\"") && log.contains("refused"),
        "{log}"
    );

    // doctor checks again on the endpoint's road too, and names that road.
    let mut cmd = h.eic_ssh();
    cmd.env_remove("EIC_SSH_TUNNEL_ENDPOINT_URL")
        .env("EIC_SSH_CONFIG", &config)
        .env("EIC_SSH_EGRESS_CACHE_SECS", "0")
        .env("HTTPS_PROXY", proxy.url(None))
        .env("NO_PROXY", &name)
        .args(["doctor", BASTION]);
    let out = run(&mut cmd, LIMIT);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("\nthe egress check and the tunnel go direct over IPv4\n")
            && text.contains("✗ eic-ssh will refuse to connect from here: egress IP 127.0.0.1"),
        "{text}{}",
        stderr(&out)
    );
    assert_eq!(out.status.code(), Some(1), "{text}");
}

#[test]
fn egress_names_the_road() {
    let (h, config) = office();
    let proxy = ConnectProxy::start(Behaviour::Relay);
    let mut cmd = h.eic_ssh();
    cmd.env("EIC_SSH_CONFIG", &config)
        .env("EIC_SSH_EGRESS_CACHE_SECS", "0")
        .env("HTTPS_PROXY", proxy.url(None))
        .arg("egress");
    let out = run(&mut cmd, LIMIT);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(&format!(
            "egress IP:  203.0.113.10 via 127.0.0.1:{} (HTTPS_PROXY)",
            proxy.port
        )),
        "{text}"
    );
    assert!(proxy.connected_to_port(h.sim.hosts.checkip.port()));
}

/// `eic-ssh proxy` with no API call (endpoint and address given): only the tunnel dials.
fn tunnel_only(h: &Harness, proxy_url: &str) -> std::process::Output {
    let mut cmd = h.eic_ssh();
    cmd.env("HTTPS_PROXY", proxy_url).args([
        "proxy",
        BASTION,
        "22",
        "--endpoint-id",
        "eice-0123456789abcdef0",
        "--private-ip",
        "10.0.1.5",
    ]);
    run(&mut cmd, LIMIT)
}

#[test]
fn proxy_credentials_are_sent_and_a_407_says_to_check_them() {
    let h = Harness::apart(World::demo());
    // base64("alice:s3cret")
    let proxy = ConnectProxy::start(Behaviour::RequireAuth("Basic YWxpY2U6czNjcmV0".into()));
    let out = tunnel_only(&h, &proxy.url(Some("alice:wrong")));
    assert_fails_exactly(
        &out,
        8,
        &format!(
            "eic-ssh: the proxy 127.0.0.1:{} (HTTPS_PROXY) refused to connect to 127.0.0.1:{}: HTTP/1.1 407 Proxy Authentication Required; check the user name and password in HTTPS_PROXY (http://USER:PASSWORD@HOST:PORT)\n",
            proxy.port,
            h.sim.hosts.tunnel.port()
        ),
    );
    assert!(!stderr(&out).contains("wrong"));
    // With the right ones, the session works through it.
    let mut cmd = h.ssh("true");
    cmd.env("HTTPS_PROXY", proxy.url(Some("alice:s3cret")));
    let out = run(&mut cmd, LIMIT);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(proxy.connected_to_port(h.sim.hosts.tunnel.port()));
}

#[test]
fn a_403_from_the_proxy_is_one_line_naming_it() {
    let h = Harness::apart(World::demo());
    let proxy = ConnectProxy::start(Behaviour::Refuse("403 Forbidden"));
    let out = tunnel_only(&h, &proxy.url(None));
    assert_fails(
        &out,
        8,
        &format!(
            "the proxy 127.0.0.1:{} (HTTPS_PROXY) refused to connect to 127.0.0.1:{}: HTTP/1.1 403 Forbidden; the proxy does not allow this destination",
            proxy.port,
            h.sim.hosts.tunnel.port()
        ),
    );
    assert_eq!(stderr(&out).lines().count(), 1, "{}", stderr(&out));
    assert!(h.sim.events_of("tunnel_open").is_empty());
}

#[test]
fn a_proxy_that_closes_during_tls_is_one_line_naming_it() {
    let h = Harness::apart(World::demo());
    let proxy = ConnectProxy::start(Behaviour::CloseAfterOk);
    let out = tunnel_only(&h, &proxy.url(None));
    assert_fails(
        &out,
        8,
        &format!(
            "TLS handshake with 127.0.0.1 (through the proxy 127.0.0.1:{} from HTTPS_PROXY) failed",
            proxy.port
        ),
    );
    assert_eq!(stderr(&out).lines().count(), 1, "{}", stderr(&out));
}

#[test]
fn a_proxy_that_never_answers_connect_times_out_naming_the_variable() {
    let h = Harness::apart(World::demo());
    let proxy = ConnectProxy::start(Behaviour::Hang);
    let out = tunnel_only(&h, &proxy.url(None));
    assert_fails_exactly(
        &out,
        8,
        "eic-ssh: timed out after 15 s opening the tunnel to 127.0.0.1, at the proxy's CONNECT: check the network and HTTPS_PROXY, then retry\n",
    );
}
