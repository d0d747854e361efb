//! A small HTTP CONNECT proxy for the tests: it logs the target of every CONNECT, can ask
//! for Basic credentials, and can misbehave (refuse, hang, close during TLS). Like a
//! corporate proxy it may leave from its own address and resolve names itself.

use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

/// How the proxy answers a CONNECT.
#[derive(Clone, Debug)]
pub enum Behaviour {
    /// 200, then relays both ways.
    Relay,
    /// Relays only when `Proxy-Authorization` is this value (`Basic …`), else 407.
    RequireAuth(String),
    /// Answers with this status line (`403 Forbidden`) and closes.
    Refuse(&'static str),
    /// Reads the CONNECT and never answers.
    Hang,
    /// Says 200 and closes before the TLS handshake is over.
    CloseAfterOk,
}

/// Where the proxy's onward connections go and leave from.
#[derive(Clone, Debug, Default)]
pub struct Onward {
    /// The local address they leave from (`127.0.0.2`: the internet sees the proxy's
    /// address, not the client's); `None`: whatever the system picks.
    pub from: Option<IpAddr>,
    /// Names this proxy resolves itself (`host:port` as in the CONNECT → where it goes),
    /// as a proxy with its own DNS does.
    pub names: Vec<(String, SocketAddr)>,
}

/// A running proxy (its threads end with the test process).
pub struct ConnectProxy {
    /// Its port on 127.0.0.1.
    pub port: u16,
    log: Arc<Mutex<Vec<String>>>,
    /// The local address of each connection it made onwards: what the server sees.
    onward: Arc<Mutex<Vec<String>>>,
    held: Arc<Mutex<Vec<TcpStream>>>,
    /// `host:port` targets relayed elsewhere: the DNS of the test's little internet.
    names: Arc<Mutex<Vec<(String, String)>>>,
}

impl ConnectProxy {
    /// Starts a proxy that answers as `behaviour` says.
    pub fn start(behaviour: Behaviour) -> ConnectProxy {
        ConnectProxy::start_with(behaviour, Onward::default())
    }

    /// Starts a proxy that answers as `behaviour` says and connects onwards as `onward` says.
    pub fn start_with(behaviour: Behaviour, onward_rules: Onward) -> ConnectProxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let log = Arc::new(Mutex::new(Vec::new()));
        let onward = Arc::new(Mutex::new(Vec::new()));
        let held = Arc::new(Mutex::new(Vec::new()));
        let names = Arc::new(Mutex::new(Vec::new()));
        let (l, o, h, n) = (log.clone(), onward.clone(), held.clone(), names.clone());
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let (l, o, h, b) = (l.clone(), o.clone(), h.clone(), behaviour.clone());
                let (n, rules) = (n.clone(), onward_rules.clone());
                std::thread::spawn(move || serve(client, &b, &rules, &l, &o, &h, &n));
            }
        });
        ConnectProxy {
            port,
            log,
            onward,
            held,
            names,
        }
    }

    /// CONNECTs to `target` (`host:port`, e.g. an endpoint's DNS name and 443) go to `to`
    /// instead: the client's name, Host and TLS server name stay the production ones.
    pub fn resolve(&self, target: &str, to: std::net::SocketAddr) {
        self.names
            .lock()
            .unwrap()
            .push((target.to_string(), to.to_string()));
    }

    /// `http://127.0.0.1:PORT`, with `userinfo@` when given.
    pub fn url(&self, userinfo: Option<&str>) -> String {
        match userinfo {
            Some(u) => format!("http://{u}@127.0.0.1:{}", self.port),
            None => format!("http://127.0.0.1:{}", self.port),
        }
    }

    /// The `host:port` of every CONNECT so far, in order.
    pub fn targets(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }

    /// Whether some CONNECT went to `port` (of any host).
    pub fn connected_to_port(&self, port: u16) -> bool {
        let suffix = format!(":{port}");
        self.targets().iter().any(|t| t.ends_with(&suffix))
    }

    /// Whether a server that saw a connection from `peer` (`ip:port`) got it through this
    /// proxy.
    pub fn carried(&self, peer: &str) -> bool {
        self.onward.lock().unwrap().iter().any(|a| a == peer)
    }

    /// Forgets the CONNECTs so far.
    pub fn clear(&self) {
        self.log.lock().unwrap().clear();
    }
}

/// Connects to `target` (`host:port`) as `rules` say.
fn connect_onward(target: &str, rules: &Onward) -> std::io::Result<TcpStream> {
    let to = match rules.names.iter().find(|(name, _)| name == target) {
        Some((_, addr)) => *addr,
        None => std::net::ToSocketAddrs::to_socket_addrs(target)?
            .next()
            .ok_or_else(|| std::io::Error::other("no address"))?,
    };
    let Some(from) = rules.from else {
        return TcpStream::connect(to);
    };
    // std cannot bind before connecting; tokio's socket can.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()?;
    let stream = runtime.block_on(async {
        let socket = match from {
            IpAddr::V4(_) => tokio::net::TcpSocket::new_v4()?,
            IpAddr::V6(_) => tokio::net::TcpSocket::new_v6()?,
        };
        socket.bind(SocketAddr::new(from, 0))?;
        socket.connect(to).await
    })?;
    let stream = stream.into_std()?;
    stream.set_nonblocking(false)?;
    Ok(stream)
}

fn serve(
    mut client: TcpStream,
    behaviour: &Behaviour,
    rules: &Onward,
    log: &Mutex<Vec<String>>,
    onward: &Mutex<Vec<String>>,
    held: &Mutex<Vec<TcpStream>>,
    names: &Mutex<Vec<(String, String)>>,
) {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if client.read(&mut byte).unwrap_or(0) == 0 {
            return;
        }
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head).into_owned();
    let mut words = head.split_whitespace();
    if words.next() != Some("CONNECT") {
        let _ = client.write_all(b"HTTP/1.1 405 Method Not Allowed\r\n\r\n");
        return;
    }
    let target = words.next().unwrap_or_default().to_string();
    log.lock().unwrap().push(target.clone());
    let auth = head
        .lines()
        .find_map(|l| l.strip_prefix("Proxy-Authorization: "))
        .map(str::to_string);
    match behaviour {
        Behaviour::Relay => {}
        Behaviour::RequireAuth(expected) if auth.as_deref() == Some(expected) => {}
        Behaviour::RequireAuth(_) => {
            let _ = client.write_all(
                b"HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm=\"corp\"\r\n\r\n",
            );
            return;
        }
        Behaviour::Refuse(status) => {
            let _ = client.write_all(format!("HTTP/1.1 {status}\r\n\r\n").as_bytes());
            return;
        }
        Behaviour::Hang => {
            held.lock().unwrap().push(client);
            return;
        }
        Behaviour::CloseAfterOk => {
            let _ = client.write_all(b"HTTP/1.1 200 Connection established\r\n\r\n");
            // Read the ClientHello's first bytes, then hang up.
            let _ = client.read(&mut [0u8; 64]);
            return;
        }
    }
    let onward_to = names
        .lock()
        .unwrap()
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case(&target))
        .map_or(target, |(_, to)| to.clone());
    let Ok(upstream) = connect_onward(&onward_to, rules) else {
        let _ = client.write_all(b"HTTP/1.1 502 Bad Gateway\r\n\r\n");
        return;
    };
    if let Ok(local) = upstream.local_addr() {
        onward.lock().unwrap().push(local.to_string());
    }
    let _ = client.write_all(b"HTTP/1.1 200 Connection established\r\n\r\n");
    let (mut c2, mut u2) = (client.try_clone().unwrap(), upstream.try_clone().unwrap());
    let (mut c1, mut u1) = (client, upstream);
    let t = std::thread::spawn(move || {
        let _ = std::io::copy(&mut c1, &mut u1);
        let _ = u1.shutdown(std::net::Shutdown::Write);
    });
    let _ = std::io::copy(&mut u2, &mut c2);
    let _ = c2.shutdown(std::net::Shutdown::Write);
    let _ = t.join();
}
