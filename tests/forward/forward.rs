//! `-L`, `-D` and `-N` through the emulator and the real sshd: bytes checked end to end,
//! 50 connections over one tunnel, SOCKS5 with a domain name and SOCKS4a, a refused
//! channel that disturbs nothing else, and `--exit-on-forward-failure`.

use crate::common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;

use common::*;

/// `eic-ssh user@BASTION -N ARGS…`, waiting for the first forward to be listed.
fn forwards(h: &Harness, args: &[&str]) -> Listener {
    let mut cmd = h.eic_ssh();
    cmd.env("EIC_SSH_KNOWN_HOSTS", &h.known_hosts)
        .arg(format!("{}@{BASTION}", h.user))
        .arg("-N")
        .args(args);
    Listener::start(cmd)
}

/// Sends `data` through `port` and returns what comes back.
fn round_trip(port: u16, data: &[u8]) -> Vec<u8> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(LIMIT)).unwrap();
    s.write_all(data).unwrap();
    s.shutdown(std::net::Shutdown::Write).unwrap();
    let mut back = Vec::new();
    s.read_to_end(&mut back).unwrap();
    back
}

#[test]
fn local_forward_carries_bytes_and_50_connections_share_one_tunnel() {
    let h = Harness::new();
    let echo = echo_server();
    let l = forwards(&h, &["-L", &format!("0:127.0.0.1:{echo}")]);
    let data: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    assert_eq!(round_trip(l.port, &data), data);
    let clients: Vec<_> = (0..50)
        .map(|i| {
            let port = l.port;
            std::thread::spawn(move || {
                let data = format!("connection {i} ").repeat(1000).into_bytes();
                assert_eq!(round_trip(port, &data), data, "connection {i}");
            })
        })
        .collect();
    for c in clients {
        c.join().unwrap();
    }
    assert_eq!(
        h.sim.events_of("tunnel_open").len(),
        1,
        "one tunnel for all"
    );
}

#[cfg(unix)]
#[test]
fn each_stop_signal_ends_the_forwards_closing_the_tunnel_and_is_logged() {
    let h = Harness::new();
    let echo = echo_server();
    for (n, (signal, code)) in STOP_SIGNALS.into_iter().enumerate() {
        let mut l = forwards(&h, &["-L", &format!("0:127.0.0.1:{echo}")]);
        // A forwarded connection open (its bytes have gone both ways) when the signal comes.
        let mut open = TcpStream::connect(("127.0.0.1", l.port)).unwrap();
        open.set_read_timeout(Some(LIMIT)).unwrap();
        open.write_all(b"ping").unwrap();
        let mut back = [0u8; 4];
        open.read_exact(&mut back).unwrap();
        assert_eq!(&back, b"ping");
        send_signal(signal, l.child.id());
        let status = l.child.wait().unwrap();
        assert_eq!(status.code(), Some(code), "SIG{signal}");
        // The forwarded connection ended with the process.
        let mut rest = Vec::new();
        let _ = open.read_to_end(&mut rest);
        assert!(rest.is_empty(), "SIG{signal}: {rest:?}");
        let log = log_entries(&h);
        assert_eq!(log.len(), n + 1, "{log:#?}");
        let last = log.last().unwrap();
        assert_eq!(last["command"], "session", "{last}");
        assert_eq!(last["outcome"], format!("ended by SIG{signal}"), "{last}");
        assert_eq!(last["exit"], code, "{last}");
        assert!(eventually(LIMIT, || h.sim.events_of("tunnel_closed").len() == n + 1));
    }
}

#[test]
fn verbose_logs_each_connection_with_its_bytes() {
    let h = Harness::new();
    let echo = echo_server();
    let l = forwards(&h, &["-v", "-L", &format!("0:127.0.0.1:{echo}")]);
    let data = vec![7u8; 12345];
    assert_eq!(round_trip(l.port, &data), data);
    let seen = wait_for_line(&l, "bytes out");
    let closed = seen.last().unwrap();
    assert!(
        closed.contains(&format!(
            "→ 127.0.0.1:{echo} closed (12345 bytes out, 12345 bytes in)"
        )),
        "{closed}"
    );
    assert!(seen.iter().any(|s| s.contains("opened")), "{seen:?}");
}

#[test]
fn socks5_with_a_domain_name_and_socks4a_resolve_on_the_instance() {
    let h = Harness::new();
    let echo = echo_server();
    let l = forwards(&h, &["-D", "0"]);
    // SOCKS5, CONNECT to "localhost" by name.
    let mut s = TcpStream::connect(("127.0.0.1", l.port)).unwrap();
    s.set_read_timeout(Some(LIMIT)).unwrap();
    s.write_all(&[5, 1, 0]).unwrap();
    let mut choice = [0u8; 2];
    s.read_exact(&mut choice).unwrap();
    assert_eq!(choice, [5, 0]);
    let mut req = vec![5, 1, 0, 3, 9];
    req.extend_from_slice(b"localhost");
    req.extend_from_slice(&echo.to_be_bytes());
    s.write_all(&req).unwrap();
    let mut reply = [0u8; 10];
    s.read_exact(&mut reply).unwrap();
    assert_eq!(reply[..2], [5, 0], "granted");
    s.write_all(b"through socks5").unwrap();
    let mut back = [0u8; 14];
    s.read_exact(&mut back).unwrap();
    assert_eq!(&back, b"through socks5");
    // SOCKS4a, the name after the user id.
    let mut s = TcpStream::connect(("127.0.0.1", l.port)).unwrap();
    s.set_read_timeout(Some(LIMIT)).unwrap();
    let mut req = vec![4, 1];
    req.extend_from_slice(&echo.to_be_bytes());
    req.extend_from_slice(&[0, 0, 0, 1, 0]);
    req.extend_from_slice(b"localhost\0");
    s.write_all(&req).unwrap();
    let mut reply = [0u8; 8];
    s.read_exact(&mut reply).unwrap();
    assert_eq!(reply[..2], [0, 0x5A], "granted");
    s.write_all(b"socks4a").unwrap();
    let mut back = [0u8; 7];
    s.read_exact(&mut back).unwrap();
    assert_eq!(&back, b"socks4a");
}

/// A SOCKS5 CONNECT to `name:port` through the proxy on `proxy`: the socket and the reply.
fn socks5_connect(proxy: u16, name: &[u8], port: u16) -> (TcpStream, [u8; 10]) {
    let mut s = TcpStream::connect(("127.0.0.1", proxy)).unwrap();
    s.set_read_timeout(Some(LIMIT)).unwrap();
    s.write_all(&[5, 1, 0]).unwrap();
    let mut choice = [0u8; 2];
    s.read_exact(&mut choice).unwrap();
    assert_eq!(choice, [5, 0]);
    let mut req = vec![5, 1, 0, 3, name.len() as u8];
    req.extend_from_slice(name);
    req.extend_from_slice(&port.to_be_bytes());
    s.write_all(&req).unwrap();
    let mut reply = [0u8; 10];
    s.read_exact(&mut reply).unwrap();
    (s, reply)
}

#[test]
fn a_socks_name_with_a_nul_is_refused_alone_and_the_connection_stays() {
    let h = Harness::new();
    let echo = echo_server();
    let l = forwards(&h, &["-D", "0"]);
    // Held open across the bad request: it must not be cut with the connection.
    let (mut kept, reply) = socks5_connect(l.port, b"localhost", echo);
    assert_eq!(reply[..2], [5, 0], "granted");
    let (_, reply) = socks5_connect(l.port, b"local\0host", echo);
    assert_eq!(reply[..2], [5, 2], "refused as not allowed");
    let (_, reply) = socks5_connect(l.port, b"localhost\x1b[2J", echo);
    assert_eq!(reply[..2], [5, 2], "refused as not allowed");
    kept.write_all(b"still here").unwrap();
    let mut back = [0u8; 10];
    kept.read_exact(&mut back).unwrap();
    assert_eq!(&back, b"still here");
    assert_eq!(h.sim.events_of("tunnel_open").len(), 1, "no reconnect");
}

#[test]
fn an_idle_socks_client_is_closed() {
    let h = Harness::new();
    let l = forwards(&h, &["-D", "0"]);
    // Connects, sends half a greeting, then nothing: closed after the handshake bound
    // (the harness's LIMIT would fail a hang).
    let mut idle = TcpStream::connect(("127.0.0.1", l.port)).unwrap();
    idle.set_read_timeout(Some(LIMIT)).unwrap();
    idle.write_all(&[5]).unwrap();
    let mut rest = Vec::new();
    let read = idle.read_to_end(&mut rest);
    assert!(
        matches!(read, Ok(0))
            || read
                .as_ref()
                .is_err_and(|e| e.kind() == std::io::ErrorKind::ConnectionReset),
        "the idle client is closed: {read:?}"
    );
}

#[test]
fn a_refused_channel_closes_that_connection_only() {
    let h = Harness::new();
    let echo = echo_server();
    let closed = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let l = forwards(
        &h,
        &[
            "-L",
            &format!("0:127.0.0.1:{echo}"),
            "-L",
            &format!("0:127.0.0.1:{closed}"),
        ],
    );
    let refused_port = port_in(&l.next_line());
    // A working connection stays open across the refusal of another.
    let mut kept = TcpStream::connect(("127.0.0.1", l.port)).unwrap();
    kept.set_read_timeout(Some(LIMIT)).unwrap();
    kept.write_all(b"before").unwrap();
    let mut buf = [0u8; 6];
    kept.read_exact(&mut buf).unwrap();
    let mut refused = TcpStream::connect(("127.0.0.1", refused_port)).unwrap();
    refused.set_read_timeout(Some(LIMIT)).unwrap();
    let mut nothing = Vec::new();
    assert_eq!(refused.read_to_end(&mut nothing).unwrap_or(0), 0);
    let said = l.next_line();
    assert!(
        said.contains(&format!("the instance could not open 127.0.0.1:{closed}")),
        "{said}"
    );
    kept.write_all(b"after!").unwrap();
    kept.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"after!");
}

#[test]
fn a_forward_to_port_0_is_a_usage_error_before_connecting() {
    let h = Harness::new();
    for (flag, spec) in [("-L", "0:127.0.0.1:0"), ("-R", "0:localhost:0")] {
        let mut cmd = h.eic_ssh();
        cmd.env("EIC_SSH_KNOWN_HOSTS", &h.known_hosts)
            .arg(format!("{}@{BASTION}", h.user))
            .args(["-N", flag, spec]);
        let out = run(&mut cmd, LIMIT);
        // The session's own failures are all 255 (docs/commands.md, "Exit codes").
        assert_fails_exactly(
            &out,
            255,
            &format!(
                "eic-ssh: {flag} {spec}: port 0 is not a destination: name the port to connect to (1-65535)\n"
            ),
        );
    }
    assert!(h.sim.events_of("api_call").is_empty(), "nothing happened");
}

#[test]
fn exit_on_forward_failure_stops_before_connecting() {
    let h = Harness::new();
    let busy = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = busy.local_addr().unwrap().port();
    let mut cmd = h.eic_ssh();
    cmd.env("EIC_SSH_KNOWN_HOSTS", &h.known_hosts)
        .arg(format!("{}@{BASTION}", h.user))
        .args(["-N", "--exit-on-forward-failure", "-L"])
        .arg(format!("{port}:127.0.0.1:22"));
    let out = run(&mut cmd, LIMIT);
    assert_fails(&out, 255, &format!("cannot listen on 127.0.0.1:{port}"));
    assert!(h.sim.events_of("api_call").is_empty(), "nothing happened");
    // Without the flag it is a warning, and the other forwards come up.
    let echo = echo_server();
    let mut cmd = h.eic_ssh();
    cmd.env("EIC_SSH_KNOWN_HOSTS", &h.known_hosts)
        .arg(format!("{}@{BASTION}", h.user))
        .args(["-N", "-L"])
        .arg(format!("{port}:127.0.0.1:22"))
        .arg("-L")
        .arg(format!("0:127.0.0.1:{echo}"));
    let l = Listener::spawn(cmd);
    let first = l.next_line();
    assert!(first.contains("warning: cannot listen on"), "{first}");
    let second = l.next_line();
    assert!(second.contains("forwarding 127.0.0.1:"), "{second}");
    drop(busy);
}

#[test]
fn remote_forward_port_0_prints_the_port_and_carries_bytes_back() {
    let h = Harness::new();
    let echo = echo_server();
    let mut cmd = h.eic_ssh();
    cmd.env("EIC_SSH_KNOWN_HOSTS", &h.known_hosts)
        .arg(format!("{}@{BASTION}", h.user))
        .args(["-N", "-R"])
        .arg(format!("0:127.0.0.1:{echo}"));
    let l = Listener::spawn(cmd);
    let line = l.next_line();
    // OpenSSH's own words for a port the server chose.
    let port: u16 = line
        .strip_prefix("Allocated port ")
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no allocated port in {line:?}"));
    assert!(
        line.ends_with(&format!("for remote forward to 127.0.0.1:{echo}")),
        "{line}"
    );
    // A client on the instance's side (sshd listens on this machine's loopback).
    let data = b"from the instance back to us".repeat(1000);
    assert_eq!(round_trip(port, &data), data);
}

/// `-N -L` with an allowlist that admits the office and no egress cache, so each login
/// asks checkip.
fn guarded_forward(h: &Harness, config: &Path, echo: u16, extra: &[&str]) -> Listener {
    let mut cmd = h.eic_ssh();
    cmd.env("EIC_SSH_KNOWN_HOSTS", &h.known_hosts)
        .env("EIC_SSH_CONFIG", config)
        .env("EIC_SSH_EGRESS_CACHE_SECS", "0")
        .arg(format!("{}@{BASTION}", h.user))
        .args(["-N", "-L", &format!("0:127.0.0.1:{echo}")])
        .args(extra);
    Listener::start(cmd)
}

/// A harness seen from the office (203.0.113.10), and a config that admits it.
fn at_the_office() -> (Harness, std::path::PathBuf) {
    with_config(eic_ssh_sim::World::demo(), "203.0.113.10", ALLOW_OFFICE)
}

/// Lines until one contains `needle` (each wait bounded by the listener's limit).
fn wait_for_line(l: &Listener, needle: &str) -> Vec<String> {
    let mut seen = Vec::new();
    loop {
        let line = l.next_line();
        let done = line.contains(needle);
        seen.push(line);
        if done {
            return seen;
        }
    }
}

#[test]
fn a_dropped_tunnel_reconnects_and_the_local_port_stays_up() {
    reconnects_after(eic_ssh_sim::Faults {
        drop_after_bytes: Some(256 << 10),
        ..Default::default()
    });
}

#[test]
fn a_tunnel_closed_with_1011_reconnects_and_the_local_port_stays_up() {
    reconnects_after(eic_ssh_sim::Faults {
        close_after_bytes: Some(256 << 10),
        ..Default::default()
    });
}

/// The first tunnel breaks with `fault` after 256 KiB; the ones after it are healthy.
fn reconnects_after(fault: eic_ssh_sim::Faults) {
    let (h, config) = at_the_office();
    let echo = echo_server();
    h.sim.set_faults(fault);
    let l = guarded_forward(&h, &config, echo, &[]);
    h.sim.set_faults(eic_ssh_sim::Faults::default());
    let checks = h.sim.events_of("checkip").len();
    let data: Vec<u8> = (0..1_000_000u32).map(|i| (i % 251) as u8).collect();
    let mut s = TcpStream::connect(("127.0.0.1", l.port)).unwrap();
    s.set_read_timeout(Some(LIMIT)).unwrap();
    let _ = s.write_all(&data);
    let seen = wait_for_line(&l, "reconnected to");
    assert!(
        seen.iter().any(|l| l.contains("reconnecting in")),
        "one line per attempt: {seen:?}"
    );
    // The same local port works through the new tunnel.
    let small = b"after the drop".repeat(100);
    assert_eq!(round_trip(l.port, &small), small);
    assert_eq!(h.sim.events_of("tunnel_open").len(), 2);
    assert_eq!(h.sim.events_of("key_pushed").len(), 2, "a fresh key");
    assert!(
        h.sim.events_of("checkip").len() > checks,
        "the guard ran again"
    );
}

#[test]
fn make_before_break_refuses_no_connection_across_the_rollover() {
    let h = Harness::new();
    let echo = echo_server();
    // Tunnels of 8 s: the next one opens 2 s ahead of each end (a quarter of the limit),
    // time enough to open it on a loaded machine.
    let l = forwards(
        &h,
        &[
            "--max-tunnel-duration",
            "8",
            "-L",
            &format!("0:127.0.0.1:{echo}"),
        ],
    );
    let data = b"all day long".repeat(100);
    // Connections one after another until the third tunnel is up (two rollovers, as the
    // emulator sees them), noting on which tunnel each was made: every one must succeed,
    // and each tunnel must have carried some. A run that never reaches the third tunnel is
    // hung, not slow: LIMIT is no timing claim.
    let hung = std::time::Instant::now() + LIMIT;
    let mut during = std::collections::BTreeMap::<usize, usize>::new();
    loop {
        let opened = h.sim.events_of("tunnel_open").len();
        assert_eq!(
            round_trip(l.port, &data),
            data,
            "a connection on tunnel {opened}"
        );
        *during.entry(opened).or_default() += 1;
        if opened >= 3 {
            break;
        }
        assert!(
            std::time::Instant::now() < hung,
            "no third tunnel: {during:?}"
        );
        // Pacing, not waiting: a connection every 50 ms keeps the machine free for the rest.
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let seen = wait_for_line(&l, "new connections now use the next tunnel");
    assert!(
        seen.iter().any(|s| s.contains(&format!("the tunnel to {BASTION} closes in 2 s (--max-tunnel-duration 8 s): opening the next one now; new connections use it, connections open through this one end with it"))),
        "{seen:?}"
    );
    assert!(
        [1, 2, 3].iter().all(|n| during.contains_key(n)),
        "connections on each of the first three tunnels: {during:?}"
    );
}

#[test]
fn a_connection_accepted_after_a_move_to_a_refused_network_is_closed() {
    let (h, config) = at_the_office();
    let echo = echo_server();
    let l = guarded_forward(&h, &config, echo, &[]);
    assert_eq!(round_trip(l.port, b"at the office"), b"at the office");
    // The laptop moves; the tunnel is still up, but new connections must not ride it.
    h.sim
        .update_world(|w| w.client_public_ip = Some("192.0.2.50".parse().unwrap()));
    let mut s = TcpStream::connect(("127.0.0.1", l.port)).unwrap();
    s.set_read_timeout(Some(LIMIT)).unwrap();
    let _ = s.write_all(b"elsewhere");
    let mut back = Vec::new();
    let _ = s.read_to_end(&mut back);
    assert!(back.is_empty(), "nothing came through: {back:?}");
    let said = wait_for_line(&l, "closing the connection from");
    let said = said.last().unwrap();
    assert!(said.contains("egress IP 192.0.2.50"), "{said}");
    assert!(said.contains("the forward keeps listening"), "{said}");
    // Back at the office, the same forward serves again.
    h.sim
        .update_world(|w| w.client_public_ip = Some("203.0.113.10".parse().unwrap()));
    assert_eq!(round_trip(l.port, b"back"), b"back");
    assert_eq!(
        h.sim.events_of("tunnel_open").len(),
        1,
        "one tunnel all along"
    );
}

#[test]
fn a_refused_network_stops_the_forwards_with_the_reason() {
    let (h, config) = at_the_office();
    let echo = echo_server();
    let mut l = guarded_forward(&h, &config, echo, &["--max-tunnel-duration", "2"]);
    // The laptop moves to a network outside the allowlist; the hour (here 2 s) runs out.
    h.sim
        .update_world(|w| w.client_public_ip = Some("192.0.2.50".parse().unwrap()));
    let seen = wait_for_line(&l, "the forwards stop");
    let last = seen.last().unwrap();
    assert!(last.contains("egress IP 192.0.2.50"), "{last}");
    assert!(last.contains("the forwards stop"), "{last}");
    let status = l.child.wait().unwrap();
    assert_eq!(
        status.code(),
        Some(255),
        "the session's code for its own failures"
    );
}

#[test]
fn without_reconnect_the_forwards_hear_of_the_tunnels_end_and_stop_with_it() {
    let h = Harness::new();
    let echo = echo_server();
    let mut cmd = h.eic_ssh();
    cmd.env("EIC_SSH_KNOWN_HOSTS", &h.known_hosts)
        .env("EIC_SSH_LIMIT_WARNING_SECS", "2")
        .arg(format!("{}@{BASTION}", h.user))
        .args(["-N", "--no-reconnect", "--max-tunnel-duration", "4", "-L"])
        .arg(format!("0:127.0.0.1:{echo}"));
    let mut l = Listener::start(cmd);
    let seen = wait_for_line(&l, "closes in");
    assert_eq!(
        seen.last().unwrap(),
        &format!(
            "eic-ssh: the tunnel to {BASTION} closes in 2 s (--max-tunnel-duration 4 s); the forwards stop then (--no-reconnect): run eic-ssh -N again, or leave out --no-reconnect to have them reconnect by themselves"
        )
    );
    let seen = wait_for_line(&l, "maximum duration");
    assert!(
        seen.last().unwrap().ends_with(&format!(
            "the endpoint closed the tunnel to {BASTION} at its maximum duration (--max-tunnel-duration 4 s)"
        )),
        "{seen:?}"
    );
    assert_eq!(l.child.wait().unwrap().code(), Some(255));
    assert!(h.sim.until(LIMIT, || count(&h, "tunnel_closed") > 0));
    let ends: Vec<_> = h
        .sim
        .events_of("tunnel_closed")
        .iter()
        .map(|e| e["end"].as_str().unwrap_or_default().to_string())
        .collect();
    assert_eq!(ends, ["max duration reached"]);
}

#[test]
fn with_a_remote_forward_the_warning_says_the_forwards_reconnect_after_the_end() {
    let h = Harness::new();
    let echo = echo_server();
    let mut cmd = h.eic_ssh();
    cmd.env("EIC_SSH_KNOWN_HOSTS", &h.known_hosts)
        .env("EIC_SSH_LIMIT_WARNING_SECS", "2")
        .arg(format!("{}@{BASTION}", h.user))
        .args(["-N", "--max-tunnel-duration", "4", "-R"])
        .arg(format!("0:127.0.0.1:{echo}"));
    let l = Listener::spawn(cmd);
    let seen = wait_for_line(&l, "closes in");
    assert_eq!(
        seen.last().unwrap(),
        &format!(
            "eic-ssh: the tunnel to {BASTION} closes in 2 s (--max-tunnel-duration 4 s); connections through it end then, and eic-ssh reconnects the forwards on a new tunnel (with -R the next one cannot open before this one ends)"
        )
    );
    // And it does: a second tunnel after the first reached its end.
    wait_for_line(&l, "reconnected to");
    assert!(h.sim.until(LIMIT, || count(&h, "tunnel_closed") > 0));
    assert_eq!(
        h.sim.events_of("tunnel_closed")[0]["end"],
        "max duration reached"
    );
}

#[test]
fn no_reconnect_ends_with_the_tunnel() {
    let h = Harness::new();
    let echo = echo_server();
    let spec = format!("0:127.0.0.1:{echo}");
    let mut l = forwards(
        &h,
        &["--no-reconnect", "--max-tunnel-duration", "2", "-L", &spec],
    );
    let status = l.child.wait().unwrap();
    assert_eq!(status.code(), Some(255));
    assert_eq!(h.sim.events_of("tunnel_open").len(), 1);
    // --reconnect needs -N: a shell cannot move to a new connection.
    let mut cmd = h.eic_ssh();
    cmd.arg(format!("{}@{BASTION}", h.user))
        .args(["--reconnect", "--", "true"]);
    let out = run(&mut cmd, LIMIT);
    assert_fails(&out, 255, "--reconnect keeps forwards up with -N");
}
