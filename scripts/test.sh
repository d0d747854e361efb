#!/usr/bin/env bash
# The README's test command: installs what the tests run besides cargo when it is missing
# (with apt-get, as root), or prints the exact install line and stops; then runs
# `cargo test --workspace` with any arguments given: `./scripts/test.sh --test cli exit_codes`
# runs the tests of tests/cli/exit_codes.rs (one binary per folder under tests/).
set -euo pipefail
cd "$(dirname "$0")/.."

command -v cargo >/dev/null || {
    echo "test.sh: no cargo on PATH: install Rust (https://rustup.rs), then run ./scripts/test.sh again" >&2
    exit 1
}

# The tests start a real sshd behind the emulator and drive the OpenSSH clients, rsync,
# tmux (interactive sessions) and pgrep; each missing one is a Debian package.
need=()
[ -x /usr/sbin/sshd ] || need+=(openssh-server)
for tool in ssh scp sftp ssh-keygen ssh-agent ssh-add; do
    command -v "$tool" >/dev/null || { need+=(openssh-client); break; }
done
command -v rsync >/dev/null || need+=(rsync)
command -v tmux >/dev/null || need+=(tmux)
command -v pgrep >/dev/null || need+=(procps)

if [ ${#need[@]} -gt 0 ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        echo "test.sh: installing what the tests need: ${need[*]} (apt-get)" >&2
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq
        apt-get install -y -qq "${need[@]}" >/dev/null
    else
        {
            echo "test.sh: the tests need ${need[*]}; install it, then run ./scripts/test.sh again:"
            echo "    Debian, Ubuntu: sudo apt-get install -y ${need[*]}"
            echo "    macOS: brew install tmux rsync (the system's OpenSSH is enough)"
        } >&2
        exit 1
    fi
fi

exec cargo test --workspace "$@"
