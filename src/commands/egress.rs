//! `eic-ssh egress`: the detected egress IP, the allowlist that applies, and the verdict.

use std::net::IpAddr;

use crate::cli::{EgressArgs, Globals};
use crate::config;
use crate::error::{Failure, Outcome};
use crate::guard::{Verdict, current_ip, decide, probe::ProbeError};
use crate::net;
use crate::route::{self, Flags, Settings};

/// Prints the verdict; exit 0 when allowed (or no allowlist), 3 when refused.
pub async fn run(args: EgressArgs, g: &Globals) -> Result<Outcome, Failure> {
    let (file, path) = config::file::load(g.config.as_deref())?;
    let eff = match &args.target {
        Some(target) => {
            route::settings::for_target(&file, path.as_deref(), target, &Flags::default())?
        }
        None => route::settings::defaults(&file, path.as_deref())?,
    };
    let http = net::http_client(&net::client_config()?)?;
    let ip = current_ip(&http, &eff.egress_urls).await;
    let verdict = decide(&eff, ip.as_ref().copied(), None);
    if args.json {
        print_json(&args, &eff, &ip, &verdict);
    } else {
        print_text(&eff, &ip, &verdict);
    }
    verdict.gate().map(|()| Outcome::Success)
}

fn print_text(eff: &Settings, ip: &Result<IpAddr, ProbeError>, verdict: &Verdict) {
    match ip {
        Ok(ip) => println!("egress IP:  {ip} (from {})", eff.egress_urls.join(", ")),
        Err(e) => println!("egress IP:  unknown ({e})"),
    }
    if eff.opted_out {
        println!(
            "allowlist:  none for {}: egress_check = false in {}",
            eff.label(),
            eff.config_hint()
        );
    } else if eff.allow.is_empty() {
        println!("allowlist:  none for {}", eff.label());
    } else {
        println!(
            "allowlist:  {} (from {} in {})",
            eff.allow_list(),
            eff.allow_source.as_deref().unwrap_or("?"),
            eff.config_hint()
        );
    }
    for (source, list) in &eff.also_allow {
        let list: Vec<String> = list.iter().map(ToString::to_string).collect();
        println!(
            "and:        {} (from [{source}], which names the same instance)",
            list.join(", ")
        );
    }
    if eff.allow_from_security_group {
        println!(
            "            plus what the instance's security group admits (checked when connecting; see `eic-ssh doctor`)"
        );
    }
    println!("verdict:    {}", verdict.sentence());
}

/// The documented JSON report (docs/commands.md).
fn print_json(
    args: &EgressArgs,
    eff: &Settings,
    ip: &Result<IpAddr, ProbeError>,
    verdict: &Verdict,
) {
    let settings = eff.to_json();
    let report = serde_json::json!({
        "target": args.target,
        "egress_ip": ip.as_ref().ok(),
        "egress_ip_error": ip.as_ref().err().map(ToString::to_string),
        "egress_check_urls": eff.egress_urls,
        "egress_check": !eff.opted_out,
        "allow": settings["allow"],
        "allow_source": eff.allow_source,
        "also_allow": settings["also_allow"],
        "allow_from_security_group": eff.allow_from_security_group,
        "config_file": eff.config_path,
        "verdict": verdict.word(),
        "reason": match verdict {
            Verdict::Refused { reason, .. } => Some(reason.clone()),
            _ => None,
        },
    });
    println!(
        "{}",
        serde_json::to_string_pretty(&report).unwrap_or_default()
    );
}
