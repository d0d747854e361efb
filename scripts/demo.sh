#!/usr/bin/env bash
# Local demo, end to end: build, start the EICE emulator (with a real sshd behind it),
# then use plain OpenSSH ssh and scp through `eic-ssh proxy`, and show what happened.
set -euo pipefail
cd "$(dirname "$0")/.."

# Say what will happen to this machine before doing it.
install=()
[ -x /usr/sbin/sshd ] || install+=(openssh-server)
command -v ssh >/dev/null || install+=(openssh-client)
echo "== what the demo does here"
if [ ${#install[@]} -gt 0 ]; then
    echo "   installs ${install[*]} with apt-get (the emulator's instance is a real sshd)"
fi
echo "   builds eic-ssh and the emulator eic-sim into target/debug (cargo build; a few minutes the first time)"
echo "   runs everything on this machine, in a scratch directory removed at the end; nothing reaches AWS"

if [ ${#install[@]} -gt 0 ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        echo "== installing ${install[*]}"
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${install[@]}" >/dev/null
    else
        echo "demo: needs OpenSSH: sudo apt-get install -y ${install[*]} (macOS has it), then run ./scripts/demo.sh again" >&2
        exit 1
    fi
fi

echo "== building eic-ssh and eic-sim"
cargo build --quiet --workspace --bins
bin="$PWD/target/debug"
# Another build of eic-ssh (a release, a static musl one) may stand in: EIC_SSH_BIN=PATH.
eic="${EIC_SSH_BIN:-$bin/eic-ssh}"

work="$(mktemp -d)"
sim_pid=""
cleanup() {
    [ -n "$sim_pid" ] && kill "$sim_pid" 2>/dev/null && wait "$sim_pid" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT

echo "== starting the EICE emulator and its sshd"
# The account as the IP restriction is meant to be set up: the endpoint preserves the
# client IP, the instance's security group admits SSH only from the office, and this
# machine starts in the office. Kept in a file the emulator reads again on SIGHUP.
"$bin/eic-sim" --dump-world --preserve-client-ip > "$work/world.json"
echo "   endpoint eice-0123456789abcdef0: Preserve Client IP on"
echo "   the bastion's security group: TCP 22 from 203.0.113.0/24 (the office) only"
echo "   this machine, as AWS sees it: 203.0.113.10, in the office"
"$bin/eic-sim" --dir "$work/sim" --world "$work/world.json" >/dev/null 2>"$work/sim.log" &
sim_pid=$!
for _ in $(seq 100); do [ -s "$work/sim/env.sh" ] && break; sleep 0.1; done
[ -s "$work/sim/env.sh" ] || { cat "$work/sim.log" >&2; exit 1; }
cat "$work/sim.log"
# shellcheck disable=SC1091
. "$work/sim/env.sh"

echo "== your key and ~/.ssh/config block (here in a scratch directory)"
ssh-keygen -q -t ed25519 -N "" -C demo -f "$work/id_ed25519"
user="$(id -un)"
cat > "$work/ssh_config" <<CONF
Host i-*
    User $user
    IdentityFile $work/id_ed25519
    IdentitiesOnly yes
    UserKnownHostsFile $work/known_hosts
    StrictHostKeyChecking accept-new
    LogLevel ERROR
    ProxyCommand $eic proxy %h %p --user %r --push-key $work/id_ed25519.pub
CONF
sed 's/^/    /' "$work/ssh_config"

echo "== ssh i-0123456789abcdef0"
ssh -F "$work/ssh_config" i-0123456789abcdef0 'echo "hello from $(whoami) on the instance, sshd says: $(ps -o comm= $PPID)"'

echo "== scp a file up and back"
head -c 5000000 /dev/urandom > "$work/payload"
scp -q -F "$work/ssh_config" "$work/payload" "i-0123456789abcdef0:$work/payload.remote"
scp -q -F "$work/ssh_config" "i-0123456789abcdef0:$work/payload.remote" "$work/payload.back"
cmp "$work/payload" "$work/payload.back" && echo "5 MB copied up and back, identical"

echo "== the embedded client: no ssh binary, a one-time key that never touches the disk"
"$eic" "$user@i-0123456789abcdef0" --known-hosts "$work/known_hosts" -- 'echo "uname: $(uname -sr)"; exit 7' || echo "(remote exit status $? passed through)"
"$eic" cp -q --known-hosts "$work/known_hosts" "$work/payload" "$user@i-0123456789abcdef0:$work/payload.cp"
cmp "$work/payload" "$work/payload.cp" && echo "eic-ssh cp: 5 MB copied over SFTP, identical"

echo "== a bad case: an instance in a VPC without an endpoint"
"$eic" proxy i-0bbbbbbbbbbbbbbb2 </dev/null || echo "(exit code $?)"

echo "== IP restriction: an allowlist in the config file, the same CIDR as the security group"
cat > "$work/config.toml" <<CONF
[defaults]
allow = ["203.0.113.0/24"]
egress_check_url = "${AWS_ENDPOINT_URL_EC2/https:/http:}/checkip"

[hosts.bastion]
instance = "i-0123456789abcdef0"
CONF
sed 's/^/    /' "$work/config.toml"
guarded=(env EIC_SSH_CONFIG="$work/config.toml" EIC_SSH_EGRESS_CACHE_SECS=0 "$eic")
unguarded=(env EIC_SSH_CONFIG=/dev/null "$eic")
echo "-- in the office: the guard and the security group both admit"
"${guarded[@]}" "$user@bastion" --known-hosts "$work/known_hosts" -- 'echo "admitted: logged in as $(whoami)"'

echo "== the laptop leaves the office: AWS now sees it at 192.0.2.50"
python3 - "$work/world.json" <<'PY'
import json, sys
world = json.load(open(sys.argv[1]))
world["client_public_ip"] = "192.0.2.50"
json.dump(world, open(sys.argv[1], "w"))
PY
kill -HUP "$sim_pid"
for _ in $(seq 100); do grep -q '"world_changed"' "$work/sim/events.jsonl" && break; sleep 0.1; done
grep -q '"world_changed"' "$work/sim/events.jsonl" || { echo "demo: the emulator did not take the new world" >&2; exit 1; }
echo "-- the guard refuses, before any AWS call: no key pushed, no tunnel"
if "${guarded[@]}" proxy bastion </dev/null; then
    echo "demo: the guard should have refused" >&2; exit 1
else
    echo "(exit code $?: nothing was sent to AWS)"
fi
echo "-- without the guard (no allowlist: EIC_SSH_CONFIG=/dev/null), the security group refuses"
if "${unguarded[@]}" "$user@i-0123456789abcdef0" --known-hosts "$work/known_hosts" -- true; then
    echo "demo: the security group should have refused" >&2; exit 1
else
    echo "(exit code $?: the key was pushed and the tunnel asked for, then the instance's security group turned the connection from 192.0.2.50 away)"
fi
"${guarded[@]}" doctor bastion || true

echo "== what the emulator saw"
python3 - "$work/sim/events.jsonl" <<'PY'
import json, sys, time
for line in open(sys.argv[1]):
    e = json.loads(line)
    when = time.strftime("%H:%M:%S", time.gmtime(e.pop("ts")))
    kind = e.pop("event")
    rest = "  ".join(f"{k}={v}" for k, v in e.items() if v is not None)
    print(f"  {when}  {kind:<15} {rest}")
PY
echo "== demo done"
