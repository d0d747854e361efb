//! Opening the tunnel: through an HTTP CONNECT proxy (and past it with NO_PROXY), never
//! speaking to an https:// proxy in clear, and the endpoint's own words when it refuses.

mod common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

use common::*;
use eic_ssh_sim::{Faults, Refusal};

/// A minimal HTTP CONNECT proxy that records what it was asked for.
fn connect_proxy() -> (u16, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    std::thread::spawn(move || {
        for client in listener.incoming().flatten() {
            let log = log.clone();
            std::thread::spawn(move || serve_connect(client, &log));
        }
    });
    (port, seen)
}

fn serve_connect(mut client: TcpStream, log: &Mutex<Vec<String>>) {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if client.read(&mut byte).unwrap_or(0) == 0 {
            return;
        }
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head).into_owned();
    let target = head
        .split_whitespace()
        .nth(1)
        .unwrap_or_default()
        .to_string();
    log.lock()
        .unwrap()
        .push(head.lines().next().unwrap_or_default().to_string());
    let Ok(upstream) = TcpStream::connect(&target) else {
        let _ = client.write_all(b"HTTP/1.1 502 Bad Gateway\r\n\r\n");
        return;
    };
    let _ = client.write_all(b"HTTP/1.1 200 Connection established\r\n\r\n");
    let (mut c2, mut u2) = (client.try_clone().unwrap(), upstream.try_clone().unwrap());
    let (mut c1, mut u1) = (client, upstream);
    let t = std::thread::spawn(move || {
        let _ = std::io::copy(&mut c1, &mut u1);
        let _ = u1.shutdown(std::net::Shutdown::Write);
    });
    let _ = std::io::copy(&mut u2, &mut c2);
    let _ = c2.shutdown(std::net::Shutdown::Write);
    let _ = t.join();
}

#[test]
fn https_proxy_carries_api_calls_and_the_tunnel_and_no_proxy_bypasses_it() {
    let h = Harness::new();
    let (port, seen) = connect_proxy();
    let mut cmd = h.ssh("true");
    cmd.env("HTTPS_PROXY", format!("http://127.0.0.1:{port}"));
    let out = run(&mut cmd, LIMIT);
    assert!(out.status.success(), "{}", stderr(&out));
    let connects = seen.lock().unwrap().clone();
    let expected = format!("CONNECT {} HTTP/1.1", h.sim.addr);
    assert!(
        connects.len() >= 2,
        "API calls and the tunnel go through the proxy: {connects:?}"
    );
    assert!(connects.iter().all(|c| *c == expected), "{connects:?}");

    seen.lock().unwrap().clear();
    let mut cmd = h.ssh("true");
    cmd.env("HTTPS_PROXY", format!("http://127.0.0.1:{port}"))
        .env("NO_PROXY", "127.0.0.1");
    let out = run(&mut cmd, LIMIT);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(seen.lock().unwrap().is_empty());
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
        ("HTTP_PROXY", "http://alice:s3cret/pw@proxy.example:1"),
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
    let (port, seen) = connect_proxy();
    let proxy = h.proxy_command().replace(" proxy %h", " -vvv proxy %h");
    let mut cmd = h.ssh_via(&proxy, "true");
    cmd.env(
        "HTTPS_PROXY",
        format!("http://alice:s3cretpw@127.0.0.1:{port}"),
    );
    let out = run(&mut cmd, LIMIT);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!seen.lock().unwrap().is_empty(), "the proxy was used");
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
