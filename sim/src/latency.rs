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

use std::sync::Mutex;
use std::time::Duration;

use bytes::Bytes;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;
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

/// What one connection cost, counted as if neither end ever spent time computing: the
/// critical path of its bytes through the handshake and every turn of the conversation.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Distance {
    /// When, in round trips after its `connect()`, the client got the last bytes it waited
    /// for (the last delivered to it before it ended its side).
    pub round_trips: f64,
    /// Bytes carried to the service.
    pub bytes_to_server: u64,
    /// Bytes carried to the client.
    pub bytes_to_client: u64,
    /// The conversation, turn by turn (the first `MAX_TURNS`): what went which way, arriving
    /// when (in round trips after `connect()`); chunks that went the same way to arrive at
    /// the same time are one turn.
    pub turns: Vec<Turn>,
}

/// Bytes that went one way, arriving at one time.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Turn {
    /// True: to the service; false: to the client.
    pub to_server: bool,
    /// When they arrived, in round trips after the client's `connect()`.
    pub at: f64,
    /// How many bytes (0: the end of that direction).
    pub bytes: u64,
}

/// Turns kept per connection: enough for a handshake and a command, not for a transfer.
pub const MAX_TURNS: usize = 64;

/// Directions, as indexes.
const TO_SERVER: usize = 0;
const TO_CLIENT: usize = 1;

/// The running count behind [`Distance`], in halves of a round trip: a chunk read after the
/// other side's latest delivery depends on it (a client's reply, a server's answer), so it
/// arrives half a round trip after that, or after the handshake's share if that is later.
#[derive(Default)]
struct Ledger {
    /// Latest (virtual) delivery per direction.
    delivered: [u32; 2],
    /// Latest delivery to the client before it ended its side.
    awaited: u32,
    /// The client has ended its side: what reaches it afterwards is not waited for.
    client_done: bool,
    /// Bytes carried per direction.
    bytes: [u64; 2],
    /// The first turns.
    turns: Vec<Turn>,
}

impl Ledger {
    /// The handshake's share, in halves: the client's first bytes leave with its ACK (at 1
    /// round trip), the server's after its accept() (at 1.5).
    const NOT_BEFORE: [u32; 2] = [2, 3];

    /// A chunk of `n` bytes (0: the end) read in direction `to`: when it arrives, in halves.
    fn read(&mut self, to: usize, n: usize) -> u32 {
        self.bytes[to] += n as u64;
        if to == TO_SERVER && n == 0 {
            self.client_done = true;
        }
        let arrives = Self::NOT_BEFORE[to].max(self.delivered[1 - to]) + 1;
        let at = f64::from(arrives) / 2.0;
        let to_server = to == TO_SERVER;
        let full = self.turns.len() >= MAX_TURNS;
        match self.turns.last_mut() {
            Some(t) if t.to_server == to_server && t.at == at && n > 0 && t.bytes > 0 => {
                t.bytes += n as u64
            }
            _ if !full => self.turns.push(Turn {
                to_server,
                at,
                bytes: n as u64,
            }),
            _ => {}
        }
        arrives
    }

    /// A chunk that arrives at `at` (halves) was delivered in direction `to`.
    fn delivered(&mut self, to: usize, at: u32) {
        self.delivered[to] = self.delivered[to].max(at);
        if to == TO_CLIENT && !self.client_done {
            self.awaited = self.awaited.max(at);
        }
    }

    fn distance(&self) -> Distance {
        Distance {
            round_trips: f64::from(self.awaited) / 2.0,
            bytes_to_server: self.bytes[TO_SERVER],
            bytes_to_client: self.bytes[TO_CLIENT],
            turns: self.turns.clone(),
        }
    }
}

/// Carries bytes between `outside` (the client's end, across the simulated network) and
/// `inside` (the service), both ways, until both directions have ended; what the connection
/// cost. `accepted` is when the connection was accepted.
pub async fn join<O, I>(outside: O, inside: I, rtt: Duration, accepted: Instant) -> Distance
where
    O: AsyncRead + AsyncWrite + Send,
    I: AsyncRead + AsyncWrite + Send,
{
    let half = rtt / 2;
    let ledger = Mutex::new(Ledger::default());
    let (out_read, out_write) = tokio::io::split(outside);
    let (in_read, in_write) = tokio::io::split(inside);
    let to_server = Leg {
        to: TO_SERVER,
        not_before: accepted + rtt,
        one_way: half,
        ledger: &ledger,
    };
    let to_client = Leg {
        to: TO_CLIENT,
        not_before: accepted + rtt + half,
        one_way: half,
        ledger: &ledger,
    };
    tokio::join!(
        to_server.carry(out_read, in_write),
        to_client.carry(in_read, out_write),
    );
    ledger
        .into_inner()
        .unwrap_or_else(|e| e.into_inner())
        .distance()
}

/// One direction of a joined connection.
struct Leg<'a> {
    /// `TO_SERVER` or `TO_CLIENT`.
    to: usize,
    /// The handshake's share: nothing is delivered before this plus `one_way`.
    not_before: Instant,
    /// Half the round trip.
    one_way: Duration,
    /// The count both directions keep.
    ledger: &'a Mutex<Ledger>,
}

impl Leg<'_> {
    /// Reads as fast as the source gives and delivers each chunk when it is due, in order;
    /// the source's end (or error) becomes a shutdown of the destination, also due.
    async fn carry<R, W>(&self, mut from: R, mut to: W)
    where
        R: AsyncRead + Unpin,
        W: AsyncWrite + Unpin,
    {
        let (tx, mut rx) = mpsc::channel::<(Instant, u32, Option<Bytes>)>(IN_FLIGHT);
        let read = async move {
            let mut buf = vec![0; CHUNK];
            loop {
                let n = from.read(&mut buf).await.unwrap_or(0);
                let chunk = (n > 0).then(|| Bytes::copy_from_slice(&buf[..n]));
                let arrives = self.lock().read(self.to, n);
                let at = due(Instant::now(), self.not_before, self.one_way);
                if tx.send((at, arrives, chunk)).await.is_err() || n == 0 {
                    return;
                }
            }
        };
        let write = async move {
            while let Some((at, arrives, chunk)) = rx.recv().await {
                tokio::time::sleep_until(at).await;
                let Some(bytes) = chunk else {
                    let _ = to.shutdown().await;
                    self.lock().delivered(self.to, arrives);
                    return;
                };
                if to.write_all(&bytes).await.is_err() {
                    return;
                }
                self.lock().delivered(self.to, arrives);
            }
        };
        tokio::join!(read, write);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Ledger> {
        self.ledger.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A "public bastion": accepts on `listener` and joins each connection to sshd's loopback
/// `port` from `from` (the bastion instance's own address, so that the keys pushed for it
/// work) across the simulated network, for the baseline of direct ssh behind the same RTT;
/// `record` is told what each connection cost.
pub async fn forward<F>(
    listener: TcpListener,
    port: u16,
    from: std::net::IpAddr,
    rtt: Duration,
    record: F,
) where
    F: Fn(Distance) + Clone + Send + 'static,
{
    loop {
        let Ok((outside, _)) = listener.accept().await else {
            continue;
        };
        let accepted = Instant::now();
        let record = record.clone();
        tokio::spawn(async move {
            let Ok(inside) = crate::open_tunnel::connect_from(from, port).await else {
                return;
            };
            let _ = outside.set_nodelay(true);
            let _ = inside.set_nodelay(true);
            let distance = join(outside, inside, rtt, accepted).await;
            record(distance);
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

    /// Replays a conversation through the ledger: each step is a direction and whether the
    /// other side's latest bytes had arrived before it was sent.
    fn count(steps: &[(usize, usize)]) -> f64 {
        let mut ledger = Ledger::default();
        for &(to, n) in steps {
            let at = ledger.read(to, n);
            ledger.delivered(to, at);
        }
        ledger.distance().round_trips
    }

    #[test]
    fn chunks_that_travel_together_are_one_turn() {
        let mut ledger = Ledger::default();
        let first = ledger.read(TO_SERVER, 100);
        assert_eq!(
            ledger.read(TO_SERVER, 20),
            first,
            "read before any answer came"
        );
        ledger.delivered(TO_SERVER, first);
        let answer = ledger.read(TO_CLIENT, 50);
        ledger.delivered(TO_CLIENT, answer);
        let turns: Vec<(bool, f64, u64)> = ledger
            .distance()
            .turns
            .iter()
            .map(|t| (t.to_server, t.at, t.bytes))
            .collect();
        assert_eq!(turns, [(true, 1.5, 120), (false, 2.0, 50)]);
    }

    #[test]
    fn the_ledger_counts_the_turns_of_a_conversation() {
        // A request and its answer on a fresh connection, then the client leaves.
        assert_eq!(
            count(&[(TO_SERVER, 10), (TO_CLIENT, 10), (TO_SERVER, 0)]),
            2.0
        );
        // TLS 1.3 first: hello, the server's flight, finished with the request, the answer.
        let tls = [
            (TO_SERVER, 1),
            (TO_CLIENT, 1),
            (TO_SERVER, 1),
            (TO_CLIENT, 1),
        ];
        assert_eq!(count(&tls), 3.0);
        // What reaches the client after it has left is not waited for.
        assert_eq!(
            count(&[
                (TO_SERVER, 1),
                (TO_CLIENT, 1),
                (TO_SERVER, 0),
                (TO_CLIENT, 1)
            ]),
            2.0
        );
        // A server that speaks first is heard at 2, whatever the client had sent.
        let mut ledger = Ledger::default();
        let client_banner = ledger.read(TO_SERVER, 8);
        let server_banner = ledger.read(TO_CLIENT, 8);
        ledger.delivered(TO_SERVER, client_banner);
        ledger.delivered(TO_CLIENT, server_banner);
        assert_eq!(ledger.distance().round_trips, 2.0);
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
