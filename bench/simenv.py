"""The emulator for a benchmark: release binaries built, `eic-sim` running the demo world
with keys valid for an hour (so direct ssh can use the pushed key too), a client key, and
the environment that points eic-ssh at the emulator; with `rtt`, at that distance."""
import json
import os
import re
import subprocess
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
INSTANCE = "i-0123456789abcdef0"
RUSAGE = os.path.join(ROOT, "target", "rusage")


def build_rusage():
    """The C wrapper (bench/rusage.c) that reports a command's CPU and peak RSS. A Python
    parent would add its own ~10 MiB to the child's peak, which Linux carries across exec."""
    subprocess.run(["gcc", "-O2", "-o", RUSAGE, os.path.join(ROOT, "bench", "rusage.c")], check=True)


def take_usage(path, expect, timeout=10.0):
    """The JSON lines bench/rusage.c appended to `path`, once `expect` of them are there; the
    file is then removed. As a ProxyCommand wrapper it writes after ssh has exited, so its
    line can land just after scp returns: reading at once would credit it to the next copy."""
    deadline = time.monotonic() + timeout
    text = ""
    while True:
        text = open(path).read() if os.path.exists(path) else ""
        if text.count("\n") >= expect or time.monotonic() > deadline:
            break
        time.sleep(0.01)
    if os.path.exists(path):
        os.remove(path)
    return [json.loads(line) for line in text.splitlines() if line.endswith("}")]


class Sim:
    """A running emulator; `stop()` ends it. With `rtt` (milliseconds) it runs `--rtt`: every
    service on its own port at that distance, `checkip_url` over https, and `bastion_port`,
    sshd behind the same delay. With `fleet` (N), the demo world plus N instances over
    `endpoints` VPCs and endpoints (`eic-sim --fleet N --endpoints M`), listed in `fleet`."""

    def __init__(self, prefix, rtt=None, fleet=None, endpoints=2):
        subprocess.run(["cargo", "build", "--quiet", "--release", "--workspace", "--bins"],
                       cwd=ROOT, check=True)
        self.rel = os.path.join(ROOT, "target", "release")
        self.work = tempfile.mkdtemp(prefix=prefix)
        fleet_args = [] if fleet is None else ["--fleet", str(fleet), "--endpoints", str(endpoints)]
        world = json.loads(subprocess.run([f"{self.rel}/eic-sim", "--dump-world", *fleet_args],
                                          check=True, capture_output=True, text=True).stdout)
        # With `fleet`: the fleet's instances (eic-sim --fleet), as (id, Name, endpoint id).
        vpc_endpoint = {e["vpc_id"]: e["id"] for e in world["endpoints"]}
        self.fleet = [(i["id"], i["name"], vpc_endpoint[i["vpc_id"]]) for i in world["instances"]
                      if fleet is not None and i["id"].startswith("i-0f")]
        world["key_ttl_secs"] = 3600
        with open(f"{self.work}/world.json", "w") as f:
            json.dump(world, f)
        distance = [] if rtt is None else ["--rtt", str(rtt)]
        self.proc = subprocess.Popen(
            [f"{self.rel}/eic-sim", "--dir", f"{self.work}/sim", "--world", f"{self.work}/world.json",
             *distance],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        try:
            banner = self.proc.stderr.readline()
            self.sshd_port = int(banner.split("sshd on 127.0.0.1:")[1].split(")")[0])
            if rtt is not None:
                self.checkip_url = re.search(r"checkip at (\S+),", banner).group(1)
                self.bastion_port = int(re.search(r"bastion .* on 127\.0\.0\.1:(\d+)", banner).group(1))
            self.env = dict(os.environ)
            for line in open(f"{self.work}/sim/env.sh"):
                key, value = line.removeprefix("export ").strip().split("=", 1)
                self.env[key] = value.strip("'")
            self.key = f"{self.work}/key"
            self.known_hosts = f"{self.work}/known_hosts"
            subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", self.key], check=True)
            self.user = subprocess.run(["id", "-un"], capture_output=True, text=True).stdout.strip()
        except BaseException:
            self.stop()
            raise

    def ssh_options(self, alias=None):
        """OpenSSH options for the emulator: the client key only, no prompts, the run's own
        known_hosts (new keys accepted), errors only; `alias` pins the host key's name."""
        options = ["-F", "/dev/null", "-i", self.key, "-o", "IdentitiesOnly=yes",
                   "-o", "BatchMode=yes", "-o", f"UserKnownHostsFile={self.known_hosts}",
                   "-o", "StrictHostKeyChecking=accept-new", "-o", "LogLevel=ERROR"]
        return options + (["-o", f"HostKeyAlias={alias}"] if alias else [])

    def payload(self, mib, name="payload"):
        """A file of `mib` MiB of random bytes in the run's directory; its path."""
        path = f"{self.work}/{name}"
        with open(path, "wb") as f:
            for _ in range(mib):
                f.write(os.urandom(1 << 20))
        return path

    def stop(self):
        self.proc.terminate()
        self.proc.wait()
