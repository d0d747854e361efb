//! `eic-ssh cp`: one login, one SFTP session, every source; then a one-line summary.

use std::sync::Mutex;
use std::time::Instant;

use crate::cli::CpArgs;
use crate::commands::attempt::Attempt;
use crate::commands::login::login;
use crate::commands::settings_for;
use crate::config::file::Loaded;
use crate::copy::operands::{self, Plan};
use crate::copy::progress::{Progress, human_bytes};
use crate::copy::sftp::Sftp;
use crate::copy::transfer::{Copy, Options, Report};
use crate::error::{Failure, Kind, Outcome};
use crate::local::terminal;
use crate::printable;
use crate::route::Learned;
use crate::ssh::client;
use crate::target::Target;

/// Exit 0 when everything was copied, 1 when anything was not, 130 on Ctrl-C; setup
/// failures keep their usual codes. The copy is logged as one attempt.
pub async fn run(args: CpArgs, quiet: bool) -> Result<Outcome, Failure> {
    let plan = operands::plan(&args.operands)?;
    let typed = match &plan {
        Plan::Upload { target, .. } | Plan::Download { target, .. } => target.clone(),
    };
    let mut attempt = Attempt::new("cp", &typed);
    let result = copy(&args, quiet, &plan, &typed, &mut attempt.learned).await;
    attempt.finish(result)
}

async fn copy(
    args: &CpArgs,
    quiet: bool,
    plan: &Plan,
    typed: &str,
    learned: &mut Learned,
) -> Result<Outcome, Failure> {
    let target = Target::parse(typed)?;
    let config = Loaded::read(args.connect.config.as_deref())?;
    let keys = Some(&args.host_keys);
    let settings = settings_for(&target, &args.connect, keys, None, &config, learned)?;
    let login = login(
        &settings,
        &config,
        &args.connect,
        &args.host_keys,
        None,
        learned,
    )
    .await?;
    let sftp = Sftp::start(&login.handle).await?;
    let progress = Progress::new(!quiet && terminal::is_tty(libc::STDERR_FILENO));
    let report = Mutex::new(Report::default());
    let copy = Copy {
        sftp: &sftp,
        options: Options {
            recursive: args.recursive,
            preserve: args.preserve,
            resume: args.resume,
        },
        progress: &progress,
        report: &report,
    };
    let started = Instant::now();
    let work = async {
        match plan {
            Plan::Upload { sources, dest, .. } => copy.upload(sources, dest).await,
            Plan::Download { sources, dest, .. } => copy.download(sources, dest).await,
        }
    };
    let stopped = tokio::select! {
        () = work => None,
        _ = tokio::signal::ctrl_c() => Some(Stop::Interrupted),
        () = client::closed(&login.handle) => Some(Stop::ConnectionLost),
    };
    progress.finish();
    let report = report.into_inner().unwrap_or_else(|e| e.into_inner());
    // The copy may notice the lost connection (a failed SFTP request) before the watchdog.
    let lost = describe_lost();
    let stopped = stopped.or_else(|| {
        report
            .failed
            .iter()
            .any(|(_, why)| why.ends_with(&lost))
            .then_some(Stop::ConnectionLost)
    });
    drop(sftp);
    let ended = match stopped {
        Some(Stop::ConnectionLost) => client::why_it_ended(login.handle, login.port).await,
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
    for (path, why) in &report.failed {
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
                "the connection to the instance was lost".to_string(),
            ),
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
    /// The SSH connection (or the tunnel under it) ended.
    ConnectionLost,
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
