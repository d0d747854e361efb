//! Every fault the emulator can inject × every front end: each cell ends (a cell still
//! running at [`CELL`] fails as hung) with the documented exit code and a message that names
//! what ended it (keepalives for a stall, the handshake timeout's phase); no file is left
//! under its final name incomplete, and `--resume` completes what was cut. How long a cell
//! takes is not asserted here: durations belong in benchmarks.

use crate::common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use common::*;
use eic_ssh_sim::{Faults, Refusal};

/// Bytes relayed before a mid-stream fault fires; the files are larger.
const AFTER: u64 = 256 << 10;
/// The payload: big enough that every mid-stream fault hits during the transfer.
const SIZE: usize = 2 << 20;
/// Keepalives that notice a stalled tunnel within a few seconds.
const ALIVE: [&str; 4] = [
    "--server-alive-interval",
    "1",
    "--server-alive-count-max",
    "2",
];
/// A cell still running after this is hung: it is killed and the test fails.
const CELL: Duration = Duration::from_secs(45);

#[derive(Debug, Clone, Copy, PartialEq)]
enum Fault {
    Refuse,
    Unreachable,
    Close,
    Drop,
    Stall,
}

const FAULTS: [Fault; 5] = [
    Fault::Refuse,
    Fault::Unreachable,
    Fault::Close,
    Fault::Drop,
    Fault::Stall,
];

impl Fault {
    fn inject(self, h: &Harness) {
        let mut f = Faults::default();
        match self {
            Fault::Refuse => {
                f.refuse = Some(Refusal {
                    status: 503,
                    code: "ServiceUnavailable".into(),
                    message: "The service is unavailable. Try again later.".into(),
                })
            }
            Fault::Unreachable => f.target_unreachable = true,
            Fault::Close => f.close_after_bytes = Some(AFTER),
            Fault::Drop => f.drop_after_bytes = Some(AFTER),
            Fault::Stall => f.stall_after_bytes = Some(AFTER),
        }
        h.sim.set_faults(f);
    }

    /// What the user is told, in part: the endpoint's own words where it gave any.
    fn says(self) -> &'static str {
        match self {
            Fault::Refuse => "The service is unavailable",
            Fault::Unreachable => "Unable to connect to target",
            Fault::Close => "Internal error (code 1011)",
            Fault::Drop => "the connection to the instance was lost",
            Fault::Stall => "stopped answering keepalives",
        }
    }

    /// The same for the session, which names the tunnel's end as the proxy does.
    fn session_says(self) -> &'static str {
        match self {
            Fault::Drop => "the tunnel broke: the endpoint's connection was cut without a close",
            other => other.says(),
        }
    }

    /// Whether the fault fires before any byte moves (nothing to resume).
    fn at_start(self) -> bool {
        matches!(self, Fault::Refuse | Fault::Unreachable)
    }
}

/// Runs one cell (killed and failed as hung at [`CELL`]); no message may say the same
/// thing twice.
fn cell(cmd: &mut Command) -> Output {
    let out = run(cmd, CELL);
    let err = stderr(&out);
    assert!(
        !err.contains("the tunnel broke: the tunnel broke")
            && !err.contains("lost: the connection"),
        "a message repeats itself: {err}"
    );
    out
}

fn cp(h: &Harness, args: &[&str]) -> Command {
    let mut cmd = h.eic_ssh();
    cmd.env("EIC_SSH_KNOWN_HOSTS", &h.known_hosts)
        .arg("cp")
        .args(ALIVE)
        .args(args);
    cmd
}

fn remote(h: &Harness, path: &Path) -> String {
    format!("{}@{BASTION}:{}", h.user, path.display())
}

fn part(path: &Path) -> PathBuf {
    let name = path.file_name().unwrap().to_string_lossy();
    path.with_file_name(format!(".{name}.eic-ssh.part"))
}

#[test]
fn cp_down_under_every_fault() {
    cp_under_every_fault(Direction::Down);
}

#[test]
fn cp_up_under_every_fault() {
    cp_under_every_fault(Direction::Up);
}

#[derive(Debug, Clone, Copy)]
enum Direction {
    Up,
    Down,
}

/// Each fault cuts one copy: the documented code and reason, no file under its final name,
/// the part file kept, and `--resume` completing it once the fault is gone.
fn cp_under_every_fault(way: Direction) {
    let h = Harness::new();
    let src = h.random_file("payload.bin", SIZE);
    for fault in FAULTS {
        let dest = h.dir.path().join(format!("{way:?}-{fault:?}"));
        std::fs::create_dir(&dest).unwrap();
        let final_name = dest.join("payload.bin");
        let operands = |resume: bool| -> Vec<String> {
            let (from, to) = match way {
                Direction::Down => (remote(&h, &src), dest.display().to_string()),
                Direction::Up => (src.display().to_string(), remote(&h, &dest)),
            };
            let flag = resume.then(|| "--resume".to_string());
            flag.into_iter().chain([from, to]).collect()
        };
        fault.inject(&h);
        let first = operands(false);
        let first: Vec<&str> = first.iter().map(String::as_str).collect();
        let out = cell(&mut cp(&h, &first));
        eprintln!("cp {way:?}, {fault:?}: {}", stderr(&out));
        let code = if fault == Fault::Refuse { 6 } else { 7 };
        assert_fails(&out, code, fault.says());
        assert!(
            !final_name.exists(),
            "{fault:?}: an incomplete file under its final name"
        );
        h.sim.set_faults(Faults::default());
        if !fault.at_start() {
            assert!(part(&final_name).exists(), "{fault:?}: the part file stays");
            let again = operands(true);
            let again: Vec<&str> = again.iter().map(String::as_str).collect();
            let out = run(&mut cp(&h, &again), LIMIT);
            assert!(out.status.success(), "{fault:?} resume: {}", stderr(&out));
            assert_eq!(sha256(&final_name), sha256(&src), "{fault:?}");
        }
    }
}

#[test]
fn the_session_under_every_fault() {
    let h = Harness::new();
    let src = h.random_file("cat.bin", SIZE);
    for fault in FAULTS {
        fault.inject(&h);
        let mut cmd = h.eic_ssh();
        cmd.env("EIC_SSH_KNOWN_HOSTS", &h.known_hosts)
            .arg(format!("{}@{BASTION}", h.user))
            .args(ALIVE)
            .args(["--", "cat", src.to_str().unwrap()]);
        let out = cell(&mut cmd);
        eprintln!("session, {fault:?}: {}", stderr(&out));
        // The session keeps every code below 255 for the remote command.
        assert_fails(&out, 255, fault.session_says());
        assert!(
            out.stdout.len() < SIZE,
            "{fault:?}: the whole file came through"
        );
    }
}

/// OpenSSH's ssh through `eic-ssh proxy`, or through a listener on `port`, with keepalives.
fn ssh_cat(h: &Harness, src: &Path, listener: Option<u16>) -> Command {
    let remote = format!("cat {}", src.display());
    let alive = ["-o", "ServerAliveInterval=1", "-o", "ServerAliveCountMax=2"];
    match listener {
        Some(port) => h.ssh_to_listener_with(port, &alive, &remote),
        None => {
            let mut cmd = Command::new("ssh");
            h.isolate(&mut cmd);
            cmd.args(h.ssh_options())
                .args(alive)
                .arg(format!("{}@{BASTION}", h.user))
                .arg(remote);
            cmd
        }
    }
}

#[test]
fn the_proxy_under_every_fault() {
    let h = Harness::new();
    let src = h.random_file("cat.bin", SIZE);
    for fault in FAULTS {
        fault.inject(&h);
        let out = cell(&mut ssh_cat(&h, &src, None));
        eprintln!("proxy, {fault:?}: {}", stderr(&out));
        assert_eq!(out.status.code(), Some(255), "{fault:?}: ssh's code");
        assert!(
            out.stdout.len() < SIZE,
            "{fault:?}: the whole file came through"
        );
        if fault != Fault::Stall {
            // The proxy's own line reaches ssh's stderr.
            assert!(
                stderr(&out).contains("eic-ssh: "),
                "{fault:?}: {}",
                stderr(&out)
            );
        }
        // Run directly, the proxy's own code is the documented one.
        if fault.at_start() {
            let mut cmd = h.eic_ssh();
            cmd.args(["proxy", BASTION]);
            let out = run(&mut cmd, CELL);
            let code = if fault == Fault::Refuse { 6 } else { 7 };
            assert_fails(&out, code, fault.says());
        }
    }
}

#[test]
fn the_listener_under_every_fault_keeps_listening() {
    let h = Harness::new();
    let src = h.random_file("cat.bin", SIZE);
    let mut listener = Listener::tunnel(&h);
    let port = listener.port;
    for fault in FAULTS {
        fault.inject(&h);
        let out = cell(&mut ssh_cat(&h, &src, Some(port)));
        assert_eq!(out.status.code(), Some(255), "{fault:?}: {}", stderr(&out));
        assert!(listener.running(), "{fault:?}: the listener died");
        h.sim.set_faults(Faults::default());
        let out = run(&mut ssh_cat(&h, &src, Some(port)), LIMIT);
        assert!(out.status.success(), "{fault:?}, after: {}", stderr(&out));
        assert_eq!(out.stdout.len(), SIZE);
    }
}

/// Where a tunnel stalls inside the SSH handshake, before keepalives count.
#[derive(Debug, Clone, Copy)]
enum HandshakeStall {
    /// The host key arrives, the key exchange never completes.
    AfterHostKey,
    /// The key exchange completes, authentication is never answered.
    AfterKeyExchange,
}

impl HandshakeStall {
    fn inject(self, h: &Harness) {
        h.sim.set_faults(Faults {
            stall_after_host_key: matches!(self, HandshakeStall::AfterHostKey),
            stall_after_key_exchange: matches!(self, HandshakeStall::AfterKeyExchange),
            ..Faults::default()
        });
    }

    /// The phase the one line names.
    fn phase(self) -> &'static str {
        match self {
            HandshakeStall::AfterHostKey => "the SSH key exchange did not complete within 3 s",
            HandshakeStall::AfterKeyExchange => "authentication did not complete within 3 s",
        }
    }
}

/// A short handshake bound, so a stall shows within seconds.
const HANDSHAKE: [&str; 2] = ["--handshake-timeout", "3"];

#[test]
fn a_stall_after_the_host_key_ends_at_the_handshake_timeout() {
    handshake_stall_cells(HandshakeStall::AfterHostKey);
}

#[test]
fn a_stall_in_authentication_ends_at_the_handshake_timeout() {
    handshake_stall_cells(HandshakeStall::AfterKeyExchange);
}

/// The session, `cp` and OpenSSH through the proxy, with the tunnel stalled at `stall`.
fn handshake_stall_cells(stall: HandshakeStall) {
    let h = Harness::new();
    let src = h.random_file("small.bin", 1000);
    stall.inject(&h);
    let mut session = h.eic_ssh();
    session
        .env("EIC_SSH_KNOWN_HOSTS", &h.known_hosts)
        .arg(format!("{}@{BASTION}", h.user))
        .args(ALIVE)
        .args(HANDSHAKE)
        .args(["--", "true"]);
    let out = cell(&mut session);
    eprintln!("session, {stall:?}: {}", stderr(&out));
    assert_fails(&out, 255, stall.phase());

    let dest = h.dir.path().join(format!("{stall:?}"));
    std::fs::create_dir(&dest).unwrap();
    let mut args = HANDSHAKE.to_vec();
    let from = remote(&h, &src);
    let to = dest.display().to_string();
    args.extend([from.as_str(), to.as_str()]);
    let out = cell(&mut cp(&h, &args));
    eprintln!("cp, {stall:?}: {}", stderr(&out));
    assert_fails(&out, 255, stall.phase());
    assert!(!dest.join("small.bin").exists());

    // OpenSSH through the proxy: the proxy is a byte pipe, ssh's own keepalives bound
    // its handshake; the cell only checks that it ends.
    let out = cell(&mut ssh_cat(&h, &src, None));
    eprintln!("proxy, {stall:?}: {}", stderr(&out));
    assert_eq!(out.status.code(), Some(255), "{stall:?}: ssh's code");
}
