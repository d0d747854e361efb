//! From a target's settings to an authenticated SSH connection: the route (guard, resolve,
//! key push, tunnel) with an in-memory key, then the host-key check and authentication.
//! Shared by the session and `cp`.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use russh::client::Handle;

use crate::aws::ec2;
use crate::cli::{ConnectArgs, HostKeyArgs};
use crate::config::file::Loaded;
use crate::error::Failure;
use crate::local::terminal;
use crate::route::{self, Connector, Learned, Settings};
use crate::ssh::client::{self, Callbacks};
use crate::ssh::deadline::Budget;
use crate::ssh::forward::{Admit, RemoteForwards};
use crate::ssh::host_keys::{self, HostKeyCheck, Policy};
use crate::ssh::key::EphemeralKey;
use crate::tunnel::lifetime::Lifetime;

/// An authenticated connection and what it is connected to.
pub struct Login {
    /// The instance logged in to.
    pub instance_id: String,
    /// The instance port the tunnel reaches.
    pub port: u16,
    /// The SSH connection.
    pub handle: Handle<Callbacks>,
    /// The OS user logged in.
    pub user: String,
    /// Where connections of `-R` forwards go (filled by the session).
    pub remote_forwards: RemoteForwards,
    /// What logged in: kept to run the egress guard again for each forwarded connection.
    pub connector: Arc<Connector>,
    /// When the endpoint closes the tunnel under the connection.
    pub lifetime: Lifetime,
}

impl Login {
    /// The egress guard for each connection a `-L`/`-D` forward accepts.
    pub fn admit(&self) -> Admit {
        let connector = self.connector.clone();
        Arc::new(move || {
            let connector = connector.clone();
            Box::pin(async move {
                // One session is one log entry: a forwarded connection's verdict is not kept.
                let mut learned = Learned::default();
                connector.check_guard(&mut learned).await.map(|_| ())
            })
        })
    }
}

/// Logs in with `settings` (the user, instance and port to reach). With `agent`, the
/// server may open agent channels to that socket. `learned` keeps what each step found,
/// for the log, the host key's fingerprint included.
pub async fn login(
    settings: &Settings,
    config: &Loaded,
    connect: &ConnectArgs,
    keys: &HostKeyArgs,
    agent: Option<PathBuf>,
    learned: &mut Learned,
) -> Result<Login, Failure> {
    if connect.push_key.is_some() {
        return Err(Failure::usage(
            "--push-key is for proxy and tunnel; this command pushes its own in-memory key",
        ));
    }
    let key = EphemeralKey::generate()?;
    let line = Some(key.public_line());
    let (connector, tunnel) =
        route::prepare_and_open(settings.clone(), &config.file, line, None, learned).await?;
    // The duration presigned (a bound section may have set it), from the upgrade on.
    let lifetime = Lifetime::from_now(connector.settings().max_tunnel_duration);
    let user = connector.user().unwrap_or_default().to_string();
    let port = settings.port;
    let instance_id = connector.route().instance_id.clone();
    let policy = keys.host_key_check.unwrap_or(if terminal::stdin_is_tty() {
        Policy::Ask
    } else {
        Policy::Strict
    });
    let console = if keys.host_key_from_console {
        let text = ec2::get_console_output(connector.aws(), &instance_id).await?;
        Some(host_keys::from_console(&text))
    } else {
        None
    };
    let seen = Arc::new(Mutex::new(None));
    let check = HostKeyCheck {
        name: host_keys::host_name(
            settings.host_key_alias.as_deref().unwrap_or(&instance_id),
            port,
        ),
        path: known_hosts_path(settings.known_hosts.as_deref()),
        policy,
        console,
        seen: seen.clone(),
    };
    learned.traffic = connector.traffic();
    let timing = timing(keys);
    // One deadline from the tunnel opening until authentication has succeeded: russh's
    // keepalives only count after it.
    let budget = Budget::start(timing.handshake);
    let remote_forwards = RemoteForwards::default();
    let handle = client::connect(
        tunnel,
        check,
        agent,
        remote_forwards.clone(),
        timing,
        port,
        &budget,
    )
    .await;
    learned.host_key = seen.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let mut handle = handle?;
    client::authenticate(&mut handle, &user, key.for_auth(), &budget).await?;
    Ok(Login {
        instance_id,
        port,
        handle,
        user,
        remote_forwards,
        connector: Arc::new(connector),
        lifetime,
    })
}

/// The handshake bound and keepalives from the host-key flags.
pub fn timing(keys: &HostKeyArgs) -> client::Timing {
    client::Timing {
        handshake: Duration::from_secs(keys.handshake_timeout),
        alive_interval: Duration::from_secs(keys.server_alive_interval),
        alive_max: usize::try_from(keys.server_alive_count_max).unwrap_or(3),
    }
}

/// The known_hosts file, with a warning when it lies in a `~/.ssh` others can change (they
/// could then plant the host keys eic-ssh trusts).
fn known_hosts_path(flag: Option<&Path>) -> PathBuf {
    let path = host_keys::file(flag);
    let ssh_dir = crate::local::paths::expand_tilde(Path::new("~/.ssh"));
    // Once a run: a session that reconnects logs in again.
    static WARNED: std::sync::Once = std::sync::Once::new();
    if path.parent() == Some(ssh_dir.as_path()) {
        WARNED.call_once(|| {
            if let Some(warning) = crate::local::files::ssh_dir_warning(&ssh_dir, "known_hosts") {
                eprintln!("eic-ssh: warning: {warning}");
            }
        });
    }
    path
}
