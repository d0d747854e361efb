//! `eic-ssh config check`: validate the config file and show what it means for a target.

use crate::cli::ConfigCheckArgs;
use crate::config::{self, Overrides};
use crate::error::Failure;

/// Prints the effective settings; any config error is the usual one-line failure (exit 2).
pub fn run(args: ConfigCheckArgs) -> Result<i32, Failure> {
    let (file, path) = config::file::load(args.config.config.as_deref())?;
    let shown = path
        .as_ref()
        .map_or("no config file (defaults only)".to_string(), |p| {
            format!("{} is valid", p.display())
        });
    println!("{shown}");
    let targets: Vec<String> = match args.target {
        Some(t) => vec![t],
        None => file.hosts.keys().cloned().collect(),
    };
    for target in targets {
        let eff = config::resolve(&file, path.as_deref(), &target, &Overrides::default())?;
        println!();
        print!("{}", eff.describe());
    }
    Ok(0)
}
