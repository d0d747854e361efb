//! The tunnel as a byte stream: binary WebSocket frames in, `AsyncRead + AsyncWrite` out.

use std::fmt;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{Sink, Stream, StreamExt};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::error::ProtocolError;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};

use super::transport::Transport;

/// The largest frame we send; the AWS CLI sends at most 65,000 bytes per frame.
pub const MAX_FRAME: usize = 65_000;

/// The endpoint closed the tunnel with a code other than 1000 (normal).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloseError {
    /// The WebSocket close code, e.g. 1011.
    pub code: u16,
    /// The reason the endpoint gave, e.g. "Unable to connect to target".
    pub reason: String,
}

impl fmt::Display for CloseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.reason.is_empty() {
            write!(f, "the endpoint closed the tunnel (code {})", self.code)
        } else {
            write!(
                f,
                "the endpoint closed the tunnel: {} (code {})",
                self.reason, self.code
            )
        }
    }
}

impl std::error::Error for CloseError {}

/// Bytes carried each way, shared by a tunnel and its halves (for the connection log).
#[derive(Debug, Default)]
pub struct Traffic {
    /// Sent to the instance.
    pub up: AtomicU64,
    /// Received from the instance.
    pub down: AtomicU64,
}

impl Traffic {
    /// `(up, down)` so far.
    pub fn totals(&self) -> (u64, u64) {
        (
            self.up.load(Ordering::Relaxed),
            self.down.load(Ordering::Relaxed),
        )
    }
}

/// An open tunnel to the instance's port. Reading yields the instance's bytes;
/// writing sends them; shutting down sends a normal close (code 1000).
pub struct Tunnel {
    /// The WebSocket the bytes travel in.
    ws: WebSocketStream<Transport>,
    /// Rest of the last frame not yet handed to the reader.
    pending: Bytes,
    /// The tunnel has ended cleanly; further reads return EOF.
    finished: bool,
    /// A close frame was queued by `poll_shutdown`.
    close_sent: bool,
    /// The endpoint's close reason once a close with an error arrived: writes after it
    /// report that reason, not tungstenite's "sending after closing".
    ended_with: Option<CloseError>,
    /// Bytes each way.
    traffic: Arc<Traffic>,
    /// What must live as long as the tunnel (its endpoint slot), shared by both halves.
    held: Option<Arc<dyn Send + Sync>>,
}

impl Tunnel {
    pub(crate) fn new(ws: WebSocketStream<Transport>) -> Self {
        Tunnel {
            ws,
            pending: Bytes::new(),
            finished: false,
            close_sent: false,
            ended_with: None,
            traffic: Arc::default(),
            held: None,
        }
    }

    /// Keeps `what` until the tunnel, or the last of its halves, is dropped.
    pub fn hold(&mut self, what: impl Send + Sync + 'static) {
        self.held = Some(Arc::new(what));
    }

    /// The byte counters, which stay readable after the tunnel is gone.
    pub fn traffic(&self) -> Arc<Traffic> {
        self.traffic.clone()
    }

    /// Splits into halves that can be driven independently (one per direction).
    pub fn split(self) -> (TunnelReader, TunnelWriter) {
        let (sink, stream) = self.ws.split();
        (
            TunnelReader {
                frames: stream,
                pending: self.pending,
                finished: self.finished,
                traffic: self.traffic.clone(),
                _held: self.held.clone(),
            },
            TunnelWriter {
                sink,
                close_sent: self.close_sent,
                traffic: self.traffic,
                _held: self.held,
            },
        )
    }
}

/// The receiving half of a split [`Tunnel`].
pub struct TunnelReader {
    /// Incoming frames.
    frames: SplitStream<WebSocketStream<Transport>>,
    /// Rest of the last frame not yet handed to the reader.
    pending: Bytes,
    /// The tunnel has ended; further reads return EOF.
    finished: bool,
    /// Bytes each way.
    traffic: Arc<Traffic>,
    /// The tunnel's endpoint slot, given back when both halves are gone.
    _held: Option<Arc<dyn Send + Sync>>,
}

/// The sending half of a split [`Tunnel`].
pub struct TunnelWriter {
    /// Outgoing frames.
    sink: SplitSink<WebSocketStream<Transport>, Message>,
    /// A close frame was queued by `poll_shutdown`.
    close_sent: bool,
    /// Bytes each way.
    traffic: Arc<Traffic>,
    /// The tunnel's endpoint slot, given back when both halves are gone.
    _held: Option<Arc<dyn Send + Sync>>,
}

impl AsyncRead for Tunnel {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let read = poll_read_frames(&mut this.ws, &mut this.pending, &mut this.finished, cx, buf);
        count(&this.traffic.down, buf.filled().len() - before);
        if let Poll::Ready(Err(e)) = &read
            && let Some(close) = close_error_of(e)
        {
            this.ended_with = Some(close.clone());
        }
        read
    }
}

impl AsyncWrite for Tunnel {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if let Some(close) = &this.ended_with {
            return Poll::Ready(Err(io::Error::other(close.clone())));
        }
        let written = poll_write_frame(&mut this.ws, cx, buf);
        if let Poll::Ready(Ok(n)) = written {
            count(&this.traffic.up, n);
        }
        written
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().ws)
            .poll_flush(cx)
            .map_err(ws_to_io)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        poll_send_close(&mut this.ws, &mut this.close_sent, cx)
    }
}

impl AsyncRead for TunnelReader {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let read = poll_read_frames(
            &mut this.frames,
            &mut this.pending,
            &mut this.finished,
            cx,
            buf,
        );
        count(&this.traffic.down, buf.filled().len() - before);
        read
    }
}

impl AsyncWrite for TunnelWriter {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let written = poll_write_frame(&mut this.sink, cx, buf);
        if let Poll::Ready(Ok(n)) = written {
            count(&this.traffic.up, n);
        }
        written
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().sink)
            .poll_flush(cx)
            .map_err(ws_to_io)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        poll_send_close(&mut this.sink, &mut this.close_sent, cx)
    }
}

impl TunnelReader {
    /// The next bytes from the instance as they arrived (the rest of a frame, or the next
    /// frame), without copying them; `None` once the tunnel has ended cleanly.
    pub async fn chunk(&mut self) -> io::Result<Option<Bytes>> {
        let chunk = std::future::poll_fn(|cx| {
            poll_next_chunk(&mut self.frames, &mut self.pending, &mut self.finished, cx)
        })
        .await?;
        if let Some(bytes) = &chunk {
            count(&self.traffic.down, bytes.len());
        }
        Ok(chunk)
    }
}

fn count(counter: &AtomicU64, n: usize) {
    counter.fetch_add(n as u64, Ordering::Relaxed);
}

/// Hands out buffered frame bytes, pulling the next frame when they run out.
fn poll_read_frames<S>(
    frames: &mut S,
    pending: &mut Bytes,
    finished: &mut bool,
    cx: &mut Context<'_>,
    buf: &mut ReadBuf<'_>,
) -> Poll<io::Result<()>>
where
    S: Stream<Item = Result<Message, WsError>> + Unpin,
{
    if buf.remaining() == 0 {
        return Poll::Ready(Ok(()));
    }
    let mut chunk = match ready!(poll_next_chunk(frames, pending, finished, cx))? {
        Some(chunk) => chunk,
        None => return Poll::Ready(Ok(())),
    };
    let n = chunk.len().min(buf.remaining());
    buf.put_slice(&chunk.split_to(n));
    *pending = chunk;
    Poll::Ready(Ok(()))
}

/// The buffered rest of a frame, else the next non-empty binary frame; `None` at the end.
fn poll_next_chunk<S>(
    frames: &mut S,
    pending: &mut Bytes,
    finished: &mut bool,
    cx: &mut Context<'_>,
) -> Poll<io::Result<Option<Bytes>>>
where
    S: Stream<Item = Result<Message, WsError>> + Unpin,
{
    loop {
        if !pending.is_empty() {
            return Poll::Ready(Ok(Some(std::mem::take(pending))));
        }
        if *finished {
            return Poll::Ready(Ok(None));
        }
        match ready!(Pin::new(&mut *frames).poll_next(cx)) {
            Some(Ok(Message::Binary(data))) => *pending = data,
            Some(Ok(Message::Close(frame))) => {
                *finished = true;
                if let Some(err) = close_error(frame) {
                    return Poll::Ready(Err(io::Error::other(err)));
                }
            }
            // tungstenite answers pings itself.
            Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => {}
            Some(Ok(Message::Text(_))) => {
                *finished = true;
                return Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "the endpoint sent a text frame, which the tunnel protocol does not allow",
                )));
            }
            Some(Err(WsError::ConnectionClosed | WsError::AlreadyClosed)) | None => {
                *finished = true;
            }
            Some(Err(e)) => {
                *finished = true;
                return Poll::Ready(Err(ws_to_io(e)));
            }
        }
    }
}

/// Sends one binary frame of at most [`MAX_FRAME`] bytes taken from `buf`.
fn poll_write_frame<S>(sink: &mut S, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>>
where
    S: Sink<Message, Error = WsError> + Unpin,
{
    if buf.is_empty() {
        // A zero-length frame would be pointless traffic (the AWS CLI's spin).
        return Poll::Ready(Ok(0));
    }
    ready!(Pin::new(&mut *sink).poll_ready(cx)).map_err(ws_to_io)?;
    let n = buf.len().min(MAX_FRAME);
    Pin::new(&mut *sink)
        .start_send(Message::Binary(Bytes::copy_from_slice(&buf[..n])))
        .map_err(ws_to_io)?;
    Poll::Ready(Ok(n))
}

/// Queues a normal close (1000) once, then flushes it out.
fn poll_send_close<S>(
    sink: &mut S,
    close_sent: &mut bool,
    cx: &mut Context<'_>,
) -> Poll<io::Result<()>>
where
    S: Sink<Message, Error = WsError> + Unpin,
{
    if !*close_sent {
        match ready!(Pin::new(&mut *sink).poll_ready(cx)) {
            Ok(()) => {}
            // The endpoint closed first: there is nothing left to close.
            Err(
                WsError::ConnectionClosed
                | WsError::AlreadyClosed
                | WsError::Protocol(ProtocolError::SendAfterClosing),
            ) => {
                *close_sent = true;
                return Poll::Ready(Ok(()));
            }
            Err(e) => return Poll::Ready(Err(ws_to_io(e))),
        }
        let frame = CloseFrame {
            code: CloseCode::Normal,
            reason: "".into(),
        };
        match Pin::new(&mut *sink).start_send(Message::Close(Some(frame))) {
            Ok(())
            | Err(
                WsError::ConnectionClosed
                | WsError::AlreadyClosed
                | WsError::Protocol(ProtocolError::SendAfterClosing),
            ) => {}
            Err(e) => return Poll::Ready(Err(ws_to_io(e))),
        }
        *close_sent = true;
    }
    match ready!(Pin::new(&mut *sink).poll_flush(cx)) {
        Ok(())
        | Err(
            WsError::ConnectionClosed
            | WsError::AlreadyClosed
            | WsError::Protocol(ProtocolError::SendAfterClosing),
        ) => Poll::Ready(Ok(())),
        Err(e) => Poll::Ready(Err(ws_to_io(e))),
    }
}

/// `None` for a clean close (1000, or a close frame with no code).
fn close_error(frame: Option<CloseFrame>) -> Option<CloseError> {
    let frame = frame?;
    let code = u16::from(frame.code);
    (code != 1000).then(|| CloseError {
        code,
        // The endpoint's words reach the terminal: never raw.
        reason: crate::printable::escape(&frame.reason),
    })
}

fn ws_to_io(e: WsError) -> io::Error {
    match e {
        // rustls words this with a link to its manual; say what happened instead.
        WsError::Io(e) if e.kind() == io::ErrorKind::UnexpectedEof => io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "the tunnel broke: the endpoint's connection was cut without a close",
        ),
        WsError::Io(e) => e,
        WsError::Protocol(p) => io::Error::new(
            io::ErrorKind::ConnectionAborted,
            format!("the tunnel broke: {p}"),
        ),
        other => io::Error::other(format!("the tunnel broke: {other}")),
    }
}

/// The close reason inside an I/O error from a tunnel, if that is what it was.
pub fn close_error_of(e: &io::Error) -> Option<&CloseError> {
    e.get_ref()?.downcast_ref::<CloseError>()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normal_and_codeless_closes_are_clean() {
        assert_eq!(close_error(None), None);
        let normal = CloseFrame {
            code: CloseCode::Normal,
            reason: "".into(),
        };
        assert_eq!(close_error(Some(normal)), None);
    }

    #[test]
    fn other_codes_carry_their_reason() {
        let frame = CloseFrame {
            code: CloseCode::Error,
            reason: "Unable to connect to target".into(),
        };
        let err = close_error(Some(frame)).unwrap();
        assert_eq!(err.code, 1011);
        assert_eq!(
            err.to_string(),
            "the endpoint closed the tunnel: Unable to connect to target (code 1011)"
        );
        let io = io::Error::other(err.clone());
        assert_eq!(close_error_of(&io), Some(&err));
    }
}
