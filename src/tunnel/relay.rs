//! Pumps bytes between a local reader/writer pair and a tunnel until either side ends.

use std::io;
use std::time::Duration;

use futures_util::FutureExt;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::stream::{MAX_FRAME, Tunnel};

/// After a stop request, at most this many reads of what the local side has already
/// written (more than a full 1 MiB pipe): a writer that never pauses cannot hold it off.
const MAX_WAITING_READS: usize = 64;

/// After the local side ends, how long the endpoint gets to send its last bytes and close.
pub const DRAIN_TIMEOUT: Duration = crate::net::timeouts::DRAIN;

/// Relays until the tunnel ends, or until the local side ends (or `stop` fires) and the
/// tunnel has drained. Local EOF sends a normal close (1000) — it never spins on an empty
/// read. Errors from the tunnel side are preferred: they carry the endpoint's close reason.
/// What `stop` gave when it is what ended the local side: not when the local input had
/// ended already (ssh closes its ProxyCommand's pipes, then sends it SIGHUP).
pub async fn relay<R, W, S>(
    mut local_in: R,
    mut local_out: W,
    tunnel: Tunnel,
    stop: impl Future<Output = S>,
) -> io::Result<Option<S>>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let (mut from_tunnel, mut to_tunnel) = tunnel.split();
    let upstream = async {
        let mut buf = vec![0u8; MAX_FRAME];
        let mut stopped = None;
        tokio::pin!(stop);
        loop {
            let n = tokio::select! {
                n = local_in.read(&mut buf) => n?,
                asked = &mut stop => {
                    tracing::debug!("asked to stop");
                    // What is already waiting goes out first; an end of input behind it is
                    // what ended the relay, not the request (ssh writes its last packets,
                    // closes the pipe, then sends SIGHUP).
                    stopped = Some(asked);
                    for _ in 0..MAX_WAITING_READS {
                        match local_in.read(&mut buf).now_or_never() {
                            Some(Ok(0)) => {
                                stopped = None;
                                break;
                            }
                            Some(Ok(n)) => {
                                to_tunnel.write_all(&buf[..n]).await?;
                                to_tunnel.flush().await?;
                            }
                            Some(Err(_)) | None => break,
                        }
                    }
                    0
                }
            };
            if n == 0 {
                break;
            }
            to_tunnel.write_all(&buf[..n]).await?;
            to_tunnel.flush().await?;
        }
        tracing::debug!("local input ended; closing the tunnel");
        to_tunnel.shutdown().await.map(|()| stopped)
    };
    let downstream = async {
        // Each frame goes out as it came in: no copy through a buffer of ours.
        while let Some(chunk) = from_tunnel.chunk().await? {
            local_out.write_all(&chunk).await?;
            local_out.flush().await?;
        }
        tracing::debug!("the tunnel ended");
        let _ = local_out.shutdown().await;
        Ok::<(), io::Error>(())
    };
    tokio::pin!(upstream, downstream);
    tokio::select! {
        result = &mut downstream => result.map(|()| None),
        result = &mut upstream => {
            let drained = tokio::time::timeout(DRAIN_TIMEOUT, &mut downstream).await;
            match (result, drained) {
                (_, Ok(Err(tunnel_err))) => Err(tunnel_err),
                (Err(local_err), _) => Err(local_err),
                (Ok(stopped), Ok(Ok(()))) => Ok(stopped),
                (Ok(stopped), Err(_)) => {
                    tracing::debug!("the endpoint did not finish closing within {DRAIN_TIMEOUT:?}");
                    Ok(stopped)
                }
            }
        }
    }
}
