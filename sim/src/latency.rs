//! Simulated distance between the client and AWS (`--rtt`): each byte is held RTT/2 on its
//! way in and RTT/2 on its way out, and a fresh connection first pays the TCP handshake.
//!
//! On loopback `connect()` returns at once, so the handshake is modelled at the far end of
//! the connection instead. Seen from the client, a real one goes: SYN arrives at RTT/2,
//! SYN-ACK is back at 1 RTT (`connect()` returns, the client's first bytes leave with the
//! ACK), the server's `accept()` returns at 1.5 RTT when that ACK arrives. So nothing the
//! client sends is delivered before 1.5 RTT after the accept, and nothing the server sends
//! (an SSH banner, or an answer) reaches the client before 2 RTT: a request on a fresh
//! connection costs 2 RTT, a TLS 1.3 request 3, a request on a kept-alive connection 1.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::time::Instant;

/// Largest chunk carried at once.
const CHUNK: usize = 64 << 10;

/// Chunks in flight per direction (4 MiB at most: the pipe is long, not narrow).
const IN_FLIGHT: usize = 64;

/// When a chunk read at `read` reaches the other end: `one_way` after it was read, but never
/// before `not_before + one_way` (the handshake's share of the connection's first bytes).
pub fn due(read: Instant, not_before: Instant, one_way: Duration) -> Instant {
    read.max(not_before) + one_way
}

/// Carries bytes between `outside` (the client's end, across the simulated network) and
/// `inside` (the service), both ways, until both directions have ended. `accepted` is when
/// the connection was accepted.
pub async fn join<O, I>(outside: O, inside: I, rtt: Duration, accepted: Instant)
where
    O: AsyncRead + AsyncWrite + Send,
    I: AsyncRead + AsyncWrite + Send,
{
    let half = rtt / 2;
    let (out_read, out_write) = tokio::io::split(outside);
    let (in_read, in_write) = tokio::io::split(inside);
    tokio::join!(
        carry(out_read, in_write, accepted + rtt, half),
        carry(in_read, out_write, accepted + rtt + half, half),
    );
}

/// One direction: reads as fast as the source gives, delivers each chunk when it is due,
/// in order; the source's end (or error) becomes a shutdown of the destination, also due.
async fn carry<R, W>(mut from: R, mut to: W, not_before: Instant, one_way: Duration)
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let (tx, mut rx) = mpsc::channel::<(Instant, Option<Bytes>)>(IN_FLIGHT);
    let read = async move {
        let mut buf = vec![0; CHUNK];
        loop {
            let n = from.read(&mut buf).await.unwrap_or(0);
            let chunk = (n > 0).then(|| Bytes::copy_from_slice(&buf[..n]));
            let at = due(Instant::now(), not_before, one_way);
            if tx.send((at, chunk)).await.is_err() || n == 0 {
                return;
            }
        }
    };
    let write = async move {
        while let Some((at, chunk)) = rx.recv().await {
            tokio::time::sleep_until(at).await;
            let Some(bytes) = chunk else {
                let _ = to.shutdown().await;
                return;
            };
            if to.write_all(&bytes).await.is_err() {
                return;
            }
        }
    };
    tokio::join!(read, write);
}

/// A "public bastion": accepts on `listener` and joins each connection to `to` (sshd) across
/// the simulated network, for the baseline of direct ssh behind the same RTT.
pub async fn forward(listener: TcpListener, to: SocketAddr, rtt: Duration) {
    loop {
        let Ok((outside, _)) = listener.accept().await else {
            continue;
        };
        let accepted = Instant::now();
        tokio::spawn(async move {
            let Ok(inside) = TcpStream::connect(to).await else {
                return;
            };
            let _ = outside.set_nodelay(true);
            let _ = inside.set_nodelay(true);
            join(outside, inside, rtt, accepted).await;
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RTT: Duration = Duration::from_millis(100);

    /// Replays one exchange through the schedule: when the client sends at `sent` (from the
    /// accept), when its bytes reach the server, and when a reply sent at once reaches it.
    fn exchange(sent: Duration) -> (Duration, Duration) {
        let accepted = Instant::now();
        let half = RTT / 2;
        let arrives = due(accepted + sent, accepted + RTT, half);
        let back = due(arrives, accepted + RTT + half, half);
        (arrives - accepted, back - accepted)
    }

    #[test]
    fn a_fresh_connection_pays_the_handshake() {
        // The first request, sent as soon as connect() returned: 2 round trips.
        assert_eq!(exchange(Duration::ZERO), (RTT * 3 / 2, RTT * 2));
        // A request sent later on a kept-alive connection: 1 round trip.
        let later = Duration::from_secs(5);
        assert_eq!(exchange(later), (later + RTT / 2, later + RTT));
    }

    #[test]
    fn a_server_that_speaks_first_is_heard_after_two_halves_of_the_handshake() {
        let accepted = Instant::now();
        let banner = due(accepted, accepted + RTT + RTT / 2, RTT / 2);
        assert_eq!(banner - accepted, RTT * 2);
    }

    #[tokio::test]
    async fn bytes_arrive_in_order_and_the_end_follows_them() {
        let (client, outside) = tokio::io::duplex(1 << 10);
        let (inside, mut server) = tokio::io::duplex(1 << 10);
        let rtt = Duration::from_millis(20);
        let started = Instant::now();
        tokio::spawn(join(outside, inside, rtt, started));
        let payload: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
        let sent = payload.clone();
        let (mut client_read, mut client_write) = tokio::io::split(client);
        let sender = tokio::spawn(async move {
            client_write.write_all(&sent).await.unwrap();
            client_write.shutdown().await.unwrap();
            client_write
        });
        let mut got = Vec::new();
        server.read_to_end(&mut got).await.unwrap();
        assert!(
            got == payload,
            "the bytes came through unchanged and in order"
        );
        assert!(
            started.elapsed() >= rtt * 3 / 2,
            "not before the handshake and half a trip"
        );
        server.write_all(b"bye").await.unwrap();
        drop(server);
        let mut back = Vec::new();
        client_read.read_to_end(&mut back).await.unwrap();
        assert_eq!(back, b"bye");
        drop(sender.await.unwrap());
    }
}
