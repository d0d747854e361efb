//! `eic-ssh ssh-config`: ~/.ssh/config blocks that send plain ssh, scp, rsync, git and IDEs
//! through `eic-ssh proxy`, printed or kept in a file of their own.

pub mod tag_names;

use std::path::Path;

use crate::cli::{Globals, SshConfigArgs};
use crate::config::{self, ConfigFile};
use crate::error::{Failure, Kind, Outcome};
use crate::fleet::listing::{listing, parse_filters};
use crate::local::files;
use crate::local::paths::expand_tilde;
use crate::openssh::blocks::{self, Block, Common, HEADER, is_host_name};
use crate::openssh::{absolute, proxy_flags};
use crate::printable::escape;
use crate::route::origin::Origin;
use crate::route::{self, Flags};

/// Prints the blocks, or writes them with `--write`; exit 0 (blocks that cannot be
/// written safely are left out with a warning).
pub async fn run(args: SshConfigArgs, g: &Globals) -> Result<Outcome, Failure> {
    let (file, path) = config::file::load(g.config.as_deref())?;
    let common = Common::new(args.identity.as_deref(), !args.no_multiplex)?;
    let (mut blocks, notes) = alias_blocks(g, &file, path.as_deref())?;
    if args.discover {
        blocks.extend(discovered_blocks(&args, g, &file, path.as_deref()).await?);
    }
    let (text, problems) = blocks::render(&blocks, &common).map_err(Failure::usage)?;
    for problem in &problems {
        eprintln!("eic-ssh: warning: left out {problem}");
    }
    match &args.write {
        None => print!("{text}"),
        Some(dest) => write(&expand_tilde(dest), &text, blocks.len() - problems.len())?,
    }
    for note in notes {
        eprintln!("eic-ssh: note: {note}");
    }
    Ok(Outcome::Success)
}

/// One block per `[hosts.ALIAS]`, the proxy given the alias so its section applies; and a
/// note per AWS variable of this environment that some of them follow at each ssh run.
fn alias_blocks(
    g: &Globals,
    file: &ConfigFile,
    path: Option<&Path>,
) -> Result<(Vec<Block>, Vec<String>), Failure> {
    let flags = proxy_flags(
        g.config.as_deref(),
        path,
        g.profile.as_deref(),
        g.region.as_deref(),
    )?;
    let shown = path.map_or_else(String::new, |p| format!(" in {}", p.display()));
    let mut out = Vec::new();
    let mut follow_env: Vec<(&str, String, Vec<&str>)> = Vec::new();
    for (alias, host) in &file.hosts {
        let eff = route::settings::for_target(file, path, alias, &Flags::default())?;
        for key in ["profile", "region"] {
            if let Some(Origin::Env { var, value }) = eff.origins.get(key) {
                match follow_env.iter_mut().find(|(v, _, _)| v == var) {
                    Some((_, _, aliases)) => aliases.push(alias),
                    None => follow_env.push((var, value.clone(), vec![alias])),
                }
            }
        }
        let id = host.instance.as_ref().map(|i| i.0.clone());
        out.push(Block {
            names: vec![alias.clone()],
            target: alias.clone(),
            user: eff.user,
            host_key_alias: host.host_key_alias.clone().or(id),
            known_hosts: host
                .known_hosts
                .as_deref()
                .map(|p| absolute(&expand_tilde(p))),
            proxy_flags: flags.clone(),
            origin: format!("[hosts.{alias}]{shown}"),
        });
    }
    let pinned = |var: &str| match var {
        "AWS_PROFILE" => g.profile.is_some(),
        _ => g.region.is_some(),
    };
    let mut notes = Vec::new();
    for (var, value, aliases) in follow_env.iter().filter(|(v, _, _)| !pinned(v)) {
        let key = if *var == "AWS_PROFILE" {
            "profile"
        } else {
            "region"
        };
        notes.push(format!(
            "{var}={} is not written into the blocks: {} follow{} the {var} of each ssh run (set `{key}` in a section, or pass --{key}, to pin one)",
            escape(value),
            listed(aliases),
            if aliases.len() == 1 { "s" } else { "" },
        ));
    }
    Ok((out, notes))
}

/// `[hosts.a]`, `[hosts.b] and 3 more`.
fn listed(aliases: &[&str]) -> String {
    const SHOWN: usize = 3;
    let mut text = aliases
        .iter()
        .take(SHOWN)
        .map(|a| format!("[hosts.{}]", escape(a)))
        .collect::<Vec<_>>()
        .join(", ");
    if aliases.len() > SHOWN {
        text.push_str(&format!(" and {} more", aliases.len() - SHOWN));
    }
    text
}

/// One block per running instance an endpoint serves, named by its Name tag (when that is
/// a plain, unique name no alias uses and no real host has: see `tag_names`) and its id.
async fn discovered_blocks(
    args: &SshConfigArgs,
    g: &Globals,
    file: &ConfigFile,
    path: Option<&Path>,
) -> Result<Vec<Block>, Failure> {
    let defaults = route::settings::defaults(file, path)?;
    let mut filters = parse_filters(&args.filter)?;
    filters.push(("instance-state-name".into(), vec!["running".into()]));
    // `list`'s rows: the same lookups, and what the guard would say from here now.
    let (rows, _) = listing(&g.aws_choices(), file, path, false, &filters).await?;
    let user = args.user.clone().or(defaults.user);
    let mut out = Vec::new();
    let mut refused = 0;
    for row in rows {
        let entry = row.entry;
        // An instance id means something in one account and region: the block names the
        // ones it was found in, whatever said so (flag, environment or `[defaults]`).
        let flags = proxy_flags(
            g.config.as_deref(),
            path,
            row.profile.as_deref(),
            Some(&row.region),
        )?;
        let endpoint = match &entry.endpoint {
            Ok(e) => e,
            Err(why) => {
                eprintln!("eic-ssh: skipped {}: {}", entry.instance.id, escape(why));
                continue;
            }
        };
        let instance = &entry.instance;
        let mut names = Vec::new();
        match (&instance.name, entry.name_problem, entry.usable_name()) {
            (Some(name), Some(problem), _) => eprintln!(
                "eic-ssh: warning: {} is named by id only: its Name {} {}",
                instance.id,
                escape(name),
                problem.reason()
            ),
            (_, _, Some(name)) if file.hosts.contains_key(name) => tracing::info!(
                "{} is a config alias: {} is named by id only",
                escape(name),
                instance.id
            ),
            (_, _, Some(name)) if is_host_name(name) => {
                match tag_names::refusal(name, args.allow_dotted_names) {
                    None => names.push(name.to_string()),
                    Some(refusal) => eprintln!(
                        "eic-ssh: warning: {} is named by id only: its Name {} {}",
                        instance.id,
                        escape(name),
                        refusal.reason()
                    ),
                }
            }
            (Some(name), _, _) => eprintln!(
                "eic-ssh: {} is named by id only: its Name {} is not a plain host name",
                instance.id,
                escape(name)
            ),
            (None, _, _) => {}
        }
        names.push(instance.id.clone());
        if row.guard == "refused" {
            refused += 1;
            let reason = row.guard_reason.as_deref().unwrap_or_default();
            let reason = reason
                .strip_prefix("refusing to connect: ")
                .unwrap_or(reason);
            eprintln!(
                "eic-ssh: note: from this network the guard refuses {}: {}",
                instance.id,
                escape(reason)
            );
        }
        out.push(Block {
            names,
            target: instance.id.clone(),
            user: user.clone(),
            host_key_alias: Some(instance.id.clone()),
            known_hosts: None,
            proxy_flags: flags,
            origin: format!("{} in {} via {}", instance.id, row.region, endpoint.id),
        });
    }
    if refused > 0 {
        eprintln!(
            "eic-ssh: note: the blocks are written all the same; each ssh through them asks the guard again, and is refused until you connect from an allowed network"
        );
    }
    Ok(out)
}

/// Replaces `dest` atomically, but only a file this command wrote before; then says how to
/// include it.
/// The largest existing `--write` target read back (16 MiB; ours are a few KiB).
const MAX_SSH_CONFIG: u64 = 16 << 20;

fn write(dest: &Path, text: &str, hosts: usize) -> Result<(), Failure> {
    let shown = dest.display();
    let failed =
        |e: std::io::Error| Failure::new(Kind::Other, format!("cannot write {shown}: {e}"));
    if let Some(dir) = dest.parent().filter(|d| !d.as_os_str().is_empty()) {
        crate::local::private::create_dir_all(dir).map_err(failed)?;
    }
    // What is there must be a regular file of sane size (a FIFO would hang the read, a
    // device would be replaced): the file eic-ssh wrote, or nothing.
    let old = match files::read_limited(dest, MAX_SSH_CONFIG) {
        Ok(old) => Some(old),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => {
            return Err(Failure::usage(format!(
                "cannot use {shown} as the --write target: {e}; pass --write with a regular file"
            )));
        }
    };
    match old {
        Some(old) if old == text.as_bytes() => println!("{shown} is up to date ({hosts} hosts)"),
        Some(old) if !old.starts_with(HEADER.as_bytes()) => {
            return Err(Failure::usage(format!(
                "{shown} exists and was not written by eic-ssh: move it away, or pass --write OTHER_FILE"
            )));
        }
        Some(_) | None => {
            files::replace(dest, text.as_bytes(), 0o600).map_err(failed)?;
            println!("wrote {hosts} hosts to {shown}");
        }
    }
    let ssh_config = expand_tilde(Path::new("~/.ssh/config"));
    if includes(&ssh_config, dest) {
        println!("{} includes it already", ssh_config.display());
    } else {
        println!(
            "add this line to {}, above any Host or Match line:\n    Include {shown}",
            ssh_config.display()
        );
    }
    Ok(())
}

/// Whether `config` has an `Include` line naming `file` (by its path, `~/` form or name).
fn includes(config: &Path, file: &Path) -> bool {
    // A FIFO or a device at ~/.ssh/config must not hang or flood us.
    let Ok(text) = files::read_limited_text(config, 16 << 20) else {
        return false;
    };
    let name = file.file_name().map(|n| n.to_string_lossy().into_owned());
    // An Include under a Host or Match line applies only to that block: it does not count.
    let top_level = text.lines().take_while(|line| {
        let first = line.split_whitespace().next().unwrap_or_default();
        !first.eq_ignore_ascii_case("host") && !first.eq_ignore_ascii_case("match")
    });
    top_level.into_iter().any(|line| {
        let mut words = line.split_whitespace();
        let is_include = words
            .next()
            .is_some_and(|w| w.eq_ignore_ascii_case("include"));
        is_include
            && words.any(|w| {
                let w = w.trim_matches('"');
                expand_tilde(Path::new(w)) == file
                    || (!w.contains('/') && name.as_deref() == Some(w))
            })
    })
}
