//! Waiting for the signals that should end a command cleanly (closing the tunnel, putting
//! the terminal back) instead of killing it.

use futures_util::future::select_all;
use tokio::signal::unix::{SignalKind, signal};

/// Resolves when any of `kinds` arrives; never, if no handler could be installed.
pub async fn first_of<const N: usize>(kinds: [SignalKind; N]) {
    let mut streams: Vec<_> = kinds.into_iter().filter_map(|k| signal(k).ok()).collect();
    if streams.is_empty() {
        return std::future::pending().await;
    }
    let waits = streams.iter_mut().map(|s| Box::pin(s.recv()));
    let _ = select_all(waits).await;
}
