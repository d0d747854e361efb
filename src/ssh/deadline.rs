//! The SSH handshake's time budget: one deadline from the tunnel opening until
//! authentication has succeeded (banner, key exchange, host key, authentication), which a
//! host-key prompt pauses. russh's keepalives only count once authenticated, so without it
//! a tunnel that stalls in the handshake would hang the session and `cp` forever.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

/// A deadline shared by the connection's phases; clones share it.
#[derive(Debug, Clone)]
pub struct Budget {
    /// The whole budget, for messages.
    total: Duration,
    /// When it runs out, and since when it is paused.
    state: Arc<Mutex<State>>,
}

#[derive(Debug)]
struct State {
    /// When the budget runs out (pushed back by the time spent paused).
    due: Instant,
    /// Set while a host-key prompt waits for the user.
    paused_since: Option<Instant>,
}

/// How often an expired-budget wait looks again while paused (a prompt is human-paced).
const PAUSED_POLL: Duration = Duration::from_millis(100);

impl Budget {
    /// A budget of `total` starting now.
    pub fn start(total: Duration) -> Self {
        Budget {
            total,
            state: Arc::new(Mutex::new(State {
                due: Instant::now() + total,
                paused_since: None,
            })),
        }
    }

    /// The whole budget.
    pub fn total(&self) -> Duration {
        self.total
    }

    /// Stops the clock (a host-key prompt may take the user as long as it takes).
    pub fn pause(&self) {
        let mut state = self.lock();
        state.paused_since.get_or_insert_with(Instant::now);
    }

    /// Starts the clock again; the time paused does not count.
    pub fn resume(&self) {
        let mut state = self.lock();
        if let Some(since) = state.paused_since.take() {
            state.due += since.elapsed();
        }
    }

    /// Resolves once the budget has run out (never while paused).
    pub async fn expired(&self) {
        loop {
            let (due, paused) = {
                let state = self.lock();
                (state.due, state.paused_since.is_some())
            };
            if paused {
                tokio::time::sleep(PAUSED_POLL).await;
            } else if Instant::now() >= due {
                return;
            } else {
                tokio::time::sleep_until(due).await;
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}
