//! A slot per open tunnel on each endpoint, shared by every eic-ssh process of this user on
//! this machine (proxies under ControlMaster, sessions, `cp`, listeners, `run`): lock files
//! `0.lock`…`19.lock` in a private directory per endpoint, one held for each tunnel and
//! released with it, or by the OS when the process dies. A tunnel is opened only while this
//! user holds fewer than the limit there (the endpoint's quota of 20, or `run
//! --per-endpoint`), so the endpoint's 429s come only from other users' connections.

use std::fs::File;
use std::path::PathBuf;
use std::time::Duration;

use crate::error::{Failure, Kind};
use crate::local::slots as lock;
use crate::net::backoff::Backoff;

/// An endpoint's concurrent connections (its service quota): the most slots there are.
pub const QUOTA: usize = 20;

/// One held slot: this process's claim to one of the endpoint's connections. Dropping it
/// (or the process ending) gives it back.
#[derive(Debug)]
pub struct Slot {
    /// The locked file; the lock lives as long as it is open.
    _file: File,
    /// Which of the endpoint's slots (0-based).
    pub index: usize,
}

/// The slots of one endpoint.
#[derive(Debug, Clone)]
pub struct Slots {
    /// `…/slots/ENDPOINT`, private.
    dir: PathBuf,
    /// The endpoint's id, for messages.
    endpoint: String,
}

/// What a try to take a slot found.
enum Taken {
    /// Held now.
    Slot(Slot),
    /// This user already holds this many (at least the limit).
    Full(usize),
}

impl Slots {
    /// The slots of `endpoint_id`, when they can be kept here: a base directory exists, the
    /// id is one path component, and the directories are this user's alone. Otherwise tunnels
    /// open without a slot (said once in the debug log).
    pub fn of(endpoint_id: &str) -> Option<Slots> {
        let base = lock::base()?;
        Slots::under(base, endpoint_id)
    }

    /// The slots of `endpoint_id` under `base` (tests).
    pub fn under(base: PathBuf, endpoint_id: &str) -> Option<Slots> {
        let safe = !endpoint_id.is_empty()
            && !endpoint_id.starts_with('.')
            && endpoint_id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.');
        if !safe {
            tracing::debug!("no tunnel slots for an endpoint id that is not a plain name");
            return None;
        }
        let dir = base.join(endpoint_id);
        let checked = lock::private_dir(&base).and_then(|()| lock::private_dir(&dir));
        if let Err(e) = checked {
            tracing::warn!("tunnel slots are not kept ({e}); tunnels open without one");
            return None;
        }
        Some(Slots {
            dir,
            endpoint: endpoint_id.to_string(),
        })
    }

    /// How many slots this user's processes hold on the endpoint now.
    pub fn held(&self) -> usize {
        let Ok(_counting) = lock::lock(&self.dir.join("count.lock")) else {
            return 0;
        };
        (0..QUOTA)
            .filter(|i| matches!(lock::try_lock(&self.slot_path(*i)), Ok(None)))
            .count()
    }

    fn slot_path(&self, index: usize) -> PathBuf {
        self.dir.join(format!("{index}.lock"))
    }

    /// Takes a free slot when fewer than `limit` are held, counting and taking under one
    /// short lock so that two processes never both take the last one.
    fn try_take(&self, limit: usize) -> std::io::Result<Taken> {
        let _counting = lock::lock(&self.dir.join("count.lock"))?;
        let mut free = None;
        let mut held = 0;
        for index in 0..QUOTA {
            match lock::try_lock(&self.slot_path(index))? {
                None => held += 1,
                Some(file) if free.is_none() => free = Some(Slot { _file: file, index }),
                // Probed only: closing the file gives the lock back at once.
                Some(_) => {}
            }
        }
        Ok(match free {
            Some(slot) if held < limit => Taken::Slot(slot),
            _ => Taken::Full(held),
        })
    }

    /// Takes a slot while this user holds fewer than `limit` (at most [`QUOTA`]) on the
    /// endpoint, waiting with jittered backoff within `bound` for one to free; `None` when
    /// the lock files cannot be used (the tunnel opens without one, as before slots).
    pub async fn take(&self, limit: usize, bound: Duration) -> Result<Option<Slot>, Failure> {
        let limit = limit.clamp(1, QUOTA);
        let mut backoff = Backoff::new(bound);
        let mut said = false;
        loop {
            let held = match self.try_take(limit) {
                Ok(Taken::Slot(slot)) => {
                    tracing::debug!("tunnel slot {} of {} taken", slot.index, self.endpoint);
                    return Ok(Some(slot));
                }
                Ok(Taken::Full(held)) => held,
                Err(e) => {
                    tracing::warn!(
                        "tunnel slots are not kept ({e}); this tunnel opens without one"
                    );
                    return Ok(None);
                }
            };
            let Some(wait) = backoff.next_wait() else {
                return Err(self.full(held, limit, backoff.waited()));
            };
            if !said {
                said = true;
                tracing::warn!(
                    "this user's eic-ssh processes hold {held} tunnels on {} (limit {limit}); waiting up to {} s for one to close",
                    self.endpoint,
                    bound.as_secs()
                );
            }
            tokio::time::sleep(wait).await;
        }
    }

    fn full(&self, held: usize, limit: usize, waited: Duration) -> Failure {
        Failure::new(
            Kind::TunnelRefused,
            format!(
                "this user's eic-ssh processes already hold {held} tunnels on endpoint {} (limit {limit}) and none closed within {} s (--quota-wait, quota_wait): close some, or share connections (`eic-ssh ssh-config` writes ControlMaster)",
                self.endpoint,
                waited.as_secs_f64().round()
            ),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slots(dir: &tempfile::TempDir) -> Slots {
        Slots::under(dir.path().join("slots"), "eice-0123456789abcdef0").unwrap()
    }

    #[tokio::test]
    async fn slots_are_taken_up_to_the_limit_and_given_back_on_drop() {
        let dir = tempfile::tempdir().unwrap();
        let s = slots(&dir);
        let mut held = Vec::new();
        for i in 0..3 {
            let slot = s.take(3, Duration::ZERO).await.unwrap().unwrap();
            assert_eq!(slot.index, i, "the lowest free slot");
            held.push(slot);
        }
        assert_eq!(s.held(), 3);
        let e = s.take(3, Duration::ZERO).await.unwrap_err();
        assert_eq!(e.kind, Kind::TunnelRefused);
        assert!(e.message.contains("hold 3 tunnels"), "{}", e.message);
        // Another limit counts the same slots: 3 held leaves one of 4.
        let fourth = s.take(4, Duration::ZERO).await.unwrap().unwrap();
        assert_eq!(fourth.index, 3);
        held.remove(1);
        assert_eq!(s.held(), 3);
        let again = s.take(4, Duration::ZERO).await.unwrap().unwrap();
        assert_eq!(again.index, 1, "the freed slot is taken again");
    }

    #[tokio::test]
    async fn a_wait_ends_when_a_slot_frees() {
        let dir = tempfile::tempdir().unwrap();
        let s = slots(&dir);
        let first = s.take(1, Duration::ZERO).await.unwrap().unwrap();
        let freeing = async {
            tokio::task::yield_now().await;
            drop(first);
        };
        let (taken, ()) = tokio::join!(s.take(1, Duration::from_secs(30)), freeing);
        assert_eq!(taken.unwrap().unwrap().index, 0);
    }

    #[test]
    fn odd_endpoint_ids_get_no_directory() {
        let dir = tempfile::tempdir().unwrap();
        for id in ["", "..", "a/b", ".hidden", "eice\u{1b}"] {
            assert!(
                Slots::under(dir.path().to_path_buf(), id).is_none(),
                "{id:?}"
            );
        }
    }
}
