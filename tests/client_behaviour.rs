//! Client behaviour that needs the whole binary: which calls discovery makes, HTTPS proxies,
//! injected refusals, and that secrets never reach even the most verbose log.

mod common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

use common::*;
use eic_ssh_sim::{Faults, Refusal, World};

fn ec2_actions(h: &Harness) -> Vec<String> {
    h.sim
        .events_of("api_call")
        .iter()
        .filter(|e| e["service"] == "ec2")
        .map(|e| e["action"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn explicit_endpoint_and_ip_skip_every_ec2_call() {
    let h = Harness::new();
    let proxy = format!(
        "{} --endpoint-id eice-0123456789abcdef0 --private-ip 10.0.1.5",
        h.proxy_command()
    );
    let mut cmd = h.ssh_via(&proxy, "true");
    let out = run(&mut cmd, LIMIT);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        ec2_actions(&h).is_empty(),
        "EC2 calls made: {:?}",
        ec2_actions(&h)
    );
    assert_eq!(h.sim.events_of("key_pushed").len(), 1);
}

#[test]
fn an_explicit_endpoint_id_is_described_alone() {
    let h = Harness::new();
    let mut cmd = h.eic_ssh();
    cmd.env_remove("EIC_SSH_TUNNEL_ENDPOINT_URL")
        .args([
            "proxy",
            BASTION,
            "--endpoint-id",
            "eice-0123456789abcdef0",
            "--private-ip",
            "10.0.1.5",
            "--tunnel-endpoint-url",
        ])
        .arg(format!("wss://{}", h.sim.addr));
    let out = run(&mut cmd, LIMIT);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(ec2_actions(&h).is_empty());

    // Without a tunnel URL override the endpoint's DNS name is needed: one describe, by id.
    let mut cmd = h.eic_ssh();
    cmd.env_remove("EIC_SSH_TUNNEL_ENDPOINT_URL").args([
        "proxy",
        BASTION,
        "--endpoint-id",
        "eice-0ffffffffffffffff",
    ]);
    let out = run(&mut cmd, LIMIT);
    assert_eq!(out.status.code(), Some(5));
    assert_eq!(
        stderr(&out),
        "eic-ssh: DescribeInstanceConnectEndpoints failed: InvalidInstanceConnectEndpointId.NotFound: The instanceConnectEndpoint ID 'eice-0ffffffffffffffff' does not exist\n"
    );
    assert_eq!(
        ec2_actions(&h),
        ["DescribeInstances", "DescribeInstanceConnectEndpoints"]
    );
}

#[test]
fn discovery_reads_every_page_and_prefers_the_instances_subnet() {
    let mut world = World::demo();
    let template = world.endpoints[0].clone();
    world.endpoints.clear();
    for i in 0..55 {
        let mut e = template.clone();
        e.id = format!("eice-0{i:016x}");
        e.subnet_id = if i == 54 {
            template.subnet_id.clone()
        } else {
            format!("subnet-other{i}")
        };
        world.endpoints.push(e);
    }
    let h = Harness::with_world(world);
    let out = run(&mut h.ssh("true"), LIMIT);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        ec2_actions(&h),
        [
            "DescribeInstances",
            "DescribeInstanceConnectEndpoints",
            "DescribeInstanceConnectEndpoints"
        ]
    );
    assert_eq!(
        h.sim.events_of("tunnel_open")[0]["endpoint"],
        format!("eice-0{:016x}", 54)
    );
}

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
    assert_eq!(out.status.code(), Some(6));
    assert_eq!(
        stderr(&out),
        "eic-ssh: the endpoint refused the tunnel (HTTP 503, ServiceUnavailable): The service is unavailable. Try again later.\n"
    );
}

#[test]
fn secrets_never_reach_the_most_verbose_log() {
    let mut world = World::demo();
    world.credentials[0].session_token = Some("SESSIONTOKENabc123/+=".into());
    let h = Harness::with_world(world);
    let proxy = h.proxy_command().replace(" proxy %h", " -vvv proxy %h");
    let mut cmd = h.ssh_via(&proxy, "true");
    let out = run(&mut cmd, LIMIT);
    assert!(out.status.success(), "{}", stderr(&out));
    let log = stderr(&out);
    assert!(
        log.contains("openTunnel"),
        "the -vvv log shows the tunnel URL: {log}"
    );
    assert!(log.contains("X-Amz-Signature=***"), "{log}");
    let world = h.sim.state.world.read().unwrap();
    let secret = &world.credentials[0].secret_key;
    for needle in [
        secret.as_str(),
        "SESSIONTOKENabc123",
        "SESSIONTOKENabc123%2F",
    ] {
        assert!(!log.contains(needle), "{needle:?} leaked into the log");
    }
    let signature_values: Vec<&str> = log
        .match_indices("X-Amz-Signature=")
        .map(|(i, _)| &log[i + 16..i + 19])
        .collect();
    assert!(
        signature_values.iter().all(|v| *v == "***"),
        "{signature_values:?}"
    );
}

#[test]
fn bad_region_endpoint_id_and_dns_name_are_usage_errors_before_any_call() {
    let h = Harness::new();
    let cases: [(&[&str], &str); 3] = [
        (
            &["--region", "us-east-1.evil.example/x"],
            "invalid AWS region",
        ),
        (
            &["--endpoint-id", "eice-nope"],
            "--endpoint-id: \"eice-nope\" is not an endpoint id",
        ),
        (&["--endpoint-dns-name", ""], "--endpoint-dns-name is empty"),
    ];
    for (flags, text) in cases {
        let mut cmd = h.eic_ssh();
        cmd.args(["proxy", BASTION]).args(flags);
        let out = run(&mut cmd, LIMIT);
        assert_fails(&out, 2, text);
    }
    assert!(h.sim.events_of("api_call").is_empty());
}
