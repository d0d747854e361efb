//! Tunnels along a resolved route: the key pushed before each one (SendSSHPublicKey), a
//! freshly presigned URL, the WebSocket opened; and the guard asked again on demand.

use std::convert::Infallible;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use super::cache::{RouteCache, Use};
use super::recheck::{self, Unconfirmed};
use super::resolve::{check_on, settle};
use super::slots::{QUOTA, Slots};
use super::{Destination, Learned, Settings, resolve};
use crate::aws::AwsContext;
use crate::aws::discovery::Route;
use crate::aws::instance_connect::{KeyPush, send_ssh_public_key};
use crate::config::ConfigFile;
use crate::error::{Failure, Kind};
use crate::guard::Verdict;
use crate::net::backoff::Backoff;
use crate::ssh::key::read_public_key;
use crate::tunnel::connect::{self, ConnectError};
use crate::tunnel::endpoint::check_port;
use crate::tunnel::error::{connect_failure, quota_failure};
use crate::tunnel::presign::presign;
use crate::tunnel::stream::Traffic;
use crate::tunnel::{Tunnel, TunnelEndpoint, TunnelRequest};
use tokio::io::AsyncWriteExt;

/// Closes a tunnel nothing was sent on, with a WebSocket close (bounded: it is given up).
async fn close_unused(mut tunnel: Tunnel) {
    if tokio::time::timeout(CLOSE_GRACE, tunnel.shutdown())
        .await
        .is_err()
    {
        tracing::debug!("the unused tunnel did not close within {CLOSE_GRACE:?}; dropped");
    }
}

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
    /// The endpoint's slots, one held per open tunnel (`None`: they cannot be kept here).
    slots: Option<Slots>,
    /// How many slots this user may hold on the endpoint before a tunnel waits.
    slot_limit: usize,
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
    // Neither use reads the cache, so no route comes back unconfirmed.
    let (connector, _) = prepare_with(settings, file, key_line, push_key, use_, learned).await?;
    Ok(connector)
}

/// [`prepare`], then the first tunnel, with the route from the cache when it has a fresh
/// one. A cached route carries nothing until a fresh lookup, made while the tunnel opens,
/// agrees with it; when it does not, the tunnel is closed, the entry forgotten and the
/// target resolved afresh, the guard deciding again on what the API says now.
pub async fn prepare_and_open(
    settings: Settings,
    file: &ConfigFile,
    key_line: Option<String>,
    push_key: Option<&std::path::Path>,
    learned: &mut Learned,
) -> Result<(Connector, Tunnel), Failure> {
    let mut use_ = if settings.cache {
        Use::ReadWrite
    } else {
        Use::Off
    };
    // Twice at most: a fresh resolution is never from the cache, so never stale.
    loop {
        let first = open_first(
            settings.clone(),
            file,
            key_line.clone(),
            push_key,
            use_,
            learned,
        )
        .await?;
        match first {
            Ok(opened) => return Ok(opened),
            Err(Stale { route, why }) => {
                tracing::info!(
                    "the cached route to {} is stale ({why}); resolving again",
                    crate::printable::escape(&route.query.instance.to_string())
                );
                RouteCache::new(Use::ReadWrite).forget(&route.key);
                use_ = Use::Refresh;
            }
        }
    }
}

/// The cached route no longer holds: nothing was pushed, its tunnel is closed.
struct Stale {
    /// The route as cached.
    route: Unconfirmed,
    /// What the fresh lookup found instead, in words.
    why: String,
}

async fn open_first(
    settings: Settings,
    file: &ConfigFile,
    key_line: Option<String>,
    push_key: Option<&std::path::Path>,
    use_: Use,
    learned: &mut Learned,
) -> Result<Result<(Connector, Tunnel), Stale>, Failure> {
    let (connector, unconfirmed) =
        prepare_with(settings, file, key_line, push_key, use_, learned).await?;
    let Some(route) = unconfirmed else {
        let tunnel = connector.open().await?;
        return Ok(Ok((connector, tunnel)));
    };
    let confirm = recheck::confirm(connector.aws(), &route.query, &connector.destination.found);
    match connector.open_after(Some(confirm)).await? {
        Ok(tunnel) => Ok(Ok((connector, tunnel))),
        Err(why) => Ok(Err(Stale { route, why })),
    }
}

/// Resolves `settings` and readies a connector; a route from the cache comes back
/// unconfirmed, for the first tunnel to confirm.
async fn prepare_with(
    settings: Settings,
    file: &ConfigFile,
    key_line: Option<String>,
    push_key: Option<&std::path::Path>,
    use_: Use,
    learned: &mut Learned,
) -> Result<(Connector, Option<Unconfirmed>), Failure> {
    check_port(settings.port)?;
    let key = key_to_push(key_line, push_key, settings.user.as_deref())?;
    let mut destination = resolve(settings, file, use_, key.is_some(), learned).await?;
    let unconfirmed = destination.unconfirmed.take();
    Ok((Connector::new(destination, key), unconfirmed))
}

/// One try at a tunnel.
enum Try<E> {
    /// Open, the key (if any) pushed.
    Open(Box<Tunnel>),
    /// The endpoint's 20 connections are in use (HTTP 429).
    Full(ConnectError),
    /// The confirmation said no: nothing was pushed, and a tunnel that opened is closed.
    Refused(E),
}

/// How long closing a tunnel that will not be used may take.
const CLOSE_GRACE: Duration = crate::net::timeouts::CLOSE_GRACE;

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
            slots: Slots::of(&request.endpoint_id),
            destination,
            request,
            key,
            traffic: Mutex::new(Vec::new()),
            quota_said: AtomicBool::new(false),
            slot_limit: QUOTA,
        }
    }

    /// Opens a tunnel only while this user holds fewer than `limit` on the endpoint (`run
    /// --per-endpoint`; the quota, 20, otherwise).
    pub fn with_slot_limit(mut self, limit: usize) -> Connector {
        self.slot_limit = limit;
        self
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
        let verdict = check_on(&d.settings, &d.tls, &d.path, learned).await?;
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
        let none = None::<std::future::Ready<Result<(), Infallible>>>;
        match self.open_after(none).await? {
            Ok(tunnel) => Ok(tunnel),
            Err(never) => match never {},
        }
    }

    /// [`open`](Self::open), but with `confirm` running beside the first try's tunnel
    /// opening: the key is pushed, and the tunnel handed out, only once it agrees. When it
    /// says no, its reason comes back, nothing was pushed, and the tunnel is closed.
    async fn open_after<E>(
        &self,
        confirm: Option<impl Future<Output = Result<(), E>>>,
    ) -> Result<Result<Tunnel, E>, Failure> {
        let d = &self.destination;
        // This user's tunnels on the endpoint stay within the quota, whatever process holds them.
        let mut slot = match &self.slots {
            Some(slots) => slots.take(self.slot_limit, d.settings.quota_wait).await?,
            None => None,
        };
        let mut backoff = Backoff::new(d.settings.quota_wait);
        let mut confirm = confirm;
        loop {
            // Pushed again before each try: a wait for the quota must not outlive the key.
            match self.try_after(confirm.take()).await? {
                Try::Open(tunnel) => {
                    let mut tunnel = *tunnel;
                    if let Some(slot) = slot.take() {
                        tunnel.hold(slot);
                    }
                    // What was opened ahead and not used by now never will be.
                    d.ahead.close_unused();
                    self.traffic
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .push(tunnel.traffic());
                    return Ok(Ok(tunnel));
                }
                Try::Refused(why) => return Ok(Err(why)),
                // The endpoint's 20 connections are in use: one usually frees soon.
                Try::Full(full) => {
                    let Some(wait) = backoff.next_wait() else {
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

    /// One try: the tunnel's TCP, TLS and WebSocket round trips overlap the confirmation
    /// (if any), then the key push; SSH starts only once all are done, so the key is there
    /// before authentication and nothing passes along a route that was not confirmed.
    async fn try_after<E>(
        &self,
        confirm: Option<impl Future<Output = Result<(), E>>>,
    ) -> Result<Try<E>, Failure> {
        let opening = self.try_open();
        tokio::pin!(opening);
        let mut opened = None;
        if let Some(confirm) = confirm {
            tokio::pin!(confirm);
            // A tunnel that fails meanwhile waits for the answer: a stale route explains it.
            let answer = loop {
                tokio::select! {
                    answer = &mut confirm => break answer,
                    tried = &mut opening, if opened.is_none() => opened = Some(tried),
                }
            };
            if let Err(why) = answer {
                if let Some(Ok(Ok(tunnel))) = opened {
                    close_unused(tunnel).await;
                }
                return Ok(Try::Refused(why));
            }
        }
        let tried = match opened {
            Some(tried) => {
                let tried = tried?;
                self.push_key().await?;
                tried
            }
            None => tokio::try_join!(self.push_key(), &mut opening)?.1,
        };
        Ok(match tried {
            Ok(tunnel) => Try::Open(Box::new(tunnel)),
            Err(full) => Try::Full(full),
        })
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
        let proxy =
            connect::proxy_for(&d.endpoint).map_err(|e| connect_failure(e, &self.request))?;
        let ahead = d
            .ahead
            .take(&connect::dest(&d.endpoint), proxy.as_ref())
            .await
            .filter(|t| connect::fits(t, &d.endpoint, d.family));
        match connect::open_over(
            &d.endpoint,
            &url,
            &d.tls,
            ahead,
            d.family,
            d.settings.connect_timeout,
        )
        .await
        {
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
