//! `eic-ssh tunnel`: a local TCP listener that opens one tunnel per accepted connection,
//! after the egress guard has said yes for that connection, up to a cap.

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::{TcpListener, TcpStream};

use crate::cli::{Globals, TunnelArgs};
use crate::commands::attempt::Attempt;
use crate::commands::settings_for;
use crate::config::file::Loaded;
use crate::error::{Failure, Kind, Outcome};
use crate::route::{self, Connector, Learned};
use crate::target::Target;
use crate::tunnel::error::tunnel_failure;
use crate::tunnel::lifetime::Lifetime;
use crate::tunnel::relay::relay;

/// Listens until Ctrl-C; a failed connection is reported and the listener goes on.
pub async fn run(args: TunnelArgs, g: &Globals) -> Result<Outcome, Failure> {
    let target = Target::named(&args.instance)?;
    let config = Loaded::read(g.config.as_deref())?;
    let mut learned = Learned::default();
    let settings = settings_for(
        &target,
        g,
        &args.connect,
        None,
        args.remote_port,
        &config,
        &mut learned,
    )?;
    let remote_port = settings.port;
    let push_key = args.connect.push_key.as_deref();
    let connector =
        Arc::new(route::prepare(settings, &config.file, None, push_key, &mut learned).await?);
    let log_off = learned.log_off;
    let addr = SocketAddr::new(args.bind, args.local_port);
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|e| Failure::new(Kind::Other, format!("cannot listen on {addr}: {e}")))?;
    let local = listener
        .local_addr()
        .map_err(|e| Failure::new(Kind::Other, format!("cannot listen on {addr}: {e}")))?;
    if !args.bind.is_loopback() {
        tracing::warn!(
            "listening on {local}: other hosts can reach the instance through this port"
        );
    }
    eprintln!(
        "eic-ssh: listening on {local} → {} port {} (Ctrl-C to stop)",
        connector.route().instance_id,
        remote_port
    );
    let slots = Arc::new(tokio::sync::Semaphore::new(args.max_connections as usize));
    loop {
        let (socket, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    tracing::warn!("accept failed: {e}");
                    continue;
                }
            },
            _ = tokio::signal::ctrl_c() => return Ok(Outcome::Success),
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            eprintln!(
                "eic-ssh: turning away {peer}: {} tunnels are open already (--max-connections; an endpoint allows 20 in all)",
                args.max_connections
            );
            drop(socket);
            continue;
        };
        let connector = connector.clone();
        let port = remote_port;
        let target = args.instance.clone();
        let (all, max) = (slots.clone(), args.max_connections as usize);
        tokio::spawn(async move {
            if let Err(f) = serve(&connector, socket, peer, port, &target, log_off).await {
                eprintln!("eic-ssh: connection from {peer}: {f}");
            }
            drop(slot);
            // The last tunnel of a burst is gone: give back what they used.
            if all.available_permits() == max {
                crate::local::memory::release();
            }
        });
    }
}

/// Serves one accepted connection, and logs it as one attempt.
async fn serve(
    connector: &Connector,
    socket: TcpStream,
    peer: SocketAddr,
    port: u16,
    target: &str,
    log_off: bool,
) -> Result<Outcome, Failure> {
    let mut attempt = Attempt::new("tunnel", target);
    attempt.learned.log_off = log_off;
    attempt.learned.instance = Some(connector.route().instance_id.clone());
    attempt.learned.endpoint = Some(connector.route().endpoint_id.clone());
    let outcome = relay_one(connector, socket, peer, port, &mut attempt.learned).await;
    attempt.finish(outcome)
}

async fn relay_one(
    connector: &Connector,
    socket: TcpStream,
    peer: SocketAddr,
    port: u16,
    learned: &mut Learned,
) -> Result<Outcome, Failure> {
    let _ = socket.set_nodelay(true);
    // The network may have changed since the listener started: decide for each connection.
    connector.check_guard(learned).await?;
    let tunnel = connector.open().await?;
    let lifetime = Lifetime::from_now(connector.settings().max_tunnel_duration);
    learned.traffic = vec![tunnel.traffic()];
    let (read, write) = socket.into_split();
    // Each connection has its own tunnel, and so its own end: warned about a minute ahead.
    let warning = async {
        let left = lifetime.warning().await;
        eprintln!(
            "eic-ssh: connection from {peer}: its tunnel closes in {left} s ({}); the connection ends then, the listener stays: connect again for a new tunnel",
            lifetime.why()
        );
        std::future::pending::<()>().await
    };
    tokio::select! {
        relayed = relay(read, write, tunnel, std::future::pending()) => {
            relayed.map_err(|e| tunnel_failure(&e, port))?;
        }
        () = warning => unreachable!("the warning never finishes"),
    }
    if lifetime.reached() {
        eprintln!(
            "eic-ssh: connection from {peer}: {}",
            lifetime.ran_out(&connector.route().instance_id)
        );
    }
    Ok(Outcome::Success)
}
