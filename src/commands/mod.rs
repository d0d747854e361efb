//! One module per subcommand, each wiring the pipeline for its front end.

pub mod attempt;
pub mod audit;
pub mod completions;
pub mod config_check;
pub mod config_init;
pub mod cp;
pub mod doctor;
pub mod egress;
pub mod forwards;
pub mod inventory;
pub mod list;
pub mod log;
pub mod login;
pub mod man;
pub mod pick;
pub mod proxy;
pub mod run;
pub mod session;
pub mod ssh_config;
pub mod tunnel;

use crate::cli::{Cli, Command, ConfigCommand, ConnectArgs, Globals, HostKeyArgs, Lazy};
use crate::config::file::Loaded;
use crate::error::{Failure, Outcome};
use crate::route::{self, Flags, Learned, Settings};
use crate::target::Target;

/// Runs the parsed command to its outcome.
pub async fn run(cli: Cli) -> Result<Outcome, Failure> {
    let g = &cli.globals;
    let checked = g.check();
    // `eic-ssh [user@]TARGET …` and `eic-ssh ssh [user@]TARGET …` are the one session form;
    // its usage errors exit 255 too, unless detailed codes were asked for.
    let command = match cli.command {
        None => Err(cli.session),
        Some(Command::Ssh(Lazy(args))) => Err(args),
        Some(command) => Ok(command),
    };
    let command = match command {
        Ok(command) => command,
        Err(args) => {
            checked.map_err(|f| f.of_session(g.exit_codes.detailed()))?;
            return session::run(args, g).await;
        }
    };
    checked?;
    match command {
        Command::Ssh(Lazy(args)) => session::run(args, g).await,
        Command::Proxy(Lazy(args)) => proxy::run(args, g).await,
        Command::Tunnel(Lazy(args)) => tunnel::run(args, g).await,
        Command::Egress(Lazy(args)) => egress::run(args, g).await,
        Command::Cp(Lazy(args)) => cp::run(args, g, cli.quiet).await,
        Command::Doctor(Lazy(args)) => doctor::run(args, g).await,
        Command::Config(ConfigCommand::Check(Lazy(args))) => config_check::run(args, g).await,
        Command::Config(ConfigCommand::Aliases(Lazy(_))) => config_check::aliases(g),
        Command::Config(ConfigCommand::Init(Lazy(args))) => config_init::run(args, g).await,
        Command::Completions(Lazy(args)) => completions::run(&args),
        Command::Man(Lazy(args)) => man::run(&args),
        Command::SshConfig(Lazy(args)) => ssh_config::run(args, g).await,
        Command::List(Lazy(args)) => list::run(args, g).await,
        Command::Inventory(Lazy(args)) => inventory::run(args, g).await,
        Command::Audit(Lazy(args)) => audit::run(args, g).await,
        Command::Log(Lazy(args)) => log::run(&args),
        Command::Run(Lazy(args)) => run::run(args, g).await,
    }
}

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
