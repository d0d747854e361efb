//! The tunnel's failures as the user reads them: one sentence each, and the exit code that
//! says which stage failed (6: the endpoint refused, 7: the tunnel closed, 8: the network).

use std::io;
use std::time::Duration;

use super::connect::ConnectError;
use super::presign::TunnelRequest;
use super::stream::close_error_of;
use crate::error::{Failure, Kind, sentences};

/// The user's sentence for a tunnel that could not be opened.
pub fn connect_failure(e: ConnectError, request: &TunnelRequest) -> Failure {
    match &e {
        ConnectError::Refused { status: 403, .. } => Failure::new(
            Kind::TunnelRefused,
            sentences(
                &e.to_string(),
                &format!(
                    "Check that your credentials are valid and your IAM policy allows ec2-instance-connect:OpenTunnel on {}",
                    request.endpoint_id
                ),
            ),
        ),
        ConnectError::Refused { .. } => Failure::new(Kind::TunnelRefused, e.to_string()),
        ConnectError::ProxySetting(_) => Failure::usage(e.to_string()),
        ConnectError::Family { .. } => Failure::new(Kind::Refused, e.to_string()),
        _ => Failure::new(Kind::Network, e.to_string()),
    }
}

/// The user's sentence for the endpoint's 20-connection quota, once the waits for it
/// (`waited` in all) are over.
pub fn quota_failure(e: &ConnectError, waited: Duration) -> Failure {
    let waited = if waited.is_zero() {
        "eic-ssh did not wait for one to free (--quota-wait 0)".to_string()
    } else {
        format!(
            "eic-ssh waited {} s for one to free (--quota-wait, quota_wait)",
            waited.as_secs_f64().round()
        )
    };
    Failure::new(
        Kind::TunnelRefused,
        sentences(
            &e.to_string(),
            &format!(
                "An endpoint allows 20 concurrent connections; {waited}. Close some, or share connections (`eic-ssh ssh-config` writes ControlMaster)"
            ),
        ),
    )
}

/// The user's sentence for a tunnel that broke after it opened.
pub fn tunnel_failure(e: &io::Error, port: u16) -> Failure {
    match close_error_of(e) {
        Some(close) if close.reason.contains("Unable to connect to target") => Failure::new(
            Kind::TunnelClosed,
            format!(
                "{close}. The instance did not accept the connection on port {port}: check that its security group admits the endpoint (or your public IP, with Preserve Client IP) and that the service is running"
            ),
        ),
        Some(close) => Failure::new(Kind::TunnelClosed, close.to_string()),
        // The stream's own errors already say "the tunnel broke"; say it once.
        None if e.to_string().starts_with("the tunnel broke") => {
            Failure::new(Kind::TunnelClosed, e.to_string())
        }
        None => Failure::new(Kind::TunnelClosed, format!("the tunnel broke: {e}")),
    }
}
