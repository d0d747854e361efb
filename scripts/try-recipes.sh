#!/usr/bin/env bash
# The recipes of docs/recipes.md, tried against the emulator (nothing reaches AWS), in a
# scratch HOME:
#   - the common part: host keys learned from the console output, ~/.ssh/eic-ssh.conf from
#     `ssh-config --discover`, read back with `ssh -G`;
#   - VS Code Remote-SSH: the connection it opens (`ssh -T -D PORT HOST bash`, commands on
#     stdin) through the generated block, twice, on one shared tunnel (VS Code itself is not
#     run: there is no display here);
#   - Ansible: an inventory from `eic-ssh list --json`, then `ansible -m ping` and a `setup`
#     run; the emulator's event log says how many tunnels they opened.
#
# Needs OpenSSH (client and server), jq, and for the Ansible part ansible-core (`pip install
# ansible-core`; ANSIBLE_BIN=DIR for a venv's bin/; without it that part is skipped, said).
set -euo pipefail
cd "$(dirname "$0")/.."
ansible_bin="${ANSIBLE_BIN:-$(dirname "$(command -v ansible 2>/dev/null || echo /nonexistent/ansible)")}"
command -v jq >/dev/null || { echo "try-recipes: needs jq" >&2; exit 2; }

cargo build --quiet --bin eic-ssh -p eic-ssh
cargo build --quiet --bin eic-sim -p eic-ssh-sim
bin="$PWD/target/debug"
work="$(mktemp -d)"
sim_pid=""
# Shared connections outlive each command by ControlPersist: end them (between the parts,
# so that each counts its own tunnels, and at the end).
close_shared() {
    for sock in "$work"/.ansible/cp/* "$work"/.ssh/eic-ssh-*; do
        [ -S "$sock" ] && { ssh -o ControlPath="$sock" -O exit x 2>/dev/null || true; }
    done
    return 0
}
cleanup() {
    close_shared
    [ -n "$sim_pid" ] && kill "$sim_pid" 2>/dev/null && wait "$sim_pid" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT

"$bin/eic-sim" --dir "$work/sim" >/dev/null 2>"$work/sim.log" &
sim_pid=$!
for _ in $(seq 100); do [ -s "$work/sim/env.sh" ] && break; sleep 0.1; done
[ -s "$work/sim/env.sh" ] || { cat "$work/sim.log" >&2; exit 1; }
# shellcheck disable=SC1091
. "$work/sim/env.sh"
export HOME="$work" PATH="$bin:$ansible_bin:$PATH"
user="$(id -un)"
mkdir -p "$HOME/.ssh" && chmod 700 "$HOME/.ssh"
ssh-keygen -q -t ed25519 -N "" -f "$HOME/.ssh/id_ed25519"
tunnels() { grep -c '"event":"tunnel_open"' "$work/sim/events.jsonl" || true; }

echo "== host keys, checked against what each instance printed at boot"
for id in $(eic-ssh list --json | jq -r '.instances[] | select(.state == "running" and .endpoint_id != null) | .instance_id'); do
    eic-ssh -l "$user" "$id" --host-key-from-console -- true
done

echo "== ~/.ssh/eic-ssh.conf, included from ~/.ssh/config"
eic-ssh ssh-config --discover --user "$user" --write
printf 'Include %s\n' "$HOME/.ssh/eic-ssh.conf" > "$HOME/.ssh/config"
# OpenSSH finds ~/.ssh/config and known_hosts through the password database, not $HOME: in
# this scratch HOME, name them (an ordinary HOME needs neither option).
ssh_in_home=(-F "$HOME/.ssh/config" -o "UserKnownHostsFile=$HOME/.ssh/known_hosts")
host=i-0123456789abcdef0
echo "== ssh -G $host (what an IDE's ssh reads)"
ssh "${ssh_in_home[@]}" -T -G "$host" | grep -E '^(user|hostkeyalias|identityfile|identitiesonly|proxycommand|serveraliveinterval|controlmaster|controlpath|controlpersist) '

echo "== VS Code Remote-SSH's connection: ssh -T -D PORT $host bash, commands on stdin"
before=$(tunnels)
for run in 1 2; do
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    printf 'echo "run %s: bash on $(hostname), as $(whoami)"\n' "$run" \
        | ssh "${ssh_in_home[@]}" -o BatchMode=yes -T -D "127.0.0.1:$port" "$host" bash 2> >(sed "s/^/[ssh run $run] /" >&2)
done
echo "tunnels opened by the two: $(( $(tunnels) - before )) (the first stays up for ControlPersist)"

if [ ! -x "$ansible_bin/ansible" ]; then
    echo "== Ansible: skipped, no ansible (pip install ansible-core, or set ANSIBLE_BIN)"
    exit 0
fi
echo "== the inventory, from eic-ssh list --json"
eic-ssh list --json | jq '{all: {hosts: ([.instances[]
    | select(.state == "running" and .endpoint_id != null and .guard != "refused")
    | {key: .instance_id, value: {}}] | from_entries)}}' > "$work/inventory.json"
cat "$work/inventory.json"
# The emulator's "instance" is this machine: its Python is named (discovery may find a
# shim); ssh_common_args is the scratch HOME's, as above.
python="$(python3 -c 'import sys; print(sys.executable)')"
cat > "$work/ansible.cfg" <<CFG
[defaults]
inventory = inventory.json
# At most 20 connections per endpoint, for everyone: stay well below.
forks = 10
interpreter_python = $python

[ssh_connection]
# Fewer SSH operations per task; each host keeps one connection (Ansible's own
# ControlMaster/ControlPersist, or the generated file's when ssh_args is emptied).
pipelining = True
ssh_common_args = -F $HOME/.ssh/config -o UserKnownHostsFile=$HOME/.ssh/known_hosts
CFG
cd "$work"
close_shared
before=$(tunnels)

echo "== ansible all -m ping"
ansible all -m ping
echo "tunnels opened by ping: $(( $(tunnels) - before ))"
echo "== ansible all -m setup (facts), on the same shared connection"
ansible all -m setup -a 'filter=ansible_hostname' | head -5
echo "tunnels opened by ping + setup: $(( $(tunnels) - before ))"

echo "== again with ANSIBLE_SSH_ARGS='' (the generated ControlMaster lines share instead)"
close_shared
before=$(tunnels)
ANSIBLE_SSH_ARGS='' ansible all -m setup -a 'filter=ansible_hostname' | head -3
echo "tunnels opened by setup: $(( $(tunnels) - before ))"
echo "== recipes done"
