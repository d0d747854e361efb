//! `eic-ssh egress`: the detected egress IP (each family's, when the machine has both), the
//! allowlist that applies, and the verdict.

use std::net::IpAddr;

use crate::cli::{EgressArgs, Globals};
use crate::config;
use crate::error::{Failure, Outcome};
use crate::family::Family;
use crate::guard::{Path, Verdict, current_ip_over, decide, probe::ProbeError};
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
    let tls = net::client_config()?;
    let preferred = Family::preferred()?;
    let path = route::road::guard_path(&eff, preferred)?;
    let ip = current_ip_over(&tls, &eff.egress_urls, &path).await;
    let verdict = decide(&eff.policy(), ip.as_ref().copied(), None);
    // Straight out, the other family is checked too: shown when this machine has it.
    let other = match &path {
        Path::Direct(family) => {
            let other = Path::Direct(family.other());
            let family = *family;
            match current_ip_over(&tls, &eff.egress_urls, &other).await {
                Ok(ip) => Some((family.other(), ip, decide(&eff.policy(), Ok(ip), None))),
                Err(e) => {
                    tracing::debug!("no egress over {}: {e}", family.other());
                    None
                }
            }
        }
        Path::Proxy(_) => None,
    };
    let other = other.as_ref().map(|(f, ip, v)| (*f, *ip, v));
    if args.json {
        print_json(&args, &eff, &path, &ip, &verdict, other);
    } else {
        print_text(&eff, &path, &ip, &verdict, other);
    }
    verdict.gate().map(|()| Outcome::Success)
}

/// `over IPv4` (direct), or `via proxy.corp:3128 (HTTPS_PROXY)`.
fn how(path: &Path) -> String {
    match path {
        Path::Direct(family) => format!("over {family}"),
        Path::Proxy(proxy) => format!("via {proxy} ({})", proxy.variable),
    }
}

fn print_text(
    eff: &Settings,
    path: &Path,
    ip: &Result<IpAddr, ProbeError>,
    verdict: &Verdict,
    other: Option<(Family, IpAddr, &Verdict)>,
) {
    match ip {
        Ok(ip) => println!(
            "egress IP:  {ip} {} (from {})",
            how(path),
            eff.egress_urls.join(", ")
        ),
        Err(e) => println!("egress IP:  unknown {} ({e})", how(path)),
    }
    if let Some((family, ip, _)) = other {
        println!("egress IP:  {ip} over {family}");
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
    match other {
        None => println!("verdict:    {}", verdict.sentence()),
        Some((family, _, other)) => {
            println!("verdict:    {}: {}", how(path), verdict.sentence());
            println!("verdict:    over {family}: {}", other.sentence());
        }
    }
}

/// The documented JSON report (docs/commands.md).
fn print_json(
    args: &EgressArgs,
    eff: &Settings,
    path: &Path,
    ip: &Result<IpAddr, ProbeError>,
    verdict: &Verdict,
    other: Option<(Family, IpAddr, &Verdict)>,
) {
    let settings = eff.to_json();
    let mut families = Vec::new();
    if let (Some(family), Ok(ip)) = (path.family(), ip) {
        families.push(
            serde_json::json!({"family": family, "egress_ip": ip, "verdict": verdict.word()}),
        );
    }
    if let Some((family, ip, v)) = other {
        families.push(serde_json::json!({"family": family, "egress_ip": ip, "verdict": v.word(),
            "reason": match v { Verdict::Refused { reason, .. } => Some(reason.clone()), _ => None }}));
    }
    let report = serde_json::json!({
        "target": args.target,
        "family": path.family(),
        "families": families,
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
