//! Waiting for the requests from outside that should end a command cleanly (closing the
//! tunnel, putting the terminal back) instead of killing it.

use std::future::Future;
use std::pin::Pin;

use futures_util::future::select_all;

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

type Wait = Pin<Box<dyn Future<Output = ()> + Send>>;

/// Resolves when any of `kinds` arrives; never, if no handler could be installed.
pub async fn first_of<const N: usize>(kinds: [Stop; N]) {
    let waits: Vec<Wait> = kinds.into_iter().filter_map(wait_for).collect();
    if waits.is_empty() {
        return std::future::pending().await;
    }
    let _ = select_all(waits).await;
}

#[cfg(unix)]
fn wait_for(kind: Stop) -> Option<Wait> {
    use tokio::signal::unix::{SignalKind, signal};
    let kind = match kind {
        Stop::Hangup => SignalKind::hangup(),
        Stop::Terminate => SignalKind::terminate(),
        Stop::Interrupt => SignalKind::interrupt(),
        Stop::Quit => SignalKind::quit(),
    };
    let mut stream = signal(kind).ok()?;
    Some(Box::pin(async move {
        stream.recv().await;
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
            })
        }
        Stop::Quit => {
            let mut s = windows::ctrl_break().ok()?;
            Box::pin(async move {
                s.recv().await;
            })
        }
        Stop::Hangup => {
            let mut s = windows::ctrl_close().ok()?;
            Box::pin(async move {
                s.recv().await;
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
            })
        }
    })
}
