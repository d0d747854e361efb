//! `eic-ssh proxy`: stdin/stdout through one tunnel, for OpenSSH's ProxyCommand.

use crate::cli::{Globals, ProxyArgs};
use crate::commands::attempt::Attempt;
use crate::commands::settings_for;
use crate::config::file::Loaded;
use crate::error::{Failure, Outcome};
use crate::local::signals::{self, Stop};
use crate::local::stdio;
use crate::route::{self, Learned};
use crate::target::Target;
use crate::tunnel::error::tunnel_failure;
use crate::tunnel::relay::relay;

/// ssh sends SIGHUP to its ProxyCommand when it exits: close the tunnel cleanly then.
async fn stop_signal() {
    signals::first_of([Stop::Hangup, Stop::Terminate, Stop::Interrupt]).await
}

/// Opens the tunnel and relays until either side ends; the attempt is logged.
pub async fn run(args: ProxyArgs, g: &Globals) -> Result<Outcome, Failure> {
    let mut attempt = Attempt::new("proxy", &args.instance);
    let result = relay_through(&args, g, &mut attempt.learned).await;
    attempt.finish(result)
}

async fn relay_through(
    args: &ProxyArgs,
    g: &Globals,
    learned: &mut Learned,
) -> Result<Outcome, Failure> {
    let target = Target::named(&args.instance)?;
    // ssh gives the port (%p); the section may still name the endpoint, IP and duration.
    let config = Loaded::read(g.config.as_deref())?;
    let settings = settings_for(
        &target,
        g,
        &args.connect,
        None,
        Some(args.port),
        &config,
        learned,
    )?;
    let push_key = args.connect.push_key.as_deref();
    let (connector, tunnel) =
        route::prepare_and_open(settings, &config.file, None, push_key, learned).await?;
    learned.traffic = connector.traffic();
    relay(stdio::stdin(), stdio::stdout(), tunnel, stop_signal())
        .await
        .map_err(|e| tunnel_failure(&e, args.port))?;
    Ok(Outcome::Success)
}
