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

use crate::cli::{Cli, Command, ConfigCommand};
use crate::error::Failure;

/// Runs the parsed command; `Ok` carries the exit status.
pub async fn run(cli: Cli) -> Result<i32, Failure> {
    let Some(command) = cli.command else {
        return session::run(cli.session).await;
    };
    match command {
        Command::Proxy(args) => proxy::run(args).await,
        Command::Tunnel(args) => tunnel::run(args).await,
        Command::Egress(args) => egress::run(args).await,
        Command::Cp(args) => cp::run(args, cli.quiet).await,
        Command::Doctor(args) => doctor::run(args).await,
        Command::Config(ConfigCommand::Check(args)) => config_check::run(args),
        Command::Config(ConfigCommand::Aliases(args)) => config_check::aliases(&args),
        Command::Config(ConfigCommand::Init(args)) => config_init::run(args).await,
        Command::Completions(args) => completions::run(&args),
        Command::Man(args) => man::run(&args),
        Command::SshConfig(args) => ssh_config::run(args).await,
        Command::List(args) => list::run(args).await,
        Command::Log(args) => log::run(&args),
    }
}
