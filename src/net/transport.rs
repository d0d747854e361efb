//! The byte transport under the WebSocket: TCP, optionally through TLS.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, BufReader, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

/// Read buffer under TLS: rustls asks for one ≤16 KiB record at a time, and a
/// large buffer turns those into far fewer `recvfrom` calls (docs/protocol.md, "Measured here").
pub const READ_BUFFER: usize = 256 * 1024;

/// A connected transport.
pub enum Transport {
    /// `ws://` to a loopback host.
    Plain(BufReader<TcpStream>),
    /// `wss://`, the real service.
    Tls(Box<TlsStream<BufReader<TcpStream>>>),
}

impl Transport {
    /// The address at the other end of the TCP connection (the endpoint, or the proxy).
    pub fn peer_addr(&self) -> Option<std::net::SocketAddr> {
        match self {
            Transport::Plain(s) => s.get_ref().peer_addr().ok(),
            Transport::Tls(s) => s.get_ref().0.get_ref().peer_addr().ok(),
        }
    }
}

impl AsyncRead for Transport {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Transport::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Transport::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Transport {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Transport::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Transport::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Transport::Plain(s) => Pin::new(s).poll_flush(cx),
            Transport::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Transport::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Transport::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}
