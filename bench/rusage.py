#!/usr/bin/env python3
"""Runs a command and appends its peak RSS (KiB) and CPU seconds to a file, as one JSON line.

Used by bench.py as a ProxyCommand wrapper: `rusage.py OUT -- eic-ssh proxy ...`.
"""
import json
import os
import sys


def main():
    out, rest = sys.argv[1], sys.argv[sys.argv.index("--") + 1:]
    pid = os.fork()
    if pid == 0:
        os.execvp(rest[0], rest)
    _, status, usage = os.wait4(pid, 0)
    with open(out, "a") as f:
        f.write(json.dumps({"maxrss_kib": usage.ru_maxrss,
                            "cpu_s": usage.ru_utime + usage.ru_stime}) + "\n")
    sys.exit(os.waitstatus_to_exitcode(status))


if __name__ == "__main__":
    main()
