//! The one dialer: TCP straight to a host (over one address family when asked) or through
//! the proxy the environment names for it (HTTP CONNECT), then TLS; it returns the stream
//! and the road it took, so what was checked and what is used can be compared.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};

use rustls_pki_types::ServerName;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

use super::proxy::{Proxies, Proxy};
use super::timeouts;
use super::transport::{READ_BUFFER, Transport};
use crate::family::Family;
use crate::printable;

/// Where a connection goes.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Dest {
    /// TLS to the host (`https://`, `wss://`); else plain TCP (`http://`, `ws://`).
    pub secure: bool,
    /// Host name or address (no brackets).
    pub host: String,
    /// TCP port.
    pub port: u16,
}

impl Dest {
    /// `host:port`, IPv6 in brackets.
    pub fn authority(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }

    /// The destination of an `http(s)://` or `ws(s)://` URL.
    pub fn of_url(url: &str) -> Option<Dest> {
        let uri: http::Uri = url.parse().ok()?;
        let secure = match uri.scheme_str()? {
            "https" | "wss" => true,
            "http" | "ws" => false,
            _ => return None,
        };
        let host = uri.host()?.trim_start_matches('[').trim_end_matches(']');
        Some(Dest {
            secure,
            host: host.to_string(),
            port: uri.port_u16().unwrap_or(if secure { 443 } else { 80 }),
        })
    }
}

impl fmt::Display for Dest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.authority())
    }
}

/// The road a connection took out of this machine.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Road {
    /// Straight to the host.
    Direct,
    /// Through the proxy at this `host:port` (never its credentials).
    Proxy(String),
}

impl Road {
    /// The road through `proxy`, or direct.
    pub fn of(proxy: Option<&Proxy>) -> Road {
        proxy.map_or(Road::Direct, |p| Road::Proxy(p.address()))
    }
}

impl fmt::Display for Road {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Road::Direct => f.write_str("direct"),
            Road::Proxy(addr) => write!(f, "via {addr}"),
        }
    }
}

/// How far a connection got, for the message when it times out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Phase {
    /// TCP connect to the host.
    Tcp,
    /// TCP connect to the proxy.
    ProxyTcp,
    /// The proxy's answer to CONNECT.
    ProxyConnect,
    /// TLS handshake with the host.
    Tls,
    /// The WebSocket upgrade (the endpoint's HTTP answer).
    Upgrade,
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
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
pub struct Progress(AtomicU8);

impl Progress {
    /// Records that `phase` started.
    pub fn set(&self, phase: Phase) {
        self.0.store(phase as u8, Ordering::Relaxed);
    }

    /// The phase last started.
    pub fn get(&self) -> Phase {
        match self.0.load(Ordering::Relaxed) {
            x if x == Phase::ProxyTcp as u8 => Phase::ProxyTcp,
            x if x == Phase::ProxyConnect as u8 => Phase::ProxyConnect,
            x if x == Phase::Tls as u8 => Phase::Tls,
            x if x == Phase::Upgrade as u8 => Phase::Upgrade,
            _ => Phase::Tcp,
        }
    }
}

/// Why a connection could not be made.
#[derive(Debug, thiserror::Error)]
pub enum DialError {
    /// TCP connect to the host or proxy failed, or the proxy broke its answer.
    #[error("cannot reach {what}: {source}")]
    Dial {
        /// `host:port`, with "proxy" when it was the proxy.
        what: String,
        /// What the system said.
        #[source]
        source: std::io::Error,
    },
    /// The proxy answered CONNECT with something else than 2xx.
    #[error("{}", proxy_refusal(proxy, variable, target, status))]
    Proxy {
        /// The proxy's `host:port`.
        proxy: String,
        /// The variable that named it.
        variable: &'static str,
        /// `host:port` asked for.
        target: String,
        /// The proxy's status line (escaped).
        status: String,
    },
    /// The TLS handshake failed (certificate, protocol, a proxy that closed).
    #[error("TLS handshake with {host} failed: {source}")]
    Tls {
        /// Host name verified, and the road when it was a proxy.
        host: String,
        /// What rustls or the socket said.
        #[source]
        source: std::io::Error,
    },
    /// A connection pinned to a family found no address of it.
    #[error(
        "refusing to open the tunnel: {host} has no {family} address, and the egress check judged this network's {family} egress (a tunnel goes out over the family that was checked); check with `eic-ssh egress`, or name an endpoint reachable over {family}"
    )]
    Family {
        /// Host name.
        host: String,
        /// The family that was checked.
        family: Family,
    },
    /// Nothing finished within the connect limit.
    #[error("timed out after {} s connecting to {host}, at {phase}: check the network{}, then retry", timeouts::CONNECT.as_secs(), variable.map(|v| format!(" and {v}")).unwrap_or_default())]
    Timeout {
        /// Host name.
        host: String,
        /// The phase that did not finish.
        phase: Phase,
        /// The proxy variable, when the road went through a proxy.
        variable: Option<&'static str>,
    },
    /// A proxy variable cannot be used (its sentence).
    #[error("{0}")]
    Setting(String),
}

fn proxy_refusal(proxy: &str, variable: &str, target: &str, status: &str) -> String {
    let code = status.split_whitespace().nth(1).unwrap_or_default();
    let advice = match code {
        "407" => format!(
            "; check the user name and password in {variable} (http://USER:PASSWORD@HOST:PORT)"
        ),
        "403" => "; the proxy does not allow this destination: ask its administrator, or exempt the host in NO_PROXY if it can be reached directly".to_string(),
        _ => format!("; check {variable}"),
    };
    format!("the proxy {proxy} ({variable}) refused to connect to {target}: {status}{advice}")
}

/// The rules a connection's road comes from.
#[derive(Debug, Clone)]
pub enum Rule {
    /// The proxy variables decide for each host (or they could not be read: this sentence).
    Env(Result<Proxies, String>),
    /// Every connection takes this road: through this proxy, or direct (an egress check
    /// made on the road the tunnel will take).
    Fixed(Option<Proxy>),
}

impl Rule {
    /// The proxy variables of this process.
    pub fn from_env() -> Rule {
        Rule::Env(Proxies::from_env().map_err(|f| f.message))
    }

    /// The proxy for `dest` (`None`: direct).
    pub fn proxy_for(&self, dest: &Dest) -> Result<Option<Proxy>, DialError> {
        match self {
            Rule::Env(Ok(proxies)) => Ok(proxies.for_host(dest.secure, &dest.host, dest.port)),
            Rule::Env(Err(why)) => Err(DialError::Setting(why.clone())),
            Rule::Fixed(proxy) => Ok(proxy.clone()),
        }
    }
}

/// Connects to `dest` along `proxy` (or directly, over `family` only when given) within
/// the connect limit; the stream and the road taken.
pub async fn open(
    dest: &Dest,
    proxy: Option<&Proxy>,
    tls: &Arc<rustls::ClientConfig>,
    family: Option<Family>,
) -> Result<(Transport, Road), DialError> {
    let progress = Progress::default();
    tokio::time::timeout(
        timeouts::CONNECT,
        connect(dest, proxy, tls, family, &progress),
    )
    .await
    .map_err(|_| DialError::Timeout {
        host: dest.host.clone(),
        phase: progress.get(),
        variable: proxy.map(|p| p.variable),
    })?
}

/// [`open`] without its limit, reporting its phases to `progress` (a caller that bounds
/// more than the connection, such as the tunnel's upgrade).
pub async fn connect(
    dest: &Dest,
    proxy: Option<&Proxy>,
    tls: &Arc<rustls::ClientConfig>,
    family: Option<Family>,
    progress: &Progress,
) -> Result<(Transport, Road), DialError> {
    let tcp = match proxy {
        None => {
            let tcp = match family {
                Some(family) => connect_over(&dest.host, &dest.authority(), family).await?,
                None => connect_tcp(&dest.authority(), &dest.authority()).await?,
            };
            BufReader::with_capacity(READ_BUFFER, tcp)
        }
        Some(proxy) => through(dest, proxy, progress).await?,
    };
    let road = Road::of(proxy);
    if !dest.secure {
        return Ok((Transport::Plain(tcp), road));
    }
    progress.set(Phase::Tls);
    let shown = match proxy {
        Some(p) => format!("{} (through the proxy {p} from {})", dest.host, p.variable),
        None => dest.host.clone(),
    };
    let name = ServerName::try_from(dest.host.clone()).map_err(|e| DialError::Tls {
        host: shown.clone(),
        source: std::io::Error::other(e),
    })?;
    let stream = tokio_rustls::TlsConnector::from(tls.clone())
        .connect(name, tcp)
        .await
        .map_err(|source| DialError::Tls {
            host: shown,
            source,
        })?;
    Ok((Transport::Tls(Box::new(stream)), road))
}

/// TCP to `proxy`, then CONNECT to `dest`; the stream once the proxy said 2xx.
async fn through(
    dest: &Dest,
    proxy: &Proxy,
    progress: &Progress,
) -> Result<BufReader<TcpStream>, DialError> {
    let target = dest.authority();
    let proxy_addr = proxy.address();
    tracing::debug!(
        "connecting to {target} through proxy {proxy_addr} ({})",
        proxy.variable
    );
    progress.set(Phase::ProxyTcp);
    let what = format!("proxy {proxy_addr} ({})", proxy.variable);
    let tcp = connect_tcp(&proxy_addr, &what).await?;
    progress.set(Phase::ProxyConnect);
    let mut stream = BufReader::with_capacity(READ_BUFFER, tcp);
    let mut head = format!("CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n");
    if let Some(auth) = proxy.authorization.as_ref().and_then(|a| a.to_str().ok()) {
        head.push_str(&format!("Proxy-Authorization: {auth}\r\n"));
    }
    head.push_str("\r\n");
    let io_err = |source| DialError::Dial {
        what: what.clone(),
        source,
    };
    stream
        .get_mut()
        .write_all(head.as_bytes())
        .await
        .map_err(io_err)?;
    let status = read_head_line(&mut stream).await.map_err(io_err)?;
    if status.is_empty() {
        return Err(io_err(std::io::Error::new(
            std::io::ErrorKind::UnexpectedEof,
            "it closed the connection without answering CONNECT",
        )));
    }
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
        return Err(DialError::Proxy {
            proxy: proxy_addr,
            variable: proxy.variable,
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
async fn connect_over(host: &str, target: &str, family: Family) -> Result<TcpStream, DialError> {
    let dial_error = |source| DialError::Dial {
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
        None => DialError::Family {
            host: host.to_string(),
            family,
        },
    })
}

async fn connect_tcp(addr: &str, what: &str) -> Result<TcpStream, DialError> {
    let tcp = TcpStream::connect(addr)
        .await
        .map_err(|source| DialError::Dial {
            what: what.to_string(),
            source,
        })?;
    // Keystrokes must not wait for Nagle.
    let _ = tcp.set_nodelay(true);
    Ok(tcp)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roads_read_as_the_user_sees_them() {
        assert_eq!(Road::Direct.to_string(), "direct");
        assert_eq!(
            Road::Proxy("proxy.corp:3128".into()).to_string(),
            "via proxy.corp:3128"
        );
    }

    #[test]
    fn destinations_of_urls() {
        let d = Dest::of_url("https://[::1]:8443/x").unwrap();
        assert_eq!((d.secure, d.host.as_str(), d.port), (true, "::1", 8443));
        assert_eq!(d.authority(), "[::1]:8443");
        let d = Dest::of_url("http://checkip.example/").unwrap();
        assert_eq!((d.secure, d.port), (false, 80));
        assert!(Dest::of_url("ftp://x").is_none());
    }

    #[test]
    fn proxy_refusals_say_what_to_do() {
        let e = DialError::Proxy {
            proxy: "p:1".into(),
            variable: "HTTPS_PROXY",
            target: "a:443".into(),
            status: "HTTP/1.1 407 Proxy Authentication Required".into(),
        };
        assert!(
            e.to_string()
                .contains("check the user name and password in HTTPS_PROXY")
        );
    }
}
