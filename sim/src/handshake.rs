//! Finds the SSH key exchange's `SSH_MSG_NEWKEYS` in one direction of a relayed byte stream,
//! so a fault can stall a tunnel at a precise phase of the handshake (after the host key,
//! or right after the key exchange) whatever the TCP segmentation. Only the clear-text part
//! of the stream is read: the identification line, then packets up to and including
//! `NEWKEYS`; after it everything is encrypted and nothing more is looked at.

/// `SSH_MSG_NEWKEYS` (RFC 4253, section 7.3).
const NEWKEYS: u8 = 21;

/// The clear-text handshake is small (identification, KEXINIT, the key-exchange packets);
/// past this much without a `NEWKEYS` the stream is not what we expect and nothing stops it.
const MAX_CLEAR: usize = 256 * 1024;

/// Where a direction stops relaying.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// Just before the `NEWKEYS` packet: the peer has everything up to the host key and its
    /// signature, and the key exchange never completes. (Up to five bytes of the packet's
    /// header may pass when a chunk ends inside it; the packet itself never completes.)
    BeforeNewKeys,
    /// Just after the `NEWKEYS` packet: the key exchange completes, nothing after it passes.
    AfterNewKeys,
}

/// Watches one direction of the stream for its stop point.
#[derive(Debug)]
pub struct Cursor {
    /// Where to stop.
    stop: Stop,
    /// The clear-text bytes seen so far (re-parsed on each chunk; they are few).
    seen: Vec<u8>,
    /// The stream offset to stop at, once found.
    found: Option<usize>,
    /// Bytes fed so far.
    offset: usize,
}

impl Cursor {
    /// A cursor at the start of a stream.
    pub fn new(stop: Stop) -> Self {
        Cursor {
            stop,
            seen: Vec::new(),
            found: None,
            offset: 0,
        }
    }

    /// Takes the next chunk; returns how many of its bytes may pass when the stop point
    /// falls in it (or already passed: 0), `None` while the whole chunk may pass.
    pub fn feed(&mut self, chunk: &[u8]) -> Option<usize> {
        let before = self.offset;
        self.offset += chunk.len();
        if self.found.is_none() && self.seen.len() < MAX_CLEAR {
            self.seen.extend_from_slice(chunk);
            self.found = stop_offset(&self.seen, self.stop);
        }
        let at = self.found.filter(|&at| at <= self.offset)?;
        Some(at.saturating_sub(before))
    }
}

/// The offset of the stop point in `stream`, if it holds the whole `NEWKEYS` packet header.
fn stop_offset(stream: &[u8], stop: Stop) -> Option<usize> {
    let mut at = identification_end(stream)?;
    loop {
        let header = stream.get(at..at + 6)?;
        let length = u32::from_be_bytes([header[0], header[1], header[2], header[3]]) as usize;
        let end = at.checked_add(4)?.checked_add(length)?;
        if header[5] == NEWKEYS {
            return Some(match stop {
                Stop::BeforeNewKeys => at,
                Stop::AfterNewKeys => end,
            });
        }
        at = end;
    }
}

/// The offset just past the `SSH-…` identification line (lines before it are skipped, as
/// RFC 4253 allows for the server).
fn identification_end(stream: &[u8]) -> Option<usize> {
    let mut at = 0;
    loop {
        let line_end = at + stream.get(at..)?.iter().position(|&b| b == b'\n')? + 1;
        if stream[at..].starts_with(b"SSH-") {
            return Some(line_end);
        }
        at = line_end;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn packet(kind: u8, body: usize) -> Vec<u8> {
        let length = (1 + 1 + body + 4) as u32;
        let mut p = length.to_be_bytes().to_vec();
        p.push(4);
        p.push(kind);
        p.extend(std::iter::repeat_n(0, body + 4));
        p
    }

    fn stream() -> (Vec<u8>, usize, usize) {
        let mut s = b"hello\r\nSSH-2.0-OpenSSH_9.6\r\n".to_vec();
        s.extend(packet(20, 300));
        s.extend(packet(31, 500));
        let newkeys = s.len();
        s.extend(packet(NEWKEYS, 0));
        let after = s.len();
        s.extend(b"encrypted bytes follow");
        (s, newkeys, after)
    }

    #[test]
    fn stops_at_newkeys_whatever_the_chunks() {
        let (s, newkeys, after) = stream();
        for stop in [Stop::BeforeNewKeys, Stop::AfterNewKeys] {
            let want = if stop == Stop::BeforeNewKeys {
                newkeys
            } else {
                after
            };
            for size in [1, 7, 100, s.len()] {
                let mut cursor = Cursor::new(stop);
                let mut passed = 0;
                for chunk in s.chunks(size) {
                    match cursor.feed(chunk) {
                        None => passed += chunk.len(),
                        Some(n) => {
                            passed += n;
                            break;
                        }
                    }
                }
                // Before NEWKEYS, a few bytes of its header may pass (its type is in the
                // sixth); the peer never gets the whole packet, which is what matters.
                assert!(
                    passed >= want && passed < want + 6,
                    "{stop:?} {size}: {passed}"
                );
                if stop == Stop::AfterNewKeys {
                    assert_eq!(passed, want, "{size}");
                }
            }
        }
    }
}
