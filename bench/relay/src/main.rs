//! The benchmarks' "physical limit" line: presign an `openTunnel` URL, open the wss
//! connection, splice stdin/stdout with it, exit. No config, no discovery, no guard, no key
//! push, no retries: the least any SSH-over-EICE relay must do. Not part of eic-ssh.
//!
//! Usage: `eic-relay-baseline wss://HOST[:PORT] ENDPOINT_ID PRIVATE_IP [PORT]`, with
//! `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, optional `AWS_SESSION_TOKEN`, `AWS_REGION`
//! and (for the emulator) `AWS_CA_BUNDLE` in the environment.

use std::os::fd::RawFd;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{
    SignableBody, SignableRequest, SignatureLocation, SigningSettings, sign,
};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;
use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName};
use tokio::io::unix::AsyncFd;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

type Error = Box<dyn std::error::Error>;

const QUERY: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() < 3 {
        eprintln!("usage: eic-relay-baseline wss://HOST[:PORT] ENDPOINT_ID PRIVATE_IP [PORT]");
        return ExitCode::from(2);
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build();
    match runtime
        .map_err(Error::from)
        .and_then(|rt| rt.block_on(relay(&args)))
    {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("eic-relay-baseline: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn relay(args: &[String]) -> Result<(), Error> {
    let base = args[0].trim_end_matches('/');
    let port = args.get(3).map_or("22", String::as_str);
    let url = presign(base, &args[1], &args[2], port)?;
    let authority = base
        .strip_prefix("wss://")
        .ok_or("the URL must be wss://")?;
    let host = authority
        .rsplit_once(':')
        .map_or(authority, |(h, _)| h)
        .to_string();
    let addr = if authority.contains(':') {
        authority.to_string()
    } else {
        format!("{authority}:443")
    };
    let tcp = tokio::net::TcpStream::connect(&addr).await?;
    tcp.set_nodelay(true)?;
    // A large read buffer under TLS: rustls reads one ≤16 KiB record at a time.
    let tcp = tokio::io::BufReader::with_capacity(256 * 1024, tcp);
    let tls = tokio_rustls::TlsConnector::from(Arc::new(tls_config()?))
        .connect(ServerName::try_from(host)?, tcp)
        .await?;
    let config = WebSocketConfig::default()
        .read_buffer_size(256 * 1024)
        .write_buffer_size(0);
    let (ws, _) = tokio_tungstenite::client_async_with_config(url, tls, Some(config)).await?;
    let (mut sink, mut stream) = ws.split();
    let stdin = Fd::new(libc::STDIN_FILENO)?;
    let stdout = Fd::new(libc::STDOUT_FILENO)?;
    let up = async {
        let mut buf = vec![0u8; 65_000];
        loop {
            let n = stdin.read(&mut buf).await?;
            if n == 0 {
                break;
            }
            sink.send(Message::Binary(Bytes::copy_from_slice(&buf[..n])))
                .await?;
        }
        sink.close().await?;
        Ok::<(), Error>(())
    };
    let down = async {
        while let Some(message) = stream.next().await {
            match message? {
                Message::Binary(data) => stdout.write_all(&data).await?,
                Message::Close(_) => break,
                _ => {}
            }
        }
        Ok::<(), Error>(())
    };
    tokio::select! {
        r = down => r,
        r = up => r,
    }
}

/// stdin or stdout: a pipe or socket from ssh, non-blocking and driven by the reactor; a
/// file or /dev/null (which epoll refuses) is read and written as it is. They stay open for
/// the whole process, as `register` requires.
enum Fd {
    Async(AsyncFd<RawFd>),
    Plain(RawFd),
}

impl Fd {
    fn new(fd: RawFd) -> Result<Fd, Error> {
        // SAFETY: fcntl on a descriptor the process was handed.
        let flags = unsafe {
            libc::fcntl(fd, libc::F_SETPIPE_SZ, 1 << 20);
            let flags = libc::fcntl(fd, libc::F_GETFL);
            libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK);
            flags
        };
        // SAFETY: stdin and stdout stay open until the process exits.
        match unsafe { AsyncFd::register(fd) } {
            Ok(fd) => Ok(Fd::Async(fd)),
            Err(_) => {
                // SAFETY: as above.
                unsafe { libc::fcntl(fd, libc::F_SETFL, flags) };
                Ok(Fd::Plain(fd))
            }
        }
    }

    fn raw(&self) -> RawFd {
        match self {
            Fd::Async(fd) => *fd.get_ref(),
            Fd::Plain(fd) => *fd,
        }
    }

    async fn read(&self, buf: &mut [u8]) -> std::io::Result<usize> {
        loop {
            let ready = match self {
                Fd::Async(fd) => Some(fd.readable().await?),
                Fd::Plain(_) => None,
            };
            // SAFETY: read into a buffer we own.
            let n = unsafe { libc::read(self.raw(), buf.as_mut_ptr().cast(), buf.len()) };
            if n >= 0 {
                return Ok(n as usize);
            }
            let e = std::io::Error::last_os_error();
            match ready {
                Some(mut ready) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    ready.clear_ready()
                }
                _ => return Err(e),
            }
        }
    }

    async fn write_all(&self, mut data: &[u8]) -> std::io::Result<()> {
        while !data.is_empty() {
            let ready = match self {
                Fd::Async(fd) => Some(fd.writable().await?),
                Fd::Plain(_) => None,
            };
            // SAFETY: write from a buffer we own.
            let n = unsafe { libc::write(self.raw(), data.as_ptr().cast(), data.len()) };
            if n >= 0 {
                data = &data[n as usize..];
                continue;
            }
            let e = std::io::Error::last_os_error();
            match ready {
                Some(mut ready) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    ready.clear_ready()
                }
                _ => return Err(e),
            }
        }
        Ok(())
    }
}

fn presign(base: &str, endpoint: &str, ip: &str, port: &str) -> Result<String, Error> {
    let env = |k: &str| std::env::var(k).map_err(|_| format!("{k} is not set"));
    let credentials = Credentials::new(
        env("AWS_ACCESS_KEY_ID")?,
        env("AWS_SECRET_ACCESS_KEY")?,
        std::env::var("AWS_SESSION_TOKEN").ok(),
        None,
        "env",
    );
    let region = env("AWS_REGION")?;
    let query = [
        ("instanceConnectEndpointId", endpoint),
        ("remotePort", port),
        ("privateIpAddress", ip),
    ];
    let mut url = format!("{base}/openTunnel?{}", encode(query.iter().copied()));
    let mut settings = SigningSettings::default();
    settings.signature_location = SignatureLocation::QueryParams;
    settings.expires_in = Some(Duration::from_secs(60));
    let identity: Identity = credentials.into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(&region)
        .name("ec2-instance-connect")
        .time(SystemTime::now())
        .settings(settings)
        .build()?
        .into();
    let request = SignableRequest::new("GET", &url, std::iter::empty(), SignableBody::Bytes(&[]))?;
    let (instructions, _) = sign(request, &params)?.into_parts();
    url.push('&');
    url.push_str(&encode(
        instructions.params().iter().map(|(k, v)| (*k, v.as_ref())),
    ));
    Ok(url)
}

fn encode<'a>(pairs: impl Iterator<Item = (&'a str, &'a str)>) -> String {
    pairs
        .map(|(k, v)| {
            format!(
                "{}={}",
                utf8_percent_encode(k, QUERY),
                utf8_percent_encode(v, QUERY)
            )
        })
        .collect::<Vec<_>>()
        .join("&")
}

/// Trusts `AWS_CA_BUNDLE` (the emulator's CA); the baseline is for local runs only.
fn tls_config() -> Result<rustls::ClientConfig, Error> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let bundle = std::env::var("AWS_CA_BUNDLE").map_err(|_| "AWS_CA_BUNDLE is not set")?;
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(&bundle)? {
        roots.add(cert?)?;
    }
    Ok(rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth())
}
