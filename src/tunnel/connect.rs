//! Dials the endpoint (directly or through an HTTPS proxy), adds TLS and does the WebSocket upgrade.

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Duration;

use hyper_util::client::proxy::matcher::Matcher;
use rustls_pki_types::ServerName;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{Error as WsError, http};

use super::endpoint::{Scheme, TunnelEndpoint};
use super::presign::redact;
use super::stream::Tunnel;
use super::transport::{READ_BUFFER, Transport};
use crate::family::Family;
use crate::printable;

/// How long the whole connect (TCP, proxy, TLS, upgrade) may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);

/// Why a tunnel could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// TCP connect to the endpoint or proxy failed.
    #[error("cannot reach {what}: {source}")]
    Dial {
        /// `host:port`, with "proxy" when it was the proxy.
        what: String,
        #[source]
        source: std::io::Error,
    },
    /// The HTTPS proxy refused the CONNECT.
    #[error("the proxy {proxy} refused to connect to {target}: {status}")]
    Proxy {
        /// The proxy's address.
        proxy: String,
        /// `host:port` asked for.
        target: String,
        /// The proxy's status line.
        status: String,
    },
    /// TLS handshake failed (certificate, protocol).
    #[error("TLS handshake with {host} failed: {source}")]
    Tls {
        /// Host name verified.
        host: String,
        #[source]
        source: std::io::Error,
    },
    /// `HTTPS_PROXY` names an `https://` proxy: the CONNECT (and any credentials in the
    /// URL) would go out unencrypted, since eic-ssh speaks plain HTTP to the proxy.
    #[error(
        "the proxy {proxy} is an https:// URL, which eic-ssh does not speak (the CONNECT and any credentials would go out unencrypted); use an http:// proxy URL, or unset HTTPS_PROXY"
    )]
    ProxyScheme {
        /// The proxy's host:port.
        proxy: String,
    },
    /// The endpoint answered the upgrade with an HTTP error.
    #[error("{}", refused_sentence(*status, code.as_deref(), message))]
    Refused {
        /// HTTP status code.
        status: u16,
        /// `ErrorCode` from the JSON body, if any.
        code: Option<String>,
        /// `Message` from the JSON body, or the raw body.
        message: String,
    },
    /// The WebSocket upgrade broke for another reason.
    #[error("the WebSocket handshake with {host} failed: {reason}")]
    Handshake {
        /// Host name.
        host: String,
        /// What tungstenite said.
        reason: String,
    },
    /// The tunnel would go straight out over a family the egress check did not judge.
    #[error(
        "refusing to open the tunnel: {host} has no {family} address, and the egress check judged this network's {family} egress (a tunnel goes out over the family that was checked); check with `eic-ssh egress`, or name an endpoint reachable over {family}"
    )]
    Family {
        /// Host name.
        host: String,
        /// The family that was checked.
        family: Family,
    },
    /// Nothing finished within [`CONNECT_TIMEOUT`].
    #[error("timed out after {} s opening the tunnel to {host}, at {phase}: check the network (and HTTPS_PROXY), then retry", CONNECT_TIMEOUT.as_secs())]
    Timeout {
        /// Host name.
        host: String,
        /// The phase that did not finish.
        phase: Phase,
    },
}

/// How far opening a tunnel got, for the message when it times out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Phase {
    /// TCP connect to the endpoint.
    Tcp,
    /// TCP connect to the proxy.
    ProxyTcp,
    /// The proxy's answer to CONNECT.
    ProxyConnect,
    /// TLS handshake with the endpoint.
    Tls,
    /// The WebSocket upgrade (the endpoint's HTTP answer).
    Upgrade,
}

impl std::fmt::Display for Phase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Phase::Tcp => "the TCP connect",
            Phase::ProxyTcp => "the TCP connect to the proxy",
            Phase::ProxyConnect => "the proxy's CONNECT",
            Phase::Tls => "the TLS handshake",
            Phase::Upgrade => "the WebSocket upgrade",
        })
    }
}

/// The phase reached, shared with the timeout that may cut it (a plain atomic: the
/// connecting future must stay `Send`).
#[derive(Debug, Default)]
struct Progress(AtomicU8);

impl Progress {
    fn set(&self, phase: Phase) {
        self.0.store(phase as u8, Ordering::Relaxed);
    }

    fn get(&self) -> Phase {
        match self.0.load(Ordering::Relaxed) {
            x if x == Phase::ProxyTcp as u8 => Phase::ProxyTcp,
            x if x == Phase::ProxyConnect as u8 => Phase::ProxyConnect,
            x if x == Phase::Tls as u8 => Phase::Tls,
            x if x == Phase::Upgrade as u8 => Phase::Upgrade,
            _ => Phase::Tcp,
        }
    }
}

fn refused_sentence(status: u16, code: Option<&str>, message: &str) -> String {
    match code {
        Some(code) => format!("the endpoint refused the tunnel (HTTP {status}, {code}): {message}"),
        None if message.is_empty() => format!("the endpoint refused the tunnel (HTTP {status})"),
        None => format!("the endpoint refused the tunnel (HTTP {status}): {message}"),
    }
}

/// How much tungstenite reads from TLS at a time: one 65,000-byte frame and its header.
/// With 256 KiB it read several frames at once, and its buffer grew by doubling to 1 MiB
/// during a download (docs/design.md, "Dependencies, and why"). The syscalls are the
/// `BufReader`'s, below TLS, so their size does not change.
const FRAME_READ: usize = 64 * 1024;

/// WebSocket settings: our frames are ≤ 65,000 bytes; accept up to 16 MiB from the service.
fn ws_config() -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(FRAME_READ)
        .write_buffer_size(0)
        // Pongs queue behind data a peer never reads: a ping flood stops growing at 1 MiB
        // (further pongs are dropped) instead of taking memory without bound.
        .max_write_buffer_size(1 << 20)
        .max_frame_size(Some(16 << 20))
        .max_message_size(Some(16 << 20))
}

/// Opens a tunnel with an already presigned `url` pointing at `endpoint`: over `ahead`
/// when a connection to it was opened ahead (`crate::ahead`), else over a new one.
pub async fn open(
    endpoint: &TunnelEndpoint,
    url: &str,
    tls: &Arc<rustls::ClientConfig>,
    ahead: Option<Transport>,
) -> Result<Tunnel, ConnectError> {
    open_over(endpoint, url, tls, ahead, None).await
}

/// [`open`], a new direct connection going over `family` only, when one is given (the
/// family the guard judged).
pub async fn open_over(
    endpoint: &TunnelEndpoint,
    url: &str,
    tls: &Arc<rustls::ClientConfig>,
    ahead: Option<Transport>,
    family: Option<Family>,
) -> Result<Tunnel, ConnectError> {
    tracing::debug!("opening tunnel {}", redact(url));
    let host = endpoint.host.clone();
    let progress = Progress::default();
    let opening = async {
        let transport = match ahead {
            Some(transport) => transport,
            None => transport_inner(endpoint, tls, &progress, family).await?,
        };
        upgrade(endpoint, url, transport, &progress).await
    };
    tokio::time::timeout(CONNECT_TIMEOUT, opening)
        .await
        .map_err(|_| ConnectError::Timeout {
            host,
            phase: progress.get(),
        })?
}

/// TCP to `endpoint` (through the proxy the environment names for it, if any), then TLS
/// for `wss`, within [`CONNECT_TIMEOUT`]: what a tunnel or an API call is carried on.
pub async fn transport(
    endpoint: &TunnelEndpoint,
    tls: &Arc<rustls::ClientConfig>,
) -> Result<Transport, ConnectError> {
    let progress = Progress::default();
    tokio::time::timeout(
        CONNECT_TIMEOUT,
        transport_inner(endpoint, tls, &progress, None),
    )
    .await
    .map_err(|_| ConnectError::Timeout {
        host: endpoint.host.clone(),
        phase: progress.get(),
    })?
}

async fn transport_inner(
    endpoint: &TunnelEndpoint,
    tls: &Arc<rustls::ClientConfig>,
    progress: &Progress,
    family: Option<Family>,
) -> Result<Transport, ConnectError> {
    let tcp = dial(endpoint, progress, family).await?;
    Ok(match endpoint.scheme {
        Scheme::Ws => Transport::Plain(tcp),
        Scheme::Wss => {
            progress.set(Phase::Tls);
            let name =
                ServerName::try_from(endpoint.host.clone()).map_err(|e| ConnectError::Tls {
                    host: endpoint.host.clone(),
                    source: std::io::Error::other(e),
                })?;
            let stream = tokio_rustls::TlsConnector::from(tls.clone())
                .connect(name, tcp)
                .await
                .map_err(|source| ConnectError::Tls {
                    host: endpoint.host.clone(),
                    source,
                })?;
            Transport::Tls(Box::new(stream))
        }
    })
}

/// The WebSocket upgrade over a connected transport.
async fn upgrade(
    endpoint: &TunnelEndpoint,
    url: &str,
    transport: Transport,
    progress: &Progress,
) -> Result<Tunnel, ConnectError> {
    let mut request = url
        .into_client_request()
        .map_err(|e| ConnectError::Handshake {
            host: endpoint.host.clone(),
            reason: e.to_string(),
        })?;
    request.headers_mut().insert(
        http::header::USER_AGENT,
        http::HeaderValue::from_static(concat!("eic-ssh/", env!("CARGO_PKG_VERSION"))),
    );
    progress.set(Phase::Upgrade);
    let (ws, _) =
        tokio_tungstenite::client_async_with_config(request, transport, Some(ws_config()))
            .await
            .map_err(|e| handshake_error(&endpoint.host, e))?;
    tracing::debug!("tunnel open to {}", endpoint);
    Ok(Tunnel::new(ws))
}

/// Whether a connection to `endpoint` goes through the proxy the environment names.
pub fn goes_through_proxy(endpoint: &TunnelEndpoint) -> bool {
    let target = format!("{}:{}", bracketed(&endpoint.host), endpoint.port);
    endpoint.scheme == Scheme::Wss && https_proxy_for(&target).is_some()
}

/// Whether a connection opened ahead fits a tunnel pinned to `family`: it went through
/// the proxy (which decides the family), or straight out over `family`.
pub fn fits(transport: &Transport, endpoint: &TunnelEndpoint, family: Option<Family>) -> bool {
    match family {
        None => true,
        Some(_) if goes_through_proxy(endpoint) => true,
        Some(family) => transport
            .peer_addr()
            .is_some_and(|peer| Family::of(peer.ip()) == family),
    }
}

/// TCP to the endpoint (over `family` only, when given), or to the proxy that
/// `HTTPS_PROXY`/`NO_PROXY` choose, with CONNECT: the proxy decides the family then.
async fn dial(
    endpoint: &TunnelEndpoint,
    progress: &Progress,
    family: Option<Family>,
) -> Result<BufReader<TcpStream>, ConnectError> {
    let target = format!("{}:{}", bracketed(&endpoint.host), endpoint.port);
    let proxy = match endpoint.scheme {
        Scheme::Wss => https_proxy_for(&target),
        Scheme::Ws => None,
    };
    let Some((proxy_addr, auth, tls_proxy)) = proxy else {
        let tcp = match family {
            Some(family) => connect_over(&endpoint.host, &target, family).await?,
            None => connect_tcp(&target, &target).await?,
        };
        return Ok(BufReader::with_capacity(READ_BUFFER, tcp));
    };
    if tls_proxy {
        return Err(ConnectError::ProxyScheme { proxy: proxy_addr });
    }
    tracing::debug!("connecting to {target} through proxy {proxy_addr}");
    progress.set(Phase::ProxyTcp);
    let tcp = connect_tcp(&proxy_addr, &format!("proxy {proxy_addr}")).await?;
    progress.set(Phase::ProxyConnect);
    let mut stream = BufReader::with_capacity(READ_BUFFER, tcp);
    let mut head = format!("CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n");
    if let Some(auth) = auth {
        head.push_str(&format!("Proxy-Authorization: {auth}\r\n"));
    }
    head.push_str("\r\n");
    let io_err = |source| ConnectError::Dial {
        what: format!("proxy {proxy_addr}"),
        source,
    };
    stream
        .get_mut()
        .write_all(head.as_bytes())
        .await
        .map_err(io_err)?;
    let status = read_head_line(&mut stream).await.map_err(io_err)?;
    let ok = status
        .split_whitespace()
        .nth(1)
        .is_some_and(|code| code.starts_with('2'));
    // Skip the rest of the proxy's response head; what follows belongs to TLS.
    let mut lines = 0;
    loop {
        let line = read_head_line(&mut stream).await.map_err(io_err)?;
        if line.is_empty() || line == "\r\n" || line == "\n" {
            break;
        }
        lines += 1;
        if lines > MAX_PROXY_HEAD_LINES {
            return Err(io_err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("its answer to CONNECT has more than {MAX_PROXY_HEAD_LINES} header lines"),
            )));
        }
    }
    if !ok {
        return Err(ConnectError::Proxy {
            proxy: proxy_addr,
            target,
            status: printable::escape(status.trim()),
        });
    }
    Ok(stream)
}

/// The longest line of a proxy's answer to CONNECT that eic-ssh reads (8 KiB).
const MAX_PROXY_LINE: u64 = 8 * 1024;

/// The most header lines of a proxy's answer to CONNECT that eic-ssh reads.
const MAX_PROXY_HEAD_LINES: usize = 100;

/// One line of the proxy's answer, at most [`MAX_PROXY_LINE`] bytes: a proxy that never
/// ends its line is an error, not a growing buffer. Empty at the end of the stream.
async fn read_head_line(stream: &mut BufReader<TcpStream>) -> std::io::Result<String> {
    let mut line = Vec::new();
    (&mut *stream)
        .take(MAX_PROXY_LINE)
        .read_until(b'\n', &mut line)
        .await?;
    if line.len() as u64 >= MAX_PROXY_LINE && !line.ends_with(b"\n") {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!(
                "its answer to CONNECT has a line longer than {} KiB",
                MAX_PROXY_LINE / 1024
            ),
        ));
    }
    Ok(String::from_utf8_lossy(&line).into_owned())
}

/// TCP to `target`'s addresses of `family`, in the resolver's order.
async fn connect_over(host: &str, target: &str, family: Family) -> Result<TcpStream, ConnectError> {
    let dial_error = |source| ConnectError::Dial {
        what: target.to_string(),
        source,
    };
    let addrs: Vec<std::net::SocketAddr> = tokio::net::lookup_host(target)
        .await
        .map_err(dial_error)?
        .filter(|a| Family::of(a.ip()) == family)
        .collect();
    let mut last = None;
    for addr in &addrs {
        match TcpStream::connect(addr).await {
            Ok(tcp) => {
                let _ = tcp.set_nodelay(true);
                return Ok(tcp);
            }
            Err(e) => last = Some(e),
        }
    }
    Err(match last {
        Some(source) => dial_error(source),
        None => ConnectError::Family {
            host: host.to_string(),
            family,
        },
    })
}

async fn connect_tcp(addr: &str, what: &str) -> Result<TcpStream, ConnectError> {
    let tcp = TcpStream::connect(addr)
        .await
        .map_err(|source| ConnectError::Dial {
            what: what.to_string(),
            source,
        })?;
    // Keystrokes must not wait for Nagle.
    let _ = tcp.set_nodelay(true);
    Ok(tcp)
}

/// Refuses an `https://` proxy in the environment before anything goes out (the API calls
/// would speak TLS to it, the tunnel would not).
pub fn check_proxy_env() -> Result<(), ConnectError> {
    for name in ["HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"] {
        if let Ok(value) = std::env::var(name)
            && value.trim().to_ascii_lowercase().starts_with("https://")
        {
            let uri: Option<http::Uri> = value.trim().parse().ok();
            let proxy = uri
                .and_then(|u| u.host().map(str::to_string))
                .unwrap_or_else(|| "in HTTPS_PROXY".into());
            return Err(ConnectError::ProxyScheme { proxy });
        }
    }
    Ok(())
}

/// The proxy (`host:port`, `Proxy-Authorization` value, whether it is an `https://` URL)
/// for `https://target`, from the environment.
fn https_proxy_for(target: &str) -> Option<(String, Option<String>, bool)> {
    let uri: http::Uri = format!("https://{target}").parse().ok()?;
    let intercept = Matcher::from_env().intercept(&uri)?;
    let proxy = intercept.uri();
    let host = proxy.host()?;
    let port = proxy.port_u16().unwrap_or(match proxy.scheme_str() {
        Some("https") => 443,
        _ => 80,
    });
    let auth = intercept
        .basic_auth()
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let tls_proxy = proxy.scheme_str() == Some("https");
    Some((format!("{host}:{port}"), auth, tls_proxy))
}

fn bracketed(host: &str) -> String {
    if host.contains(':') {
        format!("[{host}]")
    } else {
        host.to_string()
    }
}

/// Turns a failed upgrade into the endpoint's own words where it gave any.
fn handshake_error(host: &str, e: WsError) -> ConnectError {
    match e {
        WsError::Http(response) => {
            let status = response.status().as_u16();
            let body = response.body().as_deref().unwrap_or_default();
            let (code, message) = parse_error_body(body);
            ConnectError::Refused {
                status,
                code,
                message,
            }
        }
        WsError::Io(source) => ConnectError::Dial {
            what: host.to_string(),
            source,
        },
        other => ConnectError::Handshake {
            host: host.to_string(),
            reason: printable::escape(&other.to_string()),
        },
    }
}

/// Reads `{"ErrorCode": …, "Message": …}`; anything else is shown as text.
pub fn parse_error_body(body: &[u8]) -> (Option<String>, String) {
    #[derive(serde::Deserialize)]
    struct Body {
        #[serde(rename = "ErrorCode")]
        code: Option<String>,
        #[serde(rename = "Message", alias = "message")]
        message: Option<String>,
    }
    // The endpoint's words reach the terminal: escaped, and the raw body kept short.
    match serde_json::from_slice::<Body>(body) {
        Ok(b) => (
            b.code.map(|c| printable::escape(&c)),
            printable::escape(&b.message.unwrap_or_default()),
        ),
        Err(_) => {
            let text = printable::escape_bytes(body.trim_ascii());
            let text: String = text.chars().take(300).collect();
            (None, text)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_error_bodies_are_read() {
        let body = br#"{"ErrorCode":"InvalidParameter","Message":"The specified RemotePort is not valid."}"#;
        let (code, msg) = parse_error_body(body);
        assert_eq!(code.as_deref(), Some("InvalidParameter"));
        assert_eq!(msg, "The specified RemotePort is not valid.");
        let e = ConnectError::Refused {
            status: 400,
            code,
            message: msg,
        };
        assert_eq!(
            e.to_string(),
            "the endpoint refused the tunnel (HTTP 400, InvalidParameter): The specified RemotePort is not valid."
        );
    }

    #[test]
    fn other_bodies_are_shown_as_text() {
        let (code, msg) = parse_error_body(b"  Forbidden \n");
        assert_eq!((code, msg.as_str()), (None, "Forbidden"));
    }

    #[test]
    fn bodies_from_the_endpoint_are_escaped() {
        let (code, msg) =
            parse_error_body(br#"{"ErrorCode":"X\u001b[2J","Message":"a\u001b]0;title\u0007b"}"#);
        assert_eq!(code.as_deref(), Some("X\\033[2J"));
        assert_eq!(msg, "a\\033]0;title\\007b");
        let (_, msg) = parse_error_body(b"<h1>\x1b[31mred\xff</h1>");
        assert_eq!(msg, "<h1>\\033[31mred\\xff</h1>");
    }
}
