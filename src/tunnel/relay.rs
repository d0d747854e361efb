//! Pumps bytes between a local reader/writer pair and a tunnel until either side ends.

use std::io;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::stream::{MAX_FRAME, Tunnel};

/// After the local side ends, how long the endpoint gets to send its last bytes and close.
pub const DRAIN_TIMEOUT: Duration = crate::net::timeouts::DRAIN;

/// Relays until the tunnel ends, or until the local side ends (or `stop` fires) and the
/// tunnel has drained. Local EOF sends a normal close (1000) — it never spins on an empty
/// read. Errors from the tunnel side are preferred: they carry the endpoint's close reason.
pub async fn relay<R, W>(
    mut local_in: R,
    mut local_out: W,
    tunnel: Tunnel,
    stop: impl Future<Output = ()>,
) -> io::Result<()>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let (mut from_tunnel, mut to_tunnel) = tunnel.split();
    let upstream = async {
        let mut buf = vec![0u8; MAX_FRAME];
        tokio::pin!(stop);
        loop {
            let n = tokio::select! {
                n = local_in.read(&mut buf) => n?,
                () = &mut stop => {
                    tracing::debug!("asked to stop");
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
        to_tunnel.shutdown().await
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
        result = &mut downstream => result,
        result = &mut upstream => {
            let drained = tokio::time::timeout(DRAIN_TIMEOUT, &mut downstream).await;
            match (result, drained) {
                (_, Ok(Err(tunnel_err))) => Err(tunnel_err),
                (Err(local_err), _) => Err(local_err),
                (Ok(()), Ok(Ok(()))) => Ok(()),
                (Ok(()), Err(_)) => {
                    tracing::debug!("the endpoint did not finish closing within {DRAIN_TIMEOUT:?}");
                    Ok(())
                }
            }
        }
    }
}
