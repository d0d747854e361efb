//! eic-sim: a local, faithful EC2 Instance Connect Endpoint emulator for eic-ssh's tests,
//! benchmarks and demo. It verifies SigV4 like the service, enforces the service's limits,
//! evaluates security groups, and puts a real OpenSSH sshd behind the tunnel.

pub mod auth;
pub mod certs;
pub mod checkip;
pub mod cloudtrail_api;
pub mod ec2_api;
pub mod eic_api;
pub mod events;
pub mod firewall;
pub mod handshake;
pub mod iam_api;
pub mod latency;
pub mod open_tunnel;
pub mod server;
pub mod sigv4;
pub mod sshd;
pub mod sts_api;
pub mod trail;
pub mod world;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use events::Events;
pub use sshd::Sshd;
pub use trail::TrailEvent;
pub use world::World;

/// Misbehaviour to inject into tunnels opened from now on.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Faults {
    /// Answer every openTunnel handshake with this HTTP error.
    pub refuse: Option<Refusal>,
    /// After this many bytes relayed (both directions), close with 1011 "Internal error".
    pub close_after_bytes: Option<u64>,
    /// After this many bytes relayed, drop the connection without a close frame.
    pub drop_after_bytes: Option<u64>,
    /// After this many bytes relayed, stop relaying (hang).
    pub stall_after_bytes: Option<u64>,
    /// Act as if the instance does not answer: close with "Unable to connect to target".
    pub target_unreachable: bool,
    /// Stop relaying once the server's host key has passed: its `NEWKEYS` (and everything
    /// after) never reaches the client, so the key exchange never completes.
    pub stall_after_host_key: bool,
    /// Stop relaying right after the key exchange: each side's `NEWKEYS` passes, nothing
    /// after it does (the client is left waiting in authentication).
    pub stall_after_key_exchange: bool,
    /// Relay to this loopback port instead of the instance's sshd: a hostile SSH server
    /// that a test runs stands in for the instance (security groups still apply).
    pub target_port: Option<u16>,
}

/// An HTTP error answer for the openTunnel handshake.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Refusal {
    /// HTTP status.
    pub status: u16,
    /// `ErrorCode` of the JSON body.
    pub code: String,
    /// `Message` of the JSON body.
    pub message: String,
}

/// Shared state of a running emulator.
pub struct State {
    /// The simulated account; mutable so tests can change it between runs.
    pub world: RwLock<World>,
    /// What happened.
    pub events: Events,
    /// Injected faults.
    pub faults: Mutex<Faults>,
    /// The instance's sshd; `None` when started without one.
    pub sshd: Option<Sshd>,
    /// Open tunnels per endpoint id.
    pub active: Mutex<std::collections::HashMap<String, usize>>,
    /// CloudTrail's event history of Instance Connect calls.
    pub trail: trail::Trail,
    /// LookupEvents calls let through in the last second, per region.
    pub lookup_rate: cloudtrail_api::Rate,
}

/// How to start the emulator.
pub struct Options {
    /// The account to simulate.
    pub world: World,
    /// Directory for the CA, sshd files and logs.
    pub dir: PathBuf,
    /// Address to listen on (loopback).
    pub bind: IpAddr,
    /// Port (0: any free one).
    pub port: u16,
    /// Start a real sshd behind the tunnel.
    pub with_sshd: bool,
    /// Also write events as JSON lines to this file.
    pub event_log: Option<PathBuf>,
    /// sshd's `Subsystem sftp` command; `internal-sftp` when `None`. Tests put a lying
    /// SFTP server here.
    pub sftp_server: Option<String>,
    /// Round-trip time between the client and "AWS" (`--rtt`): every connection to the
    /// listening port is held RTT/2 each way plus the TCP handshake (`latency`), each
    /// service gets its own port (`Hosts`), and a public bastion (sshd behind the same
    /// delay) listens too. `None`: one port, no delay, no bastion; `Some(ZERO)`: the same
    /// ports and relays without delay, the baseline of a count.
    pub rtt: Option<Duration>,
}

impl Options {
    /// Loopback, any port, with sshd, files under `dir`.
    pub fn new(world: World, dir: impl Into<PathBuf>) -> Self {
        Options {
            world,
            dir: dir.into(),
            bind: IpAddr::V4(Ipv4Addr::LOCALHOST),
            port: 0,
            with_sshd: true,
            event_log: None,
            sftp_server: None,
            rtt: None,
        }
    }
}

/// Where a client reaches each service. Every port answers every request (the routing is
/// by path and signature, as on the one port); the ports differ only so that a client
/// opens a connection per service, as it must at AWS.
#[derive(Debug, Clone, Copy)]
pub struct Hosts {
    /// The EC2 Query API (and the port `Options::port` names).
    pub ec2: SocketAddr,
    /// The EC2 Instance Connect API (SendSSHPublicKey).
    pub instance_connect: SocketAddr,
    /// STS.
    pub sts: SocketAddr,
    /// The endpoint's openTunnel WebSocket.
    pub tunnel: SocketAddr,
    /// checkip.
    pub checkip: SocketAddr,
    /// CloudTrail (LookupEvents).
    pub cloudtrail: SocketAddr,
}

impl Hosts {
    /// Every service at one address.
    fn all_at(addr: SocketAddr) -> Hosts {
        Hosts {
            ec2: addr,
            instance_connect: addr,
            sts: addr,
            tunnel: addr,
            checkip: addr,
            cloudtrail: addr,
        }
    }
}

/// A running emulator with its own runtime; stops (and kills sshd) on drop.
pub struct Sim {
    /// Where the APIs and openTunnel listen (HTTPS).
    pub addr: SocketAddr,
    /// Where each service is reached: all at `addr`, or each on its own port with `rtt`.
    pub hosts: Hosts,
    /// PEM of the CA that signed the server certificate.
    pub ca_path: PathBuf,
    /// The public bastion (sshd behind the `rtt` delay), when `Options::rtt` is set.
    pub bastion: Option<SocketAddr>,
    /// The simulated round-trip time, as started.
    pub rtt: Option<Duration>,
    /// The same services on the IPv6 loopback (`[::1]`), when this machine has it: a client
    /// reaches them over IPv6.
    pub addr_v6: Option<SocketAddr>,
    /// Shared state.
    pub state: Arc<State>,
    runtime: Option<tokio::runtime::Runtime>,
}

impl Sim {
    /// Starts the emulator in the background.
    pub fn start(options: Options) -> Result<Sim, String> {
        options.world.check()?;
        std::fs::create_dir_all(&options.dir)
            .map_err(|e| format!("cannot create {}: {e}", options.dir.display()))?;
        let ca_path = options.dir.join("ca.pem");
        let tls = certs::server_config(&ca_path, &options.world.region)?;
        let sshd = if options.with_sshd {
            let sftp = options.sftp_server.as_deref().unwrap_or("internal-sftp");
            Some(Sshd::start(&options.dir.join("sshd"), sftp)?)
        } else {
            None
        };
        let events = match &options.event_log {
            Some(path) => Events::to_file(path)
                .map_err(|e| format!("cannot create {}: {e}", path.display()))?,
            None => Events::default(),
        };
        let state = Arc::new(State {
            world: RwLock::new(options.world),
            events,
            faults: Mutex::default(),
            sshd,
            active: Mutex::default(),
            trail: trail::Trail::default(),
            lookup_rate: cloudtrail_api::Rate::default(),
        });
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .thread_name("eic-sim")
            .build()
            .map_err(|e| format!("cannot start a runtime: {e}"))?;
        let rtt = options.rtt;
        let serve = |port: u16, name: &'static str| -> Result<SocketAddr, String> {
            let listener = listen(options.bind, port)?;
            let addr = listener.local_addr().map_err(|e| e.to_string())?;
            let (tls, state) = (tls.clone(), state.clone());
            runtime.spawn(async move {
                match tokio::net::TcpListener::from_std(listener) {
                    Ok(listener) => server::serve(listener, tls, state, rtt, name).await,
                    Err(e) => eprintln!("eic-sim: cannot use the listener: {e}"),
                }
            });
            Ok(addr)
        };
        let addr = serve(options.port, "ec2")?;
        let addr_v6 = match options.bind {
            IpAddr::V4(v4) if v4.is_loopback() => {
                let listener = listen(IpAddr::V6(std::net::Ipv6Addr::LOCALHOST), 0).ok();
                listener.and_then(|listener| {
                    let addr = listener.local_addr().ok()?;
                    let (tls, state) = (tls.clone(), state.clone());
                    runtime.spawn(async move {
                        if let Ok(listener) = tokio::net::TcpListener::from_std(listener) {
                            server::serve(listener, tls, state, rtt, "ec2").await;
                        }
                    });
                    Some(addr)
                })
            }
            _ => None,
        };
        // At a distance, a connection to one service must not carry another's requests:
        // at AWS each is its own host, so each gets its own port (and connection pool).
        let hosts = match rtt {
            None => Hosts::all_at(addr),
            Some(_) => Hosts {
                ec2: addr,
                instance_connect: serve(0, "instance_connect")?,
                sts: serve(0, "sts")?,
                tunnel: serve(0, "tunnel")?,
                checkip: serve(0, "checkip")?,
                cloudtrail: serve(0, "cloudtrail")?,
            },
        };
        let bastion = match (rtt, &state.sshd) {
            (Some(rtt), Some(sshd)) => {
                let sshd_addr = SocketAddr::from((Ipv4Addr::LOCALHOST, sshd.port));
                let state = state.clone();
                let record = move |d| server::record_distance(&state, "bastion", d);
                Some(start_bastion(
                    &runtime,
                    options.bind,
                    sshd_addr,
                    rtt,
                    record,
                )?)
            }
            _ => None,
        };
        Ok(Sim {
            addr,
            hosts,
            ca_path,
            bastion,
            rtt,
            addr_v6,
            state,
            runtime: Some(runtime),
        })
    }

    /// URL of the emulator's checkip service over TLS, as `https://checkip.amazonaws.com` is.
    pub fn checkip_https_url(&self) -> String {
        format!("https://{}/checkip", self.hosts.checkip)
    }

    /// URL of the emulator's checkip service over IPv6 (answers `client_public_ipv6`).
    pub fn checkip_url_v6(&self) -> Option<String> {
        self.addr_v6.map(|a| format!("http://{a}/checkip"))
    }

    /// The tunnel's `wss://` URL over IPv6, for `EIC_SSH_TUNNEL_ENDPOINT_URL`.
    pub fn tunnel_url_v6(&self) -> Option<String> {
        self.addr_v6.map(|a| format!("wss://{a}"))
    }

    /// URL of the emulator's checkip service (answers the world's `client_public_ip`).
    pub fn checkip_url(&self) -> String {
        format!("http://{}/checkip", self.addr)
    }

    /// Base `https://` URL of the APIs.
    pub fn https_url(&self) -> String {
        format!("https://{}", self.addr)
    }

    /// Environment for an eic-ssh process that should talk to this emulator with the
    /// world's first credential. Also shuts off IMDS and the user's AWS files.
    pub fn client_env(&self) -> Vec<(String, String)> {
        let world = self.state.world.read().unwrap();
        let cred = &world.credentials[0];
        let mut env = vec![
            ("AWS_ACCESS_KEY_ID".to_string(), cred.access_key.clone()),
            ("AWS_SECRET_ACCESS_KEY".into(), cred.secret_key.clone()),
            ("AWS_REGION".into(), world.region.clone()),
            ("AWS_ENDPOINT_URL_EC2".into(), https(self.hosts.ec2)),
            (
                "AWS_ENDPOINT_URL_EC2_INSTANCE_CONNECT".into(),
                https(self.hosts.instance_connect),
            ),
            ("AWS_ENDPOINT_URL_STS".into(), https(self.hosts.sts)),
            ("AWS_ENDPOINT_URL_IAM".into(), https(self.hosts.sts)),
            (
                "AWS_ENDPOINT_URL_CLOUDTRAIL".into(),
                https(self.hosts.cloudtrail),
            ),
            (
                "EIC_SSH_TUNNEL_ENDPOINT_URL".into(),
                format!("wss://{}", self.hosts.tunnel),
            ),
            ("AWS_CA_BUNDLE".into(), self.ca_path.display().to_string()),
            ("AWS_EC2_METADATA_DISABLED".into(), "true".into()),
            ("AWS_CONFIG_FILE".into(), self.empty_file("aws-config")),
            (
                "AWS_SHARED_CREDENTIALS_FILE".into(),
                self.empty_file("aws-credentials"),
            ),
        ];
        if let Some(token) = &cred.session_token {
            env.push(("AWS_SESSION_TOKEN".into(), token.clone()));
        }
        env
    }

    /// An empty file next to the CA (so the AWS SDK reads no user profile).
    fn empty_file(&self, name: &str) -> String {
        let path = self.ca_path.with_file_name(name);
        if !path.exists() {
            let _ = std::fs::write(&path, "");
        }
        path.display().to_string()
    }

    /// Every event so far.
    pub fn events(&self) -> Vec<serde_json::Value> {
        self.state.events.all()
    }

    /// Events of one kind.
    pub fn events_of(&self, kind: &str) -> Vec<serde_json::Value> {
        self.state.events.of(kind)
    }

    /// Adds events to CloudTrail's history, as if AWS had recorded them.
    pub fn seed_trail(&self, events: impl IntoIterator<Item = TrailEvent>) {
        for event in events {
            self.state.trail.record(event);
        }
    }

    /// CloudTrail's history so far (seeded and recorded), in the order it was kept.
    pub fn trail(&self) -> Vec<TrailEvent> {
        self.state.trail.all()
    }

    /// Replaces the injected faults.
    pub fn set_faults(&self, faults: Faults) {
        *self.state.faults.lock().unwrap() = faults;
    }

    /// Changes the simulated account; a change AWS would refuse panics (`World::check`).
    pub fn update_world(&self, change: impl FnOnce(&mut World)) {
        let mut world = self.state.world.write().unwrap();
        change(&mut world);
        if let Err(e) = world.check() {
            panic!("AWS would refuse this world: {e}");
        }
    }

    /// The sshd behind the tunnel.
    pub fn sshd(&self) -> Option<&Sshd> {
        self.state.sshd.as_ref()
    }

    /// Blocks until SIGINT or SIGTERM (for the binary), so sshd is always reaped. On
    /// SIGHUP the world is read again from `world_file`, when there is one: the account
    /// changes under running clients, as [`Sim::update_world`] changes it in tests
    /// (event `world_changed`, or `world_refused` with the reason, the old world kept).
    pub fn wait_for_signal(&self, world_file: Option<&std::path::Path>) {
        use tokio::signal::unix::{SignalKind, signal};
        if let Some(rt) = &self.runtime {
            rt.block_on(async {
                let mut term = signal(SignalKind::terminate()).ok();
                let term = async {
                    match term.as_mut() {
                        Some(t) => t.recv().await,
                        None => std::future::pending().await,
                    }
                };
                let mut hangup = signal(SignalKind::hangup()).ok();
                let reloads = async {
                    loop {
                        match hangup.as_mut() {
                            Some(h) => h.recv().await,
                            None => std::future::pending().await,
                        };
                        if let Some(path) = world_file {
                            self.reload_world(path);
                        }
                    }
                };
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term => {}
                    () = reloads => {}
                }
            });
        }
    }

    /// Replaces the world with the one in `path`, if AWS would accept it.
    fn reload_world(&self, path: &std::path::Path) {
        let file = path.display().to_string();
        let loaded = std::fs::read_to_string(path)
            .map_err(|e| e.to_string())
            .and_then(|text| World::from_json(&text));
        match loaded {
            Ok(world) => {
                *self.state.world.write().unwrap() = world;
                self.state
                    .events
                    .record("world_changed", serde_json::json!({"file": file}));
            }
            Err(why) => self.state.events.record(
                "world_refused",
                serde_json::json!({"file": file, "why": why}),
            ),
        }
    }
}

/// `https://ADDR`.
fn https(addr: SocketAddr) -> String {
    format!("https://{addr}")
}

/// A std listener, so starting works from inside another runtime (async tests) too.
fn listen(bind: IpAddr, port: u16) -> Result<std::net::TcpListener, String> {
    std::net::TcpListener::bind((bind, port))
        .and_then(|l| l.set_nonblocking(true).map(|()| l))
        .map_err(|e| format!("cannot listen on {bind}:{port}: {e}"))
}

/// Listens for the public bastion on `bind` and forwards to sshd across the simulated network.
fn start_bastion(
    runtime: &tokio::runtime::Runtime,
    bind: IpAddr,
    sshd: SocketAddr,
    rtt: Duration,
    record: impl Fn(latency::Distance) + Clone + Send + 'static,
) -> Result<SocketAddr, String> {
    let listener = listen(bind, 0)?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    runtime.spawn(async move {
        match tokio::net::TcpListener::from_std(listener) {
            Ok(listener) => latency::forward(listener, sshd, rtt, record).await,
            Err(e) => eprintln!("eic-sim: cannot use the bastion listener: {e}"),
        }
    });
    Ok(addr)
}

impl Drop for Sim {
    fn drop(&mut self) {
        // Tasks may still hold the state; sshd must not outlive the emulator.
        if let Some(sshd) = &self.state.sshd {
            sshd.stop();
        }
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}
