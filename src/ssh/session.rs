//! One SSH session channel: a shell or a command, with stdin, stdout and stderr streamed,
//! window changes, `~` escapes, and the remote exit status as ours.

use russh::client::{Handle, Msg};
use russh::{Channel, ChannelMsg, ChannelReadHalf, ChannelWriteHalf, Sig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::client::Callbacks;
use super::escape::{Action, Escapes, HELP};
use crate::error::{Failure, Kind, Outcome, Signal};
use crate::local::signals::Stops;
use crate::local::stdio;
use crate::local::terminal::{self, RawMode};
use crate::tunnel::lifetime::Lifetime;

/// What to run.
#[derive(Debug, Clone)]
pub struct Spec {
    /// The remote command; `None` starts the login shell.
    pub command: Option<String>,
    /// Ask for a PTY (interactive).
    pub tty: bool,
    /// Put the local terminal in raw mode and honour `~` escapes (stdin is a terminal).
    pub local_tty: bool,
    /// Name for messages (`i-…` or the alias).
    pub host: String,
    /// Ask the server to forward the agent (`-A`).
    pub forward_agent: bool,
    /// When the endpoint closes the tunnel (its limit, or `--max-tunnel-duration`).
    pub lifetime: Lifetime,
    /// How long opening the session (channel, terminal, command) may take
    /// (`--handshake-timeout`): a server that never confirms must not hang us.
    pub open_timeout: std::time::Duration,
}

/// How the session ended, from this side.
enum Ended {
    /// The channel closed, with the remote exit status if one came.
    Closed(Option<i32>),
    /// `~.`, or the terminal went away.
    Disconnect,
    /// A signal asked us to stop.
    Stopped(Signal),
}

/// Runs the session; the result is the exit status to leave with. A stop request
/// (`stops`: SIGHUP, SIGTERM, SIGINT or SIGQUIT sent to this process) is passed on to the
/// remote command as that signal, the channel is closed and the terminal put back: it
/// ends as 128 + the signal's number.
pub async fn run(
    handle: &Handle<Callbacks>,
    spec: &Spec,
    stops: Stops,
) -> Result<Outcome, Failure> {
    let channel = tokio::time::timeout(spec.open_timeout, open(handle, spec))
        .await
        .map_err(|_| {
            Failure::new(
                Kind::Ssh,
                format!(
                    "the instance did not open the session within {} s of logging in: it or the endpoint stopped answering; retry, or raise --handshake-timeout if the instance is just slow",
                    spec.open_timeout.as_secs()
                ),
            )
        })??;
    let (reader, writer) = channel.split();
    let raw = if spec.local_tty {
        Some(RawMode::enter().map_err(|e| {
            Failure::new(
                Kind::Ssh,
                format!("cannot set the terminal to raw mode: {e}"),
            )
        })?)
    } else {
        None
    };
    // Hang-up, kill, interrupt and quit requests from outside (in raw mode the keys send
    // no signals) end the session cleanly, so the terminal is restored.
    let ended = tokio::select! {
        status = pump_output(reader) => Ended::Closed(status),
        () = limit_notice(spec) => unreachable!("the notice never finishes"),
        _ = pump_input(&writer, spec) => Ended::Disconnect,
        () = follow_window_size(&writer) => Ended::Disconnect,
        stop = stops => Ended::Stopped(stop.signal()),
    };
    if let Ended::Stopped(signal) = ended {
        // Passed on, so that a command without a terminal does not outlive its session;
        // then the channel closes (a terminal's shell gets its hang-up from that).
        let close = async {
            let _ = writer.signal(remote_signal(signal)).await;
            let _ = writer.close().await;
        };
        let _ = tokio::time::timeout(CLOSE_GRACE, close).await;
    }
    drop(raw);
    match ended {
        Ended::Closed(Some(status)) => Ok(Outcome::Remote(u8::try_from(status).unwrap_or(u8::MAX))),
        Ended::Closed(None) => Err(Failure::new(
            Kind::Ssh,
            format!(
                "the connection to {} closed without an exit status",
                spec.host
            ),
        )),
        Ended::Disconnect => {
            eprintln!("\r\nConnection to {} closed.\r", spec.host);
            Ok(Outcome::Disconnected)
        }
        Ended::Stopped(signal) => {
            eprintln!(
                "\r\nConnection to {} closed ({}).\r",
                spec.host,
                signal.name()
            );
            Ok(Outcome::Signalled(signal))
        }
    }
}

/// How long closing the session after a stop request may take.
const CLOSE_GRACE: std::time::Duration = crate::net::timeouts::CLOSE_GRACE;

/// The signal passed on to the remote command for a stop request.
pub fn remote_signal(signal: Signal) -> Sig {
    match signal {
        Signal::Hangup => Sig::HUP,
        Signal::Interrupt => Sig::INT,
        Signal::Terminate => Sig::TERM,
    }
}

/// Opens the session channel: a PTY if asked, agent forwarding, then the command or shell.
async fn open(handle: &Handle<Callbacks>, spec: &Spec) -> Result<Channel<Msg>, Failure> {
    let broken = |what: &str, e: russh::Error| Failure::new(Kind::Ssh, format!("{what}: {e}"));
    let channel = handle
        .channel_open_session()
        .await
        .map_err(|e| broken("cannot open a session", e))?;
    if spec.tty {
        let (cols, rows) = terminal::size().unwrap_or((80, 24));
        channel
            .request_pty(
                false,
                &terminal::term(),
                cols,
                rows,
                0,
                0,
                &terminal::modes(),
            )
            .await
            .map_err(|e| broken("cannot get a terminal", e))?;
    }
    if spec.forward_agent {
        channel
            .agent_forward(false)
            .await
            .map_err(|e| broken("cannot forward the agent", e))?;
    }
    match &spec.command {
        Some(command) => channel.exec(true, command.as_bytes()).await,
        None => channel.request_shell(true).await,
    }
    .map_err(|e| broken("cannot start the session", e))?;
    Ok(channel)
}

/// Local stdin to the channel, through the `~` escapes on a terminal. Ends only with an
/// escape's action; at stdin's end it sends EOF and waits for the remote side.
async fn pump_input(writer: &ChannelWriteHalf<Msg>, spec: &Spec) -> Action {
    let mut stdin = stdio::stdin_any();
    let mut buf = vec![0u8; 32 * 1024];
    let mut escapes = Escapes::default();
    loop {
        let n = match stdin.read(&mut buf).await {
            Ok(0) | Err(_) => {
                let _ = writer.eof().await;
                return std::future::pending::<Action>().await;
            }
            Ok(n) => n,
        };
        let (bytes, action) = if spec.local_tty {
            escapes.filter(&buf[..n])
        } else {
            (buf[..n].to_vec(), Action::None)
        };
        if !bytes.is_empty() && writer.data_bytes(bytes).await.is_err() {
            return std::future::pending::<Action>().await;
        }
        match action {
            Action::Disconnect => return Action::Disconnect,
            Action::Help => eprint!("{HELP}"),
            Action::None => {}
        }
    }
}

/// Sends the new terminal size whenever it changes.
async fn follow_window_size(writer: &ChannelWriteHalf<Msg>) {
    let Some(mut resizes) = terminal::Resizes::new() else {
        return std::future::pending::<()>().await;
    };
    while let Some((cols, rows)) = resizes.next().await {
        let _ = writer.window_change(cols, rows, 0, 0).await;
    }
}

/// The channel's stdout and stderr to ours until it closes; the remote exit status (128+n
/// for a signal), if it sent one.
async fn pump_output(mut reader: ChannelReadHalf) -> Option<i32> {
    let mut stdout = stdio::stdout();
    let mut stderr = tokio::io::stderr();
    let mut status: Option<i32> = None;
    while let Some(msg) = reader.wait().await {
        match msg {
            ChannelMsg::Data { data } => {
                if stdout.write_all(&data).await.is_err() {
                    break;
                }
                let _ = stdout.flush().await;
            }
            ChannelMsg::ExtendedData { data, ext: 1 } => {
                // tokio's stderr writes in the background: only a flush waits for it.
                let _ = stderr.write_all(&data).await;
                let _ = stderr.flush().await;
            }
            ChannelMsg::ExitStatus { exit_status } => status = Some(exit_status as i32),
            ChannelMsg::ExitSignal {
                signal_name,
                error_message,
                ..
            } => {
                status = Some(128 + signal_number(&signal_name));
                if !error_message.is_empty() {
                    tracing::info!("remote: {error_message}");
                }
            }
            ChannelMsg::Close => break,
            _ => {}
        }
    }
    let _ = stdout.flush().await;
    let _ = stderr.flush().await;
    status
}

/// A warning a minute before the endpoint closes the tunnel (whatever its limit), on the
/// terminal between the session's own output (a line of its own, in raw mode too), else
/// on stderr; never finishes.
async fn limit_notice(spec: &Spec) {
    let left = spec.lifetime.warning().await;
    let line = format!(
        "eic-ssh: the tunnel to {} closes in {left} s ({}); this session ends with it and is not reconnected: run eic-ssh again (tmux or screen on the instance keeps a shell across tunnels)",
        spec.host,
        spec.lifetime.why()
    );
    if spec.local_tty {
        eprint!("\r\n{line}\r\n");
    } else {
        eprintln!("{line}");
    }
    std::future::pending().await
}

/// Signal numbers on Linux, for the 128+n convention.
pub fn signal_number(sig: &Sig) -> i32 {
    match sig {
        Sig::HUP => 1,
        Sig::INT => 2,
        Sig::QUIT => 3,
        Sig::ILL => 4,
        Sig::ABRT => 6,
        Sig::FPE => 8,
        Sig::KILL => 9,
        Sig::USR1 => 10,
        Sig::SEGV => 11,
        Sig::PIPE => 13,
        Sig::ALRM => 14,
        Sig::TERM => 15,
        Sig::Custom(name) => match name.as_str() {
            "USR2" => 12,
            "CHLD" => 17,
            "CONT" => 18,
            "STOP" => 19,
            "TSTP" => 20,
            _ => 0,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signals_map_to_linux_numbers() {
        assert_eq!(signal_number(&Sig::TERM), 15);
        assert_eq!(signal_number(&Sig::KILL), 9);
        assert_eq!(signal_number(&Sig::Custom("USR2".into())), 12);
    }
}
