//! One module per subcommand, each wiring the pipeline for its front end.

pub mod audit;
pub mod completions;
pub mod config_check;
pub mod config_init;
pub mod cp;
pub mod doctor;
pub mod egress;
pub mod inventory;
pub mod list;
pub mod log;
pub mod man;
pub mod proxy;
pub mod run;
pub mod session;
pub mod ssh_config;
pub mod tunnel;

use crate::cli::{Cli, Command, ConfigCommand, Lazy};
use crate::error::{Failure, Outcome};

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
