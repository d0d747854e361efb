//! `eic-ssh config check` and `config aliases`: validate the config file, show what it means
//! for a target, list its aliases.

use crate::cli::{ConfigCheckArgs, Globals};
use crate::config;
use crate::error::{Failure, Outcome};
use crate::route::origin::Origin;
use crate::route::{self, Flags, Settings};

/// Other sections naming the same instance shown per section when every section is
/// listed: each is listed in full under its own name, and 2,000 sections naming one
/// instance must not print 2,000 × 2,000 lines.
const ALSO_SHOWN: usize = 5;

/// Prints the effective settings; any config error is the usual one-line failure (exit 2),
/// and with `--json` also a `"valid": false` report on stdout.
pub async fn run(args: ConfigCheckArgs, g: &Globals) -> Result<Outcome, Failure> {
    let located = config::file::locate(g.config.as_deref()).map(|(p, _)| p);
    let mut checked = load_and_resolve(&args, g);
    if let Ok((_, hosts)) = &mut checked {
        for (eff, _) in hosts.iter_mut() {
            from_aws_profile(eff).await;
        }
    }
    if args.json {
        let report = match &checked {
            Ok((path, hosts)) => serde_json::json!({
                "config_file": path,
                "valid": true,
                "hosts": hosts.iter().map(|(eff, omitted)| {
                    let mut json = eff.to_json();
                    json["also_allow_omitted"] = (*omitted).into();
                    json
                }).collect::<Vec<_>>(),
            }),
            Err(f) => serde_json::json!({
                "config_file": located,
                "valid": false,
                "error": f.message,
            }),
        };
        println!(
            "{}",
            serde_json::to_string_pretty(&report).unwrap_or_default()
        );
    }
    let (path, hosts) = checked?;
    if args.json {
        return Ok(Outcome::Success);
    }
    let shown = path
        .as_ref()
        .map_or("no config file (defaults only)".to_string(), |p| {
            format!("{} is valid", p.display())
        });
    println!("{shown}");
    for (eff, omitted) in &hosts {
        println!();
        print!("{}", eff.describe());
        if *omitted > 0 {
            println!(
                "also allow:      … and {omitted} more sections naming the same instance (`eic-ssh config check {}` lists them all)",
                eff.target
            );
        }
    }
    Ok(Outcome::Success)
}

/// Where the config and the environment name no region: the region the selected profile
/// sets, read from `~/.aws/config` (no network call; a region from the instance metadata
/// service is not looked up), else `default` (none found).
async fn from_aws_profile(eff: &mut Settings) {
    if eff.origins.get("region").is_none() {
        region_from_profile(eff).await;
    }
    if eff.origins.get("region").is_none() {
        eff.origins.insert("region", Origin::Default);
    }
}

/// The region the selected AWS profile sets, if any, recorded as its origin.
async fn region_from_profile(eff: &mut Settings) {
    if crate::aws::profile_file::check_files().is_err() {
        return;
    }
    let name = eff
        .aws_value("profile")
        .unwrap_or_else(|| "default".to_string());
    if let Ok(Some(profile)) = crate::aws::profile_file::selected(eff.profile.as_deref()).await
        && let Some(region) = profile.get("region")
    {
        let value = region.to_string();
        eff.origins
            .insert("region", Origin::AwsProfile { name, value });
    }
}

/// The settings for one target, and how many other sections naming its instance were left
/// out of them for the report.
type Shown = (Settings, usize);

/// The file, then the settings for the target or for every `[hosts]` section (then with at
/// most [`ALSO_SHOWN`] other sections each).
fn load_and_resolve(
    args: &ConfigCheckArgs,
    g: &Globals,
) -> Result<(Option<std::path::PathBuf>, Vec<Shown>), Failure> {
    let (file, path) = config::file::load(g.config.as_deref())?;
    let targets: Vec<String> = match &args.target {
        Some(t) => vec![t.clone()],
        None => file.hosts.keys().cloned().collect(),
    };
    let flags = Flags::aws(g.profile.clone(), g.region.clone());
    let hosts = targets
        .iter()
        .map(|t| {
            let mut eff = route::settings::for_target(&file, path.as_deref(), t, &flags)?;
            let keep = if args.target.is_some() {
                usize::MAX
            } else {
                ALSO_SHOWN
            };
            let omitted = eff.also_allow.len().saturating_sub(keep);
            eff.also_allow.truncate(keep);
            Ok((eff, omitted))
        })
        .collect::<Result<Vec<_>, Failure>>()?;
    Ok((path, hosts))
}

/// Prints each `[hosts]` alias on a line, in the file's sorted order.
pub fn aliases(g: &Globals) -> Result<Outcome, Failure> {
    let (file, _) = config::file::load(g.config.as_deref())?;
    for alias in file.hosts.keys() {
        println!("{alias}");
    }
    Ok(Outcome::Success)
}
