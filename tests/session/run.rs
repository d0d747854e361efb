//! `eic-ssh run`: one command on many emulated instances (they share the emulator's one
//! real sshd, each reached through its own private IP and endpoint), within each endpoint's
//! connections; labelled output, files, JSON, the summary and the exit status; and the bad
//! input that stops a run before anything is connected.

use crate::common;

use std::collections::HashMap;
use std::io::Write;
use std::process::{Command, Output, Stdio};

use common::tmux::Tmux;
use common::*;
use eic_ssh_sim::World;
use eic_ssh_sim::world::{Endpoint, Instance, Rule, SecurityGroup};

/// The second VPC, with its own endpoint.
const VPC_B: &str = "vpc-0second000000000b";
/// The first VPC's endpoint (the demo's) and the second's.
const EICE_A: &str = "eice-0123456789abcdef0";
const EICE_B: &str = "eice-0bbbbbbbbbbbbbbb0";

fn instance(
    id: &str,
    name: &str,
    vpc: &str,
    subnet: &str,
    ip: &str,
    role: &str,
    sg: &str,
) -> Instance {
    Instance {
        id: id.into(),
        state: "running".into(),
        vpc_id: vpc.into(),
        subnet_id: subnet.into(),
        availability_zone: "us-east-1a".into(),
        private_ip: Some(ip.into()),
        ipv6: None,
        name: Some(name.into()),
        tags: [("Role".to_string(), role.to_string())]
            .into_iter()
            .collect(),
        security_groups: vec![sg.into()],
        console_host_keys: None,
    }
}

/// The demo world plus `web` instances web-1… behind the demo's endpoint and `app`
/// instances app-1… behind a second endpoint in another VPC.
fn fleet(web: usize, app: usize) -> World {
    let mut w = World::demo();
    let vpc_a = w.instances[0].vpc_id.clone();
    let subnet_a = w.instances[0].subnet_id.clone();
    for n in 1..=web {
        w.instances.push(instance(
            &format!("i-0a{n:015x}"),
            &format!("web-{n}"),
            &vpc_a,
            &subnet_a,
            &format!("10.0.2.{n}"),
            "web",
            "sg-0instance000000001",
        ));
    }
    for n in 1..=app {
        w.instances.push(instance(
            &format!("i-0b{n:015x}"),
            &format!("app-{n}"),
            VPC_B,
            "subnet-0second0000000b",
            &format!("10.1.2.{n}"),
            "app",
            "sg-0instance00000000b",
        ));
    }
    w.endpoints.push(Endpoint {
        id: EICE_B.into(),
        vpc_id: VPC_B.into(),
        subnet_id: "subnet-0second0000000b".into(),
        security_groups: vec!["sg-0endpoint00000000b".into()],
        eni_ip: "10.1.0.100".into(),
        ..w.endpoints[0].clone()
    });
    w.security_groups.push(SecurityGroup {
        id: "sg-0instance00000000b".into(),
        name: "app".into(),
        vpc_id: VPC_B.into(),
        inbound: vec![Rule {
            from_port: 22,
            to_port: 22,
            cidrs: vec![],
            groups: vec!["sg-0endpoint00000000b".into()],
        }],
        outbound: None,
    });
    w.security_groups.push(SecurityGroup {
        id: "sg-0endpoint00000000b".into(),
        name: "eice-b".into(),
        vpc_id: VPC_B.into(),
        inbound: vec![],
        outbound: None,
    });
    w
}

/// A harness over `world` whose known_hosts holds the sshd's key under every instance id.
fn harness(world: World) -> Harness {
    let ids: Vec<String> = world.instances.iter().map(|i| i.id.clone()).collect();
    let h = Harness::with_world(world);
    let key = h.sim.sshd().unwrap().host_public_key.clone();
    let lines: String = ids.iter().map(|id| format!("{id} {key}\n")).collect();
    std::fs::write(&h.known_hosts, lines).unwrap();
    h
}

/// `eic-ssh run` with the harness's user and known_hosts, then `args`.
fn run_cmd(h: &Harness, args: &[&str]) -> Command {
    let mut cmd = h.eic_ssh();
    cmd.env("EIC_SSH_KNOWN_HOSTS", &h.known_hosts)
        .args(["run", "-l", &h.user])
        .args(args);
    cmd
}

fn eic_run(h: &Harness, args: &[&str]) -> Output {
    run(&mut run_cmd(h, args), LIMIT)
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// The most tunnels open at once on each endpoint, from the emulator's log.
fn peaks(h: &Harness) -> HashMap<String, usize> {
    let mut open: HashMap<String, usize> = HashMap::new();
    let mut peak: HashMap<String, usize> = HashMap::new();
    for e in h.sim.events() {
        let Some(endpoint) = e["endpoint"].as_str() else {
            continue;
        };
        match e["kind"].as_str().or(e["event"].as_str()) {
            Some("tunnel_open") => {
                let n = open.entry(endpoint.into()).or_default();
                *n += 1;
                let p = peak.entry(endpoint.into()).or_default();
                *p = (*p).max(*n);
            }
            Some("tunnel_closed") => *open.entry(endpoint.into()).or_default() -= 1,
            _ => {}
        }
    }
    peak
}

#[test]
fn every_host_runs_the_command_with_labelled_lines_from_one_round_of_lookups() {
    let h = harness(fleet(3, 2));
    let out = eic_run(
        &h,
        &["web-*", "app-1", "--", "echo one; echo two >&2; echo three"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let mut lines: Vec<String> = stdout(&out).lines().map(str::to_string).collect();
    lines.sort();
    let mut expected = Vec::new();
    for label in ["web-1", "web-2", "web-3", "app-1"] {
        expected.push(format!("{label:<5} | one"));
        expected.push(format!("{label:<5} | three"));
    }
    expected.sort();
    assert_eq!(
        lines, expected,
        "each line whole, prefixed, padded to one width"
    );
    let err = stderr(&out);
    for label in ["web-1", "web-2", "web-3", "app-1"] {
        assert!(err.contains(&format!("{label:<5} | two\n")), "{err}");
    }
    assert!(err.contains("eic-ssh: run: 4 hosts: 4 ok\n"), "{err}");
    // One listing for the whole run; a key pushed and a tunnel opened per host.
    let actions = api_actions(&h);
    let describes = actions.iter().filter(|a| *a == "DescribeInstances").count();
    let listings = actions
        .iter()
        .filter(|a| *a == "DescribeInstanceConnectEndpoints")
        .count();
    assert_eq!((describes, listings), (1, 1), "{actions:?}");
    let pushed: Vec<String> = h
        .sim
        .events_of("key_pushed")
        .iter()
        .map(|e| e["instance"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(pushed.len(), 4, "{pushed:?}");
    for id in [
        "i-0a000000000000001",
        "i-0a000000000000003",
        "i-0b000000000000001",
    ] {
        assert!(pushed.iter().any(|p| p == id), "{id} in {pushed:?}");
    }
    let opened = h.sim.events_of("tunnel_open");
    assert_eq!(opened.len(), 4);
    assert_eq!(
        opened.iter().filter(|e| e["endpoint"] == EICE_B).count(),
        1,
        "app-1 through its own endpoint"
    );
}

#[test]
fn no_more_than_per_endpoint_tunnels_and_the_endpoints_429_is_waited_out() {
    // --per-endpoint 2 over 6 hosts of one endpoint: never more than 2 open there.
    let h = harness(fleet(6, 0));
    let out = eic_run(
        &h,
        &[
            "--per-endpoint",
            "2",
            "-P",
            "10",
            "--filter",
            "tag:Role=web",
            "--",
            "sleep 0.3; echo done",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stdout(&out).matches("| done").count(), 6);
    assert_eq!(peaks(&h)[EICE_A], 2, "{:?}", peaks(&h));
    assert!(h.sim.events_of("tunnel_refused").is_empty());

    // An endpoint that admits only 2 (someone else holds the rest): its 429s are waited
    // out, not failures.
    let mut world = fleet(5, 0);
    world.max_connections_per_endpoint = 2;
    let h = harness(world);
    let out = eic_run(&h, &["-P", "5", "web-*", "--", "sleep 0.3; echo done"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stdout(&out).matches("| done").count(), 5);
    assert!(
        !h.sim.events_of("tunnel_refused").is_empty(),
        "the endpoint refused some"
    );
    assert!(stderr(&out).contains("5 hosts: 5 ok"), "{}", stderr(&out));
}

#[test]
fn a_hundred_and_twenty_hosts_on_two_endpoints_with_p_100_stay_under_each_quota() {
    // eic-sim's fleet: 120 instances spread over 2 VPCs, each with its own endpoint
    // admitting 20 connections; -P 100 asks for more than either admits.
    let world = World::fleet(120, 2);
    let endpoints: Vec<String> = world.endpoints.iter().map(|e| e.id.clone()).collect();
    let h = harness(world);
    let mut cmd = run_cmd(
        &h,
        &[
            "-P",
            "100",
            "--filter",
            "tag:Role=web,db,cache",
            "--",
            "sleep 0.2; echo done",
        ],
    );
    let out = run(&mut cmd, 3 * LIMIT);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stdout(&out).matches("| done\n").count(), 120);
    assert!(
        stderr(&out).contains("eic-ssh: run: 120 hosts: 120 ok\n"),
        "{}",
        stderr(&out)
    );
    // Every host through its own VPC's endpoint, never more than 20 at once on either,
    // and not one 429: the slots kept the run under the quota, nothing was waited out.
    let peaks = peaks(&h);
    for id in &endpoints {
        let opened = h
            .sim
            .events_of("tunnel_open")
            .iter()
            .filter(|e| e["endpoint"] == id.as_str())
            .count();
        assert_eq!(opened, 60, "{id}");
        assert!(peaks[id] <= 20, "{id}: {peaks:?}");
    }
    assert!(
        h.sim.events_of("tunnel_refused").is_empty(),
        "{:?}",
        h.sim.events_of("tunnel_refused")
    );
}

#[test]
fn a_terminal_shows_the_progress_line_between_the_host_lines_and_then_the_summary() {
    let h = harness(fleet(3, 0));
    // The hosts are this machine: each waits for the gate file, so the line is caught
    // with one host running and two waiting for its endpoint's one slot.
    let gate = h.dir.path().join("gate");
    let tmux = Tmux::start(&h, 120, 20);
    tmux.wait_for("local$");
    tmux.keys(&format!(
        "{} run -l {} --per-endpoint 1 'web-*' -- 'until [ -e {} ]; do sleep 0.05; done; echo done'",
        env!("CARGO_BIN_EXE_eic-ssh"),
        h.user,
        gate.display()
    ));
    tmux.enter();
    tmux.wait_for("run: 0/3 done, 1 running, 2 waiting for a slot");
    std::fs::write(&gate, "").unwrap();
    let screen = tmux.wait_for("eic-ssh: run: 3 hosts: 3 ok");
    let lines: Vec<&str> = screen.lines().map(str::trim_end).collect();
    for label in ["web-1", "web-2", "web-3"] {
        assert!(
            lines.contains(&format!("{label} | done").as_str()),
            "{label}'s line whole: {screen}"
        );
    }
    assert!(lines.contains(&"eic-ssh: run: 3 hosts: 3 ok"), "{screen}");
    assert!(
        !screen.contains("running"),
        "the progress line is gone: {screen}"
    );

    // Not a terminal: no progress line at all.
    let out = eic_run(&h, &["web-1", "--", "true"]);
    assert_eq!(stderr(&out), "eic-ssh: run: 1 host: 1 ok\n");
}

#[test]
fn a_refused_host_is_reported_and_the_others_go_on() {
    let mut world = fleet(2, 1);
    world.client_public_ip = Some("203.0.113.9".parse().unwrap());
    let h = harness(world);
    let config = h.dir.path().join("config.toml");
    std::fs::write(
        &config,
        format!(
            "[defaults]\negress_check_url = \"{}\"\n\n[hosts.guarded]\ninstance = \"i-0b000000000000001\"\nallow = [\"198.51.100.0/24\"]\n",
            h.sim.checkip_url()
        ),
    )
    .unwrap();
    let mut cmd = run_cmd(&h, &["web-*", "guarded", "--", "echo hi"]);
    cmd.env("EIC_SSH_CONFIG", &config);
    let out = run(&mut cmd, LIMIT);
    assert_eq!(out.status.code(), Some(11), "{}", stderr(&out));
    assert_eq!(stdout(&out).matches("| hi").count(), 2);
    let err = stderr(&out);
    assert!(
        err.contains("3 hosts: 2 ok, 1 refused by the guard"),
        "{err}"
    );
    assert!(err.contains("  guarded: refusing"), "{err}");
    assert_eq!(
        h.sim.events_of("checkip").len(),
        1,
        "one egress check for the run"
    );
    assert!(
        !h.sim
            .events_of("key_pushed")
            .iter()
            .any(|e| e["instance"] == "i-0b000000000000001"),
        "nothing pushed for the refused host"
    );

    // --dry-run: the plan, with each host's endpoint and verdict; nothing connected.
    let pushed = h.sim.events_of("key_pushed").len();
    let mut cmd = run_cmd(&h, &["--dry-run", "web-1", "guarded", "--", "true"]);
    cmd.env("EIC_SSH_CONFIG", &config);
    let out = run(&mut cmd, LIMIT);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let plan = stdout(&out);
    assert!(
        plan.contains(&format!(
            "web-1    i-0a000000000000001  {EICE_A}  unchecked"
        )),
        "{plan}"
    );
    assert!(
        plan.contains(&format!(
            "guarded  i-0b000000000000001  {EICE_B}  refused: refusing"
        )),
        "{plan}"
    );
    assert_eq!(h.sim.events_of("key_pushed").len(), pushed);
    assert_eq!(h.sim.events_of("tunnel_open").len(), 2);
}

#[test]
fn exit_statuses_json_and_out_dir() {
    let h = harness(fleet(2, 1));
    // Every host reached, one command fails: 10.
    let out = eic_run(
        &h,
        &[
            "--json",
            "web-1",
            "app-1",
            "--",
            "echo out; echo err >&2; exit 3",
        ],
    );
    assert_eq!(out.status.code(), Some(10), "{}", stderr(&out));
    let objects: Vec<serde_json::Value> = stdout(&out)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(objects.len(), 2);
    let web = objects.iter().find(|o| o["label"] == "web-1").unwrap();
    assert_eq!(web["instance_id"], "i-0a000000000000001");
    assert_eq!(web["endpoint_id"], EICE_A);
    assert_eq!(web["status"], "failed");
    assert_eq!(web["exit"], 3);
    assert_eq!(web["error"], serde_json::Value::Null);
    assert_eq!(web["stdout"], "out\n");
    assert_eq!(web["stderr"], "err\n");
    assert_eq!(web["stdout_truncated"], false);
    assert!(web["start"].as_str().unwrap().ends_with('Z'));
    assert!(web["duration_ms"].is_u64());
    let err = stderr(&out);
    assert!(err.contains("2 hosts: 2 exited non-zero"), "{err}");
    assert!(
        err.contains("  web-1: exit 3\n") && err.contains("  app-1: exit 3\n"),
        "{err}"
    );
    assert!(err.contains("  slowest: "), "{err}");

    // --out-dir: LABEL.stdout, .stderr, .exit, nothing printed.
    let dir = h.dir.path().join("out");
    let out = eic_run(
        &h,
        &[
            "--out-dir",
            dir.to_str().unwrap(),
            "web-*",
            "--",
            "echo out; echo err >&2",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stdout(&out), "");
    for label in ["web-1", "web-2"] {
        let read = |ext: &str| std::fs::read_to_string(dir.join(format!("{label}.{ext}"))).unwrap();
        assert_eq!(read("stdout"), "out\n");
        assert_eq!(read("stderr"), "err\n");
        assert_eq!(read("exit"), "0\n");
    }
    // The same directory again: not empty, refused before anything is connected.
    let opened = h.sim.events_of("tunnel_open").len();
    let out = eic_run(
        &h,
        &["--out-dir", dir.to_str().unwrap(), "web-*", "--", "true"],
    );
    assert_fails(&out, 2, "the directory is not empty");
    assert_eq!(h.sim.events_of("tunnel_open").len(), opened);
}

#[test]
fn stdin_timeout_and_max_errors() {
    let h = harness(fleet(3, 0));
    // --stdin: the same bytes to each host.
    let mut cmd = run_cmd(&h, &["--stdin", "web-*", "--", "cat"]);
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    child.stdin.take().unwrap().write_all(b"fed\n").unwrap();
    let out = wait(child, LIMIT);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        stdout(&out).matches("| fed\n").count(),
        3,
        "{}",
        stdout(&out)
    );
    // Without it, the hosts read nothing.
    let out = eic_run(&h, &["web-1", "--", "cat; echo end"]);
    assert_eq!(stdout(&out), "web-1 | end\n");

    // --timeout: a host out of time is a host failure (11).
    let out = eic_run(&h, &["--timeout", "2", "web-1", "--", "sleep 30"]);
    assert_eq!(out.status.code(), Some(11), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("web-1: did not finish within --timeout 2 s"),
        "{}",
        stderr(&out)
    );

    // --max-errors 1, one at a time: the first failure stops the launching.
    let out = eic_run(
        &h,
        &["-P", "1", "--max-errors", "1", "web-*", "--", "exit 1"],
    );
    assert_eq!(out.status.code(), Some(11), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("3 hosts: 1 exited non-zero, 2 not started"),
        "{err}"
    );
}

#[cfg(unix)]
#[test]
fn each_stop_signal_stops_the_run_ending_and_logging_its_running_hosts() {
    use std::io::BufRead;
    let h = harness(fleet(4, 0));
    for (n, (signal, code)) in STOP_SIGNALS.into_iter().enumerate() {
        // Three hosts run (the command is the remote process itself), the fourth waits for
        // a place on the endpoint.
        let sleeper = sleeper(n);
        let command = format!("echo up; exec {sleeper}");
        let mut cmd = run_cmd(&h, &["--per-endpoint", "3", "web-*", "--", &command]);
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().unwrap();
        let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
        let running: Vec<String> = (0..3)
            .map(|_| {
                let line = lines.next().unwrap().unwrap();
                let label = line.strip_suffix(" | up").expect("a host's first line");
                label.trim().to_string()
            })
            .collect();
        let logged_before = log_entries(&h).len();
        send_signal(signal, child.id());
        let out = wait(child, LIMIT);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(code), "SIG{signal}: {err}");
        assert!(
            err.contains(&format!(
                "eic-ssh: run: stopped by SIG{signal}: 4 hosts: 1 not started, 3 stopped\n"
            )),
            "{err}"
        );
        for label in &running {
            assert!(
                err.contains(&format!(
                    "  {label}: stopped by SIG{signal} while running\n"
                )),
                "{label}: {err}"
            );
        }
        // One entry for each host that ran, none for the one that never started.
        let log = log_entries(&h);
        assert_eq!(log.len(), logged_before + 3, "SIG{signal}: {log:#?}");
        for e in &log[logged_before..] {
            assert_eq!(e["command"], "run", "{e}");
            assert_eq!(e["outcome"], format!("ended by SIG{signal}"), "{e}");
            assert_eq!(e["exit"], code, "{e}");
        }
        assert!(
            remote_signalled(&h, &sleeper, 3 * (n + 1)),
            "SIG{signal}: every host's command was passed the signal"
        );
        assert!(eventually(LIMIT, || h.sim.events_of("tunnel_closed").len()
            == 3 * (n + 1)));
    }
}

#[test]
fn bad_input_is_one_line_and_connects_nothing() {
    let h = harness(fleet(2, 0));
    let cases: &[(&[&str], i32, &str)] = &[
        (
            &["--", "true"],
            2,
            "eic-ssh: no hosts: name targets (aliases, instance ids, Name tags, 'web-*') or --filter NAME=VALUE\n",
        ),
        (
            &["--filter", "tag:Role", "--", "true"],
            2,
            "eic-ssh: --filter tag:Role: expected NAME=VALUE[,VALUE…], e.g. tag:team=web or vpc-id=vpc-0abc\n",
        ),
        (
            &["db-*", "--", "true"],
            5,
            "eic-ssh: the Name glob db-* matches no running instance (with the --filter given, if any): `eic-ssh list` shows the names\n",
        ),
        (
            &["--per-endpoint", "0", "web-1", "--", "true"],
            2,
            "eic-ssh: --per-endpoint 0: expected 1 to 20 (an endpoint admits 20 concurrent connections)\n",
        ),
        (
            &["--per-endpoint", "21", "web-1", "--", "true"],
            2,
            "eic-ssh: --per-endpoint 21: expected 1 to 20 (an endpoint admits 20 concurrent connections)\n",
        ),
        (
            &["--parallel", "0", "web-1", "--", "true"],
            2,
            "eic-ssh: --parallel 0: expected 1 to 1000 (hosts in flight)\n",
        ),
        (
            &["--max-errors", "x", "web-1", "--", "true"],
            2,
            "eic-ssh: --max-errors x: expected a count (5) or a percentage of the hosts (10%)\n",
        ),
        (
            &["web-1"],
            2,
            "eic-ssh: no command: eic-ssh run [OPTIONS] TARGET… -- COMMAND…\n",
        ),
    ];
    for (args, code, line) in cases {
        let out = eic_run(&h, args);
        assert_fails_exactly(&out, *code, line);
    }
    let file = h.dir.path().join("a-file");
    std::fs::write(&file, "").unwrap();
    let out = eic_run(
        &h,
        &["--out-dir", file.to_str().unwrap(), "web-1", "--", "true"],
    );
    assert_fails(&out, 2, "it is not a directory");
    assert_eq!(stderr(&out).lines().count(), 1);
    assert!(h.sim.events_of("tunnel_open").is_empty());
    assert!(h.sim.events_of("key_pushed").is_empty());
}

#[test]
fn the_slots_this_users_other_processes_hold_count() {
    let h = harness(fleet(4, 0));
    // 18 of the endpoint's 20 slots held elsewhere by this user (here: the test).
    let dir = h.dir.path().join(".cache/eic-ssh/slots").join(EICE_A);
    std::fs::create_dir_all(&dir).unwrap();
    // Private, as eic-ssh makes them (it keeps no slots in a directory others may enter).
    #[cfg(unix)]
    for d in [dir.as_path(), dir.parent().unwrap()] {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o700)).unwrap();
    }
    let held: Vec<std::fs::File> = (0..18)
        .map(|i| {
            let f = std::fs::File::create(dir.join(format!("{i}.lock"))).unwrap();
            f.try_lock().unwrap();
            f
        })
        .collect();
    let out = eic_run(&h, &["web-*", "--", "sleep 0.5; echo done"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stdout(&out).matches("| done").count(), 4);
    assert_eq!(
        peaks(&h)[EICE_A],
        2,
        "18 held elsewhere leave 2: {:?}",
        peaks(&h)
    );
    assert!(h.sim.events_of("tunnel_refused").is_empty());
    drop(held);
}

/// `fleet(web, 1)` seen from 203.0.113.9, with app-1 (`guarded`) allowed only from
/// 198.51.100.0/24: the guard refuses it. Returns the harness and the config's path.
fn guarded_fleet(web: usize) -> (Harness, std::path::PathBuf) {
    let mut world = fleet(web, 1);
    world.client_public_ip = Some("203.0.113.9".parse().unwrap());
    let h = harness(world);
    let config = h.dir.path().join("config.toml");
    std::fs::write(
        &config,
        format!(
            "[defaults]\negress_check_url = \"{}\"\n\n[hosts.guarded]\ninstance = \"i-0b000000000000001\"\nallow = [\"198.51.100.0/24\"]\n",
            h.sim.checkip_url()
        ),
    )
    .unwrap();
    (h, config)
}

/// `eic-ssh inventory` with the harness's key and user, then `args`.
fn inventory(h: &Harness, config: &std::path::Path, args: &[&str]) -> Output {
    let key = h.key.display().to_string();
    let mut cmd = h.eic_ssh();
    cmd.env("EIC_SSH_CONFIG", config)
        .args(["inventory", "--identity", &key, "-l", &h.user])
        .args(args);
    run(&mut cmd, LIMIT)
}

fn json_of(o: &Output) -> serde_json::Value {
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", stderr(o)))
}

#[test]
fn the_inventory_groups_hosts_by_tag_endpoint_and_zone_and_refused_hosts_apart() {
    let (h, config) = guarded_fleet(2);
    let out = inventory(&h, &config, &["--list"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let inv = json_of(&out);
    let members = |group: &str| -> Vec<String> {
        inv[group]["hosts"]
            .as_array()
            .unwrap_or_else(|| panic!("no group {group}: {inv:#}"))
            .iter()
            .map(|h| h.as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(members("tag_Role_web"), ["web-1", "web-2"]);
    assert!(members("eice_0123456789abcdef0").contains(&"web-1".to_string()));
    assert!(members("az_us_east_1a").contains(&"web-2".to_string()));
    assert_eq!(members("eic_refused"), ["app-1"]);
    // The refused host is in no other group: no tag_Role_app, no group of its endpoint.
    for (group, value) in inv.as_object().unwrap() {
        if group != "eic_refused" && group != "_meta" {
            assert!(
                !value["hosts"].as_array().unwrap().contains(&"app-1".into()),
                "app-1 in {group}"
            );
        }
    }
    assert!(inv.get("tag_Role_app").is_none() && inv.get("eice_0bbbbbbbbbbbbbbb0").is_none());
    let web1 = &inv["_meta"]["hostvars"]["web-1"];
    assert_eq!(web1["ansible_host"], "i-0a000000000000001");
    assert_eq!(web1["ansible_user"], h.user.as_str());
    assert_eq!(web1["eic_endpoint_id"], EICE_A);
    let args = web1["ansible_ssh_common_args"].as_str().unwrap();
    for part in [
        "-o 'ProxyCommand=",
        " proxy i-0a000000000000001 %p --user %r --push-key ",
        "-o 'ControlMaster=auto'",
        "-o 'IdentitiesOnly=yes'",
    ] {
        assert!(args.contains(part), "{part} in {args}");
    }
    assert_eq!(inv["_meta"]["hostvars"]["app-1"]["eic_guard"], "refused");
    // --host: that host's variables, `{}` for one it does not know.
    let one = json_of(&inventory(&h, &config, &["--host", "web-1"]));
    assert_eq!(&one, web1);
    let none = json_of(&inventory(&h, &config, &["--host", "nope"]));
    assert_eq!(none, serde_json::json!({}));
    // Neither: one line, a usage error, nothing printed on stdout.
    let neither = inventory(&h, &config, &[]);
    assert_eq!(neither.status.code(), Some(2), "{}", stderr(&neither));
    assert!(stderr(&neither).contains("--list"), "{}", stderr(&neither));
    assert!(neither.stdout.is_empty());
    // Nothing was connected for any of it.
    assert!(h.sim.events_of("key_pushed").is_empty());
}

#[test]
fn ansible_pings_and_runs_commands_through_the_inventory() {
    let Some(ansible) = std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
        .map(|d| d.join("ansible"))
        .find(|p| p.is_file())
    else {
        skip_or_fail("`ansible` is not on PATH (pip install ansible-core to run this test)");
        return;
    };
    let (h, config) = guarded_fleet(5);
    // ssh checks the sshd's key under each instance id (ansible_host), strictly.
    let ssh_args = format!(
        "-o ControlMaster=no -o StrictHostKeyChecking=yes -o UserKnownHostsFile={}",
        h.known_hosts.display()
    );
    // The inventory script Ansible runs: eic-ssh inventory with the key and the user.
    let script = h.dir.path().join("eic-inventory");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\nexec '{}' inventory --identity '{}' -l '{}' --no-multiplex \"$@\"\n",
            env!("CARGO_BIN_EXE_eic-ssh"),
            h.key.display(),
            h.user
        ),
    )
    .unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let ansible_cmd = |args: &[&str]| {
        let mut cmd = Command::new(&ansible);
        h.isolate(&mut cmd);
        cmd.env("EIC_SSH_CONFIG", &config)
            // No master left behind by the test: Ansible's own sharing off too.
            .env("ANSIBLE_SSH_ARGS", &ssh_args)
            // The "instances" are this machine: its system Python, not a shell's shim.
            .env("ANSIBLE_PYTHON_INTERPRETER", "/usr/bin/python3")
            .env("ANSIBLE_LOCAL_TEMP", h.dir.path().join("ansible-local"))
            .arg("-i")
            .arg(&script)
            .args(["-f", "30"])
            .args(args);
        run(&mut cmd, LIMIT)
    };
    let ping = ansible_cmd(&["tag_Role_web", "-m", "ping"]);
    let text = stdout(&ping);
    assert_eq!(ping.status.code(), Some(0), "{text}\n{}", stderr(&ping));
    assert_eq!(text.matches("SUCCESS").count(), 5, "{text}");
    assert!(text.contains("\"ping\": \"pong\""), "{text}");
    let command = ansible_cmd(&["tag_Role_web", "-m", "command", "-a", "echo from-ansible"]);
    let text = stdout(&command);
    assert_eq!(
        command.status.code(),
        Some(0),
        "{text}\n{}",
        stderr(&command)
    );
    assert_eq!(text.matches("from-ansible").count(), 5, "{text}");
    // The refused host is reached by nothing.
    let pushed: Vec<String> = h
        .sim
        .events_of("key_pushed")
        .iter()
        .filter_map(|e| e["instance"].as_str().map(str::to_string))
        .collect();
    assert!(
        !pushed.is_empty() && !pushed.iter().any(|i| i == "i-0b000000000000001"),
        "{pushed:?}"
    );
}
