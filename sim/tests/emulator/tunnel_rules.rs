//! The emulator holds the tunnel to the service's rules (docs/protocol.md, "Opening a tunnel" and "Limits"), checked with
//! eic-ssh's own presigner and connector: bad signatures, expiry, skew, session tokens,
//! parameters and the maximum tunnel duration.

use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use eic_ssh::tunnel::connect::{ConnectError, open};
use eic_ssh::tunnel::presign::presign;
use eic_ssh::tunnel::{TunnelEndpoint, TunnelRequest};
use eic_ssh_sim::{Options, Sim, World};
use tokio::io::AsyncReadExt;

/// The emulator with its sshd, in a scratch directory removed at drop.
struct Harness {
    sim: Sim,
    _dir: TempDir,
}

impl Harness {
    fn new() -> Harness {
        Harness::with_world(World::demo())
    }

    fn with_world(world: World) -> Harness {
        let dir = TempDir::new();
        let sim = Sim::start(Options::new(world, dir.0.join("sim"))).expect("emulator starts");
        Harness { sim, _dir: dir }
    }
}

/// A directory removed at drop (no tempfile crate here).
struct TempDir(std::path::PathBuf);

impl TempDir {
    fn new() -> TempDir {
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let dir = std::env::temp_dir().join(format!("eic-sim-rules-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn request(port: u16, duration: Option<u32>) -> TunnelRequest {
    TunnelRequest {
        endpoint_id: "eice-0123456789abcdef0".into(),
        private_ip: "10.0.1.5".into(),
        remote_port: port,
        max_tunnel_duration: duration,
    }
}

struct Client {
    endpoint: TunnelEndpoint,
    tls: std::sync::Arc<rustls::ClientConfig>,
    credentials: Credentials,
}

impl Client {
    fn new(h: &Harness) -> Client {
        let world = h.sim.state.world.read().unwrap();
        let c = &world.credentials[0];
        Client {
            endpoint: TunnelEndpoint::parse(&format!("wss://{}", h.sim.addr)).unwrap(),
            tls: eic_ssh::net::client_config_with(Some(&h.sim.ca_path)).unwrap(),
            credentials: Credentials::new(
                &c.access_key,
                &c.secret_key,
                c.session_token.clone(),
                None,
                "test",
            ),
        }
    }

    fn url(&self, req: &TunnelRequest, at: SystemTime) -> String {
        self.url_in(req, at, "us-east-1")
    }

    /// A URL presigned for `region`.
    fn url_in(&self, req: &TunnelRequest, at: SystemTime, region: &str) -> String {
        presign(&self.endpoint, req, &self.credentials, region, at).unwrap()
    }

    /// `url` with its query changed by `change`, then signed again by the emulator's own
    /// signer: requests eic-ssh's presigner never makes (another service, a longer life).
    fn resigned(&self, url: &str, change: impl Fn(&str) -> String) -> String {
        use eic_ssh_sim::sigv4::{EMPTY_SHA256, Seen, presigned_claim, signature};
        let (base, query) = url.split_once('?').unwrap();
        let unsigned: Vec<&str> = query
            .split('&')
            .filter(|p| !p.starts_with("X-Amz-Signature="))
            .collect();
        let query = change(&unsigned.join("&"));
        let claim = presigned_claim(&format!("{query}&X-Amz-Signature=-")).unwrap();
        let host = format!("{}:{}", self.endpoint.host, self.endpoint.port);
        let header = |n: &str| (n == "host").then(|| host.clone());
        let seen = Seen {
            method: "GET",
            path: "/openTunnel",
            query: &query,
            header: &header,
            payload_hash: EMPTY_SHA256.into(),
        };
        let secret = self.credentials.secret_access_key();
        let signed = signature(&claim, &seen, secret).unwrap();
        format!("{base}?{query}&X-Amz-Signature={signed}")
    }

    async fn refused(&self, url: &str) -> (u16, String, String) {
        match open(&self.endpoint, url, &self.tls, None).await {
            Err(ConnectError::Refused {
                status,
                code,
                message,
            }) => (status, code.unwrap_or_default(), message),
            Err(other) => panic!("expected a refusal, got {other}"),
            Ok(_) => panic!("expected a refusal, the tunnel opened"),
        }
    }
}

#[tokio::test]
async fn a_fresh_presigned_url_opens_and_reaches_sshd() {
    let h = Harness::new();
    let c = Client::new(&h);
    let mut tunnel = open(
        &c.endpoint,
        &c.url(&request(22, None), SystemTime::now()),
        &c.tls,
        None,
    )
    .await
    .unwrap();
    let mut banner = [0u8; 8];
    tunnel.read_exact(&mut banner).await.unwrap();
    assert_eq!(&banner, b"SSH-2.0-");
}

#[tokio::test]
async fn tampering_expiry_and_skew_are_refused() {
    let h = Harness::new();
    let c = Client::new(&h);
    let good = c.url(&request(22, None), SystemTime::now());
    let tampered = good.replace("privateIpAddress=10.0.1.5", "privateIpAddress=10.0.1.6");
    assert_eq!(c.refused(&tampered).await.1, "SignatureDoesNotMatch");
    let old = c.url(
        &request(22, None),
        SystemTime::now() - Duration::from_secs(61),
    );
    assert_eq!(
        c.refused(&old).await,
        (403, "RequestExpired".into(), "Request has expired.".into())
    );
    let future = c.url(
        &request(22, None),
        SystemTime::now() + Duration::from_secs(600),
    );
    assert_eq!(c.refused(&future).await.1, "RequestTimeTooSkewed");
    let unsigned = good.split("&X-Amz-Signature").next().unwrap().to_string();
    assert_eq!(c.refused(&unsigned).await.0, 403);
    assert!(h.sim.events_of("tunnel_open").is_empty());
    assert_eq!(h.sim.events_of("tunnel_refused").len(), 4);
}

#[tokio::test]
async fn session_tokens_must_match() {
    let mut world = World::demo();
    world.credentials[0].session_token = Some("the/session+token=".into());
    let h = Harness::with_world(world);
    let mut c = Client::new(&h);
    let ok = open(
        &c.endpoint,
        &c.url(&request(22, None), SystemTime::now()),
        &c.tls,
        None,
    )
    .await;
    assert!(ok.is_ok(), "a signed session token is accepted");
    c.credentials = Credentials::new(
        c.credentials.access_key_id(),
        c.credentials.secret_access_key(),
        None,
        None,
        "t",
    );
    let (status, code, _) = c
        .refused(&c.url(&request(22, None), SystemTime::now()))
        .await;
    assert_eq!(
        (status, code.as_str()),
        (403, "UnrecognizedClientException")
    );
}

#[tokio::test]
async fn parameters_follow_the_service_rules() {
    let h = Harness::new();
    let c = Client::new(&h);
    let (status, code, message) = c
        .refused(&c.url(&request(2222, None), SystemTime::now()))
        .await;
    assert_eq!((status, code.as_str()), (400, "InvalidParameter"));
    assert!(
        message.starts_with("The specified RemotePort is not valid. Specify either 22 or 3389")
    );
    let (status, code, _) = c
        .refused(&c.url(&request(22, Some(3601)), SystemTime::now()))
        .await;
    assert_eq!((status, code.as_str()), (400, "InvalidParameter"));
    let mut req = request(22, None);
    req.endpoint_id = "eice-0ffffffffffffffff".into();
    assert_eq!(c.refused(&c.url(&req, SystemTime::now())).await.0, 404);
}

#[tokio::test]
async fn the_tunnel_ends_at_its_maximum_duration() {
    let h = Harness::new();
    let c = Client::new(&h);
    let mut tunnel = open(
        &c.endpoint,
        &c.url(&request(22, Some(1)), SystemTime::now()),
        &c.tls,
        None,
    )
    .await
    .unwrap();
    let mut sink = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), tunnel.read_to_end(&mut sink)).await;
    assert!(
        matches!(read, Ok(Ok(_))),
        "the tunnel ends cleanly: {read:?}"
    );
    assert!(sink.starts_with(b"SSH-2.0-"));
    assert!(h.sim.until(Duration::from_secs(5), || {
        h.sim
            .events_of("tunnel_closed")
            .iter()
            .any(|e| e["end"] == "max duration reached")
    }));
}

#[tokio::test]
async fn a_stalled_tunnel_still_ends_at_its_maximum_duration() {
    let h = Harness::new();
    // The banner passes, then nothing: the endpoint's clock keeps running all the same.
    h.sim.set_faults(eic_ssh_sim::Faults {
        stall_after_bytes: Some(8),
        ..Default::default()
    });
    let c = Client::new(&h);
    let mut tunnel = open(
        &c.endpoint,
        &c.url(&request(22, Some(1)), SystemTime::now()),
        &c.tls,
        None,
    )
    .await
    .unwrap();
    let mut sink = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), tunnel.read_to_end(&mut sink)).await;
    assert!(
        matches!(read, Ok(Ok(_))),
        "the tunnel ends cleanly: {read:?}"
    );
    assert!(h.sim.until(Duration::from_secs(5), || {
        h.sim
            .events_of("tunnel_closed")
            .iter()
            .any(|e| e["end"] == "max duration reached")
    }));
}

#[tokio::test]
async fn rdp_port_without_a_listener_is_unable_to_connect() {
    let h = Harness::new();
    let c = Client::new(&h);
    let mut tunnel = open(
        &c.endpoint,
        &c.url(&request(3389, None), SystemTime::now()),
        &c.tls,
        None,
    )
    .await
    .unwrap();
    let mut sink = Vec::new();
    let err = tunnel.read_to_end(&mut sink).await.unwrap_err();
    let close = eic_ssh::tunnel::stream::close_error_of(&err).expect("a close error");
    assert_eq!(close.reason, "Unable to connect to target");
}

#[tokio::test]
async fn a_url_signed_for_another_service_or_region_or_to_live_longer_is_refused() {
    let h = Harness::new();
    let c = Client::new(&h);
    let now = SystemTime::now();
    let good = c.url(&request(22, None), now);
    // The re-signing itself is sound: the same query signed again opens.
    assert!(
        open(
            &c.endpoint,
            &c.resigned(&good, str::to_string),
            &c.tls,
            None
        )
        .await
        .is_ok()
    );
    let other_service = c.resigned(&good, |q| {
        q.replace("%2Fec2-instance-connect%2F", "%2Fec2%2F")
    });
    assert_eq!(
        c.refused(&other_service).await,
        (
            403,
            "SignatureDoesNotMatch".into(),
            "Credential should be scoped to a valid region and service (us-east-1/ec2-instance-connect), not us-east-1/ec2.".into()
        )
    );
    // eic-ssh's own presigner, for a region the endpoint is not in.
    let other_region = c.url_in(&request(22, None), now, "eu-west-1");
    assert_eq!(
        c.refused(&other_region).await,
        (
            403,
            "SignatureDoesNotMatch".into(),
            "Credential should be scoped to a valid region and service (us-east-1/ec2-instance-connect), not eu-west-1/ec2-instance-connect.".into()
        )
    );
    // Signed correctly, to live an hour: the service's URLs live 60 s.
    let long = c.resigned(&good, |q| {
        q.replace("X-Amz-Expires=60", "X-Amz-Expires=3600")
    });
    assert_eq!(
        c.refused(&long).await,
        (
            403,
            "IncompleteSignature".into(),
            "X-Amz-Expires must be between 1 and 60 seconds, not 3600".into()
        )
    );
    assert_eq!(
        h.sim.events_of("tunnel_open").len(),
        1,
        "only the sound one"
    );
}
