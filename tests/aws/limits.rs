//! Bounded reads: what peers and files send is read up to a documented limit, and only from
//! a regular file. Hostile servers (an API, a checkip source, a CONNECT proxy that never
//! stop talking) live in this file; the emulator stays faithful.

use crate::common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::*;

/// A deadline for runs that hung before the fix: a hang fails the test, it never blocks.
const HANG: Duration = Duration::from_secs(20);

/// How much a hostile server sends at most: twice the API limit, so an unbounded client
/// still ends (and fails the test) without taking the machine's memory.
const FLOOD: usize = 32 << 20;

/// A server on loopback that reads each request's head and body, then lets `reply` talk.
fn hostile(reply: fn(&mut TcpStream)) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for client in listener.incoming().flatten() {
            std::thread::spawn(move || {
                let mut client = client;
                if read_request(&mut client) {
                    reply(&mut client);
                }
            });
        }
    });
    port
}

/// Reads a request head and its `Content-Length` body; false at end of stream.
/// An HTTP request's head, byte by byte up to the blank line; `None` when the peer left.
fn read_head(client: &mut TcpStream) -> Option<Vec<u8>> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if client.read(&mut byte).unwrap_or(0) == 0 {
            return None;
        }
        head.push(byte[0]);
    }
    Some(head)
}

fn read_request(client: &mut TcpStream) -> bool {
    let Some(head) = read_head(client) else {
        return false;
    };
    let length = String::from_utf8_lossy(&head)
        .lines()
        .find_map(|l| {
            let (name, value) = l.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse::<u64>().ok())?
        })
        .unwrap_or(0);
    let _ = std::io::copy(&mut client.take(length), &mut std::io::sink());
    true
}

/// Writes `prefix`, then up to [`FLOOD`] bytes of `fill`, stopping when the client leaves.
fn flood(client: &mut TcpStream, prefix: &[u8], fill: u8) {
    if client.write_all(prefix).is_err() {
        return;
    }
    let chunk = vec![fill; 64 * 1024];
    for _ in 0..FLOOD / chunk.len() {
        if client.write_all(&chunk).is_err() {
            return;
        }
    }
}

fn endless_http_body(client: &mut TcpStream) {
    flood(
        client,
        b"HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\nConnection: close\r\n\r\n",
        b'a',
    );
}

fn endless_status_line(client: &mut TcpStream) {
    flood(client, b"HTTP/1.1 200 ", b'a');
}

fn mkfifo(path: &Path) {
    let status = Command::new("mkfifo").arg(path).status().unwrap();
    assert!(status.success());
}

#[test]
fn an_endless_api_answer_stops_at_16_mib() {
    let h = Harness::new();
    let port = hostile(endless_http_body);
    let mut cmd = h.eic_ssh();
    cmd.env("AWS_ENDPOINT_URL_EC2", format!("http://127.0.0.1:{port}"))
        .args(["proxy", BASTION, "22"]);
    let out = run(&mut cmd, HANG);
    assert_fails_exactly(
        &out,
        1,
        "eic-ssh: DescribeInstances returned a response eic-ssh cannot read: the answer is larger than the 16 MiB eic-ssh reads from it\n",
    );
}

#[test]
fn an_endless_checkip_answer_stops_at_1_kib() {
    let (h, config) = with_config(eic_ssh_sim::World::demo(), "203.0.113.9", ALLOW_OFFICE);
    let port = hostile(endless_http_body);
    let mut cmd = h.eic_ssh();
    cmd.env("EIC_SSH_CONFIG", &config)
        .env("EIC_SSH_EGRESS_CACHE_SECS", "0")
        .env(
            "EIC_SSH_EGRESS_CHECK_URL",
            format!("http://127.0.0.1:{port}/"),
        )
        .args(["proxy", BASTION, "22"]);
    let out = run(&mut cmd, HANG);
    assert_fails(
        &out,
        3,
        "the answer is larger than the 1 KiB eic-ssh reads from it",
    );
    assert!(api_actions(&h).is_empty());
}

#[test]
fn a_proxy_status_line_without_end_stops_at_8_kib() {
    let h = Harness::new();
    let port = hostile(endless_status_line);
    let mut cmd = h.eic_ssh();
    // No API call: only the tunnel dials through the proxy.
    cmd.env("HTTPS_PROXY", format!("http://127.0.0.1:{port}"))
        .args([
            "proxy",
            BASTION,
            "22",
            "--endpoint-id",
            "eice-0123456789abcdef0",
            "--private-ip",
            "10.0.1.5",
        ]);
    let out = run(&mut cmd, HANG);
    assert_fails(
        &out,
        8,
        &format!(
            "cannot reach proxy 127.0.0.1:{port} (HTTPS_PROXY): its answer to CONNECT has a line longer than 8 KiB"
        ),
    );
}

#[test]
fn the_ca_bundle_must_be_a_regular_file() {
    let h = Harness::new();
    let fifo = h.dir.path().join("ca.fifo");
    mkfifo(&fifo);
    for (bundle, what) in [
        (fifo, "a FIFO"),
        (
            PathBuf::from("/dev/zero"),
            "a device that does not read as empty",
        ),
    ] {
        let mut cmd = h.eic_ssh();
        cmd.env("AWS_CA_BUNDLE", &bundle)
            .args(["proxy", BASTION, "22"]);
        let out = run(&mut cmd, HANG);
        assert_fails_exactly(
            &out,
            2,
            &format!(
                "eic-ssh: cannot read AWS_CA_BUNDLE {}: not a regular file ({what}); point it at a PEM bundle\n",
                bundle.display()
            ),
        );
    }
}

#[test]
fn known_hosts_must_be_a_regular_file() {
    let h = Harness::new();
    let fifo = h.dir.path().join("known_hosts.fifo");
    mkfifo(&fifo);
    for known_hosts in [fifo, PathBuf::from("/dev/zero")] {
        let mut cmd = h.eic_ssh();
        cmd.env("EIC_SSH_KNOWN_HOSTS", &known_hosts).args([
            &format!("{}@{BASTION}", h.user),
            "--",
            "true",
        ]);
        let out = run(&mut cmd, HANG);
        assert_fails(
            &out,
            255,
            &format!("cannot read {}: not a regular file", known_hosts.display()),
        );
    }
    // /dev/null is an empty known_hosts, as `ssh -o UserKnownHostsFile=/dev/null` reads it:
    // the key is new each time, and accepted as new each time.
    for _ in 0..2 {
        let mut cmd = h.eic_ssh();
        cmd.env("EIC_SSH_KNOWN_HOSTS", "/dev/null").args([
            "--host-key-check",
            "accept-new",
            &format!("{}@{BASTION}", h.user),
            "--",
            "true",
        ]);
        let out = run(&mut cmd, HANG);
        assert!(out.status.success(), "{}", stderr(&out));
    }
}

#[test]
fn ssh_config_write_refuses_a_fifo() {
    let h = Harness::new();
    let config = h.dir.path().join("config.toml");
    std::fs::write(&config, "[hosts.web]\ninstance = \"i-0123456789abcdef0\"\n").unwrap();
    let fifo = h.dir.path().join("eic.conf");
    mkfifo(&fifo);
    let mut cmd = h.eic_ssh();
    cmd.arg("ssh-config")
        .arg("--config")
        .arg(&config)
        .arg("--identity")
        .arg(&h.key)
        .arg("--write")
        .arg(&fifo);
    let out = run(&mut cmd, HANG);
    assert_fails_exactly(
        &out,
        2,
        &format!(
            "eic-ssh: cannot use {} as the --write target: not a regular file (a FIFO); pass --write with a regular file\n",
            fifo.display()
        ),
    );
    assert!(
        std::fs::symlink_metadata(&fifo)
            .unwrap()
            .file_type()
            .is_fifo_like()
    );
}

/// `is_fifo` without importing the unix extension trait at every call.
trait FifoLike {
    fn is_fifo_like(&self) -> bool;
}

impl FifoLike for std::fs::FileType {
    fn is_fifo_like(&self) -> bool {
        use std::os::unix::fs::FileTypeExt;
        self.is_fifo()
    }
}

#[test]
fn the_log_must_be_a_regular_file() {
    let h = Harness::new();
    let state = h.dir.path().join("state");
    std::fs::create_dir_all(state.join("eic-ssh")).unwrap();
    let log = state.join("eic-ssh").join("log.jsonl");
    mkfifo(&log);
    let mut cmd = h.eic_ssh();
    cmd.env("XDG_STATE_HOME", &state).arg("log");
    let out = run(&mut cmd, HANG);
    assert_fails_exactly(
        &out,
        1,
        &format!(
            "eic-ssh: cannot read {}: not a regular file (a FIFO)\n",
            log.display()
        ),
    );
}

/// A WebSocket endpoint (plain ws:// on loopback) that upgrades, then sends `pings` pings
/// of 125 bytes and never reads what comes back; it holds the connection until the receiver
/// is dropped.
fn ping_flood(pings: usize) -> (u16, std::sync::mpsc::Receiver<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    // A rendezvous channel: each send waits for the test to take it.
    let (done, finished) = std::sync::mpsc::sync_channel(0);
    std::thread::spawn(move || {
        let Ok((mut client, _)) = listener.accept() else {
            return;
        };
        let Some(head) = read_head(&mut client) else {
            return;
        };
        let key = String::from_utf8_lossy(&head)
            .lines()
            .find_map(|l| {
                let (name, value) = l.split_once(':')?;
                name.eq_ignore_ascii_case("sec-websocket-key")
                    .then(|| value.trim().to_string())
            })
            .unwrap_or_default();
        let accept = tokio_tungstenite::tungstenite::handshake::derive_accept_key(key.as_bytes());
        let answer = format!(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n\r\n"
        );
        if client.write_all(answer.as_bytes()).is_err() {
            return;
        }
        let mut ping = vec![0x89, 125];
        ping.extend_from_slice(&[b'p'; 125]);
        let burst: Vec<u8> = ping.repeat(512);
        for _ in 0..pings / 512 {
            if client.write_all(&burst).is_err() {
                break;
            }
        }
        let _ = done.send(());
        // Hold the connection open, never reading, until the test ends: the test takes one
        // message, so this second one waits until it drops `finished`.
        let _ = done.send(());
    });
    (port, finished)
}

/// Peak resident memory of a process, in KiB, from /proc.
fn peak_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

#[test]
fn pings_while_never_reading_do_not_grow_memory() {
    let h = Harness::new();
    // 600,000 pings: about 80 MB of pongs would queue without a bound on the write buffer.
    let (port, finished) = ping_flood(600_000);
    let mut cmd = h.eic_ssh();
    cmd.args([
        "proxy",
        BASTION,
        "22",
        "--endpoint-id",
        "eice-0123456789abcdef0",
        "--private-ip",
        "10.0.1.5",
        "--tunnel-endpoint-url",
        &format!("ws://127.0.0.1:{port}"),
    ])
    .stdin(std::process::Stdio::piped())
    .stdout(std::process::Stdio::null())
    .stderr(std::process::Stdio::null());
    let mut child = cmd.spawn().unwrap();
    let sent = finished.recv_timeout(Duration::from_secs(120));
    let peak = peak_rss_kib(child.id());
    let _ = child.kill();
    let _ = child.wait();
    assert!(sent.is_ok(), "the flood was not taken in within 120 s");
    assert!(
        peak < 48 * 1024,
        "peak RSS {peak} KiB: pongs queued without bound"
    );
}
