#!/usr/bin/env python3
"""Where a connected `eic-ssh proxy` keeps its memory: resident KiB by mapping, by ELF section
of the binary, and (given symbols) by crate.

    python3 bench/resident.py [--binary PATH]

Starts the emulator, runs `BINARY proxy` with its stdin held open (so the tunnel stays up
and idle), and reads /proc/PID/smaps and /proc/PID/pagemap (needs root for the page
frames' presence bits). The crate split needs an unstripped binary with the same layout:
    cargo build --release -p eic-ssh --config 'profile.release.package.eic-ssh.strip="none"'
The kernel maps the 64 KiB around each touched page, so "resident" is not "executed".
Not a test: nothing here asserts.
"""
import argparse
import bisect
import collections
import os
import re
import struct
import subprocess
import sys
import time

from simenv import INSTANCE, ROOT, Sim

PAGE = 4096


def smaps(pid):
    maps, cur = [], None
    for line in open(f"/proc/{pid}/smaps"):
        m = re.match(r"([0-9a-f]+)-([0-9a-f]+) (\S+) ([0-9a-f]+) \S+ \d+\s*(.*)", line)
        if m:
            cur = dict(start=int(m[1], 16), end=int(m[2], 16), perm=m[3], off=int(m[4], 16), path=m[5])
            maps.append(cur)
        elif line.startswith("Rss:"):
            cur["rss"] = int(line.split()[1])
    return maps


def sections(elf):
    out = subprocess.run(["readelf", "-SW", elf], capture_output=True, text=True, check=True).stdout
    found = []
    for line in out.splitlines():
        m = re.match(r"\s*\[\s*\d+\]\s+(\S+)\s+\S+\s+([0-9a-f]+)\s+[0-9a-f]+\s+([0-9a-f]+)", line)
        if m and int(m[2], 16):
            found.append((m[1], int(m[2], 16), int(m[3], 16)))
    return found


def symbols(elf):
    out = subprocess.run(["nm", "-S", "-C", "--defined-only", elf], capture_output=True, text=True).stdout
    syms = []
    for line in out.splitlines():
        parts = line.split(" ", 3)
        if len(parts) == 4 and parts[2].lower() in ("t", "r"):
            syms.append((int(parts[0], 16), int(parts[1], 16), parts[3]))
    return sorted(syms)


def crate(name):
    bare = name.lstrip("<").replace("&", "").replace("dyn ", "").replace("mut ", "")
    m = re.match(r"([A-Za-z_][A-Za-z0-9_]*)::", bare)
    return m[1] if m else "C and other"


def resident_pages(pid, maps, binary):
    """Offsets (from the binary's load base) of its resident pages."""
    mine = [m for m in maps if m["path"] == os.path.realpath(binary)]
    base = mine[0]["start"] - mine[0]["off"]
    with open(f"/proc/{pid}/pagemap", "rb") as pagemap:
        for m in mine:
            for va in range(m["start"], m["end"], PAGE):
                pagemap.seek(va // PAGE * 8)
                if struct.unpack("<Q", pagemap.read(8))[0] >> 63:
                    yield va - base


def report(pid, binary):
    maps = smaps(pid)
    by_map = collections.Counter()
    for m in maps:
        by_map[(os.path.basename(m["path"]) or "[anon]", m["perm"])] += m.get("rss", 0)
    print(f"resident, KiB (total {sum(by_map.values())}):")
    for (name, perm), kib in by_map.most_common():
        if kib:
            print(f"  {kib:6d}  {perm} {name}")
    secs, syms = sections(binary), symbols(binary)
    starts = [s[0] for s in syms]
    by_sec, by_crate = collections.Counter(), collections.Counter()
    for off in resident_pages(pid, maps, binary):
        sec = next((n for n, a, size in secs if a <= off < a + size), "(between sections)")
        by_sec[sec] += 4
        if not syms or sec not in (".text", ".rodata"):
            continue
        # Share the page among the symbols that overlap it, by bytes.
        share, i = collections.Counter(), bisect.bisect_right(starts, off + PAGE) - 1
        while i >= 0 and syms[i][0] > off - (1 << 16):
            a, size, name = syms[i]
            overlap = min(a + size, off + PAGE) - max(a, off)
            if overlap > 0:
                share[crate(name)] += overlap
            i -= 1
        total = sum(share.values())
        for c, n in share.items():
            by_crate[(sec, c)] += 4 * n / total
    print("the binary's resident KiB by section:")
    for sec, kib in by_sec.most_common():
        print(f"  {kib:6d}  {sec}")
    if by_crate:
        print("resident .text/.rodata KiB by crate (largest 30):")
        for (sec, c), kib in by_crate.most_common(30):
            print(f"  {kib:6.0f}  {sec} {c}")
    else:
        print("(no symbols: build unstripped for the split by crate)")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", default=os.path.join(ROOT, "target", "release", "eic-ssh"))
    args = ap.parse_args()
    sim = Sim("eic-resident-")
    try:
        held_r, held_w = os.pipe()
        proxy = subprocess.Popen(
            [args.binary, "proxy", INSTANCE, "22", "--user", sim.user, "--push-key", f"{sim.key}.pub"],
            stdin=held_r, stdout=subprocess.PIPE, env=sim.env)
        os.close(held_r)
        banner = proxy.stdout.read(4)
        if banner != b"SSH-":
            sys.exit(f"the proxy did not connect (read {banner!r})")
        time.sleep(1)
        report(proxy.pid, args.binary)
        os.close(held_w)
        proxy.wait()
    finally:
        sim.stop()


if __name__ == "__main__":
    main()
