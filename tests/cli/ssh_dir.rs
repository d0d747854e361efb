//! A `~/.ssh` that someone else can change (writable by group or others, or owned by
//! another user) is named with the fix, as OpenSSH's StrictModes would, wherever eic-ssh
//! relies on it: `ssh-config`'s ControlPath and the session's known_hosts.

use crate::common;

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;

use common::*;

/// ~/.ssh with the harness key (for `ssh-config`) and known_hosts (for the session).
fn ssh_dir(h: &Harness) -> PathBuf {
    let dir = h.dir.path().join(".ssh");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy(&h.key, dir.join("id_ed25519")).unwrap();
    std::fs::copy(h.public_key(), dir.join("id_ed25519.pub")).unwrap();
    std::fs::copy(&h.known_hosts, dir.join("known_hosts")).unwrap();
    dir
}

fn chmod(dir: &std::path::Path, mode: u32) {
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(mode)).unwrap();
}

fn ssh_config(h: &Harness, args: &[&str]) -> std::process::Output {
    let config = h.dir.path().join("eic.toml");
    std::fs::write(
        &config,
        "[hosts.jump]\ninstance = \"i-0123456789abcdef0\"\n",
    )
    .unwrap();
    let mut cmd = h.eic_ssh();
    // No AWS variable to leave out of the blocks: stderr holds only what this test is about.
    cmd.env_remove("AWS_REGION")
        .env_remove("AWS_DEFAULT_REGION")
        .env_remove("AWS_PROFILE")
        .arg("ssh-config")
        .arg("--config")
        .arg(&config)
        .args(args);
    run(&mut cmd, LIMIT)
}

#[test]
fn ssh_config_warns_when_the_control_path_directory_is_not_yours_alone() {
    let h = Harness::new();
    let dir = ssh_dir(&h);
    for mode in [0o777, 0o770, 0o722] {
        chmod(&dir, mode);
        let out = ssh_config(&h, &[]);
        assert!(out.status.success(), "{}", stderr(&out));
        let err = stderr(&out);
        let line = format!(
            "eic-ssh: warning: {d}, which holds the shared connections' sockets (ControlPath), is writable by group or others (mode {mode:04o}): run `chmod go-w {d}`",
            d = dir.display()
        );
        assert_eq!(err.matches(&line).count(), 1, "{err}");
        assert_eq!(err.lines().count(), 1, "one line: {err}");
        // Without connection sharing there is no ControlPath to warn about.
        let out = ssh_config(&h, &["--no-multiplex"]);
        assert!(!stderr(&out).contains("warning"), "{}", stderr(&out));
    }
    chmod(&dir, 0o755);
    let out = ssh_config(&h, &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stderr(&out), "", "a directory only you can change is fine");

    // Owned by someone else (only root can hand it over).
    if std::os::unix::fs::chown(&dir, Some(54321), None).is_ok() {
        let out = ssh_config(&h, &[]);
        let err = stderr(&out);
        assert!(
            err.contains(&format!(
                "warning: {}, which holds the shared connections' sockets (ControlPath), is owned by uid 54321",
                dir.display()
            )),
            "{err}"
        );
    }
}

#[test]
fn the_session_warns_when_its_known_hosts_directory_is_not_yours_alone() {
    let h = Harness::new();
    let dir = ssh_dir(&h);
    chmod(&dir, 0o777);
    let session = || {
        let mut cmd = h.eic_ssh();
        cmd.arg(format!("{}@{BASTION}", h.user))
            .args(["--", "true"]);
        run(&mut cmd, LIMIT)
    };
    let out = session();
    assert!(out.status.success(), "{}", stderr(&out));
    let err = stderr(&out);
    let line = format!(
        "eic-ssh: warning: {d}, which holds known_hosts, is writable by group or others (mode 0777): run `chmod go-w {d}`",
        d = dir.display()
    );
    assert_eq!(err.matches(&line).count(), 1, "{err}");
    chmod(&dir, 0o700);
    let out = session();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!stderr(&out).contains("warning"), "{}", stderr(&out));
}
