#!/usr/bin/env python3
"""What N concurrent `eic-ssh proxy` processes cost in memory, next to N of the project's
baseline relay (bench/relay: presign, wss, splice, nothing else), in one run.

    python3 bench/memory.py [--rounds 3] [--counts 1,10] [--proxy [NAME=]BINARY]…

Against one emulator and one sshd, interleaved round by round: for each count N, N `ssh`
connections run at once through `eic-ssh proxy` (then through the baseline relay), each
logged in and idle on a remote `sleep`; while all N are connected, each relay process's
/proc/PID/smaps_rollup is read. Reported per arm and N (medians over rounds):

  * RSS: what `ps` shows, pages shared with the other N-1 processes counted in full;
  * PSS: shared pages divided among the processes sharing them. Summed over the N
    processes it is what they cost the machine together;
  * USS: Private_Clean + Private_Dirty, what one more process costs.

`--proxy` measures other builds of eic-ssh, as arms of the same run (an A/B of a profile;
repeatable, `NAME=PATH`). Prints Markdown;
docs/benchmarks.md quotes it. Not a test: nothing here asserts.
"""
import argparse
import os
import statistics
import subprocess
import sys
import time

from simenv import INSTANCE, Sim

ENDPOINT, PRIVATE_IP = "eice-0123456789abcdef0", "10.0.1.5"
FIELDS = ("Rss", "Pss", "Private_Clean", "Private_Dirty")


def rollup(pid):
    """The kB figures of /proc/PID/smaps_rollup this benchmark reads."""
    out = {}
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            key, _, rest = line.partition(":")
            if key in FIELDS:
                out[key] = int(rest.split()[0])
    return out


def connected(procs, deadline):
    """Waits until every ssh printed its first line (it is logged in); False on timeout."""
    for p in procs:
        while time.monotonic() < deadline:
            if p.stdout.readline().strip() == "up":
                break
        else:
            return False
    return True


def measure(arm_cmd, n, sim, work, opts):
    """Starts `n` ssh connections through `arm_cmd` (a ProxyCommand), reads each relay's
    memory while all are connected, then ends them; returns one rollup per relay."""
    pids = f"{work}/pids-{time.monotonic_ns()}"
    wrapper = f"{work}/wrap.sh"
    command = " ".join([wrapper, pids, *arm_cmd])
    procs = [
        subprocess.Popen(
            ["ssh", *opts, "-o", f"ProxyCommand={command}", f"{sim.user}@{INSTANCE}",
             "echo up; sleep 60"],
            env=sim.env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, text=True)
        for _ in range(n)
    ]
    try:
        if not connected(procs, time.monotonic() + 60):
            raise RuntimeError(f"{n} connections through {arm_cmd[0]} did not all log in")
        time.sleep(0.5)
        found = [int(line) for line in open(pids)]
        return [rollup(pid) for pid in found]
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait()
        os.remove(pids)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--counts", default="1,10")
    ap.add_argument("--proxy", action="append", default=[],
                    help="[NAME=]PATH of an eic-ssh build to measure (repeatable; default: this build's)")
    args = ap.parse_args()
    counts = [int(c) for c in args.counts.split(",")]

    sim = Sim("eic-memory-")
    try:
        work, env = sim.work, sim.env
        with open(f"{work}/wrap.sh", "w") as f:
            f.write('#!/bin/sh\n# Records the relay\'s pid, then becomes it.\nfile=$1\nshift\n'
                    'echo $$ >> "$file"\nexec "$@"\n')
        os.chmod(f"{work}/wrap.sh", 0o755)
        builds = {}
        for spec in args.proxy or [f"proxy={sim.rel}/eic-ssh"]:
            name, _, path = spec.rpartition("=")
            builds[name or "proxy"] = path
        tunnel_url = env["EIC_SSH_TUNNEL_ENDPOINT_URL"]
        arms = {
            name: [path, "proxy", "%h", "%p", "--user", "%r", "--push-key", f"{sim.key}.pub"]
            for name, path in builds.items()
        }
        arms["relay"] = [f"{sim.rel}/eic-relay-baseline", tunnel_url, ENDPOINT, PRIVATE_IP, "%p"]
        opts = sim.ssh_options(alias=INSTANCE)
        # Warm up: the proxy pushes the key once (valid an hour here) for the relay's logins.
        first = next(iter(builds))
        subprocess.run(["ssh", *opts, "-o", "ProxyCommand=" + " ".join(arms[first]),
                        f"{sim.user}@{INSTANCE}", "true"], check=True, env=env)
        seen = {(a, n): [] for a in arms for n in counts}
        for _ in range(args.rounds):
            for n in counts:
                for arm, cmd in arms.items():
                    seen[(arm, n)].append(measure(cmd, n, sim, work, opts))
    finally:
        sim.stop()

    med = statistics.median
    mib = lambda kib: kib / 1024

    def per_round(arm, n, f):
        return med([f(procs) for procs in seen[(arm, n)]])

    print(f"## Memory run of {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} "
          f"({os.cpu_count()} cores, {args.rounds} rounds, connected and idle)\n")
    names = list(builds)
    print("| N at once | | " + " | ".join(f"`{n}`" for n in names) + " | baseline relay | "
          + " | ".join(f"{n} / relay" for n in names) + " |")
    print("|---|---|" + "---|" * (2 * len(names) + 1))
    rows = [
        ("RSS per process", lambda ps: med([p["Rss"] for p in ps])),
        ("PSS summed over the N", lambda ps: sum(p["Pss"] for p in ps)),
        ("USS per process", lambda ps: med([p["Private_Clean"] + p["Private_Dirty"] for p in ps])),
    ]
    for n in counts:
        for label, f in rows:
            r = per_round("relay", n, f)
            values = [per_round(name, n, f) for name in names]
            print(f"| {n} | {label} | " + " | ".join(f"{mib(v):.1f} MiB" for v in values)
                  + f" | {mib(r):.1f} MiB | " + " | ".join(f"**{v / r:.2f}×**" for v in values) + " |")
    for name, path in builds.items():
        print(f"\n`{name}`: `{path}` ({os.path.getsize(path) / 1e6:.1f} MB).")

if __name__ == "__main__":
    sys.exit(main())
