#!/usr/bin/env python3
"""Runs a command and appends its peak RSS (KiB) and CPU seconds to a file, as one JSON line.

Used by bench.py as a ProxyCommand wrapper: `rusage.py OUT -- eic-ssh proxy ...`.
"""
import json
import os
import signal
import sys


def main():
    out, rest = sys.argv[1], sys.argv[sys.argv.index("--") + 1:]
    pid = os.fork()
    if pid == 0:
        os.execvp(rest[0], rest)
    # ssh sends SIGHUP to its ProxyCommand on exit: pass it on, and live to report.
    def forward(*_):
        try:
            os.kill(pid, signal.SIGHUP)
        except ProcessLookupError:
            pass

    signal.signal(signal.SIGHUP, forward)
    while True:
        try:
            _, status, usage = os.wait4(pid, 0)
            break
        except InterruptedError:
            continue
    with open(out, "a") as f:
        f.write(json.dumps({"maxrss_kib": usage.ru_maxrss,
                            "cpu_s": usage.ru_utime + usage.ru_stime}) + "\n")
    sys.exit(os.waitstatus_to_exitcode(status))


if __name__ == "__main__":
    main()
