//! Test harness: an emulator with a real sshd, a throwaway client key, and helpers that run
//! eic-ssh and the OpenSSH clients with a deadline (a hang fails the test, it never blocks CI).

#![allow(dead_code)]

pub mod connect_proxy;
pub mod tmux;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use eic_ssh_sim::{Options, Sim, World};

/// The demo world's running instance with an endpoint.
pub const BASTION: &str = "i-0123456789abcdef0";
/// Stopped instance in the same VPC.
pub const STOPPED: &str = "i-0aaaaaaaaaaaaaaa1";
/// Running instance in a VPC without an endpoint.
pub const ORPHAN: &str = "i-0bbbbbbbbbbbbbbb2";

/// One emulator, one client key, one scratch directory.
pub struct Harness {
    /// The emulator.
    pub sim: Sim,
    /// Scratch space, removed at drop.
    pub dir: tempfile::TempDir,
    /// Client private key (for ssh -i).
    pub key: PathBuf,
    /// The OS user sshd can log in.
    pub user: String,
    /// known_hosts holding the sshd host key under the instance id.
    pub known_hosts: PathBuf,
}

impl Harness {
    /// Demo world.
    pub fn new() -> Harness {
        Harness::with_world(World::demo())
    }

    /// A custom world.
    pub fn with_world(world: World) -> Harness {
        Harness::with_sftp_server(world, None)
    }

    /// The demo world with `sftp` (a command) as sshd's SFTP server.
    pub fn with_sftp_server(world: World, sftp: Option<String>) -> Harness {
        Harness::with_options(world, |o| o.sftp_server = sftp)
    }

    /// The demo world with every service `rtt` away, each on its own port.
    pub fn at_distance(rtt: std::time::Duration) -> Harness {
        Harness::with_options(World::demo(), |o| o.rtt = Some(rtt))
    }

    /// `world` with every service on its own port and no delay, so that a proxy's log tells
    /// them apart.
    pub fn apart(world: World) -> Harness {
        Harness::with_options(world, |o| o.rtt = Some(Duration::ZERO))
    }

    fn with_options(world: World, set: impl FnOnce(&mut Options)) -> Harness {
        let dir = tempfile::tempdir().unwrap();
        let mut options = Options::new(world, dir.path().join("sim"));
        set(&mut options);
        let sim = Sim::start(options).expect("emulator starts");
        let key = dir.path().join("id_ed25519");
        let status = Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-f"])
            .arg(&key)
            .status()
            .unwrap();
        assert!(status.success());
        let known_hosts = dir.path().join("known_hosts");
        let host_key = sim.sshd().unwrap().host_public_key.clone();
        std::fs::write(&known_hosts, format!("{BASTION} {host_key}\n")).unwrap();
        Harness {
            sim,
            dir,
            key,
            user: eic_ssh_sim::sshd::current_user(),
            known_hosts,
        }
    }

    /// Path of the public key.
    pub fn public_key(&self) -> PathBuf {
        self.key.with_extension("pub")
    }

    /// `eic-ssh` with a clean environment pointing at the emulator.
    pub fn eic_ssh(&self) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_eic-ssh"));
        self.isolate(&mut cmd);
        cmd
    }

    /// Clears the environment but for PATH, and adds the emulator's.
    pub fn isolate(&self, cmd: &mut Command) {
        cmd.env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOME", self.dir.path())
            .envs(self.sim.client_env());
    }

    /// The ProxyCommand line for OpenSSH clients.
    pub fn proxy_command(&self) -> String {
        format!(
            "{} proxy %h %p --user %r --push-key {}",
            env!("CARGO_BIN_EXE_eic-ssh"),
            self.public_key().display()
        )
    }

    /// Options every OpenSSH client gets: no user config, our key, strict host keys.
    pub fn ssh_options(&self) -> Vec<String> {
        self.ssh_options_via(&self.proxy_command())
    }

    /// The same options with another ProxyCommand.
    pub fn ssh_options_via(&self, proxy_command: &str) -> Vec<String> {
        vec![
            "-F".into(),
            "/dev/null".into(),
            "-i".into(),
            self.key.display().to_string(),
            "-o".into(),
            format!("UserKnownHostsFile={}", self.known_hosts.display()),
            "-o".into(),
            "StrictHostKeyChecking=yes".into(),
            "-o".into(),
            "BatchMode=yes".into(),
            "-o".into(),
            "IdentitiesOnly=yes".into(),
            "-o".into(),
            "LogLevel=ERROR".into(),
            "-o".into(),
            format!("ProxyCommand={proxy_command}"),
        ]
    }

    /// `ssh` to the bastion through `eic-ssh proxy`, running `remote`.
    pub fn ssh(&self, remote: &str) -> Command {
        self.ssh_via(&self.proxy_command(), remote)
    }

    /// `ssh` to the bastion through another ProxyCommand.
    pub fn ssh_via(&self, proxy_command: &str, remote: &str) -> Command {
        let mut cmd = Command::new("ssh");
        self.isolate(&mut cmd);
        cmd.args(self.ssh_options_via(proxy_command))
            .arg(format!("{}@{BASTION}", self.user))
            .arg(remote);
        cmd
    }

    /// A file of `size` pseudo-random bytes (incompressible, reproducible).
    pub fn random_file(&self, name: &str, size: usize) -> PathBuf {
        let path = self.dir.path().join(name);
        let mut state = 0x9E37_79B9_7F4A_7C15u64 ^ size as u64;
        let mut data = Vec::with_capacity(size + 8);
        while data.len() < size {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            data.extend_from_slice(&state.to_le_bytes());
        }
        data.truncate(size);
        std::fs::write(&path, data).unwrap();
        path
    }
}

/// The lying SFTP server built beside eic-ssh (`cargo test --workspace` builds it).
pub fn sftp_liar() -> PathBuf {
    let path = Path::new(env!("CARGO_BIN_EXE_eic-ssh")).with_file_name("eic-sim-sftp-liar");
    assert!(
        path.exists(),
        "{} is missing: run the tests with `cargo test --workspace`",
        path.display()
    );
    path
}

/// Asserts that `o` exited with `code` and that stderr contains `text`.
#[track_caller]
pub fn assert_fails(o: &Output, code: i32, text: &str) {
    let err = stderr(o);
    assert_eq!(o.status.code(), Some(code), "stderr: {err}");
    assert!(err.contains(text), "expected {text:?} in: {err}");
}

/// Asserts that `o` exited with `code` and that stderr is exactly `text`.
#[track_caller]
pub fn assert_fails_exactly(o: &Output, code: i32, text: &str) {
    assert_eq!(o.status.code(), Some(code), "stderr: {}", stderr(o));
    assert_eq!(stderr(o), text);
}

/// SHA-256 of a file, hex.
pub fn sha256(path: &Path) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(std::fs::read(path).unwrap()))
}

/// Runs to completion, or kills and panics after `limit`.
pub fn run(cmd: &mut Command, limit: Duration) -> Output {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let child = cmd.spawn().expect("command starts");
    wait(child, limit)
}

/// Waits for a spawned child with piped stdout/stderr, killing it after `limit`.
pub fn wait(mut child: Child, limit: Duration) -> Output {
    let mut out = child.stdout.take();
    let mut err = child.stderr.take();
    let out_reader = std::thread::spawn(move || {
        let mut buf = Vec::new();
        if let Some(o) = out.as_mut() {
            let _ = o.read_to_end(&mut buf);
        }
        buf
    });
    let err_reader = std::thread::spawn(move || {
        let mut buf = Vec::new();
        if let Some(e) = err.as_mut() {
            let _ = e.read_to_end(&mut buf);
        }
        buf
    });
    let Some(status) = exit_within(&mut child, limit) else {
        panic!("command hung for more than {limit:?}");
    };
    Output {
        status,
        stdout: out_reader.join().unwrap(),
        stderr: err_reader.join().unwrap(),
    }
}

/// Waits for `child` to exit, for at most `limit` (then kills it and reaps it): its status,
/// or None if it had to be killed. A thread waits on the process, so the exit wakes us.
pub fn exit_within(child: &mut Child, limit: Duration) -> Option<std::process::ExitStatus> {
    let pid = child.id();
    std::thread::scope(|scope| {
        let (tx, exited) = std::sync::mpsc::channel();
        scope.spawn(move || {
            let _ = tx.send(child.wait().expect("wait for a child"));
        });
        match exited.recv_timeout(limit) {
            Ok(status) => Some(status),
            Err(_) => {
                // The waiting thread holds the child; a signal by pid ends it (not reaped
                // yet, so the pid is still its own), and the scope joins the thread.
                // SAFETY: kill sends a signal to our own child.
                unsafe {
                    libc::kill(pid as i32, libc::SIGKILL);
                }
                None
            }
        }
    })
}

/// stderr as text.
pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Polls `check` until true or `limit` passes: only for what nothing notifies us of (a file
/// another process writes, a tmux screen). The emulator's events: `Sim::until`; a process
/// exit: [`exit_within`]; a line on a pipe: [`Listener::next_line`].
pub fn eventually(limit: Duration, mut check: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if check() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    check()
}

/// A generous deadline for one command.
pub const LIMIT: Duration = Duration::from_secs(60);

/// A harness whose simulated internet sees us as `public_ip`, and a config file.
pub fn with_config(world: World, public_ip: &str, config: &str) -> (Harness, PathBuf) {
    let mut world = world;
    world.client_public_ip = Some(public_ip.parse().unwrap());
    let h = Harness::with_world(world);
    let path = h.dir.path().join("config.toml");
    let text = config.replace("CHECKIP", &h.sim.checkip_url());
    std::fs::write(&path, text).unwrap();
    (h, path)
}

/// eic-ssh with the config and no egress cache (each run asks again).
pub fn eic(h: &Harness, config: &Path, args: &[&str]) -> Output {
    let mut cmd = h.eic_ssh();
    cmd.env("EIC_SSH_CONFIG", config)
        .env("EIC_SSH_EGRESS_CACHE_SECS", "0")
        .args(args);
    run(&mut cmd, LIMIT)
}

/// The AWS API actions the emulator answered, in order.
pub fn api_actions(h: &Harness) -> Vec<String> {
    h.sim
        .events_of("api_call")
        .iter()
        .map(|e| e["action"].as_str().unwrap_or_default().to_string())
        .collect()
}

pub fn count(h: &Harness, kind: &str) -> usize {
    h.sim.events_of(kind).len()
}

/// A config that admits the office (203.0.113.0/24) and one host; `bastion` is an alias.
pub const ALLOW_OFFICE: &str = r#"
[defaults]
allow = ["203.0.113.0/24", "198.51.100.7/32"]
egress_check_url = "CHECKIP"

[hosts.bastion]
instance = "i-0123456789abcdef0"
"#;

/// Config for the binding tests: `[hosts.office-only]` allows only the office; the instance is also reachable by id and by its
/// Name tag (`bastion`, under another alias here so the tag is not the alias).
pub const BOUND: &str = r#"
[defaults]
egress_check_url = "CHECKIP"

[hosts.office-only]
instance = "i-0123456789abcdef0"
allow = ["203.0.113.0/24"]

[hosts.opted-out]
instance = "i-0123456789abcdef0"
egress_check = false
"#;

/// The demo world with Preserve Client IP on and the instance admitting `sg_cidr` on 22.
pub fn preserving(mut world: World, sg_cidr: &str) -> World {
    world.endpoints[0].preserve_client_ip = true;
    world.security_groups[0].inbound[0].cidrs = vec![sg_cidr.into()];
    world
}

/// `eic-ssh proxy INSTANCE PORT` with nothing on stdin: its exit code and stderr.
pub fn proxy_failure(h: &Harness, instance: &str, port: &str) -> (Option<i32>, String) {
    let mut cmd = h.eic_ssh();
    cmd.args(["proxy", instance, port]);
    let out = run(&mut cmd, LIMIT);
    (out.status.code(), stderr(&out))
}

/// A running `eic-ssh tunnel` listener; killed and reaped at drop.
pub struct Listener {
    /// The process.
    pub child: Child,
    /// The local port it listens on.
    pub port: u16,
    /// Its stderr, a line at a time.
    lines: std::sync::mpsc::Receiver<String>,
    /// The lines read so far.
    seen: std::cell::RefCell<Vec<String>>,
}

impl Listener {
    /// Starts `cmd` (an `eic-ssh tunnel … --local-port 0` or `eic-ssh -N -L 0:…` the caller
    /// set up) and waits for the line that names its port.
    pub fn start(cmd: Command) -> Listener {
        let mut listener = Listener::spawn(cmd);
        // The first line that says where it listens (with -v, log lines come first).
        let first = loop {
            let line = listener.next_line();
            if ["listening on", "forwarding", "SOCKS proxy on"]
                .iter()
                .any(|w| line.contains(w))
            {
                break line;
            }
        };
        listener.port = port_in(&first);
        listener
    }

    /// Starts `cmd` with stderr read a line at a time, waiting for nothing (`port` is 0).
    pub fn spawn(mut cmd: Command) -> Listener {
        use std::io::BufRead;
        cmd.stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("eic-ssh starts");
        let err = child.stderr.take().unwrap();
        let (tx, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(err).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        Listener {
            child,
            port: 0,
            lines,
            seen: Default::default(),
        }
    }

    /// `eic-ssh tunnel BASTION --local-port 0` pushing the harness key, listening.
    pub fn tunnel(h: &Harness) -> Listener {
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
        .arg(h.public_key());
        Listener::start(cmd)
    }

    /// The next line it prints (waits up to [`LIMIT`]).
    pub fn next_line(&self) -> String {
        let line = self
            .lines
            .recv_timeout(LIMIT)
            .expect("a line from the listener");
        self.seen.borrow_mut().push(line.clone());
        line
    }

    /// Stops it (SIGKILL) and returns everything it wrote on stderr.
    pub fn stop(mut self) -> Vec<String> {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let mut seen = self.seen.take();
        // The reader ends at the pipe's end: every line written is in the channel.
        while let Ok(line) = self.lines.recv_timeout(LIMIT) {
            seen.push(line);
        }
        seen
    }

    /// Whether it is still running.
    pub fn running(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }

    /// Whether it exits within `limit` (it is killed if not).
    pub fn exits_within(&mut self, limit: Duration) -> bool {
        exit_within(&mut self.child, limit).is_some()
    }
}

/// The port after `127.0.0.1:` in a line.
pub fn port_in(line: &str) -> u16 {
    line.split("127.0.0.1:")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no port in {line:?}"))
}

impl Drop for Listener {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Harness {
    /// `ssh` straight to a listener on `port` (no ProxyCommand), running `remote`.
    pub fn ssh_to_listener(&self, port: u16, remote: &str) -> Command {
        self.ssh_to_listener_with(port, &[], remote)
    }

    /// [`Harness::ssh_to_listener`] with more ssh options.
    pub fn ssh_to_listener_with(&self, port: u16, extra: &[&str], remote: &str) -> Command {
        let mut cmd = Command::new("ssh");
        self.isolate(&mut cmd);
        let mut opts = self.ssh_options();
        opts.truncate(opts.len() - 2); // no ProxyCommand
        cmd.args(opts)
            .args(extra)
            .args([
                "-o",
                &format!("HostKeyAlias={BASTION}"),
                "-p",
                &port.to_string(),
            ])
            .arg(format!("{}@127.0.0.1", self.user))
            .arg(remote);
        cmd
    }
}

/// A loopback echo server on the "instance" (sshd's machine), for as long as the test runs.
pub fn echo_server() -> u16 {
    let server = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = server.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for client in server.incoming().flatten() {
            std::thread::spawn(move || {
                let mut reader = client.try_clone().unwrap();
                let mut writer = client;
                let _ = std::io::copy(&mut reader, &mut writer);
            });
        }
    });
    port
}

/// Every `.rs` file under `dir`, for tests that read the sources themselves.
pub fn rust_sources(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(rust_sources(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
    out
}

/// Whether the tests run on CI (`CI` set and not `false`/`0`), where `.ci/run` and
/// scripts/test.sh install everything a test needs: there, nothing may be skipped.
pub fn on_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0")
}

/// A part of a test that cannot run on this machine (`reason` says why and how to get it):
/// fails on CI, which must provide it; elsewhere prints `skipped: REASON` and goes on.
#[track_caller]
pub fn skip_or_fail(reason: &str) {
    assert!(
        !on_ci(),
        "{reason}: CI must provide it (.ci/run runs scripts/test.sh, which installs it)"
    );
    eprintln!("skipped: {reason}");
}

/// Why this machine cannot have the `::1` loopback whatever is installed, if it cannot: a
/// kernel without IPv6 (no `/proc/net/if_inet6`), or IPv6 switched off on the loopback
/// interface by whoever runs the machine (`net.ipv6.conf.lo.disable_ipv6 = 1`, as in
/// containers started without IPv6).
pub fn no_ipv6_here() -> Option<&'static str> {
    if !cfg!(target_os = "linux") {
        return None;
    }
    if !Path::new("/proc/net/if_inet6").exists() {
        return Some("this kernel has no IPv6 (no /proc/net/if_inet6)");
    }
    let off = std::fs::read_to_string("/proc/sys/net/ipv6/conf/lo/disable_ipv6")
        .is_ok_and(|v| v.trim() == "1");
    off.then_some(
        "IPv6 is switched off on the loopback interface (net.ipv6.conf.lo.disable_ipv6 = 1)",
    )
}

/// For a test that needs the `::1` loopback it did not get: skipped with the reason when
/// the machine cannot have it ([`no_ipv6_here`]), else [`skip_or_fail`]: a machine with
/// IPv6 on its loopback must give `::1` to the emulator.
#[track_caller]
pub fn no_ipv6_loopback() {
    match no_ipv6_here() {
        Some(why) => eprintln!("skipped: no ::1 loopback: {why}"),
        None => skip_or_fail(
            "the emulator got no ::1 loopback although IPv6 is on (ip addr add ::1/128 dev lo)",
        ),
    }
}

/// The three signals that stop a command cleanly, each with the exit status it then has
/// (128 + its number) and its name as `kill` takes it.
pub const STOP_SIGNALS: [(&str, i32); 3] = [("INT", 130), ("TERM", 143), ("HUP", 129)];

/// Sends `signal` (`HUP`, `INT`, `TERM`) to process `pid`, as `kill -SIGNAL PID` does.
pub fn send_signal(signal: &str, pid: u32) {
    let status = Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(pid.to_string())
        .status()
        .unwrap();
    assert!(status.success(), "kill -{signal} {pid}");
}

/// A remote command that runs until it is signalled, unique to this test process and
/// `n`: `exec sleep …`, so that the instance's command is the sleep itself.
pub fn sleeper(n: usize) -> String {
    format!("sleep {}.{}", 900 + n, std::process::id())
}

/// The ids of the processes on this machine whose command line holds `pattern` (the
/// emulator's sshd runs the "instance's" commands here).
fn processes(pattern: &str) -> Vec<u32> {
    let out = Command::new("pgrep")
        .args(["-f", pattern])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .filter_map(|p| p.parse().ok())
        .collect()
}

/// Waits until the instance's `sleeper` command was passed a signal: it has ended, or
/// sshd logged `requests` signal requests in all (sshd refuses to signal the session of a
/// root login, which keeps no privilege separation: the tests' sshd logs in its own user).
/// Ends what is left of it afterwards.
pub fn remote_signalled(h: &Harness, sleeper: &str, requests: usize) -> bool {
    let log = &h.sim.sshd().unwrap().log;
    let signalled = eventually(LIMIT, || {
        processes(sleeper).is_empty()
            || std::fs::read_to_string(log)
                .unwrap_or_default()
                .matches("session_signal_req")
                .count()
                >= requests
    });
    for pid in processes(sleeper) {
        let _ = Command::new("kill").arg(pid.to_string()).status();
    }
    signalled
}

/// The connection log's entries (`eic-ssh log` reads the same file).
pub fn log_entries(h: &Harness) -> Vec<serde_json::Value> {
    std::fs::read_to_string(h.dir.path().join(".local/state/eic-ssh/log.jsonl"))
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}
