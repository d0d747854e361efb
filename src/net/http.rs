//! The one HTTP/1.1 client (hyper over [`super::dial`]): the egress checks, the signed API
//! calls and the AWS SDK's credential providers. A call takes an idle connection to its host,
//! else one opened ahead (`ahead`), else a new one; answers are read up to a bound.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;

use super::ahead::Ahead;
use super::dial::{self, Dest, DialError, Road, Rule};
use super::proxy::Proxy;
use super::{size_words, timeouts};
use crate::family::Family;

/// Why a call got no answer.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    /// No connection: TCP, the proxy or TLS failed.
    #[error(transparent)]
    Connect(#[from] DialError),
    /// The connection failed while the request or the answer crossed it.
    #[error("{}", crate::error::with_causes(.0))]
    Http(#[from] hyper::Error),
    /// Nothing complete within the call's limit.
    #[error("no answer within {} s", .0.as_secs())]
    Timeout(Duration),
    /// The answer is (or announced that it is) larger than the caller reads.
    #[error("the answer is larger than the {} eic-ssh reads from it", size_words(*.0))]
    TooLarge(usize),
    /// The URL cannot be called.
    #[error("{0}")]
    Url(String),
}

/// An answer: status, headers and the body read in full (within the bound).
#[derive(Debug)]
pub struct Answer {
    /// HTTP status code.
    pub status: u16,
    /// Response headers.
    pub headers: http::HeaderMap,
    /// The body.
    pub body: Bytes,
}

/// The connections of one run. Cheap to clone: clones share them.
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

struct Inner {
    tls: Arc<rustls::ClientConfig>,
    ahead: Arc<Ahead>,
    rule: Rule,
    /// Direct connections go over this family only, when given.
    family: Option<Family>,
    idle: Mutex<Vec<Idle>>,
}

struct Idle {
    to: Dest,
    sender: SendRequest<Full<Bytes>>,
    since: Instant,
}

impl Client {
    /// A client on `tls` whose roads the proxy variables decide, none opened ahead.
    pub fn new(tls: Arc<rustls::ClientConfig>) -> Self {
        Self::with_ahead(tls, Arc::default())
    }

    /// [`Client::new`], taking the connections `ahead` opened first.
    pub fn with_ahead(tls: Arc<rustls::ClientConfig>, ahead: Arc<Ahead>) -> Self {
        Self::build(tls, ahead, Rule::from_env(), None)
    }

    /// A client whose every connection takes one road: through `proxy`, or straight out
    /// over `family` (when given). The egress check on the tunnel's road.
    pub fn on_road(
        tls: Arc<rustls::ClientConfig>,
        proxy: Option<Proxy>,
        family: Option<Family>,
    ) -> Self {
        Self::build(tls, Arc::default(), Rule::Fixed(proxy), family)
    }

    fn build(
        tls: Arc<rustls::ClientConfig>,
        ahead: Arc<Ahead>,
        rule: Rule,
        family: Option<Family>,
    ) -> Self {
        Client {
            inner: Arc::new(Inner {
                tls,
                ahead,
                rule,
                family,
                idle: Mutex::new(Vec::new()),
            }),
        }
    }

    /// The road a connection to `url` takes.
    pub fn road(&self, url: &str) -> Result<Road, CallError> {
        let dest = target(url)?;
        Ok(Road::of(self.inner.rule.proxy_for(&dest)?.as_ref()))
    }

    /// Starts opening a connection to the host of `url` (TCP and TLS; nothing is sent).
    pub fn open_ahead(&self, url: &str) {
        match target(url).and_then(|to| Ok((self.inner.rule.proxy_for(&to)?, to))) {
            Ok((proxy, to)) => self.inner.ahead.open(to, proxy, &self.inner.tls),
            Err(e) => tracing::debug!("not opening {url} ahead: {e}"),
        }
    }

    /// POSTs `body` with `headers` to `url`; the status and at most `max` bytes of body,
    /// within [`timeouts::API_CALL`].
    pub async fn post(
        &self,
        url: &str,
        headers: &[(&str, &str)],
        body: Vec<u8>,
        max: usize,
    ) -> Result<(u16, Bytes), CallError> {
        let headers: Vec<(String, String)> = headers
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect();
        let answer = self
            .send(
                http::Method::POST,
                url,
                &headers,
                body.into(),
                max,
                timeouts::API_CALL,
            )
            .await?;
        Ok((answer.status, answer.body))
    }

    /// GETs `url`: the answer, at most `max` bytes of body, within `limit`.
    pub async fn get(&self, url: &str, max: usize, limit: Duration) -> Result<Answer, CallError> {
        self.send(http::Method::GET, url, &[], Bytes::new(), max, limit)
            .await
    }

    /// One request, within `limit`, connection included.
    pub async fn send(
        &self,
        method: http::Method,
        url: &str,
        headers: &[(String, String)],
        body: Bytes,
        max: usize,
        limit: Duration,
    ) -> Result<Answer, CallError> {
        tokio::time::timeout(limit, self.send_within(method, url, headers, body, max))
            .await
            .map_err(|_| CallError::Timeout(limit))?
    }

    async fn send_within(
        &self,
        method: http::Method,
        url: &str,
        headers: &[(String, String)],
        body: Bytes,
        max: usize,
    ) -> Result<Answer, CallError> {
        let uri = parse(url)?;
        let to = target_of(&uri, url)?;
        let mut retried = false;
        loop {
            let (mut sender, waited) = self.connection(&to).await?;
            let request = request(&method, &uri, &to, headers, body.clone())?;
            match sender.send_request(request).await {
                Ok(response) => {
                    let status = response.status().as_u16();
                    let headers = response.headers().clone();
                    let body = read_limited(response.into_body(), max).await?;
                    self.keep(to, sender);
                    return Ok(Answer {
                        status,
                        headers,
                        body,
                    });
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
    async fn connection(&self, to: &Dest) -> Result<(SendRequest<Full<Bytes>>, bool), CallError> {
        while let Some(mut idle) = self.take_idle(to) {
            if idle.since.elapsed() < timeouts::IDLE && idle.sender.ready().await.is_ok() {
                return Ok((idle.sender, true));
            }
        }
        let proxy = self.inner.rule.proxy_for(to)?;
        let (transport, waited) = match self.inner.ahead.take(to, proxy.as_ref()).await {
            Some(transport) => (transport, true),
            None => {
                let (transport, road) =
                    dial::open(to, proxy.as_ref(), &self.inner.tls, self.inner.family).await?;
                tracing::debug!("connected to {to} ({road})");
                (transport, false)
            }
        };
        let (mut sender, connection) = http1::handshake(TokioIo::new(transport)).await?;
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!("HTTP connection ended: {e}");
            }
        });
        sender.ready().await?;
        Ok((sender, waited))
    }

    fn take_idle(&self, to: &Dest) -> Option<Idle> {
        let mut idle = self.idle();
        let i = idle.iter().position(|c| &c.to == to)?;
        Some(idle.swap_remove(i))
    }

    fn keep(&self, to: Dest, sender: SendRequest<Full<Bytes>>) {
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

/// Where a connection for `url` goes: `https://` (or `http://`, for local test services
/// and checkip services).
pub fn target(url: &str) -> Result<Dest, CallError> {
    target_of(&parse(url)?, url)
}

fn parse(url: &str) -> Result<http::Uri, CallError> {
    url.parse()
        .map_err(|e| CallError::Url(format!("bad URL {url}: {e}")))
}

fn target_of(uri: &http::Uri, url: &str) -> Result<Dest, CallError> {
    let secure = match uri.scheme_str() {
        Some("https") => true,
        Some("http") => false,
        _ => return Err(CallError::Url(format!("not an http(s) URL: {url}"))),
    };
    let host = uri
        .host()
        .ok_or_else(|| CallError::Url(format!("no host in {url}")))?;
    Ok(Dest {
        secure,
        host: host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string(),
        port: uri.port_u16().unwrap_or(if secure { 443 } else { 80 }),
    })
}

/// The request, with the `Host` header a signature is made over (the port only when it is
/// not the scheme's own).
fn request(
    method: &http::Method,
    uri: &http::Uri,
    to: &Dest,
    headers: &[(String, String)],
    body: Bytes,
) -> Result<http::Request<Full<Bytes>>, CallError> {
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    let default_port = if to.secure { 443 } else { 80 };
    let host = match (to.port == default_port, to.host.contains(':')) {
        (true, true) => format!("[{}]", to.host),
        (true, false) => to.host.clone(),
        (false, _) => to.authority(),
    };
    let mut builder = http::Request::builder()
        .method(method.clone())
        .uri(path)
        .header(http::header::HOST, host)
        .header(
            http::header::USER_AGENT,
            concat!("eic-ssh/", env!("CARGO_PKG_VERSION")),
        );
    for (name, value) in headers {
        if name.eq_ignore_ascii_case("host") {
            continue;
        }
        builder = builder.header(name.as_str(), value.as_str());
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
