//! Each host's turn: it waits for a free place on its endpoint (`--per-endpoint`, counted
//! in this process; the slot files then count the user's other processes) and among the
//! hosts in flight (`--parallel`), then connects (key push, tunnel, SSH), runs the command
//! and hands its output to its streams. Launching stops at `--max-errors` failures or at
//! Ctrl-C/SIGTERM; hosts still running then get a few seconds to end.

use std::cell::Cell;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use russh::ChannelMsg;
use tokio::sync::Semaphore;

use super::output::{self, Mode, Stream, Which};
use super::summary::{Ended, Report};
use super::{Request, RunHost};
use crate::error::{Failure, Kind, Outcome};
use crate::local::signals::{self, Stop};
use crate::logbook;
use crate::route::open::PublicKey;
use crate::route::{Connector, Destination, Learned};
use crate::ssh::client;
use crate::ssh::deadline::Budget;
use crate::ssh::forward::RemoteForwards;
use crate::ssh::host_keys::{self, HostKeyCheck};
use crate::ssh::key::EphemeralKey;
use crate::ssh::session::signal_number;

/// A host command's exit status (128 + N for signal N): the host's, never this process's.
type RemoteStatus = i32;

/// How long hosts still running may take to end once the run is stopped.
const STOP_GRACE: Duration = Duration::from_secs(5);

/// What every host's turn shares.
struct Turns<'a> {
    request: &'a Request,
    /// The run's in-memory key: its public half is pushed before each host's tunnel.
    key: EphemeralKey,
    /// Hosts in flight.
    parallel: Semaphore,
    /// Places per endpoint.
    endpoints: HashMap<String, Arc<Semaphore>>,
    /// Failed hosts so far.
    failed: Cell<usize>,
    /// `--max-errors`.
    max_errors: Option<usize>,
    /// Launching has stopped, and why.
    stopped: Cell<Option<&'static str>>,
}

/// Runs every host; a report for each, in the order they were named.
pub async fn run(request: &Request, hosts: Vec<RunHost>, max_errors: Option<usize>) -> Vec<Report> {
    let key = match EphemeralKey::generate() {
        Ok(key) => key,
        Err(f) => {
            return hosts
                .into_iter()
                .map(|h| Report::new(&h, Ended::Failed(f.clone())))
                .collect();
        }
    };
    let mut endpoints = HashMap::new();
    for h in &hosts {
        if let Some(id) = &h.endpoint_id {
            endpoints
                .entry(id.clone())
                .or_insert_with(|| Arc::new(Semaphore::new(request.per_endpoint)));
        }
    }
    let turns = Turns {
        request,
        key,
        parallel: Semaphore::new(request.parallel),
        endpoints,
        failed: Cell::new(0),
        max_errors,
        stopped: Cell::new(None),
    };
    let named: Vec<(String, String, Option<String>)> = hosts
        .iter()
        .map(|h| {
            (
                h.chosen.label.clone(),
                h.chosen.entry.instance.id.clone(),
                h.endpoint_id.clone(),
            )
        })
        .collect();
    let mut reports: Vec<Option<Report>> = (0..hosts.len()).map(|_| None).collect();
    let mut all: FuturesUnordered<_> = hosts
        .into_iter()
        .enumerate()
        .map(|(i, h)| {
            let turns = &turns;
            async move { (i, turns.host(h).await) }
        })
        .collect();
    let stop = signals::first_of([Stop::Interrupt, Stop::Terminate]);
    tokio::pin!(stop);
    let mut interrupted = false;
    loop {
        tokio::select! {
            next = all.next() => match next {
                Some((i, report)) => {
                    turns.count(&report);
                    reports[i] = Some(report);
                }
                None => break,
            },
            () = &mut stop, if !interrupted => {
                interrupted = true;
                turns.stopped.set(Some("stopped by a signal"));
                eprintln!("eic-ssh: stopping: no new host starts; running ones get {} s to end", STOP_GRACE.as_secs());
                break;
            }
        }
    }
    if interrupted {
        let drain = async {
            while let Some((i, report)) = all.next().await {
                reports[i] = Some(report);
            }
        };
        let _ = tokio::time::timeout(STOP_GRACE, drain).await;
    }
    drop(all);
    reports
        .into_iter()
        .zip(named)
        .map(|(report, (label, id, endpoint))| {
            report.unwrap_or_else(|| Report {
                label,
                instance_id: id,
                endpoint_id: endpoint,
                ended: Ended::NotStarted("stopped by a signal"),
                started: SystemTime::now(),
                duration: Duration::ZERO,
                stdout: (Vec::new(), false),
                stderr: (Vec::new(), false),
                interrupted: true,
            })
        })
        .map(|mut r| {
            r.interrupted |= interrupted;
            r
        })
        .collect()
}

impl Turns<'_> {
    /// Counts a finished host toward `--max-errors`.
    fn count(&self, report: &Report) {
        if report.ended.is_error() {
            self.failed.set(self.failed.get() + 1);
        }
        if let Some(max) = self.max_errors
            && self.failed.get() >= max
            && self.stopped.get().is_none()
        {
            self.stopped
                .set(Some("not started: --max-errors was reached"));
        }
    }

    /// One host's turn, from waiting for its place to its report.
    async fn host(&self, mut host: RunHost) -> Report {
        let planned = std::mem::replace(&mut host.ready, Err(Failure::new(Kind::Other, "")));
        let destination = match planned {
            Ok(d) => d,
            Err(f) if f.kind == Kind::Refused => {
                return self.finish(&host, Ended::Refused(f.message), None);
            }
            Err(f) => return self.finish(&host, Ended::Failed(f), None),
        };
        let endpoint = host
            .endpoint_id
            .as_ref()
            .and_then(|id| self.endpoints.get(id))
            .cloned();
        let _place = match &endpoint {
            Some(s) => s.acquire().await.ok(),
            None => None,
        };
        let _turn = self.parallel.acquire().await.ok();
        if let Some(why) = self.stopped.get() {
            return Report::new(&host, Ended::NotStarted(why));
        }
        let started = SystemTime::now();
        let clock = Instant::now();
        let mode = &self.request.mode;
        let streams =
            Stream::new(mode, Which::Out, &host.chosen.label, &host.file_name).and_then(|out| {
                Stream::new(mode, Which::Err, &host.chosen.label, &host.file_name)
                    .map(|err| (out, err))
            });
        let (mut out, mut err) = match streams {
            Ok(s) => s,
            Err(f) => return self.finish(&host, Ended::Failed(f), None),
        };
        let learned = Mutex::new(Learned {
            verdict: Some(destination.verdict.clone()),
            instance: Some(host.chosen.entry.instance.id.clone()),
            endpoint: host.endpoint_id.clone(),
            ..Learned::default()
        });
        let reach = self.reach(*destination, &mut out, &mut err, &learned);
        let ended = match self.request.timeout {
            Some(limit) => match tokio::time::timeout(limit, reach).await {
                Ok(ended) => ended,
                Err(_) => Ended::TimedOut(limit),
            },
            None => reach.await,
        };
        out.finish();
        err.finish();
        let mut report = Report::new(&host, ended);
        report.started = started;
        report.duration = clock.elapsed();
        report.stdout = (std::mem::take(&mut out.kept), out.truncated);
        report.stderr = (std::mem::take(&mut err.kept), err.truncated);
        let learned = learned.into_inner().unwrap_or_else(|e| e.into_inner());
        self.log(&host, &report, learned);
        self.show(&host, &report);
        report
    }

    /// A host that never connected: reported, logged, shown.
    fn finish(&self, host: &RunHost, ended: Ended, learned: Option<Learned>) -> Report {
        let report = Report::new(host, ended);
        let learned = learned.unwrap_or_else(|| Learned {
            verdict: host.verdict.clone(),
            instance: Some(host.chosen.entry.instance.id.clone()),
            endpoint: host.endpoint_id.clone(),
            ..Learned::default()
        });
        self.log(host, &report, learned);
        self.show(host, &report);
        report
    }

    /// The host's entry in the connection log (one per host, as for a session), unless
    /// `log = false`; a host never started has none.
    fn log(&self, host: &RunHost, report: &Report, learned: Learned) {
        if self.request.log_off || matches!(report.ended, Ended::NotStarted(_)) {
            return;
        }
        let mut entry = logbook::Entry::new("run", &host.chosen.typed);
        learned.record(&mut entry);
        (entry.outcome, entry.exit) = match &report.ended {
            Ended::Exited(0) => (Outcome::Success.word().to_string(), 0),
            Ended::Exited(n) => (Outcome::Success.word().to_string(), *n),
            other => {
                let f = other.failure();
                (f.message.clone(), f.exit().code())
            }
        };
        entry.duration_ms = u64::try_from(report.duration.as_millis()).unwrap_or(u64::MAX);
        logbook::append(&entry);
    }

    /// The host's end as `--out-dir` and `--json` want it (prefixed lines need nothing more).
    fn show(&self, host: &RunHost, report: &Report) {
        match &self.request.mode {
            Mode::Dir(dir) => {
                if matches!(report.ended, Ended::NotStarted(_)) {
                    return;
                }
                output::write_exit(dir, &host.file_name, &report.ended.exit_text());
            }
            Mode::Json => report.print_json(),
            Mode::Lines { .. } => {}
        }
    }

    /// Key push, tunnel, SSH, the command: its exit status, or what failed.
    async fn reach(
        &self,
        destination: Destination,
        out: &mut Stream,
        err: &mut Stream,
        learned: &Mutex<Learned>,
    ) -> Ended {
        match self.exec(destination, out, err, learned).await {
            Ok(status) => Ended::Exited(status),
            Err(f) => Ended::Failed(f),
        }
    }

    async fn exec(
        &self,
        destination: Destination,
        out: &mut Stream,
        err: &mut Stream,
        learned: &Mutex<Learned>,
    ) -> Result<RemoteStatus, Failure> {
        let settings = destination.settings.clone();
        let instance_id = destination.found.route.instance_id.clone();
        let key = PublicKey {
            user: settings.user.clone().unwrap_or_default(),
            line: self.key.public_line(),
        };
        let connector = Connector::new(destination, Some(key.clone()))
            .with_slot_limit(self.request.per_endpoint);
        let tunnel = connector.open().await?;
        learned.lock().unwrap_or_else(|e| e.into_inner()).traffic = connector.traffic();
        let seen = Arc::new(Mutex::new(None));
        let check = HostKeyCheck {
            name: host_keys::host_name(
                settings.host_key_alias.as_deref().unwrap_or(&instance_id),
                settings.port,
            ),
            path: host_keys::file(settings.known_hosts.as_deref()),
            policy: self.request.policy,
            console: None,
            seen: seen.clone(),
        };
        let timing = self.request.timing;
        let budget = Budget::start(timing.handshake);
        let handle = client::connect(
            tunnel,
            check,
            None,
            RemoteForwards::default(),
            timing,
            settings.port,
            &budget,
        )
        .await;
        learned.lock().unwrap_or_else(|e| e.into_inner()).host_key =
            seen.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let mut handle = handle?;
        client::authenticate(&mut handle, &key.user, self.key.for_auth(), &budget).await?;
        let broken = |what: &str, e: russh::Error| Failure::new(Kind::Ssh, format!("{what}: {e}"));
        let mut channel = handle
            .channel_open_session()
            .await
            .map_err(|e| broken("cannot open a session", e))?;
        channel
            .exec(true, self.request.command.as_bytes())
            .await
            .map_err(|e| broken("cannot start the command", e))?;
        if let Some(bytes) = &self.request.stdin {
            channel
                .data(&bytes[..])
                .await
                .map_err(|e| broken("cannot send stdin", e))?;
        }
        let _ = channel.eof().await;
        let mut status = None;
        while let Some(msg) = channel.wait().await {
            match msg {
                ChannelMsg::Data { data } => out.push(&data),
                ChannelMsg::ExtendedData { data, ext: 1 } => err.push(&data),
                ChannelMsg::ExitStatus { exit_status } => {
                    status = Some(i32::try_from(exit_status).unwrap_or(255));
                }
                ChannelMsg::ExitSignal { signal_name, .. } => {
                    status = Some(128 + signal_number(&signal_name));
                }
                ChannelMsg::Close => break,
                _ => {}
            }
        }
        client::close(handle).await;
        status.ok_or_else(|| {
            Failure::new(
                Kind::Ssh,
                "the command ended without an exit status (the connection was lost)",
            )
        })
    }
}
