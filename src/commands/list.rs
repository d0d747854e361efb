//! `eic-ssh list`: the instances the credentials can see, the endpoint that would serve
//! each (or why none), the alias that names it, and whether the guard would let this
//! network through now.

use std::net::IpAddr;

use crate::aws::inventory::NameProblem;
use crate::cli::{Globals, ListArgs};
use crate::config;
use crate::error::{Failure, Outcome};
use crate::fleet::listing::{Listed, listing, parse_filters};
use crate::guard::probe::ProbeError;
use crate::printable::escape;

/// Prints the table (or JSON); exit 0, or the usual failure when AWS cannot be asked.
pub async fn run(args: ListArgs, g: &Globals) -> Result<Outcome, Failure> {
    if args.all_regions && g.region.is_some() {
        return Err(Failure::usage(
            "--all-regions and --region ask for different regions: give one of them",
        ));
    }
    let (file, path) = config::file::load(g.config.as_deref())?;
    let filters = parse_filters(&args.filter)?;
    let (rows, ip) = listing(
        &g.aws_choices(),
        &file,
        path.as_deref(),
        args.all_regions,
        &filters,
    )
    .await?;
    if args.json {
        print_json(&rows, ip.as_ref());
    } else {
        print_table(&rows, args.all_regions);
    }
    Ok(Outcome::Success)
}

fn print_table(rows: &[Listed], with_region: bool) {
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
fn print_json(rows: &[Listed], ip: Option<&Result<IpAddr, ProbeError>>) {
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
