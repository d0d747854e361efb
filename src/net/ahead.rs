//! Connections opened ahead of need: TCP (through the proxy, if any) and TLS to the hosts a
//! connect is about to call, started while the egress guard decides (docs/design.md, "Round
//! trips"). Nothing is sent on one before a caller takes it, and callers take them only
//! once the guard has admitted the network.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tokio::task::JoinHandle;

use super::dial::{self, Dest, DialError, Road};
use super::proxy::Proxy;
use super::timeouts;
use super::transport::Transport;

/// A connection opened ahead and not taken within this time is closed unused.
pub const FRESH_FOR: Duration = timeouts::AHEAD_FRESH;

/// The connections opened ahead and not yet taken. Dropping it closes them.
#[derive(Default)]
pub struct Ahead {
    slots: Mutex<Vec<Slot>>,
}

struct Slot {
    to: Dest,
    /// The road it takes: a caller that would go another way does not take it.
    road: Road,
    started: Instant,
    task: JoinHandle<Result<(Transport, Road), DialError>>,
}

impl Ahead {
    /// Starts opening a connection to `to` along `proxy` (or directly) in the background.
    pub fn open(&self, to: Dest, proxy: Option<Proxy>, tls: &Arc<rustls::ClientConfig>) {
        let road = Road::of(proxy.as_ref());
        tracing::debug!("opening a connection to {to} ahead ({road})");
        let tls = tls.clone();
        let target = to.clone();
        let task =
            tokio::spawn(async move { dial::open(&target, proxy.as_ref(), &tls, None).await });
        self.slots().push(Slot {
            to,
            road,
            started: Instant::now(),
            task,
        });
    }

    /// A connection to `to` along `proxy` opened ahead, once it is open; `None` when none
    /// was started, it failed (the caller's own attempt then says why) or it waited too long.
    pub async fn take(&self, to: &Dest, proxy: Option<&Proxy>) -> Option<Transport> {
        let road = Road::of(proxy);
        let slot = {
            let mut slots = self.slots();
            let i = slots.iter().position(|s| &s.to == to && s.road == road)?;
            slots.swap_remove(i)
        };
        if slot.started.elapsed() > FRESH_FOR {
            slot.task.abort();
            return None;
        }
        match slot.task.await {
            Ok(Ok((transport, _))) => {
                tracing::debug!("using the connection opened ahead to {to}");
                Some(transport)
            }
            Ok(Err(e)) => {
                tracing::debug!("the connection opened ahead to {to} failed: {e}");
                None
            }
            Err(_) => None,
        }
    }

    /// Closes the connections nobody took (a connect that needed fewer than foreseen).
    pub fn close_unused(&self) {
        for slot in self.slots().drain(..) {
            tracing::debug!("closing the unused connection opened ahead to {}", slot.to);
            slot.task.abort();
        }
    }

    fn slots(&self) -> MutexGuard<'_, Vec<Slot>> {
        self.slots.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Drop for Ahead {
    fn drop(&mut self) {
        self.close_unused();
    }
}
