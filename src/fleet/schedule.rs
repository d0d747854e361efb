//! Each host's turn: it waits for a free place on its endpoint (`--per-endpoint`, counted
//! in this process; the slot files then count the user's other processes) and among the
//! hosts in flight (`--parallel`), then connects (key push, tunnel, SSH), runs the command
//! and hands its output to its streams. Launching stops at `--max-errors` failures or at
//! SIGINT, SIGTERM or SIGHUP; after a signal, hosts still running get it passed on to their
//! command and their session closed, within the stop bound (`net::timeouts::STOP`).

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime};

use futures_util::FutureExt;
use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use russh::ChannelMsg;
use russh::client::{Handle, Msg};
use tokio::sync::Semaphore;

use super::output::{self, Mode, Stream, Which};
use super::progress;
use super::summary::{Ended, Report};
use super::{Request, RunHost};
use crate::error::{Failure, Kind, Outcome, Signal};
use crate::local::signals::{self, Stops};
use crate::logbook;
use crate::net::timeouts::{CLOSE_GRACE, STOP};
use crate::route::open::PublicKey;
use crate::route::{Connector, Destination, Learned};
use crate::ssh::client;
use crate::ssh::deadline::Budget;
use crate::ssh::forward::RemoteForwards;
use crate::ssh::host_keys::{self, HostKeyCheck};
use crate::ssh::key::EphemeralKey;
use crate::ssh::session::{remote_signal, signal_number};

/// A host command's exit status (128 + N for signal N): the host's, never this process's.
type RemoteStatus = i32;

/// How a host's command ended, when the connection held.
enum Ran {
    /// It exited with this status.
    Exited(RemoteStatus),
    /// A signal stopped the run: passed on to the command, its session closed.
    Stopped(Signal),
}

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
    /// SIGINT, SIGTERM or SIGHUP: no host starts, running ones are stopped.
    stops: Stops,
    /// Which hosts (by their place in the run) have started.
    started: RefCell<Vec<bool>>,
}

/// Why hosts did not start after `signal`.
fn not_started(signal: Signal) -> &'static str {
    match signal {
        Signal::Hangup => "not started: stopped by SIGHUP",
        Signal::Interrupt => "not started: stopped by SIGINT",
        Signal::Terminate => "not started: stopped by SIGTERM",
    }
}

/// Runs every host; a report for each, in the order they were named, and the signal that
/// stopped the run, if one did. After a stop request (`stops`) no host starts, and each
/// running one has its command sent the signal and its session closed; all of it within
/// [`STOP`], every host that started logged.
pub async fn run(
    request: &Request,
    hosts: Vec<RunHost>,
    max_errors: Option<usize>,
    stops: Stops,
) -> (Vec<Report>, Option<Signal>) {
    let key = match EphemeralKey::generate() {
        Ok(key) => key,
        Err(f) => {
            let reports = hosts
                .into_iter()
                .map(|h| Report::new(&h, Ended::Failed(f.clone())))
                .collect();
            return (reports, None);
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
        stops: stops.clone(),
        started: RefCell::new(vec![false; hosts.len()]),
    };
    let named: Vec<Report> = hosts
        .iter()
        .map(|h| Report::new(h, Ended::NotStarted("")))
        .collect();
    let typed: Vec<String> = hosts.iter().map(|h| h.chosen.typed.clone()).collect();
    let mut reports: Vec<Option<Report>> = (0..hosts.len()).map(|_| None).collect();
    let mut all: FuturesUnordered<_> = hosts
        .into_iter()
        .enumerate()
        .map(|(i, h)| {
            let turns = &turns;
            async move { (i, turns.host(i, h).await) }
        })
        .collect();
    let every_host = async {
        while let Some((i, report)) = all.next().await {
            turns.count(&report);
            reports[i] = Some(report);
        }
    };
    let notice = async {
        let stop = stops.clone().await;
        progress::print(|| {
            eprintln!(
                "eic-ssh: stopping ({}): no new host starts; running ones get the signal and are closed within {} s",
                stop.signal().name(),
                STOP.as_secs()
            )
        });
        std::future::pending::<()>().await
    };
    let every_host = async {
        tokio::select! {
            () = every_host => {}
            () = notice => unreachable!("the notice never finishes"),
        }
    };
    let finished = signals::within_grace(stops.clone(), STOP, every_host).await;
    drop(all);
    let stopped = stops.now_or_never().map(|stop| stop.signal());
    let started = turns.started.take();
    let reports = reports
        .into_iter()
        .zip(named)
        .enumerate()
        .map(|(i, (report, named))| match (report, stopped) {
            (Some(report), _) => report,
            // Cut off at the bound: still logged, as stopped.
            (None, Some(signal)) if started[i] => {
                let report = Report {
                    ended: Ended::Stopped(signal),
                    ..named
                };
                let learned = Learned {
                    instance: Some(report.instance_id.clone()),
                    endpoint: report.endpoint_id.clone(),
                    ..Learned::default()
                };
                turns.log(&typed[i], &report, learned);
                report
            }
            (None, signal) => Report {
                ended: Ended::NotStarted(signal.map_or("not started", not_started)),
                ..named
            },
        })
        .collect::<Vec<_>>();
    if finished.is_none() {
        eprintln!(
            "eic-ssh: some hosts did not close within {} s of the signal; ending without waiting for them",
            STOP.as_secs()
        );
    }
    (reports, stopped)
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

    /// One host's turn (the `i`th of the run), from waiting for its place to its report.
    async fn host(&self, i: usize, mut host: RunHost) -> Report {
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
        progress::update(|c| c.waiting += 1);
        let places = async {
            let place = match &endpoint {
                Some(s) => s.acquire().await.ok(),
                None => None,
            };
            (place, self.parallel.acquire().await.ok())
        };
        let held = tokio::select! {
            held = places => Ok(held),
            stop = self.stops.clone() => Err(stop),
        };
        progress::update(|c| c.waiting = c.waiting.saturating_sub(1));
        let (_place, _turn) = match held {
            Ok(held) => held,
            Err(stop) => return Report::new(&host, Ended::NotStarted(not_started(stop.signal()))),
        };
        if let Some(stop) = self.stops.clone().now_or_never() {
            return Report::new(&host, Ended::NotStarted(not_started(stop.signal())));
        }
        if let Some(why) = self.stopped.get() {
            return Report::new(&host, Ended::NotStarted(why));
        }
        self.started.borrow_mut()[i] = true;
        progress::update(|c| c.running += 1);
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
            Err(f) => {
                progress::update(|c| c.running = c.running.saturating_sub(1));
                return self.finish(&host, Ended::Failed(f), None);
            }
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
        self.log(&host.chosen.typed, &report, learned);
        self.show(&host, &report);
        let failed = usize::from(report.ended.is_error());
        progress::update(|c| {
            c.running = c.running.saturating_sub(1);
            c.done += 1;
            c.failed += failed;
        });
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
        self.log(&host.chosen.typed, &report, learned);
        self.show(host, &report);
        progress::update(|c| {
            c.done += 1;
            c.failed += 1;
        });
        report
    }

    /// The host's entry in the connection log (one per host, as for a session), unless
    /// `log = false`; a host never started has none.
    fn log(&self, typed: &str, report: &Report, learned: Learned) {
        if self.request.log_off || matches!(report.ended, Ended::NotStarted(_)) {
            return;
        }
        let mut entry = logbook::Entry::new("run", typed);
        learned.record(&mut entry);
        (entry.outcome, entry.exit) = match &report.ended {
            Ended::Exited(0) => (Outcome::Success.word().to_string(), 0),
            Ended::Exited(n) => (Outcome::Success.word().to_string(), *n),
            Ended::Stopped(signal) => {
                let stopped = Outcome::Signalled(*signal);
                (stopped.word().to_string(), stopped.code())
            }
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
            Ok(Ran::Exited(status)) => Ended::Exited(status),
            Ok(Ran::Stopped(signal)) => Ended::Stopped(signal),
            Err(f) => Ended::Failed(f),
        }
    }

    /// Connects, runs the command and reads it to its end; a stop request abandons the
    /// connecting, or sends the command the signal and closes its session.
    async fn exec(
        &self,
        destination: Destination,
        out: &mut Stream,
        err: &mut Stream,
        learned: &Mutex<Learned>,
    ) -> Result<Ran, Failure> {
        let started = tokio::select! {
            started = self.start(destination, learned) => started?,
            // Nothing runs yet: what was opening is dropped.
            stop = self.stops.clone() => return Ok(Ran::Stopped(stop.signal())),
        };
        let (handle, mut channel) = started;
        let ended = tokio::select! {
            status = read(&mut channel, out, err) => Ok(status),
            stop = self.stops.clone() => Err(stop.signal()),
        };
        if let Err(signal) = ended {
            let close = async {
                let _ = channel.signal(remote_signal(signal)).await;
                let _ = channel.close().await;
            };
            let _ = tokio::time::timeout(CLOSE_GRACE, close).await;
        }
        client::close(handle).await;
        match ended {
            Ok(Some(status)) => Ok(Ran::Exited(status)),
            Ok(None) => Err(Failure::new(
                Kind::Ssh,
                "the command ended without an exit status (the connection was lost)",
            )),
            Err(signal) => Ok(Ran::Stopped(signal)),
        }
    }

    /// Key push, tunnel, SSH and authentication; the command started, `--stdin` sent.
    async fn start(
        &self,
        destination: Destination,
        learned: &Mutex<Learned>,
    ) -> Result<(Handle<client::Callbacks>, russh::Channel<Msg>), Failure> {
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
        let channel = handle
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
        Ok((handle, channel))
    }
}

/// The command's stdout and stderr to the host's streams until the channel closes; its exit
/// status, if it sent one.
async fn read(
    channel: &mut russh::Channel<Msg>,
    out: &mut Stream,
    err: &mut Stream,
) -> Option<RemoteStatus> {
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
    status
}
