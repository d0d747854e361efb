//! `eic-ssh tunnel`: a local TCP listener that opens one tunnel per accepted connection,
//! after the egress guard has said yes for that connection, up to a cap.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use futures_util::FutureExt;
use tokio::net::{TcpListener, TcpStream};

use crate::cli::{Globals, TunnelArgs};
use crate::config::file::Loaded;
use crate::connect::attempt::Attempt;
use crate::connect::settings_for;
use crate::error::{Failure, Kind, Outcome, Signal};
use crate::local::signals::{self, Stop, Stops};
use crate::net::timeouts::{CLOSE_GRACE, STOP};
use crate::route::{self, Connector, Learned};
use crate::target::Target;
use crate::tunnel::error::tunnel_failure;
use crate::tunnel::lifetime::Lifetime;
use crate::tunnel::relay::relay;

/// After a stop request, how long the listener waits for its connections: each is cut off
/// at [`STOP`] (it sends its close at once and waits for the endpoint's), then logged.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(STOP.as_secs() + CLOSE_GRACE.as_secs());

/// Listens until SIGINT (Ctrl-C), SIGTERM or SIGHUP: then it stops accepting, closes the
/// open tunnels (each logged), and ends with 128 + the signal's number. A failed
/// connection is reported and the listener goes on.
pub async fn run(args: TunnelArgs, g: &Globals) -> Result<Outcome, Failure> {
    let stops = signals::listen([Stop::Interrupt, Stop::Terminate, Stop::Hangup]);
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
    let connector = tokio::select! {
        prepared = route::prepare(settings, &config.file, None, push_key, &mut learned) => Arc::new(prepared?),
        stop = stops.clone() => return Ok(Outcome::Signalled(stop.signal())),
    };
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
            stop = stops.clone() => {
                drop(listener);
                return Ok(close_all(&slots, args.max_connections, stop.signal()).await);
            }
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
        let stops = stops.clone();
        tokio::spawn(async move {
            if let Err(f) = serve(&connector, socket, peer, port, &target, log_off, stops).await {
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

/// Waits (within [`CLOSE_TIMEOUT`]) until every connection has closed its tunnel and been
/// logged: each saw the same stop request. The listener then ends as the signal says.
async fn close_all(slots: &tokio::sync::Semaphore, max: u32, signal: Signal) -> Outcome {
    let open = max as usize - slots.available_permits();
    if open > 0 {
        eprintln!("eic-ssh: stopping: closing {open} open tunnels");
    }
    if tokio::time::timeout(CLOSE_TIMEOUT, slots.acquire_many(max))
        .await
        .is_err()
    {
        let left = max as usize - slots.available_permits();
        eprintln!(
            "eic-ssh: {left} tunnels did not close within {} s; ending without waiting for them",
            STOP.as_secs()
        );
    }
    Outcome::Signalled(signal)
}

/// Serves one accepted connection, and logs it as one attempt.
async fn serve(
    connector: &Connector,
    socket: TcpStream,
    peer: SocketAddr,
    port: u16,
    target: &str,
    log_off: bool,
    stops: Stops,
) -> Result<Outcome, Failure> {
    let mut attempt = Attempt::new("tunnel", target);
    attempt.learned.log_off = log_off;
    attempt.learned.instance = Some(connector.route().instance_id.clone());
    attempt.learned.endpoint = Some(connector.route().endpoint_id.clone());
    let outcome = relay_one(connector, socket, peer, port, &mut attempt.learned, stops).await;
    attempt.finish(outcome)
}

async fn relay_one(
    connector: &Connector,
    socket: TcpStream,
    peer: SocketAddr,
    port: u16,
    learned: &mut Learned,
    stops: Stops,
) -> Result<Outcome, Failure> {
    let _ = socket.set_nodelay(true);
    // Stopped before the tunnel is open: nothing to close.
    let opened = tokio::select! {
        opened = async {
            // The network may have changed since the listener started: decide for each
            // connection.
            connector.check_guard(learned).await?;
            connector.open().await
        } => opened?,
        stop = stops.clone() => return Ok(Outcome::Signalled(stop.signal())),
    };
    let lifetime = Lifetime::from_now(connector.settings().max_tunnel_duration);
    learned.traffic = vec![opened.traffic()];
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
    let relayed = async {
        tokio::select! {
            relayed = relay(read, write, opened, stops.clone()) => relayed,
            () = warning => unreachable!("the warning never finishes"),
        }
    };
    let stopped = match signals::within_grace(stops.clone(), STOP, relayed).await {
        Some(relayed) => relayed.map_err(|e| tunnel_failure(&e, port))?,
        // Cut off: the tunnel is dropped, and the connection logged as stopped.
        None => stops.now_or_never(),
    };
    if let Some(stop) = stopped {
        return Ok(Outcome::Signalled(stop.signal()));
    }
    if lifetime.reached() {
        eprintln!(
            "eic-ssh: connection from {peer}: {}",
            lifetime.ran_out(&connector.route().instance_id)
        );
    }
    Ok(Outcome::Success)
}
