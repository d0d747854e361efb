//! The connection pipeline up to an open tunnel: resolve once, then push key + presign + connect per tunnel.

use std::sync::Arc;
use std::time::SystemTime;

use crate::aws::discovery::{self, Route, RouteQuery};
use crate::aws::instance_connect::{KeyPush, send_ssh_public_key};
use crate::aws::security_groups;
use crate::aws::{AwsChoices, AwsContext};
use crate::cli::ConnectArgs;
use crate::config::file::Loaded;
use crate::config::{self, Overrides};
use crate::error::{Failure, Kind};
use crate::guard::{self, Verdict};
use crate::logbook;
use crate::net;
use crate::ssh::key::read_public_key;
use crate::target::{InstanceRef, Target};
use crate::tunnel::connect;
use crate::tunnel::endpoint::check_port;
use crate::tunnel::error::connect_failure;
use crate::tunnel::presign::presign;
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
    /// Credentials, region and API endpoints for the key push and presigning.
    aws: AwsContext,
    /// The TLS configuration every tunnel uses.
    tls: Arc<rustls::ClientConfig>,
    /// Where the tunnels go.
    pub route: Route,
    /// The `wss://` base the tunnels open at.
    pub endpoint: TunnelEndpoint,
    /// The `openTunnel` query, presigned anew for each tunnel.
    request: TunnelRequest,
    /// The key pushed before each tunnel, if any.
    key: Option<PublicKey>,
    /// What the egress guard needs to decide again (for each connection of a listener).
    guard: Guard,
    /// The connection log is on.
    logs: bool,
}

/// The egress guard's inputs, kept so that it can run again later.
struct Guard {
    /// The settings (allowlists) for the target.
    eff: config::Effective,
    /// The HTTP client the egress check uses.
    http: reqwest::Client,
    /// The resolved instance and endpoint, for an `allow_from_security_group` check.
    resolved: discovery::Resolved,
    /// The instance port, for the security-group check.
    port: u16,
}

impl Connector {
    /// Checks the arguments and config, runs the egress guard, loads AWS settings and
    /// resolves the route. The guard decides before any AWS call, except for the read-only
    /// calls an `allow_from_security_group` check needs. `key_line` (an in-memory key's
    /// public half) is pushed before each tunnel instead of `--push-key`'s file. `loaded` is
    /// the config file the command read once (its `[hosts]` section already filled flags).
    pub async fn prepare(
        target: &Target,
        remote_port: u16,
        args: &ConnectArgs,
        loaded: &Loaded,
        key_line: Option<String>,
    ) -> Result<Self, Failure> {
        check_port(remote_port)?;
        if args
            .endpoint_dns_name
            .as_deref()
            .is_some_and(|d| d.trim().is_empty())
        {
            return Err(Failure::usage(
                "--endpoint-dns-name is empty: give the endpoint's DNS name (eice-….ec2-instance-connect-endpoint.REGION.amazonaws.com) or leave the flag out to look it up",
            ));
        }
        let Loaded { file, path } = loaded;
        let logs = file.defaults.log != Some(false);
        if !logs {
            logbook::disable();
        }
        let overrides = Overrides {
            profile: args.profile.clone(),
            region: args.region.clone(),
            // As in OpenSSH, `user@` wins over `-l`.
            user: target.user.clone().or_else(|| args.user.clone()),
            endpoint_id: args.endpoint_id.clone(),
        };
        let mut eff = config::resolve(file, path.as_deref(), &target.name, &overrides)?;
        let key = key_to_push(key_line, args.push_key.as_deref(), eff.user.as_deref())?;
        let override_url = args
            .tunnel_endpoint_url
            .as_deref()
            .filter(|u| !u.is_empty())
            .map(TunnelEndpoint::parse)
            .transpose()?;
        connect::check_proxy_env().map_err(|e| Failure::usage(e.to_string()))?;
        let tls = net::client_config()?;
        let http = net::http_client(&tls)?;
        let mut verdict = noted(guard::check(&eff, &http).await)?;
        let aws = AwsContext::load(&AwsChoices::from(&eff), http.clone()).await?;
        // A Name tag becomes an id with one DescribeInstances; the allowlists of sections
        // naming that id apply before anything else happens (key push, endpoint, tunnel).
        let found = match &eff.instance {
            InstanceRef::Name(name) => {
                let instance = discovery::find_by_name(&aws, name).await?;
                if eff.bind_instance(file, &instance.id, instance.name.as_deref()) > 0 {
                    verdict = noted(guard::check(&eff, &http).await)?;
                }
                Some(instance)
            }
            InstanceRef::Id(_) => None,
        };
        let query = RouteQuery {
            instance: eff.instance.clone(),
            found,
            endpoint_id: eff.endpoint_id.clone(),
            endpoint_dns_name: args.endpoint_dns_name.clone(),
            private_ip: args.private_ip.map(|ip| ip.to_string()),
            tunnel_url_overridden: override_url.is_some(),
        };
        let resolved = discovery::resolve(&aws, &query).await?;
        // Typed by id or alias, sections naming its Name tag bind once it is described.
        if let Some(i) = &resolved.instance
            && eff.bind_instance(file, &i.id, i.name.as_deref()) > 0
        {
            verdict = noted(guard::check(&eff, &http).await)?;
        }
        if let Verdict::AskSecurityGroup { ip } = verdict {
            let admitted = security_groups::read(&aws, &resolved, remote_port).await?;
            noted(guard::decide(&eff, Ok(ip), Some(&admitted)))?;
        }
        let route = resolved.route.clone();
        logbook::note(|e| {
            e.instance = Some(route.instance_id.clone());
            e.endpoint = Some(route.endpoint_id.clone());
        });
        let endpoint = match (override_url, &route.endpoint_dns_name) {
            (Some(url), _) => url,
            (None, Some(dns)) => TunnelEndpoint::for_dns_name(dns),
            (None, None) => unreachable!("discovery returns a DNS name when there is no override"),
        };
        let request = TunnelRequest {
            endpoint_id: route.endpoint_id.clone(),
            private_ip: route.private_ip.clone(),
            remote_port,
            max_tunnel_duration: args.max_tunnel_duration,
        };
        tracing::info!(
            "{} ({}) port {} via {} at {}",
            route.instance_id,
            route.private_ip,
            remote_port,
            route.endpoint_id,
            endpoint
        );
        Ok(Connector {
            aws,
            tls,
            route,
            endpoint,
            request,
            key,
            guard: Guard {
                eff,
                http,
                resolved,
                port: remote_port,
            },
            logs,
        })
    }

    /// Runs the egress guard again (the cached IP may answer): a long-lived listener must
    /// not keep tunnelling after the network changed.
    pub async fn check_guard(&self) -> Result<Verdict, Failure> {
        let g = &self.guard;
        let mut verdict = guard::check(&g.eff, &g.http).await;
        if let Verdict::AskSecurityGroup { ip } = verdict {
            let admitted = security_groups::read(&self.aws, &g.resolved, g.port).await?;
            verdict = guard::decide(&g.eff, Ok(ip), Some(&admitted));
        }
        verdict.gate()?;
        Ok(verdict)
    }

    /// Whether connections are logged (`log = false` in the config turns it off).
    pub fn logs(&self) -> bool {
        self.logs
    }

    /// The AWS context, for further calls about the same target.
    pub fn aws(&self) -> &AwsContext {
        &self.aws
    }

    /// The OS user keys are pushed for, if any.
    pub fn user(&self) -> Option<&str> {
        self.key.as_ref().map(|k| k.user.as_str())
    }

    /// Pushes the key (if any), presigns a fresh URL and opens one tunnel.
    pub async fn open(&self) -> Result<Tunnel, Failure> {
        if let Some(key) = &self.key {
            let push = KeyPush {
                instance_id: &self.route.instance_id,
                os_user: &key.user,
                public_key: &key.line,
                availability_zone: self.route.availability_zone.as_deref(),
            };
            send_ssh_public_key(&self.aws, &push).await?;
            tracing::info!("pushed public key for {} (valid 60 s)", key.user);
        }
        let credentials = self.aws.credentials().await?;
        let url = presign(
            &self.endpoint,
            &self.request,
            &credentials,
            &self.aws.region,
            SystemTime::now(),
        )
        .map_err(|e| Failure::new(Kind::Other, e.to_string()))?;
        let tunnel = connect::open(&self.endpoint, &url, &self.tls)
            .await
            .map_err(|e| connect_failure(e, &self.request))?;
        logbook::add_tunnel(tunnel.traffic());
        Ok(tunnel)
    }
}

/// Notes the verdict in the connection log, then lets it through or refuses (exit 3).
fn noted(verdict: Verdict) -> Result<Verdict, Failure> {
    logbook::note(|e| {
        e.guard = Some(verdict.word().into());
        e.egress_ip = verdict.ip().map(|ip| ip.to_string());
    });
    verdict.gate()?;
    Ok(verdict)
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
