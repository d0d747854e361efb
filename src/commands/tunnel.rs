//! `eic-ssh tunnel`: a local TCP listener that opens one tunnel per accepted connection,
//! after the egress guard has said yes for that connection, up to a cap.

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::{TcpListener, TcpStream};

use crate::cli::TunnelArgs;
use crate::commands::connect::Connector;
use crate::commands::host_settings;
use crate::config::file::Loaded;
use crate::error::{Failure, Kind};
use crate::guard::Verdict;
use crate::logbook;
use crate::target::Target;
use crate::tunnel::error::tunnel_failure;
use crate::tunnel::relay::relay;
use crate::tunnel::stream::Traffic;

/// Listens until Ctrl-C; a failed connection is reported and the listener goes on.
pub async fn run(mut args: TunnelArgs) -> Result<i32, Failure> {
    let target = Target::named(&args.instance)?;
    let config = Loaded::read(args.connect.config.as_deref())?;
    let host = config.host(&target.name);
    host_settings::fill_connect(&mut args.connect, host.as_ref());
    let remote_port = host_settings::port(args.remote_port, host.as_ref());
    let connector =
        Arc::new(Connector::prepare(&target, remote_port, &args.connect, &config, None).await?);
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
        connector.route.instance_id, remote_port
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
            _ = tokio::signal::ctrl_c() => return Ok(0),
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
        tokio::spawn(async move {
            if let Err(f) = serve(&connector, socket, port, &target).await {
                eprintln!("eic-ssh: connection from {peer}: {f}");
            }
            drop(slot);
        });
    }
}

/// Serves one accepted connection, and logs it as one attempt.
async fn serve(
    connector: &Connector,
    socket: TcpStream,
    port: u16,
    target: &str,
) -> Result<(), Failure> {
    let mut entry = logbook::Entry::new("tunnel", target);
    entry.instance = Some(connector.route.instance_id.clone());
    entry.endpoint = Some(connector.route.endpoint_id.clone());
    let started = std::time::Instant::now();
    let mut traffic = None;
    let outcome = relay_one(connector, socket, port, &mut entry, &mut traffic).await;
    if connector.logs() {
        if let Err(f) = &outcome {
            entry.outcome.clone_from(&f.message);
            entry.exit = f.exit().code();
        }
        if let Some(t) = traffic {
            (entry.bytes_up, entry.bytes_down) = t.totals();
        }
        entry.duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        logbook::append(&entry);
    }
    outcome
}

async fn relay_one(
    connector: &Connector,
    socket: TcpStream,
    port: u16,
    entry: &mut logbook::Entry,
    traffic: &mut Option<Arc<Traffic>>,
) -> Result<(), Failure> {
    let _ = socket.set_nodelay(true);
    // The network may have changed since the listener started: decide for each connection.
    let verdict = connector.check_guard().await;
    entry.guard = Some(verdict.as_ref().map_or("refused", Verdict::word).into());
    entry.egress_ip = verdict
        .as_ref()
        .ok()
        .and_then(Verdict::ip)
        .map(|ip| ip.to_string());
    verdict?;
    let tunnel = connector.open().await?;
    *traffic = Some(tunnel.traffic());
    let (read, write) = socket.into_split();
    relay(read, write, tunnel, std::future::pending())
        .await
        .map_err(|e| tunnel_failure(&e, port))
}
