//! `eic-ssh tunnel`, the local listener: parallel connections each get a tunnel, the guard
//! decides for every connection, and the cap turns extra clients away.

use crate::common;

use std::process::Stdio;

use common::*;

#[test]
fn listener_mode_serves_5_parallel_connections() {
    let h = Harness::new();
    let listener = Listener::tunnel(&h);
    let clients: Vec<_> = (0..5)
        .map(|i| {
            let mut ssh = h.ssh_to_listener(listener.port, &format!("echo conn-{i}"));
            ssh.stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped());
            ssh.spawn().unwrap()
        })
        .collect();
    for (i, child) in clients.into_iter().enumerate() {
        let out = wait(child, LIMIT);
        assert!(out.status.success(), "conn {i}: {}", stderr(&out));
        assert_eq!(String::from_utf8_lossy(&out.stdout), format!("conn-{i}\n"));
    }
    assert_eq!(h.sim.events_of("tunnel_open").len(), 5);
    assert_eq!(h.sim.events_of("key_pushed").len(), 5);
}

#[test]
fn listener_checks_the_guard_for_each_connection_and_caps_its_tunnels() {
    use std::io::Read;
    let (h, config) = with_config(eic_ssh_sim::World::demo(), "203.0.113.10", ALLOW_OFFICE);
    let mut cmd = h.eic_ssh();
    cmd.env("EIC_SSH_CONFIG", &config)
        .env("EIC_SSH_EGRESS_CACHE_SECS", "0")
        .args([
            "tunnel",
            BASTION,
            "--local-port",
            "0",
            "--max-connections",
            "1",
        ]);
    let listener = Listener::start(cmd);
    let next = || listener.next_line();
    let port = listener.port;
    let banner = |s: &mut std::net::TcpStream| {
        let mut buf = [0u8; 4];
        s.set_read_timeout(Some(LIMIT)).unwrap();
        let n = s.read(&mut buf).unwrap_or(0);
        buf[..n].to_vec()
    };
    // One tunnel open (the sshd banner came through); a second client is turned away.
    let mut held = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    assert_eq!(banner(&mut held), b"SSH-");
    let mut extra = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    assert_eq!(banner(&mut extra), b"");
    assert!(next().contains("turning away"), "cap message");
    drop(held);
    // The network changes under the running listener: the next connection is refused.
    h.sim
        .update_world(|w| w.client_public_ip = Some("192.0.2.50".parse().unwrap()));
    let opened = h.sim.events_of("tunnel_open").len();
    assert!(
        h.sim
            .until(LIMIT, || !h.sim.events_of("tunnel_closed").is_empty())
    );
    // The slot frees when the listener has finished with the closed tunnel.
    let line = loop {
        let mut refused = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        assert_eq!(banner(&mut refused), b"");
        // Skip what the listener says about the dropped connection.
        let line = loop {
            let line = next();
            if line.contains("refusing") || line.contains("turning away") {
                break line;
            }
        };
        if !line.contains("turning away") {
            break line;
        }
    };
    assert!(
        line.contains("refusing to connect: egress IP 192.0.2.50"),
        "{line}"
    );
    assert_eq!(h.sim.events_of("tunnel_open").len(), opened);
}

#[test]
fn each_connection_hears_of_its_tunnels_end_and_the_listener_stays() {
    use std::io::Read;
    let h = Harness::new();
    let mut cmd = h.eic_ssh();
    cmd.env("EIC_SSH_LIMIT_WARNING_SECS", "2").args([
        "tunnel",
        BASTION,
        "--local-port",
        "0",
        "--max-tunnel-duration",
        "4",
    ]);
    let listener = Listener::start(cmd);
    let mut client = std::net::TcpStream::connect(("127.0.0.1", listener.port)).unwrap();
    let me = client.local_addr().unwrap();
    client.set_read_timeout(Some(LIMIT)).unwrap();
    let mut banner = [0u8; 4];
    client.read_exact(&mut banner).unwrap();
    assert_eq!(&banner, b"SSH-");
    let next_about_me = || loop {
        let line = listener.next_line();
        if line.starts_with(&format!("eic-ssh: connection from {me}: ")) {
            return line;
        }
    };
    assert_eq!(
        next_about_me(),
        format!(
            "eic-ssh: connection from {me}: its tunnel closes in 2 s (--max-tunnel-duration 4 s); the connection ends then, the listener stays: connect again for a new tunnel"
        )
    );
    assert_eq!(
        next_about_me(),
        format!(
            "eic-ssh: connection from {me}: the endpoint closed the tunnel to {BASTION} at its maximum duration (--max-tunnel-duration 4 s)"
        )
    );
    // The client's connection ended with its tunnel.
    let mut rest = Vec::new();
    let _ = client.read_to_end(&mut rest);
    assert!(h.sim.until(LIMIT, || count(&h, "tunnel_closed") > 0));
    assert_eq!(
        h.sim.events_of("tunnel_closed")[0]["end"],
        "max duration reached"
    );
    // The listener stays: a new connection gets a new tunnel.
    let mut again = std::net::TcpStream::connect(("127.0.0.1", listener.port)).unwrap();
    again.set_read_timeout(Some(LIMIT)).unwrap();
    again.read_exact(&mut banner).unwrap();
    assert_eq!(&banner, b"SSH-");
    assert_eq!(h.sim.events_of("tunnel_open").len(), 2);
}
