//! `eic-ssh cp`: one login, one SFTP session, every source; then a one-line summary.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::cli::{CpArgs, Globals};
use crate::config::file::Loaded;
use crate::connect::attempt::Attempt;
use crate::connect::login::login;
use crate::connect::settings_for;
use crate::copy::operands::{self, Plan};
use crate::copy::progress::{Progress, human_bytes};
use crate::copy::sftp::{Sftp, StartError, broken_text};
use crate::copy::transfer::{Options, Report, Transfer};
use crate::copy::wire::Broken;
use crate::error::{Failure, Kind, Outcome};
use crate::local::terminal;
use crate::printable;
use crate::route::Learned;
use crate::ssh::client;
use crate::target::Target;

/// Exit 0 when everything was copied, 1 when anything was not (or a listing limit was
/// reached), 7 when the connection was lost, 255 when the SFTP server would not start,
/// stopped answering or broke the protocol, 130 on Ctrl-C; setup failures keep their
/// usual codes. The copy is logged as one attempt.
pub async fn run(args: CpArgs, g: &Globals, quiet: bool) -> Result<Outcome, Failure> {
    let plan = operands::plan(&args.operands)?;
    let typed = match &plan {
        Plan::Upload { target, .. } | Plan::Download { target, .. } => target.clone(),
    };
    let mut attempt = Attempt::new("cp", &typed);
    let result = copy(&args, g, quiet, &plan, &typed, &mut attempt.learned).await;
    attempt.finish(result)
}

async fn copy(
    args: &CpArgs,
    g: &Globals,
    quiet: bool,
    plan: &Plan,
    typed: &str,
    learned: &mut Learned,
) -> Result<Outcome, Failure> {
    let target = Target::parse(typed)?;
    let config = Loaded::read(g.config.as_deref())?;
    let keys = Some(&args.host_keys);
    let settings = settings_for(&target, g, &args.connect, keys, None, &config, learned)?;
    let login = login(
        &settings,
        &config,
        &args.connect,
        &args.host_keys,
        None,
        learned,
    )
    .await?;
    let bound = Duration::from_secs(args.sftp_timeout);
    let sftp = match Sftp::start(&login.handle, bound).await {
        Ok(sftp) => sftp,
        Err(e) => return Err(start_failure(e, login.handle, login.port).await),
    };
    let progress = Progress::new(!quiet && terminal::stderr_is_tty());
    let report = Mutex::new(Report::default());
    let copy = Transfer {
        sftp: &sftp,
        options: Options {
            recursive: args.recursive,
            preserve: args.preserve,
            resume: args.resume,
            max_dir_entries: args.max_dir_entries,
            max_entries: args.max_entries,
        },
        progress: &progress,
        report: &report,
    };
    let started = Instant::now();
    let (lifetime, instance) = (login.lifetime, login.instance_id.clone());
    // A copy that runs into the tunnel's end stops there: said a minute ahead.
    let warning = async {
        let left = lifetime.warning().await;
        progress.note(&format!(
            "eic-ssh: the tunnel to {instance} closes in {left} s ({}); a copy still running then stops, keeping the file in progress for `eic-ssh cp --resume` with the same arguments",
            lifetime.why()
        ));
        std::future::pending::<()>().await
    };
    let stopped = {
        let work = async {
            match plan {
                Plan::Upload { sources, dest, .. } => copy.upload(sources, dest).await,
                Plan::Download { sources, dest, .. } => copy.download(sources, dest).await,
            }
        };
        tokio::pin!(work);
        tokio::select! {
            () = &mut work => None,
            () = warning => unreachable!("the warning never finishes"),
            _ = tokio::signal::ctrl_c() => Some(Stop::Interrupted),
            () = client::closed(&login.handle) => {
                // The copy sees the loss itself within moments (its requests fail), and
                // then writes what had arrived to the part file, for --resume.
                let _ = tokio::time::timeout(crate::net::timeouts::COPY_SETTLE, &mut work).await;
                Some(Stop::ConnectionLost)
            }
        }
    };
    progress.finish();
    let report = report.into_inner().unwrap_or_else(|e| e.into_inner());
    // The copy may notice the lost connection (a failed SFTP request) before the watchdog.
    let lost = describe_lost();
    let stopped = match (stopped, sftp.broken(), &report.stopped) {
        (Some(stop), _, _) => Some(stop),
        (None, Some(Broken::Stalled(after)), _) if !answers(&login.handle).await => {
            tracing::debug!("no SFTP reply for {after:?} and no answer to a keepalive");
            Some(Stop::ConnectionLost)
        }
        (None, Some(broken), _) => Some(Stop::Server(broken_text(&broken))),
        (None, None, Some(why)) => Some(Stop::Limit(why.clone())),
        (None, None, None) => report
            .failed
            .iter()
            .any(|(_, why)| why.ends_with(&lost))
            .then_some(Stop::ConnectionLost),
    };
    drop(sftp);
    let ended = match stopped {
        Some(Stop::ConnectionLost) => client::why_it_ended(login.handle, login.port)
            .await
            // The endpoint ends a tunnel that ran out of time with a plain close.
            .or_else(|| {
                lifetime
                    .reached()
                    .then(|| Failure::new(Kind::TunnelClosed, lifetime.ran_out(&instance)))
            }),
        _ => {
            client::close(login.handle).await;
            None
        }
    };

    let elapsed = started.elapsed().as_secs_f64().max(0.001);
    outcome(&report, stopped, ended, elapsed, quiet)
}

/// Prints what was skipped and failed (escaped), then the exit code and the summary line.
fn outcome(
    report: &Report,
    stopped: Option<Stop>,
    ended: Option<Failure>,
    elapsed: f64,
    quiet: bool,
) -> Result<Outcome, Failure> {
    // Paths and reasons come from the server: escaped before they reach the terminal.
    for warning in &report.warnings {
        eprintln!("eic-ssh: warning: {}", printable::escape(warning));
    }
    // What the stop explains is said once, in the last line.
    let explained = |why: &str| matches!(&stopped, Some(Stop::Server(w)) if w == why);
    for (path, why) in report.failed.iter().filter(|(_, why)| !explained(why)) {
        eprintln!(
            "eic-ssh: {}: {}",
            printable::escape(path),
            printable::escape(why)
        );
    }
    let moved = format!(
        "{} in {elapsed:.1} s, {:.1} MB/s",
        human_bytes(report.bytes),
        report.bytes as f64 / elapsed / 1e6
    );
    let plural = |n: usize| if n == 1 { "file" } else { "files" };
    if let Some(stop) = stopped {
        let (exit, what) = match (stop, ended) {
            (Stop::Interrupted, _) => (Kind::Interrupted, "interrupted".to_string()),
            (Stop::ConnectionLost, Some(why)) => (
                Kind::TunnelClosed,
                why.message.trim_end_matches('.').to_string(),
            ),
            (Stop::ConnectionLost, None) => (
                Kind::TunnelClosed,
                "the connection to the instance was lost or stalled".to_string(),
            ),
            (Stop::Server(why), _) => (Kind::Ssh, why),
            (Stop::Limit(why), _) => {
                return Err(Failure::new(
                    Kind::Other,
                    format!(
                        "{why}: stopped, raise the limit if the tree is really that large; copied {} {}, {moved}",
                        report.copied,
                        plural(report.copied)
                    ),
                ));
            }
        };
        return Err(Failure::new(
            exit,
            format!(
                "{what}; copied {} {}, {moved}; the file in progress is kept as .NAME.eic-ssh.part for --resume",
                report.copied,
                plural(report.copied)
            ),
        ));
    }
    if !report.failed.is_empty() {
        let failed: Vec<&str> = report.failed.iter().map(|(p, _)| p.as_str()).collect();
        let copied = if report.copied == 0 {
            String::new()
        } else {
            format!(" ({})", list(&report.copied_names))
        };
        return Err(Failure::new(
            Kind::Other,
            format!(
                "copied {} of {} {}{copied}; not copied: {}",
                report.copied,
                report.copied + report.failed.len(),
                plural(report.copied + report.failed.len()),
                list(&failed)
            ),
        ));
    }
    if !quiet {
        eprintln!(
            "eic-ssh: copied {} {}, {moved}",
            report.copied,
            plural(report.copied)
        );
    }
    Ok(Outcome::Success)
}

/// Why a copy stopped before it finished.
enum Stop {
    /// Ctrl-C.
    Interrupted,
    /// The SSH connection (or the tunnel under it) ended or stalled.
    ConnectionLost,
    /// The SFTP server stopped answering or broke the protocol (the sentence).
    Server(String),
    /// A listing limit was reached (the sentence, escaped).
    Limit(String),
}

/// How long a keepalive may take to come back when an SFTP reply did not.
const PING_BOUND: Duration = crate::net::timeouts::SSH_PING;

/// Whether the SSH connection still answers (then a silent SFTP server is to blame, not
/// the tunnel).
async fn answers(handle: &russh::client::Handle<client::Callbacks>) -> bool {
    tokio::time::timeout(PING_BOUND, handle.send_ping())
        .await
        .is_ok_and(|sent| sent.is_ok())
        && !handle.is_closed()
}

/// The one line for an SFTP session that did not start: the connection's own reason when
/// it went (7), else the SFTP server's failure (255).
async fn start_failure(
    e: StartError,
    handle: russh::client::Handle<client::Callbacks>,
    port: u16,
) -> Failure {
    let lost = match &e {
        // The connection may be going down under the request that failed: give it a moment.
        StartError::Failed(_) => {
            tokio::time::timeout(crate::net::timeouts::CLOSE_GRACE, client::closed(&handle))
                .await
                .is_ok()
        }
        StartError::TimedOut(_) => handle.is_closed() || !answers(&handle).await,
    };
    if lost {
        let why = match client::why_it_ended(handle, port).await {
            Some(why) => why.message,
            None => "the connection to the instance was lost or stalled".into(),
        };
        return Failure::new(Kind::TunnelClosed, format!("SFTP did not start: {why}"));
    }
    let message = match e {
        StartError::TimedOut(after) => format!(
            "the instance's SFTP server did not start within {} s (--sftp-timeout): check that its sshd runs one (Subsystem sftp)",
            after.as_secs()
        ),
        StartError::Failed(why) => format!(
            "cannot start SFTP: {}: check that the instance's sshd runs an SFTP server (Subsystem sftp)",
            printable::escape(&why)
        ),
    };
    client::close(handle).await;
    Failure::new(Kind::Ssh, message)
}

/// The phrase a failed SFTP request gets when the connection went away under it.
fn describe_lost() -> String {
    crate::copy::sftp::describe(&russh_sftp::client::error::Error::IO("closed".into()))
}

/// Names as `a, b, c` (escaped), at most ten of them.
fn list<S: AsRef<str>>(names: &[S]) -> String {
    let shown: Vec<String> = names
        .iter()
        .take(10)
        .map(|n| printable::escape(n.as_ref()))
        .collect();
    match names.len() {
        n if n > 10 => format!("{} and {} more", shown.join(", "), n - 10),
        _ => shown.join(", "),
    }
}
