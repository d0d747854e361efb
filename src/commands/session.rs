//! `eic-ssh [user@]TARGET [COMMAND…]`: log in (see `commands::login`), then one session channel.

use std::path::PathBuf;
use std::time::Duration;

use crate::cli::SessionArgs;
use crate::commands::login::{Login, login};
use crate::error::{Exit, Failure, Kind};
use crate::local::signals;
use crate::local::terminal;
use crate::ssh::client;
use crate::ssh::forward::{self, Bound, RemoteForward};
use crate::ssh::session::{self, Spec};
use crate::target::Target;
use tokio::signal::unix::SignalKind;

/// Runs the session; every failure of our own is exit 255, as with ssh.
pub async fn run(args: SessionArgs) -> Result<i32, Failure> {
    let session_failure = |f: Failure| f.exiting(Exit::Session);
    run_inner(args).await.map_err(session_failure)
}

async fn run_inner(args: SessionArgs) -> Result<i32, Failure> {
    let Some(target) = args.target.as_deref() else {
        return Err(Failure::usage(
            "no target: eic-ssh [user@]TARGET [COMMAND…], or a subcommand (see eic-ssh --help)",
        ));
    };
    let agent = match (args.forward_agent, std::env::var_os("SSH_AUTH_SOCK")) {
        (false, _) => None,
        (true, Some(sock)) if !sock.is_empty() => Some(PathBuf::from(sock)),
        (true, _) => {
            tracing::warn!("-A: SSH_AUTH_SOCK is not set, so there is no agent to forward");
            None
        }
    };
    let target = Target::parse(target)?;
    // Forwards listen before anything else happens, so a busy port stops us early.
    let forwards = forward::parse_all(&args.local_forward, &args.dynamic_forward)?;
    let remote: Vec<RemoteForward> = args
        .remote_forward
        .iter()
        .map(|spec| forward::parse_remote(spec))
        .collect::<Result<_, _>>()?;
    if args.no_command && !args.remote_command.is_empty() {
        return Err(Failure::usage(
            "-N runs no remote command: drop the command, or drop -N",
        ));
    }
    let bound = forward::bind_all(&forwards, args.exit_on_forward_failure).await?;
    let login = login(
        &target,
        args.port,
        &args.connect,
        &args.host_keys,
        agent.clone(),
    )
    .await?;
    for b in &bound {
        eprintln!("eic-ssh: {}", b.describe());
    }
    forward::request_remote(
        &login.handle,
        &login.remote_forwards,
        &remote,
        args.exit_on_forward_failure,
    )
    .await?;
    if args.no_command {
        return forwards_only(login, bound, args.port).await;
    }
    let stdin_tty = terminal::is_tty(libc::STDIN_FILENO);
    let command = (!args.remote_command.is_empty()).then(|| args.remote_command.join(" "));
    let tty = args.tty || (!args.no_tty && command.is_none() && stdin_tty);
    let spec = Spec {
        command,
        tty,
        local_tty: tty && stdin_tty,
        host: login.instance_id.clone(),
        forward_agent: agent.is_some(),
        tunnel_deadline: args
            .connect
            .max_tunnel_duration
            .map(|s| Duration::from_secs(u64::from(s))),
    };
    let status = tokio::select! {
        status = session::run(&login.handle, &spec) => status,
        () = forward::serve_all(bound, &login.handle) => unreachable!("forwards serve until the session ends"),
    };
    if status.is_err() && login.handle.is_closed() {
        // Say why the connection ended when the tunnel knows (the endpoint's reason).
        if let Some(why) = client::why_it_ended(login.handle, args.port).await {
            return Err(Failure::new(Kind::Ssh, why.message));
        }
        return status;
    }
    client::close(login.handle).await;
    status
}

/// `-N`: the forwards alone, until a signal (exit 0) or the connection ends (why, 255).
async fn forwards_only(login: Login, bound: Vec<Bound>, port: u16) -> Result<i32, Failure> {
    let stop = signals::first_of([
        SignalKind::interrupt(),
        SignalKind::terminate(),
        SignalKind::hangup(),
    ]);
    let lost = tokio::select! {
        () = forward::serve_all(bound, &login.handle) => unreachable!("forwards serve until stopped"),
        () = stop => false,
        () = client::closed(&login.handle) => true,
    };
    if !lost {
        client::close(login.handle).await;
        return Ok(0);
    }
    let why = client::why_it_ended(login.handle, port).await;
    Err(why.unwrap_or_else(|| Failure::new(Kind::Ssh, "the connection to the instance ended")))
}
