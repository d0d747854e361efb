//! Tunnels along a resolved route: the key pushed before each one (SendSSHPublicKey), a
//! freshly presigned URL, the WebSocket opened; and the guard asked again on demand.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use super::cache::Use;
use super::quota::Backoff;
use super::resolve::{gate, settle};
use super::{Destination, Learned, Settings, resolve};
use crate::aws::AwsContext;
use crate::aws::discovery::Route;
use crate::aws::instance_connect::{KeyPush, send_ssh_public_key};
use crate::config::ConfigFile;
use crate::error::{Failure, Kind};
use crate::guard::{self, Verdict};
use crate::ssh::key::read_public_key;
use crate::tunnel::connect::{self, ConnectError};
use crate::tunnel::endpoint::check_port;
use crate::tunnel::error::{connect_failure, quota_failure, tunnel_failure};
use crate::tunnel::presign::presign;
use crate::tunnel::stream::Traffic;
use crate::tunnel::{Tunnel, TunnelEndpoint, TunnelRequest};

/// A public key to push before each tunnel.
#[derive(Debug, Clone)]
pub struct PublicKey {
    /// OS user on the instance.
    pub user: String,
    /// One-line OpenSSH public key.
    pub line: String,
}

/// Opens tunnels to one instance port. Cheap to share; every `open` presigns anew.
pub struct Connector {
    /// Where the tunnels go, and what was decided to get there.
    destination: Destination,
    /// The `openTunnel` query, presigned anew for each tunnel.
    request: TunnelRequest,
    /// The key pushed before each tunnel, if any.
    key: Option<PublicKey>,
    /// The byte counters of the tunnels opened so far.
    traffic: Mutex<Vec<Arc<Traffic>>>,
    /// Whether the 20-connection quota was reported already (once per run, however many
    /// tunnels wait for it).
    quota_said: AtomicBool,
}

/// Guard and route for `settings`, ready to open tunnels to its port (checked).
/// `key_line` (an in-memory key's public half) is pushed before each tunnel, else
/// `push_key`'s file, if any. The route is resolved afresh and remembered in the route
/// cache (unless caching is off): a listener's later tunnels should not rest on a route
/// another process cached. `learned` keeps what each step found, for the log.
pub async fn prepare(
    settings: Settings,
    file: &ConfigFile,
    key_line: Option<String>,
    push_key: Option<&std::path::Path>,
    learned: &mut Learned,
) -> Result<Connector, Failure> {
    let use_ = if settings.cache {
        Use::Refresh
    } else {
        Use::Off
    };
    prepare_with(settings, file, key_line, push_key, use_, learned).await
}

/// [`prepare`], then the first tunnel, with the route from the cache when it has a fresh
/// one. A cached route that fails the way a wrong route would (not found, refused, the
/// tunnel or network failing) is resolved afresh, once: the cache is a hint, never the
/// reason a connect fails.
pub async fn prepare_and_open(
    settings: Settings,
    file: &ConfigFile,
    key_line: Option<String>,
    push_key: Option<&std::path::Path>,
    learned: &mut Learned,
) -> Result<(Connector, Tunnel), Failure> {
    let use_ = if settings.cache {
        Use::ReadWrite
    } else {
        Use::Off
    };
    let first = open_first(
        settings.clone(),
        file,
        key_line.clone(),
        push_key,
        use_,
        learned,
    )
    .await;
    match first {
        Err(e) if learned.route_cached && may_be_stale(&e) => {
            tracing::info!("the cached route failed ({e}); asking the API again");
            learned.route_cached = false;
            open_first(settings, file, key_line, push_key, Use::Refresh, learned).await
        }
        other => other,
    }
}

/// The failures a stale route could explain.
fn may_be_stale(e: &Failure) -> bool {
    matches!(
        e.kind,
        Kind::NotFound | Kind::TunnelRefused | Kind::TunnelClosed | Kind::Network
    )
}

async fn open_first(
    settings: Settings,
    file: &ConfigFile,
    key_line: Option<String>,
    push_key: Option<&std::path::Path>,
    use_: Use,
    learned: &mut Learned,
) -> Result<(Connector, Tunnel), Failure> {
    let port = settings.port;
    let connector = prepare_with(settings, file, key_line, push_key, use_, learned).await?;
    let mut tunnel = match connector.open().await {
        Ok(tunnel) => tunnel,
        Err(e) => {
            // An endpoint that answered "all 20 connections in use" is where the route says.
            if connector.quota_said.load(Ordering::Relaxed) {
                learned.route_cached = false;
            }
            return Err(e);
        }
    };
    // The endpoint accepts a tunnel to an address that leads nowhere and then closes it:
    // on a cached route, the server's first bytes are what proves the route (an SSH
    // server speaks first). Waiting costs nothing: the client's first line is held only
    // until the server's arrives, and the client needs that line before going on.
    if learned.route_cached {
        match tokio::time::timeout(FIRST_BYTES, tunnel.wait_for_data()).await {
            Ok(Err(e)) => return Err(tunnel_failure(&e, port)),
            Ok(Ok(_)) => {}
            // A server that waits for the client (not SSH): the route stands.
            Err(_) => tracing::debug!("nothing from the instance yet; relaying"),
        }
    }
    Ok((connector, tunnel))
}

/// How long a tunnel on a cached route may stay silent before it is used as it is.
const FIRST_BYTES: Duration = Duration::from_secs(10);

async fn prepare_with(
    settings: Settings,
    file: &ConfigFile,
    key_line: Option<String>,
    push_key: Option<&std::path::Path>,
    use_: Use,
    learned: &mut Learned,
) -> Result<Connector, Failure> {
    check_port(settings.port)?;
    let key = key_to_push(key_line, push_key, settings.user.as_deref())?;
    let destination = resolve(settings, file, use_, key.is_some(), learned).await?;
    Ok(Connector::new(destination, key))
}

impl Connector {
    /// Tunnels to `destination`, pushing `key` before each.
    pub fn new(destination: Destination, key: Option<PublicKey>) -> Connector {
        let route = &destination.found.route;
        let request = TunnelRequest {
            endpoint_id: route.endpoint_id.clone(),
            private_ip: route.private_ip.clone(),
            remote_port: destination.settings.port,
            max_tunnel_duration: destination.settings.max_tunnel_duration,
        };
        tracing::info!(
            "{} ({}) port {} via {} at {}",
            route.instance_id,
            route.private_ip,
            request.remote_port,
            route.endpoint_id,
            destination.endpoint
        );
        Connector {
            destination,
            request,
            key,
            traffic: Mutex::new(Vec::new()),
            quota_said: AtomicBool::new(false),
        }
    }

    /// Where the tunnels go.
    pub fn route(&self) -> &Route {
        &self.destination.found.route
    }

    /// The `wss://` base the tunnels open at.
    pub fn endpoint(&self) -> &TunnelEndpoint {
        &self.destination.endpoint
    }

    /// The settings the route was resolved with (every section naming the instance bound).
    pub fn settings(&self) -> &Settings {
        &self.destination.settings
    }

    /// Runs the egress guard again (the cached IP may answer): a long-lived listener must
    /// not keep tunnelling after the network changed. `learned` keeps the verdict.
    pub async fn check_guard(&self, learned: &mut Learned) -> Result<Verdict, Failure> {
        let d = &self.destination;
        let verdict = gate(guard::check(&d.settings, &d.tls, d.path).await, learned)?;
        settle(verdict, &d.settings, &d.aws, &d.found, learned).await
    }

    /// The AWS context, for further calls about the same target.
    pub fn aws(&self) -> &AwsContext {
        &self.destination.aws
    }

    /// The OS user keys are pushed for, if any.
    pub fn user(&self) -> Option<&str> {
        self.key.as_ref().map(|k| k.user.as_str())
    }

    /// The byte counters of every tunnel opened so far.
    pub fn traffic(&self) -> Vec<Arc<Traffic>> {
        self.traffic
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Pushes the key (if any) while a freshly presigned tunnel opens; both must succeed.
    /// While the endpoint's 20 connections are in use (HTTP 429), tries again with
    /// jittered exponential backoff within the settings' `quota_wait`, and says so once.
    pub async fn open(&self) -> Result<Tunnel, Failure> {
        let d = &self.destination;
        let mut backoff = Backoff::new(d.settings.quota_wait);
        loop {
            // Pushed again before each try: a wait for the quota must not outlive the key.
            // The push and the tunnel's TCP, TLS and WebSocket round trips overlap; SSH
            // starts only once both are done, so the key is there before authentication.
            let (_, tried) = tokio::try_join!(self.push_key(), self.try_open())?;
            match tried {
                Ok(tunnel) => {
                    // What was opened ahead and not used by now never will be.
                    d.ahead.close_unused();
                    self.traffic
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .push(tunnel.traffic());
                    return Ok(tunnel);
                }
                // The endpoint's 20 connections are in use: one usually frees soon.
                Err(full) => {
                    let Some(wait) = backoff.next(rand::random::<f64>()) else {
                        return Err(quota_failure(&full, backoff.waited()));
                    };
                    if !self.quota_said.swap(true, Ordering::Relaxed) {
                        tracing::warn!(
                            "{} has reached the endpoint's limit of 20 concurrent connections; trying again for up to {} s",
                            self.request.endpoint_id,
                            d.settings.quota_wait.as_secs()
                        );
                    }
                    tracing::debug!("quota: trying again in {:.1} s", wait.as_secs_f64());
                    tokio::time::sleep(wait).await;
                }
            }
        }
    }

    /// One tunnel, presigned now; the inner error is the endpoint's 429 (its connections
    /// are all in use), which is worth waiting for.
    async fn try_open(&self) -> Result<Result<Tunnel, ConnectError>, Failure> {
        let d = &self.destination;
        let credentials = d.aws.credentials().await?;
        let url = presign(
            &d.endpoint,
            &self.request,
            &credentials,
            &d.aws.region,
            SystemTime::now(),
        )
        .map_err(|e| Failure::new(Kind::Other, e.to_string()))?;
        // The first tunnel along a cached route may find its connection opened already.
        // Opened before the guard judged a family: used only when it went over that one.
        let ahead = d
            .ahead
            .take(&d.endpoint)
            .await
            .filter(|t| connect::fits(t, &d.endpoint, d.family));
        match connect::open_over(&d.endpoint, &url, &d.tls, ahead, d.family).await {
            Ok(tunnel) => Ok(Ok(tunnel)),
            Err(full @ ConnectError::Refused { status: 429, .. }) => Ok(Err(full)),
            Err(e) => Err(connect_failure(e, &self.request)),
        }
    }

    /// Pushes the key, if there is one to push.
    async fn push_key(&self) -> Result<(), Failure> {
        let d = &self.destination;
        if let Some(key) = &self.key {
            let push = KeyPush {
                instance_id: &d.found.route.instance_id,
                os_user: &key.user,
                public_key: &key.line,
                availability_zone: d.found.route.availability_zone.as_deref(),
            };
            send_ssh_public_key(&d.aws, &push).await?;
            tracing::info!("pushed public key for {} (valid 60 s)", key.user);
        }
        Ok(())
    }
}

/// The key pushed before each tunnel: the in-memory key's public half, or `--push-key`'s
/// file; either needs a user.
fn key_to_push(
    key_line: Option<String>,
    push_key: Option<&std::path::Path>,
    user: Option<&str>,
) -> Result<Option<PublicKey>, Failure> {
    let line = match (key_line, push_key, user) {
        (None, None, _) => return Ok(None),
        (Some(_), _, None) => {
            return Err(Failure::usage(
                "no user for the instance: write user@TARGET, pass -l USER, or set `user` in the config file",
            ));
        }
        (None, Some(_), None) => {
            return Err(Failure::usage(
                "--push-key needs --user (the OS user on the instance, `%r` in ssh_config) or `user` in the config file",
            ));
        }
        (Some(line), _, Some(_)) => line,
        (None, Some(path), Some(_)) => read_public_key(path)?,
    };
    Ok(Some(PublicKey {
        user: user.unwrap_or_default().to_string(),
        line,
    }))
}
