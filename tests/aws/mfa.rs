//! Assume-role profiles with `mfa_serial`: the code is asked on the terminal and sent to
//! STS AssumeRole (the emulator's checks serial and code), once per run; without a
//! terminal, or with a wrong code, one clear line and exit 4.

use crate::common;

use std::path::PathBuf;
use std::process::Command;

use common::tmux::Tmux;
use common::*;
use eic_ssh_sim::World;

const SERIAL: &str = "arn:aws:iam::123456789012:mfa/developer";

/// `~/.aws/config` with an MFA role over a source profile holding the demo keys.
fn aws_files(h: &Harness) -> (PathBuf, PathBuf) {
    let cred = &World::demo().credentials[0];
    let config = h.dir.path().join("aws-config");
    let credentials = h.dir.path().join("aws-credentials");
    std::fs::write(
        &config,
        format!(
            "[profile base]\nregion = us-east-1\n\n[profile admin]\nrole_arn = arn:aws:iam::123456789012:role/admin\nsource_profile = base\nmfa_serial = {SERIAL}\nregion = us-east-1\n"
        ),
    )
    .unwrap();
    std::fs::write(
        &credentials,
        format!(
            "[base]\naws_access_key_id = {}\naws_secret_access_key = {}\n",
            cred.access_key, cred.secret_key
        ),
    )
    .unwrap();
    (config, credentials)
}

fn sts_calls(h: &Harness) -> Vec<serde_json::Value> {
    h.sim
        .events_of("api_call")
        .into_iter()
        .filter(|e| e["service"] == "sts")
        .collect()
}

/// A terminal whose shell uses the `admin` profile instead of the emulator's keys.
fn terminal(h: &Harness) -> Tmux {
    let (config, credentials) = aws_files(h);
    let tmux = Tmux::start(h, 120, 30);
    tmux.wait_for("local$");
    tmux.keys(&format!(
        "unset AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY; export AWS_PROFILE=admin AWS_CONFIG_FILE='{}' AWS_SHARED_CREDENTIALS_FILE='{}'",
        config.display(),
        credentials.display()
    ));
    tmux.enter();
    tmux
}

#[test]
fn the_code_is_asked_on_the_terminal_and_sent_to_assume_role() {
    let h = Harness::new();
    let tmux = terminal(&h);
    tmux.keys(&format!(
        "{} {}@{BASTION} -- echo mfa-'ok'",
        env!("CARGO_BIN_EXE_eic-ssh"),
        h.user
    ));
    tmux.enter();
    tmux.wait_for(&format!("MFA code for {SERIAL}:"));
    tmux.keys("123456");
    tmux.enter();
    tmux.wait_for("mfa-ok");
    tmux.wait_for_shell();
    let calls = sts_calls(&h);
    assert_eq!(calls.len(), 1, "{calls:?}");
    assert_eq!(calls[0]["ok"], true);
    assert_eq!(calls[0]["serial"], SERIAL);
    assert_eq!(
        h.sim.events_of("key_pushed").len(),
        1,
        "pushed with the role's credentials"
    );

    // A wrong code: STS says no, in one line (exit 255 in the session form, like ssh).
    tmux.keys("clear");
    tmux.enter();
    assert!(eventually(std::time::Duration::from_secs(20), || !tmux
        .screen()
        .contains("mfa-ok")));
    tmux.keys(&format!(
        "{} {}@{BASTION} -- true; echo exit=$?",
        env!("CARGO_BIN_EXE_eic-ssh"),
        h.user
    ));
    tmux.enter();
    tmux.wait_for(&format!("MFA code for {SERIAL}:"));
    tmux.keys("654321");
    tmux.enter();
    let screen = tmux.wait_for("exit=255");
    assert!(
        screen.contains("AssumeRole failed: AccessDenied: MultiFactorAuthentication failed"),
        "{screen}"
    );
}

#[test]
fn without_a_terminal_it_says_so() {
    let h = Harness::new();
    let (config, credentials) = aws_files(&h);
    let mut cmd = Command::new("setsid");
    h.isolate(&mut cmd);
    cmd.env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .env("AWS_PROFILE", "admin")
        .env("AWS_CONFIG_FILE", &config)
        .env("AWS_SHARED_CREDENTIALS_FILE", &credentials)
        .arg(env!("CARGO_BIN_EXE_eic-ssh"))
        .args(["proxy", BASTION]);
    let out = run(&mut cmd, LIMIT);
    assert_fails(
        &out,
        4,
        "profile admin assumes arn:aws:iam::123456789012:role/admin with MFA (arn:aws:iam::123456789012:mfa/developer), and there is no terminal to ask for the code",
    );
    assert_eq!(stderr(&out).lines().count(), 1);
    assert!(sts_calls(&h).is_empty());
}

#[test]
fn a_reconnect_reuses_the_run_s_credentials() {
    let h = Harness::new();
    let echo = echo_server();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    h.sim.set_faults(eic_ssh_sim::Faults {
        drop_after_bytes: Some(64 << 10),
        ..Default::default()
    });
    let tmux = terminal(&h);
    tmux.keys(&format!(
        "{} {}@{BASTION} -N -L {port}:127.0.0.1:{echo}",
        env!("CARGO_BIN_EXE_eic-ssh"),
        h.user
    ));
    tmux.enter();
    tmux.wait_for(&format!("MFA code for {SERIAL}:"));
    tmux.keys("123456");
    tmux.enter();
    tmux.wait_for("forwarding");
    h.sim.set_faults(eic_ssh_sim::Faults::default());
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    let _ = std::io::Write::write_all(&mut s, &vec![7u8; 1 << 20]);
    tmux.wait_for("reconnected to");
    assert_eq!(h.sim.events_of("key_pushed").len(), 2, "a second login");
    assert_eq!(sts_calls(&h).len(), 1, "one code for the whole run");
}
