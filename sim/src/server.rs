//! The HTTPS front door: TLS, HTTP/1.1 with upgrades, the simulated network distance, and
//! routing to the API handlers.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

use crate::State;
use crate::reply::{Peer, Reply, text};

/// Largest API request body accepted.
const MAX_BODY: usize = 1 << 20;

/// Accepts connections until the runtime stops; with `rtt`, each one is served across the
/// simulated network of [`crate::latency`], and what it cost is recorded as a `connection`
/// event naming `port` (the service the port stands for).
pub async fn serve(
    listener: TcpListener,
    tls: Arc<rustls::ServerConfig>,
    state: Arc<State>,
    rtt: Option<Duration>,
    port: &'static str,
) {
    let acceptor = TlsAcceptor::from(tls);
    loop {
        let Ok((tcp, peer)) = listener.accept().await else {
            continue;
        };
        let accepted = tokio::time::Instant::now();
        if rtt.is_some() {
            // When each connection began, for tests of what a client opens early.
            state
                .events
                .record("connection_opened", serde_json::json!({"port": port}));
        }
        let _ = tcp.set_nodelay(true);
        let acceptor = acceptor.clone();
        let state = state.clone();
        tokio::spawn(async move {
            // One port for https:// and http:// (the latter for loopback checkip URLs):
            // a TLS client starts with a handshake record, 0x16. Peeking takes nothing from
            // the connection, so the delay below still holds the first byte back.
            let mut first = [0u8; 1];
            let plain = matches!(tcp.peek(&mut first).await, Ok(1) if first[0] != 0x16);
            let acceptor = (!plain).then_some(acceptor);
            match rtt {
                None => serve_connection(tcp, acceptor, state, peer).await,
                Some(rtt) => {
                    let (near, far) = tokio::io::duplex(DELAYED_BUFFER);
                    let events = state.clone();
                    tokio::spawn(async move {
                        let distance = crate::latency::join(tcp, far, rtt, accepted).await;
                        record_distance(&events, port, distance);
                    });
                    serve_connection(near, acceptor, state, peer).await;
                }
            }
        });
    }
}

/// Records what one connection across the simulated network cost.
pub fn record_distance(state: &State, port: &str, d: crate::latency::Distance) {
    state.events.record(
        "connection",
        serde_json::json!({"port": port, "round_trips": d.round_trips,
               "bytes_to_server": d.bytes_to_server, "bytes_to_client": d.bytes_to_client,
               "turns": d.turns}),
    );
}

/// Bytes buffered between a delayed connection and its HTTP server.
const DELAYED_BUFFER: usize = 256 << 10;

/// HTTP/1.1 with upgrades on one connection, inside TLS when `tls` is given.
async fn serve_connection<S>(io: S, tls: Option<TlsAcceptor>, state: Arc<State>, peer: SocketAddr)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let http = hyper::server::conn::http1::Builder::new();
    let Some(acceptor) = tls else {
        let service = service_fn(move |req| route(req, state.clone(), peer, None));
        let _ = http
            .serve_connection(TokioIo::new(io), service)
            .with_upgrades()
            .await;
        return;
    };
    let Ok(tls) = acceptor.accept(io).await else {
        return;
    };
    let sni = ServerName(tls.get_ref().1.server_name().map(str::to_string));
    let service = service_fn(move |req| route(req, state.clone(), peer, Some(sni.clone())));
    let _ = http
        .serve_connection(TokioIo::new(tls), service)
        .with_upgrades()
        .await;
}

/// The name a TLS client asked for (SNI; `None` when it sent none, as for an IP address),
/// carried to the handlers of requests that came over TLS.
#[derive(Clone, Debug)]
pub struct ServerName(pub Option<String>);

async fn route(
    mut req: Request<Incoming>,
    state: Arc<State>,
    peer: SocketAddr,
    sni: Option<ServerName>,
) -> Result<Reply, Infallible> {
    req.extensions_mut().insert(Peer(peer));
    if let Some(sni) = sni {
        req.extensions_mut().insert(sni);
    }
    let path = req.uri().path().to_string();
    let reply = match (req.method().clone(), path.as_str()) {
        (Method::GET, "/openTunnel") => crate::open_tunnel::handle(req, state, peer).await,
        (Method::POST, "/") => {
            let is_eic = req
                .headers()
                .get("x-amz-target")
                .and_then(|v| v.to_str().ok())
                .is_some_and(|t| t.starts_with("AWSEC2InstanceConnectService."));
            // STS shares the Query protocol with EC2: the signature's scope tells them apart.
            let is_sts = req
                .headers()
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                .is_some_and(|a| a.contains("/sts/aws4_request"));
            let is_iam = req
                .headers()
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                .is_some_and(|a| a.contains("/iam/aws4_request"));
            let is_cloudtrail = req
                .headers()
                .get("x-amz-target")
                .and_then(|v| v.to_str().ok())
                .is_some_and(|t| t.starts_with(crate::cloudtrail_api::TARGET_PREFIX));
            match read_body(req).await {
                Ok((parts, body)) if is_cloudtrail => {
                    crate::cloudtrail_api::handle(&parts, &body, &state)
                }
                Ok((parts, body)) if is_eic => crate::eic_api::handle(&parts, &body, &state, peer),
                Ok((parts, body)) if is_iam => crate::iam_api::handle(&parts, &body, &state),
                Ok((parts, body)) if is_sts => crate::sts_api::handle(&parts, &body, &state),
                Ok((parts, body)) => crate::ec2_api::handle(&parts, &body, &state),
                Err(reply) => reply,
            }
        }
        (Method::GET, p) if p == "/checkip" || p.starts_with("/checkip/") => {
            crate::checkip::handle(p, &state, peer).await
        }
        _ => text(StatusCode::NOT_FOUND, "not found\n"),
    };
    Ok(reply)
}

async fn read_body(req: Request<Incoming>) -> Result<(http::request::Parts, Bytes), Reply> {
    let (parts, body) = req.into_parts();
    match Limited::new(body, MAX_BODY).collect().await {
        Ok(collected) => Ok((parts, collected.to_bytes())),
        Err(_) => Err(text(
            StatusCode::PAYLOAD_TOO_LARGE,
            "request body too large\n",
        )),
    }
}
