//! How each host ended and how the run ends: the host's JSON object, `--dry-run`'s plan,
//! the summary on stderr (counts by outcome, every host that failed or was refused with
//! its reason, the slowest hosts) and the run's outcome, from which `error.rs` picks the
//! exit status.

use std::time::{Duration, SystemTime};

use super::RunHost;
use crate::error::{Failure, Kind, Outcome, Signal};
use crate::printable::escape;

/// How many of the slowest hosts the summary names.
const SLOWEST: usize = 3;

/// How one host ended.
#[derive(Debug, Clone)]
pub enum Ended {
    /// The command ran and exited with this status (128 + n for signal n).
    Exited(i32),
    /// The host could not be reached, or the connection failed.
    Failed(Failure),
    /// The egress guard refused this network for it.
    Refused(String),
    /// `--timeout` ran out.
    TimedOut(Duration),
    /// It was never started, and why (`--max-errors`, a signal).
    NotStarted(&'static str),
    /// A signal stopped the run while it was connecting or running: the signal was passed
    /// on to its command and its session closed.
    Stopped(Signal),
}

impl Ended {
    /// Whether it counts toward `--max-errors` (as SSM counts: any but exit 0).
    pub fn is_error(&self) -> bool {
        !matches!(self, Ended::Exited(0) | Ended::NotStarted(_))
    }

    /// The documented word of `--json`'s `status`.
    pub fn word(&self) -> &'static str {
        match self {
            Ended::Exited(0) => "ok",
            Ended::Exited(_) => "failed",
            Ended::Failed(_) => "unreachable",
            Ended::Refused(_) => "refused",
            Ended::TimedOut(_) => "timed_out",
            Ended::NotStarted(_) => "not_started",
            Ended::Stopped(_) => "stopped",
        }
    }

    /// As a failure, for the log and the error fields (not for an exit status).
    pub fn failure(&self) -> Failure {
        match self {
            Ended::Exited(n) => Failure::new(Kind::Other, format!("exit {n}")),
            Ended::Failed(f) => f.clone(),
            Ended::Refused(why) => Failure::new(Kind::Refused, why.clone()),
            Ended::TimedOut(limit) => Failure::new(
                Kind::Network,
                format!("did not finish within --timeout {} s", limit.as_secs()),
            ),
            Ended::NotStarted(why) => Failure::new(Kind::Interrupted, *why),
            Ended::Stopped(signal) => Failure::new(
                Kind::Interrupted,
                format!("stopped by {} while running", signal.name()),
            ),
        }
    }

    /// What `--out-dir`'s `LABEL.exit` holds: the status, or `error[TAG]: why`.
    pub fn exit_text(&self) -> String {
        match self {
            Ended::Exited(n) => n.to_string(),
            other => {
                let f = other.failure();
                format!("error[{}]: {}", f.kind.tag(), f.message)
            }
        }
    }
}

/// One host's end.
#[derive(Debug, Clone)]
pub struct Report {
    /// Its label.
    pub label: String,
    /// Its instance.
    pub instance_id: String,
    /// Its endpoint, when it has one.
    pub endpoint_id: Option<String>,
    /// How it ended.
    pub ended: Ended,
    /// When its turn began.
    pub started: SystemTime,
    /// From its turn to its end.
    pub duration: Duration,
    /// What `--json` kept of stdout, and whether more came.
    pub stdout: (Vec<u8>, bool),
    /// What `--json` kept of stderr, and whether more came.
    pub stderr: (Vec<u8>, bool),
}

impl Report {
    /// `host` ended as `ended`, now, having taken no time.
    pub fn new(host: &RunHost, ended: Ended) -> Report {
        Report {
            label: host.chosen.label.clone(),
            instance_id: host.chosen.entry.instance.id.clone(),
            endpoint_id: host.endpoint_id.clone(),
            ended,
            started: SystemTime::now(),
            duration: Duration::ZERO,
            stdout: (Vec::new(), false),
            stderr: (Vec::new(), false),
        }
    }

    /// The documented JSON object (docs/commands.md, "run"), one line.
    pub fn json(&self) -> serde_json::Value {
        let (exit, error, kind) = match &self.ended {
            Ended::Exited(n) => (Some(*n), None, None),
            other => {
                let f = other.failure();
                (None, Some(f.message.clone()), Some(f.kind.tag()))
            }
        };
        serde_json::json!({
            "label": self.label,
            "instance_id": self.instance_id,
            "endpoint_id": self.endpoint_id,
            "status": self.ended.word(),
            "exit": exit,
            "error": error,
            "error_kind": kind,
            "stdout": String::from_utf8_lossy(&self.stdout.0),
            "stdout_truncated": self.stdout.1,
            "stderr": String::from_utf8_lossy(&self.stderr.0),
            "stderr_truncated": self.stderr.1,
            "start": aws_smithy_types::DateTime::from(self.started)
                .fmt(aws_smithy_types::date_time::Format::DateTime)
                .unwrap_or_default(),
            "duration_ms": u64::try_from(self.duration.as_millis()).unwrap_or(u64::MAX),
        })
    }

    /// Prints the JSON object as one line of stdout, in one write.
    pub fn print_json(&self) {
        use std::io::Write;
        let line = format!("{}\n", self.json());
        super::progress::print(|| {
            let _ = std::io::stdout().lock().write_all(line.as_bytes());
        });
    }
}

/// `--dry-run`: each host with its instance, endpoint and the guard's verdict; nothing
/// connected.
pub fn print_plan(hosts: &[RunHost]) {
    let width = hosts
        .iter()
        .map(|h| h.chosen.label.chars().count())
        .max()
        .unwrap_or(0);
    for h in hosts {
        let (word, why) = match (&h.ready, &h.verdict) {
            (Ok(_), Some(v)) => (v.word(), String::new()),
            (Err(f), Some(_)) => ("refused", format!(": {}", f.message)),
            (Err(f), None) => ("unusable", format!(": {}", f.message)),
            (Ok(_), None) => ("unknown", String::new()),
        };
        println!(
            "{:<width$}  {}  {}  {}{}",
            escape(&h.chosen.label),
            h.chosen.entry.instance.id,
            h.endpoint_id.as_deref().unwrap_or("-"),
            word.replace('_', " "),
            escape(&why)
        );
    }
}

/// The counts of one run.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Counts {
    /// Exit 0.
    pub ok: usize,
    /// Exited non-zero.
    pub failed: usize,
    /// Not reached, or the connection failed.
    pub unreachable: usize,
    /// Refused by the guard.
    pub refused: usize,
    /// Out of time.
    pub timed_out: usize,
    /// Never started.
    pub not_started: usize,
    /// Stopped by a signal while connecting or running.
    pub stopped: usize,
}

impl Counts {
    /// Counts `reports` by how they ended.
    pub fn of(reports: &[Report]) -> Counts {
        let mut c = Counts::default();
        for r in reports {
            match r.ended {
                Ended::Exited(0) => c.ok += 1,
                Ended::Exited(_) => c.failed += 1,
                Ended::Failed(_) => c.unreachable += 1,
                Ended::Refused(_) => c.refused += 1,
                Ended::TimedOut(_) => c.timed_out += 1,
                Ended::NotStarted(_) => c.not_started += 1,
                Ended::Stopped(_) => c.stopped += 1,
            }
        }
        c
    }

    /// The run's outcome: a signal that stopped it says most, then a host not reached (or
    /// refused, timed out, not started), then a command that exited non-zero.
    pub fn outcome(&self, stopped: Option<Signal>) -> Outcome {
        if let Some(signal) = stopped {
            Outcome::Signalled(signal)
        } else if self.unreachable + self.refused + self.timed_out + self.not_started + self.stopped
            > 0
        {
            Outcome::HostsFailed
        } else if self.failed > 0 {
            Outcome::CommandsFailed
        } else {
            Outcome::Success
        }
    }

    fn line(&self, total: usize) -> String {
        let parts: Vec<String> = [
            (self.ok, "ok"),
            (self.failed, "exited non-zero"),
            (self.unreachable, "unreachable"),
            (self.refused, "refused by the guard"),
            (self.timed_out, "timed out"),
            (self.not_started, "not started"),
            (self.stopped, "stopped"),
        ]
        .iter()
        .filter(|(n, _)| *n > 0)
        .map(|(n, what)| format!("{n} {what}"))
        .collect();
        let hosts = if total == 1 { "host" } else { "hosts" };
        format!("{total} {hosts}: {}", parts.join(", "))
    }
}

/// Prints the summary on stderr and gives the run's outcome; `stopped` when a signal
/// stopped the run.
pub fn finish(reports: &[Report], stopped: Option<Signal>) -> Result<Outcome, Failure> {
    let counts = Counts::of(reports);
    let how = stopped.map_or(String::new(), |s| format!("stopped by {}: ", s.name()));
    let mut text = format!("eic-ssh: run: {how}{}\n", counts.line(reports.len()));
    for r in reports.iter().filter(|r| r.ended.is_error()) {
        let why = match &r.ended {
            Ended::Exited(n) => format!("exit {n}"),
            other => other.failure().message,
        };
        text.push_str(&format!("  {}: {}\n", escape(&r.label), escape(&why)));
    }
    let mut ran: Vec<&Report> = reports
        .iter()
        .filter(|r| matches!(r.ended, Ended::Exited(_) | Ended::TimedOut(_)))
        .collect();
    ran.sort_by_key(|r| std::cmp::Reverse(r.duration));
    if ran.len() > 1 {
        let slowest: Vec<String> = ran
            .iter()
            .take(SLOWEST)
            .map(|r| format!("{} {:.1} s", escape(&r.label), r.duration.as_secs_f64()))
            .collect();
        text.push_str(&format!("  slowest: {}\n", slowest.join(", ")));
    }
    eprint!("{text}");
    Ok(counts.outcome(stopped))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signal_decides_the_outcome_and_stopped_hosts_count_as_not_reached() {
        let counts = Counts {
            ok: 1,
            stopped: 2,
            ..Counts::default()
        };
        assert_eq!(
            counts.outcome(Some(Signal::Hangup)),
            Outcome::Signalled(Signal::Hangup)
        );
        assert_eq!(counts.outcome(None), Outcome::HostsFailed);
        assert_eq!(counts.line(3), "3 hosts: 1 ok, 2 stopped");
        let stopped = Ended::Stopped(Signal::Terminate);
        assert!(stopped.is_error());
        assert_eq!(stopped.word(), "stopped");
        assert_eq!(
            stopped.exit_text(),
            "error[interrupted]: stopped by SIGTERM while running"
        );
    }
}
