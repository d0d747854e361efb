//! The russh client over a tunnel: tuned configuration, host-key verification through our
//! policy, and authentication with the ephemeral key.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use russh::client::{self, AuthResult, Handle};
use russh::keys::{PrivateKeyWithHashAlg, PublicKey, PublicKeyOrCertificate};

use super::host_keys::{self, Known, Policy};
use crate::error::{Exit, Failure};
use crate::tunnel::Tunnel;

/// How the server's host key is checked.
#[derive(Debug, Clone)]
pub struct HostKeyCheck {
    /// The known_hosts name (`i-…` or `[i-…]:PORT`).
    pub name: String,
    /// The known_hosts file.
    pub path: PathBuf,
    /// What to do with unknown keys.
    pub policy: Policy,
    /// Host keys from the instance's console output (`--host-key-from-console`): an
    /// unknown key is accepted only if it is among them.
    pub console: Option<Vec<PublicKey>>,
}

/// russh's callbacks: host-key verification (the policy decisions live in `host_keys`)
/// and agent forwarding.
pub struct Callbacks {
    /// How to judge the server's host key.
    check: HostKeyCheck,
    /// The local agent socket to forward to, with `-A`.
    agent: Option<PathBuf>,
    /// Why the key was refused, for the user's message.
    refusal: Arc<Mutex<Option<Failure>>>,
    /// Set once the server's host key arrived: the handshake timeout stops there (a
    /// host-key prompt may take the user as long as it takes).
    key_seen: Arc<std::sync::atomic::AtomicBool>,
}

impl client::Handler for Callbacks {
    type Error = russh::Error;

    async fn check_server_key(
        &mut self,
        key: &PublicKeyOrCertificate,
    ) -> Result<bool, Self::Error> {
        self.key_seen
            .store(true, std::sync::atomic::Ordering::SeqCst);
        let key = match key {
            PublicKeyOrCertificate::PublicKey { key, .. } => key.clone(),
            PublicKeyOrCertificate::Certificate(cert) => {
                PublicKey::new(cert.public_key().clone(), "")
            }
        };
        let check = self.check.clone();
        let verdict = tokio::task::spawn_blocking(move || verify(&check, &key))
            .await
            .unwrap_or_else(|e| {
                Err(Failure::new(
                    Exit::Session,
                    format!("host key check failed: {e}"),
                ))
            });
        match verdict {
            Ok(()) => Ok(true),
            Err(f) => {
                *self.refusal.lock().unwrap_or_else(|e| e.into_inner()) = Some(f);
                Ok(false)
            }
        }
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
            match tokio::net::UnixStream::connect(&socket).await {
                Ok(mut agent) => {
                    let mut stream = channel.into_stream();
                    let _ = tokio::io::copy_bidirectional(&mut stream, &mut agent).await;
                }
                Err(e) => tracing::warn!("cannot reach the agent at {}: {e}", socket.display()),
            }
        });
        Ok(())
    }
}

/// Applies the policy to the key the server presented (may prompt on the terminal).
pub fn verify(check: &HostKeyCheck, key: &PublicKey) -> Result<(), Failure> {
    let path = &check.path;
    let name = &check.name;
    let known = host_keys::lookup(path, name, key).map_err(|e| {
        Failure::new(
            Exit::Session,
            format!("cannot read {}: {e}", path.display()),
        )
    })?;
    let fingerprint = host_keys::fingerprint(key);
    match known {
        Known::Match => {
            tracing::debug!(
                "host key {fingerprint} of {name} matches {}",
                path.display()
            );
            Ok(())
        }
        Known::Changed(line) => {
            eprint!("{}", host_keys::changed_warning(name, key, path, line));
            Err(Failure::new(
                Exit::Session,
                format!(
                    "host key verification failed: the {} key of {name} has changed ({}:{line}). If the instance was really rebuilt, remove the old key with: ssh-keygen -R '{name}' -f {}",
                    host_keys::type_label(key),
                    path.display(),
                    path.display()
                ),
            ))
        }
        Known::Revoked(line) => Err(Failure::new(
            Exit::Session,
            format!(
                "host key verification failed: the key of {name} is marked @revoked in {}:{line}",
                path.display()
            ),
        )),
        Known::Unknown if check.console.is_some() => {
            let console = check.console.as_deref().unwrap_or_default();
            if console.is_empty() {
                return Err(Failure::new(
                    Exit::Session,
                    format!(
                        "host key verification failed: the console output of {name} holds no host keys (they are printed at first boot; a new instance may need a minute, and some AMIs do not print them)"
                    ),
                ));
            }
            if !console.iter().any(|k| k.key_data() == key.key_data()) {
                return Err(Failure::new(
                    Exit::Session,
                    format!(
                        "host key verification failed: the {} key {fingerprint} of {name} is not among the {} host keys in its console output; refusing to connect",
                        host_keys::type_label(key),
                        console.len()
                    ),
                ));
            }
            tracing::info!("host key {fingerprint} matches the instance's console output");
            learn(check, key)
        }
        Known::Unknown => match check.policy {
            Policy::Strict => Err(Failure::new(
                Exit::Session,
                format!(
                    "host key verification failed: no key for {name} in {} and --host-key-check is strict ({} key {fingerprint}). Connect once with --host-key-check accept-new, or add the key yourself",
                    path.display(),
                    host_keys::type_label(key)
                ),
            )),
            Policy::AcceptNew => learn(check, key),
            Policy::Ask => {
                if ask(name, key)? {
                    learn(check, key)
                } else {
                    Err(Failure::new(
                        Exit::Session,
                        format!("host key verification failed: {name} was not accepted"),
                    ))
                }
            }
        },
    }
}

fn learn(check: &HostKeyCheck, key: &PublicKey) -> Result<(), Failure> {
    host_keys::learn(&check.path, &check.name, key).map_err(|e| {
        Failure::new(
            Exit::Session,
            format!(
                "cannot record the host key in {}: {e}",
                check.path.display()
            ),
        )
    })?;
    eprintln!(
        "Warning: Permanently added '{}' ({}) to the list of known hosts.",
        check.name,
        host_keys::type_label(key)
    );
    Ok(())
}

/// OpenSSH's question, on the controlling terminal.
fn ask(name: &str, key: &PublicKey) -> Result<bool, Failure> {
    use std::io::{BufRead, Write};
    let refuse = |why: String| {
        Failure::new(
            Exit::Session,
            format!("host key verification failed: {why}"),
        )
    };
    let tty = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/tty")
        .map_err(|_| refuse(format!("{name} is unknown and there is no terminal to ask on; use --host-key-check accept-new")))?;
    let mut out = &tty;
    let _ = write!(
        out,
        "The authenticity of host '{name}' can't be established.\r\n{} key fingerprint is {}.\r\nAre you sure you want to continue connecting (yes/no)? ",
        host_keys::type_label(key),
        host_keys::fingerprint(key)
    );
    let mut answer = String::new();
    std::io::BufReader::new(&tty)
        .read_line(&mut answer)
        .map_err(|e| refuse(e.to_string()))?;
    Ok(answer.trim().eq_ignore_ascii_case("yes"))
}

/// russh settings: large windows for bulk data, keepalives for idle sessions.
/// How long to wait for the instance, at the handshake and then between keepalives.
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    /// Until the host key arrives (a host-key prompt does not count).
    pub handshake: Duration,
    /// Silence before a keepalive is sent.
    pub alive_interval: Duration,
    /// Unanswered keepalives before the connection is lost.
    pub alive_max: usize,
}

pub fn config(timing: Timing) -> client::Config {
    client::Config {
        window_size: 8 << 20,
        maximum_packet_size: 32 << 10,
        keepalive_interval: Some(timing.alive_interval),
        keepalive_max: timing.alive_max,
        nodelay: true,
        ..Default::default()
    }
}

/// Runs the SSH handshake over the tunnel and checks the host key.
/// With `agent`, the server may open agent channels, which are relayed to that socket.
/// An endpoint that upgrades but never sends a banner fails after `timeout`.
pub async fn connect(
    tunnel: Tunnel,
    check: HostKeyCheck,
    agent: Option<PathBuf>,
    timing: Timing,
    port: u16,
) -> Result<Handle<Callbacks>, Failure> {
    let timeout = timing.handshake;
    let refusal = Arc::new(Mutex::new(None));
    let key_seen = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let verifier = Callbacks {
        check,
        agent,
        refusal: refusal.clone(),
        key_seen: key_seen.clone(),
    };
    let deadline = async {
        tokio::time::sleep(timeout).await;
        if key_seen.load(std::sync::atomic::Ordering::SeqCst) {
            std::future::pending::<()>().await;
        }
    };
    let handshake = client::connect_stream(Arc::new(config(timing)), tunnel, verifier);
    let result = tokio::select! {
        r = handshake => r,
        () = deadline => {
            return Err(Failure::new(
                Exit::Session,
                format!(
                    "the instance's SSH server sent no host key within {} s of the tunnel opening (is sshd running and answering on the port?); raise --handshake-timeout if the instance is just slow",
                    timeout.as_secs()
                ),
            ));
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
            .unwrap_or_else(|| {
                Failure::new(Exit::Session, format!("the SSH handshake failed: {e}"))
            })
    })
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
            Exit::TunnelClosed,
            "the instance stopped answering keepalives: the tunnel or the network stalled (see --server-alive-interval)",
        )),
        _ => None,
    }
}

/// How long [`close`] waits for the tunnel to close.
const CLOSE_GRACE: Duration = Duration::from_secs(2);

/// Logs in with the pushed key.
pub async fn authenticate(
    handle: &mut Handle<Callbacks>,
    user: &str,
    key: PrivateKeyWithHashAlg,
) -> Result<(), Failure> {
    let result = handle
        .authenticate_publickey(user, key)
        .await
        .map_err(|e| Failure::new(Exit::Session, format!("authentication failed: {e}")))?;
    match result {
        AuthResult::Success => Ok(()),
        AuthResult::Failure { .. } => Err(Failure::new(
            Exit::Session,
            format!(
                "the instance refused the pushed key for user {user}: check the user name (ec2-user, ubuntu, admin, …), that the instance runs ec2-instance-connect, and that authentication happened within the key's 60 seconds"
            ),
        )),
    }
}
