#!/usr/bin/env python3
"""What the proxy, the session and `cp` cost next to a bare relay (issue 12), in one run.

    python3 bench/lean.py [--rounds 5] [--latency-runs 15] [--size-mib 256]

Against one emulator and one sshd, interleaved round by round:
  * scp of --size-mib up and down: direct, through `eic-relay-baseline` (bench/relay: presign,
    wss, splice, nothing else), and through `eic-ssh proxy`; the two relays run under the C
    wrapper bench/rusage.c (built to target/rusage by simenv.build_rusage), which survives
    ssh's SIGHUP, for their CPU seconds and peak RSS;
  * `ssh true`: direct, through the baseline, through the proxy;
  * `eic-ssh proxy < /dev/null` and the baseline alone (RSS with no traffic);
  * the embedded session (256 MiB piped into `cat`) and `eic-ssh cp` (256 MiB each way):
    their CPU and peak RSS per GiB;
  * the stripped size of the release binary.
Prints Markdown; docs/benchmarks.md quotes it. Not a test: nothing here asserts.
"""
import argparse
import os
import statistics
import subprocess
import sys
import time

from simenv import INSTANCE, ROOT, RUSAGE, Sim, build_rusage, take_usage

ENDPOINT, PRIVATE_IP = "eice-0123456789abcdef0", "10.0.1.5"
def timed(cmd, env, **kw):
    start = time.perf_counter()
    subprocess.run(cmd, check=True, env=env, stdout=subprocess.DEVNULL, **kw)
    return time.perf_counter() - start


class Usage:
    """A bench/rusage.c log: one JSON line per wrapped process."""

    def __init__(self, path):
        self.path = path

    def wrap(self, cmd):
        return [RUSAGE, self.path, "--", *cmd]

    def take(self, expect=1):
        return take_usage(self.path, expect)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--latency-runs", type=int, default=15)
    ap.add_argument("--size-mib", type=int, default=256)
    args = ap.parse_args()

    build_rusage()
    sim = Sim("eic-lean-")
    try:
        rel, work, env, port, user = sim.rel, sim.work, sim.env, sim.sshd_port, sim.user
        tunnel_url = env["EIC_SSH_TUNNEL_ENDPOINT_URL"]
        common = sim.ssh_options(alias=INSTANCE)
        proxy = [f"{rel}/eic-ssh", "proxy", "%h", "%p", "--user", "%r", "--push-key", f"{work}/key.pub"]
        relay = [f"{rel}/eic-relay-baseline", tunnel_url, ENDPOINT, PRIVATE_IP, "%p"]
        usage = {"proxy": Usage(f"{work}/proxy.jsonl"), "relay": Usage(f"{work}/relay.jsonl"),
                 "session": Usage(f"{work}/session.jsonl"), "cp": Usage(f"{work}/cp.jsonl")}
        arms = {
            "direct": (common + ["-o", "Port=" + str(port)], "127.0.0.1"),
            "relay": (common + ["-o", "ProxyCommand=" + " ".join(usage["relay"].wrap(relay))], INSTANCE),
            "proxy": (common + ["-o", "ProxyCommand=" + " ".join(usage["proxy"].wrap(proxy))], INSTANCE),
        }
        plain = {
            "direct": arms["direct"][0],
            "relay": common + ["-o", "ProxyCommand=" + " ".join(relay)],
            "proxy": common + ["-o", "ProxyCommand=" + " ".join(proxy)],
        }
        # Warm up; the proxy pushes the key once (valid an hour here) for the others.
        for name in ["proxy", "relay", "direct"]:
            subprocess.run(["ssh", *plain[name], f"{user}@{arms[name][1]}", "true"], check=True, env=env)

        latency = {k: [] for k in arms}
        for _ in range(args.latency_runs):
            for name in arms:
                latency[name].append(timed(["ssh", *plain[name], f"{user}@{arms[name][1]}", "true"], env))

        idle = {"proxy": [], "relay": []}
        for _ in range(5):
            for name, cmd in [("proxy", proxy), ("relay", relay)]:
                line = [c.replace("%h", INSTANCE).replace("%p", "22").replace("%r", user) for c in cmd]
                subprocess.run(usage[name].wrap(line), check=True, env=env, stdin=subprocess.DEVNULL)
                idle[name].append(usage[name].take()[0])

        src = sim.payload(args.size_mib)
        size = args.size_mib << 20
        rates = {(a, d): [] for a in arms for d in ["up", "down"]}
        cost = {(a, d): [] for a in ["relay", "proxy"] for d in ["up", "down"]}
        for _ in range(args.rounds):
            for d in ["up", "down"]:
                for name, (opts, host) in arms.items():
                    dst = f"{work}/copy-{time.monotonic_ns()}"
                    cmd = ["scp", "-q", *opts, src, f"{user}@{host}:{dst}"] if d == "up" else \
                          ["scp", "-q", *opts, f"{user}@{host}:{src}", dst]
                    rates[(name, d)].append(size / timed(cmd, env) / 1e6)
                    os.remove(dst)
                    if name != "direct":
                        cost[(name, d)].extend(usage[name].take())

        known = sim.known_hosts
        session = [f"{rel}/eic-ssh", f"{user}@{INSTANCE}", "--known-hosts", known]
        session_use, cp_use = [], []
        for _ in range(args.rounds):
            with open(src, "rb") as f:
                subprocess.run(usage["session"].wrap([*session, "--", "cat > /dev/null"]),
                               check=True, env=env, stdin=f, stdout=subprocess.DEVNULL)
            session_use.extend(usage["session"].take())
            remote = f"{work}/cp-remote.bin"
            subprocess.run(usage["cp"].wrap([f"{rel}/eic-ssh", "cp", "-q", "--known-hosts", known, src, f"{user}@{INSTANCE}:{remote}"]), check=True, env=env)
            subprocess.run(usage["cp"].wrap([f"{rel}/eic-ssh", "cp", "-q", "--known-hosts", known, f"{user}@{INSTANCE}:{remote}", f"{work}/cp-down.bin"]), check=True, env=env)
            os.remove(f"{work}/cp-down.bin")
            cp_use.extend(usage["cp"].take(expect=2))
    finally:
        sim.stop()

    med = statistics.median
    gib = size / (1 << 30)
    print(f"## Lean run of {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} "
          f"({os.cpu_count()} cores, {args.rounds} rounds of {args.size_mib} MiB each way, "
          f"{args.latency_runs} rounds of `ssh true`)\n")
    print(f"| per {args.size_mib} MiB scp (medians) | `eic-ssh proxy` | baseline relay | ratio |")
    print("|---|---|---|---|")
    for d in ["up", "down"]:
        p = med([u["cpu_s"] for u in cost[("proxy", d)]])
        r = med([u["cpu_s"] for u in cost[("relay", d)]])
        print(f"| CPU seconds, {d} | {p:.3f} | {r:.3f} | **{p/r:.2f}×** |")
    p = max(u["maxrss_kib"] for k in cost if k[0] == "proxy" for u in cost[k]) / 1024
    r = max(u["maxrss_kib"] for k in cost if k[0] == "relay" for u in cost[k]) / 1024
    print(f"| peak RSS (highest of all copies) | {p:.1f} MiB | {r:.1f} MiB | {p/r:.2f}× |")
    p = max(u["maxrss_kib"] for u in idle["proxy"]) / 1024
    r = max(u["maxrss_kib"] for u in idle["relay"]) / 1024
    print(f"| peak RSS, `< /dev/null` (tunnel opened and closed) | {p:.1f} MiB | {r:.1f} MiB | {p/r:.2f}× |")
    for d in ["up", "down"]:
        p, r, x = med(rates[("proxy", d)]), med(rates[("relay", d)]), med(rates[("direct", d)])
        print(f"| throughput {d}, MB/s (direct {x:.0f}) | {p:.0f} | {r:.0f} | **{p/r:.2f}×** |")
    lp, lr, ld = med(latency["proxy"]), med(latency["relay"]), med(latency["direct"])
    print(f"| `ssh true` median (direct {ld*1e3:.1f} ms) | {lp*1e3:.1f} ms ({(lp-ld)*1e3:+.1f} vs direct) "
          f"| {lr*1e3:.1f} ms ({(lr-ld)*1e3:+.1f}) | {(lp-lr)*1e3:+.1f} ms |")
    print("\n| per GiB | CPU seconds | peak RSS |")
    print("|---|---|---|")
    print(f"| session, {args.size_mib} MiB piped into `cat` | {med([u['cpu_s'] for u in session_use]) / gib:.2f} | "
          f"{max(u['maxrss_kib'] for u in session_use) / 1024:.1f} MiB |")
    print(f"| `cp`, {args.size_mib} MiB up or down | {med([u['cpu_s'] for u in cp_use]) / gib:.2f} | "
          f"{max(u['maxrss_kib'] for u in cp_use) / 1024:.1f} MiB |")
    binary = os.path.getsize(f"{rel}/eic-ssh") / 1e6
    print(f"\nStripped release binary: **{binary:.1f} MB**.")
    print("\nRounds, MB/s up / down: " + "; ".join(
        f"{a} " + ", ".join(f"{u:.0f}/{d:.0f}" for u, d in zip(rates[(a, 'up')], rates[(a, 'down')]))
        for a in arms))


if __name__ == "__main__":
    sys.exit(main())
