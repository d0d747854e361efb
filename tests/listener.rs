//! `eic-ssh tunnel`, the local listener: parallel connections each get a tunnel, the guard
//! decides for every connection, and the cap turns extra clients away.

mod common;

use std::io::Write;
use std::process::{Command, Stdio};

use common::*;

#[test]
fn listener_mode_serves_5_parallel_connections() {
    let h = Harness::new();
    let mut cmd = h.eic_ssh();
    cmd.args([
        "tunnel",
        BASTION,
        "--local-port",
        "0",
        "--user",
        &h.user,
        "--push-key",
    ])
    .arg(h.public_key())
    .stdin(Stdio::null())
    .stdout(Stdio::null())
    .stderr(Stdio::piped());
    let mut listener = cmd.spawn().unwrap();
    let mut err = listener.stderr.take().unwrap();
    let mut line = Vec::new();
    let mut byte = [0u8; 1];
    while std::io::Read::read(&mut err, &mut byte).unwrap() == 1 && byte[0] != b'\n' {
        line.push(byte[0]);
    }
    let line = String::from_utf8(line).unwrap();
    let port: u16 = line
        .split("127.0.0.1:")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no port in {line:?}"));
    let clients: Vec<_> = (0..5)
        .map(|i| {
            let mut ssh = Command::new("ssh");
            h.isolate(&mut ssh);
            let mut opts = h.ssh_options();
            opts.truncate(opts.len() - 2); // no ProxyCommand: straight to the listener
            ssh.args(opts)
                .args([
                    "-o",
                    &format!("HostKeyAlias={BASTION}"),
                    "-p",
                    &port.to_string(),
                ])
                .arg(format!("{}@127.0.0.1", h.user))
                .arg(format!("echo conn-{i}"))
                .stdin(Stdio::null())
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
    let _ = listener.kill();
    let _ = listener.wait();
    let _ = std::io::stderr().flush();
}

#[test]
fn listener_checks_the_guard_for_each_connection_and_caps_its_tunnels() {
    use std::io::{BufRead, Read};
    let mut world = eic_ssh_sim::World::demo();
    world.client_public_ip = Some("203.0.113.10".parse().unwrap());
    let h = Harness::with_world(world);
    let config = h.dir.path().join("config.toml");
    std::fs::write(
        &config,
        format!(
            "[defaults]\nallow = [\"203.0.113.0/24\"]\negress_check_url = \"{}\"\n",
            h.sim.checkip_url()
        ),
    )
    .unwrap();
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
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut listener = cmd.spawn().unwrap();
    let (tx, lines) = std::sync::mpsc::channel::<String>();
    let err = listener.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(err).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let next = || lines.recv_timeout(LIMIT).expect("a line from the listener");
    let first = next();
    let port: u16 = first
        .split("127.0.0.1:")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no port in {first:?}"));
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
    assert!(eventually(LIMIT, || !h
        .sim
        .events_of("tunnel_closed")
        .is_empty()));
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
    let _ = listener.kill();
    let _ = listener.wait();
}
