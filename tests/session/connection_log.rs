//! The local connection log: one JSON line per attempt (session, proxy, tunnel connection),
//! with the guard's verdict, the host key and the bytes; no secrets; `log = false`; a log
//! that cannot be written warns once and blocks nothing; `eic-ssh log` shows it.

use crate::common;

use std::path::PathBuf;

use common::*;
use eic_ssh_sim::World;

fn log_path(h: &Harness) -> PathBuf {
    h.dir.path().join(".local/state/eic-ssh/log.jsonl")
}

#[test]
fn each_attempt_is_one_line_with_what_happened() {
    let (h, config) = with_config(World::demo(), "203.0.113.10", ALLOW_OFFICE);
    // A session that runs a command.
    let mut cmd = h.eic_ssh();
    cmd.env("EIC_SSH_CONFIG", &config)
        .env("EIC_SSH_KNOWN_HOSTS", &h.known_hosts)
        .arg(format!("{}@bastion", h.user))
        .args(["--", "head", "-c", "5000", "/dev/zero"]);
    let out = run(&mut cmd, LIMIT);
    assert!(out.status.success(), "{}", stderr(&out));
    // ssh through the proxy, from a refused network.
    let out = eic(&h, &config, &["proxy", "bastion"]);
    assert_eq!(out.status.code(), Some(0), "allowed: {}", stderr(&out));
    h.sim
        .update_world(|w| w.client_public_ip = Some("192.0.2.99".parse().unwrap()));
    let out = eic(&h, &config, &["proxy", "bastion"]);
    assert_fails(&out, 3, "refusing to connect");

    let log = log_entries(&h);
    assert_eq!(log.len(), 3, "{log:#?}");
    let session = &log[0];
    assert_eq!(session["command"], "session");
    assert_eq!(session["target"], format!("{}@bastion", h.user));
    assert_eq!(session["instance"], BASTION);
    assert_eq!(session["endpoint"], "eice-0123456789abcdef0");
    assert_eq!(session["egress_ip"], "203.0.113.10");
    assert_eq!(session["guard"], "allowed");
    assert!(session["host_key"].as_str().unwrap().starts_with("SHA256:"));
    assert_eq!(session["exit"], 0);
    assert_eq!(session["outcome"], "ok");
    assert!(session["bytes_down"].as_u64().unwrap() > 5000, "{session}");
    assert!(session["bytes_up"].as_u64().unwrap() > 0);
    assert!(session["time"].as_str().unwrap().ends_with('Z'));
    let refused = &log[2];
    assert_eq!(refused["guard"], "refused");
    assert_eq!(refused["egress_ip"], "192.0.2.99");
    assert_eq!(refused["exit"], 3);
    assert!(
        refused["outcome"]
            .as_str()
            .unwrap()
            .contains("not in the allowlist")
    );
    assert!(refused["instance"].is_null(), "refused before any AWS call");

    // No secret reaches the file, and it is private.
    let text = std::fs::read_to_string(log_path(&h)).unwrap();
    let world = World::demo();
    assert!(!text.contains(&world.credentials[0].secret_key));
    assert!(!text.contains("PRIVATE KEY") && !text.contains("ssh-ed25519 AAAA"));
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(log_path(&h))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);

    // `eic-ssh log` shows the last ones.
    let mut cmd = h.eic_ssh();
    cmd.args(["log", "-n", "2"]);
    let out = run(&mut cmd, LIMIT);
    let table = String::from_utf8_lossy(&out.stdout);
    assert_eq!(table.lines().count(), 3, "{table}");
    assert!(table.starts_with("TIME"), "{table}");
    assert!(table.lines().last().unwrap().contains("refused"), "{table}");
    let mut cmd = h.eic_ssh();
    cmd.args(["log", "--json", "-n", "1"]);
    let out = run(&mut cmd, LIMIT);
    let last: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(last["exit"], 3);
}

#[test]
fn tunnel_logs_each_connection() {
    let h = Harness::new();
    let l = Listener::tunnel(&h);
    for _ in 0..2 {
        let out = run(&mut h.ssh_to_listener(l.port, "true"), LIMIT);
        assert!(out.status.success(), "{}", stderr(&out));
    }
    // The listener writes each line as its connection ends (a file of another process:
    // polled, nothing notifies us).
    eventually(LIMIT, || log_entries(&h).len() >= 2);
    let log = log_entries(&h);
    assert_eq!(log.len(), 2, "{log:#?}");
    assert!(
        log.iter()
            .all(|e| e["command"] == "tunnel" && e["guard"] == "unchecked")
    );
    assert!(log[0]["bytes_down"].as_u64().unwrap() > 0);
}

#[test]
fn log_false_and_an_unwritable_log() {
    let (h, config) = with_config(World::demo(), "203.0.113.10", "[defaults]\nlog = false\n");
    let out = eic(&h, &config, &["proxy", BASTION]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(log_entries(&h).is_empty(), "log = false writes nothing");
    // Nor for an attempt whose flags are refused before the settings exist.
    let out = eic(&h, &config, &["proxy", BASTION, "--endpoint-id", "eice-0"]);
    assert_fails(&out, 2, "--endpoint-id");
    assert!(log_entries(&h).is_empty(), "log = false writes nothing");

    // The state directory is a file: the connection goes on, with one warning.
    std::fs::write(&config, "").unwrap();
    let blocked = h.dir.path().join("not-a-dir");
    std::fs::write(&blocked, "").unwrap();
    let mut cmd = h.eic_ssh();
    cmd.env("EIC_SSH_CONFIG", &config)
        .env("XDG_STATE_HOME", &blocked)
        .args(["proxy", BASTION]);
    let out = run(&mut cmd, LIMIT);
    assert!(out.status.success(), "{}", stderr(&out));
    let err = stderr(&out);
    assert_eq!(
        err.matches("cannot write the connection log").count(),
        1,
        "{err}"
    );
}

/// Starts `cmd` (an ssh) running `echo up; …`, and returns once "up" came through.
fn ssh_up(mut cmd: std::process::Command) -> std::process::Child {
    cmd.stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let mut first = [0u8; 3];
    std::io::Read::read_exact(child.stdout.as_mut().unwrap(), &mut first).unwrap();
    assert_eq!(&first, b"up\n");
    child
}

#[cfg(unix)]
#[test]
fn a_signal_stops_the_listener_closing_and_logging_its_open_tunnels() {
    let h = Harness::new();
    for (signal, code) in STOP_SIGNALS {
        let mut listener = Listener::tunnel(&h);
        // Two connections, each through its own tunnel.
        let ssh: Vec<_> = (0..2)
            .map(|_| ssh_up(h.ssh_to_listener(listener.port, "echo up; sleep 60")))
            .collect();
        let closed_before = h.sim.events_of("tunnel_closed").len();
        let logged_before = log_entries(&h).len();
        send_signal(signal, listener.child.id());
        let status = listener.child.wait().unwrap();
        assert_eq!(status.code(), Some(code), "SIG{signal}: {status:?}");
        // Each tunnel got a WebSocket close, and the ssh through it ended.
        assert!(h.sim.until(LIMIT, || h.sim.events_of("tunnel_closed").len()
            >= closed_before + 2));
        let closed = h.sim.events_of("tunnel_closed");
        assert_eq!(closed.len(), closed_before + 2, "SIG{signal}: {closed:#?}");
        for e in &closed[closed_before..] {
            assert_eq!(e["end"], "client closed", "SIG{signal}: {e}");
        }
        for ssh in ssh {
            let out = wait(ssh, LIMIT);
            assert!(!out.status.success(), "ssh ended with its tunnel");
        }
        // Every tunnel's entry was written before the listener exited.
        let log = log_entries(&h);
        assert_eq!(log.len(), logged_before + 2, "SIG{signal}: {log:#?}");
        for e in &log[logged_before..] {
            assert_eq!(e["command"], "tunnel", "{e}");
            assert_eq!(e["outcome"], format!("ended by SIG{signal}"), "{e}");
            assert_eq!(e["exit"], code, "{e}");
            assert!(e["bytes_down"].as_u64().unwrap() > 0, "{e}");
        }
    }
    assert_eq!(log_entries(&h).len(), 6);
}

#[cfg(unix)]
#[test]
fn a_proxy_ended_by_a_signal_says_so_in_the_log_and_its_exit_status() {
    let h = Harness::new();
    // Under ssh: the proxy's pid, written before it becomes eic-ssh (exec keeps the pid).
    let pid_file = h.dir.path().join("proxy.pid");
    let proxy = format!(
        "sh -c 'echo $$ > {}; exec {}'",
        pid_file.display(),
        h.proxy_command()
    );
    let ssh = ssh_up(h.ssh_via(&proxy, "echo up; sleep 60"));
    let pid: u32 = std::fs::read_to_string(&pid_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    send_signal("TERM", pid);
    let out = wait(ssh, LIMIT);
    assert!(!out.status.success(), "ssh ended with its tunnel");
    assert!(eventually(LIMIT, || log_entries(&h).len() == 1));
    let log = log_entries(&h);
    assert_eq!(log[0]["command"], "proxy", "{log:#?}");
    assert_eq!(log[0]["outcome"], "ended by SIGTERM", "{log:#?}");
    assert_eq!(log[0]["exit"], 143, "{log:#?}");
    assert!(
        h.sim
            .until(LIMIT, || !h.sim.events_of("tunnel_closed").is_empty())
    );
    assert_eq!(h.sim.events_of("tunnel_closed")[0]["end"], "client closed");

    // Alone, with stdin still open: each signal ends it with 128 + its number.
    for (signal, code) in STOP_SIGNALS {
        let mut cmd = h.eic_ssh();
        cmd.args(["proxy", BASTION, "22"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        let mut child = cmd.spawn().unwrap();
        let mut banner = [0u8; 4];
        std::io::Read::read_exact(child.stdout.as_mut().unwrap(), &mut banner).unwrap();
        assert_eq!(&banner, b"SSH-", "the tunnel is open");
        send_signal(signal, child.id());
        let stdin = child.stdin.take();
        let out = wait(child, LIMIT);
        drop(stdin);
        assert_eq!(
            out.status.code(),
            Some(code),
            "SIG{signal}: {}",
            stderr(&out)
        );
        let log = log_entries(&h);
        let last = log.last().unwrap();
        assert_eq!(last["outcome"], format!("ended by SIG{signal}"), "{last}");
        assert_eq!(last["exit"], code, "{last}");
    }
    assert!(
        h.sim
            .until(LIMIT, || h.sim.events_of("tunnel_closed").len() == 4)
    );
    assert!(
        h.sim
            .events_of("tunnel_closed")
            .iter()
            .all(|e| e["end"] == "client closed"),
        "{:#?}",
        h.sim.events_of("tunnel_closed")
    );
}

#[test]
fn ssh_ending_normally_logs_its_proxy_as_ok_though_it_sends_sighup() {
    // ssh writes its last packets, closes the ProxyCommand's pipe, then sends it SIGHUP:
    // the end of input that was already waiting is what ended the proxy.
    let h = Harness::new();
    for _ in 0..10 {
        let out = run(&mut h.ssh("true"), LIMIT);
        assert!(out.status.success(), "{}", stderr(&out));
    }
    assert!(eventually(LIMIT, || log_entries(&h).len() == 10));
    let log = log_entries(&h);
    assert!(
        log.iter().all(|e| e["outcome"] == "ok" && e["exit"] == 0),
        "{log:#?}"
    );
}
