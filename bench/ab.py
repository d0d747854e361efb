#!/usr/bin/env python3
"""A/B of two eic-ssh builds, interleaved round by round against one emulator: CPU seconds
and peak RSS of `proxy` under a 256 MiB scp each way, and of the session with 256 MiB
piped into `cat`.

    python3 bench/ab.py OLD_BINARY NEW_BINARY [--rounds 5]

How a profile or code change is kept or dropped (docs/benchmarks.md). Copy the first
build aside before building the second (target/release/eic-ssh is overwritten). Not a
test: nothing here asserts.
"""
import argparse
import os
import statistics
import subprocess

from simenv import INSTANCE, RUSAGE, Sim, build_rusage, take_usage


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("old")
    ap.add_argument("new")
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    build_rusage()
    sim = Sim("eic-ab-")
    try:
        work, user, env = sim.work, sim.user, sim.env
        known = sim.known_hosts
        common = sim.ssh_options(alias=INSTANCE)
        src = sim.payload(256)
        log = f"{work}/usage.jsonl"

        usage = {}
        for _ in range(args.rounds):
            for arm, binary in [("old", args.old), ("new", args.new)]:
                proxy = [RUSAGE, log, "--", binary, "proxy", "%h", "%p", "--user", "%r",
                         "--push-key", f"{sim.key}.pub"]
                opts = common + ["-o", "ProxyCommand=" + " ".join(proxy)]
                for way in ["up", "down"]:
                    dst = f"{work}/copy"
                    remote = f"{user}@{INSTANCE}"
                    cmd = ["scp", "-q", *opts, src, f"{remote}:{dst}"] if way == "up" else \
                          ["scp", "-q", *opts, f"{remote}:{src}", dst]
                    subprocess.run(cmd, check=True, env=env)
                    os.remove(dst)
                    usage.setdefault((arm, f"proxy {way}"), []).extend(take_usage(log, 1))
                with open(src, "rb") as f:
                    subprocess.run([RUSAGE, log, "--", binary, f"{user}@{INSTANCE}", "--known-hosts", known,
                                    "--", "cat > /dev/null"], check=True, env=env, stdin=f,
                                   stdout=subprocess.DEVNULL)
                usage.setdefault((arm, "session"), []).extend(take_usage(log, 1))
    finally:
        sim.stop()
    print(f"| {args.rounds} rounds, medians | CPU s old | CPU s new | new/old | peak RSS old | new |")
    print("|---|---|---|---|---|---|")
    for what in ["proxy up", "proxy down", "session"]:
        old = statistics.median(u["cpu_s"] for u in usage[("old", what)])
        new = statistics.median(u["cpu_s"] for u in usage[("new", what)])
        rss_old = max(u["maxrss_kib"] for u in usage[("old", what)]) / 1024
        rss_new = max(u["maxrss_kib"] for u in usage[("new", what)]) / 1024
        print(f"| {what} | {old:.3f} | {new:.3f} | **{new / old:.2f}×** | {rss_old:.1f} MiB | {rss_new:.1f} MiB |")


if __name__ == "__main__":
    main()
