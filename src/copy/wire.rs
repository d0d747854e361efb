//! A watch on the SFTP byte stream between russh-sftp and the SSH channel: it bounds the
//! wait for each reply, catches a server that breaks the protocol (a reply to a request
//! already answered or never sent, a second VERSION, a packet a client never receives),
//! and remembers names that were not UTF-8 (russh-sftp turns their bad bytes into U+FFFD,
//! so two such names could become one).
//!
//! russh-sftp ignores a second reply to a request quietly and, for anything else odd, stops
//! its reader so that every request fails as if the connection had gone; its own
//! per-request timeout counts from when a request is queued, which a slow upload could
//! reach with healthy replies flowing. Here the clock runs only while a reply is awaited
//! and restarts at every byte the server sends.

use std::collections::{HashMap, HashSet};
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

/// Why the SFTP session cannot go on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Broken {
    /// No reply for this long while one was awaited.
    Stalled(Duration),
    /// The server broke the protocol (what it did, in a few words).
    Violation(String),
}

/// What the watch knows, shared between its two halves and [`Watch`].
#[derive(Debug, Default)]
struct State {
    /// Requests sent and not answered yet.
    outstanding: HashSet<u32>,
    /// The highest request id sent so far.
    max_sent: u32,
    /// INIT was sent.
    init_sent: bool,
    /// VERSION arrived.
    version_seen: bool,
    /// Since when a reply has been awaited with nothing from the server.
    waiting_since: Option<Instant>,
    /// Set once; the stream fails from then on.
    broken: Option<Broken>,
    /// Names that were not UTF-8, as russh-sftp will show them → their real bytes.
    not_utf8: HashMap<String, Vec<u8>>,
    /// The reader, to wake when a request starts a wait (so it arms its timer).
    reader: Option<Waker>,
}

impl State {
    fn awaiting(&self) -> bool {
        !self.outstanding.is_empty() || (self.init_sent && !self.version_seen)
    }

    fn break_with(&mut self, why: Broken) {
        if self.broken.is_none() {
            self.broken = Some(why);
        }
    }
}

/// The caller's view of a [`Wire`]: why it broke, and which names were not UTF-8.
#[derive(Debug, Clone, Default)]
pub struct Watch(Arc<Mutex<State>>);

impl Watch {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Why the session broke, if it did.
    pub fn broken(&self) -> Option<Broken> {
        self.lock().broken.clone()
    }

    /// The bytes the server really sent for `name`, when they were not UTF-8.
    pub fn not_utf8(&self, name: &str) -> Option<Vec<u8>> {
        self.lock().not_utf8.get(name).cloned()
    }
}

/// At most this many names that were not UTF-8 are remembered (a listing is bounded by
/// `--max-dir-entries` anyway; this bounds the map on its own).
const MAX_REMEMBERED: usize = 100_000;

/// Splits a byte stream into SFTP packets, keeping the first bytes of each (all of a NAME
/// packet, to read its names).
#[derive(Debug, Default)]
struct Frames {
    /// The bytes kept of the current packet.
    head: Vec<u8>,
    /// Bytes of the current packet still to come, once its length is known.
    left: Option<usize>,
    /// Whether the whole packet is being kept.
    whole: bool,
}

/// Bytes of a packet that say what it is: length, type, request id.
const HEAD: usize = 9;
/// SSH_FXP_NAME.
const NAME: u8 = 104;
/// The largest NAME packet kept whole (russh-sftp refuses bigger packets).
const MAX_KEPT: usize = 256 * 1024 + 4;

impl Frames {
    /// Feeds `bytes`; calls `packet(head)` for each packet once its head (or, when `keep`
    /// says so for its type, all of it) is in.
    fn feed(&mut self, mut bytes: &[u8], keep: impl Fn(u8) -> bool, mut packet: impl FnMut(&[u8])) {
        while !bytes.is_empty() {
            if let Some(left) = self.left {
                let n = left.min(bytes.len());
                if self.whole && self.head.len() + n <= MAX_KEPT {
                    self.head.extend_from_slice(&bytes[..n]);
                }
                bytes = &bytes[n..];
                self.left = Some(left - n);
                if left == n {
                    if self.whole {
                        packet(&self.head);
                    }
                    self.reset();
                }
                continue;
            }
            // The length first, then up to the id (a packet may be shorter than that).
            let want = if self.head.len() < 4 {
                4
            } else {
                (self.len() + 4).min(HEAD)
            };
            let n = (want - self.head.len()).min(bytes.len());
            self.head.extend_from_slice(&bytes[..n]);
            bytes = &bytes[n..];
            if self.head.len() < 4 || self.head.len() < (self.len() + 4).min(HEAD) {
                continue;
            }
            let total = self.len() + 4;
            if total <= self.head.len() {
                packet(&self.head);
                self.reset();
                continue;
            }
            self.whole = keep(self.head[4]);
            if !self.whole {
                packet(&self.head);
            }
            self.left = Some(total - self.head.len());
        }
    }

    fn len(&self) -> usize {
        u32::from_be_bytes([self.head[0], self.head[1], self.head[2], self.head[3]]) as usize
    }

    fn reset(&mut self) {
        self.head.clear();
        self.left = None;
        self.whole = false;
    }
}

/// The request id of a packet head, when it has one.
fn id_of(head: &[u8]) -> Option<u32> {
    head.get(5..9)
        .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
}

/// The SFTP stream, watched. Reads fail once the server has broken the protocol or has not
/// answered for the bound.
pub struct Wire<S> {
    /// The channel stream.
    inner: S,
    /// Shared with [`Watch`].
    state: Watch,
    /// How long a reply may take.
    bound: Duration,
    /// The timer for the reply awaited.
    timer: Pin<Box<Sleep>>,
    /// Packets going out.
    sent: Frames,
    /// Packets coming in.
    received: Frames,
}

impl<S> Wire<S> {
    /// Watches `inner`, allowing `bound` for each reply.
    pub fn new(inner: S, bound: Duration) -> (Wire<S>, Watch) {
        let watch = Watch::default();
        let wire = Wire {
            inner,
            state: watch.clone(),
            bound,
            timer: Box::pin(tokio::time::sleep(bound)),
            sent: Frames::default(),
            received: Frames::default(),
        };
        (wire, watch)
    }
}

/// SSH_FXP_INIT and SSH_FXP_VERSION.
const INIT: u8 = 1;
const VERSION: u8 = 2;

/// Notes a packet the client sent.
fn on_sent(state: &mut State, head: &[u8]) {
    let was_awaiting = state.awaiting();
    match head.get(4) {
        Some(&INIT) => state.init_sent = true,
        Some(_) => {
            if let Some(id) = id_of(head) {
                state.outstanding.insert(id);
                state.max_sent = state.max_sent.max(id);
            }
        }
        None => {}
    }
    if !was_awaiting && state.awaiting() {
        state.waiting_since = Some(Instant::now());
        if let Some(w) = state.reader.take() {
            w.wake();
        }
    }
}

/// Checks a packet the server sent.
fn on_received(state: &mut State, packet: &[u8]) {
    let Some(&kind) = packet.get(4) else {
        return state.break_with(Broken::Violation("sent a packet without a type".into()));
    };
    match kind {
        VERSION if !state.init_sent || state.version_seen => {
            state.break_with(Broken::Violation("sent its VERSION twice".into()))
        }
        VERSION => state.version_seen = true,
        // STATUS, HANDLE, DATA, NAME, ATTRS, EXTENDED_REPLY: answers to a request.
        101..=105 | 201 => {
            let Some(id) = id_of(packet) else {
                return state.break_with(Broken::Violation("sent a reply without an id".into()));
            };
            if !state.outstanding.remove(&id) {
                let what = if id != 0 && id <= state.max_sent {
                    format!("answered request {id} twice")
                } else {
                    format!("answered request {id}, which was never sent")
                };
                return state.break_with(Broken::Violation(what));
            }
            if kind == NAME {
                remember_not_utf8(state, packet);
            }
        }
        other => state.break_with(Broken::Violation(format!(
            "sent a packet of type {other}, which no client is sent"
        ))),
    }
}

/// Reads the names of a NAME packet and remembers those that are not UTF-8.
fn remember_not_utf8(state: &mut State, packet: &[u8]) {
    let mut r = Reader(packet.get(9..).unwrap_or_default());
    let Some(count) = r.u32() else { return };
    for _ in 0..count {
        let (Some(name), Some(_long), Some(())) = (r.string(), r.string(), r.attrs()) else {
            return;
        };
        if std::str::from_utf8(name).is_err() && state.not_utf8.len() < MAX_REMEMBERED {
            let shown = String::from_utf8_lossy(name).into_owned();
            state.not_utf8.insert(shown, name.to_vec());
        }
    }
}

/// A cursor over SFTP's wire types.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.0.len() < n {
            return None;
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Some(head)
    }

    fn u32(&mut self) -> Option<u32> {
        self.take(4)
            .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn string(&mut self) -> Option<&'a [u8]> {
        let n = self.u32()? as usize;
        self.take(n)
    }

    /// Skips ATTRS (SFTP v3).
    fn attrs(&mut self) -> Option<()> {
        let flags = self.u32()?;
        let sizes = [(0x1, 8), (0x2, 8), (0x4, 4), (0x8, 8)];
        for (bit, n) in sizes {
            if flags & bit != 0 {
                self.take(n)?;
            }
        }
        if flags & 0x8000_0000 != 0 {
            for _ in 0..self.u32()? {
                self.string()?;
                self.string()?;
            }
        }
        Some(())
    }
}

fn failed(why: &Broken) -> io::Error {
    match why {
        Broken::Stalled(_) => io::Error::new(io::ErrorKind::TimedOut, "the SFTP server stalled"),
        Broken::Violation(v) => io::Error::new(io::ErrorKind::InvalidData, v.clone()),
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Wire<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if let Some(why) = this.state.broken() {
            return Poll::Ready(Err(failed(&why)));
        }
        let before = buf.filled().len();
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                let mut state = this.state.lock();
                let new = &buf.filled()[before..];
                if !new.is_empty() {
                    let st = &mut *state;
                    this.received
                        .feed(new, |t| t == NAME, |p| on_received(st, p));
                    st.waiting_since = st.awaiting().then(Instant::now);
                }
                if let Some(why) = &state.broken {
                    return Poll::Ready(Err(failed(why)));
                }
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => {
                let mut state = this.state.lock();
                state.reader = Some(cx.waker().clone());
                let Some(since) = state.waiting_since.filter(|_| state.awaiting()) else {
                    return Poll::Pending;
                };
                let deadline = since + this.bound;
                if this.timer.deadline() != deadline {
                    this.timer.as_mut().reset(deadline);
                }
                if this.timer.as_mut().poll(cx).is_ready() {
                    state.break_with(Broken::Stalled(this.bound));
                    let why = state.broken.clone().unwrap_or(Broken::Stalled(this.bound));
                    return Poll::Ready(Err(failed(&why)));
                }
                Poll::Pending
            }
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Wire<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_write(cx, buf);
        if let Poll::Ready(Ok(n)) = polled {
            let mut state = this.state.lock();
            let st = &mut *state;
            this.sent
                .feed(&buf[..n], |_| false, |head| on_sent(st, head));
        }
        polled
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn packet(kind: u8, id: Option<u32>, body: &[u8]) -> Vec<u8> {
        let mut p = vec![kind];
        if let Some(id) = id {
            p.extend_from_slice(&id.to_be_bytes());
        }
        p.extend_from_slice(body);
        let mut out = (p.len() as u32).to_be_bytes().to_vec();
        out.extend(p);
        out
    }

    fn heads(stream: &[u8], split: usize) -> Vec<Vec<u8>> {
        let mut frames = Frames::default();
        let mut out = Vec::new();
        for chunk in stream.chunks(split) {
            frames.feed(chunk, |t| t == NAME, |p| out.push(p.to_vec()));
        }
        out
    }

    #[test]
    fn packets_are_found_however_the_bytes_are_split() {
        let mut stream = packet(INIT, None, &3u32.to_be_bytes());
        stream.extend(packet(17, Some(7), b"some path"));
        stream.extend(packet(NAME, Some(8), &[1, 2, 3]));
        stream.extend(packet(101, Some(9), &[0; 20]));
        for split in [1, 2, 3, 5, 9, 11, 1000] {
            let found = heads(&stream, split);
            assert_eq!(found.len(), 4, "split {split}");
            assert_eq!(found[0][4], INIT);
            assert_eq!(id_of(&found[1]), Some(7));
            assert_eq!(found[2], packet(NAME, Some(8), &[1, 2, 3]));
            assert_eq!(id_of(&found[3]), Some(9));
        }
    }

    #[test]
    fn a_second_reply_is_a_violation() {
        let mut state = State::default();
        on_sent(&mut state, &packet(INIT, None, &3u32.to_be_bytes()));
        on_received(&mut state, &packet(VERSION, None, &3u32.to_be_bytes()));
        on_sent(&mut state, &packet(17, Some(1), b"x"));
        on_received(&mut state, &packet(101, Some(1), b""));
        assert_eq!(state.broken, None);
        on_received(&mut state, &packet(101, Some(1), b""));
        assert_eq!(
            state.broken,
            Some(Broken::Violation("answered request 1 twice".into()))
        );
    }

    #[test]
    fn names_that_are_not_utf8_are_remembered() {
        let mut body = 1u32.to_be_bytes().to_vec();
        for s in [&b"a\xff"[..], b"long"] {
            body.extend((s.len() as u32).to_be_bytes());
            body.extend_from_slice(s);
        }
        body.extend(0x4u32.to_be_bytes());
        body.extend(0o100644u32.to_be_bytes());
        let mut state = State::default();
        on_sent(&mut state, &packet(12, Some(4), b""));
        on_received(&mut state, &packet(NAME, Some(4), &body));
        assert_eq!(state.broken, None);
        assert_eq!(state.not_utf8.get("a\u{fffd}"), Some(&b"a\xff".to_vec()));
    }
}
