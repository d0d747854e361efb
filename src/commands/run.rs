//! `eic-ssh run [OPTIONS] [TARGET…] -- COMMAND…`: checks the flags, reads the config file
//! and stdin (`--stdin`), then hands the run to `fleet`.

use std::io::Read;

use crate::cli::{Globals, RunArgs};
use crate::config::file::Loaded;
use crate::error::{Failure, Outcome};
use crate::fleet::listing::parse_filters;
use crate::fleet::{self, output::Mode};
use crate::route::Flags;
use crate::ssh::host_keys::Policy;

/// The most stdin `--stdin` sends (it is held in memory and sent to every host).
const STDIN_LIMIT: u64 = 16 << 20;

/// Runs the command on every host; the exit status says what failed (docs/commands.md).
pub async fn run(args: RunArgs, g: &Globals) -> Result<Outcome, Failure> {
    let parallel = count("--parallel", &args.parallel, 1, 1000, "hosts in flight")?;
    let per_endpoint = count(
        "--per-endpoint",
        &args.per_endpoint,
        1,
        20,
        "an endpoint admits 20 concurrent connections",
    )?;
    if args.command.is_empty() {
        return Err(Failure::usage(
            "no command: eic-ssh run [OPTIONS] TARGET… -- COMMAND…",
        ));
    }
    if args.targets.is_empty() && args.filter.is_empty() {
        return Err(Failure::usage(
            "no hosts: name targets (aliases, instance ids, Name tags, 'web-*') or --filter NAME=VALUE",
        ));
    }
    let c = &args.connect;
    if c.push_key.is_some()
        || c.private_ip.is_some()
        || c.endpoint_id.is_some()
        || c.endpoint_dns_name.is_some()
    {
        return Err(Failure::usage(
            "--push-key, --private-ip, --endpoint-id and --endpoint-dns-name name one instance's route; run finds each host's and pushes its own key",
        ));
    }
    if args.host_keys.host_key_from_console {
        return Err(Failure::usage(
            "--host-key-from-console is for one instance: record the fleet's keys first (eic-ssh TARGET true), or use --host-key-check accept-new",
        ));
    }
    let policy = match args.host_keys.host_key_check {
        None | Some(Policy::Strict) => Policy::Strict,
        Some(Policy::Ask) => {
            return Err(Failure::usage(
                "--host-key-check ask would prompt for many hosts at once: use strict (the default) or accept-new",
            ));
        }
        Some(other) => other,
    };
    let filters = parse_filters(&args.filter)?;
    let mode = match (&args.out_dir, args.json) {
        (Some(dir), _) => {
            fleet::output::check_out_dir(dir)?;
            Mode::Dir(dir.clone())
        }
        (None, true) => Mode::Json,
        (None, false) => Mode::Lines { width: 0 },
    };
    if let Some(spec) = &args.max_errors {
        // Checked now for its form; the share is of the hosts found.
        fleet::select::max_errors(spec, 100)?;
    }
    let config = Loaded::read(g.config.as_deref())?;
    let stdin = if args.stdin && !args.dry_run {
        let mut bytes = Vec::new();
        std::io::stdin()
            .take(STDIN_LIMIT + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| Failure::usage(format!("--stdin: cannot read stdin: {e}")))?;
        if bytes.len() as u64 > STDIN_LIMIT {
            return Err(Failure::usage(
                "--stdin: more than 16 MiB; copy large input with `eic-ssh cp` first",
            ));
        }
        Some(bytes)
    } else {
        None
    };
    let request = fleet::Request {
        targets: args.targets,
        filters,
        command: args.command.join(" "),
        dry_run: args.dry_run,
        parallel,
        per_endpoint,
        mode,
        timeout: args.timeout.map(std::time::Duration::from_secs),
        max_errors: args.max_errors,
        stdin,
        flags: Flags {
            profile: g.profile.clone(),
            region: g.region.clone(),
            user: c.user.clone(),
            endpoint_id: None,
            endpoint_dns_name: None,
            private_ip: None,
            max_tunnel_duration: c.max_tunnel_duration,
            port: None,
            host_key_alias: args.host_keys.host_key_alias.clone(),
            known_hosts: args.host_keys.known_hosts.clone(),
            tunnel_endpoint_url: c.tunnel_endpoint_url.clone(),
            no_cache: c.no_cache,
            quota_wait: c.quota_wait,
        },
        policy,
        timing: crate::connect::login::timing(&args.host_keys),
        log_off: !crate::route::settings::log_on(&config.file),
        // Not under -v (log lines would cut into it) nor -q (only errors).
        progress: crate::local::terminal::stderr_is_tty()
            && tracing::enabled!(tracing::Level::WARN)
            && !tracing::enabled!(tracing::Level::INFO),
    };
    fleet::run(request, &config.file, config.path.as_deref()).await
}

/// A count flag in `low..=high`, or one line saying what it may be.
fn count(flag: &str, text: &str, low: usize, high: usize, why: &str) -> Result<usize, Failure> {
    match text.parse::<usize>() {
        Ok(n) if (low..=high).contains(&n) => Ok(n),
        _ => Err(Failure::usage(format!(
            "{flag} {}: expected {low} to {high} ({why})",
            crate::printable::escape(text)
        ))),
    }
}
