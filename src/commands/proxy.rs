//! `eic-ssh proxy`: stdin/stdout through one tunnel, for OpenSSH's ProxyCommand.

use crate::cli::ProxyArgs;
use crate::commands::connect::Connector;
use crate::commands::host_settings;
use crate::config::file::Loaded;
use crate::error::Failure;
use crate::local::{signals, stdio};
use crate::target::Target;
use crate::tunnel::error::tunnel_failure;
use crate::tunnel::relay::relay;

/// ssh sends SIGHUP to its ProxyCommand when it exits: close the tunnel cleanly then.
async fn stop_signal() {
    use tokio::signal::unix::SignalKind;
    signals::first_of([
        SignalKind::hangup(),
        SignalKind::terminate(),
        SignalKind::interrupt(),
    ])
    .await
}

/// Opens the tunnel and relays until either side ends.
pub async fn run(mut args: ProxyArgs) -> Result<i32, Failure> {
    crate::logbook::begin("proxy", &args.instance);
    let target = Target::named(&args.instance)?;
    // ssh gives the port (%p); the section may still name the endpoint, IP and duration.
    let config = Loaded::read(args.connect.config.as_deref())?;
    let host = config.host(&target.name);
    host_settings::fill_connect(&mut args.connect, host.as_ref());
    let connector = Connector::prepare(&target, args.port, &args.connect, &config, None).await?;
    let tunnel = connector.open().await?;
    relay(stdio::stdin(), stdio::stdout(), tunnel, stop_signal())
        .await
        .map_err(|e| tunnel_failure(&e, args.port))?;
    Ok(0)
}
