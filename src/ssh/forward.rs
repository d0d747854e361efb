//! Port forwarding over the session's one SSH connection: `-L` listeners and `-D` SOCKS
//! proxies whose every accepted connection becomes a `direct-tcpip` channel (names are
//! resolved on the instance, and 100 connections use one of the endpoint's 20 slots), and
//! `-R` ports on the instance whose connections come back as `forwarded-tcpip` channels.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::StreamExt;
use futures_util::future::BoxFuture;
use futures_util::stream::FuturesUnordered;
use russh::Channel;
use russh::client::{Handle, Msg};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use super::client::Callbacks;
use super::socks;
use crate::error::{Failure, Kind};
use crate::printable;

/// One `-R` as the user wrote it: a port on the instance whose connections come back here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteForward {
    /// The address the instance listens on (`localhost` unless the user named another).
    pub bind: String,
    /// The port on the instance; 0 lets the server choose (and the chosen one is printed).
    pub port: u16,
    /// Where its connections go, from this machine.
    pub host: String,
    /// Port on that host.
    pub host_port: u16,
    /// The spec as typed, for messages.
    pub spec: String,
}

/// Parses `-R [bind_address:]port:host:hostport`.
pub fn parse_remote(spec: &str) -> Result<RemoteForward, Failure> {
    let parts = split_spec(spec);
    let bad = || {
        Failure::usage(format!(
            "-R {spec}: expected [bind_address:]port:host:hostport, e.g. -R 8080:localhost:3000"
        ))
    };
    let (bind, port, host, host_port) = match parts.as_slice() {
        [port, host, hostport] => ("localhost", port, host, hostport),
        [bind, port, host, hostport] if !bind.is_empty() => (bind.as_str(), port, host, hostport),
        _ => return Err(bad()),
    };
    if host.is_empty() {
        return Err(bad());
    }
    Ok(RemoteForward {
        bind: bind.to_string(),
        // 0: the instance picks a port (printed), as with OpenSSH.
        port: port.parse().map_err(|_| bad())?,
        host: host.clone(),
        host_port: destination_port(host_port, "-R", spec)?,
        spec: spec.to_string(),
    })
}

/// The port a forward connects to: 1–65535 (OpenSSH refuses 0 there too; only a
/// listening port may be 0).
fn destination_port(text: &str, flag: &str, spec: &str) -> Result<u16, Failure> {
    match text.parse::<u16>() {
        Ok(0) => Err(Failure::usage(format!(
            "{flag} {spec}: port 0 is not a destination: name the port to connect to (1-65535)"
        ))),
        Ok(port) => Ok(port),
        Err(_) => Err(Failure::usage(format!(
            "{flag} {spec}: {} is not a port number (1-65535)",
            printable::escape(&format!("{text:?}"))
        ))),
    }
}

/// The `-R` forwards the server may open channels for: port on the instance → where the
/// connection goes here. Shared with the russh handler, which sees the channels.
#[derive(Debug, Clone, Default)]
pub struct RemoteForwards(Arc<Mutex<HashMap<u32, (String, u16)>>>);

impl RemoteForwards {
    /// Sends connections to `port` on the instance to `host:host_port` here.
    pub fn add(&self, port: u32, host: &str, host_port: u16) {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(port, (host.to_string(), host_port));
    }

    /// Where connections to `port` go, if we asked for that port.
    pub fn destination(&self, port: u32) -> Option<(String, u16)> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&port)
            .cloned()
    }
}

/// Asks the server for every `-R` and records where their connections go. A refusal is
/// an error with `strict` (`--exit-on-forward-failure`), else a warning.
pub async fn request_remote(
    handle: &Handle<Callbacks>,
    remote: &RemoteForwards,
    forwards: &[RemoteForward],
    strict: bool,
) -> Result<(), Failure> {
    for f in forwards {
        match handle
            .tcpip_forward(f.bind.clone(), u32::from(f.port))
            .await
        {
            Ok(port) => {
                let port = if port == 0 { u32::from(f.port) } else { port };
                remote.add(port, &f.host, f.host_port);
                if f.port == 0 {
                    // OpenSSH's words, so scripts that read them keep working.
                    eprintln!(
                        "Allocated port {port} for remote forward to {}:{}",
                        f.host, f.host_port
                    );
                }
                eprintln!(
                    "eic-ssh: remote forward: {}:{port} on the instance → {}:{} (from here)",
                    f.bind, f.host, f.host_port
                );
            }
            Err(e) if strict => {
                return Err(Failure::new(
                    Kind::Ssh,
                    format!(
                        "the instance refused the remote forward {} ({e}); --exit-on-forward-failure stops here",
                        f.spec
                    ),
                ));
            }
            Err(e) => eprintln!(
                "eic-ssh: warning: the instance refused the remote forward {} ({e}); going on without it",
                f.spec
            ),
        }
    }
    Ok(())
}

/// A connection the server opened for an `-R` forward, to `host:port` here.
pub async fn remote_connection(channel: Channel<Msg>, host: String, port: u16, peer: String) {
    let mut local = match TcpStream::connect((host.as_str(), port)).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!(
                "eic-ssh: remote forward from {peer}: cannot connect to {host}:{port} here: {e}"
            );
            return;
        }
    };
    let _ = local.set_nodelay(true);
    let mut stream = channel.into_stream();
    match tokio::io::copy_bidirectional_with_sizes(
        &mut stream,
        &mut local,
        FROM_CHANNEL,
        TO_CHANNEL,
    )
    .await
    {
        Ok((up, down)) => tracing::info!(
            "remote forward {peer} → {host}:{port} closed ({down} bytes out, {up} bytes in)"
        ),
        Err(e) => tracing::info!("remote forward {peer} → {host}:{port} ended: {e}"),
    }
}

/// Where a forwarded connection goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Destination {
    /// `-L`: always this host and port, as the instance resolves it.
    Fixed {
        /// Host name or address, resolved on the instance.
        host: String,
        /// Port on that host.
        port: u16,
    },
    /// `-D`: whatever each SOCKS client asks for.
    Socks,
}

/// One `-L` or `-D` as the user wrote it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Forward {
    /// The local address to listen on (loopback unless the user named another).
    pub bind: SocketAddr,
    /// Where its connections go.
    pub to: Destination,
    /// The spec as typed, for messages.
    pub spec: String,
}

/// Parses `-L [bind_address:]port:host:hostport` (IPv6 in brackets, as OpenSSH).
pub fn parse_local(spec: &str) -> Result<Forward, Failure> {
    let parts = split_spec(spec);
    let bad = || {
        Failure::usage(format!(
            "-L {spec}: expected [bind_address:]port:host:hostport, e.g. -L 5432:db.internal:5432"
        ))
    };
    let (bind, port, host, hostport) = match parts.as_slice() {
        [port, host, hostport] => (None, port, host, hostport),
        [bind, port, host, hostport] => (Some(bind.as_str()), port, host, hostport),
        _ => return Err(bad()),
    };
    if host.is_empty() {
        return Err(bad());
    }
    Ok(Forward {
        bind: bind_addr(bind, port, spec)?,
        to: Destination::Fixed {
            host: host.clone(),
            port: destination_port(hostport, "-L", spec)?,
        },
        spec: spec.to_string(),
    })
}

/// Parses `-D [bind_address:]port`.
pub fn parse_dynamic(spec: &str) -> Result<Forward, Failure> {
    let parts = split_spec(spec);
    let (bind, port) = match parts.as_slice() {
        [port] => (None, port),
        [bind, port] => (Some(bind.as_str()), port),
        _ => {
            return Err(Failure::usage(format!(
                "-D {spec}: expected [bind_address:]port, e.g. -D 1080"
            )));
        }
    };
    Ok(Forward {
        bind: bind_addr(bind, port, spec)?,
        to: Destination::Socks,
        spec: spec.to_string(),
    })
}

/// `a:b:c`, with `[…]` kept whole (IPv6 addresses).
fn split_spec(spec: &str) -> Vec<String> {
    let mut parts = vec![String::new()];
    let mut bracket = false;
    for c in spec.chars() {
        match c {
            '[' if !bracket => bracket = true,
            ']' if bracket => bracket = false,
            ':' if !bracket => parts.push(String::new()),
            c => parts.last_mut().expect("never empty").push(c),
        }
    }
    parts
}

fn bind_addr(bind: Option<&str>, port: &str, spec: &str) -> Result<SocketAddr, Failure> {
    let port: u16 = port
        .parse()
        .map_err(|_| Failure::usage(format!("{spec}: {port:?} is not a port number")))?;
    let ip = match bind {
        None | Some("") | Some("localhost") => IpAddr::V4(Ipv4Addr::LOCALHOST),
        Some("*") => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        Some(text) => text.parse().map_err(|_| {
            Failure::usage(format!(
                "{spec}: bind address {text:?} is not an IP address (or localhost, or *)"
            ))
        })?,
    };
    Ok(SocketAddr::new(ip, port))
}

/// A forward whose listener is bound.
pub struct Bound {
    /// What the user asked for.
    pub forward: Forward,
    /// The bound listener.
    listener: TcpListener,
}

/// Binds every forward. With `strict` (`--exit-on-forward-failure`) a listener that cannot
/// bind is an error before anything else happens; otherwise it is a warning.
pub async fn bind_all(forwards: &[Forward], strict: bool) -> Result<Vec<Bound>, Failure> {
    let mut bound = Vec::new();
    for f in forwards {
        match TcpListener::bind(f.bind).await {
            Ok(listener) => {
                if !f.bind.ip().is_loopback() {
                    eprintln!(
                        "eic-ssh: warning: {} listens on {}: other hosts can use this forward",
                        f.spec, f.bind
                    );
                }
                bound.push(Bound {
                    forward: f.clone(),
                    listener,
                });
            }
            Err(e) if strict => {
                return Err(Failure::usage(format!(
                    "cannot listen on {} for {} ({e}); --exit-on-forward-failure stops here",
                    f.bind, f.spec
                )));
            }
            Err(e) => eprintln!(
                "eic-ssh: warning: cannot listen on {} for {}: {e}; going on without it",
                f.bind, f.spec
            ),
        }
    }
    Ok(bound)
}

impl Bound {
    /// The address it actually listens on (port 0 picks one).
    pub fn local_addr(&self) -> SocketAddr {
        self.listener.local_addr().unwrap_or(self.forward.bind)
    }

    /// One line for the list printed once the forwards are up.
    pub fn describe(&self) -> String {
        match &self.forward.to {
            Destination::Fixed { host, port } => format!(
                "forwarding {} → {host}:{port} (from the instance)",
                self.local_addr()
            ),
            Destination::Socks => format!(
                "SOCKS proxy on {} (names resolved on the instance)",
                self.local_addr()
            ),
        }
    }

    /// Accepts connections until the end of the session, each as a channel on the
    /// connection `link` holds at that moment.
    pub async fn serve(self, link: Link, admit: Admit) {
        let mut open = FuturesUnordered::new();
        loop {
            tokio::select! {
                accepted = self.listener.accept() => match accepted {
                    Ok((socket, peer)) => {
                        open.push(connection(link.clone(), socket, peer, &self.forward, &admit));
                    }
                    Err(e) => tracing::warn!("{}: accept failed: {e}", self.forward.spec),
                },
                Some(()) = open.next(), if !open.is_empty() => {
                    // The last connection of a burst is gone: give back what they used.
                    if open.is_empty() {
                        crate::local::memory::release();
                    }
                }
            }
        }
    }
}

/// The SSH connection that new forwarded connections use; `None` while reconnecting.
pub type Link = watch::Receiver<Option<Arc<Handle<Callbacks>>>>;

/// Whether an accepted connection may go out: the egress guard, run again for each one
/// (the network may have changed since the forwards came up, and the tunnel outlives it).
pub type Admit = Arc<dyn Fn() -> BoxFuture<'static, Result<(), Failure>> + Send + Sync>;

/// Bytes read at a time from the local socket into a channel. Measured (docs/benchmarks.md,
/// "History"): tokio's default 8 KiB gave 0.83× of OpenSSH's `-L`; 32 KiB gave 1.25× but
/// more memory and a wider spread across 100 connections; 16 KiB sits between.
const TO_CHANNEL: usize = 16 * 1024;

/// Bytes read at a time from a channel into the local socket: the channel hands over whole
/// packets already, so a small buffer costs little and keeps 100 connections lean.
const FROM_CHANNEL: usize = 8 * 1024;

/// How long a SOCKS client has to send its whole request: idle half-open clients must not
/// pile up (each holds a socket and a task).
pub const SOCKS_HANDSHAKE: Duration = crate::net::timeouts::SOCKS_HANDSHAKE;

/// How long a connection accepted while reconnecting waits for the new tunnel.
pub const WAIT_FOR_TUNNEL: Duration = crate::net::timeouts::WAIT_FOR_TUNNEL;

/// The current connection, waiting (bounded) while there is none.
async fn current(link: &mut Link) -> Option<Arc<Handle<Callbacks>>> {
    let ready = link.wait_for(Option::is_some);
    match tokio::time::timeout(WAIT_FOR_TUNNEL, ready).await {
        Ok(Ok(handle)) => handle.clone(),
        _ => None,
    }
}

/// One forwarded connection: where it goes (for `-D`, the SOCKS request), a
/// `direct-tcpip` channel, then bytes both ways until either side closes.
async fn connection(
    mut link: Link,
    mut socket: TcpStream,
    peer: SocketAddr,
    forward: &Forward,
    admit: &Admit,
) {
    let _ = socket.set_nodelay(true);
    let (host, port, socks) = match &forward.to {
        Destination::Fixed { host, port } => (host.clone(), *port, None),
        Destination::Socks => {
            match tokio::time::timeout(SOCKS_HANDSHAKE, socks::accept(&mut socket)).await {
                Ok(Ok(request)) => (request.host.clone(), request.port, Some(request)),
                Ok(Err(e)) => {
                    tracing::info!("{}: SOCKS client {peer}: {e}", forward.spec);
                    return;
                }
                Err(_) => {
                    tracing::info!(
                        "{}: SOCKS client {peer} did not finish its request within {} s; closed",
                        forward.spec,
                        SOCKS_HANDSHAKE.as_secs()
                    );
                    return;
                }
            }
        }
    };
    if let Err(f) = admit().await {
        if let Some(request) = &socks {
            let _ = request.deny(&mut socket).await;
        }
        eprintln!(
            "eic-ssh: warning: {}: closing the connection from {peer}: {}; the forward keeps listening",
            forward.spec,
            f.message.trim_end_matches('.')
        );
        return;
    }
    let Some(handle) = current(&mut link).await else {
        eprintln!(
            "eic-ssh: {}: no tunnel within {} s; closing the connection from {peer}",
            forward.spec,
            WAIT_FOR_TUNNEL.as_secs()
        );
        return;
    };
    let opened = handle
        .channel_open_direct_tcpip(
            host.clone(),
            u32::from(port),
            peer.ip().to_string(),
            u32::from(peer.port()),
        )
        .await;
    let channel = match opened {
        Ok(channel) => channel,
        Err(e) => {
            if let Some(request) = socks {
                let _ = request.refuse(&mut socket).await;
            }
            eprintln!(
                "eic-ssh: {}: the instance could not open {}:{port}: {}",
                forward.spec,
                printable::escape(&host),
                printable::escape(&e.to_string())
            );
            return;
        }
    };
    if let Some(request) = socks
        && request.grant(&mut socket).await.is_err()
    {
        return;
    }
    tracing::info!("{}: {peer} → {host}:{port} opened", forward.spec);
    let mut stream = channel.into_stream();
    match tokio::io::copy_bidirectional_with_sizes(
        &mut socket,
        &mut stream,
        TO_CHANNEL,
        FROM_CHANNEL,
    )
    .await
    {
        Ok((up, down)) => tracing::info!(
            "{}: {peer} → {host}:{port} closed ({up} bytes out, {down} bytes in)",
            forward.spec
        ),
        Err(e) => tracing::info!("{}: {peer} → {host}:{port} ended: {e}", forward.spec),
    }
}

/// Every forward from `-L` and `-D`, parsed.
pub fn parse_all(local: &[String], dynamic: &[String]) -> Result<Vec<Forward>, Failure> {
    let mut all = Vec::new();
    for spec in local {
        all.push(parse_local(spec)?);
    }
    for spec in dynamic {
        all.push(parse_dynamic(spec)?);
    }
    Ok(all)
}

/// Runs every bound forward until the session ends (never returns by itself).
pub async fn serve_all(bound: Vec<Bound>, link: Link, admit: Admit) {
    let mut all: FuturesUnordered<_> = bound
        .into_iter()
        .map(|b| b.serve(link.clone(), admit.clone()))
        .collect();
    while all.next().await.is_some() {}
    std::future::pending::<()>().await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_specs_as_openssh() {
        let f = parse_local("5432:db.internal:5432").unwrap();
        assert_eq!(f.bind, "127.0.0.1:5432".parse().unwrap());
        assert_eq!(
            f.to,
            Destination::Fixed {
                host: "db.internal".into(),
                port: 5432
            }
        );
        let f = parse_local("0.0.0.0:8080:10.0.0.5:80").unwrap();
        assert_eq!(f.bind, "0.0.0.0:8080".parse().unwrap());
        let f = parse_local("[::1]:8080:[2001:db8::5]:80").unwrap();
        assert_eq!(f.bind, "[::1]:8080".parse().unwrap());
        assert_eq!(
            f.to,
            Destination::Fixed {
                host: "2001:db8::5".into(),
                port: 80
            }
        );
        for bad in [
            "5432",
            "a:b:c",
            "1:host:x",
            "1::80",
            "1:2:3:4:5",
            "bad:1:h:2",
        ] {
            assert_eq!(parse_local(bad).unwrap_err().kind, Kind::Usage, "{bad}");
        }
    }

    #[test]
    fn remote_specs() {
        let r = parse_remote("0:localhost:3000").unwrap();
        assert_eq!(
            (r.bind.as_str(), r.port, r.host.as_str(), r.host_port),
            ("localhost", 0, "localhost", 3000)
        );
        let r = parse_remote("0.0.0.0:8080:127.0.0.1:80").unwrap();
        assert_eq!((r.bind.as_str(), r.port), ("0.0.0.0", 8080));
        assert!(parse_remote("8080:localhost").is_err() && parse_remote("x:h:1").is_err());
    }

    #[test]
    fn port_0_is_never_a_destination() {
        for spec in ["0:h:0", "8080:h:0", "127.0.0.1:1:h:0", "1:h:00"] {
            let e = parse_local(spec).unwrap_err();
            assert_eq!(e.kind, Kind::Usage, "{spec}");
            assert!(
                e.message.contains("port 0 is not a destination"),
                "{spec}: {e}"
            );
            let e = parse_remote(spec).unwrap_err();
            assert!(
                e.message.contains("port 0 is not a destination"),
                "{spec}: {e}"
            );
        }
        // A listening port may be 0: the instance (-R) or this machine (-L, -D) picks one.
        assert!(parse_remote("0:h:80").is_ok() && parse_local("0:h:80").is_ok());
        assert!(parse_local("1:h:65536").is_err() && parse_local("1:h:-1").is_err());
    }

    #[test]
    fn dynamic_specs() {
        assert_eq!(
            parse_dynamic("1080").unwrap().bind,
            "127.0.0.1:1080".parse().unwrap()
        );
        assert_eq!(
            parse_dynamic("*:1080").unwrap().bind,
            "0.0.0.0:1080".parse().unwrap()
        );
        assert!(parse_dynamic("a:b:c").is_err() && parse_dynamic("x").is_err());
    }
}
