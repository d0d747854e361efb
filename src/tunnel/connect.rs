//! Opens a tunnel: the endpoint dialled as every connection is (`net::dial`: directly or
//! through the proxy the environment names, then TLS), then the WebSocket upgrade.

use std::sync::Arc;
use std::time::Duration;

use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{Error as WsError, http};

use super::endpoint::{Scheme, TunnelEndpoint};
use super::presign::redact;
use super::stream::Tunnel;
use super::transport::Transport;
use crate::family::Family;
pub use crate::net::dial::Phase;
use crate::net::dial::{self, Dest, DialError, Progress, Road};
use crate::net::proxy::{Proxies, Proxy};
use crate::net::timeouts;
use crate::printable;

/// How long the whole connect (TCP, proxy, TLS, upgrade) may take.
pub const CONNECT_TIMEOUT: Duration = timeouts::CONNECT;

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
    /// The proxy refused the CONNECT (407, 403…): its sentence, naming the variable.
    #[error("{0}")]
    Proxy(String),
    /// TLS handshake failed (certificate, protocol).
    #[error("TLS handshake with {host} failed: {source}")]
    Tls {
        /// Host name verified.
        host: String,
        #[source]
        source: std::io::Error,
    },
    /// A proxy variable cannot be used (its sentence, naming the variable).
    #[error("{0}")]
    ProxySetting(String),
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
    /// Nothing finished within the connect limit (`connect_timeout`, else
    /// [`CONNECT_TIMEOUT`]).
    #[error("timed out after {secs} s opening the tunnel to {host}, at {phase}: check the network{}, then retry", variable.map(|v| format!(" and {v}")).unwrap_or_default())]
    Timeout {
        /// The limit, in seconds.
        secs: u64,
        /// Host name.
        host: String,
        /// The phase that did not finish.
        phase: Phase,
        /// The proxy variable, when the tunnel went through a proxy.
        variable: Option<&'static str>,
    },
}

impl From<DialError> for ConnectError {
    fn from(e: DialError) -> Self {
        match e {
            DialError::Dial { what, source } => ConnectError::Dial { what, source },
            e @ DialError::Proxy { .. } => ConnectError::Proxy(e.to_string()),
            DialError::Tls { host, source } => ConnectError::Tls { host, source },
            DialError::Family { host, family } => ConnectError::Family { host, family },
            DialError::Timeout {
                host,
                phase,
                variable,
            } => ConnectError::Timeout {
                secs: timeouts::CONNECT.as_secs(),
                host,
                phase,
                variable,
            },
            DialError::Setting(why) => ConnectError::ProxySetting(why),
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
    open_over(endpoint, url, tls, ahead, None, CONNECT_TIMEOUT).await
}

/// [`open`], a new direct connection going over `family` only, when one is given (the
/// family the guard judged), within `limit` (the settings' `connect_timeout`).
pub async fn open_over(
    endpoint: &TunnelEndpoint,
    url: &str,
    tls: &Arc<rustls::ClientConfig>,
    ahead: Option<Transport>,
    family: Option<Family>,
    limit: Duration,
) -> Result<Tunnel, ConnectError> {
    tracing::debug!("opening tunnel {}", redact(url));
    let host = endpoint.host.clone();
    let progress = Progress::default();
    let proxy = proxy_for(endpoint)?;
    let opening = async {
        let transport = match ahead {
            Some(transport) => transport,
            None => {
                let (transport, road) =
                    dial::connect(&dest(endpoint), proxy.as_ref(), tls, family, &progress).await?;
                tracing::info!("tunnel to {} ({road})", endpoint.host);
                transport
            }
        };
        upgrade(endpoint, url, transport, &progress).await
    };
    tokio::time::timeout(limit, opening)
        .await
        .map_err(|_| ConnectError::Timeout {
            secs: limit.as_secs(),
            host,
            phase: progress.get(),
            variable: proxy.as_ref().map(|p| p.variable),
        })?
}

/// Where a tunnel to `endpoint` is dialled.
pub fn dest(endpoint: &TunnelEndpoint) -> Dest {
    Dest {
        secure: endpoint.scheme == Scheme::Wss,
        host: endpoint.host.clone(),
        port: endpoint.port,
    }
}

/// The proxy a tunnel to `endpoint` goes through, from the environment.
pub fn proxy_for(endpoint: &TunnelEndpoint) -> Result<Option<Proxy>, ConnectError> {
    let proxies = Proxies::from_env().map_err(|f| ConnectError::ProxySetting(f.message))?;
    let d = dest(endpoint);
    Ok(proxies.for_host(d.secure, &d.host, d.port))
}

/// The road a tunnel to `endpoint` takes ("direct", "via proxy.corp:3128").
pub fn road(endpoint: &TunnelEndpoint) -> Result<Road, ConnectError> {
    Ok(Road::of(proxy_for(endpoint)?.as_ref()))
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
    matches!(road(endpoint), Ok(Road::Proxy(_)))
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
