//! Opening the tunnel: through an HTTP CONNECT proxy (and past it with NO_PROXY), never
//! speaking to an https:// proxy in clear, and the endpoint's own words when it refuses.

use crate::common;

use std::net::TcpListener;

use common::connect_proxy::{Behaviour, ConnectProxy};
use common::*;
use eic_ssh_sim::{Faults, Refusal};

/// A CONNECT proxy that relays, and its log (`tests/common/connect_proxy.rs`).
fn connect_proxy() -> ConnectProxy {
    ConnectProxy::start(Behaviour::Relay)
}

#[test]
fn https_proxy_carries_api_calls_and_the_tunnel_and_no_proxy_bypasses_it() {
    // Each service on its own port: the log tells the tunnel from the API calls.
    let h = Harness::apart(eic_ssh_sim::World::demo());
    let proxy = connect_proxy();
    let mut cmd = h.ssh("true");
    cmd.env("HTTPS_PROXY", proxy.url(None));
    let out = run(&mut cmd, LIMIT);
    assert!(out.status.success(), "{}", stderr(&out));
    for port in [
        h.sim.hosts.ec2.port(),
        h.sim.hosts.instance_connect.port(),
        h.sim.hosts.tunnel.port(),
    ] {
        assert!(
            proxy.connected_to_port(port),
            "{port}: {:?}",
            proxy.targets()
        );
    }

    proxy.clear();
    let mut cmd = h.ssh("true");
    cmd.env("HTTPS_PROXY", proxy.url(None))
        .env("NO_PROXY", "127.0.0.1");
    let out = run(&mut cmd, LIMIT);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(proxy.targets().is_empty());
}

#[test]
fn an_https_proxy_url_is_refused_before_anything_is_sent() {
    let h = Harness::new();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    listener.set_nonblocking(true).unwrap();
    let mut cmd = h.eic_ssh();
    cmd.args(["proxy", BASTION]).env(
        "HTTPS_PROXY",
        format!("https://user:secret@127.0.0.1:{port}"),
    );
    let out = run(&mut cmd, LIMIT);
    assert_fails(&out, 2, "https:// URL, which eic-ssh does not speak");
    assert!(!stderr(&out).contains("secret"));
    // Nothing connected to the proxy at all, so no credentials went out.
    assert!(listener.accept().is_err());
    assert!(h.sim.events_of("tunnel_open").is_empty());
}

#[test]
fn a_refused_handshake_shows_the_json_message() {
    let h = Harness::new();
    h.sim.set_faults(Faults {
        refuse: Some(Refusal {
            status: 503,
            code: "ServiceUnavailable".into(),
            message: "The service is unavailable. Try again later.".into(),
        }),
        ..Faults::default()
    });
    let mut cmd = h.eic_ssh();
    cmd.args(["proxy", BASTION]);
    let out = run(&mut cmd, LIMIT);
    assert_fails_exactly(
        &out,
        6,
        "eic-ssh: the endpoint refused the tunnel (HTTP 503, ServiceUnavailable): The service is unavailable. Try again later.\n",
    );
}

#[test]
fn a_bad_tunnel_url_is_one_usage_error_from_the_flag_and_the_environment() {
    let h = Harness::new();
    let expected = "eic-ssh: bad tunnel endpoint URL \"wss://a b\" (--tunnel-endpoint-url or EIC_SSH_TUNNEL_ENDPOINT_URL): the host must be a DNS name (letters, digits, '-' and '.') or an IP address ([…] for IPv6) (expected wss://HOST[:PORT])\n";
    let mut cmd = h.eic_ssh();
    cmd.env("EIC_SSH_TUNNEL_ENDPOINT_URL", "wss://a b")
        .args(["proxy", BASTION]);
    assert_fails_exactly(&run(&mut cmd, LIMIT), 2, expected);
    let mut cmd = h.eic_ssh();
    cmd.env_remove("EIC_SSH_TUNNEL_ENDPOINT_URL").args([
        "proxy",
        BASTION,
        "--tunnel-endpoint-url",
        "wss://a b",
    ]);
    assert_fails_exactly(&run(&mut cmd, LIMIT), 2, expected);
    assert!(h.sim.events_of("api_call").is_empty());
}

#[test]
fn a_malformed_proxy_variable_is_an_error_not_a_direct_connection() {
    let h = Harness::new();
    let mut cmd = h.eic_ssh();
    cmd.env("HTTPS_PROXY", "::::").args(["proxy", BASTION]);
    assert_fails_exactly(
        &run(&mut cmd, LIMIT),
        2,
        "eic-ssh: HTTPS_PROXY=\"::::\" is not a proxy URL: it does not parse as a URL; set it to http://HOST:PORT, or unset it to connect directly\n",
    );
    let mut cmd = h.eic_ssh();
    cmd.env("http_proxy", "http://proxy\n.example:3128")
        .args(["proxy", BASTION]);
    assert_fails(
        &run(&mut cmd, LIMIT),
        2,
        "http_proxy=\"http://proxy\\n.example:3128\" is not a proxy URL",
    );
    assert!(h.sim.events_of("api_call").is_empty());
    assert!(h.sim.events_of("tunnel_open").is_empty());
}

/// The connection log this harness's runs append to.
fn connection_log(h: &Harness) -> String {
    std::fs::read_to_string(h.dir.path().join(".local/state/eic-ssh/log.jsonl")).unwrap_or_default()
}

#[test]
fn proxy_passwords_never_reach_stderr_or_the_connection_log() {
    let h = Harness::new();
    let malformed = [
        ("ALL_PROXY", "socks5://alice:s3cretpw@127.0.0.1:1080"),
        ("HTTPS_PROXY", "http://alice:s3cretpw@proxy.example:1/corp"),
        ("https_proxy", "alice:s3cret pw@proxy.example:1"),
        // (curl reads only the lower-case http_proxy.)
        ("http_proxy", "http://alice:s3cret/pw@proxy.example:1"),
    ];
    for (name, value) in malformed {
        let mut cmd = h.eic_ssh();
        cmd.env(name, value).args(["-vvv", "proxy", BASTION, "22"]);
        let out = run(&mut cmd, LIMIT);
        assert_fails(&out, 2, &format!("{name}=\""));
        let err = stderr(&out);
        assert!(err.contains("***@"), "{err}");
        assert!(!err.contains("s3cret"), "{name}: {err}");
    }
    assert!(h.sim.events_of("api_call").is_empty());

    // Well formed, at -vvv: through a proxy that works, then one that is down.
    let connect = connect_proxy();
    let port = connect.port;
    let proxy = h.proxy_command().replace(" proxy %h", " -vvv proxy %h");
    let mut cmd = h.ssh_via(&proxy, "true");
    cmd.env(
        "HTTPS_PROXY",
        format!("http://alice:s3cretpw@127.0.0.1:{port}"),
    );
    let out = run(&mut cmd, LIMIT);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!connect.targets().is_empty(), "the proxy was used");
    assert!(stderr(&out).contains("through proxy 127.0.0.1"));
    assert!(!stderr(&out).contains("s3cret"), "{}", stderr(&out));
    let dead = TcpListener::bind("127.0.0.1:0").unwrap();
    let down = format!("http://alice:s3cretpw@{}", dead.local_addr().unwrap());
    drop(dead);
    let mut cmd = h.eic_ssh();
    cmd.env("HTTPS_PROXY", &down)
        .args(["-vvv", "proxy", BASTION, "22"]);
    let out = run(&mut cmd, LIMIT);
    assert_fails(&out, 8, "proxy");
    assert!(!stderr(&out).contains("s3cret"), "{}", stderr(&out));

    let log = connection_log(&h);
    assert!(log.contains("\"exit\":2"), "the refusals are logged: {log}");
    assert!(
        log.contains("\"exit\":8"),
        "the dead proxy is logged: {log}"
    );
    assert!(!log.contains("s3cret"), "{log}");
}
