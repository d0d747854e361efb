//! Per-host settings in the config file: a section that names its endpoint and IP needs no
//! Describe call, and its port, tunnel duration, host-key alias, known_hosts and forwards
//! apply as the flags would; flags still win.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;

use common::*;

/// A section with everything pinned: endpoint, IP, duration, host-key alias, known_hosts, a forward.
fn pinned(h: &Harness, echo: u16) -> std::path::PathBuf {
    let host_key = h.sim.sshd().unwrap().host_public_key.clone();
    let known = h.dir.path().join("fleet_known_hosts");
    std::fs::write(&known, format!("fleet {host_key}\n")).unwrap();
    let config = h.dir.path().join("config.toml");
    let text = format!(
        r#"
[hosts.pinned]
instance = "{BASTION}"
user = "{user}"
endpoint_id = "eice-0123456789abcdef0"
private_ip = "10.0.1.5"
max_tunnel_duration = 1234
host_key_alias = "fleet"
known_hosts = "{known}"
forward = ["-L 0:127.0.0.1:{echo}"]
"#,
        user = h.user,
        known = known.display(),
    );
    std::fs::write(&config, text).unwrap();
    config
}

#[test]
fn a_pinned_host_needs_no_describe_call_and_applies_its_settings() {
    let h = Harness::new();
    let echo = echo_server();
    let config = pinned(&h, echo);
    let mut cmd = h.eic_ssh();
    cmd.env("EIC_SSH_CONFIG", &config).args(["pinned", "-N"]);
    let l = Listener::start(cmd);
    let mut s = TcpStream::connect(("127.0.0.1", l.port)).unwrap();
    s.set_read_timeout(Some(LIMIT)).unwrap();
    s.write_all(b"through the section's forward").unwrap();
    s.shutdown(std::net::Shutdown::Write).unwrap();
    let mut back = String::new();
    s.read_to_string(&mut back).unwrap();
    assert_eq!(back, "through the section's forward");
    assert_eq!(api_actions(&h), ["SendSSHPublicKey"], "no Describe call");
    let opened = h.sim.events_of("tunnel_open");
    assert_eq!(opened.len(), 1);
    assert_eq!(opened[0]["ip"], "10.0.1.5");
    assert_eq!(opened[0]["max_duration"], 1234);
}

#[test]
fn flags_win_over_the_section() {
    let h = Harness::new();
    let config = pinned(&h, echo_server());
    // The flag's known_hosts knows the key under the instance id, not under "fleet": the
    // section's alias still applies, so the key is unknown and strict checking refuses.
    let mut cmd = h.eic_ssh();
    cmd.env("EIC_SSH_CONFIG", &config)
        .args(["pinned", "--known-hosts"])
        .arg(&h.known_hosts)
        .args(["--max-tunnel-duration", "77", "--", "true"]);
    let out = run(&mut cmd, LIMIT);
    assert_fails(&out, 255, "fleet");
    assert_eq!(h.sim.events_of("tunnel_open")[0]["max_duration"], 77);
    // With the alias given as a flag too, the flag's file answers.
    let mut cmd = h.eic_ssh();
    cmd.env("EIC_SSH_CONFIG", &config)
        .args(["pinned", "--known-hosts"])
        .arg(&h.known_hosts)
        .args(["--host-key-alias", BASTION, "--", "echo", "ok"]);
    let out = run(&mut cmd, LIMIT);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "ok\n");
}

#[test]
fn bad_per_host_values_name_their_line() {
    let h = Harness::new();
    let config = h.dir.path().join("config.toml");
    let cases = [
        (
            "port = 2222",
            ":3:8: port 2222 cannot be tunnelled: an EC2 Instance Connect Endpoint only opens ports 22 and 3389",
        ),
        (
            "max_tunnel_duration = 0",
            ":3:23: max_tunnel_duration 0: expected 1 to 3600",
        ),
        (
            "forward = [\"5432:db:5432\"]",
            ":3:11: forward \"5432:db:5432\": expected \"-L",
        ),
        (
            "private_ip = \"10.0.1\"",
            ":3:14: invalid IP address syntax",
        ),
        (
            "endpoint_dns_name = \"a b\"",
            ":3:21: \"a b\" is not a DNS name",
        ),
    ];
    for (line, expected) in cases {
        std::fs::write(
            &config,
            format!("[hosts.x]\ninstance = \"{BASTION}\"\n{line}\n"),
        )
        .unwrap();
        let out = eic(&h, &config, &["config", "check"]);
        assert_fails(&out, 2, expected);
    }
    // A good section shows every setting in `config check`.
    let config = pinned(&h, 5432);
    let out = eic(&h, &config, &["config", "check", "pinned"]);
    let text = String::from_utf8_lossy(&out.stdout);
    for expected in [
        "private IP:      10.0.1.5",
        "max duration:    1234 s",
        "host key alias:  fleet",
        "forward:         -L 0:127.0.0.1:5432",
        "endpoint:        eice-0123456789abcdef0",
    ] {
        assert!(text.contains(expected), "{expected:?} in {text}");
    }
}
