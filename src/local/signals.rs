//! Waiting for the requests from outside that should end a command cleanly (closing the
//! tunnel, putting the terminal back) instead of killing it.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use futures_util::FutureExt;
use futures_util::future::{Shared, select_all};

use crate::error::Signal;

/// A request to stop, named as on Unix. On Windows the console's control events stand in:
/// Ctrl-C for `Interrupt`, Ctrl-Break for `Quit`, closing the console window for `Hangup`,
/// and log-off or shutdown for `Terminate`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// SIGHUP: the terminal or the parent (ssh, for its ProxyCommand) went away.
    Hangup,
    /// SIGTERM.
    Terminate,
    /// SIGINT.
    Interrupt,
    /// SIGQUIT.
    Quit,
}

impl Stop {
    /// The signal this request stands for, for the outcome and the exit code (128 + its
    /// number); SIGQUIT counts as SIGTERM.
    pub fn signal(self) -> Signal {
        match self {
            Stop::Hangup => Signal::Hangup,
            Stop::Terminate | Stop::Quit => Signal::Terminate,
            Stop::Interrupt => Signal::Interrupt,
        }
    }
}

type Wait = Pin<Box<dyn Future<Output = Stop> + Send>>;

/// A stop request that many tasks wait for at once: each clone resolves with the same
/// [`Stop`].
pub type Stops = Shared<Pin<Box<dyn Future<Output = Stop> + Send>>>;

/// Takes over `kinds` now (from here on none of them ends the process by its default
/// action) and resolves with the first that arrives; never, if no handler could be
/// installed.
pub fn listen<const N: usize>(kinds: [Stop; N]) -> Stops {
    let waits: Vec<Wait> = kinds.into_iter().filter_map(wait_for).collect();
    let first: Pin<Box<dyn Future<Output = Stop> + Send>> = if waits.is_empty() {
        Box::pin(std::future::pending())
    } else {
        Box::pin(select_all(waits).map(|(stop, _, _)| stop))
    };
    first.shared()
}

/// Runs `work` to its end, but for no longer than `grace` once a stop request has come:
/// `None` when it was cut off. The work sees the same request and closes what it holds;
/// this only bounds how long that may take.
pub async fn within_grace<T>(
    stops: Stops,
    grace: Duration,
    work: impl Future<Output = T>,
) -> Option<T> {
    tokio::pin!(work);
    tokio::select! {
        done = &mut work => return Some(done),
        _ = stops => {}
    }
    tokio::time::timeout(grace, work).await.ok()
}

#[cfg(unix)]
fn wait_for(kind: Stop) -> Option<Wait> {
    use tokio::signal::unix::{SignalKind, signal};
    let signal_kind = match kind {
        Stop::Hangup => SignalKind::hangup(),
        Stop::Terminate => SignalKind::terminate(),
        Stop::Interrupt => SignalKind::interrupt(),
        Stop::Quit => SignalKind::quit(),
    };
    let mut stream = signal(signal_kind).ok()?;
    Some(Box::pin(async move {
        stream.recv().await;
        kind
    }))
}

#[cfg(windows)]
fn wait_for(kind: Stop) -> Option<Wait> {
    use tokio::signal::windows;
    Some(match kind {
        Stop::Interrupt => {
            let mut s = windows::ctrl_c().ok()?;
            Box::pin(async move {
                s.recv().await;
                kind
            })
        }
        Stop::Quit => {
            let mut s = windows::ctrl_break().ok()?;
            Box::pin(async move {
                s.recv().await;
                kind
            })
        }
        Stop::Hangup => {
            let mut s = windows::ctrl_close().ok()?;
            Box::pin(async move {
                s.recv().await;
                kind
            })
        }
        Stop::Terminate => {
            let mut logoff = windows::ctrl_logoff().ok()?;
            let mut shutdown = windows::ctrl_shutdown().ok()?;
            Box::pin(async move {
                tokio::select! {
                    _ = logoff.recv() => {}
                    _ = shutdown.recv() => {}
                }
                kind
            })
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stopped(now: bool) -> Stops {
        let wait: Pin<Box<dyn Future<Output = Stop> + Send>> = if now {
            Box::pin(std::future::ready(Stop::Terminate))
        } else {
            Box::pin(std::future::pending())
        };
        wait.shared()
    }

    #[tokio::test]
    async fn work_ends_by_itself_or_within_the_grace_or_is_cut_off() {
        let never = std::future::pending::<u8>;
        // No stop: the work's own end.
        assert_eq!(
            within_grace(stopped(false), Duration::ZERO, async { 1 }).await,
            Some(1)
        );
        // Stopped, and the work closes within the grace.
        let closing = async {
            tokio::task::yield_now().await;
            2
        };
        assert_eq!(
            within_grace(stopped(true), Duration::from_secs(600), closing).await,
            Some(2)
        );
        // Stopped, and the work never ends: cut off at the grace.
        assert_eq!(
            within_grace(stopped(true), Duration::ZERO, never()).await,
            None
        );
    }

    #[test]
    fn each_request_stands_for_its_signal() {
        assert_eq!(Stop::Hangup.signal(), Signal::Hangup);
        assert_eq!(Stop::Interrupt.signal(), Signal::Interrupt);
        assert_eq!(Stop::Terminate.signal(), Signal::Terminate);
        assert_eq!(Stop::Quit.signal(), Signal::Terminate);
    }
}
