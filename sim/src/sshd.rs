//! A real OpenSSH sshd on a loopback port that lets in only keys pushed in the last 60 seconds,
//! each for the instance and OS user it was pushed for.

use std::io::Write;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use time::OffsetDateTime;
use time::macros::format_description;

/// A running sshd; killed and reaped on drop.
pub struct Sshd {
    /// Loopback port it listens on.
    pub port: u16,
    /// Host public key line (`ssh-ed25519 AAAA…`).
    pub host_public_key: String,
    /// Its log file.
    pub log: PathBuf,
    keys_dir: PathBuf,
    child: Mutex<Child>,
    write_lock: Mutex<()>,
}

/// The sshd binary: `EIC_SIM_SSHD` or `/usr/sbin/sshd`.
fn sshd_binary() -> PathBuf {
    std::env::var_os("EIC_SIM_SSHD")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/sbin/sshd"))
}

impl Sshd {
    /// Generates a host key and config under `dir` and starts sshd in the foreground, with
    /// `sftp` as its SFTP subsystem command.
    pub fn start(dir: &Path, sftp: &str) -> Result<Sshd, String> {
        let sshd = sshd_binary();
        if !sshd.exists() {
            return Err(format!(
                "{} not found: install OpenSSH's server (apt-get install openssh-server) or set EIC_SIM_SSHD",
                sshd.display()
            ));
        }
        let keys_dir = dir.join("authorized_keys");
        std::fs::create_dir_all(&keys_dir)
            .map_err(|e| format!("cannot create {}: {e}", keys_dir.display()))?;
        let host_key = dir.join("ssh_host_ed25519_key");
        if !host_key.exists() {
            let status = Command::new("ssh-keygen")
                .args(["-q", "-t", "ed25519", "-N", "", "-C", "eic-sim-host", "-f"])
                .arg(&host_key)
                .status()
                .map_err(|e| format!("cannot run ssh-keygen: {e}"))?;
            if !status.success() {
                return Err("ssh-keygen failed to make a host key".into());
            }
        }
        let host_public_key = std::fs::read_to_string(host_key.with_extension("pub"))
            .map_err(|e| format!("cannot read the host public key: {e}"))?
            .trim()
            .to_string();
        if is_root() {
            // Privilege separation needs this directory when sshd runs as root.
            let _ = std::fs::create_dir_all("/run/sshd");
        }
        let port = free_port()?;
        let config = dir.join("sshd_config");
        let log = dir.join("sshd.log");
        std::fs::write(&config, config_text(port, &host_key, &keys_dir, dir, sftp))
            .map_err(|e| format!("cannot write {}: {e}", config.display()))?;
        let log_file = std::fs::File::create(&log)
            .map_err(|e| format!("cannot create {}: {e}", log.display()))?;
        let child = Command::new(&sshd)
            .args(["-D", "-e", "-f"])
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log_file)
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", sshd.display()))?;
        let me = Sshd {
            port,
            host_public_key,
            log,
            keys_dir,
            child: Mutex::new(child),
            write_lock: Mutex::new(()),
        };
        me.wait_listening()?;
        Ok(me)
    }

    fn wait_listening(&self) -> Result<(), String> {
        let deadline = Instant::now() + Duration::from_secs(10);
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, self.port));
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.lock().unwrap().try_wait() {
                let log = std::fs::read_to_string(&self.log).unwrap_or_default();
                return Err(format!("sshd exited ({status}): {}", log.trim()));
            }
            if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Err("sshd did not start listening within 10 s".into())
    }

    /// Lets `key` (one OpenSSH public key line) log in as `user` on `instance` for `ttl`;
    /// drops expired keys. One sshd stands in for every instance: a connection to
    /// `instance` comes from its own loopback address ([`instance_address`]), and the key's
    /// `from=` option admits only that one, as the service puts a key on one instance only.
    pub fn authorize(
        &self,
        instance: &str,
        user: &str,
        key: &str,
        ttl: Duration,
    ) -> Result<(), String> {
        if !valid_user(user) {
            return Err(format!("invalid user name {user:?}"));
        }
        let _guard = self.write_lock.lock().unwrap();
        let now = OffsetDateTime::now_utc();
        let format = format_description!("[year][month][day][hour][minute][second]");
        let path = self.keys_dir.join(user);
        let mut lines: Vec<String> = std::fs::read_to_string(&path)
            .unwrap_or_default()
            .lines()
            .filter(|line| {
                expiry_of(line).is_some_and(|t| t > now.format(format).unwrap_or_default())
            })
            .map(str::to_string)
            .collect();
        // sshd accepts a key through the whole second named by expiry-time, so the last
        // second that counts is now + ttl - 1: a TTL of 0 is already expired.
        let until = (now + ttl - Duration::from_secs(1))
            .format(format)
            .map_err(|e| e.to_string())?;
        let from = instance_address(instance);
        lines.push(format!("expiry-time=\"{until}Z\",from=\"{from}\" {key}"));
        let tmp = path.with_extension("tmp");
        let mut f = std::fs::File::create(&tmp).map_err(|e| e.to_string())?;
        writeln!(f, "{}", lines.join("\n")).map_err(|e| e.to_string())?;
        std::fs::rename(&tmp, &path).map_err(|e| e.to_string())
    }
}

impl Sshd {
    /// Kills sshd and reaps it (idempotent).
    pub fn stop(&self) {
        let mut child = self.child.lock().unwrap();
        let _ = child.kill();
        let _ = child.wait();
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The loopback address connections to `instance` come from: `127.X.Y.Z` from a hash of
/// its id (never `127.0.0.1`, where anything else on the machine connects from). Linux
/// routes all of 127/8 to the loopback interface.
pub fn instance_address(instance: &str) -> IpAddr {
    use sha2::{Digest, Sha256};
    let h = Sha256::digest(instance.as_bytes());
    let x = h[0].max(1);
    IpAddr::V4(Ipv4Addr::new(127, x, h[1], h[2].clamp(1, 254)))
}

fn expiry_of(line: &str) -> Option<String> {
    let rest = line.strip_prefix("expiry-time=\"")?;
    Some(rest.split('Z').next()?.to_string())
}

fn valid_user(user: &str) -> bool {
    let mut chars = user.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && user.len() <= 32
        && chars.all(|c| {
            c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-' || c == '.'
        })
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// The login name of the user running the emulator: the only one a non-root sshd can log in.
pub fn current_user() -> String {
    Command::new("id")
        .arg("-un")
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| "root".into())
}

fn free_port() -> Result<u16, String> {
    let l =
        TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).map_err(|e| format!("no free port: {e}"))?;
    l.local_addr().map(|a| a.port()).map_err(|e| e.to_string())
}

fn config_text(port: u16, host_key: &Path, keys_dir: &Path, dir: &Path, sftp: &str) -> String {
    format!(
        "# Written by eic-sim: a real sshd standing in for the instance.
Port {port}
ListenAddress 127.0.0.1
HostKey {host_key}
PidFile {pid}
AuthorizedKeysFile {keys}/%u
AuthenticationMethods publickey
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
PermitRootLogin prohibit-password
MaxStartups 200:30:400
MaxSessions 100
Subsystem sftp {sftp}
PrintMotd no
LogLevel VERBOSE
",
        host_key = host_key.display(),
        pid = dir.join("sshd.pid").display(),
        keys = keys_dir.display(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_names() {
        assert!(valid_user("ec2-user") && valid_user("root") && valid_user("_svc"));
        assert!(!valid_user("../etc") && !valid_user("") && !valid_user("Root"));
    }

    #[test]
    fn each_instance_has_its_own_loopback_address() {
        let a = instance_address("i-0123456789abcdef0");
        let b = instance_address("i-0aaaaaaaaaaaaaaa1");
        assert_ne!(a, b);
        assert!(a.is_loopback() && b.is_loopback());
        assert_ne!(a, IpAddr::V4(Ipv4Addr::LOCALHOST));
        assert_eq!(a, instance_address("i-0123456789abcdef0"));
    }

    #[test]
    fn expiry_is_read() {
        assert_eq!(
            expiry_of("expiry-time=\"20260101000000Z\" ssh-ed25519 AAAA").as_deref(),
            Some("20260101000000")
        );
        assert_eq!(expiry_of("ssh-ed25519 AAAA"), None);
    }
}
