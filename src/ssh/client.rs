//! The russh client over a tunnel: tuned configuration, host-key verification through our
//! policy, and authentication with the ephemeral key.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use russh::client::{self, AuthResult, Handle};
use russh::keys::{PrivateKeyWithHashAlg, PublicKey, PublicKeyOrCertificate};

use super::deadline::Budget;
use super::forward::RemoteForwards;
use super::host_keys::{HostKeyCheck, verify};
use crate::error::{Failure, Kind};
use crate::tunnel::Tunnel;

/// russh's callbacks: host-key verification (the policy decisions live in `host_keys`),
/// agent forwarding and `-R` connections; every other channel the server opens is refused.
pub struct Callbacks {
    /// How to judge the server's host key.
    check: HostKeyCheck,
    /// The local agent socket to forward to, with `-A`.
    agent: Option<PathBuf>,
    /// Why the key was refused, for the user's message.
    refusal: Arc<Mutex<Option<Failure>>>,
    /// Where the `-R` forwards' connections go.
    remote: RemoteForwards,
    /// The handshake's deadline, paused while the host key is judged (a host-key prompt
    /// may take the user as long as it takes).
    budget: Budget,
}

impl client::Handler for Callbacks {
    type Error = russh::Error;

    async fn check_server_key(
        &mut self,
        key: &PublicKeyOrCertificate,
    ) -> Result<bool, Self::Error> {
        let key = match key {
            PublicKeyOrCertificate::PublicKey { key, .. } => key.clone(),
            PublicKeyOrCertificate::Certificate(cert) => {
                PublicKey::new(cert.public_key().clone(), "")
            }
        };
        let check = self.check.clone();
        self.budget.pause();
        let verdict = tokio::task::spawn_blocking(move || verify(&check, &key))
            .await
            .unwrap_or_else(|e| {
                Err(Failure::new(
                    Kind::Ssh,
                    format!("host key check failed: {e}"),
                ))
            });
        self.budget.resume();
        match verdict {
            Ok(()) => Ok(true),
            Err(f) => {
                *self.refusal.lock().unwrap_or_else(|e| e.into_inner()) = Some(f);
                Ok(false)
            }
        }
    }

    async fn server_channel_open_forwarded_tcpip(
        &mut self,
        channel: russh::Channel<client::Msg>,
        _connected_address: &str,
        connected_port: u32,
        originator_address: &str,
        originator_port: u32,
        reply: client::ChannelOpenHandle,
        _session: &mut client::Session,
    ) -> Result<(), Self::Error> {
        // Only for ports we asked for; dropping `reply` refuses the channel.
        let Some((host, port)) = self.remote.destination(connected_port) else {
            return Ok(());
        };
        reply.accept().await;
        // The server names the originator: escaped before it reaches any message.
        let peer = crate::printable::escape(&format!("{originator_address}:{originator_port}"));
        tokio::spawn(super::forward::remote_connection(channel, host, port, peer));
        Ok(())
    }

    async fn server_channel_open_agent_forward(
        &mut self,
        channel: russh::Channel<client::Msg>,
        reply: client::ChannelOpenHandle,
        _session: &mut client::Session,
    ) -> Result<(), Self::Error> {
        // Only with -A; dropping `reply` refuses the channel.
        let Some(socket) = self.agent.clone() else {
            return Ok(());
        };
        reply.accept().await;
        tokio::spawn(async move {
            match crate::local::agent::connect(&socket).await {
                Ok(mut agent) => {
                    let mut stream = channel.into_stream();
                    let _ = tokio::io::copy_bidirectional(&mut stream, &mut agent).await;
                }
                Err(e) => tracing::warn!("cannot reach the agent at {}: {e}", socket.display()),
            }
        });
        Ok(())
    }

    // The channels below are never asked for: a server that opens one anyway is refused
    // (docs/security.md), never left half-open. (Unknown types are refused by russh.)

    async fn server_channel_open_session(
        &mut self,
        _channel: russh::Channel<client::Msg>,
        reply: client::ChannelOpenHandle,
        _session: &mut client::Session,
    ) -> Result<(), Self::Error> {
        refuse(reply, "session").await;
        Ok(())
    }

    async fn server_channel_open_direct_tcpip(
        &mut self,
        _channel: russh::Channel<client::Msg>,
        _host_to_connect: &str,
        _port_to_connect: u32,
        _originator_address: &str,
        _originator_port: u32,
        reply: client::ChannelOpenHandle,
        _session: &mut client::Session,
    ) -> Result<(), Self::Error> {
        refuse(reply, "direct-tcpip").await;
        Ok(())
    }

    async fn server_channel_open_x11(
        &mut self,
        _channel: russh::Channel<client::Msg>,
        _originator_address: &str,
        _originator_port: u32,
        reply: client::ChannelOpenHandle,
        _session: &mut client::Session,
    ) -> Result<(), Self::Error> {
        refuse(reply, "x11").await;
        Ok(())
    }

    async fn server_channel_open_forwarded_streamlocal(
        &mut self,
        _channel: russh::Channel<client::Msg>,
        _socket_path: &str,
        reply: client::ChannelOpenHandle,
        _session: &mut client::Session,
    ) -> Result<(), Self::Error> {
        refuse(reply, "forwarded-streamlocal").await;
        Ok(())
    }

    async fn server_channel_open_direct_streamlocal(
        &mut self,
        _channel: russh::Channel<client::Msg>,
        _socket_path: &str,
        reply: client::ChannelOpenHandle,
        _session: &mut client::Session,
    ) -> Result<(), Self::Error> {
        refuse(reply, "direct-streamlocal").await;
        Ok(())
    }
}

/// Refuses a channel the server opened without being asked.
async fn refuse(reply: client::ChannelOpenHandle, kind: &str) {
    tracing::debug!("refused a {kind} channel the server opened");
    reply
        .reject(russh::ChannelOpenFailure::AdministrativelyProhibited)
        .await;
}

/// How long to wait for the instance, at the handshake and then between keepalives.
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    /// From the tunnel opening until authentication succeeds (a host-key prompt does not
    /// count); again for opening the session channel.
    pub handshake: Duration,
    /// Silence before a keepalive is sent.
    pub alive_interval: Duration,
    /// Unanswered keepalives before the connection is lost.
    pub alive_max: usize,
}

/// russh settings: large windows for bulk data, keepalives for idle sessions.
pub fn config(timing: Timing) -> client::Config {
    client::Config {
        window_size: 8 << 20,
        maximum_packet_size: 32 << 10,
        keepalive_interval: Some(timing.alive_interval),
        keepalive_max: timing.alive_max,
        nodelay: true,
        preferred: russh::Preferred {
            cipher: super::ciphers::preferred(),
            ..Default::default()
        },
        ..Default::default()
    }
}

/// Runs the SSH handshake over the tunnel and checks the host key.
/// With `agent`, the server may open agent channels, which are relayed to that socket.
/// The key exchange must complete within `budget` (which authentication shares): an
/// endpoint that upgrades, then stalls, fails with a line naming how far it got.
pub async fn connect(
    tunnel: Tunnel,
    check: HostKeyCheck,
    agent: Option<PathBuf>,
    remote: RemoteForwards,
    timing: Timing,
    port: u16,
    budget: &Budget,
) -> Result<Handle<Callbacks>, Failure> {
    let refusal = Arc::new(Mutex::new(None));
    let traffic = tunnel.traffic();
    let verifier = Callbacks {
        check,
        agent,
        refusal: refusal.clone(),
        remote,
        budget: budget.clone(),
    };
    let handshake = client::connect_stream(Arc::new(config(timing)), tunnel, verifier);
    let result = tokio::select! {
        r = handshake => r,
        () = budget.expired() => {
            let (_, down) = traffic.totals();
            return Err(handshake_expired(down > 0, budget.total()));
        }
    };
    // The tunnel itself ended (the endpoint closed it, e.g. "Unable to connect to
    // target", or it broke): that is the tunnel's failure, with the tunnel's exit code.
    if let Err(russh::Error::IO(io)) = &result
        && (crate::tunnel::stream::close_error_of(io).is_some()
            || io.to_string().starts_with("the tunnel broke"))
    {
        return Err(crate::tunnel::error::tunnel_failure(io, port));
    }
    result.map_err(|e| {
        refusal
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
            .unwrap_or_else(|| Failure::new(Kind::Ssh, format!("the SSH handshake failed: {e}")))
    })
}

/// The line for a key exchange that did not complete in time: nothing came at all, or the
/// server started and then stalled.
fn handshake_expired(anything_came: bool, total: Duration) -> Failure {
    let secs = total.as_secs();
    let message = if anything_came {
        format!(
            "the SSH key exchange did not complete within {secs} s of the tunnel opening: the instance's SSH server started it, then it or the endpoint stopped answering; retry, or raise --handshake-timeout if the instance is just slow"
        )
    } else {
        format!(
            "the instance's SSH server sent no banner within {secs} s of the tunnel opening (is sshd running and answering on the port?); raise --handshake-timeout if the instance is just slow"
        )
    };
    Failure::new(Kind::Ssh, message)
}

/// Ends the SSH connection and waits (briefly) for russh to shut the tunnel down, so the
/// endpoint gets a WebSocket close frame (code 1000) rather than a dropped connection.
pub async fn close(handle: Handle<Callbacks>) {
    let _ = handle
        .disconnect(russh::Disconnect::ByApplication, "", "en")
        .await;
    if tokio::time::timeout(CLOSE_GRACE, handle).await.is_err() {
        tracing::debug!("the SSH connection did not finish closing within {CLOSE_GRACE:?}");
    }
}

/// Why the connection ended, once it has: the tunnel's own failure (the endpoint's close
/// reason, or the tunnel breaking) when that is what ended it. Waits at most
/// [`CLOSE_GRACE`] for the SSH session to finish.
pub async fn why_it_ended(handle: Handle<Callbacks>, port: u16) -> Option<Failure> {
    match tokio::time::timeout(CLOSE_GRACE, handle).await {
        Ok(Err(russh::Error::IO(io)))
            if crate::tunnel::stream::close_error_of(&io).is_some()
                || io.to_string().starts_with("the tunnel broke") =>
        {
            Some(crate::tunnel::error::tunnel_failure(&io, port))
        }
        Ok(Err(russh::Error::KeepaliveTimeout)) => Some(Failure::new(
            Kind::TunnelClosed,
            "the instance stopped answering keepalives: the tunnel or the network stalled (see --server-alive-interval)",
        )),
        _ => None,
    }
}

/// Resolves when the SSH connection has ended (requests in flight would otherwise wait
/// for their own timeouts after the tunnel breaks). A poll, because russh tells a shared
/// `Handle` only through `is_closed()`: its one notification, awaiting the `Handle`
/// itself, needs it owned (a notification on the callbacks' drop, tried, left sessions
/// whose command had ended waiting).
pub async fn closed(handle: &Handle<Callbacks>) {
    while !handle.is_closed() {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// How long [`close`] waits for the tunnel to close.
const CLOSE_GRACE: Duration = crate::net::timeouts::CLOSE_GRACE;

/// Logs in with the pushed key, within what is left of the handshake's `budget`.
pub async fn authenticate(
    handle: &mut Handle<Callbacks>,
    user: &str,
    key: PrivateKeyWithHashAlg,
    budget: &Budget,
) -> Result<(), Failure> {
    let result = tokio::select! {
        r = handle.authenticate_publickey(user, key) => r,
        () = budget.expired() => {
            return Err(Failure::new(
                Kind::Ssh,
                format!(
                    "authentication did not complete within {} s of the tunnel opening: the instance or the endpoint stopped answering; retry, or raise --handshake-timeout if the instance is just slow",
                    budget.total().as_secs()
                ),
            ));
        }
    };
    let result =
        result.map_err(|e| Failure::new(Kind::Ssh, format!("authentication failed: {e}")))?;
    match result {
        AuthResult::Success => Ok(()),
        AuthResult::Failure { .. } => Err(Failure::new(
            Kind::Ssh,
            format!(
                "the instance refused the pushed key for user {user}: check the user name (ec2-user, ubuntu, admin, …), that the instance runs ec2-instance-connect, and that authentication happened within the key's 60 seconds"
            ),
        )),
    }
}
