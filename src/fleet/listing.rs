//! The instances the credentials can see, as `list` shows them and the picker, `inventory`
//! and `audit` use them: each with the endpoint that would serve it (or why none), the
//! `[hosts]` aliases naming it, its settings, and the guard's verdict for this network now.

use std::net::IpAddr;

use crate::aws::AwsChoices;
use crate::aws::connections::ApiConnections;
use crate::aws::ec2;
use crate::aws::inventory::{Inventoried, inventory};
use crate::config::ConfigFile;
use crate::error::Failure;
use crate::guard::{Verdict, current_ip_over, decide, probe::ProbeError};
use crate::net;
use crate::printable::escape;
use crate::route::{self, Flags};

/// One row: an instance, where it is, and what would happen when connecting to it now.
pub struct Listed {
    /// The region it is in.
    pub region: String,
    /// The AWS profile it was found with (flag, `AWS_PROFILE` or `[defaults]`), if any.
    pub profile: Option<String>,
    /// The instance and the endpoint that would serve it (or why none).
    pub entry: Inventoried,
    /// The `[hosts]` aliases naming it.
    pub aliases: Vec<String>,
    /// The guard's verdict, as a word (`allowed`, `refused`, …).
    pub guard: &'static str,
    /// Why, when refused or left to the security group.
    pub guard_reason: Option<String>,
}

/// The rows of `list` (the instance picker offers the same), and the egress IP when an
/// allowlist needed it.
pub async fn listing(
    flags: &AwsChoices,
    file: &ConfigFile,
    path: Option<&std::path::Path>,
    all_regions: bool,
    filters: &[ec2::Filter],
) -> Result<(Vec<Listed>, Option<Result<IpAddr, ProbeError>>), Failure> {
    let flags = route::Flags::aws(flags.profile.clone(), flags.region.clone());
    let defaults = route::settings::defaults_for(file, path, &flags)?;
    let choices = AwsChoices::from(&defaults);
    let tls = net::client_config()?;
    let http = net::http_client(&tls)?;
    let aws = crate::aws::ready::load(&choices, http, ApiConnections::new(tls.clone())).await?;
    let regions = if all_regions {
        ec2::describe_regions(&aws).await?
    } else {
        vec![aws.region.clone()]
    };
    let mut found: Vec<(String, Inventoried)> = Vec::new();
    for region in &regions {
        let here = aws.in_region(region)?;
        found.extend(
            inventory(&here, filters)
                .await?
                .into_iter()
                .map(|e| (region.clone(), e)),
        );
    }
    let any_allowlist = found
        .iter()
        .any(|(_, e)| instance_settings(file, path, e).is_some_and(|eff| eff.has_allowlist()));
    // The egress IP is learned once, and only when some allowlist needs it.
    let ip = if any_allowlist {
        let path = route::road::guard_path(&defaults, crate::family::Family::preferred()?)?;
        Some(current_ip_over(&tls, &defaults.egress_urls, &path).await)
    } else {
        None
    };
    // Without an allowlist the guard never looks at the IP.
    let not_asked = ProbeError::Unreachable {
        url: String::new(),
        reason: "not asked: no allowlist applies".into(),
    };
    let judged_ip = match &ip {
        Some(Ok(ip)) => Ok(*ip),
        Some(Err(e)) => Err(e),
        None => Err(&not_asked),
    };
    let rows: Vec<Listed> = found
        .into_iter()
        .map(|(region, entry)| Listed {
            profile: aws.profile.clone(),
            ..row(file, path, region, entry, judged_ip)
        })
        .collect();
    Ok((rows, ip))
}

/// The settings that apply to the instance: its alias's if one names it, else by id; with
/// every section naming it bound.
pub fn instance_settings(
    file: &ConfigFile,
    path: Option<&std::path::Path>,
    entry: &Inventoried,
) -> Option<route::Settings> {
    let i = &entry.instance;
    let target = aliases(file, entry)
        .into_iter()
        .next()
        .unwrap_or(i.id.clone());
    let mut eff = route::settings::for_target(file, path, &target, &Flags::default()).ok()?;
    eff.bind_instance(file, &i.id, i.name.as_deref());
    Some(eff)
}

/// The `[hosts]` aliases naming the instance, by id or by its Name tag (when that can
/// stand for it: unique, and not shaped like an id).
pub fn aliases(file: &ConfigFile, entry: &Inventoried) -> Vec<String> {
    let i = &entry.instance;
    file.hosts
        .iter()
        .filter(|(_, h)| {
            h.instance.as_ref().is_some_and(|id| id.0 == i.id)
                || (h.name.is_some() && h.name.as_deref() == entry.usable_name())
        })
        .map(|(alias, _)| alias.clone())
        .collect()
}

fn row(
    file: &ConfigFile,
    path: Option<&std::path::Path>,
    region: String,
    entry: Inventoried,
    ip: Result<IpAddr, &ProbeError>,
) -> Listed {
    let (guard, guard_reason) = match instance_settings(file, path, &entry) {
        None => (
            "unknown",
            Some("the config does not resolve for it".to_string()),
        ),
        Some(eff) => match decide(&eff.policy(), ip, None) {
            Verdict::Refused { reason, .. } => ("refused", Some(reason)),
            v @ Verdict::AskSecurityGroup { .. } => (v.word(), Some(v.sentence())),
            v => (v.word(), None),
        },
    };
    Listed {
        region,
        profile: None,
        aliases: aliases(file, &entry),
        entry,
        guard,
        guard_reason,
    }
}

/// `--filter NAME=VALUE[,VALUE…]` as EC2 filters.
pub fn parse_filters(specs: &[String]) -> Result<Vec<ec2::Filter>, Failure> {
    specs
        .iter()
        .map(|spec| match spec.split_once('=') {
            Some((name, values)) if !name.is_empty() && !values.is_empty() => Ok((
                name.to_string(),
                values.split(',').map(str::to_string).collect(),
            )),
            _ => Err(Failure::usage(format!(
                "--filter {}: expected NAME=VALUE[,VALUE…], e.g. tag:team=web or vpc-id=vpc-0abc",
                escape(spec)
            ))),
        })
        .collect()
}
