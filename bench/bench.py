#!/usr/bin/env python3
"""eic-ssh benchmark: OpenSSH through `eic-ssh proxy` vs OpenSSH direct, same sshd, one run.

    python3 bench/bench.py [--runs 25] [--size-mib 256]

Builds release binaries, starts eic-sim (emulator + real sshd on loopback) and measures:
  * `ssh true` wall time, direct vs through the proxy (median and p90 of --runs);
  * scp of --size-mib up and down, direct vs through the tunnel (median of 3);
  * peak RSS and CPU seconds of the proxy process during those copies (bench/rusage.c);
  * the embedded session: `-- true`, --size-mib piped into `cat`, keystroke echo;
  * `eic-ssh cp` vs scp through the proxy and direct: --size-mib each way, 500 small files.
Prints a Markdown report; docs/benchmarks.md quotes it. Not a test: nothing here asserts.
"""
import argparse
import os
import pty
import select
import shlex
import statistics
import subprocess
import sys
import time

from simenv import INSTANCE, RUSAGE, Sim, build_rusage, take_usage


def sh(cmd, **kw):
    return subprocess.run(cmd, check=True, **kw)


def timed(cmd, env):
    start = time.perf_counter()
    subprocess.run(cmd, check=True, env=env, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=25)
    ap.add_argument("--size-mib", type=int, default=256)
    args = ap.parse_args()

    build_rusage()
    sim = Sim("eic-bench-")
    try:
        rel, work, env, sshd_port, user = sim.rel, sim.work, sim.env, sim.sshd_port, sim.user
        common = sim.ssh_options()
        proxy = f"{rel}/eic-ssh proxy %h %p --user %r --push-key {work}/key.pub"
        usage_log = f"{work}/rusage.jsonl"
        measured_proxy = f"{RUSAGE} {usage_log} -- {proxy}"
        via = common + ["-o", f"ProxyCommand={proxy}"]
        via_measured = common + ["-o", f"ProxyCommand={measured_proxy}"]
        direct = common + ["-o", "HostKeyAlias=" + INSTANCE]

        # Warm up (and push the key once so direct ssh is let in).
        sh(["ssh", *via, f"{user}@{INSTANCE}", "true"], env=env)
        sh(["ssh", *direct, "-p", str(sshd_port), f"{user}@127.0.0.1", "true"], env=env)

        lat_direct, lat_proxy = [], []
        for _ in range(args.runs):
            lat_direct.append(timed(["ssh", *direct, "-p", str(sshd_port), f"{user}@127.0.0.1", "true"], env))
            lat_proxy.append(timed(["ssh", *via, f"{user}@{INSTANCE}", "true"], env))

        # The tunnel's own set-up and tear-down: resolve, push the key, open, close, exit.
        setup = []
        for _ in range(args.runs):
            setup.append(timed([f"{rel}/eic-ssh", "proxy", INSTANCE, "--user", user,
                                "--push-key", f"{work}/key.pub"], env))

        src = sim.payload(args.size_mib)
        size = args.size_mib << 20

        def scp(opts, remote_prefix, up):
            dst = f"{work}/copy-{time.monotonic_ns()}"
            if up:
                cmd = ["scp", "-q", *opts, src, f"{remote_prefix}:{dst}"]
            else:
                cmd = ["scp", "-q", *opts, f"{remote_prefix}:{src}", dst]
            t = timed(cmd, env)
            os.remove(dst)
            return size / t / 1e6

        rates = {k: [] for k in ["up_direct", "up_proxy", "down_direct", "down_proxy"]}
        for _ in range(3):
            rates["up_direct"].append(scp(direct + ["-P", str(sshd_port)], f"{user}@127.0.0.1", True))
            rates["up_proxy"].append(scp(via_measured, f"{user}@{INSTANCE}", True))
            rates["down_direct"].append(scp(direct + ["-P", str(sshd_port)], f"{user}@127.0.0.1", False))
            rates["down_proxy"].append(scp(via_measured, f"{user}@{INSTANCE}", False))
        usages = take_usage(usage_log, 6)

        # The embedded session (issue 4): `-- true`, piped throughput, keystroke echo.
        known = sim.known_hosts
        session = [f"{rel}/eic-ssh", f"{user}@{INSTANCE}", "--known-hosts", known,
                   "--host-key-check", "accept-new"]
        sh([*session, "--", "true"], env=env, stderr=subprocess.DEVNULL)
        lat_session = []
        for _ in range(args.runs):
            lat_session.append(timed([*session, "--", "true"], env))

        def piped(cmd):
            with open(src, "rb") as f:
                start = time.perf_counter()
                subprocess.run(cmd, check=True, env=env, stdin=f, stdout=subprocess.DEVNULL)
                return size / (time.perf_counter() - start) / 1e6
        pipe_direct, pipe_session = [], []
        for _ in range(3):
            pipe_direct.append(piped(["ssh", *direct, "-p", str(sshd_port), f"{user}@127.0.0.1", "cat > /dev/null"]))
            pipe_session.append(piped([*session, "--", "cat > /dev/null"]))

        # eic-ssh cp (issue 5) vs OpenSSH scp through the proxy and direct.
        def cp_time(cmd):
            return timed(cmd, env)
        cp_rates = {k: [] for k in ["up_cp", "up_scp_proxy", "up_scp_direct",
                                    "down_cp", "down_scp_proxy", "down_scp_direct"]}
        remote_copy = f"{work}/cp-remote.bin"
        for _ in range(5):
            cp_rates["up_cp"].append(size / cp_time([f"{rel}/eic-ssh", "cp", "-q", "--known-hosts", known, src, f"{user}@{INSTANCE}:{remote_copy}"]) / 1e6)
            cp_rates["up_scp_proxy"].append(size / cp_time(["scp", "-q", *via, src, f"{user}@{INSTANCE}:{remote_copy}"]) / 1e6)
            cp_rates["up_scp_direct"].append(size / cp_time(["scp", "-q", *direct, "-P", str(sshd_port), src, f"{user}@127.0.0.1:{remote_copy}"]) / 1e6)
            for key, cmd in [("down_cp", [f"{rel}/eic-ssh", "cp", "-q", "--known-hosts", known, f"{user}@{INSTANCE}:{remote_copy}", f"{work}/cp-down.bin"]),
                             ("down_scp_proxy", ["scp", "-q", *via, f"{user}@{INSTANCE}:{remote_copy}", f"{work}/cp-down.bin"]),
                             ("down_scp_direct", ["scp", "-q", *direct, "-P", str(sshd_port), f"{user}@127.0.0.1:{remote_copy}", f"{work}/cp-down.bin"])]:
                cp_rates[key].append(size / cp_time(cmd) / 1e6)
                os.remove(f"{work}/cp-down.bin")
        tree = f"{work}/tree"
        for i in range(500):
            os.makedirs(f"{tree}/d{i % 10}", exist_ok=True)
            with open(f"{tree}/d{i % 10}/f{i}.txt", "wb") as f:
                f.write(os.urandom(2048))
        small = {"cp": [], "scp_proxy": [], "scp_direct": []}
        for i in range(3):
            small["cp"].append(cp_time([f"{rel}/eic-ssh", "cp", "-q", "-r", "--known-hosts", known, tree, f"{user}@{INSTANCE}:{work}/small-cp-{i}"]))
            small["scp_proxy"].append(cp_time(["scp", "-q", "-r", *via, tree, f"{user}@{INSTANCE}:{work}/small-scp-{i}"]))
            small["scp_direct"].append(cp_time(["scp", "-q", "-r", *direct, "-P", str(sshd_port), tree, f"{user}@127.0.0.1:{work}/small-direct-{i}"]))

        echo_direct = echo_rtt(["ssh", "-tt", *direct, "-p", str(sshd_port), f"{user}@127.0.0.1",
                                "stty -icanon; echo READY; cat"], env)
        echo_session = echo_rtt([*session, "-t", "--", "stty -icanon; echo READY; cat"], env)
    finally:
        sim.stop()

    med = statistics.median
    p90 = lambda xs: sorted(xs)[int(round(0.9 * (len(xs) - 1)))]
    print(f"## Run of {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} "
          f"({os.cpu_count()} cores, {args.runs} latency runs, {args.size_mib} MiB copies)\n")
    print("| `ssh … true` | median | p90 |")
    print("|---|---|---|")
    print(f"| direct to sshd | {med(lat_direct)*1e3:.1f} ms | {p90(lat_direct)*1e3:.1f} ms |")
    print(f"| through `eic-ssh proxy` (3 API calls + tunnel) | {med(lat_proxy)*1e3:.1f} ms | {p90(lat_proxy)*1e3:.1f} ms |")
    print(f"| **added by eic-ssh** (difference of medians) | **{(med(lat_proxy)-med(lat_direct))*1e3:+.1f} ms** | |")
    print(f"| `eic-ssh proxy < /dev/null` alone: 3 API calls, tunnel open and close, exit | {med(setup)*1e3:.1f} ms | {p90(setup)*1e3:.1f} ms |\n")
    print("| scp | direct MB/s (median of 3) | via tunnel MB/s (median of 3) | ratio |")
    print("|---|---|---|---|")
    for d in ["up", "down"]:
        a, b = med(rates[f"{d}_direct"]), med(rates[f"{d}_proxy"])
        print(f"| {d} {args.size_mib} MiB | {a:.0f} | {b:.0f} | **{b/a:.2f}×** |")
    print("\n### The embedded session (`eic-ssh user@host -- …`)\n")
    print("| measure | direct OpenSSH | eic-ssh session | ratio / difference |")
    print("|---|---|---|---|")
    print(f"| `-- true` median wall time | {med(lat_direct)*1e3:.1f} ms (ssh direct); {med(lat_proxy)*1e3:.1f} ms (ssh via proxy) | {med(lat_session)*1e3:.1f} ms | **{(med(lat_session)-med(lat_direct))*1e3:+.1f} ms** vs direct |")
    print(f"| piped {args.size_mib} MiB into `cat > /dev/null` (median of 3) | {med(pipe_direct):.0f} MB/s | {med(pipe_session):.0f} MB/s | **{med(pipe_session)/med(pipe_direct):.2f}×** |")
    print(f"| keystroke echo round trip (median of {len(echo_direct)}) | {med(echo_direct)*1e3:.2f} ms | {med(echo_session)*1e3:.2f} ms | **{(med(echo_session)-med(echo_direct))*1e3:+.2f} ms** |")
    print("\n### `eic-ssh cp` (256 MiB file, medians of 5; 500 files, medians of 3)\n")
    print("| direction | eic-ssh cp | scp via eic-ssh proxy | scp direct | cp / scp via proxy | cp / scp direct |")
    print("|---|---|---|---|---|---|")
    for d in ["up", "down"]:
        c, p_, x = med(cp_rates[f"{d}_cp"]), med(cp_rates[f"{d}_scp_proxy"]), med(cp_rates[f"{d}_scp_direct"])
        print(f"| {d} | {c:.0f} MB/s | {p_:.0f} MB/s | {x:.0f} MB/s | **{c/p_:.2f}×** | {c/x:.2f}× |")
    c, p_, x = med(small["cp"]), med(small["scp_proxy"]), med(small["scp_direct"])
    print(f"| 500 files of 2 KiB, up, `-r` | {c:.2f} s | {p_:.2f} s | {x:.2f} s | **{p_/c:.2f}×** faster | {x/c:.2f}× |")
    rss = max(u["maxrss_kib"] for u in usages) / 1024
    cpu = med([u["cpu_s"] for u in usages if u["cpu_s"] > 0.05] or [0])
    print(f"\nProxy process over the {len(usages)} tunnelled copies: peak RSS **{rss:.1f} MiB**, "
          f"median CPU **{cpu:.2f} s** per {args.size_mib} MiB copy.")


def echo_rtt(cmd, env, keys=200):
    """Round trip of one keystroke through a local PTY to a remote `cat` and back."""
    pid, fd = pty.fork()
    if pid == 0:
        os.execvpe(cmd[0], cmd, env)
    seen = b""
    deadline = time.monotonic() + 20
    while b"READY" not in seen and time.monotonic() < deadline:
        if select.select([fd], [], [], 1)[0]:
            seen += os.read(fd, 4096)
    time.sleep(0.2)
    while select.select([fd], [], [], 0.1)[0]:
        os.read(fd, 4096)
    times = []
    for i in range(keys):
        ch = bytes([ord("a") + i % 26])
        start = time.perf_counter()
        os.write(fd, ch)
        got = b""
        while ch not in got:
            if not select.select([fd], [], [], 5)[0]:
                raise RuntimeError("no echo")
            got += os.read(fd, 4096)
        times.append(time.perf_counter() - start)
    os.write(fd, b"\x04")
    os.kill(pid, 15)
    os.waitpid(pid, 0)
    return times


if __name__ == "__main__":
    sys.exit(main())
