//! `eic-ssh config check` and `config aliases`: validate the config file, show what it means
//! for a target, list its aliases.

use crate::cli::{ConfigAliasesArgs, ConfigCheckArgs};
use crate::config::{self, Effective, Overrides};
use crate::error::Failure;

/// Prints the effective settings; any config error is the usual one-line failure (exit 2),
/// and with `--json` also a `"valid": false` report on stdout.
pub fn run(args: ConfigCheckArgs) -> Result<i32, Failure> {
    let located = config::file::locate(args.config.config.as_deref()).map(|(p, _)| p);
    let checked = load_and_resolve(&args);
    if args.json {
        let report = match &checked {
            Ok((path, hosts)) => serde_json::json!({
                "config_file": path,
                "valid": true,
                "hosts": hosts.iter().map(Effective::to_json).collect::<Vec<_>>(),
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
        return Ok(0);
    }
    let shown = path
        .as_ref()
        .map_or("no config file (defaults only)".to_string(), |p| {
            format!("{} is valid", p.display())
        });
    println!("{shown}");
    for eff in hosts {
        println!();
        print!("{}", eff.describe());
    }
    Ok(0)
}

/// The file, then the settings for the target or for every `[hosts]` section.
fn load_and_resolve(
    args: &ConfigCheckArgs,
) -> Result<(Option<std::path::PathBuf>, Vec<Effective>), Failure> {
    let (file, path) = config::file::load(args.config.config.as_deref())?;
    let targets: Vec<String> = match &args.target {
        Some(t) => vec![t.clone()],
        None => file.hosts.keys().cloned().collect(),
    };
    let hosts = targets
        .iter()
        .map(|t| config::resolve(&file, path.as_deref(), t, &Overrides::default()))
        .collect::<Result<Vec<_>, _>>()?;
    Ok((path, hosts))
}

/// Prints each `[hosts]` alias on a line, in the file's sorted order.
pub fn aliases(args: &ConfigAliasesArgs) -> Result<i32, Failure> {
    let (file, _) = config::file::load(args.config.config.as_deref())?;
    for alias in file.hosts.keys() {
        println!("{alias}");
    }
    Ok(0)
}
