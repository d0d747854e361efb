#!/usr/bin/env python3
"""Forwarding benchmark: `eic-ssh -N -L` against OpenSSH's `ssh -N -L` through
`eic-ssh proxy`, same emulator and sshd, one run, arms interleaved round by round.

    python3 bench/forward.py [--rounds 3] [--size-mib 256] [--connections 100]

Measures, through a loopback sink on the "instance" side (sshd's machine):
  * one stream of --size-mib through each forward (MB/s, median of --rounds);
  * --connections concurrent connections through one eic-ssh -L (one tunnel): all complete,
    aggregate MB/s, slowest/fastest connection, eic-ssh's peak RSS.
Prints a Markdown report; docs/benchmarks.md quotes it. Not a test: nothing here asserts.
"""
import argparse
import os
import socket
import statistics
import subprocess
import threading
import time

from simenv import INSTANCE, Sim
CHUNK = os.urandom(1 << 20)


def serve(handler, backlog=256):
    """A loopback server that runs handler(conn) for each connection, in its own thread."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(backlog)

    def one(conn):
        with conn:
            handler(conn)

    def accept():
        while True:
            conn, _ = srv.accept()
            threading.Thread(target=one, args=(conn,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    return srv.getsockname()[1]


def sink(conn):
    """Reads the connection to its end, then answers b"ok"."""
    while conn.recv(1 << 20):
        pass
    conn.sendall(b"ok")


def source(nbytes):
    """Sends nbytes, then closes."""
    def send(conn):
        left = nbytes
        while left > 0:
            n = min(left, len(CHUNK))
            conn.sendall(CHUNK[:n])
            left -= n
    return send


def drain(port):
    """Reads a connection to its end; returns seconds."""
    start = time.perf_counter()
    with socket.create_connection(("127.0.0.1", port)) as s:
        while s.recv(1 << 20):
            pass
    return time.perf_counter() - start


def stream(port, nbytes):
    """Sends nbytes through port, waits for the sink's answer; returns seconds."""
    start = time.perf_counter()
    with socket.create_connection(("127.0.0.1", port)) as s:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        left = nbytes
        while left > 0:
            n = min(left, len(CHUNK))
            s.sendall(CHUNK[:n])
            left -= n
        s.shutdown(socket.SHUT_WR)
        assert s.recv(2) == b"ok"
    return time.perf_counter() - start


def wait_port(port, limit=30):
    deadline = time.time() + limit
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"nothing listens on {port}")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def peak_rss_kib(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


def current_kib(pid):
    """VmRSS and RssAnon now (what the process holds, not its peak)."""
    out = {}
    for line in open(f"/proc/{pid}/status"):
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "RssAnon"):
            out[key] = int(rest.split()[0])
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--size-mib", type=int, default=256)
    ap.add_argument("--connections", type=int, default=100)
    ap.add_argument("--per-connection-mib", type=int, default=4)
    args = ap.parse_args()

    sim = Sim("eic-bench-fwd-")
    procs = []
    try:
        rel, work, env, user = sim.rel, sim.work, sim.env, sim.user
        sink_port = serve(sink)
        size = args.size_mib << 20
        source_port = serve(source(size), backlog=16)
        known = sim.known_hosts

        # eic-ssh's own forward: one tunnel, every connection a channel.
        def forward(*targets):
            """`eic-ssh -N` with one -L per target port; the process and its local ports."""
            cmd = [f"{rel}/eic-ssh", f"{user}@{INSTANCE}", "--known-hosts", known,
                   "--host-key-check", "accept-new", "-N"]
            for port in targets:
                cmd += ["-L", f"0:127.0.0.1:{port}"]
            proc = subprocess.Popen(cmd, env=env, stdin=subprocess.DEVNULL,
                                    stderr=subprocess.PIPE, text=True)
            procs.append(proc)
            ports = []
            while len(ports) < len(targets):
                line = proc.stderr.readline()
                if "forwarding 127.0.0.1:" in line:
                    ports.append(int(line.split("127.0.0.1:")[1].split()[0]))
                elif not line:
                    raise SystemExit("eic-ssh -N -L did not come up")
            threading.Thread(target=proc.stderr.read, daemon=True).start()
            return proc, ports

        eic, (eic_port, eic_down_port) = forward(sink_port, source_port)

        # OpenSSH's forward through eic-ssh proxy, the same tunnel kind.
        ssh_port, ssh_down_port = free_port(), free_port()
        proxy = f"{rel}/eic-ssh proxy %h %p --user %r --push-key {work}/key.pub"
        ssh = subprocess.Popen(["ssh", *sim.ssh_options(), "-o", f"ProxyCommand={proxy}", "-N",
                                "-L", f"{ssh_port}:127.0.0.1:{sink_port}",
                                "-L", f"{ssh_down_port}:127.0.0.1:{source_port}", f"{user}@{INSTANCE}"],
                               env=env, stdin=subprocess.DEVNULL)
        procs.append(ssh)
        wait_port(ssh_port)
        stream(eic_port, 1 << 20)
        stream(ssh_port, 1 << 20)

        wait_port(ssh_down_port)
        single = {"eic": [], "ssh": [], "eic_down": [], "ssh_down": []}
        for _ in range(args.rounds):
            single["eic"].append(size / stream(eic_port, size) / 1e6)
            single["ssh"].append(size / stream(ssh_port, size) / 1e6)
            single["eic_down"].append(size / drain(eic_down_port) / 1e6)
            single["ssh_down"].append(size / drain(ssh_down_port) / 1e6)

        # A fresh eic-ssh for the concurrent connections, so its peak RSS is theirs and not
        # the single streams' (whose 8 MiB SSH window dominates a long transfer).
        many, (many_port,) = forward(sink_port)
        stream(many_port, 1 << 20)
        time.sleep(0.5)
        idle_rss = peak_rss_kib(many.pid)
        idle_now = current_kib(many.pid)
        each = args.per_connection_mib << 20
        times = [None] * args.connections

        def one(i):
            times[i] = stream(many_port, each)
        threads = [threading.Thread(target=one, args=(i,)) for i in range(args.connections)]
        start = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall = time.perf_counter() - start
        rss = peak_rss_kib(many.pid)
        time.sleep(1.0)
        after = current_kib(many.pid)
        single_rss = peak_rss_kib(eic.pid)
        done = sum(1 for t in times if t is not None)
        rates = [each / t / 1e6 for t in times if t]
    finally:
        for p in procs:
            p.terminate()
            p.wait()
        sim.stop()

    med = statistics.median
    print(f"## Forwarding, run of {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} "
          f"({os.cpu_count()} cores)\n")
    print(f"| one stream of {args.size_mib} MiB through a -L forward, MB/s (median of {args.rounds}) | to the instance | from the instance |")
    print("|---|---|---|")
    print(f"| OpenSSH `ssh -N -L` through `eic-ssh proxy` | {med(single['ssh']):.0f} | {med(single['ssh_down']):.0f} |")
    print(f"| `eic-ssh -N -L` | {med(single['eic']):.0f} | {med(single['eic_down']):.0f} |")
    print(f"| **ratio** | **{med(single['eic']) / med(single['ssh']):.2f}×** | **{med(single['eic_down']) / med(single['ssh_down']):.2f}×** |")
    print()
    print(f"{args.connections} concurrent connections of {args.per_connection_mib} MiB through one "
          f"`eic-ssh -N -L` (one tunnel): **{done} of {args.connections} completed**, aggregate "
          f"**{args.connections * each / wall / 1e6:.0f} MB/s**, slowest/fastest connection "
          f"**{min(rates) / max(rates):.2f}**, eic-ssh peak RSS **{rss / 1024:.1f} MiB** "
          f"({idle_rss / 1024:.1f} MiB with its tunnel up and no connection yet). The eic-ssh that "
          f"carried the single streams peaked at {single_rss / 1024:.1f} MiB.")
    print()
    print(f"Once they have all ended: RSS **{after['VmRSS'] / 1024:.1f} MiB**, anonymous "
          f"**{after['RssAnon'] / 1024:.1f} MiB** (before them: {idle_now['VmRSS'] / 1024:.1f} MiB, "
          f"anonymous {idle_now['RssAnon'] / 1024:.1f} MiB): what is kept per connection after "
          f"the burst is **{max(0, after['RssAnon'] - idle_now['RssAnon']) / args.connections:.0f} KiB**.")
    print()
    print("Rounds, MB/s, to / from the instance: eic-ssh "
          + ", ".join(f"{a:.0f}/{b:.0f}" for a, b in zip(single["eic"], single["eic_down"]))
          + "; OpenSSH " + ", ".join(f"{a:.0f}/{b:.0f}" for a, b in zip(single["ssh"], single["ssh_down"])) + ".")


if __name__ == "__main__":
    main()
