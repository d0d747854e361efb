//! `eic-ssh [user@]TARGET [COMMAND…]`: guard, resolve, push an in-memory key, tunnel, then
//! the embedded SSH client.

use std::path::PathBuf;

use crate::aws::ec2;
use crate::cli::SessionArgs;
use crate::connector::Connector;
use crate::error::{Exit, Failure};
use crate::ssh::client::{self, HostKeyCheck};
use crate::ssh::host_keys::{self, Policy};
use crate::ssh::key::EphemeralKey;
use crate::ssh::session::{self, Spec};
use crate::ssh::terminal;
use crate::target;

/// Runs the session; every failure of our own is exit 255, as with ssh.
pub async fn run(args: SessionArgs) -> Result<i32, Failure> {
    let session_failure = |f: Failure| Failure::new(Exit::Session, f.message);
    run_inner(args).await.map_err(session_failure)
}

async fn run_inner(args: SessionArgs) -> Result<i32, Failure> {
    let Some(target_text) = args.target.as_deref() else {
        return Err(Failure::usage(
            "no target: eic-ssh [user@]TARGET [COMMAND…], or a subcommand (see eic-ssh --help)",
        ));
    };
    let (user, target) = match target_text.split_once('@') {
        Some((user, target)) => (Some(user.to_string()), target),
        None => (None, target_text),
    };
    let mut connect = args.connect.clone();
    if args.connect.push_key.is_some() {
        return Err(Failure::usage(
            "--push-key is for proxy and tunnel; a session pushes its own in-memory key",
        ));
    }
    connect.user = connect.user.or(user);
    let key = EphemeralKey::generate()?;
    let connector =
        Connector::prepare_with_key(target, args.port, &connect, Some(key.public_line())).await?;
    let user = connector.user().unwrap_or_default().to_string();
    let stdin_tty = terminal::is_tty(libc::STDIN_FILENO);
    let command = (!args.remote_command.is_empty()).then(|| shell_join(&args.remote_command));
    let tty = args.tty || (!args.no_tty && command.is_none() && stdin_tty);
    let policy = args.host_key_check.unwrap_or(if stdin_tty {
        Policy::Ask
    } else {
        Policy::Strict
    });
    let console = if args.host_key_from_console {
        let text = ec2::get_console_output(connector.aws(), &connector.route.instance_id).await?;
        Some(host_keys::from_console(&text))
    } else {
        None
    };
    let check = HostKeyCheck {
        name: host_keys::host_name(&connector.route.instance_id, args.port),
        path: known_hosts_path(args.known_hosts),
        policy,
        console,
    };
    let agent = match (args.forward_agent, std::env::var_os("SSH_AUTH_SOCK")) {
        (false, _) => None,
        (true, Some(sock)) if !sock.is_empty() => Some(PathBuf::from(sock)),
        (true, _) => {
            tracing::warn!("-A: SSH_AUTH_SOCK is not set, so there is no agent to forward");
            None
        }
    };
    let tunnel = connector.open().await?;
    let mut handle = client::connect(tunnel, check, agent.clone()).await?;
    client::authenticate(&mut handle, &user, key.for_auth()).await?;
    drop(key);
    let spec = Spec {
        command,
        tty,
        local_tty: tty && stdin_tty,
        host: connector.route.instance_id.clone(),
        forward_agent: agent.is_some(),
        tunnel_deadline: args
            .connect
            .max_tunnel_duration
            .map(|s| std::time::Duration::from_secs(u64::from(s))),
    };
    let status = session::run(&handle, &spec).await?;
    let _ = handle
        .disconnect(russh::Disconnect::ByApplication, "", "en")
        .await;
    Ok(status)
}

fn known_hosts_path(flag: Option<PathBuf>) -> PathBuf {
    match flag {
        Some(p) => target::expand_tilde(&p),
        None => target::expand_tilde(std::path::Path::new("~/.ssh/known_hosts")),
    }
}

/// Joins words into one command line the way ssh does: with spaces, as given.
fn shell_join(words: &[String]) -> String {
    words.join(" ")
}
