//! `eic-ssh proxy`: stdin/stdout through one tunnel, for OpenSSH's ProxyCommand.

use futures_util::FutureExt;

use crate::cli::{Globals, ProxyArgs};
use crate::config::file::Loaded;
use crate::connect::attempt::Attempt;
use crate::connect::settings_for;
use crate::error::{Failure, Outcome};
use crate::local::signals::{self, Stop, Stops};
use crate::local::stdio;
use crate::net::timeouts::STOP;
use crate::route::{self, Learned};
use crate::target::Target;
use crate::tunnel::error::tunnel_failure;
use crate::tunnel::relay::relay;

/// Opens the tunnel and relays until either side ends; the attempt is logged. SIGHUP (ssh
/// sends it to its ProxyCommand when it exits), SIGTERM and SIGINT close the tunnel cleanly
/// and end it with 128 + the signal's number, logged as such.
pub async fn run(args: ProxyArgs, g: &Globals) -> Result<Outcome, Failure> {
    let stops = signals::listen([Stop::Hangup, Stop::Terminate, Stop::Interrupt]);
    let mut attempt = Attempt::new("proxy", &args.instance);
    let result = relay_through(&args, g, &mut attempt.learned, stops).await;
    attempt.finish(result)
}

async fn relay_through(
    args: &ProxyArgs,
    g: &Globals,
    learned: &mut Learned,
    stops: Stops,
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
    // Stopped before the tunnel is open: nothing to close.
    let opened = tokio::select! {
        opened = route::prepare_and_open(settings, &config.file, None, push_key, learned) => opened?,
        stop = stops.clone() => return Ok(Outcome::Signalled(stop.signal())),
    };
    let (connector, tunnel) = opened;
    learned.traffic = connector.traffic();
    let relayed = relay(stdio::stdin(), stdio::stdout(), tunnel, stops.clone());
    let stopped = match signals::within_grace(stops.clone(), STOP, relayed).await {
        Some(relayed) => relayed.map_err(|e| tunnel_failure(&e, args.port))?,
        // Cut off: the tunnel is dropped, and the attempt logged as stopped.
        None => stops.now_or_never(),
    };
    Ok(stopped.map_or(Outcome::Success, |stop| Outcome::Signalled(stop.signal())))
}
