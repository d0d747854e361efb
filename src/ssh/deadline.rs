//! The SSH handshake's time budget: one deadline from the tunnel opening until
//! authentication has succeeded (banner, key exchange, host key, authentication), which a
//! host-key prompt pauses. russh's keepalives only count once authenticated, so without it
//! a tunnel that stalls in the handshake would hang the session and `cp` forever.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

/// A deadline shared by the connection's phases; clones share it.
#[derive(Debug, Clone)]
pub struct Budget {
    /// The whole budget, for messages.
    total: Duration,
    /// When it runs out, and since when it is paused; waiters hear of each change.
    state: Arc<watch::Sender<State>>,
}

#[derive(Debug)]
struct State {
    /// When the budget runs out (pushed back by the time spent paused).
    due: Instant,
    /// Set while a host-key prompt waits for the user.
    paused_since: Option<Instant>,
}

impl Budget {
    /// A budget of `total` starting now.
    pub fn start(total: Duration) -> Self {
        Budget {
            total,
            state: Arc::new(watch::Sender::new(State {
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
        self.state.send_modify(|state| {
            state.paused_since.get_or_insert_with(Instant::now);
        });
    }

    /// Starts the clock again; the time paused does not count.
    pub fn resume(&self) {
        self.state.send_modify(|state| {
            if let Some(since) = state.paused_since.take() {
                state.due += since.elapsed();
            }
        });
    }

    /// Resolves once the budget has run out (never while paused): waits for the due time
    /// or for a pause or resume, whichever comes first.
    pub async fn expired(&self) {
        let mut changes = self.state.subscribe();
        loop {
            let (due, paused) = {
                let state = changes.borrow_and_update();
                (state.due, state.paused_since.is_some())
            };
            if !paused && Instant::now() >= due {
                return;
            }
            let until_due = async {
                if paused {
                    std::future::pending().await
                } else {
                    tokio::time::sleep_until(due).await;
                }
            };
            tokio::select! {
                () = until_due => {}
                // The sender lives as long as `self`: a change is the only other wake-up.
                _ = changes.changed() => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::FutureExt;

    #[tokio::test]
    async fn a_paused_budget_waits_for_the_resume_not_for_a_poll() {
        let budget = Budget::start(Duration::ZERO);
        budget.expired().await;
        budget.pause();
        let waiting = budget.expired();
        tokio::pin!(waiting);
        assert!(
            waiting.as_mut().now_or_never().is_none(),
            "paused: not expired, however late"
        );
        // The resume wakes the waiter itself; the time left was none.
        budget.resume();
        waiting.await;
    }
}
