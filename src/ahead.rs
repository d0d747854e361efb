//! Connections opened ahead of need: TCP (through the proxy, if any) and TLS to the hosts a
//! connect is about to call, started while the egress guard decides (docs/design.md, "Round
//! trips"). Nothing is sent on one before a caller takes it, and callers take them only
//! once the guard has admitted the network.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tokio::task::JoinHandle;

use crate::tunnel::connect;
use crate::tunnel::transport::Transport;
use crate::tunnel::{ConnectError, TunnelEndpoint};

/// A connection opened ahead and not taken within this time is closed unused: servers close
/// idle connections, and one that waited through a slow step (an MFA prompt) may be gone.
pub const FRESH_FOR: Duration = Duration::from_secs(20);

/// The connections opened ahead and not yet taken. Dropping it closes them.
#[derive(Default)]
pub struct Ahead {
    slots: Mutex<Vec<Slot>>,
}

struct Slot {
    to: TunnelEndpoint,
    started: Instant,
    task: JoinHandle<Result<Transport, ConnectError>>,
}

impl Ahead {
    /// Starts opening a connection to `to` in the background.
    pub fn open(&self, to: TunnelEndpoint, tls: &Arc<rustls::ClientConfig>) {
        tracing::debug!("opening a connection to {to} ahead");
        let tls = tls.clone();
        let target = to.clone();
        let task = tokio::spawn(async move { connect::transport(&target, &tls).await });
        self.slots().push(Slot {
            to,
            started: Instant::now(),
            task,
        });
    }

    /// A connection to `to` opened ahead, once it is open; `None` when none was started,
    /// it failed (the caller's own attempt then says why) or it waited too long.
    pub async fn take(&self, to: &TunnelEndpoint) -> Option<Transport> {
        let slot = {
            let mut slots = self.slots();
            let i = slots.iter().position(|s| &s.to == to)?;
            slots.swap_remove(i)
        };
        if slot.started.elapsed() > FRESH_FOR {
            slot.task.abort();
            return None;
        }
        match slot.task.await {
            Ok(Ok(transport)) => {
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
