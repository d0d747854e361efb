//! `eic-ssh -N`: the forwards alone, kept up across the endpoint's hour, network drops and
//! sshd restarts. The listeners stay bound; when the connection ends, eic-ssh logs in again
//! (egress guard, fresh in-memory key, new tunnel, host key checked again), re-requests the
//! `-R` forwards, and connections accepted meanwhile wait for the new tunnel. Before the
//! endpoint's maximum duration runs out, the next tunnel opens ahead of time and new
//! connections move to it while the old one drains ("make before break").

use std::sync::Arc;
use std::time::Duration;

use russh::client::Handle;
use tokio::sync::watch;

use crate::connect::login::Login;
use crate::error::{Failure, Kind, Outcome};
use crate::local::signals::Stops;
use crate::net::backoff::Backoff;
use crate::ssh::client::{self, Callbacks};
use crate::ssh::forward::{self, Bound, RemoteForward};
use crate::tunnel::lifetime::{Lifetime, seconds};

/// How `-N` reconnects.
#[derive(Debug, Clone, Copy)]
pub struct Reconnect {
    /// Reconnect at all (`--no-reconnect` turns it off).
    pub enabled: bool,
    /// Attempts in a row before giving up.
    pub attempts: u32,
    /// Keep retrying when the egress guard refuses this network.
    pub retry_refused: bool,
}

/// How long before a tunnel's end the next one is opened: a minute, or a quarter of a
/// short duration.
fn lead_time(limit: Duration) -> Duration {
    (limit / 4).min(Duration::from_secs(60))
}

/// Serves the forwards until a stop request (then the connection is closed within the stop
/// bound and it ends as 128 + the signal's number), or until the connection ends and cannot
/// be made again. `again` logs in anew.
#[allow(clippy::too_many_arguments)]
pub async fn run(
    first: Login,
    bound: Vec<Bound>,
    remote: &[RemoteForward],
    strict: bool,
    port: u16,
    policy: Reconnect,
    again: impl AsyncFn() -> Result<Login, Failure>,
    stops: Stops,
) -> Result<Outcome, Failure> {
    let (current, link) = watch::channel(None);
    // Each accepted connection passes the egress guard again (the first login's settings).
    let serving = forward::serve_all(bound, link, first.admit());
    let supervise = async {
        let mut login = first;
        let mut strict = strict;
        loop {
            let handle = Arc::new(login.handle);
            forward::request_remote(&handle, &login.remote_forwards, remote, strict).await?;
            strict = false;
            current.send_replace(Some(handle.clone()));
            // Make before break: shortly before the endpoint's maximum duration, the next
            // tunnel opens and new connections move to it while this one drains. (Not with
            // -R: the instance's ports are still held by this connection until it ends.)
            // Either way the user hears of the end a minute ahead.
            let lifetime = login.lifetime;
            let rolling = policy.enabled && remote.is_empty();
            let rollover = async {
                match lifetime.ends().checked_sub(lead_time(lifetime.limit())) {
                    Some(at) if rolling => tokio::time::sleep_until(at).await,
                    _ => std::future::pending().await,
                }
            };
            let warning = async {
                if rolling {
                    return std::future::pending().await;
                }
                let left = lifetime.warning().await;
                let next = if policy.enabled {
                    "connections through it end then, and eic-ssh reconnects the forwards on a new tunnel (with -R the next one cannot open before this one ends)"
                } else {
                    "the forwards stop then (--no-reconnect): run eic-ssh -N again, or leave out --no-reconnect to have them reconnect by themselves"
                };
                eprintln!(
                    "eic-ssh: the tunnel to {} closes in {left} s ({}); {next}",
                    login.instance_id,
                    lifetime.why()
                );
                std::future::pending::<()>().await
            };
            tokio::select! {
                () = client::closed(&handle) => {}
                () = warning => unreachable!("the warning never finishes"),
                () = rollover => {
                    eprintln!(
                        "eic-ssh: the tunnel to {} closes in {} s ({}): opening the next one now; new connections use it, connections open through this one end with it",
                        login.instance_id,
                        seconds(lead_time(lifetime.limit())),
                        lifetime.why()
                    );
                    match again().await {
                        Ok(next) => {
                            eprintln!("eic-ssh: new connections now use the next tunnel to {}", next.instance_id);
                            login = next;
                            continue;
                        }
                        Err(f) => {
                            eprintln!("eic-ssh: could not open the next tunnel ahead ({f}); reconnecting when this one ends");
                            client::closed(&handle).await;
                        }
                    }
                }
            }
            current.send_replace(None);
            let why = why_it_ended(handle, port, lifetime, &login.instance_id).await;
            if !policy.enabled {
                return Err(why);
            }
            eprintln!(
                "eic-ssh: {}; the forwards stay up, reconnecting",
                why.message.trim_end_matches('.')
            );
            login = reconnect(&again, policy).await?;
        }
    };
    tokio::select! {
        () = serving => unreachable!("forwards serve until stopped"),
        stop = stops => {
            // The forwarded connections end with `serving`; the SSH connection closes.
            let open = current.borrow().clone();
            if let Some(handle) = open {
                let close = async {
                    let _ = handle
                        .disconnect(russh::Disconnect::ByApplication, "", "en")
                        .await;
                    client::closed(&handle).await;
                };
                let _ = tokio::time::timeout(crate::net::timeouts::STOP, close).await;
            }
            Ok(Outcome::Signalled(stop.signal()))
        }
        result = supervise => result,
    }
}

/// Why the connection ended: the tunnel's reason when it has one, else its maximum
/// duration when that ran out (the endpoint closes such a tunnel plainly). The connections
/// that still hold the old handle end with it; waits briefly for them.
async fn why_it_ended(
    mut handle: Arc<Handle<Callbacks>>,
    port: u16,
    lifetime: Lifetime,
    to: &str,
) -> Failure {
    let lost = || {
        if lifetime.reached() {
            Failure::new(Kind::TunnelClosed, lifetime.ran_out(to))
        } else {
            Failure::new(Kind::TunnelClosed, "the connection to the instance ended")
        }
    };
    for _ in 0..20 {
        match Arc::try_unwrap(handle) {
            Ok(owned) => {
                return client::why_it_ended(owned, port).await.unwrap_or_else(lost);
            }
            Err(shared) => handle = shared,
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    lost()
}

/// Logs in again with exponential back-off and jitter, one line per attempt.
async fn reconnect(
    again: &impl AsyncFn() -> Result<Login, Failure>,
    policy: Reconnect,
) -> Result<Login, Failure> {
    let mut backoff = Backoff::reconnecting();
    for attempt in 1..=policy.attempts {
        let delay = backoff.next_wait().unwrap_or(Duration::ZERO);
        eprintln!(
            "eic-ssh: reconnecting in {:.1} s (attempt {attempt} of {})",
            delay.as_secs_f64(),
            policy.attempts
        );
        tokio::time::sleep(delay).await;
        match again().await {
            Ok(login) => {
                eprintln!("eic-ssh: reconnected to {}", login.instance_id);
                return Ok(login);
            }
            Err(f) if f.kind == Kind::Refused && !policy.retry_refused => {
                return Err(Failure::new(
                    Kind::Refused,
                    format!(
                        "{}; the forwards stop (--retry-refused keeps trying)",
                        f.message.trim_end_matches('.')
                    ),
                ));
            }
            Err(f) => eprintln!("eic-ssh: attempt {attempt} failed: {f}"),
        }
    }
    Err(Failure::new(
        Kind::TunnelClosed,
        format!(
            "gave up after {} attempts to reconnect (--reconnect-attempts)",
            policy.attempts
        ),
    ))
}
