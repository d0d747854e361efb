//! Many instances at once: the listing of what the credentials can see (`listing`, which
//! `list`, `inventory`, `audit` and the session's `pick` read), and one command on many
//! instances (`eic-ssh run`). The run is planned once — one
//! credential load, one DescribeInstances and one DescribeInstanceConnectEndpoints, one
//! egress check — then each host goes when its turn comes: at most `--parallel` in flight,
//! and on each endpoint at most `--per-endpoint` tunnels of this user's (the slots of
//! `route::slots`, shared with the user's other eic-ssh processes), its key pushed right
//! before its tunnel. Selection is `select`, output `output`, the hosts' turns `schedule`,
//! the end `summary`, the
//! terminal's progress line `progress`.

pub mod ansible;
pub mod listing;
pub mod output;
pub mod pick;
pub mod progress;
pub mod schedule;
pub mod select;
pub mod summary;

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use crate::ahead::Ahead;
use crate::aws::connections::ApiConnections;
use crate::aws::discovery::{self, Resolved, Route};
use crate::aws::ec2::Filter;
use crate::aws::inventory::inventory;
use crate::aws::{AwsChoices, AwsContext};
use crate::config::ConfigFile;
use crate::error::{Failure, Kind, Outcome};
use crate::family::Family;
use crate::guard::{self, Path, Verdict, probe::ProbeError};
use crate::local::signals::{self, Stop};
use crate::net;
use crate::printable::escape;
use crate::route::{self, Destination, Flags, Learned, Settings};
use crate::ssh::host_keys::Policy;
use crate::tunnel::TunnelEndpoint;
use select::Chosen;

/// What the run was asked to do, as plain values.
pub struct Request {
    /// The targets as typed.
    pub targets: Vec<String>,
    /// `--filter`, parsed.
    pub filters: Vec<Filter>,
    /// The command line for each host's shell.
    pub command: String,
    /// `--dry-run`.
    pub dry_run: bool,
    /// `-P/--parallel`.
    pub parallel: usize,
    /// `--per-endpoint`.
    pub per_endpoint: usize,
    /// How output is shown (the width is filled in once the labels are known).
    pub mode: output::Mode,
    /// `--timeout`.
    pub timeout: Option<Duration>,
    /// `--max-errors`, as typed.
    pub max_errors: Option<String>,
    /// `--stdin`: the bytes each host gets.
    pub stdin: Option<Vec<u8>>,
    /// The connection flags, as for one target.
    pub flags: Flags,
    /// The host-key policy.
    pub policy: Policy,
    /// The handshake bound and keepalives.
    pub timing: crate::ssh::client::Timing,
    /// `log = false` in the config file: no connection-log entries.
    pub log_off: bool,
    /// Draw the progress line on stderr (a terminal, neither `-v` nor `-q`).
    pub progress: bool,
}

/// One host of the run and how far planning got with it.
pub struct RunHost {
    /// Which instance, and its label.
    pub chosen: Chosen,
    /// The label as a file name (`--out-dir`).
    pub file_name: String,
    /// The endpoint that serves it, when there is one.
    pub endpoint_id: Option<String>,
    /// The guard's verdict, when it was decided.
    pub verdict: Option<Verdict>,
    /// Ready to connect, or why not (refused by the guard, not running, no endpoint).
    pub ready: Result<Box<Destination>, Failure>,
}

/// Plans the run (see the module's doc), then runs it or, with `--dry-run`, prints it.
/// SIGINT, SIGTERM and SIGHUP stop it (see `schedule`): it then ends as 128 + the signal's
/// number, after the summary.
pub async fn run(
    mut request: Request,
    file: &ConfigFile,
    path: Option<&std::path::Path>,
) -> Result<Outcome, Failure> {
    let stops = signals::listen([Stop::Interrupt, Stop::Terminate, Stop::Hangup]);
    let hosts = tokio::select! {
        hosts = plan(&request, file, path) => hosts?,
        stop = stops.clone() => {
            let signal = stop.signal();
            eprintln!("eic-ssh: run: stopped by {} while finding the hosts; nothing was connected", signal.name());
            return Ok(Outcome::Signalled(signal));
        }
    };
    if request.dry_run {
        summary::print_plan(&hosts);
        return Ok(Outcome::Success);
    }
    if let output::Mode::Lines { width } = &mut request.mode {
        *width = hosts
            .iter()
            .map(|h| h.chosen.label.chars().count())
            .max()
            .unwrap_or(0);
    }
    let max_errors = match &request.max_errors {
        Some(spec) => Some(select::max_errors(spec, hosts.len())?),
        None => None,
    };
    if request.progress {
        progress::start(hosts.len());
    }
    let (reports, stopped) = schedule::run(&request, hosts, max_errors, stops).await;
    progress::end();
    summary::finish(&reports, stopped)
}

/// The hosts, each with its route and verdict: one load of the AWS settings, one listing
/// of instances and endpoints, one egress check (when an allowlist needs it).
async fn plan(
    request: &Request,
    file: &ConfigFile,
    path: Option<&std::path::Path>,
) -> Result<Vec<RunHost>, Failure> {
    let defaults = route::settings::defaults_for(file, path, &request.flags)?;
    let choices = AwsChoices::from(&defaults);
    let tls = net::client_config()?;
    let http = net::http_client(&tls)?;
    let aws =
        crate::aws::ready::load(&choices, http.clone(), ApiConnections::new(tls.clone())).await?;
    let entries = inventory(&aws, &request.filters).await?;
    let chosen = select::choose(&request.targets, &entries, file)?;
    if chosen.is_empty() {
        return Err(Failure::new(
            Kind::NotFound,
            "no running instance matches the --filter given: `eic-ssh list --filter …` shows what it selects",
        ));
    }
    let override_url = request
        .flags
        .tunnel_endpoint_url
        .as_deref()
        .or(defaults.tunnel_endpoint_url.as_deref())
        .filter(|u| !u.is_empty())
        .map(TunnelEndpoint::parse)
        .transpose()?;
    let family = Family::preferred()?;
    // One check for the run, on the road a tunnel takes before its endpoint is known.
    let guard_path = route::road::guard_path(&defaults, family)?;
    let mut settings = Vec::new();
    for c in &chosen {
        let mut s = route::settings::for_target(file, path, &c.typed, &request.flags)?;
        let i = &c.entry.instance;
        s.bind_instance(file, &i.id, i.name.as_deref());
        if s.user.is_none() {
            return Err(Failure::usage(format!(
                "no user for {}: pass -l USER, or set `user` in the config file",
                escape(&c.label)
            )));
        }
        settings.push(s);
    }
    // The egress IP is learned once, and only when some allowlist needs it.
    let ip = if settings.iter().any(Settings::has_allowlist) {
        Some(guard::current_ip_over(&tls, &defaults.egress_urls, &guard_path).await)
    } else {
        None
    };
    let mut hosts = Vec::new();
    for (c, s) in chosen.into_iter().zip(settings) {
        let shared = Shared {
            aws: &aws,
            http: &http,
            tls: &tls,
            family,
            path: guard_path.clone(),
            override_url: override_url.as_ref(),
        };
        hosts.push(shared.host(c, s, ip.as_ref()).await);
    }
    Ok(hosts)
}

/// What every host's plan shares.
struct Shared<'a> {
    aws: &'a AwsContext,
    http: &'a crate::net::http::Client,
    tls: &'a Arc<rustls::ClientConfig>,
    family: Family,
    path: Path,
    override_url: Option<&'a TunnelEndpoint>,
}

impl Shared<'_> {
    async fn host(
        &self,
        chosen: Chosen,
        settings: Settings,
        ip: Option<&Result<IpAddr, ProbeError>>,
    ) -> RunHost {
        let file_name = select::file_name(&chosen.label);
        let endpoint_id = chosen.entry.endpoint.as_ref().ok().map(|e| e.id.clone());
        let mut host = RunHost {
            file_name,
            endpoint_id,
            verdict: None,
            ready: Err(Failure::new(Kind::Other, "not planned")),
            chosen,
        };
        let not_asked = ProbeError::Unreachable {
            url: String::new(),
            reason: "not asked: no allowlist applies".into(),
        };
        let judged = match ip {
            Some(Ok(ip)) => Ok(*ip),
            Some(Err(e)) => Err(e),
            None => Err(&not_asked),
        };
        let verdict = guard::decide(&settings.policy(), judged, None);
        host.ready = self
            .destination(&host.chosen, settings, verdict)
            .await
            .map(Box::new);
        host.verdict = match &host.ready {
            Ok(d) => Some(d.verdict.clone()),
            Err(f) if f.kind == Kind::Refused => Some(Verdict::Refused {
                ip: None,
                reason: f.message.clone(),
            }),
            Err(_) => None,
        };
        host
    }

    /// The host's destination: its route from the listing, and the guard's verdict made
    /// final (the security group read when the allowlists leave it to it).
    async fn destination(
        &self,
        chosen: &Chosen,
        settings: Settings,
        verdict: Verdict,
    ) -> Result<Destination, Failure> {
        let entry = &chosen.entry;
        let mut learned = Learned::default();
        route::resolve::gate(verdict.clone(), &mut learned)?;
        discovery::check_instance(&entry.instance)?;
        let endpoint = entry
            .endpoint
            .clone()
            .map_err(|why| Failure::new(Kind::NotFound, why))?;
        let private_ip = discovery::target_ip(&entry.instance)?;
        let (dns, over) = match self.override_url {
            Some(_) => (None, None),
            None => {
                let (name, over) = discovery::tunnel_name(
                    &endpoint,
                    self.family,
                    self.aws.use_fips,
                    &self.aws.region,
                )?;
                (Some(name), Some(over))
            }
        };
        let tunnel_endpoint = match (self.override_url, &dns) {
            (Some(url), _) => url.clone(),
            (None, Some(name)) => TunnelEndpoint::for_dns_name(name),
            (None, None) => unreachable!("a name is chosen when there is no override"),
        };
        let found = Resolved {
            route: Route {
                instance_id: entry.instance.id.clone(),
                private_ip,
                endpoint_id: endpoint.id.clone(),
                endpoint_dns_name: dns,
                availability_zone: entry.instance.availability_zone.clone(),
                family: over,
            },
            instance: Some(entry.instance.clone()),
            endpoint: Some(endpoint),
        };
        let verdict =
            route::resolve::settle(verdict, &settings, self.aws, &found, &mut learned).await?;
        let family = match (&self.path, &verdict) {
            (_, Verdict::Unchecked { .. }) | (Path::Proxy(_), _) => None,
            (Path::Direct(judged), _) => Some(*judged),
        };
        Ok(Destination {
            settings,
            verdict,
            aws: self.aws.clone(),
            http: self.http.clone(),
            tls: self.tls.clone(),
            ahead: Arc::new(Ahead::default()),
            found,
            endpoint: tunnel_endpoint,
            path: self.path.clone(),
            family,
            unconfirmed: None,
        })
    }
}
