//! `eic-sim --world FILE` reads the file again on SIGHUP: the account changes under running
//! clients (the demo's laptop leaving the office), and a world AWS would refuse is not taken.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use eic_ssh_sim::World;

/// The emulator binary, killed and reaped at drop, with its scratch directory removed.
struct Running {
    child: Child,
    dir: PathBuf,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Polls `check` until true or `limit` passes: the emulator here is another process, known
/// only by the files it writes, so nothing notifies us.
fn eventually(limit: Duration, mut check: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if check() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    check()
}

/// `GET /checkip` over plain HTTP: the address the emulator sees us at.
fn checkip(port: u16) -> String {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "GET /checkip HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut answer = String::new();
    let _ = s.read_to_string(&mut answer);
    answer
        .split("\r\n\r\n")
        .nth(1)
        .unwrap_or_default()
        .trim()
        .to_string()
}

/// The port in env.sh's `AWS_ENDPOINT_URL_EC2='https://127.0.0.1:PORT'`.
fn port(dir: &Path) -> u16 {
    let env = std::fs::read_to_string(dir.join("sim/env.sh")).unwrap();
    env.lines()
        .find_map(|l| l.strip_prefix("export AWS_ENDPOINT_URL_EC2='https://127.0.0.1:"))
        .and_then(|rest| rest.trim_end_matches('\'').parse().ok())
        .expect("the EC2 endpoint in env.sh")
}

fn events(dir: &Path, kind: &str) -> usize {
    std::fs::read_to_string(dir.join("sim/events.jsonl"))
        .unwrap_or_default()
        .lines()
        .filter(|l| l.contains(&format!("\"event\":\"{kind}\"")))
        .count()
}

fn hang_up(child: &Child) {
    let status = Command::new("kill")
        .args(["-HUP", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

#[test]
fn sighup_reads_the_world_again_and_keeps_it_when_aws_would_refuse_the_new_one() {
    let dir = std::env::temp_dir().join(format!("eic-sim-reload-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("world.json");
    let write = |world: &World| std::fs::write(&file, serde_json::to_string(world).unwrap());
    let mut world = World::demo_preserving();
    write(&world).unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_eic-sim"))
        .arg("--dir")
        .arg(dir.join("sim"))
        .arg("--world")
        .arg(&file)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let sim = Running { child, dir };
    assert!(eventually(Duration::from_secs(30), || sim
        .dir
        .join("sim/env.sh")
        .metadata()
        .is_ok_and(|m| m.len() > 0)));
    let port = port(&sim.dir);
    assert_eq!(checkip(port), "203.0.113.10", "in the office");

    // The laptop leaves the office.
    world.client_public_ip = Some("192.0.2.50".parse().unwrap());
    write(&world).unwrap();
    hang_up(&sim.child);
    assert!(eventually(Duration::from_secs(10), || events(
        &sim.dir,
        "world_changed"
    ) == 1));
    assert_eq!(checkip(port), "192.0.2.50");

    // A world AWS would refuse is not taken.
    world.endpoints[0].ip_address_type = "ipv5".into();
    world.client_public_ip = Some("198.51.100.1".parse().unwrap());
    write(&world).unwrap();
    hang_up(&sim.child);
    assert!(eventually(Duration::from_secs(10), || events(
        &sim.dir,
        "world_refused"
    ) == 1));
    assert_eq!(checkip(port), "192.0.2.50", "the old world stays");
}
