//! Diagnostics on stderr, by -v count. Other crates stay at info so their internals
//! (headers, frames, signing steps) never reach the log.

use tracing::Level;
use tracing_subscriber::filter::filter_fn;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// Starts logging: warnings by default, `-v` info, `-vv` debug, `-vvv` trace, `-q` errors only.
pub fn init(verbose: u8, quiet: bool) {
    let ours = match (quiet, verbose) {
        (true, _) => Level::ERROR,
        (false, 0) => Level::WARN,
        (false, 1) => Level::INFO,
        (false, 2) => Level::DEBUG,
        (false, _) => Level::TRACE,
    };
    // Other crates speak only from -v on, and never above info.
    let theirs = match (quiet, verbose) {
        (true, _) | (false, 0) => Level::ERROR,
        (false, 1) => Level::WARN,
        _ => Level::INFO,
    };
    let filter = filter_fn(move |meta| {
        let limit = if meta.target().starts_with("eic_ssh") {
            ours
        } else {
            theirs
        };
        *meta.level() <= limit
    });
    let fmt = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_target(false)
        .without_time();
    let _ = tracing_subscriber::registry()
        .with(fmt)
        .with(filter)
        .try_init();
}
