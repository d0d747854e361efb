//! What the front ends that connect share (the session, `cp`, `proxy`, `tunnel`): their
//! flags merged into a target's settings, the SSH login over a route (`login`), the log
//! entry of one attempt (`attempt`), `-N`'s forwards kept up across tunnels (`forwards`).

pub mod attempt;
pub mod forwards;
pub mod login;

use crate::cli::{ConnectArgs, Globals, HostKeyArgs};
use crate::config::file::Loaded;
use crate::error::Failure;
use crate::route::{self, Flags, Learned, Settings};
use crate::target::Target;

/// The settings for `target` from the config file the command read and its flags, merged
/// once (`user@` wins over `-l`, as in OpenSSH); notes in `learned` whether attempts are
/// logged.
pub fn settings_for(
    target: &Target,
    g: &Globals,
    connect: &ConnectArgs,
    keys: Option<&HostKeyArgs>,
    port: Option<u16>,
    config: &Loaded,
    learned: &mut Learned,
) -> Result<Settings, Failure> {
    let flags = Flags {
        profile: g.profile.clone(),
        region: g.region.clone(),
        user: target.user.clone().or_else(|| connect.user.clone()),
        endpoint_id: connect.endpoint_id.clone(),
        endpoint_dns_name: connect.endpoint_dns_name.clone(),
        private_ip: connect.private_ip,
        max_tunnel_duration: connect.max_tunnel_duration,
        port,
        host_key_alias: keys.and_then(|k| k.host_key_alias.clone()),
        known_hosts: keys.and_then(|k| k.known_hosts.clone()),
        tunnel_endpoint_url: connect.tunnel_endpoint_url.clone(),
        no_cache: connect.no_cache,
        quota_wait: connect.quota_wait,
    };
    let settings =
        route::settings::for_target(&config.file, config.path.as_deref(), &target.name, &flags);
    // `log = false` holds for an attempt whose flags the merge refused, too.
    learned.log_off = !settings
        .as_ref()
        .map_or_else(|_| route::settings::log_on(&config.file), |s| s.log);
    let settings = settings?;
    for overridden in &settings.overridden {
        tracing::info!("{overridden}");
    }
    Ok(settings)
}
