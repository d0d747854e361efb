#!/usr/bin/env python3
"""Fleets (issue 32): `eic-ssh run` against `xargs -P 20` over plain `ssh`.

    python3 bench/fleet.py [--rounds 5] [--rtt 50] [--hosts 60] [--endpoints 2]

Starts `eic-sim --rtt 50 --fleet 60 --endpoints 2` (60 instances over 2 VPCs, each with its
own endpoint admitting 20 tunnels; every service at 50 ms) with a config whose allowlist
makes the egress guard run, as it does for a team that restricts by IP. Per round, the
arms in a rotating order, each once over all 60 instances:
  * run -P 20:  `eic-ssh run -P 20 --filter tag:Role=web,db,cache -- true`;
  * run -P 100: the same with `-P 100` (more than both endpoints admit together: 40 in flight);
  * xargs -P 20: `xargs -P 20` over `ssh -F CONF NAME true`, CONF from
    `eic-ssh ssh-config --discover --no-multiplex` (ControlMaster off): one ssh and one
    `eic-ssh proxy` per host, each loading credentials and checking the egress IP itself.
Each arm runs under bench/rusage.c: its CPU (itself and every process it waited for) and
peak RSS (the largest single process). Tunnels per endpoint and 429s come from the
emulator's event log. Prints medians, and ratios from the same rounds. Not a test: nothing
here asserts; the goals are printed as met or not.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

from simenv import RUSAGE, Sim, build_rusage, take_usage

ARMS = ["run -P 20", "run -P 100", "xargs -P 20"]


class Fleet:
    """The emulator with its fleet, the config, the ssh config and each arm's command."""

    def __init__(self, args):
        self.sim = Sim("eic-fleet-", rtt=args.rtt, fleet=args.hosts, endpoints=args.endpoints)
        sim, work = self.sim, self.sim.work
        self.config = f"{work}/config.toml"
        with open(self.config, "w") as f:
            f.write(f'[defaults]\nallow = ["127.0.0.1/32"]\negress_check_url = "{sim.checkip_url}"\n')
        self.events = f"{work}/sim/events.jsonl"
        self.usage = f"{work}/usage.jsonl"
        self.env = dict(sim.env, EIC_SSH_CONFIG=self.config, XDG_CACHE_HOME=f"{work}/cache",
                        XDG_STATE_HOME=f"{work}/state")
        conf = subprocess.run([f"{sim.rel}/eic-ssh", "ssh-config", "--discover", "--no-multiplex",
                               "-i", sim.key, "-l", sim.user, "--filter", "tag:Role=web,db,cache"],
                              env=self.env, check=True, capture_output=True, text=True).stdout
        self.ssh_config = f"{work}/ssh_config"
        with open(self.ssh_config, "w") as f:
            f.write(conf)
        names = f"{work}/names"
        with open(names, "w") as f:
            f.write("".join(f"{name}\n" for _, name, _ in sim.fleet))
        run = [f"{sim.rel}/eic-ssh", "run", "-l", sim.user, "--known-hosts", sim.known_hosts,
               "--host-key-check", "accept-new", "--filter", "tag:Role=web,db,cache"]
        ssh = " ".join(["ssh", "-F", self.ssh_config, "-o", "ControlMaster=no", "-o", "BatchMode=yes",
                        "-o", f"UserKnownHostsFile={sim.known_hosts}-ssh",
                        "-o", "StrictHostKeyChecking=accept-new", "-o", "LogLevel=ERROR"])
        # A failed host prints one FAIL line on stdout; xargs goes on with the others.
        each = f'{ssh} "$0" true </dev/null || echo "FAIL $0"'
        self.commands = {
            "run -P 20": [*run, "-P", "20", "--", "true"],
            "run -P 100": [*run, "-P", "100", "--", "true"],
            "xargs -P 20": ["xargs", "-P", "20", "-n", "1", "-a", names, "sh", "-c", each],
        }

    def run(self, arm):
        """One arm over the fleet: wall time, failed hosts, CPU s, peak RSS KiB, and the
        emulator's events during it."""
        offset = self.lines()
        start = time.perf_counter()
        proc = subprocess.run([RUSAGE, self.usage, "--", *self.commands[arm]], env=self.env,
                              stdin=subprocess.DEVNULL, capture_output=True, text=True)
        wall = time.perf_counter() - start
        usage = take_usage(self.usage, 1)[0]
        if arm.startswith("run"):
            failed = len(self.sim.fleet) - summary_ok(proc.stderr)
        else:
            failed = proc.stdout.count("FAIL ")
        if proc.returncode != 0 and failed == 0:
            failed = len(self.sim.fleet)
        events = self.settle(offset)
        return {"wall": wall, "failed": failed, "cpu": usage["cpu_s"], "rss": usage["maxrss_kib"],
                "events": events, "stderr": proc.stderr if failed else ""}

    def lines(self):
        """The event log's complete lines (the emulator may be writing the next one)."""
        with open(self.events) as f:
            return f.read().split("\n")[:-1]

    def settle(self, before, timeout=30.0):
        """The events after the lines `before`, once every tunnel opened since has closed
        (the emulator logs the close when the relay ends, a moment after the client's exit)."""
        deadline = time.monotonic() + timeout
        while True:
            events = [json.loads(line) for line in self.lines()[len(before):]]
            opened = sum(e["event"] == "tunnel_open" for e in events)
            closed = sum(e["event"] in ("tunnel_closed", "tunnel_target_failed") for e in events)
            if closed >= opened or time.monotonic() > deadline:
                return events
            time.sleep(0.05)


def summary_ok(stderr):
    """The `N ok` of `eic-ssh: run: H hosts: N ok, …`; 0 without one."""
    for line in stderr.splitlines():
        if line.startswith("eic-ssh: run: ") and " hosts: " in line:
            for part in line.split(" hosts: ", 1)[1].split(", "):
                if part.endswith(" ok"):
                    return int(part.split()[0])
    return 0


def tunnels(events):
    """Peak concurrent tunnels per endpoint, tunnels opened, and the endpoints' 429s."""
    open_now, peak, opened, refused = {}, {}, 0, 0
    for e in events:
        if e["event"] == "tunnel_open":
            opened += 1
            n = open_now[e["endpoint"]] = open_now.get(e["endpoint"], 0) + 1
            peak[e["endpoint"]] = max(peak.get(e["endpoint"], 0), n)
        elif e["event"] == "tunnel_closed":
            open_now[e["endpoint"]] = open_now.get(e["endpoint"], 0) - 1
        elif e["event"] == "tunnel_refused" and e.get("status") == 429:
            refused += 1
    return peak, opened, refused


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--rtt", type=int, default=50)
    ap.add_argument("--hosts", type=int, default=60)
    ap.add_argument("--endpoints", type=int, default=2)
    args = ap.parse_args()
    build_rusage()
    fleet = Fleet(args)
    results = {arm: [] for arm in ARMS}
    try:
        # Warm-up: host keys recorded by both clients.
        for arm in ("run -P 20", "xargs -P 20"):
            r = fleet.run(arm)
            if r["failed"]:
                print(f"warm-up {arm}: {r['failed']} failed\n{r['stderr']}", file=sys.stderr)
        for n in range(args.rounds):
            for arm in ARMS[n % 3:] + ARMS[:n % 3]:
                results[arm].append(fleet.run(arm))
            print(f"round {n + 1} of {args.rounds} done", file=sys.stderr)
    finally:
        fleet.sim.stop()
    report(args, results)


def report(args, results):
    med = statistics.median
    print(f"## Run of {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} ({os.cpu_count()} cores, "
          f"{args.rounds} rounds, {args.hosts} instances on {args.endpoints} endpoints, {args.rtt} ms RTT)\n")
    print(f"| `… true` on {args.hosts} instances, median of {args.rounds} | wall | × xargs (same round) "
          "| failed hosts (all rounds) | 429s (all rounds) | peak tunnels per endpoint (max) "
          "| tunnels opened | CPU | peak RSS |")
    print("|---|---|---|---|---|---|---|---|---|")
    xargs = [r["wall"] for r in results["xargs -P 20"]]
    for arm in ARMS:
        rs = results[arm]
        peaks = {}
        for r in rs:
            for endpoint, p in tunnels(r["events"])[0].items():
                peaks[endpoint] = max(peaks.get(endpoint, 0), p)
        ratio = med([r["wall"] / x for r, x in zip(rs, xargs)])
        label = {"run -P 20": "`eic-ssh run -P 20`", "run -P 100": "`eic-ssh run -P 100`",
                 "xargs -P 20": "`xargs -P 20` over `ssh` + `eic-ssh proxy`"}[arm]
        peak_text = ", ".join(str(p) for _, p in sorted(peaks.items()))
        print(f"| {label} | {med(r['wall'] for r in rs):.2f} s | **{ratio:.2f}×** "
              f"| {sum(r['failed'] for r in rs)} | {sum(tunnels(r['events'])[2] for r in rs)} "
              f"| {peak_text} | {med(tunnels(r['events'])[1] for r in rs):g} "
              f"| {med(r['cpu'] for r in rs):.2f} s | {med(r['rss'] for r in rs) / 1024:.1f} MiB |")
    print("\nCPU: the arm's process and every process it waited for (xargs: every ssh and proxy); "
          "peak RSS: median over the rounds of the largest single process (xargs: one ssh or "
          "one proxy).\n")
    hundred = results["run -P 100"]
    goals = [
        ("zero 429 failures with -P 100", sum(r["failed"] for r in hundred) == 0),
        ("peak per endpoint ≤ 20", all(p <= 20 for r in hundred + results["run -P 20"]
                                       for p in tunnels(r["events"])[0].values())),
        ("wall ≤ 0.6× the xargs arm (run -P 100)",
         med([r["wall"] / x for r, x in zip(hundred, xargs)]) <= 0.6),
        ("run under 64 MiB at 40 hosts in flight (run -P 100)",
         max(r["rss"] for r in hundred) < 64 * 1024),
    ]
    for goal, met in goals:
        print(f"- {goal}: {'met' if met else '**not met**'}")
    for arm in ARMS:
        for r in results[arm]:
            if r["stderr"]:
                print(f"\n{arm} failed hosts:\n```\n{r['stderr'][-2000:]}```")
                break


if __name__ == "__main__":
    sys.exit(main())
