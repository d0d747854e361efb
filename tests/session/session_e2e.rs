//! The embedded SSH session (`eic-ssh [user@]TARGET [COMMAND…]`) against a real sshd through
//! the emulator: commands and exit codes, streaming stdin, host keys, an interactive shell
//! driven through tmux, and that no connecting command writes a private key to the disk or
//! a secret to its logs.

use crate::common;

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use common::connect_proxy::{Behaviour, ConnectProxy};
use common::tmux::Tmux;
use common::*;
use eic_ssh_sim::World;

fn session(h: &Harness, args: &[&str]) -> Command {
    let mut cmd = h.eic_ssh();
    cmd.env("EIC_SSH_KNOWN_HOSTS", &h.known_hosts);
    cmd.arg(format!("{}@{BASTION}", h.user)).args(args);
    cmd
}

fn text(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn commands_stream_output_and_pass_exit_codes_through() {
    let h = Harness::new();
    let out = run(
        &mut session(&h, &["--", "echo out; echo err >&2; exit 0"]),
        LIMIT,
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(text(&out), "out\n");
    assert_eq!(stderr(&out), "err\n");
    let out = run(&mut session(&h, &["--", "exit 3"]), LIMIT);
    assert_eq!(out.status.code(), Some(3));
    let out = run(&mut session(&h, &["--", "exit 255"]), LIMIT);
    assert_eq!(out.status.code(), Some(255));
    let out = run(&mut session(&h, &["--", "kill -TERM $$"]), LIMIT);
    assert_eq!(
        out.status.code(),
        Some(128 + 15),
        "terminated by SIGTERM is 128+15, like a shell"
    );
    // Words after the target are the command, as with ssh.
    let out = run(&mut session(&h, &["echo", "two", "words"]), LIMIT);
    assert_eq!(text(&out), "two words\n");
}

#[test]
fn eic_ssh_ssh_is_the_session_form() {
    // What users of `aws ec2-instance-connect ssh` and `gcloud compute ssh` type.
    let h = Harness::new();
    let mut cmd = h.eic_ssh();
    cmd.args(["ssh", "-T", "--known-hosts"])
        .arg(&h.known_hosts)
        .arg(format!("{}@{BASTION}", h.user))
        .args(["echo", "two", "words;", "exit", "3"]);
    let out = run(&mut cmd, LIMIT);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert_eq!(text(&out), "two words\n");
    assert_eq!(count(&h, "tunnel_open"), 1);
    // Its own failures are the session's: 255 and one line.
    let mut cmd = h.eic_ssh();
    cmd.args([
        "ssh",
        &format!("{}@i-0ffffffffffffffff", h.user),
        "--",
        "true",
    ]);
    let out = run(&mut cmd, LIMIT);
    assert_fails(
        &out,
        255,
        "eic-ssh: instance i-0ffffffffffffffff was not found",
    );
}

#[test]
fn failures_of_the_session_itself_exit_255_with_one_line() {
    let h = Harness::new();
    let mut cmd = h.eic_ssh();
    cmd.args([&format!("{}@i-0ffffffffffffffff", h.user), "--", "true"]);
    let out = run(&mut cmd, LIMIT);
    assert_fails_exactly(
        &out,
        255,
        "eic-ssh: instance i-0ffffffffffffffff was not found in us-east-1 with the default credentials: it may be in another region or account: pass --region or --profile (or set AWS_REGION / AWS_PROFILE)\n",
    );
    let mut cmd = h.eic_ssh();
    cmd.args([BASTION, "--", "true"]);
    let out = run(&mut cmd, LIMIT);
    assert_fails(&out, 255, "no user for the instance: write user@TARGET");
}

#[test]
fn stdin_streams_50_mb_intact_and_eof_is_forwarded() {
    let h = Harness::new();
    let src = h.random_file("in.bin", 50 << 20);
    let mut cmd = session(&h, &["--", "sha256sum"]);
    cmd.stdin(std::fs::File::open(&src).unwrap())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let out = wait(cmd.spawn().unwrap(), LIMIT);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(text(&out).split_whitespace().next().unwrap(), sha256(&src));
}

#[test]
fn works_in_a_pipe_like_tar() {
    let h = Harness::new();
    let tree = h.dir.path().join("tree");
    std::fs::create_dir_all(tree.join("d")).unwrap();
    std::fs::write(tree.join("d/f.txt"), "payload\n").unwrap();
    let dest = h.dir.path().join("unpacked");
    std::fs::create_dir_all(&dest).unwrap();
    let mut tar = Command::new("tar")
        .arg("c")
        .arg("-C")
        .arg(&tree)
        .arg(".")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut cmd = session(&h, &["--", &format!("tar x -C {}", dest.display())]);
    cmd.stdin(tar.stdout.take().unwrap())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let out = wait(cmd.spawn().unwrap(), LIMIT);
    assert!(tar.wait().unwrap().success());
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        std::fs::read_to_string(dest.join("d/f.txt")).unwrap(),
        "payload\n"
    );
}

#[test]
fn host_keys_accept_new_then_refuse_a_changed_key() {
    let h = Harness::new();
    let known = h.dir.path().join("kh/known_hosts");
    let with = |policy: &str| {
        let mut cmd = h.eic_ssh();
        cmd.env("EIC_SSH_KNOWN_HOSTS", &known).args([
            &format!("{}@{BASTION}", h.user),
            "--host-key-check",
            policy,
            "--",
            "true",
        ]);
        run(&mut cmd, LIMIT)
    };
    let out = with("strict");
    assert_eq!(out.status.code(), Some(255));
    let err = stderr(&out);
    assert!(
        err.contains(&format!(
            "host key verification failed: no key for {BASTION} in"
        )),
        "{err}"
    );
    // The verified way first, trust on first use second.
    let verified = err
        .find("--host-key-from-console")
        .unwrap_or_else(|| panic!("{err}"));
    let blind = err
        .find("--host-key-check accept-new")
        .unwrap_or_else(|| panic!("{err}"));
    assert!(verified < blind, "{err}");
    let out = with("accept-new");
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains(&format!("Permanently added '{BASTION}' (ED25519)")),
        "{}",
        stderr(&out)
    );
    let recorded = std::fs::read_to_string(&known).unwrap();
    let host_key = h.sim.sshd().unwrap().host_public_key.clone();
    let blob = host_key.split_whitespace().nth(1).unwrap();
    assert_eq!(
        recorded,
        format!("{BASTION} ssh-ed25519 {blob}\n"),
        "keyed by instance id"
    );
    assert!(with("strict").status.success(), "a known key passes strict");

    // The instance "changes" its key.
    std::fs::write(&known, format!("{BASTION} ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJdD7y3aLq454yWBdwLWbieU1ebz9/cu7/QEXn9OIeZJ\n")).unwrap();
    let out = with("accept-new");
    assert_eq!(out.status.code(), Some(255));
    let err = stderr(&out);
    assert!(
        err.contains("WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!"),
        "{err}"
    );
    assert!(
        err.contains(&format!(
            "eic-ssh: host key verification failed: the ED25519 key of {BASTION} has changed"
        )),
        "{err}"
    );
}

/// `--host-key-check ask` asks on the terminal, not on stdin (here /dev/null, as when a
/// script pipes into eic-ssh): "no" refuses, "yes" learns the key and runs the command.
#[test]
fn host_key_question_is_asked_on_the_terminal() {
    let h = Harness::new();
    let known = h.dir.path().join("asked_known_hosts");
    let tmux = Tmux::start(&h, 160, 30);
    tmux.wait_for("local$");
    let command = format!(
        "EIC_SSH_KNOWN_HOSTS='{}' {} {}@{BASTION} --host-key-check ask -- echo asked-'ok' < /dev/null; echo status=$?",
        known.display(),
        env!("CARGO_BIN_EXE_eic-ssh"),
        h.user
    );
    tmux.keys(&command);
    tmux.enter();
    tmux.wait_for("Are you sure you want to continue connecting (yes/no)?");
    tmux.keys("no");
    tmux.enter();
    tmux.wait_for("status=255");
    assert!(
        tmux.screen().contains(&format!(
            "host key verification failed: {BASTION} was not accepted"
        )),
        "{}",
        tmux.screen()
    );
    assert!(!known.exists(), "nothing learned after a no");

    // The screen is cleared before the second question is waited for: the first one's
    // text must not answer for it (the "yes" would be typed before it is asked).
    tmux.keys("clear; echo cleared-$((1+1))");
    tmux.enter();
    tmux.wait_for("cleared-2");
    assert!(!tmux.screen().contains("(yes/no)?"), "{}", tmux.screen());
    tmux.keys(&command);
    tmux.enter();
    tmux.wait_for("(yes/no)?");
    tmux.keys("yes");
    tmux.enter();
    tmux.wait_for("status=0");
    assert!(tmux.screen().contains("asked-ok"), "{}", tmux.screen());
    let host_key = h.sim.sshd().unwrap().host_public_key.clone();
    let blob = host_key.split_whitespace().nth(1).unwrap();
    assert_eq!(
        std::fs::read_to_string(&known).unwrap(),
        format!("{BASTION} ssh-ed25519 {blob}\n")
    );
}

#[test]
fn hashed_known_hosts_entries_are_read() {
    let h = Harness::new();
    let hashed = h.dir.path().join("hashed");
    std::fs::copy(&h.known_hosts, &hashed).unwrap();
    let status = Command::new("ssh-keygen")
        .arg("-H")
        .arg("-f")
        .arg(&hashed)
        .output()
        .unwrap()
        .status;
    assert!(status.success());
    assert!(std::fs::read_to_string(&hashed).unwrap().starts_with("|1|"));
    let mut cmd = h.eic_ssh();
    cmd.env("EIC_SSH_KNOWN_HOSTS", &hashed).args([
        &format!("{}@{BASTION}", h.user),
        "--host-key-check",
        "strict",
        "--",
        "true",
    ]);
    let out = run(&mut cmd, LIMIT);
    assert!(out.status.success(), "{}", stderr(&out));
}

/// Every file under `dir` (recursively) holding one of `needles`, with the needle's index.
fn files_holding(dir: &Path, needles: &[Vec<u8>], found: &mut Vec<(String, usize)>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        if kind.is_dir() {
            files_holding(&path, needles, found);
        } else if kind.is_file()
            && let Ok(bytes) = std::fs::read(&path)
        {
            for (i, needle) in needles.iter().enumerate() {
                if bytes.windows(needle.len()).any(|w| w == needle.as_slice()) {
                    found.push((path.display().to_string(), i));
                }
            }
        }
    }
}

/// The public keys pushed so far (sshd's authorized_keys for `user`): the base64 blob as
/// text, and the raw ed25519 key, which any private key file or key dump holds too.
fn pushed_keys(h: &Harness, into: &mut Vec<Vec<u8>>) {
    let file = h.dir.path().join("sim/sshd/authorized_keys").join(&h.user);
    for line in std::fs::read_to_string(file).unwrap_or_default().lines() {
        let Some(blob) = line.split_whitespace().find(|w| w.starts_with("AAAA")) else {
            continue;
        };
        let raw = data_encoding::BASE64.decode(blob.as_bytes()).unwrap();
        for needle in [blob.as_bytes().to_vec(), raw[raw.len() - 32..].to_vec()] {
            if !into.contains(&needle) {
                into.push(needle);
            }
        }
    }
}

/// Every command that connects (the session, `proxy` under OpenSSH, `cp`, the `tunnel`
/// listener, `-N` forwards, `run`, `doctor`), each at `-vvv`, through a CONNECT proxy that
/// wants a password, with a session token, and with HOME, TMPDIR and the XDG config,
/// cache, state (the connection log) and runtime directories of a scratch directory:
/// no private key reaches any file there (nor eic-ssh's directory in the system's temp
/// dir), neither as text nor as the raw key, and no secret (the secret key, the session
/// token, the proxy's password, a signature) reaches any log.
#[test]
fn every_connecting_command_keeps_private_keys_off_the_disk_and_secrets_out_of_its_logs() {
    const TOKEN: &str = "TOKENxyz123/+=";
    let mut world = World::demo();
    world.credentials[0].session_token = Some(TOKEN.into());
    let h = Harness::with_world(world);
    let secret = h.sim.state.world.read().unwrap().credentials[0]
        .secret_key
        .clone();
    // base64("alice:pw-Q7x!") for the proxy's check.
    let password = "pw-Q7x!";
    let basic = data_encoding::BASE64.encode(format!("alice:{password}").as_bytes());
    let proxy = ConnectProxy::start(Behaviour::RequireAuth(format!("Basic {basic}")));
    let scratch = tempfile::tempdir().unwrap();
    let dirs = ["home", "tmp", "config", "cache", "state", "run"];
    for d in dirs {
        std::fs::create_dir(scratch.path().join(d)).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(
            scratch.path().join(d),
            std::fs::Permissions::from_mode(0o700),
        )
        .unwrap();
    }
    let at = |d: &str| scratch.path().join(d);
    let env = |cmd: &mut Command| {
        cmd.env("HOME", at("home"))
            .env("TMPDIR", at("tmp"))
            .env("XDG_CONFIG_HOME", at("config"))
            .env("XDG_CACHE_HOME", at("cache"))
            .env("XDG_STATE_HOME", at("state"))
            .env("XDG_RUNTIME_DIR", at("run"))
            .env("EIC_SSH_KNOWN_HOSTS", &h.known_hosts)
            .env("HTTPS_PROXY", proxy.url(Some(&format!("alice:{password}"))));
    };
    let eic = |args: &[&str]| {
        let mut cmd = h.eic_ssh();
        env(&mut cmd);
        cmd.arg("-vvv").args(args);
        cmd
    };
    let target = format!("{}@{BASTION}", h.user);
    let mut keys = Vec::new();
    let mut logs: Vec<(&str, String)> = Vec::new();
    let mut ran = |name: &'static str, out: Output, keys: &mut Vec<Vec<u8>>| {
        assert!(out.status.success(), "{name}: {}", stderr(&out));
        pushed_keys(&h, keys);
        logs.push((name, stderr(&out)));
    };

    ran(
        "session",
        run(&mut eic(&[&target, "--", "true"]), LIMIT),
        &mut keys,
    );
    let mut ssh = h.ssh_via(
        &h.proxy_command().replace(" proxy %h", " -vvv proxy %h"),
        "true",
    );
    env(&mut ssh);
    ran("proxy", run(&mut ssh, LIMIT), &mut keys);
    let file = h.random_file("up.bin", 10_000);
    let dest = format!("{target}:{}", h.dir.path().join("copied.bin").display());
    ran(
        "cp",
        run(&mut eic(&["cp", file.to_str().unwrap(), &dest]), LIMIT),
        &mut keys,
    );
    let run_args = ["run", "-l", &h.user, BASTION, "--", "true"];
    ran("run", run(&mut eic(&run_args), LIMIT), &mut keys);
    ran(
        "doctor",
        run(&mut eic(&["doctor", BASTION]), LIMIT),
        &mut keys,
    );

    let push = h.public_key().display().to_string();
    let tunnel_args = [
        "tunnel",
        BASTION,
        "--local-port",
        "0",
        "--user",
        &h.user,
        "--push-key",
        &push,
    ];
    let mut listener = Listener::start(eic(&tunnel_args));
    let out = run(&mut h.ssh_to_listener(listener.port, "true"), LIMIT);
    assert!(
        out.status.success(),
        "ssh through the tunnel: {}",
        stderr(&out)
    );
    pushed_keys(&h, &mut keys);
    // Stopped as a user stops it (SIGTERM: every connection closed and logged first).
    send_signal("TERM", listener.child.id());
    assert!(listener.exits_within(LIMIT), "tunnel ends on SIGTERM");
    logs.push(("tunnel", listener.stop().join("\n")));

    let echo = echo_server();
    let forward = format!("0:127.0.0.1:{echo}");
    let mut listener = Listener::start(eic(&[&target, "-N", "-L", &forward]));
    let mut s = std::net::TcpStream::connect(("127.0.0.1", listener.port)).unwrap();
    use std::io::{Read, Write};
    s.write_all(b"ping").unwrap();
    s.shutdown(std::net::Shutdown::Write).unwrap();
    let mut back = Vec::new();
    s.read_to_end(&mut back).unwrap();
    assert_eq!(back, b"ping");
    pushed_keys(&h, &mut keys);
    send_signal("TERM", listener.child.id());
    assert!(listener.exits_within(LIMIT), "-N ends on SIGTERM");
    logs.push(("-N", listener.stop().join("\n")));

    // Private keys: neither as text nor as bytes, anywhere the processes could write.
    let ephemeral = keys.len();
    assert!(ephemeral >= 4, "the pushed keys were read: {ephemeral}");
    let mut needles = keys;
    for text in ["PRIVATE KEY", "OPENSSH PRIVATE KEY", "BEGIN"] {
        needles.push(text.as_bytes().to_vec());
    }
    let mut found = Vec::new();
    files_holding(scratch.path(), &needles, &mut found);
    files_holding(&std::env::temp_dir().join("eic-ssh"), &needles, &mut found);
    assert!(found.is_empty(), "private key material written: {found:?}");

    // Secrets: in no -vvv log, where every signature shows as ***.
    let forbidden = [
        secret.as_str(),
        TOKEN,
        "TOKENxyz123%2F",
        "TOKENxyz123",
        password,
        basic.as_str(),
        "PRIVATE KEY",
    ];
    for (name, log) in &logs {
        assert!(
            log.lines().count() > 5,
            "{name}: the -vvv log is there: {log}"
        );
        for needle in forbidden {
            assert!(
                !log.contains(needle),
                "{name}: {needle:?} leaked into the log"
            );
        }
        for (i, _) in log.match_indices("X-Amz-Signature=") {
            assert_eq!(
                &log[i + 16..i + 19],
                "***",
                "{name}: a signature in the log"
            );
        }
    }
    let signed: Vec<&str> = logs
        .iter()
        .filter(|(_, log)| log.contains("X-Amz-Signature=***"))
        .map(|(name, _)| *name)
        .collect();
    assert!(
        ["session", "proxy", "cp", "run", "tunnel", "-N"]
            .iter()
            .all(|n| signed.contains(n)),
        "each log shows its tunnel URL, signature hidden: {signed:?}"
    );
    // The connection log: no secret, no URL.
    let log = std::fs::read_to_string(at("state").join("eic-ssh/log.jsonl")).unwrap();
    // session, proxy, cp, run, tunnel and -N: each wrote its entry.
    assert!(log.lines().count() >= 6, "{log}");
    for needle in forbidden
        .iter()
        .chain(&["X-Amz-Signature", "X-Amz-Credential"])
    {
        assert!(!log.contains(needle), "{needle:?} in the connection log");
    }
}

#[test]
fn authentication_after_the_keys_window_fails_clearly() {
    let mut world = World::demo();
    world.key_ttl_secs = 0;
    let h = Harness::with_world(world);
    let out = run(&mut session(&h, &["--", "true"]), LIMIT);
    assert_fails_exactly(
        &out,
        255,
        &format!(
            "eic-ssh: the instance refused the pushed key for user {}: check the user name (ec2-user, ubuntu, admin, …), that the instance runs ec2-instance-connect, and that authentication happened within the key's 60 seconds\n",
            h.user
        ),
    );
}

#[test]
fn an_interactive_shell_through_tmux() {
    let h = Harness::new();
    let tmux = Tmux::session(&h, 100, 30, "");
    tmux.keys("echo typed-$((40+2)); stty size");
    tmux.enter();
    tmux.wait_for("typed-42");
    tmux.wait_for("30 100");
    tmux.cmd(&["resize-window", "-t", "e2e", "-x", "120", "-y", "40"]);
    // Ask until the remote side has the new size (SIGWINCH travels asynchronously).
    let resized = eventually(Duration::from_secs(20), || {
        tmux.keys("stty size");
        tmux.enter();
        eventually(Duration::from_millis(500), || {
            tmux.screen().contains("40 120")
        })
    });
    assert!(
        resized,
        "the remote side never saw 40 120:\n{}",
        tmux.screen()
    );
    tmux.keys("exit");
    tmux.enter();
    tmux.wait_for_shell();
    tmux.keys("echo status=$?; [ \"$(stty -g)\" = \"$before\" ] && echo terminal-restored");
    tmux.enter();
    tmux.wait_for("status=0");
    tmux.wait_for("terminal-restored");
}

#[test]
fn tilde_dot_disconnects() {
    let h = Harness::new();
    let tmux = Tmux::session(&h, 80, 24, "");
    tmux.keys("echo rea''dy");
    tmux.enter();
    tmux.wait_for("ready");
    tmux.keys("~.");
    tmux.wait_for(&format!("Connection to {BASTION} closed."));
    tmux.keys("echo status=$?");
    tmux.enter();
    tmux.wait_for("status=255");
}

#[test]
fn host_keys_verified_against_the_console_output() {
    let h = Harness::new();
    let known = h.dir.path().join("console_known_hosts");
    let with_console = |h: &Harness| {
        let mut cmd = h.eic_ssh();
        cmd.env("EIC_SSH_KNOWN_HOSTS", &known).args([
            &format!("{}@{BASTION}", h.user),
            "--host-key-from-console",
            "--",
            "true",
        ]);
        run(&mut cmd, LIMIT)
    };
    let out = with_console(&h);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        std::fs::read_to_string(&known)
            .unwrap()
            .starts_with(BASTION)
    );
    assert!(
        h.sim
            .events_of("api_call")
            .iter()
            .any(|e| e["action"] == "GetConsoleOutput")
    );

    // The console shows another key: someone is in the middle.
    std::fs::remove_file(&known).unwrap();
    h.sim.update_world(|w| {
        w.instances[0].console_host_keys = Some(vec![
            "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJdD7y3aLq454yWBdwLWbieU1ebz9/cu7/QEXn9OIeZJ"
                .into(),
        ])
    });
    let out = with_console(&h);
    assert_eq!(out.status.code(), Some(255));
    assert!(
        stderr(&out).contains(&format!(
            "of {BASTION} is not among the 1 host keys in its console output; refusing to connect"
        )),
        "{}",
        stderr(&out)
    );
    assert!(!known.exists(), "nothing was learned");

    // No block yet (first boot still running).
    h.sim
        .update_world(|w| w.instances[0].console_host_keys = Some(vec![]));
    let out = with_console(&h);
    assert_fails(&out, 255, "holds no host keys");
}

#[test]
fn the_agent_is_forwarded_with_dash_a() {
    let h = Harness::new();
    let sock = h.dir.path().join("agent.sock");
    let mut agent = Command::new("ssh-agent")
        .arg("-D")
        .arg("-a")
        .arg(&sock)
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    assert!(eventually(Duration::from_secs(5), || sock.exists()));
    let added = Command::new("ssh-add")
        .arg(&h.key)
        .env("SSH_AUTH_SOCK", &sock)
        .output()
        .unwrap();
    assert!(
        added.status.success(),
        "{}",
        String::from_utf8_lossy(&added.stderr)
    );
    let fingerprint = Command::new("ssh-keygen")
        .arg("-lf")
        .arg(h.public_key())
        .output()
        .unwrap();
    let fingerprint = String::from_utf8_lossy(&fingerprint.stdout)
        .split_whitespace()
        .nth(1)
        .unwrap()
        .to_string();

    let mut cmd = session(&h, &["-A", "--", "ssh-add -l"]);
    cmd.env("SSH_AUTH_SOCK", &sock);
    let out = run(&mut cmd, LIMIT);
    let without = run(&mut session(&h, &["--", "ssh-add -l"]), LIMIT);
    let _ = agent.kill();
    let _ = agent.wait();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(text(&out).contains(&fingerprint), "{}", text(&out));
    assert_ne!(without.status.code(), Some(0), "no agent without -A");
}

#[test]
fn a_notice_comes_a_minute_before_the_maximum_tunnel_duration() {
    let h = Harness::new();
    let tmux = Tmux::session(&h, 200, 30, "--max-tunnel-duration 61");
    tmux.wait_for(&format!(
        "eic-ssh: the tunnel to {BASTION} closes in 60 s (--max-tunnel-duration 61 s); this session ends with it and is not reconnected"
    ));
    tmux.keys("exit");
    tmux.enter();
}

/// How the emulator ended each tunnel.
fn tunnel_ends(h: &Harness) -> Vec<String> {
    h.sim
        .events_of("tunnel_closed")
        .iter()
        .map(|e| e["end"].as_str().unwrap_or_default().to_string())
        .collect()
}

#[test]
fn a_shell_hears_of_the_tunnels_end_then_the_endpoint_closes_it() {
    let h = Harness::new();
    let tmux = Tmux::start(&h, 200, 30);
    tmux.wait_for("local$");
    // A warning 2 s before a 5 s tunnel ends (the test knob for the minute).
    tmux.keys(&format!(
        "EIC_SSH_LIMIT_WARNING_SECS=2 {} {}@{BASTION} --max-tunnel-duration 5",
        env!("CARGO_BIN_EXE_eic-ssh"),
        h.user
    ));
    tmux.enter();
    let warning =
        format!("eic-ssh: the tunnel to {BASTION} closes in 2 s (--max-tunnel-duration 5 s)");
    tmux.wait_for(&warning);
    let ended = format!(
        "eic-ssh: the endpoint closed the tunnel to {BASTION} at its maximum duration (--max-tunnel-duration 5 s); run eic-ssh again to reconnect"
    );
    let screen = tmux.wait_for(&ended);
    tmux.wait_for_shell();
    // The warning on a line of its own, before the end.
    let line = |needle: &str| screen.lines().position(|l| l.starts_with(needle));
    assert!(line(&warning) < line(&ended), "{screen}");
    assert!(h.sim.until(LIMIT, || !tunnel_ends(&h).is_empty()));
    assert_eq!(tunnel_ends(&h), ["max duration reached"]);
}

#[test]
fn a_command_hears_of_the_tunnels_end_on_stderr() {
    let h = Harness::new();
    let mut cmd = session(&h, &["--max-tunnel-duration", "4", "--", "sleep 30"]);
    cmd.env("EIC_SSH_LIMIT_WARNING_SECS", "2");
    let out = run(&mut cmd, LIMIT);
    assert_eq!(out.status.code(), Some(255), "{}", stderr(&out));
    let said: Vec<String> = stderr(&out).lines().map(String::from).collect();
    assert_eq!(
        said,
        [
            format!(
                "eic-ssh: the tunnel to {BASTION} closes in 2 s (--max-tunnel-duration 4 s); this session ends with it and is not reconnected: run eic-ssh again (tmux or screen on the instance keeps a shell across tunnels)"
            ),
            format!(
                "eic-ssh: the endpoint closed the tunnel to {BASTION} at its maximum duration (--max-tunnel-duration 4 s); run eic-ssh again to reconnect"
            ),
        ]
    );
    assert!(h.sim.until(LIMIT, || !tunnel_ends(&h).is_empty()));
    assert_eq!(tunnel_ends(&h), ["max duration reached"]);
}

#[test]
fn host_key_alias_names_the_known_hosts_entry() {
    let h = Harness::new();
    let known = h.dir.path().join("alias_known_hosts");
    let mut cmd = h.eic_ssh();
    cmd.env("EIC_SSH_KNOWN_HOSTS", &known).args([
        &format!("{}@{BASTION}", h.user),
        "--host-key-alias",
        "web-fleet",
        "--host-key-check",
        "accept-new",
        "--",
        "true",
    ]);
    let out = run(&mut cmd, LIMIT);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        std::fs::read_to_string(&known)
            .unwrap()
            .starts_with("web-fleet ssh-ed25519 ")
    );
}

#[test]
fn an_endpoint_that_never_sends_a_banner_times_out_clearly() {
    let h = Harness::new();
    h.sim.set_faults(eic_ssh_sim::Faults {
        stall_after_bytes: Some(1),
        ..Default::default()
    });
    let mut cmd = session(&h, &["--handshake-timeout", "2", "--", "true"]);
    let out = run(&mut cmd, LIMIT);
    assert_fails(&out, 255, "sent no banner within 2 s");
}

#[test]
fn user_at_wins_over_dash_l_as_in_openssh() {
    let h = Harness::new();
    let mut cmd = session(&h, &["-l", "nosuchuser", "--", "id", "-un"]);
    let out = run(&mut cmd, LIMIT);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(text(&out).trim(), h.user);
}

#[test]
fn sigint_and_sigquit_from_outside_restore_the_terminal() {
    let h = Harness::new();
    for signal in ["INT", "QUIT"] {
        let tmux = Tmux::session(&h, 80, 24, "");
        tmux.keys("echo rea''dy");
        tmux.enter();
        tmux.wait_for("ready");
        let shell = tmux.cmd(&["display", "-p", "-t", "e2e", "#{pane_pid}"]);
        let shell = String::from_utf8_lossy(&shell.stdout).trim().to_string();
        let child = Command::new("pgrep").args(["-P", &shell]).output().unwrap();
        let pid = String::from_utf8_lossy(&child.stdout).trim().to_string();
        assert!(!pid.is_empty(), "eic-ssh runs under the pane's shell");
        let killed = Command::new("kill")
            .args([&format!("-{signal}"), &pid])
            .status()
            .unwrap();
        assert!(killed.success());
        tmux.wait_for(&format!("Connection to {BASTION} closed (SIG"));
        tmux.keys("[ \"$(stty -g)\" = \"$before\" ] && echo terminal-restored");
        tmux.enter();
        tmux.wait_for("terminal-restored");
        drop(tmux);
    }
}

/// `eic-ssh user@BASTION -- COMMAND` without a terminal, started and read until its first
/// line of output (`up`).
fn session_up(h: &Harness, command: &str) -> std::process::Child {
    let mut cmd = session(h, &["--", command]);
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let mut first = [0u8; 3];
    std::io::Read::read_exact(child.stdout.as_mut().unwrap(), &mut first).unwrap();
    assert_eq!(&first, b"up\n");
    child
}

#[cfg(unix)]
#[test]
fn each_stop_signal_ends_the_session_and_its_remote_command_and_is_logged() {
    let h = Harness::new();
    for (n, (signal, code)) in STOP_SIGNALS.into_iter().enumerate() {
        // The command is the remote process itself (exec), so that it is the one to end.
        let sleeper = sleeper(n);
        let child = session_up(&h, &format!("echo up; exec {sleeper}"));
        send_signal(signal, child.id());
        let out = wait(child, LIMIT);
        assert_eq!(
            out.status.code(),
            Some(code),
            "SIG{signal}: {}",
            stderr(&out)
        );
        assert!(
            stderr(&out).contains(&format!("Connection to {BASTION} closed (SIG{signal}).")),
            "{}",
            stderr(&out)
        );
        let log = log_entries(&h);
        assert_eq!(log.len(), n + 1, "{log:#?}");
        let last = log.last().unwrap();
        assert_eq!(last["command"], "session", "{last}");
        assert_eq!(last["outcome"], format!("ended by SIG{signal}"), "{last}");
        assert_eq!(last["exit"], code, "{last}");
        assert!(
            remote_signalled(&h, &sleeper, n + 1),
            "SIG{signal}: the remote command was passed the signal"
        );
    }
    assert!(eventually(LIMIT, || h.sim.events_of("tunnel_closed").len() == 3));
    for e in h.sim.events_of("tunnel_closed") {
        let end = e["end"].as_str().unwrap_or_default();
        assert!(end == "client closed" || end == "target closed", "{e}");
    }
}

#[cfg(unix)]
#[test]
fn a_stop_signal_while_logging_in_ends_the_session_at_once_and_is_logged() {
    let h = Harness::new();
    // The key exchange passes, then nothing: the session waits in authentication.
    h.sim.set_faults(eic_ssh_sim::Faults {
        stall_after_key_exchange: true,
        ..Default::default()
    });
    let mut cmd = session(&h, &["--", "true"]);
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let child = cmd.spawn().unwrap();
    assert!(eventually(LIMIT, || !h
        .sim
        .events_of("tunnel_open")
        .is_empty()));
    send_signal("TERM", child.id());
    let out = wait(child, LIMIT);
    assert_eq!(out.status.code(), Some(143), "{}", stderr(&out));
    let log = log_entries(&h);
    assert_eq!(log.len(), 1, "{log:#?}");
    assert_eq!(log[0]["outcome"], "ended by SIGTERM", "{log:#?}");
    assert_eq!(log[0]["exit"], 143, "{log:#?}");
    assert_eq!(log[0]["instance"], BASTION, "{log:#?}");
}

#[test]
fn the_session_and_cp_close_the_tunnel_with_a_close_frame() {
    let h = Harness::new();
    let out = run(&mut session(&h, &["--", "true"]), LIMIT);
    assert!(out.status.success(), "{}", stderr(&out));
    let file = h.random_file("f", 1000);
    let mut cp = h.eic_ssh();
    cp.env("EIC_SSH_KNOWN_HOSTS", &h.known_hosts).args([
        "cp",
        file.to_str().unwrap(),
        &format!("{}@{BASTION}:{}/g", h.user, h.dir.path().display()),
    ]);
    let out = run(&mut cp, LIMIT);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        h.sim
            .until(LIMIT, || h.sim.events_of("tunnel_closed").len() == 2)
    );
    // Clean either way: our close frame, or sshd closing after our SSH disconnect; never
    // a WebSocket dropped without a close frame ("client connection broke").
    for e in h.sim.events_of("tunnel_closed") {
        let end = e["end"].as_str().unwrap_or_default();
        assert!(end == "client closed" || end == "target closed", "{e}");
    }
}

#[test]
fn an_endpoint_that_never_answers_tls_times_out_naming_the_phase() {
    let h = Harness::new();
    // Accepts TCP, then says nothing: the TLS handshake never finishes.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for socket in silent.incoming() {
            held.push(socket);
        }
    });
    let mut cmd = session(&h, &["--", "true"]);
    cmd.env(
        "EIC_SSH_TUNNEL_ENDPOINT_URL",
        format!("wss://127.0.0.1:{port}"),
    );
    let out = run(&mut cmd, LIMIT);
    assert_fails(&out, 255, "at the TLS handshake");
}

/// A minimal hostile SSH server (russh's server API) standing in for the instance's sshd:
/// it logs anyone in with the emulator's host key, then misbehaves as asked.
mod hostile {
    use std::path::Path;
    use std::sync::Arc;

    use russh::ChannelId;
    use russh::server::{self, Auth, ChannelOpenHandle, Msg, Session, VerifiedPublicKey};

    /// How the server misbehaves.
    #[derive(Debug, Clone, Copy)]
    pub enum Mode {
        /// On `exec`, opens x11, session and direct-tcpip channels towards the client and
        /// prints whether each was accepted, then exits 0.
        OpensChannels,
        /// Never answers a request to open a session channel.
        NeverConfirms,
    }

    struct Hostile {
        mode: Mode,
        /// Channel opens left unanswered (dropping them would refuse them).
        held: Vec<ChannelOpenHandle>,
    }

    impl server::Handler for Hostile {
        type Error = russh::Error;

        async fn auth_publickey(
            &mut self,
            _user: &str,
            _key: VerifiedPublicKey<'_>,
        ) -> Result<Auth, Self::Error> {
            Ok(Auth::Accept)
        }

        async fn channel_open_session(
            &mut self,
            _channel: russh::Channel<Msg>,
            reply: ChannelOpenHandle,
            _session: &mut Session,
        ) -> Result<(), Self::Error> {
            match self.mode {
                Mode::OpensChannels => reply.accept().await,
                Mode::NeverConfirms => self.held.push(reply),
            }
            Ok(())
        }

        async fn exec_request(
            &mut self,
            channel: ChannelId,
            _command: &[u8],
            session: &mut Session,
        ) -> Result<(), Self::Error> {
            session.channel_success(channel)?;
            let handle = session.handle();
            tokio::spawn(async move {
                let verdict = |opened: bool| if opened { "accepted" } else { "refused" };
                let x11 = handle.channel_open_x11("127.0.0.1", 6010).await.is_ok();
                let session = handle.channel_open_session().await.is_ok();
                let tcp = handle
                    .channel_open_direct_tcpip("127.0.0.1", 22, "127.0.0.1", 5000)
                    .await
                    .is_ok();
                let report = format!(
                    "x11 {}, session {}, direct-tcpip {}\n",
                    verdict(x11),
                    verdict(session),
                    verdict(tcp)
                );
                let _ = handle.data(channel, report.into_bytes()).await;
                let _ = handle.exit_status_request(channel, 0).await;
                let _ = handle.eof(channel).await;
                let _ = handle.close(channel).await;
            });
            Ok(())
        }
    }

    /// Starts the server on a loopback port, with the host key at `host_key`.
    pub fn start(host_key: &Path, mode: Mode) -> u16 {
        let key = russh::keys::load_secret_key(host_key, None).unwrap();
        let config = Arc::new(server::Config {
            keys: vec![key],
            ..Default::default()
        });
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                while let Ok((socket, _)) = listener.accept().await {
                    let handler = Hostile {
                        mode,
                        held: Vec::new(),
                    };
                    let config = config.clone();
                    tokio::spawn(async move {
                        if let Ok(running) = server::run_stream(config, socket, handler).await {
                            let _ = running.await;
                        }
                    });
                }
            });
        });
        port
    }
}

/// The emulator relays to a hostile server with its sshd's host key (which the harness's
/// known_hosts trusts for the bastion).
fn behind_a_hostile_server(h: &Harness, mode: hostile::Mode) {
    let host_key = h.dir.path().join("sim/sshd/ssh_host_ed25519_key");
    let port = hostile::start(&host_key, mode);
    h.sim.set_faults(eic_ssh_sim::Faults {
        target_port: Some(port),
        ..Default::default()
    });
}

#[test]
fn channels_the_server_opens_unasked_are_refused() {
    let h = Harness::new();
    behind_a_hostile_server(&h, hostile::Mode::OpensChannels);
    let out = run(&mut session(&h, &["--", "true"]), LIMIT);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        text(&out),
        "x11 refused, session refused, direct-tcpip refused\n"
    );
}

#[test]
fn a_session_channel_never_confirmed_ends_at_the_handshake_timeout() {
    let h = Harness::new();
    behind_a_hostile_server(&h, hostile::Mode::NeverConfirms);
    let mut cmd = session(&h, &["--handshake-timeout", "3", "--", "true"]);
    let out = run(&mut cmd, LIMIT);
    assert_fails(&out, 255, "did not open the session within 3 s");
}
