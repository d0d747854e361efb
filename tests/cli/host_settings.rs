//! Per-host settings in the config file: a section that names its endpoint and IP needs no
//! Describe call, and its port, tunnel duration, host-key alias, known_hosts and forwards
//! apply as the flags would; flags still win.

use crate::common;

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

/// AWS files with a `prod` profile holding the emulator's keys in its region and a `dev`
/// profile with keys AWS does not know, in another region; and a config whose `[hosts.prod]`
/// names the profile and region it lives in.
fn two_accounts(h: &Harness) -> (std::path::PathBuf, Vec<(String, String)>) {
    let env: std::collections::HashMap<String, String> = h.sim.client_env().into_iter().collect();
    let aws_config = h.dir.path().join("aws-config");
    std::fs::write(
        &aws_config,
        "[profile prod]\nregion = us-east-1\n[profile dev]\nregion = ap-southeast-2\n",
    )
    .unwrap();
    let credentials = h.dir.path().join("aws-credentials");
    std::fs::write(
        &credentials,
        format!(
            "[prod]\naws_access_key_id = {}\naws_secret_access_key = {}\n[dev]\naws_access_key_id = AKIAIOSFODNN7EXAMPLE\naws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\n",
            env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"]
        ),
    )
    .unwrap();
    let config = h.dir.path().join("config.toml");
    std::fs::write(
        &config,
        format!(
            "[hosts.prod]\ninstance = \"{BASTION}\"\nuser = \"{}\"\nregion = \"us-east-1\"\nprofile = \"prod\"\n",
            h.user
        ),
    )
    .unwrap();
    let vars = vec![
        (
            "AWS_CONFIG_FILE".to_string(),
            aws_config.display().to_string(),
        ),
        (
            "AWS_SHARED_CREDENTIALS_FILE".to_string(),
            credentials.display().to_string(),
        ),
        ("AWS_PROFILE".to_string(), "dev".to_string()),
        ("AWS_REGION".to_string(), "ap-southeast-2".to_string()),
    ];
    (config, vars)
}

#[test]
fn a_section_that_names_its_account_beats_exported_aws_profile_and_region() {
    let h = Harness::new();
    let (config, vars) = two_accounts(&h);
    let session = |target: &str| {
        let mut cmd = h.eic_ssh();
        cmd.env_remove("AWS_ACCESS_KEY_ID")
            .env_remove("AWS_SECRET_ACCESS_KEY")
            .env_remove("AWS_SESSION_TOKEN")
            .envs(vars.iter().cloned())
            .env("EIC_SSH_CONFIG", &config)
            .args(["-v", "--known-hosts"])
            .arg(&h.known_hosts)
            .arg(target)
            .args(["--", "echo", "ok"]);
        run(&mut cmd, LIMIT)
    };
    let out = session("prod");
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "ok\n");
    let err = stderr(&out);
    for said in [
        "region us-east-1 from [hosts.prod] (AWS_REGION=ap-southeast-2 ignored)",
        "profile prod from [hosts.prod] (AWS_PROFILE=dev ignored)",
    ] {
        assert_eq!(err.matches(said).count(), 1, "{said:?} once in {err}");
    }
    assert_eq!(h.sim.events_of("key_pushed").len(), 1);
    // The same instance by id names no account: the exported dev profile and region apply,
    // and AWS refuses them.
    let out = session(&format!("{}@{BASTION}", h.user));
    assert_fails(
        &out,
        255,
        "DescribeInstances failed: AuthFailure: AWS was not able to validate the provided access credentials",
    );
    let err = stderr(&out);
    assert_eq!(
        h.sim.events_of("key_pushed").len(),
        1,
        "no key pushed with dev's"
    );
    assert!(!err.contains("ignored"), "{err}");
}

#[test]
fn a_profile_named_on_purpose_beats_keys_exported_for_another_account() {
    // As with `aws --profile`: keys in the environment (dev's, which AWS refuses here) do
    // not sign the calls of a host whose section, or the flag, names a profile.
    let h = Harness::new();
    let (config, vars) = two_accounts(&h);
    let session = |extra: &[&str], target: &str| {
        let mut cmd = h.eic_ssh();
        cmd.envs(vars.iter().cloned())
            .env("AWS_ACCESS_KEY_ID", "AKIAIOSFODNN7EXAMPLE")
            .env(
                "AWS_SECRET_ACCESS_KEY",
                "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
            )
            .env_remove("AWS_SESSION_TOKEN")
            .env("EIC_SSH_CONFIG", &config)
            .args(extra)
            .arg("--known-hosts")
            .arg(&h.known_hosts)
            .arg(target)
            .args(["--", "echo", "ok"]);
        run(&mut cmd, LIMIT)
    };
    let out = session(&[], "prod");
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "ok\n");
    let target = format!("{}@{BASTION}", h.user);
    let out = session(&["--profile", "prod", "--region", "us-east-1"], &target);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(h.sim.events_of("key_pushed").len(), 2);
    // Named by nobody, the exported keys are the credentials, and AWS refuses them.
    let out = session(&["--region", "us-east-1"], &target);
    assert_fails(
        &out,
        255,
        "DescribeInstances failed: AuthFailure: AWS was not able to validate the provided access credentials",
    );
}

#[test]
fn connect_timeout_bounds_opening_the_tunnel() {
    // An endpoint that takes the TCP connection (the kernel's backlog) and never answers
    // TLS: the section's `connect_timeout` ends the wait, and the line names its limit.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let h = Harness::new();
    let config = h.dir.path().join("config.toml");
    std::fs::write(
        &config,
        format!(
            "[defaults]\nconnect_timeout = 9\n[hosts.slow]\ninstance = \"{BASTION}\"\nuser = \"{}\"\nconnect_timeout = 1\n",
            h.user
        ),
    )
    .unwrap();
    let out = eic(&h, &config, &["config", "check", "slow"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("connect timeout: 1 s to open a tunnel (config [hosts.slow])\n"),
        "{text}"
    );
    let mut cmd = h.eic_ssh();
    cmd.env("EIC_SSH_CONFIG", &config)
        .env(
            "EIC_SSH_TUNNEL_ENDPOINT_URL",
            format!("wss://{}", silent.local_addr().unwrap()),
        )
        .args(["--exit-codes", "detailed", "slow", "--", "true"]);
    let out = run(&mut cmd, LIMIT);
    assert_fails(
        &out,
        8,
        "timed out after 1 s opening the tunnel to 127.0.0.1, at the TLS handshake",
    );
    // A target without its own: `[defaults]`.
    let out = eic(&h, &config, &["config", "check", BASTION]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("connect timeout: 9 s to open a tunnel (config [defaults])\n"),
        "{text}"
    );
}
