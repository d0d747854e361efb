//! The one HTTP client for API calls and egress checks, on the shared rustls configuration.

use std::sync::Arc;
use std::time::Duration;

use crate::error::{Exit, Failure};

/// Builds the client: proxies from the environment, our TLS roots, sane timeouts, no
/// redirects.
pub fn client(tls: &Arc<rustls::ClientConfig>) -> Result<reqwest::Client, Failure> {
    reqwest::Client::builder()
        .use_preconfigured_tls(rustls::ClientConfig::clone(tls))
        .connect_timeout(Duration::from_secs(10))
        .timeout(Duration::from_secs(30))
        .tcp_nodelay(true)
        // An egress check answered with a redirect (to http://, or to another host) is a
        // failure, not a second source; the AWS APIs never redirect.
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("eic-ssh/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| Failure::new(Exit::Other, format!("cannot set up the HTTP client: {e}")))
}
