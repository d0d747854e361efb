//! The API calls' HTTP/1.1 connections: one opened ahead when there is one (`crate::ahead`),
//! else a new one, through the same proxy and TLS as the tunnel; kept alive for the next
//! call to the same host.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;

use crate::ahead::Ahead;
use crate::net::size_words;
use crate::tunnel::connect;
use crate::tunnel::endpoint::Scheme;
use crate::tunnel::{ConnectError, TunnelEndpoint};

/// How long one API call may take, connection included.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// A connection idle for longer is closed rather than used again: servers close idle
/// connections, and a request written into one that is closing is lost.
const IDLE_FOR: Duration = Duration::from_secs(15);

/// Why an API call got no answer.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    /// No connection: TCP, the proxy or TLS failed.
    #[error(transparent)]
    Connect(#[from] ConnectError),
    /// The connection failed while the request or the answer crossed it.
    #[error("{}", super::context::with_causes(.0))]
    Http(#[from] hyper::Error),
    /// Nothing complete within [`CALL_TIMEOUT`].
    #[error("no answer within {} s", CALL_TIMEOUT.as_secs())]
    Timeout,
    /// The answer is (or announced that it is) larger than the caller reads.
    #[error("the answer is larger than the {} eic-ssh reads from it", size_words(*.0))]
    TooLarge(usize),
    /// The URL cannot be called.
    #[error("{0}")]
    Url(String),
}

/// The connections of one run. Cheap to clone: clones share them.
#[derive(Clone)]
pub struct ApiConnections {
    inner: Arc<Inner>,
}

struct Inner {
    tls: Arc<rustls::ClientConfig>,
    ahead: Arc<Ahead>,
    idle: Mutex<Vec<Idle>>,
}

struct Idle {
    to: TunnelEndpoint,
    sender: SendRequest<Full<Bytes>>,
    since: Instant,
}

impl ApiConnections {
    /// Connections on `tls`, none opened ahead.
    pub fn new(tls: Arc<rustls::ClientConfig>) -> Self {
        Self::with_ahead(tls, Arc::default())
    }

    /// Connections on `tls`, taking those `ahead` opened first.
    pub fn with_ahead(tls: Arc<rustls::ClientConfig>, ahead: Arc<Ahead>) -> Self {
        ApiConnections {
            inner: Arc::new(Inner {
                tls,
                ahead,
                idle: Mutex::new(Vec::new()),
            }),
        }
    }

    /// Starts opening a connection to the host of `url` (TCP and TLS; nothing is sent).
    pub fn open_ahead(&self, url: &str) {
        match target(url) {
            Ok(to) => self.inner.ahead.open(to, &self.inner.tls),
            Err(e) => tracing::debug!("not opening {url} ahead: {e}"),
        }
    }

    /// POSTs `body` with `headers` to `url`; the status and at most `max` bytes of body.
    pub async fn post(
        &self,
        url: &str,
        headers: &[(&str, &str)],
        body: Vec<u8>,
        max: usize,
    ) -> Result<(u16, Bytes), CallError> {
        tokio::time::timeout(
            CALL_TIMEOUT,
            self.post_within(url, headers, body.into(), max),
        )
        .await
        .map_err(|_| CallError::Timeout)?
    }

    async fn post_within(
        &self,
        url: &str,
        headers: &[(&str, &str)],
        body: Bytes,
        max: usize,
    ) -> Result<(u16, Bytes), CallError> {
        let uri = parse(url)?;
        let to = target_of(&uri, url)?;
        let mut retried = false;
        loop {
            let (mut sender, waited) = self.connection(&to).await?;
            let request = request(&uri, &to, headers, body.clone())?;
            match sender.send_request(request).await {
                Ok(response) => {
                    let status = response.status().as_u16();
                    let body = read_limited(response.into_body(), max).await?;
                    self.keep(to, sender);
                    return Ok((status, body));
                }
                // A connection that waited (kept alive, or opened ahead) may have been
                // closed by the server meanwhile: the request goes again, once, on a new one.
                Err(e) if waited && !retried && (e.is_canceled() || e.is_incomplete_message()) => {
                    tracing::debug!("the connection to {to} was closed ({e}); on a new one");
                    retried = true;
                }
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// A connection to `to` ready for a request: an idle one, else one opened ahead, else a
    /// new one; and whether it waited before this request (then it may have gone stale).
    async fn connection(
        &self,
        to: &TunnelEndpoint,
    ) -> Result<(SendRequest<Full<Bytes>>, bool), CallError> {
        while let Some(mut idle) = self.take_idle(to) {
            if idle.since.elapsed() < IDLE_FOR && idle.sender.ready().await.is_ok() {
                return Ok((idle.sender, true));
            }
        }
        let (transport, waited) = match self.inner.ahead.take(to).await {
            Some(transport) => (transport, true),
            None => (connect::transport(to, &self.inner.tls).await?, false),
        };
        let (mut sender, connection) = http1::handshake(TokioIo::new(transport)).await?;
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!("API connection ended: {e}");
            }
        });
        sender.ready().await?;
        Ok((sender, waited))
    }

    fn take_idle(&self, to: &TunnelEndpoint) -> Option<Idle> {
        let mut idle = self.idle();
        let i = idle.iter().position(|c| &c.to == to)?;
        Some(idle.swap_remove(i))
    }

    fn keep(&self, to: TunnelEndpoint, sender: SendRequest<Full<Bytes>>) {
        if !sender.is_closed() {
            self.idle().push(Idle {
                to,
                sender,
                since: Instant::now(),
            });
        }
    }

    fn idle(&self) -> MutexGuard<'_, Vec<Idle>> {
        self.inner.idle.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Where a connection for `url` goes: `https://` (or `http://`, for local test services).
pub fn target(url: &str) -> Result<TunnelEndpoint, CallError> {
    target_of(&parse(url)?, url)
}

fn parse(url: &str) -> Result<http::Uri, CallError> {
    url.parse()
        .map_err(|e| CallError::Url(format!("bad API URL {url}: {e}")))
}

fn target_of(uri: &http::Uri, url: &str) -> Result<TunnelEndpoint, CallError> {
    let scheme = match uri.scheme_str() {
        Some("https") => Scheme::Wss,
        Some("http") => Scheme::Ws,
        _ => return Err(CallError::Url(format!("not an http(s) URL: {url}"))),
    };
    let host = uri
        .host()
        .ok_or_else(|| CallError::Url(format!("no host in {url}")))?;
    Ok(TunnelEndpoint {
        scheme,
        host: host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string(),
        port: uri.port_u16().unwrap_or(scheme.default_port()),
    })
}

/// The request, with the `Host` header the signature was made over (the port only when it
/// is not the scheme's own).
fn request(
    uri: &http::Uri,
    to: &TunnelEndpoint,
    headers: &[(&str, &str)],
    body: Bytes,
) -> Result<http::Request<Full<Bytes>>, CallError> {
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    let mut builder = http::Request::post(path)
        .header(http::header::HOST, to.authority())
        .header(
            http::header::USER_AGENT,
            concat!("eic-ssh/", env!("CARGO_PKG_VERSION")),
        );
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    builder
        .body(Full::new(body))
        .map_err(|e| CallError::Url(format!("cannot build the request: {e}")))
}

/// The body, chunk by chunk, stopping at `max` bytes instead of growing memory.
async fn read_limited(mut body: hyper::body::Incoming, max: usize) -> Result<Bytes, CallError> {
    use hyper::body::Body;
    if body.size_hint().lower() > max as u64 {
        return Err(CallError::TooLarge(max));
    }
    let mut out = BytesMut::new();
    while let Some(frame) = body.frame().await {
        if let Ok(data) = frame?.into_data() {
            if out.len() + data.len() > max {
                return Err(CallError::TooLarge(max));
            }
            out.extend_from_slice(&data);
        }
    }
    Ok(out.freeze())
}
