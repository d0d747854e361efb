//! `--rtt` holds every port the emulator serves at a distance, in whole round trips: a plain
//! request on a fresh connection costs 2, one over TLS 3, a tunnel 3 before its first byte,
//! the public bastion's banner 2. Each is checked twice: as the emulator counts it (its
//! `connection` event, independent of how busy the machine is) and as the time it took, a
//! lower bound only (a busy machine can add time, never take it away).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant, SystemTime};

use aws_credential_types::Credentials;
use eic_ssh::tunnel::connect::open;
use eic_ssh::tunnel::presign::presign;
use eic_ssh::tunnel::{TunnelEndpoint, TunnelRequest};
use eic_ssh_sim::{Options, Sim, World};
use tokio::io::AsyncReadExt;

const RTT: Duration = Duration::from_millis(100);

/// An emulator at `RTT` in a scratch directory removed at drop.
struct Far {
    sim: Sim,
    dir: std::path::PathBuf,
}

impl Far {
    fn new(rtt: Option<Duration>) -> Far {
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let dir = std::env::temp_dir().join(format!("eic-sim-rtt-{}-{n}", std::process::id()));
        let mut options = Options::new(World::demo(), dir.join("sim"));
        options.rtt = rtt;
        let sim = Sim::start(options).expect("emulator starts");
        Far { sim, dir }
    }
}

impl Drop for Far {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The round trips the emulator counted for the connections to `port`, once there are `n`.
fn counted(sim: &Sim, port: &str, n: usize) -> Vec<f64> {
    let of_port = || -> Vec<f64> {
        sim.events_of("connection")
            .iter()
            .filter(|e| e["port"] == port)
            .map(|e| e["round_trips"].as_f64().unwrap())
            .collect()
    };
    sim.until(Duration::from_secs(10), || of_port().len() >= n);
    of_port()
}

/// Sends one HTTP/1.1 GET on `tcp` (plain or TLS) and reads the whole answer; its body.
fn get(tcp: &mut (impl Read + Write), path: &str) -> String {
    write!(tcp, "GET {path} HTTP/1.1\r\nHost: checkip\r\n\r\n").unwrap();
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = tcp.read(&mut buf).unwrap();
        assert!(n > 0, "the connection closed mid-answer");
        seen.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&seen).into_owned();
        let Some((head, body)) = text.split_once("\r\n\r\n") else {
            continue;
        };
        let length: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length: "))
            .expect("a content-length")
            .parse()
            .unwrap();
        if body.len() >= length {
            return body.to_string();
        }
    }
}

#[test]
fn a_request_costs_two_round_trips_on_a_fresh_connection_and_one_on_a_kept_one() {
    let far = Far::new(Some(RTT));
    let start = Instant::now();
    let mut tcp = TcpStream::connect(far.sim.hosts.checkip).unwrap();
    tcp.set_nodelay(true).unwrap();
    assert_eq!(get(&mut tcp, "/checkip"), "127.0.0.1\n");
    let fresh = start.elapsed();
    drop(tcp);
    assert_eq!(counted(&far.sim, "checkip", 1), [2.0]);
    let mut tcp = TcpStream::connect(far.sim.hosts.checkip).unwrap();
    tcp.set_nodelay(true).unwrap();
    get(&mut tcp, "/checkip");
    let start = Instant::now();
    get(&mut tcp, "/checkip");
    let kept = start.elapsed();
    drop(tcp);
    assert_eq!(counted(&far.sim, "checkip", 2), [2.0, 3.0]);
    assert!(fresh >= RTT * 2, "fresh connection: {fresh:?}");
    assert!(kept >= RTT, "kept-alive connection: {kept:?}");
    assert_eq!(far.sim.events_of("checkip").len(), 3);
}

/// Two requests on one TLS connection, written by hand so that nothing (a client's pool)
/// decides whether the second reuses it.
#[test]
fn a_request_over_tls_costs_three_round_trips() {
    let far = Far::new(Some(RTT));
    let tls = eic_ssh::net::client_config_with(Some(&far.sim.ca_path)).unwrap();
    let addr = far.sim.hosts.checkip;
    let name = rustls::pki_types::ServerName::from(addr.ip());
    let start = Instant::now();
    let tcp = TcpStream::connect(addr).unwrap();
    tcp.set_nodelay(true).unwrap();
    let conn = rustls::ClientConnection::new(tls, name).unwrap();
    let mut stream = rustls::StreamOwned::new(conn, tcp);
    assert_eq!(get(&mut stream, "/checkip"), "127.0.0.1\n");
    let fresh = start.elapsed();
    let start = Instant::now();
    get(&mut stream, "/checkip");
    let kept = start.elapsed();
    drop(stream);
    let count = counted(&far.sim, "checkip", 1);
    assert_eq!(count, [4.0], "3 for the first request, 1 for the second");
    assert!(fresh >= RTT * 3, "TCP, TLS 1.3 and the request: {fresh:?}");
    assert!(kept >= RTT, "the same connection: {kept:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_tunnel_opens_after_three_round_trips_and_reaches_sshd() {
    let far = Far::new(Some(RTT));
    let (endpoint, url) = {
        let world = far.sim.state.world.read().unwrap();
        let c = &world.credentials[0];
        let credentials = Credentials::new(&c.access_key, &c.secret_key, None, None, "test");
        let endpoint = TunnelEndpoint::parse(&format!("wss://{}", far.sim.hosts.tunnel)).unwrap();
        let request = TunnelRequest {
            endpoint_id: "eice-0123456789abcdef0".into(),
            private_ip: "10.0.1.5".into(),
            remote_port: 22,
            max_tunnel_duration: None,
        };
        let url = presign(
            &endpoint,
            &request,
            &credentials,
            "us-east-1",
            SystemTime::now(),
        )
        .unwrap();
        (endpoint, url)
    };
    let tls = eic_ssh::net::client_config_with(Some(&far.sim.ca_path)).unwrap();
    let start = Instant::now();
    let mut tunnel = open(&endpoint, &url, &tls, None).await.unwrap();
    let opened = start.elapsed();
    let mut banner = [0u8; 8];
    tunnel.read_exact(&mut banner).await.unwrap();
    assert_eq!(&banner, b"SSH-2.0-");
    assert!(
        opened >= RTT * 3,
        "TCP, TLS 1.3 and the upgrade: {opened:?}"
    );
    assert_eq!(far.sim.events_of("tunnel_open").len(), 1);
}

#[test]
fn the_public_bastion_is_heard_two_round_trips_after_connecting() {
    let far = Far::new(Some(RTT));
    let bastion = far.sim.bastion.expect("a bastion with --rtt");
    let start = Instant::now();
    let mut tcp = TcpStream::connect(bastion).unwrap();
    let mut banner = [0u8; 8];
    tcp.read_exact(&mut banner).unwrap();
    let heard = start.elapsed();
    assert_eq!(&banner, b"SSH-2.0-");
    assert!(
        heard >= RTT * 2,
        "handshake, then the banner's way back: {heard:?}"
    );
}

/// The ports a client is pointed at: the five URLs of `client_env`, then checkip's.
fn ports_in_env(sim: &Sim) -> Vec<u16> {
    let port = |url: &str| -> u16 {
        let after = url.rsplit(':').next().unwrap();
        let digits: String = after.chars().take_while(char::is_ascii_digit).collect();
        digits.parse().unwrap()
    };
    let mut ports: Vec<u16> = sim
        .client_env()
        .iter()
        .filter(|(k, _)| k.starts_with("AWS_ENDPOINT_URL") || k.contains("TUNNEL"))
        .map(|(_, v)| port(v))
        .collect();
    ports.push(port(&sim.checkip_https_url()));
    ports
}

#[test]
fn at_a_distance_each_service_is_its_own_host() {
    let near = Far::new(None);
    let ports = ports_in_env(&near.sim);
    assert_eq!(ports.len(), 7, "six services and checkip");
    assert!(
        ports.iter().all(|p| *p == near.sim.addr.port()),
        "{ports:?}"
    );
    let far = Far::new(Some(RTT));
    let mut ports = ports_in_env(&far.sim);
    ports.sort();
    ports.dedup();
    assert_eq!(
        ports.len(),
        6,
        "EC2, Instance Connect, STS (IAM beside it), CloudTrail, the tunnel and checkip: {ports:?}"
    );
}

#[test]
fn without_rtt_there_is_no_bastion_and_zero_keeps_one() {
    assert!(Far::new(None).sim.bastion.is_none());
    let far = Far::new(Some(Duration::ZERO));
    let mut tcp = TcpStream::connect(far.sim.bastion.expect("a bastion at 0 ms")).unwrap();
    let mut banner = [0u8; 8];
    tcp.read_exact(&mut banner).unwrap();
    assert_eq!(&banner, b"SSH-2.0-");
    let mut api = TcpStream::connect(far.sim.addr).unwrap();
    assert_eq!(get(&mut api, "/checkip"), "127.0.0.1\n");
}
