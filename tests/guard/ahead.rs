//! Connections opened ahead (while the egress guard decides) carry nothing until taken, and
//! API calls share them: one connection per host, used again while it stays open.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::common;

use eic_ssh::ahead::Ahead;
use eic_ssh::aws::connections::{ApiConnections, target};
use eic_ssh::net::dial::Dest;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn tls() -> Arc<rustls::ClientConfig> {
    eic_ssh::net::client_config_with(None).unwrap()
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// A loopback listener, and the plain (no TLS) target it stands for.
fn plain_listener() -> (TcpListener, Dest) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let to = Dest {
        secure: false,
        host: "127.0.0.1".into(),
        port: listener.local_addr().unwrap().port(),
    };
    (listener, to)
}

/// Opens a connection to `to` ahead; the server's end of it.
async fn open_ahead_to(ahead: &Ahead, listener: TcpListener, to: &Dest) -> TcpStream {
    ahead.open(to.clone(), None, &tls());
    let (server, _) = tokio::task::spawn_blocking(move || listener.accept().unwrap())
        .await
        .unwrap();
    server
}

#[test]
fn a_connection_opened_ahead_sends_nothing_until_it_is_taken() {
    let (listener, to) = plain_listener();
    runtime().block_on(async {
        let ahead = Ahead::default();
        let mut server = open_ahead_to(&ahead, listener, &to).await;
        // Open, and silent: nothing arrives while nobody has taken it.
        server
            .set_read_timeout(Some(Duration::from_millis(300)))
            .unwrap();
        let mut byte = [0u8; 1];
        let silent = server.read(&mut byte);
        assert!(
            silent.as_ref().is_err_and(|e| matches!(
                e.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            )),
            "{silent:?}"
        );
        // Taken once, it carries what its taker writes; a second take finds none.
        let mut transport = ahead.take(&to, None).await.expect("opened ahead");
        assert!(ahead.take(&to, None).await.is_none());
        transport.write_all(b"x").await.unwrap();
        transport.flush().await.unwrap();
        server
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        server.read_exact(&mut byte).unwrap();
        assert_eq!(&byte, b"x");
        server.write_all(b"y").unwrap();
        transport.read_exact(&mut byte).await.unwrap();
        assert_eq!(&byte, b"y");
    });
}

/// A keep-alive HTTP/1.1 server answering every POST with its body's length; counts the
/// connections it accepted and the requests it answered. With `close_after_one`, each
/// connection ends after its first answer (as a server ends idle connections).
fn http_server(close_after_one: bool) -> (String, Arc<AtomicUsize>, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!(
        "http://127.0.0.1:{}/",
        listener.local_addr().unwrap().port()
    );
    let connections = Arc::new(AtomicUsize::new(0));
    let hosts = Arc::new(Mutex::new(Vec::new()));
    let (count, seen) = (connections.clone(), hosts.clone());
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            count.fetch_add(1, Ordering::SeqCst);
            let seen = seen.clone();
            std::thread::spawn(move || serve(stream, close_after_one, &seen));
        }
    });
    (url, connections, hosts)
}

fn serve(stream: TcpStream, close_after_one: bool, hosts: &Mutex<Vec<String>>) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut out = stream;
    loop {
        let mut length = 0usize;
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        loop {
            let mut header = String::new();
            reader.read_line(&mut header).unwrap();
            let header = header.trim_end();
            if header.is_empty() {
                break;
            }
            let (name, value) = header.split_once(':').unwrap();
            match name.to_ascii_lowercase().as_str() {
                "content-length" => length = value.trim().parse().unwrap(),
                "host" => hosts.lock().unwrap().push(value.trim().to_string()),
                _ => {}
            }
        }
        let mut body = vec![0u8; length];
        reader.read_exact(&mut body).unwrap();
        let answer = length.to_string();
        write!(
            out,
            "HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n{answer}",
            answer.len()
        )
        .unwrap();
        if close_after_one {
            return;
        }
    }
}

#[test]
fn api_calls_share_the_connection_opened_ahead() {
    let (url, connections, hosts) = http_server(false);
    runtime().block_on(async {
        let api = ApiConnections::new(tls());
        api.open_ahead(&url);
        for body in ["one", "three"] {
            let (status, answer) = api.post(&url, &[], body.into(), 1024).await.unwrap();
            assert_eq!(
                (status, answer.as_ref()),
                (200, body.len().to_string().as_bytes())
            );
        }
    });
    assert_eq!(connections.load(Ordering::SeqCst), 1);
    // The Host header names the port (not the scheme's own), as the signature does.
    let port = url
        .trim_end_matches('/')
        .rsplit(':')
        .next()
        .unwrap()
        .to_string();
    assert_eq!(*hosts.lock().unwrap(), vec![format!("127.0.0.1:{port}"); 2]);
}

#[test]
fn a_connection_the_server_closed_is_replaced() {
    let (url, connections, _) = http_server(true);
    runtime().block_on(async {
        let api = ApiConnections::new(tls());
        for _ in 0..3 {
            let (status, _) = api.post(&url, &[], b"x".to_vec(), 1024).await.unwrap();
            assert_eq!(status, 200);
        }
    });
    assert_eq!(connections.load(Ordering::SeqCst), 3);
}

#[test]
fn an_answer_larger_than_asked_for_is_refused() {
    let (url, _, _) = http_server(false);
    runtime().block_on(async {
        let api = ApiConnections::new(tls());
        let refused = api.post(&url, &[], vec![b'x'; 100_000], 3).await;
        assert!(
            refused
                .as_ref()
                .is_err_and(|e| e.to_string().contains("larger than the 3 bytes")),
            "{:?}",
            refused.map(|(s, _)| s)
        );
    });
}

#[test]
fn api_urls_become_connection_targets() {
    let t = target("https://ec2.us-east-1.amazonaws.com/").unwrap();
    assert_eq!(
        (t.secure, t.host.as_str(), t.port),
        (true, "ec2.us-east-1.amazonaws.com", 443)
    );
    let t = target("http://[::1]:8080").unwrap();
    assert_eq!((t.secure, t.host.as_str(), t.port), (false, "::1", 8080));
    assert!(target("ftp://example.com/").is_err());
}

/// `ts` of the first event of `kind` (on `port`, if given).
fn first_ts(h: &common::Harness, kind: &str, port: Option<&str>) -> f64 {
    h.sim
        .events_of(kind)
        .iter()
        .find(|e| port.is_none_or(|p| e["port"] == p))
        .and_then(|e| e["ts"].as_f64())
        .unwrap_or_else(|| panic!("no {kind} event on {port:?}"))
}

#[test]
fn ec2_and_instance_connect_open_while_the_guard_decides_and_hear_nothing_before() {
    // Every service 100 ms away: the egress check over https takes 3 round trips, which
    // is when the connections to the APIs can open; their requests must still wait.
    let h = common::Harness::at_distance(Duration::from_millis(100));
    let config = h.dir.path().join("config.toml");
    std::fs::write(
        &config,
        format!(
            "[defaults]\nallow = [\"127.0.0.1/32\"]\negress_check_url = \"{}\"\n",
            h.sim.checkip_https_url()
        ),
    )
    .unwrap();
    let key = h.public_key();
    let out = common::eic(
        &h,
        &config,
        &[
            "proxy",
            common::BASTION,
            "22",
            "--user",
            &h.user,
            "--push-key",
            key.to_str().unwrap(),
        ],
    );
    // stdin is closed at once: the proxy opens the tunnel, relays nothing and ends.
    assert!(out.status.success(), "{}", common::stderr(&out));
    let checkip = first_ts(&h, "checkip", None);
    for port in ["ec2", "instance_connect"] {
        let opened = first_ts(&h, "connection_opened", Some(port));
        assert!(
            opened < checkip,
            "{port} opened at {opened}, checkip asked at {checkip}"
        );
    }
    let first_call = first_ts(&h, "api_call", None);
    assert!(
        first_call > checkip,
        "an API call at {first_call} before the check at {checkip}"
    );
    // Two EC2 connections (the instance and the endpoints at once), one to Instance Connect.
    let opened = |port: &str| {
        h.sim
            .events_of("connection_opened")
            .iter()
            .filter(|e| e["port"] == port)
            .count()
    };
    assert_eq!((opened("ec2"), opened("instance_connect")), (2, 1));
}

#[test]
fn connections_nobody_took_are_closed() {
    let (listener, to) = plain_listener();
    runtime().block_on(async {
        let ahead = Ahead::default();
        let mut server = open_ahead_to(&ahead, listener, &to).await;
        // Closed unused (whether or not its task had finished opening it): the server
        // reads the end of the stream, and nothing is left to take.
        // (The read waits on another thread: the runtime must go on to end the task.)
        ahead.close_unused();
        let read = tokio::task::spawn_blocking(move || {
            server
                .set_read_timeout(Some(Duration::from_secs(5)))
                .unwrap();
            server.read(&mut [0u8; 1]).unwrap()
        });
        assert_eq!(read.await.unwrap(), 0);
        assert!(ahead.take(&to, None).await.is_none());
    });
}
