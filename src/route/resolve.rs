//! From the settings for a target to its destination: the egress guard first (before any
//! AWS request), AWS settings, the instance (a Name tag becomes an id with one
//! DescribeInstances), the sections bound to it, the endpoint, and, for
//! `allow_from_security_group`, the security group's rules. The guard decides again
//! whenever a step binds another section, so nothing is pushed or opened for a refused
//! network.

use std::sync::Arc;

use super::cache::{self, Key, RouteCache, Use};
use super::recheck::Unconfirmed;
use super::{Learned, Settings};
use crate::ahead::Ahead;
use crate::aws::connections::ApiConnections;
use crate::aws::discovery::{self, RouteQuery};
use crate::aws::{AwsChoices, AwsContext, security_groups};
use crate::config::ConfigFile;
use crate::error::Failure;
use crate::family::Family;
use crate::guard::{self, Path, Verdict};
use crate::net;
use crate::target::InstanceRef;
use crate::tunnel::TunnelEndpoint;
use crate::tunnel::connect;

/// Where a target leads, and what was decided on the way.
pub struct Destination {
    /// The settings, with every section naming the instance bound.
    pub settings: Settings,
    /// The guard's verdict for this network.
    pub verdict: Verdict,
    /// Credentials, region and API endpoints.
    pub aws: AwsContext,
    /// The HTTP client (egress checks, API calls).
    pub http: crate::net::http::Client,
    /// The TLS configuration every tunnel uses.
    pub tls: Arc<rustls::ClientConfig>,
    /// Connections opened ahead and not yet taken (the first tunnel's, along a cached route).
    pub ahead: Arc<Ahead>,
    /// The instance and endpoint, and what was described of them.
    pub found: discovery::Resolved,
    /// The `wss://` base tunnels open at.
    pub endpoint: TunnelEndpoint,
    /// How the guard checked: over one family, or through the proxy.
    pub path: Path,
    /// The family tunnels go straight out over (the one the guard judged); `None` when
    /// nothing was checked, or the proxy decides.
    pub family: Option<Family>,
    /// The route came from the cache: nothing may pass along it (nor a key be pushed)
    /// before a fresh lookup agrees (`route::open`).
    pub unconfirmed: Option<Unconfirmed>,
}

/// Resolves `settings` (see the module's doc), using the route cache as `cache_use` says;
/// `pushes_key`: a key will be pushed before the tunnels (the Instance Connect API is
/// called). `learned` keeps the verdict and the route for the log, even when a step fails.
pub async fn resolve(
    mut settings: Settings,
    file: &ConfigFile,
    cache_use: Use,
    pushes_key: bool,
    learned: &mut Learned,
) -> Result<Destination, Failure> {
    let override_url = settings
        .tunnel_endpoint_url
        .as_deref()
        .filter(|u| !u.is_empty())
        .map(TunnelEndpoint::parse)
        .transpose()?;
    let tls = net::client_config()?;
    let http = net::http_client(&tls)?;
    let ahead = Arc::new(Ahead::default());
    let api = ApiConnections::with_ahead(tls.clone(), ahead.clone());
    let choices = AwsChoices::from(&settings);
    // The family this machine reaches the internet over: the guard checks over it, and
    // the endpoint's name for it is taken.
    let family = Family::preferred()?;
    // The check goes the tunnel's way: before the endpoint is known, the way of the
    // configured tunnel URL, else of the region's endpoint domain.
    let mut path = super::road::guard_path(&settings, family)?;
    let query = RouteQuery {
        instance: settings.instance.clone(),
        found: None,
        endpoint_id: settings.endpoint_id.clone(),
        endpoint_dns_name: settings.endpoint_dns_name.clone(),
        private_ip: settings.private_ip.map(|ip| ip.to_string()),
        tunnel_url_overridden: override_url.is_some(),
        family,
    };
    let cache = RouteCache::new(cache_use);
    // While the guard decides, the AWS settings are read (when that sends nothing) and the
    // connections the route needs are opened: TCP and TLS, no request.
    let early = async {
        if !AwsContext::region_is_local(&choices).await {
            return None;
        }
        let aws = AwsContext::settings(&choices, http.clone(), api.clone()).await;
        Some(aws.map(|aws| {
            let cached = cached_route(&cache, cache_use, &aws, &query);
            let plan = AheadPlan {
                query: &query,
                override_url: override_url.as_ref(),
                pushes_key,
            };
            plan.open(&aws, cached.as_ref(), &tls, &ahead);
            (aws, cached)
        }))
    };
    let policy = settings.policy();
    if policy.has_allowlist() {
        learned.road = Some(path.road().to_string());
    }
    let (verdict, early) = tokio::join!(guard::check(&policy, &tls, &path), early);
    let mut verdict = gate(verdict, learned)?;
    let (aws, cached) = match early {
        Some(early) => early?,
        None => {
            let aws = AwsContext::settings(&choices, http.clone(), api).await?;
            let cached = cached_route(&cache, cache_use, &aws, &query);
            (aws, cached)
        }
    };
    let aws = crate::aws::ready::with_mfa(aws, &choices).await?;
    let key = Key::new(&aws, &query);
    let mut unconfirmed = None;
    let mut found = match cached {
        Some(found) => {
            tracing::info!(
                "route from the cache (at most {} min old; --no-cache asks the API), checked again while the tunnel opens",
                cache::TTL.as_secs() / 60
            );
            unconfirmed = Some(Unconfirmed {
                query: query.clone(),
                key: key.clone(),
            });
            found
        }
        None => {
            // A Name tag becomes an id with one DescribeInstances; the allowlists of
            // sections naming that id apply before anything else happens (key push,
            // endpoint, tunnel).
            let named = match &settings.instance {
                InstanceRef::Name(name) => {
                    let instance = discovery::find_by_name(&aws, name).await?;
                    if settings.bind_instance(file, &instance.id, instance.name.as_deref()) > 0 {
                        verdict = check_on(&settings, &tls, &path, learned).await?;
                    }
                    Some(instance)
                }
                InstanceRef::Id(_) => None,
            };
            let found = discovery::discover(
                &aws,
                &RouteQuery {
                    found: named,
                    ..query
                },
            )
            .await?;
            if cache_use != Use::Off {
                cache.put(&key, &found);
            }
            found
        }
    };
    learned.instance = Some(found.route.instance_id.clone());
    learned.endpoint = Some(found.route.endpoint_id.clone());
    // Typed by id or alias (or read from the cache), sections naming the instance's id and
    // Name tag bind once it is known.
    if let Some(i) = &found.instance
        && settings.bind_instance(file, &i.id, i.name.as_deref()) > 0
    {
        verdict = check_on(&settings, &tls, &path, learned).await?;
    }
    // A cached route's name was chosen on another network, perhaps over another family.
    if let (Some(_), Some(e)) = (found.route.family, &found.endpoint) {
        let (name, over) = discovery::tunnel_name(e, family, aws.use_fips, &aws.region)?;
        found.route.endpoint_dns_name = Some(name);
        found.route.family = Some(over);
    }
    let endpoint = tunnel_endpoint(override_url.as_ref(), &found)
        .expect("discovery returns a DNS name when there is no override");
    // The tunnel goes out over the family the guard judged: when it can only go over the
    // other one, that family is checked first.
    if let (Path::Direct(judged), Some(needed)) = (&path, tunnel_family(&endpoint, &found))
        && needed != *judged
        && !matches!(verdict, Verdict::Unchecked { .. })
    {
        tracing::info!(
            "the tunnel to {endpoint} goes over {needed}: checking this network's {needed} egress"
        );
        path = Path::Direct(needed);
        verdict = check_on(&settings, &tls, &path, learned).await?;
    }
    // The endpoint's own name may go another way than the name the check was made for
    // (NO_PROXY names one and not the other): the check is made again on the tunnel's road.
    let tunnel_path = super::road::path_to(&connect::dest(&endpoint), family)?;
    if !path.same_road(&tunnel_path.road()) && !matches!(verdict, Verdict::Unchecked { .. }) {
        tracing::info!(
            "the tunnel to {} goes {}, not {} as checked: checking this network's egress on the tunnel's road",
            endpoint.host,
            tunnel_path.road(),
            path.road()
        );
        path = tunnel_path;
        verdict = check_on(&settings, &tls, &path, learned).await?;
    }
    let verdict = settle(verdict, &settings, &aws, &found, learned).await?;
    let family = match (&path, &verdict) {
        (_, Verdict::Unchecked { .. }) | (Path::Proxy(_), _) => None,
        (Path::Direct(judged), _) => Some(*judged),
    };
    Ok(Destination {
        settings,
        verdict,
        aws,
        http,
        tls,
        ahead,
        found,
        endpoint,
        path,
        family,
        unconfirmed,
    })
}

/// The family a tunnel to `endpoint` must go over, when only one will do: the family of
/// the endpoint's name chosen from its names, or of an IP literal given instead.
fn tunnel_family(endpoint: &TunnelEndpoint, found: &discovery::Resolved) -> Option<Family> {
    if crate::tunnel::connect::goes_through_proxy(endpoint) {
        return None;
    }
    match endpoint.host.parse::<std::net::IpAddr>() {
        Ok(ip) => Some(Family::of(ip)),
        Err(_) if Some(&endpoint.host) == found.route.endpoint_dns_name.as_ref() => {
            found.route.family
        }
        Err(_) => None,
    }
}

/// The fresh cached route for `query`, when the cache may be read.
fn cached_route(
    cache: &RouteCache,
    cache_use: Use,
    aws: &AwsContext,
    query: &RouteQuery,
) -> Option<discovery::Resolved> {
    (cache_use == Use::ReadWrite)
        .then(|| cache.get(&Key::new(aws, query)))
        .flatten()
}

/// Where tunnels along `found` open.
fn tunnel_endpoint(
    override_url: Option<&TunnelEndpoint>,
    found: &discovery::Resolved,
) -> Option<TunnelEndpoint> {
    match (override_url, &found.route.endpoint_dns_name) {
        (Some(url), _) => Some(url.clone()),
        (None, Some(dns)) => Some(TunnelEndpoint::for_dns_name(dns)),
        (None, None) => None,
    }
}

/// What a connect will call, for opening its connections ahead.
struct AheadPlan<'a> {
    query: &'a RouteQuery,
    override_url: Option<&'a TunnelEndpoint>,
    /// A key is pushed before the tunnel (the Instance Connect API is called).
    pushes_key: bool,
}

impl AheadPlan<'_> {
    /// Opens ahead the connections the route will use: the key push's, if any; along a
    /// cached route, the first tunnel's and EC2's two for the lookup that confirms it (the
    /// instance and the endpoints asked at once); else EC2's (two for an instance id, one
    /// for a Name tag, which is looked up first).
    fn open(
        &self,
        aws: &AwsContext,
        cached: Option<&discovery::Resolved>,
        tls: &Arc<rustls::ClientConfig>,
        ahead: &Ahead,
    ) {
        if self.pushes_key {
            aws.api.open_ahead(&aws.eic_url);
        }
        match cached {
            Some(found) => {
                if let Some(endpoint) = tunnel_endpoint(self.override_url, found) {
                    match connect::proxy_for(&endpoint) {
                        Ok(proxy) => ahead.open(connect::dest(&endpoint), proxy, tls),
                        Err(e) => tracing::debug!("not opening {endpoint} ahead: {e}"),
                    }
                }
                for _ in 0..2 {
                    aws.api.open_ahead(&aws.ec2_url);
                }
            }
            None => {
                let describes = match self.query.instance {
                    InstanceRef::Name(_) => 1,
                    InstanceRef::Id(_) => 2,
                };
                for _ in 0..describes {
                    aws.api.open_ahead(&aws.ec2_url);
                }
            }
        }
    }
}

/// The verdict made final: when the static allowlists leave it to the instance's security
/// group, its rules are read (read-only calls) and the guard decides again.
pub async fn settle(
    verdict: Verdict,
    settings: &Settings,
    aws: &AwsContext,
    found: &discovery::Resolved,
    learned: &mut Learned,
) -> Result<Verdict, Failure> {
    let Verdict::AskSecurityGroup { ip } = verdict else {
        return Ok(verdict);
    };
    let admitted = security_groups::read(aws, found, settings.port).await?;
    gate(
        guard::decide(&settings.policy(), Ok(ip), Some(&admitted)),
        learned,
    )
}

/// The guard's verdict on `path` for `settings`, gated, with the road it judged noted.
pub async fn check_on(
    settings: &Settings,
    tls: &Arc<rustls::ClientConfig>,
    path: &Path,
    learned: &mut Learned,
) -> Result<Verdict, Failure> {
    let policy = settings.policy();
    if policy.has_allowlist() {
        learned.road = Some(path.road().to_string());
    }
    gate(guard::check(&policy, tls, path).await, learned)
}

/// Keeps the verdict for the log, then lets it through or refuses (exit 3).
pub fn gate(verdict: Verdict, learned: &mut Learned) -> Result<Verdict, Failure> {
    learned.verdict = Some(verdict.clone());
    verdict.gate()?;
    Ok(verdict)
}
