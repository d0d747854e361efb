//! The endpoint's 20-connection quota, which the emulator enforces as the service does (HTTP
//! 429): every front end that opens tunnels (proxy, tunnel, the session, `cp`, `-N`) waits
//! for a free connection with jittered backoff, says so once, and completes; the bound comes
//! from `--quota-wait`, else `quota_wait` in the config file, and 0 turns the waiting off.
//! This user's own tunnels never get that far: each holds one of the endpoint's 20 slots
//! (lock files the OS releases when a process dies), and the 21st waits for a slot.

use crate::common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Child, Stdio};

use common::*;

/// What each waiting client says, once, the first time it is refused.
const SAID: &str =
    "has reached the endpoint's limit of 20 concurrent connections; trying again for up to";

/// 20 `eic-ssh proxy` holding every connection of the endpoint until their stdin closes,
/// run as someone else (their own home, so their own slots): the endpoint's 429 is for
/// connections this user's slots do not count.
fn hold_all(h: &Harness) -> Vec<Child> {
    let elsewhere = h.dir.path().join("someone-else");
    std::fs::create_dir_all(&elsewhere).unwrap();
    let held: Vec<Child> = (0..20)
        .map(|_| {
            let mut cmd = h.eic_ssh();
            cmd.env("HOME", &elsewhere)
                .args(["proxy", BASTION])
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped());
            cmd.spawn().unwrap()
        })
        .collect();
    assert!(
        h.sim
            .until(LIMIT, || h.sim.events_of("tunnel_open").len() == 20),
        "20 tunnels did not open"
    );
    held
}

fn spawn(cmd: &mut std::process::Command) -> Child {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

#[test]
fn more_than_20_at_once_all_complete_through_every_front_end() {
    let h = Harness::new();
    let held = hold_all(&h);
    let wait_flag = ["--quota-wait", "300"];

    // The session, a copy and ssh through `proxy`, each a 21st-or-later connection.
    let mut session = h.eic_ssh();
    session
        .env("EIC_SSH_KNOWN_HOSTS", &h.known_hosts)
        .arg(format!("{}@{BASTION}", h.user))
        .args(wait_flag)
        .args(["--", "echo session-ok"]);
    let session = spawn(&mut session);
    let file = h.random_file("quota.bin", 100_000);
    let copied = h.dir.path().join("quota-copy.bin");
    let mut cp = h.eic_ssh();
    cp.env("EIC_SSH_KNOWN_HOSTS", &h.known_hosts)
        .arg("cp")
        .args(wait_flag)
        .arg(&file)
        .arg(format!("{}@{BASTION}:{}", h.user, copied.display()));
    let cp = spawn(&mut cp);
    let proxied = spawn(&mut h.ssh_via(
        &format!("{} --quota-wait 300", h.proxy_command()),
        "echo proxy-ok",
    ));

    // A `tunnel` listener, whose connection waits too.
    let mut tunnel = h.eic_ssh();
    tunnel
        .args(["tunnel", BASTION, "--local-port", "0", "--user", &h.user])
        .args(wait_flag)
        .arg("--push-key")
        .arg(h.public_key());
    let tunnel = Listener::start(tunnel);
    let through_tunnel = spawn(&mut h.ssh_to_listener(tunnel.port, "echo tunnel-ok"));

    // -N: its first login waits before the forward is announced.
    let echo = echo_server();
    let mut forward = h.eic_ssh();
    forward
        .env("EIC_SSH_KNOWN_HOSTS", &h.known_hosts)
        .arg(format!("{}@{BASTION}", h.user))
        .args(["-N", "-L", &format!("0:127.0.0.1:{echo}")])
        .args(wait_flag);
    let forward = Listener::spawn(forward);

    // Five clients refused at least once each, and the quota still full.
    assert!(
        h.sim
            .until(LIMIT, || h.sim.events_of("tunnel_refused").len() >= 5),
        "the waiting clients were not all refused: {:?}",
        h.sim.events_of("tunnel_refused")
    );
    assert_eq!(h.sim.events_of("tunnel_open").len(), 20);

    // The 20 end; the five get their connections.
    for mut child in held {
        drop(child.stdin.take());
        assert!(wait(child, LIMIT).status.success());
    }
    let mut said = Vec::new();
    for (child, expected) in [
        (session, "session-ok\n"),
        (proxied, "proxy-ok\n"),
        (through_tunnel, "tunnel-ok\n"),
    ] {
        let out = wait(child, LIMIT);
        assert!(out.status.success(), "{expected}: {}", stderr(&out));
        assert_eq!(String::from_utf8_lossy(&out.stdout), expected);
        // The listener speaks for the connection through it (below).
        if expected != "tunnel-ok\n" {
            said.push((expected, stderr(&out)));
        }
    }
    let out = wait(cp, LIMIT);
    assert!(out.status.success(), "cp: {}", stderr(&out));
    assert_eq!(sha256(&file), sha256(&copied));
    said.push(("cp", stderr(&out)));
    let mut forward_said = String::new();
    let port = loop {
        let line = forward.next_line();
        forward_said.push_str(&line);
        forward_said.push('\n');
        if line.contains("forwarding") {
            break port_in(&line);
        }
    };
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(LIMIT)).unwrap();
    s.write_all(b"through -N").unwrap();
    s.shutdown(std::net::Shutdown::Write).unwrap();
    let mut back = String::new();
    s.read_to_string(&mut back).unwrap();
    assert_eq!(back, "through -N");
    said.push(("-N", forward_said));
    let mut tunnel = tunnel;
    let mut tunnel_said = String::new();
    while !tunnel_said.contains(SAID) {
        tunnel_said.push_str(&tunnel.next_line());
        tunnel_said.push('\n');
    }
    assert!(tunnel.running());
    said.push(("tunnel", tunnel_said));

    // Each said once that the endpoint was full, however many times it was refused.
    for (who, text) in said {
        assert_eq!(text.matches(SAID).count(), 1, "{who}: {text}");
        assert!(!text.contains("trying again in"), "{who}: {text}");
    }
    assert_eq!(h.sim.events_of("tunnel_open").len(), 25);
}

/// A world whose endpoint admits no connection at all: every tunnel is refused with 429.
fn full() -> (Harness, std::path::PathBuf) {
    let mut world = eic_ssh_sim::World::demo();
    world.max_connections_per_endpoint = 0;
    let h = Harness::with_world(world);
    let config = h.dir.path().join("config.toml");
    std::fs::write(&config, "[defaults]\nquota_wait = 0\n").unwrap();
    (h, config)
}

#[test]
fn the_bound_is_the_flag_else_the_config_key_and_zero_waits_not_at_all() {
    let (h, config) = full();
    // quota_wait = 0: the first refusal is the answer.
    let out = eic(&h, &config, &["proxy", BASTION]);
    assert_fails_exactly(
        &out,
        6,
        "eic-ssh: the endpoint refused the tunnel (HTTP 429, ConnectionLimitExceeded): The maximum number of concurrent connections (0) for endpoint eice-0123456789abcdef0 has been reached. An endpoint allows 20 concurrent connections; eic-ssh did not wait for one to free (--quota-wait 0). Close some, or share connections (`eic-ssh ssh-config` writes ControlMaster)\n",
    );
    assert_eq!(h.sim.events_of("tunnel_refused").len(), 1);

    // The flag wins over the file: tries until 2 s of waits are used up, said once.
    let out = eic(&h, &config, &["proxy", BASTION, "--quota-wait", "2"]);
    assert_eq!(out.status.code(), Some(6), "{}", stderr(&out));
    let err = stderr(&out);
    assert_eq!(
        err.matches(&format!("eice-0123456789abcdef0 {SAID} 2 s"))
            .count(),
        1,
        "{err}"
    );
    assert!(
        err.ends_with("eic-ssh waited 2 s for one to free (--quota-wait, quota_wait). Close some, or share connections (`eic-ssh ssh-config` writes ControlMaster)\n"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 2, "{err}");
    let refused = h.sim.events_of("tunnel_refused").len() - 1;
    assert!(
        refused >= 3,
        "{refused} tries for 2 s of backoff from 0.5 s"
    );

    // `config check` shows the bound that applies.
    let out = eic(&h, &config, &["config", "check", BASTION]);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("quota wait:      none"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    std::fs::write(&config, "[defaults]\n").unwrap();
    let out = eic(&h, &config, &["config", "check", BASTION, "--json"]);
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["hosts"][0]["quota_wait"], 30, "the default");
}

#[test]
fn a_bound_out_of_range_is_refused_with_its_line() {
    let (h, config) = full();
    std::fs::write(&config, "[defaults]\nquota_wait = -1\n").unwrap();
    let out = eic(&h, &config, &["proxy", BASTION]);
    assert_fails(
        &out,
        2,
        ":2:14: quota_wait -1: expected 0 (no waiting) to 3600 seconds",
    );
    std::fs::write(
        &config,
        format!("[hosts.x]\ninstance = \"{BASTION}\"\nquota_wait = 3601\n"),
    )
    .unwrap();
    let out = eic(&h, &config, &["proxy", "x"]);
    assert_fails(&out, 2, ":3:14: quota_wait 3601");
    let mut cmd = h.eic_ssh();
    cmd.args(["proxy", BASTION, "--quota-wait", "3601"]);
    let out = run(&mut cmd, LIMIT);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(h.sim.events_of("tunnel_refused").is_empty());
}

/// The endpoint's slot files in the harness's home (no `XDG_RUNTIME_DIR` in tests).
fn slot_file(h: &Harness, index: usize) -> std::path::PathBuf {
    h.dir
        .path()
        .join(".cache/eic-ssh/slots/eice-0123456789abcdef0")
        .join(format!("{index}.lock"))
}

/// Whether some process holds slot `index` (tried from here, released at once).
fn slot_held(h: &Harness, index: usize) -> bool {
    let f = std::fs::File::open(slot_file(h, index)).unwrap();
    matches!(f.try_lock(), Err(std::fs::TryLockError::WouldBlock))
}

#[test]
fn this_users_tunnels_hold_slots_and_a_killed_process_frees_its_own() {
    let h = Harness::new();
    let mut first = h.eic_ssh();
    first
        .args(["proxy", BASTION])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let mut first = first.spawn().unwrap();
    assert!(
        h.sim
            .until(LIMIT, || h.sim.events_of("tunnel_open").len() == 1)
    );
    assert!(slot_held(&h, 0), "the open tunnel holds slot 0");
    assert!(!slot_held(&h, 1));

    // The other 19 held by this user elsewhere (here, the test): the quota is used up.
    let mine: Vec<std::fs::File> = (1..20)
        .map(|i| {
            let f = std::fs::File::create(slot_file(&h, i)).unwrap();
            f.try_lock().unwrap();
            f
        })
        .collect();
    let out = run(
        h.eic_ssh().args(["proxy", BASTION, "--quota-wait", "0"]),
        LIMIT,
    );
    assert_fails_exactly(
        &out,
        6,
        "eic-ssh: this user's eic-ssh processes already hold 20 tunnels on endpoint eice-0123456789abcdef0 (limit 20) and none closed within 0 s (--quota-wait, quota_wait): close some, or share connections (`eic-ssh ssh-config` writes ControlMaster)\n",
    );
    assert!(
        h.sim.events_of("tunnel_refused").is_empty(),
        "nothing was sent to the endpoint"
    );

    // A client that waits for a slot, then the holder killed outright: the OS gives its
    // slot back and the waiting client gets its tunnel, never refused by the endpoint.
    let mut waiting = h.eic_ssh();
    waiting.args(["proxy", BASTION, "--quota-wait", "300"]);
    let mut waiting = Listener::spawn(waiting);
    let said = waiting.next_line();
    assert!(
        said.contains("this user's eic-ssh processes hold 20 tunnels on eice-0123456789abcdef0 (limit 20); waiting up to 300 s"),
        "{said}"
    );
    first.kill().unwrap();
    first.wait().unwrap();
    assert!(
        h.sim
            .until(LIMIT, || h.sim.events_of("tunnel_open").len() == 2)
    );
    assert!(waiting.exits_within(LIMIT));
    assert!(h.sim.events_of("tunnel_refused").is_empty());
    drop(mine);
}
