//! The endpoint's limit on a tunnel's life (`maxTunnelDuration`: 3600 s unless a shorter
//! one is asked): when a tunnel opened now ends, when its front end warns, and whether a
//! tunnel that ended ran out of time.

use std::time::Duration;

use tokio::time::Instant;

/// How long the endpoint keeps a tunnel open when no duration is asked, and the most one
/// may ask (docs/protocol.md, "Service limits").
pub const ENDPOINT_LIMIT: u32 = 3600;

/// How long before a tunnel's end its front end warns.
pub const WARNING_LEAD: Duration = Duration::from_secs(60);

/// Seconds before a tunnel's end the warning comes instead of [`WARNING_LEAD`]; 0 turns
/// it off. Meant for tests, which cannot wait a minute.
pub const WARNING_VARIABLE: &str = "EIC_SSH_LIMIT_WARNING_SECS";

/// How far our clock may run behind the endpoint's: it starts the tunnel's time at the
/// upgrade, we a moment later.
const SLACK: Duration = Duration::from_secs(2);

/// One tunnel's time: when it opened and how long the endpoint keeps it.
#[derive(Debug, Clone, Copy)]
pub struct Lifetime {
    /// When the tunnel opened (as seen here, just after the upgrade).
    opened: Instant,
    /// How many seconds the endpoint keeps it open.
    seconds: u32,
    /// Whether those seconds were asked for (`--max-tunnel-duration`, `max_tunnel_duration`)
    /// rather than the endpoint's own limit.
    asked: bool,
}

impl Lifetime {
    /// A tunnel opened just now with `asked` seconds (`None`: the endpoint's limit).
    pub fn from_now(asked: Option<u32>) -> Lifetime {
        Lifetime {
            opened: Instant::now(),
            seconds: asked.unwrap_or(ENDPOINT_LIMIT),
            asked: asked.is_some(),
        }
    }

    /// How long the endpoint keeps the tunnel open.
    pub fn limit(&self) -> Duration {
        Duration::from_secs(u64::from(self.seconds))
    }

    /// When the endpoint closes the tunnel.
    pub fn ends(&self) -> Instant {
        self.opened + self.limit()
    }

    /// Whether the tunnel has run out of time (it may have ended for that reason).
    pub fn reached(&self) -> bool {
        Instant::now() + SLACK >= self.ends()
    }

    /// Resolves when the warning is due, with the whole seconds from then to the end; never
    /// when the warning is off ([`WARNING_VARIABLE`] 0). A tunnel shorter than the lead is
    /// warned about at once.
    pub async fn warning(&self) -> u64 {
        let Some(lead) = lead(std::env::var(WARNING_VARIABLE).ok().as_deref()) else {
            return std::future::pending().await;
        };
        let due = self.warning_due(lead);
        tokio::time::sleep_until(due).await;
        seconds(self.ends() - due)
    }

    /// When the warning with `lead` comes: that long before the end, or at once.
    fn warning_due(&self, lead: Duration) -> Instant {
        self.ends()
            .checked_sub(lead)
            .map_or(self.opened, |at| at.max(self.opened))
    }

    /// Why the tunnel ends, for messages: "the endpoint's limit of 3600 s per tunnel" or
    /// "--max-tunnel-duration 300 s".
    pub fn why(&self) -> String {
        if self.asked {
            format!("--max-tunnel-duration {} s", self.seconds)
        } else {
            format!("the endpoint's limit of {} s per tunnel", self.seconds)
        }
    }

    /// The sentence for a tunnel the endpoint closed because its time ran out.
    pub fn ran_out(&self, to: &str) -> String {
        format!(
            "the endpoint closed the tunnel to {to} at its maximum duration ({})",
            self.why()
        )
    }
}

/// A duration in whole seconds, rounded, for messages.
pub fn seconds(d: Duration) -> u64 {
    d.as_secs_f64().round() as u64
}

/// The warning's lead from [`WARNING_VARIABLE`]'s value: unset or unreadable, a minute;
/// `0`, no warning.
fn lead(value: Option<&str>) -> Option<Duration> {
    match value.map(|v| v.trim().parse::<u64>()) {
        Some(Ok(0)) => None,
        Some(Ok(secs)) => Some(Duration::from_secs(secs.min(u64::from(ENDPOINT_LIMIT)))),
        _ => Some(WARNING_LEAD),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lead_is_a_minute_unless_the_variable_says_otherwise() {
        assert_eq!(lead(None), Some(WARNING_LEAD));
        assert_eq!(lead(Some("soon")), Some(WARNING_LEAD));
        assert_eq!(lead(Some("5")), Some(Duration::from_secs(5)));
        assert_eq!(lead(Some("0")), None);
        assert_eq!(lead(Some("99999")), Some(Duration::from_secs(3600)));
    }

    #[test]
    fn without_a_duration_the_endpoint_keeps_a_tunnel_an_hour() {
        let own = Lifetime::from_now(None);
        assert_eq!(own.limit(), Duration::from_secs(3600));
        assert!(own.why().contains("endpoint's limit of 3600 s"));
        assert!(!own.reached());
        let asked = Lifetime::from_now(Some(1));
        assert!(asked.why().contains("--max-tunnel-duration 1 s"));
        assert!(asked.reached(), "within the slack of its end");
    }

    #[test]
    fn the_warning_comes_a_minute_before_the_end_or_at_once() {
        let life = Lifetime::from_now(Some(600));
        assert_eq!(life.ends() - life.warning_due(WARNING_LEAD), WARNING_LEAD);
        let short = Lifetime::from_now(Some(30));
        assert_eq!(short.warning_due(WARNING_LEAD), short.opened);
    }
}
