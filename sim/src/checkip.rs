//! A stand-in for https://checkip.amazonaws.com: answers the client's public IP, as the
//! simulated internet sees it, plus variants that misbehave on purpose.
//!
//! - `/checkip`: `client_public_ip` of the world (`client_public_ipv6` for a client over
//!   IPv6, when set), else the TCP peer's address;
//! - `/checkip/as/IP`: that IP (a second source that may disagree);
//! - `/checkip/garbage`: an HTML error page instead of an address;
//! - `/checkip/slow`: the answer after 30 s (a timeout for any sane client).

use std::net::SocketAddr;
use std::time::Duration;

use hyper::StatusCode;
use serde_json::json;

use crate::State;
use crate::reply::{Reply, text};

/// Answers one checkip request.
pub async fn handle(path: &str, state: &State, peer: SocketAddr) -> Reply {
    let public = state.world.read().unwrap().public_ip_for(peer.ip());
    state
        .events
        .record("checkip", json!({"path": path, "peer": peer.to_string()}));
    match path.strip_prefix("/checkip").unwrap_or_default() {
        "" | "/" => text(StatusCode::OK, &format!("{public}\n")),
        "/garbage" => text(
            StatusCode::OK,
            "<html><body>Service Unavailable</body></html>\n",
        ),
        "/slow" => {
            tokio::time::sleep(Duration::from_secs(30)).await;
            text(StatusCode::OK, &format!("{public}\n"))
        }
        other => match other.strip_prefix("/as/") {
            Some(ip) => text(StatusCode::OK, &format!("{ip}\n")),
            None => text(StatusCode::NOT_FOUND, "not found\n"),
        },
    }
}
