//! `eic-ssh [user@]TARGET [COMMAND…]`: log in (see `commands::login`), then one session channel.

use std::path::PathBuf;
use std::time::Duration;

use crate::cli::SessionArgs;
use crate::commands::login::login;
use crate::error::{Exit, Failure, Kind};
use crate::local::terminal;
use crate::ssh::client;
use crate::ssh::session::{self, Spec};
use crate::target::Target;

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
    let login = login(
        &Target::parse(target)?,
        args.port,
        &args.connect,
        &args.host_keys,
        agent.clone(),
    )
    .await?;
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
    let status = session::run(&login.handle, &spec).await;
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
