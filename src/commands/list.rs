//! `eic-ssh list`: the instances the credentials can see, the endpoint that would serve
//! each (or why none), the alias that names it, and whether the guard would let this
//! network through now.

use std::net::IpAddr;

use crate::aws::AwsChoices;
use crate::aws::connections::ApiConnections;
use crate::aws::ec2;
use crate::aws::inventory::{Entry, NameProblem, inventory};
use crate::cli::{Globals, ListArgs};
use crate::commands::ssh_config::parse_filters;
use crate::config::{self, ConfigFile};
use crate::error::{Failure, Outcome};
use crate::guard::{Verdict, current_ip_over, decide, probe::ProbeError};
use crate::net;
use crate::printable::escape;
use crate::route::{self, Flags};

/// One row: an instance, where it is, and what would happen when connecting to it now.
pub struct Row {
    /// The region it is in.
    pub region: String,
    /// The AWS profile it was found with (flag, `AWS_PROFILE` or `[defaults]`), if any.
    pub profile: Option<String>,
    /// The instance and the endpoint that would serve it (or why none).
    pub entry: Entry,
    /// The `[hosts]` aliases naming it.
    pub aliases: Vec<String>,
    /// The guard's verdict, as a word (`allowed`, `refused`, …).
    pub guard: &'static str,
    /// Why, when refused or left to the security group.
    pub guard_reason: Option<String>,
}

/// Prints the table (or JSON); exit 0, or the usual failure when AWS cannot be asked.
pub async fn run(args: ListArgs, g: &Globals) -> Result<Outcome, Failure> {
    if args.all_regions && g.region.is_some() {
        return Err(Failure::usage(
            "--all-regions and --region ask for different regions: give one of them",
        ));
    }
    let (file, path) = config::file::load(g.config.as_deref())?;
    let filters = parse_filters(&args.filter)?;
    let (rows, ip) = listing(g, &file, path.as_deref(), args.all_regions, &filters).await?;
    if args.json {
        print_json(&rows, ip.as_ref());
    } else {
        print_table(&rows, args.all_regions);
    }
    Ok(Outcome::Success)
}

/// The rows of `list` (the instance picker offers the same), and the egress IP when an
/// allowlist needed it.
pub async fn listing(
    g: &Globals,
    file: &ConfigFile,
    path: Option<&std::path::Path>,
    all_regions: bool,
    filters: &[ec2::Filter],
) -> Result<(Vec<Row>, Option<Result<IpAddr, ProbeError>>), Failure> {
    let flags = route::Flags::aws(g.profile.clone(), g.region.clone());
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
    let mut found: Vec<(String, Entry)> = Vec::new();
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
        .any(|(_, e)| settings_for(file, path, e).is_some_and(|eff| eff.has_allowlist()));
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
    let rows: Vec<Row> = found
        .into_iter()
        .map(|(region, entry)| Row {
            profile: aws.profile.clone(),
            ..row(file, path, region, entry, judged_ip)
        })
        .collect();
    Ok((rows, ip))
}

/// The settings that apply to the instance: its alias's if one names it, else by id; with
/// every section naming it bound.
pub fn settings_for(
    file: &ConfigFile,
    path: Option<&std::path::Path>,
    entry: &Entry,
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
pub fn aliases(file: &ConfigFile, entry: &Entry) -> Vec<String> {
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
    entry: Entry,
    ip: Result<IpAddr, &ProbeError>,
) -> Row {
    let (guard, guard_reason) = match settings_for(file, path, &entry) {
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
    Row {
        region,
        profile: None,
        aliases: aliases(file, &entry),
        entry,
        guard,
        guard_reason,
    }
}

fn print_table(rows: &[Row], with_region: bool) {
    if rows.is_empty() {
        println!("no instances");
        return;
    }
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            let i = &r.entry.instance;
            let name = i.name.as_deref().map_or("-".into(), escape);
            let mut cells = Vec::new();
            if with_region {
                cells.push(r.region.clone());
            }
            cells.extend([
                i.id.clone(),
                match r.entry.name_problem {
                    Some(NameProblem::Shared) => format!("{name}*"),
                    Some(NameProblem::LooksLikeAnId) => format!("{name}!"),
                    None => name,
                },
                escape(&i.state),
                i.private_ip.clone().unwrap_or("-".into()),
                r.entry
                    .endpoint
                    .as_ref()
                    .map_or("-".into(), |e| e.id.clone()),
                if r.aliases.is_empty() {
                    "-".into()
                } else {
                    r.aliases.join(",")
                },
                r.guard.replace('_', " "),
            ]);
            cells
        })
        .collect();
    let mut header = Vec::new();
    if with_region {
        header.push("REGION");
    }
    header.extend([
        "ID",
        "NAME",
        "STATE",
        "PRIVATE IP",
        "ENDPOINT",
        "ALIAS",
        "GUARD",
    ]);
    crate::printable::table::print(&header, &cells);
    let notes: Vec<String> = rows
        .iter()
        .flat_map(|r| {
            let id = &r.entry.instance.id;
            let mut notes = Vec::new();
            if let Err(why) = &r.entry.endpoint {
                notes.push(format!("{id}: {}", escape(why)));
            }
            match (r.entry.name_problem, &r.entry.instance.name) {
                (Some(NameProblem::Shared), _) => {
                    notes.push(format!("{id}: its Name is shared (*): connect by id"));
                }
                (Some(problem @ NameProblem::LooksLikeAnId), Some(name)) => notes.push(format!(
                    "{id}: its Name {} {} (!): connect by id",
                    escape(name),
                    problem.reason()
                )),
                _ => {}
            }
            if let (Some(why), "refused") = (&r.guard_reason, r.guard) {
                notes.push(format!("{id}: {why}"));
            }
            notes
        })
        .collect();
    if !notes.is_empty() {
        println!();
        for note in notes {
            println!("{note}");
        }
    }
}

/// The documented JSON (docs/commands.md).
fn print_json(rows: &[Row], ip: Option<&Result<IpAddr, ProbeError>>) {
    let instances: Vec<serde_json::Value> = rows
        .iter()
        .map(|r| {
            let i = &r.entry.instance;
            serde_json::json!({
                "region": r.region,
                "instance_id": i.id,
                "name": i.name,
                "name_shared": r.entry.name_problem == Some(NameProblem::Shared),
                "name_problem": r.entry.name_problem.map(NameProblem::code),
                "state": i.state,
                "private_ip": i.private_ip,
                "vpc_id": i.vpc_id,
                "endpoint_id": r.entry.endpoint.as_ref().ok().map(|e| e.id.clone()),
                "endpoint_problem": r.entry.endpoint.as_ref().err(),
                "aliases": r.aliases,
                "guard": r.guard,
                "guard_reason": r.guard_reason,
            })
        })
        .collect();
    let report = serde_json::json!({
        "egress_ip": ip.and_then(|ip| ip.as_ref().ok()),
        "egress_ip_error": ip.and_then(|ip| ip.as_ref().err()).map(ToString::to_string),
        "instances": instances,
    });
    println!(
        "{}",
        serde_json::to_string_pretty(&report).unwrap_or_default()
    );
}
