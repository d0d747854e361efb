#!/usr/bin/env python3
"""Which mappings a proxy's resident memory is in, at its peak during a 256 MiB scp each way:
`eic-ssh proxy` (or --binary) and the baseline relay, one copy each.

    python3 bench/mappings.py [--binary PATH]

Samples /proc/PID/smaps of the ProxyCommand every 20 ms and prints, for the sample with the
most resident KiB, each mapping's share next to the first sample's (before traffic). This is
how the growth during downloads (tungstenite's buffer) and the binary's code pages were
found; docs/benchmarks.md quotes it. Not a test: nothing here asserts.
"""
import argparse
import collections
import os
import re
import subprocess
import time

from simenv import INSTANCE, Sim

ENDPOINT, PRIVATE_IP = "eice-0123456789abcdef0", "10.0.1.5"


def resident(pid):
    """Resident KiB by (file name or [anon], permissions); empty once the process is gone."""
    by, current = collections.Counter(), None
    try:
        for line in open(f"/proc/{pid}/smaps"):
            m = re.match(r"[0-9a-f]+-[0-9a-f]+ (\S+) \S+ \S+ \d+\s*(.*)", line)
            if m:
                current = (os.path.basename(m[2]) or "[anon]", m[1])
            elif line.startswith("Rss:"):
                by[current] += int(line.split()[1])
    except OSError:
        pass
    return by


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary")
    args = ap.parse_args()
    sim = Sim("eic-mappings-")
    try:
        work, env, user = sim.work, sim.env, sim.user
        binary = args.binary or f"{sim.rel}/eic-ssh"
        proxy = [binary, "proxy", "%h", "%p", "--user", "%r", "--push-key", f"{sim.key}.pub"]
        relay = [f"{sim.rel}/eic-relay-baseline", env["EIC_SSH_TUNNEL_ENDPOINT_URL"],
                 ENDPOINT, PRIVATE_IP, "%p"]
        src = sim.payload(256)
        host = f"{user}@{INSTANCE}"
        # The process name as pgrep sees it (at most 15 characters).
        for name, cmd in [("proxy", proxy), ("relay", relay)]:
            comm = os.path.basename(cmd[0])[:15]
            opts = sim.ssh_options(alias=INSTANCE) + ["-o", "ProxyCommand=" + " ".join(cmd)]
            for way in ["up", "down"]:
                dst = f"{work}/copy"
                scp = ["scp", "-q", *opts, src, f"{host}:{dst}"] if way == "up" else \
                      ["scp", "-q", *opts, f"{host}:{src}", dst]
                copy = subprocess.Popen(scp, env=env)
                first, peak = None, collections.Counter()
                while copy.poll() is None:
                    pids = subprocess.run(["pgrep", "-x", comm], capture_output=True,
                                          text=True).stdout.split()
                    for pid in pids:
                        now = resident(pid)
                        if first is None and now:
                            first = now
                        if sum(now.values()) > sum(peak.values()):
                            peak = now
                    time.sleep(0.02)
                first = first or collections.Counter()
                print(f"{name} {way}: peak {sum(peak.values())} KiB "
                      f"(first sample {sum(first.values())} KiB)")
                for key in sorted(set(peak) | set(first), key=lambda k: -peak[k]):
                    if peak[key] >= 16 or first[key] >= 16:
                        print(f"  {peak[key]:6d}  (first {first[key]:6d})  {key[1]} {key[0]}")
                os.remove(dst)
    finally:
        sim.stop()


if __name__ == "__main__":
    main()
