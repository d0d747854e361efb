#!/usr/bin/env python3
"""Connect latency at a distance (issue 22): eic-ssh against direct ssh to a bastion.

    python3 bench/connect.py [--rounds 7] [--rtt 50]
    python3 bench/connect.py --old OLD_BINARY --new NEW_BINARY [--rounds 5]

Starts two emulators, `eic-sim --rtt 0` and `--rtt 50` (every port held RTT/2 each way plus
the TCP handshake, each service on its own port, checkip over https, and a public bastion:
the same sshd behind the same delay), each with a config whose allowlist makes the egress
guard run. Per round, at both RTTs, arms in a rotating order, each arm twice: cold (a fresh
cache directory) then warm (the same directory at once):
  * embedded: `eic-ssh -vvv USER@I -- true`;
  * proxy:    `ssh USER@I true` through `ProxyCommand=eic-ssh proxy -vvv …`;
  * direct:   `ssh -p BASTION USER@127.0.0.1 true` (the floor).
Prints medians with ratios to direct from the same run; round trips, as the far emulator
counts them per connection (its `connection` events) and as (t50 − t0) / RTT; the AWS
requests per connect; each arm's SSH conversation turn by turn; and a per-step trace built
from the `-vvv` lines, stamped as they arrive on stderr.

With `--old` and `--new`, an A/B of two eic-ssh builds (the emulator is this tree's): the
embedded and proxy arms run once per build, all five arms interleaved round by round in a
rotating order, each build with its own cache directories; it adds the new/old ratio of
the medians, cold and warm, at both RTTs. Copy the first build aside before building the
second. Not a test: nothing here asserts.
"""
import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

from simenv import INSTANCE, Sim

ARMS = ["embedded", "proxy", "direct"]
# With --old/--new: each eic-ssh arm once per build, `KIND BUILD`.
AB_ARMS = ["embedded old", "embedded new", "proxy old", "proxy new", "direct"]
STATES = ["cold", "warm"]
ANSI = re.compile(r"\x1b\[[0-9;]*m")

# Each step of a connect ends at the first stderr line matching its pattern; a step takes
# the time since the previous step that was seen (so a step the client skips or overlaps
# folds into the next one). The last step ends when the process exits.
STEPS = [
    ("start, config, egress check", r"egress IP "),
    ("egress verdict", r"egress guard: "),
    ("credentials, region", r"DescribeInstances →"),
    ("DescribeInstances", r"DescribeInstances ←"),
    ("(gap) → DescribeInstanceConnectEndpoints", r"DescribeInstanceConnectEndpoints →"),
    ("DescribeInstanceConnectEndpoints", r"DescribeInstanceConnectEndpoints ←"),
    ("(gap) → SendSSHPublicKey", r"SendSSHPublicKey →"),
    ("SendSSHPublicKey", r"SendSSHPublicKey ←"),
    ("(gap) → openTunnel", r"opening tunnel"),
    ("TCP + TLS + WebSocket upgrade", r"tunnel open"),
    ("SSH to the host key check", r"host key .* matches"),
]
EXIT = "SSH to exit"


def run(cmd, env):
    """Runs `cmd`; its wall time and its stderr lines, each with when it arrived."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    lines = []
    for raw in proc.stderr:
        lines.append((time.perf_counter() - start, ANSI.sub("", raw.decode(errors="replace"))))
    proc.wait()
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"{cmd[0]} failed ({proc.returncode}):\n" + "".join(l for _, l in lines))
    return wall, lines


def steps(lines, wall):
    """The steps of one traced connect: {step: seconds since the previous step seen}."""
    seen = []
    for name, pattern in STEPS:
        at = next((t for t, line in lines if re.search(pattern, line)), None)
        if at is not None:
            seen.append((at, name))
    seen.sort()
    out, before = {}, 0.0
    for at, name in seen + [(wall, EXIT)]:
        out[name] = at - before
        before = at
    return out


class Arena:
    """One emulator at one RTT, with a config that turns the egress guard on."""

    def __init__(self, rtt, builds):
        """`builds`: {suffix: eic-ssh binary}; suffix "" names the arms plainly."""
        self.rtt = rtt
        self.sim = Sim(f"eic-connect-{rtt}ms-", rtt=rtt)
        work = self.sim.work
        self.config = f"{work}/config.toml"
        with open(self.config, "w") as f:
            f.write(f'[defaults]\nallow = ["127.0.0.1/32"]\negress_check_url = "{self.sim.checkip_url}"\n')
        self.events = f"{work}/sim/events.jsonl"
        user = self.sim.user
        self.commands = {
            "direct": ["ssh", *self.sim.ssh_options(INSTANCE), "-p", str(self.sim.bastion_port),
                       f"{user}@127.0.0.1", "true"],
        }
        for suffix, binary in builds.items():
            binary = binary or f"{self.sim.rel}/eic-ssh"
            name = lambda kind: f"{kind} {suffix}" if suffix else kind
            proxy = f"{binary} proxy -vvv %h %p --user %r --push-key {self.sim.key}.pub"
            self.commands[name("embedded")] = [
                binary, "-vvv", f"{user}@{INSTANCE}", "--known-hosts", self.sim.known_hosts,
                "--host-key-check", "accept-new", "--", "true"]
            self.commands[name("proxy")] = ["ssh", *self.sim.ssh_options(), "-o",
                                            f"ProxyCommand={proxy}", f"{user}@{INSTANCE}", "true"]

    def env(self, cache):
        return dict(self.sim.env, EIC_SSH_CONFIG=self.config, XDG_CACHE_HOME=cache,
                    XDG_STATE_HOME=f"{self.sim.work}/state")

    def events_since(self, offset):
        """The emulator's events after byte `offset` of its log: the requests by name, the
        round trips it counted per connection as (port, round trips), and the new offset."""
        with open(self.events) as f:
            f.seek(offset)
            text = f.read()
            offset = f.tell()
        names, trips = [], []
        for line in text.splitlines():
            event = json.loads(line)
            kind = event["event"]
            if kind == "api_call":
                names.append(event.get("action", kind))
            elif kind in ("checkip", "tunnel_open"):
                names.append(kind)
            elif kind == "connection":
                trips.append((event["port"], event["round_trips"], event.get("turns", [])))
        return names, trips, offset


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--rtt", type=int, default=50, help="the far RTT in ms (the near one is 0)")
    ap.add_argument("--json", help="also write every measurement to this file")
    ap.add_argument("--old", help="A/B: the eic-ssh binary before a change")
    ap.add_argument("--new", help="A/B: the eic-ssh binary after it")
    args = ap.parse_args()
    if bool(args.old) != bool(args.new):
        ap.error("--old and --new go together")
    ab = bool(args.old)
    arms = AB_ARMS if ab else ARMS
    builds = {"old": os.path.abspath(args.old), "new": os.path.abspath(args.new)} if ab else {"": None}

    arenas = []
    try:
        for rtt in (0, args.rtt):
            arenas.append(Arena(rtt, builds))
        # Warm-up: host keys recorded, the client key pushed (direct ssh uses it too).
        for a in arenas:
            for arm in arms:
                cache = tempfile.mkdtemp(prefix="cache-", dir=a.sim.work)
                run(a.commands[arm], a.env(cache))
        times = {(a.rtt, arm, s): [] for a in arenas for arm in arms for s in STATES}
        traces = {(a.rtt, arm, s): [] for a in arenas for arm in arms for s in STATES}
        requests = {(arm, s): [] for arm in arms for s in STATES}
        counted = {(arm, s): [] for arm in arms for s in STATES}
        time.sleep(4 * args.rtt / 1e3 + 0.2)
        offset = os.path.getsize(arenas[1].events)
        for r in range(args.rounds):
            turn = r % len(arms)
            order = arms[turn:] + arms[:turn]
            for a in (arenas if r % 2 == 0 else arenas[::-1]):
                for arm in order:
                    cache = tempfile.mkdtemp(prefix="cache-", dir=a.sim.work)
                    for s in STATES:
                        wall, lines = run(a.commands[arm], a.env(cache))
                        times[(a.rtt, arm, s)].append(wall)
                        traces[(a.rtt, arm, s)].append(steps(lines, wall))
                        # The emulator records a connection once both ends have closed it.
                        time.sleep(4 * args.rtt / 1e3 + 0.2)
                        if a is arenas[1]:
                            names, trips, offset = a.events_since(offset)
                            requests[(arm, s)].append(names)
                            counted[(arm, s)].append(trips)
                    shutil.rmtree(cache)
            print(f"round {r + 1} of {args.rounds} done", file=sys.stderr)
    finally:
        for a in arenas:
            a.sim.stop()
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"times": {"/".join(map(str, k)): v for k, v in times.items()},
                       "traces": {"/".join(map(str, k)): v for k, v in traces.items()}}, f)
    if ab:
        report_ab(args, times, requests, counted)
        step_tables(args, traces, AB_ARMS[:4])
    else:
        report(args, times, traces, requests, counted)


def report_ab(args, times, requests, counted):
    """The A/B: medians per build with ratios to direct and round trips, then the new/old
    ratios, cold and warm, at both RTTs."""
    med = statistics.median
    far = args.rtt
    ms = lambda s: f"{s * 1e3:.0f} ms"
    trips = lambda near, away: (away - near) / (far / 1e3)
    paired = lambda near, away: med([trips(n, a) for n, a in zip(near, away)])
    print(f"## A/B run of {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} ({os.cpu_count()} cores, "
          f"{args.rounds} rounds, 0 and {far} ms RTT, arms interleaved)\n")
    print(f"old: `{args.old}`; new: `{args.new}`\n")
    print(f"| `… true`, median of {args.rounds} | 0 ms cold | 0 ms warm | {far} ms cold | {far} ms warm "
          f"| × direct at {far} ms (cold, warm) | round trips counted (cold, warm) "
          f"| from 0 vs {far} ms (cold, warm) |")
    print("|---|---|---|---|---|---|---|---|")
    for arm in AB_ARMS:
        cells = " | ".join(ms(med(times[(rtt, arm, s)])) for rtt in (0, far) for s in STATES)
        ratio = [med(times[(far, arm, s)]) / med(times[(far, "direct", s)]) for s in STATES]
        count = [sum(per_port(counted[(arm, s)]).values()) for s in STATES]
        rts = [paired(times[(0, arm, s)], times[(far, arm, s)]) for s in STATES]
        print(f"| {arm} | {cells} | {ratio[0]:.2f}×, {ratio[1]:.2f}× | {count[0]:g}, {count[1]:g} "
              f"| {rts[0]:.1f}, {rts[1]:.1f} |")
    print(f"\n| new/old, medians of the same run | 0 ms cold | 0 ms warm | {far} ms cold | {far} ms warm |")
    print("|---|---|---|---|---|")
    for kind in ("embedded", "proxy"):
        cells = " | ".join(
            f"**{med(times[(rtt, f'{kind} new', s)]) / med(times[(rtt, f'{kind} old', s)]):.2f}×**"
            for rtt in (0, far) for s in STATES)
        print(f"| {kind} | {cells} |")
    print(f"\nAWS requests per connect (the {far} ms emulator's event log, first round):\n")
    for arm in AB_ARMS[:4]:
        for s in STATES:
            counts = {}
            for name in requests[(arm, s)][0]:
                counts[name] = counts.get(name, 0) + 1
            listed = ", ".join(f"{n} {c}" for n, c in counts.items())
            print(f"- {arm}, {s}: {listed}")


def per_port(runs):
    """{port: median round trips} over runs of [(port, round trips)]; a port used twice in a
    run is summed."""
    sums = []
    for trips in runs:
        total = {}
        for port, n, _ in trips:
            total[port] = total.get(port, 0) + n
        sums.append(total)
    ports = [p for p in ("checkip", "ec2", "instance_connect", "sts", "tunnel", "bastion")
             if any(p in t for t in sums)]
    return {p: statistics.median(t.get(p, 0) for t in sums) for p in ports}


def report(args, times, traces, requests, counted):
    med = statistics.median
    far = args.rtt
    ms = lambda s: f"{s * 1e3:.0f} ms"
    trips = lambda near, away: (away - near) / (far / 1e3)
    # Round trips from the runs of the same round (run minutes apart, the load differs).
    paired = lambda near, away: med([trips(n, a) for n, a in zip(near, away)])
    print(f"## Run of {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} ({os.cpu_count()} cores, "
          f"{args.rounds} rounds, 0 and {far} ms RTT)\n")
    print(f"| `… true`, median of {args.rounds} | 0 ms cold | 0 ms warm | {far} ms cold | {far} ms warm "
          f"| × direct at {far} ms (cold, warm) | round trips counted (cold, warm) "
          f"| from 0 vs {far} ms (cold, warm) |")
    print("|---|---|---|---|---|---|---|---|")
    labels = {"embedded": f"`eic-ssh USER@I -- true` (embedded)",
              "proxy": "`ssh` through `eic-ssh proxy`",
              "direct": "direct `ssh` to the bastion (the floor)"}
    for arm in ARMS:
        m = {(rtt, s): med(times[(rtt, arm, s)]) for rtt in (0, far) for s in STATES}
        ratio = [m[(far, s)] / med(times[(far, "direct", s)]) for s in STATES]
        rts = [paired(times[(0, arm, s)], times[(far, arm, s)]) for s in STATES]
        count = [sum(per_port(counted[(arm, s)]).values()) for s in STATES]
        print(f"| {labels[arm]} | {ms(m[(0, 'cold')])} | {ms(m[(0, 'warm')])} | {ms(m[(far, 'cold')])} "
              f"| {ms(m[(far, 'warm')])} | **{ratio[0]:.2f}×**, **{ratio[1]:.2f}×** "
              f"| **{count[0]:g}**, **{count[1]:g}** | {rts[0]:.1f}, {rts[1]:.1f} |")
    print(f"\nRound trips counted: by the {far} ms emulator, per connection, the critical path of its "
          "bytes as if no side computed (its `connection` events), summed over the connections of "
          "one connect: an overestimate where connections overlap (the key push runs beside the "
          "tunnel's opening, so its Instance Connect round trips are hidden). From 0 vs "
          f"{far} ms: the median over rounds of (time at {far} ms − time at 0 ms) / {far} ms; CPU "
          "contention inflates the 0 ms runs more than the spread-out far ones, so it reads low for "
          "CPU-heavy arms (sshd's share).\n")
    for arm in ARMS:
        for s in STATES:
            ports = per_port(counted[(arm, s)])
            listed = " + ".join(f"{p} {n:g}" for p, n in ports.items())
            print(f"- {arm}, {s}: {listed} = {sum(ports.values()):g}")
    print(f"\nAWS requests per connect (the {far} ms emulator's event log, every round alike):\n")
    for arm in ("embedded", "proxy"):
        for s in STATES:
            counts = {}
            for name in requests[(arm, s)][0]:
                counts[name] = counts.get(name, 0) + 1
            same = all(sorted(n) == sorted(requests[(arm, s)][0]) for n in requests[(arm, s)])
            listed = ", ".join(f"{n} {c}" for n, c in counts.items())
            print(f"- {arm}, {s}: {listed}{'' if same else ' (rounds differ)'}")
    print("\nThe SSH conversation, turn by turn (first cold run; ↑ to the instance, ↓ back; bytes"
          "@arrival in round trips after connect(); `end`: that side closed):\n")
    for arm, port in (("embedded", "tunnel"), ("proxy", "tunnel"), ("direct", "bastion")):
        turns = next(t for p, _, t in counted[(arm, "cold")][0] if p == port)
        shown = " ".join(f"{'↑' if t['to_server'] else '↓'}{t['bytes'] or 'end'}@{t['at']:g}"
                         for t in turns)
        print(f"- {arm} ({port}): {shown}")
    step_tables(args, traces, ("embedded", "proxy"))


def step_tables(args, traces, arms):
    """Per arm, the medians of the steps of a connect (`-vvv` lines as they arrive)."""
    med = statistics.median
    far = args.rtt
    ms = lambda s: f"{s * 1e3:.0f} ms"
    trips = lambda near, away: (away - near) / (far / 1e3)
    for arm in arms:
        print(f"\n### Where the time goes: {arm}, medians of the steps (`-vvv` lines as they arrive)\n")
        print(f"| step (ends at the line) | cold, 0 ms | cold, {far} ms | round trips | warm, {far} ms | round trips |")
        print("|---|---|---|---|---|---|")
        names = [n for n, _ in STEPS] + [EXIT]
        before_ssh = {s: [0.0, 0.0] for s in STATES}
        for name in names:
            cells, shown = [], False
            for s in STATES:
                near = [t[name] for t in traces[(0, arm, s)] if name in t]
                away = [t[name] for t in traces[(far, arm, s)] if name in t]
                if not near or not away:
                    cells.append(None)
                    continue
                shown = True
                cells.append((med(near), med(away)))
                if name not in ("SSH to the host key check", EXIT):
                    before_ssh[s][0] += med(near)
                    before_ssh[s][1] += med(away)
            if not shown:
                continue
            cold, warm = cells
            c = f"{ms(cold[0])} | {ms(cold[1])} | {trips(*cold):.1f}" if cold else "| |"
            w = f"{ms(warm[1])} | {trips(*warm):.1f}" if warm else "|"
            print(f"| {name} | {c} | {w} |")
        rts = [trips(*before_ssh[s]) for s in STATES]
        print(f"\nRound trips before the SSH handshake starts (sum of the steps up to `tunnel open`): "
              f"cold {rts[0]:.1f}, warm {rts[1]:.1f}.")


if __name__ == "__main__":
    sys.exit(main())
