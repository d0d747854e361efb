//! `eic-ssh [user@]TARGET [COMMAND…]`: log in (see `connect::login`), then one session channel.

use std::time::Duration;

use crate::cli::{Globals, SessionArgs};
use crate::config::file::{ForwardKind, Loaded};
use crate::connect::attempt::Attempt;
use crate::connect::forwards::{self, Reconnect};
use crate::connect::login::login;
use crate::connect::settings_for;
use crate::error::{Failure, Kind, Outcome};
use crate::local::signals::{self, Stop, Stops};
use crate::local::terminal;
use crate::route::Learned;
use crate::ssh::client;
use crate::ssh::forward::{self, RemoteForward};
use crate::ssh::session::{self, Spec};
use crate::target::Target;
use std::sync::{Arc, Mutex};
use tokio::sync::watch;

/// Runs the session, logged as one attempt; every failure of our own is exit 255, as
/// with ssh, unless `--exit-codes detailed` asks for the per-cause code.
pub async fn run(args: SessionArgs, g: &Globals) -> Result<Outcome, Failure> {
    let detailed = g.exit_codes.detailed();
    let session_failure = |f: Failure| f.of_session(detailed);
    let typed = match args.target.clone() {
        Some(typed) => typed,
        // On a terminal, pick one; else the one line (a script must name its target).
        None if crate::local::picker::available() => {
            let config = Loaded::read(g.config.as_deref()).map_err(session_failure)?;
            crate::fleet::pick::target(&config, &g.aws_choices())
                .await
                .map_err(session_failure)?
        }
        None => {
            return Err(session_failure(Failure::usage(
                "no target: eic-ssh [user@]TARGET [COMMAND…], or a subcommand (see eic-ssh --help)",
            )));
        }
    };
    // From here on SIGHUP, SIGTERM, SIGINT and SIGQUIT end the session cleanly and are
    // logged: while it logs in, at once; then the channel is closed (see `ssh::session`).
    let stops = signals::listen([Stop::Hangup, Stop::Terminate, Stop::Interrupt, Stop::Quit]);
    let mut attempt = Attempt::new("session", &typed);
    let learned = Mutex::new(Learned::default());
    let result = run_inner(args, g, &typed, &learned, stops).await;
    attempt.learned = learned.into_inner().unwrap_or_else(|e| e.into_inner());
    attempt.finish(result.map_err(session_failure))
}

async fn run_inner(
    args: SessionArgs,
    g: &Globals,
    typed: &str,
    learned: &Mutex<Learned>,
    stops: Stops,
) -> Result<Outcome, Failure> {
    let agent = match (args.forward_agent, crate::local::agent::socket()) {
        (false, _) => None,
        (true, Some(sock)) => Some(sock),
        (true, None) => {
            tracing::warn!("{}", crate::local::agent::MISSING);
            None
        }
    };
    let target = Target::parse(typed)?;
    let config = Loaded::read(g.config.as_deref())?;
    // A mistyped subcommand is not a Name tag to look up in AWS.
    if target.user.is_none()
        && !config.file.hosts.contains_key(&target.name)
        && let Some(meant) = crate::cli::near_subcommand(&target.name)
    {
        return Err(Failure::usage(format!(
            "{:?} is no config alias, instance id or subcommand: did you mean `eic-ssh {meant}`? (an instance whose Name tag looks like a subcommand is reached with a user: eic-ssh USER@{})",
            target.name, target.name
        )));
    }
    let settings = {
        let mut l = learned.lock().unwrap_or_else(|e| e.into_inner());
        settings_for(
            &target,
            g,
            &args.connect,
            Some(&args.host_keys),
            args.port,
            &config,
            &mut l,
        )?
    };
    let port = settings.port;
    // The section's forwards add to -L/-D/-R.
    let with_host = |flags: &[String], kind| {
        let mut all = flags.to_vec();
        all.extend(settings.forwards(kind));
        all
    };
    let local = with_host(&args.local_forward, ForwardKind::Local);
    let dynamic = with_host(&args.dynamic_forward, ForwardKind::Dynamic);
    // Forwards listen before anything else happens, so a busy port stops us early.
    let forwards = forward::parse_all(&local, &dynamic)?;
    let remote: Vec<RemoteForward> = with_host(&args.remote_forward, ForwardKind::Remote)
        .iter()
        .map(|spec| forward::parse_remote(spec))
        .collect::<Result<_, _>>()?;
    if args.reconnect && !args.no_command {
        return Err(Failure::usage(
            "--reconnect keeps forwards up with -N; a shell or a command cannot move to a new connection",
        ));
    }
    if args.no_command && !args.remote_command.is_empty() {
        return Err(Failure::usage(
            "-N runs no remote command: drop the command, or drop -N",
        ));
    }
    let bound = forward::bind_all(&forwards, args.exit_on_forward_failure).await?;
    // The first login, and each reconnect's; what each learns goes to the one log entry
    // (the byte counters of every tunnel add up).
    let log_in = async || {
        let mut mine = Merge {
            mine: Learned::default(),
            into: learned,
        };
        login(
            &settings,
            &config,
            &args.connect,
            &args.host_keys,
            agent.clone(),
            &mut mine.mine,
        )
        .await
    };
    // Stopped while logging in: nothing is open yet to close.
    let first = tokio::select! {
        first = log_in() => first?,
        stop = stops.clone() => return Ok(Outcome::Signalled(stop.signal())),
    };
    for b in &bound {
        eprintln!("eic-ssh: {}", b.describe());
    }
    if args.no_command {
        let policy = Reconnect {
            enabled: !args.no_reconnect,
            attempts: args.reconnect_attempts,
            retry_refused: args.retry_refused,
        };
        let strict = args.exit_on_forward_failure;
        return forwards::run(first, bound, &remote, strict, port, policy, log_in, stops).await;
    }
    forward::request_remote(
        &first.handle,
        &first.remote_forwards,
        &remote,
        args.exit_on_forward_failure,
    )
    .await?;
    let stdin_tty = terminal::stdin_is_tty();
    let command = (!args.remote_command.is_empty()).then(|| args.remote_command.join(" "));
    let tty = args.tty || (!args.no_tty && command.is_none() && stdin_tty);
    let spec = Spec {
        command,
        tty,
        local_tty: tty && stdin_tty,
        host: first.instance_id.clone(),
        forward_agent: agent.is_some(),
        lifetime: first.lifetime,
        open_timeout: Duration::from_secs(args.host_keys.handshake_timeout),
    };
    let admit = first.admit();
    let lifetime = first.lifetime;
    let handle = Arc::new(first.handle);
    let (current, link) = watch::channel(Some(handle.clone()));
    let status = tokio::select! {
        status = session::run(&handle, &spec, stops) => status,
        () = forward::serve_all(bound, link, admit) => unreachable!("forwards serve until the session ends"),
    };
    drop(current);
    // The forwarded connections ended with the select: the handle is ours again.
    let Ok(handle) = Arc::try_unwrap(handle) else {
        return status;
    };
    if status.is_err() && handle.is_closed() {
        // Say why the connection ended when the tunnel knows (the endpoint's reason).
        if let Some(why) = client::why_it_ended(handle, port).await {
            return Err(Failure::new(Kind::Ssh, why.message));
        }
        // The endpoint ends a tunnel that ran out of time with a plain close: say so.
        if lifetime.reached() {
            return Err(Failure::new(
                Kind::TunnelClosed,
                format!(
                    "{}; run eic-ssh again to reconnect",
                    lifetime.ran_out(&spec.host)
                ),
            ));
        }
        return status;
    }
    client::close(handle).await;
    status
}

/// What one login learns, added to the session's one log entry when the login ends: also
/// when a stop request drops it half-way (the instance, the verdict, the bytes so far).
struct Merge<'a> {
    mine: Learned,
    into: &'a Mutex<Learned>,
}

impl Drop for Merge<'_> {
    fn drop(&mut self) {
        let mut mine = std::mem::take(&mut self.mine);
        let mut all = self.into.lock().unwrap_or_else(|e| e.into_inner());
        let mut traffic = std::mem::take(&mut all.traffic);
        traffic.append(&mut mine.traffic);
        *all = Learned {
            traffic,
            log_off: all.log_off,
            ..mine
        };
    }
}
