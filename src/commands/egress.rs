//! `eic-ssh egress`: the detected egress IP, the allowlist that applies, and the verdict.

use crate::cli::EgressArgs;
use crate::config::{self, Overrides};
use crate::error::Failure;
use crate::guard::{Early, current_ip, judge};
use crate::net;

/// Prints the verdict; exit 0 when allowed (or no allowlist), 3 when refused.
pub async fn run(args: EgressArgs) -> Result<i32, Failure> {
    let (file, path) = config::file::load(args.config.config.as_deref())?;
    let eff = match &args.target {
        Some(target) => config::resolve(&file, path.as_deref(), target, &Overrides::default())?,
        None => config::resolve_defaults(&file, path.as_deref())?,
    };
    let http = net::http_client(&net::client_config()?)?;
    let ip = current_ip(&http, &eff.egress_urls).await;
    match &ip {
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
    let verdict = judge(&eff, ip.as_ref().copied()).map(|early| match early {
        Early::Unchecked => "no check: every network may connect",
        Early::Allowed(_) => "allowed",
        Early::AskSecurityGroup(_) => {
            "not in the static allowlist; the security group decides when connecting"
        }
    });
    match verdict {
        Ok(v) => {
            println!("verdict:    {v}");
            Ok(0)
        }
        Err(f) => {
            println!("verdict:    refused");
            Err(f)
        }
    }
}
