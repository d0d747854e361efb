//! One module per subcommand, each wiring the pipeline for its front end.

pub mod completions;
pub mod config_check;
pub mod config_init;
pub mod connect;
pub mod cp;
pub mod doctor;
pub mod egress;
pub mod forwards;
pub mod host_settings;
pub mod list;
pub mod log;
pub mod login;
pub mod man;
pub mod proxy;
pub mod session;
pub mod ssh_config;
pub mod table;
pub mod tunnel;

use crate::cli::{Cli, Command, ConfigCommand, Lazy};
use crate::error::Failure;

/// Runs the parsed command; `Ok` carries the exit status.
pub async fn run(cli: Cli) -> Result<i32, Failure> {
    let Some(command) = cli.command else {
        return session::run(cli.session).await;
    };
    match command {
        Command::Proxy(Lazy(args)) => proxy::run(args).await,
        Command::Tunnel(Lazy(args)) => tunnel::run(args).await,
        Command::Egress(Lazy(args)) => egress::run(args).await,
        Command::Cp(Lazy(args)) => cp::run(args, cli.quiet).await,
        Command::Doctor(Lazy(args)) => doctor::run(args).await,
        Command::Config(ConfigCommand::Check(Lazy(args))) => config_check::run(args),
        Command::Config(ConfigCommand::Aliases(Lazy(args))) => config_check::aliases(&args),
        Command::Config(ConfigCommand::Init(Lazy(args))) => config_init::run(args).await,
        Command::Completions(Lazy(args)) => completions::run(&args),
        Command::Man(Lazy(args)) => man::run(&args),
        Command::SshConfig(Lazy(args)) => ssh_config::run(args).await,
        Command::List(Lazy(args)) => list::run(args).await,
        Command::Log(Lazy(args)) => log::run(&args),
    }
}
