//! `eic-ssh inventory`: an Ansible dynamic inventory of the running instances an endpoint
//! serves (`list`'s rows and verdicts), each reached through `eic-ssh proxy` with the
//! ProxyCommand `ssh-config` writes; the JSON itself is `fleet::ansible`'s.

use std::path::Path;

use crate::cli::{Globals, InventoryArgs};
use crate::config;
use crate::error::{Failure, Outcome};
use crate::fleet::ansible::{self, AnsibleHost};
use crate::fleet::listing::{self, Listed, parse_filters};
use crate::openssh::blocks::{self, Block, Common, is_host_name};
use crate::openssh::proxy_flags;
use crate::printable::escape;

/// Prints the inventory (`--list`) or one host's variables (`--host`); exit 0.
pub async fn run(args: InventoryArgs, g: &Globals) -> Result<Outcome, Failure> {
    if !args.list && args.host.is_none() {
        return Err(Failure::usage(
            "say what Ansible asks for: --list (every group and host) or --host HOST",
        ));
    }
    let (file, path) = config::file::load(g.config.as_deref())?;
    let mut filters = parse_filters(&args.filter)?;
    filters.push(("instance-state-name".into(), vec!["running".into()]));
    let common = Common::new(args.identity.as_deref(), !args.no_multiplex)?;
    let (rows, _) =
        listing::listing(&g.aws_choices(), &file, path.as_deref(), false, &filters).await?;
    let mut hosts = Vec::new();
    for row in rows {
        if let Some(host) = host(&args, g, &file, path.as_deref(), &common, row)? {
            hosts.push(host);
        }
    }
    let out = match &args.host {
        Some(name) => hosts
            .iter()
            .find(|h| &h.name == name || &h.instance_id == name)
            .map_or_else(|| serde_json::json!({}), ansible::hostvars),
        None => ansible::list(&hosts),
    };
    println!("{}", serde_json::to_string_pretty(&out).unwrap_or_default());
    Ok(Outcome::Success)
}

/// The inventory's host for one row; `None` (said on stderr) when no endpoint serves it or
/// its ProxyCommand cannot be written safely.
fn host(
    args: &InventoryArgs,
    g: &Globals,
    file: &config::ConfigFile,
    path: Option<&Path>,
    common: &Common,
    row: Listed,
) -> Result<Option<AnsibleHost>, Failure> {
    let entry = &row.entry;
    let id = entry.instance.id.clone();
    let endpoint = match &entry.endpoint {
        Ok(e) => e.id.clone(),
        Err(why) => {
            eprintln!("eic-ssh: skipped {id}: {}", escape(why));
            return Ok(None);
        }
    };
    let name = entry
        .usable_name()
        .filter(|n| is_host_name(n))
        .map_or_else(|| id.clone(), str::to_string);
    let user = args
        .user
        .clone()
        .or_else(|| listing::instance_settings(file, path, entry).and_then(|eff| eff.user));
    let block = Block {
        names: vec![name.clone()],
        target: id.clone(),
        user: user.clone(),
        host_key_alias: None,
        known_hosts: None,
        proxy_flags: proxy_flags(
            g.config.as_deref(),
            path,
            row.profile.as_deref(),
            Some(&row.region),
        )?,
        origin: String::new(),
    };
    let ssh_args = match ssh_args(&block, common) {
        Ok(a) => a,
        Err(why) => {
            eprintln!("eic-ssh: skipped {id}: {}", escape(&why));
            return Ok(None);
        }
    };
    let refused = (row.guard == "refused").then(|| row.guard_reason.clone().unwrap_or_default());
    Ok(Some(AnsibleHost {
        name,
        instance_id: id,
        tags: entry.instance.tags.clone(),
        endpoint,
        availability_zone: entry.instance.availability_zone.clone(),
        region: row.region,
        user,
        ssh_args,
        refused,
    }))
}

/// `ansible_ssh_common_args`: the `-o` options of an `ssh-config` block (ProxyCommand, key,
/// keepalive, connection sharing), each one word for Ansible's shell-style split.
fn ssh_args(block: &Block, common: &Common) -> Result<String, blocks::Problem> {
    let mut options = vec![
        format!("ProxyCommand={}", blocks::proxy_command(block, common)?),
        format!(
            "IdentityFile={}",
            blocks::option_path(&common.identity, "key")?
        ),
        "IdentitiesOnly=yes".to_string(),
        "ServerAliveInterval=30".to_string(),
    ];
    if let Some(dir) = &common.control_dir {
        let path = blocks::option_path(&dir.join("eic-ssh-%C"), "ControlPath")?;
        options.extend([
            "ControlMaster=auto".to_string(),
            format!("ControlPath={}", path.replace("%%C", "%C")),
            "ControlPersist=10m".to_string(),
        ]);
    }
    Ok(options
        .iter()
        .map(|o| format!("-o '{}'", o.replace('\'', r"'\''")))
        .collect::<Vec<_>>()
        .join(" "))
}
