//! `GET /openTunnel`: SigV4-presigned WebSocket to an instance port, with the service's rules,
//! limits, security-group evaluation, maximum duration and injected faults.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use hyper::body::Incoming;
use hyper::{Request, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, Role, WebSocketConfig};

use crate::auth::header_of;
use crate::auth::{Api, Denial, authenticate};
use crate::handshake::{Cursor, Stop};
use crate::reply::{Reply, reply};
use crate::sigv4::{EMPTY_SHA256, Seen, presigned_claim, query_pairs};
use crate::world::World;
use crate::{Faults, State};

/// Endpoint states that accept tunnels.
const USABLE: &[&str] = &[
    "create-complete",
    "update-in-progress",
    "update-failed",
    "update-complete",
];

/// What a verified handshake asks for.
struct Ask {
    endpoint_id: String,
    private_ip: String,
    port: u16,
    max_duration: u64,
    /// The `Host` it was sent to, without the port, lower case.
    host: String,
    /// The TLS server name (SNI) it came with.
    sni: Option<String>,
}

/// Verifies the handshake; on success answers 101 and relays in the background.
pub async fn handle(req: Request<Incoming>, state: Arc<State>, peer: SocketAddr) -> Reply {
    let faults = state.faults.lock().unwrap().clone();
    if let Some(r) = &faults.refuse {
        return refuse(&state, &Denial::new(r.status, &r.code, r.message.clone()));
    }
    let world = state.world.read().unwrap().clone();
    let client_ip = world.public_ip_for(peer.ip());
    let checked = check(&req, &world).and_then(|ask| reached_at(&world, ask, peer));
    let trail = |denial: Option<&Denial>| record_trail(&state, &world, &req, client_ip, denial);
    let ask = match checked {
        Ok(ask) => ask,
        Err(d) => {
            trail(Some(&d));
            return refuse(&state, &d);
        }
    };
    let key = req.headers().get("sec-websocket-key").cloned();
    let is_upgrade = req
        .headers()
        .get("upgrade")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"));
    let Some(key) = key.filter(|_| is_upgrade) else {
        return refuse(
            &state,
            &Denial::new(
                400,
                "InvalidRequest",
                "openTunnel needs a WebSocket upgrade",
            ),
        );
    };
    let slot = match Slot::take(&state, &ask.endpoint_id, world.max_connections_per_endpoint) {
        Some(slot) => slot,
        None => {
            let message = format!(
                "The maximum number of concurrent connections ({}) for endpoint {} has been reached.",
                world.max_connections_per_endpoint, ask.endpoint_id
            );
            let denial = Denial::new(429, "ConnectionLimitExceeded", message);
            trail(Some(&denial));
            return refuse(&state, &denial);
        }
    };
    trail(None);
    let accept = derive_accept_key(key.as_bytes());
    let state2 = state.clone();
    tokio::spawn(async move {
        let Ok(upgraded) = hyper::upgrade::on(req).await else {
            return;
        };
        let config = WebSocketConfig::default().max_frame_size(Some(16 << 20));
        let ws =
            WebSocketStream::from_raw_socket(TokioIo::new(upgraded), Role::Server, Some(config))
                .await;
        run_tunnel(ws, &state2, &world, &ask, (client_ip, peer), faults).await;
        drop(slot);
    });
    let mut r = reply(StatusCode::SWITCHING_PROTOCOLS, "text/plain", Vec::new());
    let h = r.headers_mut();
    h.insert("upgrade", "websocket".parse().unwrap());
    h.insert("connection", "Upgrade".parse().unwrap());
    h.insert("sec-websocket-accept", accept.parse().unwrap());
    h.remove("content-type");
    r
}

/// Codes of requests whose caller was never established: CloudTrail has no identity to
/// record them under.
const UNAUTHENTICATED: &[&str] = &[
    "UnrecognizedClientException",
    "SignatureDoesNotMatch",
    "InvalidSignatureException",
    "IncompleteSignature",
    "ExpiredTokenException",
    "RequestExpired",
    "RequestTimeTooSkewed",
    "MisdirectedRequest",
];

/// Records the OpenTunnel call in CloudTrail's history (refused ones with their error
/// code), under the caller whose key signed it, from the address the service saw.
fn record_trail(
    state: &State,
    world: &World,
    req: &Request<Incoming>,
    client_ip: IpAddr,
    denial: Option<&Denial>,
) {
    if denial.is_some_and(|d| UNAUTHENTICATED.contains(&d.code.as_str())) {
        return;
    }
    let pairs = query_pairs(req.uri().query().unwrap_or_default());
    let get = |k: &str| pairs.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    let key = get("X-Amz-Credential").unwrap_or_default();
    let Some(cred) = world.credential(key.split('/').next().unwrap_or_default()) else {
        return;
    };
    let mut params = serde_json::Map::new();
    for (name, field) in [
        ("instanceConnectEndpointId", "instanceConnectEndpointId"),
        ("privateIpAddress", "privateIpAddress"),
        ("remotePort", "remotePort"),
        ("maxTunnelDuration", "maxTunnelDuration"),
    ] {
        if let Some(v) = get(name) {
            params.insert(field.into(), v.into());
        }
    }
    let event =
        crate::trail::TrailEvent::now("OpenTunnel", cred, client_ip.to_string(), params.into());
    state.trail.record(match denial {
        Some(d) => event.refused(&d.code, &d.message),
        None => event,
    });
}

fn refuse(state: &State, d: &Denial) -> Reply {
    state.events.record(
        "tunnel_refused",
        json!({"status": d.status, "code": d.code, "message": d.message}),
    );
    let body = json!({"ErrorCode": d.code, "Message": d.message}).to_string();
    reply(
        StatusCode::from_u16(d.status).unwrap_or(StatusCode::BAD_REQUEST),
        "application/json",
        body.into_bytes(),
    )
}

/// Authentication first, then the parameter rules of docs/protocol.md, "Opening a tunnel" and "Limits".
fn check(req: &Request<Incoming>, world: &World) -> Result<Ask, Denial> {
    let query = req.uri().query().unwrap_or_default();
    let claim = presigned_claim(query).map_err(|e| {
        Denial::new(
            403,
            "AccessDeniedException",
            format!("Missing or malformed signature: {e:?}"),
        )
    })?;
    let header = header_of(req.headers());
    let seen = Seen {
        method: "GET",
        path: req.uri().path(),
        query,
        header: &header,
        payload_hash: EMPTY_SHA256.into(),
    };
    let pairs = query_pairs(query);
    let get = |k: &str| pairs.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    let endpoint_id = get("instanceConnectEndpointId").unwrap_or_default();
    let resource = format!(
        "arn:aws:ec2:{}:{}:instance-connect-endpoint/{endpoint_id}",
        world.region, world.account
    );
    authenticate(
        world,
        Api::Tunnel,
        "ec2-instance-connect",
        &claim,
        &seen,
        "ec2-instance-connect:OpenTunnel",
        &resource,
    )?;
    let invalid = |m: String| Denial::new(400, "InvalidParameter", m);
    let endpoint = world.endpoint(&endpoint_id).ok_or_else(|| {
        Denial::new(
            404,
            "ResourceNotFound",
            format!("The specified InstanceConnectEndpointId {endpoint_id:?} does not exist."),
        )
    })?;
    if !USABLE.contains(&endpoint.state.as_str()) {
        return Err(invalid(format!(
            "The instance connect endpoint {endpoint_id} is in state {}.",
            endpoint.state
        )));
    }
    let port: u16 = get("remotePort")
        .and_then(|p| p.parse().ok())
        .filter(|p| [22, 3389].contains(p))
        .ok_or_else(|| invalid("The specified RemotePort is not valid. Specify either 22 or 3389 as the RemotePort and retry your request.".into()))?;
    let private_ip = get("privateIpAddress")
        .filter(|ip| ip.parse::<IpAddr>().is_ok())
        .ok_or_else(|| invalid("The specified PrivateIpAddress is not valid. Specify a valid IPv4 or IPv6 address.".into()))?;
    let max_duration = match get("maxTunnelDuration") {
        None => 3600,
        Some(d) => d
            .parse::<u64>()
            .ok()
            .filter(|d| (1..=3600).contains(d))
            .ok_or_else(|| invalid("The specified MaxTunnelDuration is not valid. Specify a value between 1 and 3600 seconds.".into()))?,
    };
    let (host, sni) = names_of(req);
    Ok(Ask {
        endpoint_id,
        private_ip,
        port,
        max_duration,
        host,
        sni,
    })
}

/// The `Host` (without its port or IPv6 brackets, lower case) and the TLS server name of a
/// request: `None` for a plain HTTP request, `Some(None)` for TLS without SNI.
fn names_of(req: &Request<Incoming>) -> (String, Option<String>) {
    let host = req
        .headers()
        .get("host")
        .and_then(|h| h.to_str().ok())
        .unwrap_or_default();
    let host = match host.rsplit_once(':') {
        Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
        _ => host,
    };
    let host = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_ascii_lowercase();
    let sni = req
        .extensions()
        .get::<crate::server::ServerName>()
        .map(|n| n.0.clone().unwrap_or_default());
    (host, sni)
}

/// Whether `host` is this machine (a test's or a private relay's `--tunnel-endpoint-url`).
fn is_loopback(host: &str) -> bool {
    host == "localhost" || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// The Host and the TLS server name must agree, as at the service, whose TLS front end
/// answers 421 when they differ: an endpoint's DNS name is reached over TLS with that name
/// as SNI (`sni` is `None` over plain HTTP, empty over TLS without SNI). A loopback host
/// stands for the endpoint; a client sends no SNI for an IP address.
fn names_agree(host: &str, sni: Option<&str>) -> Result<(), Denial> {
    let misdirected = |m: String| Denial::new(421, "MisdirectedRequest", m);
    match sni {
        Some(name) if !name.is_empty() && !name.eq_ignore_ascii_case(host) => Err(misdirected(
            format!("The TLS server name {name} is not the Host {host}."),
        )),
        Some(name) if name.is_empty() && !is_loopback(host) => Err(misdirected(format!(
            "{host} must be reached with its name as the TLS server name (SNI)."
        ))),
        None if !is_loopback(host) => Err(misdirected(format!(
            "{host} must be reached over TLS (wss://)."
        ))),
        _ => Ok(()),
    }
}

/// The tunnel is served at the names the endpoint reports, over TLS with that name as SNI,
/// over the families they resolve to: an IPv4-only name has no IPv6 address, an `ipv6`
/// endpoint no IPv4 one. A loopback host (a test's or a private relay's
/// `--tunnel-endpoint-url`) stands for the endpoint, with the same rule for its family.
fn reached_at(world: &World, ask: Ask, peer: SocketAddr) -> Result<Ask, Denial> {
    let Some(endpoint) = world.endpoint(&ask.endpoint_id) else {
        return Ok(ask);
    };
    let host = ask.host.clone();
    names_agree(&host, ask.sni.as_deref())?;
    let over_ipv6 = match peer.ip() {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().is_none(),
        IpAddr::V4(_) => false,
    };
    let names = world.public_dns_names(endpoint);
    let is = |pair: &Option<(String, String)>| {
        pair.as_ref()
            .is_some_and(|(plain, fips)| host == *plain || host == *fips)
    };
    let loopback = is_loopback(&host);
    let legacy = host == world.dns_name(&endpoint.id) || host == world.fips_dns_name(&endpoint.id);
    let reachable = if loopback {
        match endpoint.ip_address_type.as_str() {
            "ipv4" => !over_ipv6,
            "ipv6" => over_ipv6,
            _ => true,
        }
    } else if is(&names.dualstack) {
        true
    } else if is(&names.ipv4) || legacy {
        !over_ipv6
    } else {
        return Err(Denial::new(
            400,
            "InvalidParameter",
            format!("{host} is not a DNS name of {}.", endpoint.id),
        ));
    };
    if reachable {
        return Ok(ask);
    }
    // What a client sees when the name has no address of its family: no connection at all.
    Err(Denial::new(
        421,
        "MisdirectedRequest",
        format!(
            "{} ({}) cannot be reached over {} at {host}.",
            endpoint.id,
            endpoint.ip_address_type,
            if over_ipv6 { "IPv6" } else { "IPv4" }
        ),
    ))
}

/// A taken place among an endpoint's concurrent tunnels; given back on drop.
struct Slot {
    state: Arc<State>,
    endpoint: String,
}

impl Slot {
    fn take(state: &Arc<State>, endpoint: &str, max: usize) -> Option<Slot> {
        let mut active = state.active.lock().unwrap();
        let n = active.entry(endpoint.to_string()).or_default();
        if *n >= max {
            return None;
        }
        *n += 1;
        Some(Slot {
            state: state.clone(),
            endpoint: endpoint.to_string(),
        })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        if let Some(n) = self.state.active.lock().unwrap().get_mut(&self.endpoint) {
            *n = n.saturating_sub(1);
        }
    }
}

type Ws = WebSocketStream<TokioIo<hyper::upgrade::Upgraded>>;

/// Connects to the target as the endpoint would, then relays until one side ends.
async fn run_tunnel(
    mut ws: Ws,
    state: &State,
    world: &World,
    ask: &Ask,
    (client_ip, peer): (IpAddr, std::net::SocketAddr),
    faults: Faults,
) {
    let target = connect_target(state, world, ask, client_ip, &faults).await;
    let tcp = match target {
        Ok(tcp) => tcp,
        Err(why) => {
            state.events.record("tunnel_target_failed", json!({"endpoint": ask.endpoint_id, "ip": ask.private_ip, "port": ask.port, "why": why}));
            // The service waits out the TCP connect before it gives up.
            tokio::time::sleep(Duration::from_millis(200)).await;
            let _ = ws
                .close(Some(close(CloseCode::Error, "Unable to connect to target")))
                .await;
            return;
        }
    };
    state.events.record(
        "tunnel_open",
        json!({"endpoint": ask.endpoint_id, "ip": ask.private_ip, "port": ask.port,
               "client_ip": client_ip.to_string(), "max_duration": ask.max_duration,
               "peer": peer.to_string(), "host": ask.host, "sni": ask.sni}),
    );
    let (end, up, down) = relay(ws, tcp, ask.max_duration, &faults).await;
    state.events.record(
        "tunnel_closed",
        json!({"endpoint": ask.endpoint_id, "end": end, "bytes_up": up, "bytes_down": down}),
    );
}

async fn connect_target(
    state: &State,
    world: &World,
    ask: &Ask,
    client_ip: IpAddr,
    faults: &Faults,
) -> Result<TcpStream, String> {
    if faults.target_unreachable {
        return Err("fault: target_unreachable".into());
    }
    let endpoint = world
        .endpoint(&ask.endpoint_id)
        .ok_or("endpoint vanished")?;
    let instance = world
        .instances
        .iter()
        .find(|i| {
            i.vpc_id == endpoint.vpc_id
                && (i.private_ip.as_deref() == Some(&ask.private_ip)
                    || i.ipv6.as_deref() == Some(&ask.private_ip))
        })
        .ok_or_else(|| format!("no instance at {} in {}", ask.private_ip, endpoint.vpc_id))?;
    if instance.state != "running" {
        return Err(format!("{} is {}", instance.id, instance.state));
    }
    crate::firewall::admits(world, endpoint, instance, client_ip, ask.port)?;
    if ask.port != 22 {
        return Err(format!(
            "nothing listens on port {} of {}",
            ask.port, instance.id
        ));
    }
    // A test's hostile SSH server stands in for the instance's sshd when it asks to.
    let port = match faults.target_port {
        Some(port) => port,
        None => {
            state
                .sshd
                .as_ref()
                .ok_or("no sshd behind this emulator")?
                .port
        }
    };
    // From the instance's own loopback address: sshd admits a key only from the address
    // of the instance it was pushed for.
    let tcp = connect_from(crate::sshd::instance_address(&instance.id), port)
        .await
        .map_err(|e| format!("sshd: {e}"))?;
    let _ = tcp.set_nodelay(true);
    Ok(tcp)
}

/// A TCP connection to `127.0.0.1:port` from `source` (any port).
pub async fn connect_from(source: IpAddr, port: u16) -> std::io::Result<TcpStream> {
    let socket = tokio::net::TcpSocket::new_v4()?;
    socket.bind(SocketAddr::new(source, 0))?;
    socket
        .connect(SocketAddr::from((std::net::Ipv4Addr::LOCALHOST, port)))
        .await
}

fn close(code: CloseCode, reason: &str) -> CloseFrame {
    CloseFrame {
        code,
        reason: reason.to_string().into(),
    }
}

/// The cursors (client→server, server→client) that find where a handshake stall stops
/// each direction, when one is asked for.
fn handshake_cursors(faults: &Faults) -> (Option<Cursor>, Option<Cursor>) {
    let server_stop = if faults.stall_after_host_key {
        Stop::BeforeNewKeys
    } else if faults.stall_after_key_exchange {
        Stop::AfterNewKeys
    } else {
        return (None, None);
    };
    (
        Some(Cursor::new(Stop::AfterNewKeys)),
        Some(Cursor::new(server_stop)),
    )
}

/// Relays frames and bytes; returns how it ended and the byte counts.
async fn relay(
    ws: Ws,
    tcp: TcpStream,
    max_duration: u64,
    faults: &Faults,
) -> (&'static str, u64, u64) {
    let (mut sink, mut stream) = ws.split();
    let (mut tcp_read, mut tcp_write) = tcp.into_split();
    let up = AtomicU64::new(0);
    let down = AtomicU64::new(0);
    // Faults trigger on the bytes relayed in both directions, so uploads and downloads can
    // both be broken mid-transfer.
    let fault = |n: u64| -> Option<&'static str> {
        let total = up.fetch_add(0, Ordering::Relaxed) + down.fetch_add(0, Ordering::Relaxed) + n;
        let hit = |limit: Option<u64>| limit.is_some_and(|l| total >= l);
        if hit(faults.close_after_bytes) {
            Some("fault: close_after_bytes")
        } else if hit(faults.drop_after_bytes) {
            Some("fault: drop_after_bytes")
        } else if hit(faults.stall_after_bytes) {
            Some("fault: stall_after_bytes")
        } else {
            None
        }
    };
    let (mut up_cursor, mut down_cursor) = handshake_cursors(faults);
    let upstream = async {
        while let Some(msg) = stream.next().await {
            match msg {
                Ok(Message::Binary(data)) => {
                    if let Some(pass) = up_cursor.as_mut().and_then(|c| c.feed(&data)) {
                        // The client's side of the handshake is done: what passes, passes;
                        // then nothing more until the client gives up.
                        let _ = tcp_write.write_all(&data[..pass]).await;
                        up.fetch_add(pass as u64, Ordering::Relaxed);
                        // The endpoint itself still answers a close.
                        while let Some(Ok(msg)) = stream.next().await {
                            if matches!(msg, Message::Close(_)) {
                                return "client closed";
                            }
                        }
                        return "fault: stall at the handshake";
                    }
                    if let Some(f) = fault(data.len() as u64) {
                        return f;
                    }
                    up.fetch_add(data.len() as u64, Ordering::Relaxed);
                    if tcp_write.write_all(&data).await.is_err() {
                        return "target write failed";
                    }
                }
                Ok(Message::Close(_)) => return "client closed",
                Ok(Message::Text(_)) => return "client sent a text frame",
                Ok(_) => {}
                Err(_) => return "client connection broke",
            }
        }
        "client connection ended"
    };
    let downstream = async {
        let mut buf = vec![0u8; 65_000];
        loop {
            let n = match tcp_read.read(&mut buf).await {
                Ok(0) | Err(_) => return "target closed",
                Ok(n) => n,
            };
            if let Some(pass) = down_cursor.as_mut().and_then(|c| c.feed(&buf[..n])) {
                // The server's side reached the stall point: relay what comes before it,
                // then nothing (the upstream side notices when the client gives up).
                if pass > 0 {
                    let _ = sink
                        .send(Message::Binary(Bytes::copy_from_slice(&buf[..pass])))
                        .await;
                    down.fetch_add(pass as u64, Ordering::Relaxed);
                }
                std::future::pending::<()>().await;
            }
            if let Some(f) = fault(n as u64) {
                return f;
            }
            down.fetch_add(n as u64, Ordering::Relaxed);
            if sink
                .send(Message::Binary(Bytes::copy_from_slice(&buf[..n])))
                .await
                .is_err()
            {
                return "client write failed";
            }
        }
    };
    // The tunnel's time runs from here whatever happens on it, a stall included.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(max_duration);
    let mut end = tokio::select! {
        end = upstream => end,
        end = downstream => end,
        _ = tokio::time::sleep_until(deadline) => "max duration reached",
    };
    if end == "fault: stall_after_bytes" {
        // Hang: relay nothing more until the client gives up or the time runs out.
        let client_gave_up = async {
            while let Some(Ok(msg)) = stream.next().await {
                if matches!(msg, Message::Close(_)) {
                    break;
                }
            }
        };
        end = tokio::select! {
            () = client_gave_up => "fault: stall_after_bytes",
            _ = tokio::time::sleep_until(deadline) => "max duration reached",
        };
    }
    let (up, down) = (up.into_inner(), down.into_inner());
    let closing = match end {
        "target closed" => Some(close(CloseCode::Normal, "")),
        "max duration reached" => Some(close(CloseCode::Normal, "Maximum tunnel duration reached")),
        "fault: close_after_bytes" => Some(close(CloseCode::Error, "Internal error")),
        _ => None,
    };
    if let Some(frame) = closing {
        let _ = sink.send(Message::Close(Some(frame))).await;
    }
    match end {
        // The client's close is answered (tungstenite queued the reply; flushing sends it).
        "client closed" => {
            let _ = sink.close().await;
        }
        // We sent a close: give the client a moment to answer it.
        "target closed" | "max duration reached" | "fault: close_after_bytes" => {
            let _ = tokio::time::timeout(Duration::from_secs(2), async {
                while let Some(Ok(msg)) = stream.next().await {
                    if matches!(msg, Message::Close(_)) {
                        break;
                    }
                }
            })
            .await;
        }
        // Faults and broken connections end without ceremony.
        _ => return (end, up, down),
    }
    if let Ok(mut ws) = sink.reunite(stream) {
        // TLS close_notify, as a well-behaved server sends.
        let _ = ws.get_mut().shutdown().await;
    }
    (end, up, down)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NAME: &str =
        "eice-0123456789abcdef0.ec2-instance-connect-endpoint.us-east-1.amazonaws.com";

    #[test]
    fn the_host_and_the_tls_server_name_must_agree() {
        assert_eq!(names_agree(NAME, Some(NAME)), Ok(()));
        assert_eq!(names_agree(NAME, Some(&NAME.to_uppercase())), Ok(()));
        for sni in [Some("localhost"), Some(""), None] {
            let refused = names_agree(NAME, sni).unwrap_err();
            assert_eq!(
                (refused.status, refused.code.as_str()),
                (421, "MisdirectedRequest")
            );
        }
        // A loopback stand-in: no SNI for an IP address, `localhost` as itself, plain
        // HTTP allowed; but a name that is not the Host is refused there too.
        assert_eq!(names_agree("127.0.0.1", Some("")), Ok(()));
        assert_eq!(names_agree("localhost", Some("localhost")), Ok(()));
        assert_eq!(names_agree("127.0.0.1", None), Ok(()));
        assert_eq!(
            names_agree("127.0.0.1", Some(NAME)).unwrap_err().status,
            421
        );
    }
}
