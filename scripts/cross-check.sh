#!/usr/bin/env bash
# Cross checks for the systems users run eic-ssh on (issue 20, items 2, 3, 4 and 8):
#
#   x86_64-apple-darwin, aarch64-apple-darwin
#       `cargo check` only: there is no macOS SDK or linker here. ring's C is compiled by
#       Debian's clang for the target, freestanding, against three stub headers this script
#       writes into the target directory (they declare only what ring's C uses).
#   x86_64-pc-windows-gnu
#       `cargo build` with Debian's mingw-w64, then a smoke test under Debian's wine against
#       the emulator: the .exe as the ProxyCommand of the real Linux ssh (bulk data through
#       its stdin/stdout pipes), `cp` both ways with hashes checked, `HOST -- COMMAND` with its
#       exit status, and known_hosts and the log in their Windows places. wine 8 lacks
#       ProcessPrng, which Rust's std imports from
#       bcryptprimitives.dll; scripts/wine/ holds a stand-in built here and copied beside the
#       .exe in the test directory only (never into what ships).
#   x86_64-unknown-linux-musl
#       `cargo build` with Debian's musl-tools, checked to be static, then the README demo
#       (scripts/demo.sh) with that binary as eic-ssh.
#
# Installs what it needs when missing (rustup targets; apt packages clang,
# gcc-mingw-w64-x86-64, wine + wine64, musl-tools, openssh). Where a target or package
# cannot be installed it says what it skipped and why, and that alone does not fail the run.
# It fails when a check, build or smoke test that could run fails. Runs without a terminal.
#
# Environment: CROSS_CHECK_TARGETS (space-separated subset of the four targets),
# CROSS_CHECK_PROFILE (dev or release; default dev), CARGO_TARGET_DIR.
set -uo pipefail
cd "$(dirname "$0")/.."
root="$PWD"
target_dir="${CARGO_TARGET_DIR:-$root/target}"
work="$target_dir/cross-check"
mkdir -p "$work"
profile="${CROSS_CHECK_PROFILE:-dev}"
case "$profile" in
    dev) profile_dir=debug ;;
    release) profile_dir=release ;;
    *) echo "cross-check: CROSS_CHECK_PROFILE must be dev or release" >&2; exit 2 ;;
esac
targets="${CROSS_CHECK_TARGETS:-x86_64-apple-darwin aarch64-apple-darwin x86_64-pc-windows-gnu x86_64-unknown-linux-musl}"
export DEBIAN_FRONTEND=noninteractive
export CARGO_TERM_COLOR=never

declare -A summary
failed=0
why=""     # the reason the last need_* call gave up
bulk=3000000

say() { printf '== %s\n' "$*"; }
ok() { summary[$1]="${summary[$1]:+${summary[$1]}; }$2"; }
fail() { summary[$1]="${summary[$1]:+${summary[$1]}; }$2"; failed=1; }
# The compiler's diagnostics of a log (--message-format short: "file:line:col: error…").
errors_of() { grep -E '(^|: )error(\[E[0-9]+\])?: ' "$1"; }
show_errors() {
    local log=$1
    errors_of "$log" | head -n 60 | sed 's/^/    /'
    echo "    ... full log: $log"
}
count_errors() { errors_of "$1" | grep -vc '^error: could not compile'; }

# ---- installing what is missing ------------------------------------------------------

apt_updated=0
# apt_install PACKAGE...: installs them (as root, with apt-get), or says why not in $why.
apt_install() {
    if [ "$(id -u)" != 0 ]; then
        why="not root (needs apt-get install $*)"
        return 1
    fi
    if ! command -v apt-get >/dev/null 2>&1; then
        why="no apt-get here (needs $*)"
        return 1
    fi
    if [ "$apt_updated" = 0 ]; then
        say "apt-get update"
        if ! timeout 600 apt-get update -qq >"$work/apt-update.log" 2>&1; then
            why="apt-get update failed: $(tail -n 1 "$work/apt-update.log")"
            return 1
        fi
        apt_updated=1
    fi
    say "apt-get install $*"
    if ! timeout 1800 apt-get install -y -qq --no-install-recommends "$@" \
        >"$work/apt-install.log" 2>&1; then
        why="apt-get install $* failed: $(tail -n 1 "$work/apt-install.log")"
        return 1
    fi
}

# need_cmd COMMAND PACKAGE...: true when COMMAND is on PATH, installing PACKAGE... if not.
need_cmd() {
    local cmd=$1
    shift
    command -v "$cmd" >/dev/null 2>&1 && return 0
    apt_install "$@" || { why="$cmd missing, $why"; return 1; }
    command -v "$cmd" >/dev/null 2>&1 && return 0
    why="installed $* but $cmd is still not on PATH"
    return 1
}

# need_target TRIPLE: true when rustup has (or could add) the target's standard library.
need_target() {
    local t=$1
    if ! command -v rustup >/dev/null 2>&1; then
        # Without rustup, the toolchain either has the target or it does not.
        [ -d "$(rustc --print sysroot)/lib/rustlib/$t" ] && return 0
        why="no rustup, and rustc has no standard library for $t"
        return 1
    fi
    rustup target list --installed 2>/dev/null | grep -qx "$t" && return 0
    say "rustup target add $t"
    if ! timeout 900 rustup target add "$t" >"$work/rustup-$t.log" 2>&1; then
        why="rustup target add $t failed: $(tail -n 1 "$work/rustup-$t.log")"
        return 1
    fi
}

# The loader for 64-bit programs: Debian's `wine` wrapper wants wine32 for its own checks on
# some setups, its `wine64` package puts the loader outside PATH.
wine_loader() {
    local w
    for w in wine64 /usr/lib/wine/wine64 /usr/lib/x86_64-linux-gnu/wine/wine64 wine; do
        if command -v "$w" >/dev/null 2>&1; then
            command -v "$w"
            return 0
        fi
    done
    return 1
}

need_wine() {
    wine_loader >/dev/null && return 0
    need_cmd wine wine wine64 || return 1
    wine_loader >/dev/null && return 0
    why="wine installed but no 64-bit loader found"
    return 1
}

need_openssh() {
    local pkgs=()
    [ -x /usr/sbin/sshd ] || pkgs+=(openssh-server)
    command -v ssh >/dev/null 2>&1 && command -v ssh-keygen >/dev/null 2>&1 || pkgs+=(openssh-client)
    [ ${#pkgs[@]} -eq 0 ] && return 0
    apt_install "${pkgs[@]}" || { why="OpenSSH missing, $why"; return 1; }
}

# ---- macOS: cargo check ----------------------------------------------------------------

# Stub headers for ring's C on Apple targets, minimal and only for `cargo check`: nothing
# compiled against them is linked. Clang's own freestanding headers (stddef.h, stdint.h …)
# come from its resource directory; these are the three ring asks for beyond those.
apple_stub_headers() {
    local dir=$1
    mkdir -p "$dir"
    cat >"$dir/TargetConditionals.h" <<'H'
/* Stub for cross-checking only (scripts/cross-check.sh); not Apple's header.
   The values Apple's header gives for macOS. */
#ifndef CROSS_CHECK_TARGET_CONDITIONALS_H
#define CROSS_CHECK_TARGET_CONDITIONALS_H
#define TARGET_OS_MAC 1
#define TARGET_OS_OSX 1
#define TARGET_OS_IPHONE 0
#define TARGET_OS_IOS 0
#define TARGET_OS_WATCH 0
#define TARGET_OS_TV 0
#define TARGET_OS_SIMULATOR 0
#endif
H
    cat >"$dir/assert.h" <<'H'
/* Stub for cross-checking only (scripts/cross-check.sh): C's assert, trapping. */
#undef assert
#ifdef NDEBUG
#define assert(e) ((void)0)
#else
#define assert(e) ((e) ? (void)0 : __builtin_trap())
#endif
H
    cat >"$dir/string.h" <<'H'
/* Stub for cross-checking only (scripts/cross-check.sh): the mem* functions ring's C calls. */
#ifndef CROSS_CHECK_STRING_H
#define CROSS_CHECK_STRING_H
#include <stddef.h>
void *memcpy(void *restrict dst, const void *restrict src, size_t n);
void *memmove(void *dst, const void *src, size_t n);
void *memset(void *dst, int c, size_t n);
int memcmp(const void *a, const void *b, size_t n);
#endif
H
}

check_apple() {
    local t=$1 var=${1//-/_} log="$work/$1.log" inc="$work/apple-include"
    if ! need_target "$t"; then ok "$t" "skipped: $why"; return; fi
    if ! need_cmd clang clang; then ok "$t" "skipped: $why"; return; fi
    apple_stub_headers "$inc"
    say "$t: cargo check"
    if env "CC_$var=clang" "CFLAGS_$var=--target=$t -ffreestanding -nostdlibinc -isystem $inc" \
        timeout 3600 cargo check --locked -p eic-ssh --target "$t" --profile "$profile" \
        --message-format short >"$log" 2>&1; then
        ok "$t" "check ok"
    else
        show_errors "$log"
        fail "$t" "check FAILED ($(count_errors "$log") errors; $log)"
    fi
}

# ---- the emulator, for the smoke tests -------------------------------------------------

sim_bin=""
build_sim() {
    [ -n "$sim_bin" ] && return 0
    say "building the emulator (host)"
    if ! timeout 3600 cargo build --locked -p eic-ssh-sim --bin eic-sim \
        >"$work/eic-sim-build.log" 2>&1; then
        show_errors "$work/eic-sim-build.log"
        why="the emulator does not build ($work/eic-sim-build.log)"
        return 1
    fi
    sim_bin="$target_dir/debug/eic-sim"
}

# start_sim DIR: starts eic-sim in the background (pid in $sim_pid) and sources its env.
start_sim() {
    local dir=$1
    "$sim_bin" --dir "$dir/sim" >/dev/null 2>"$dir/sim.log" &
    sim_pid=$!
    for _ in $(seq 200); do [ -s "$dir/sim/env.sh" ] && break; sleep 0.1; done
    if [ ! -s "$dir/sim/env.sh" ]; then
        sed 's/^/    /' "$dir/sim.log"
        return 1
    fi
    # shellcheck disable=SC1091
    . "$dir/sim/env.sh"
}

# ---- Windows: build, then a smoke test under wine ----------------------------------------

build_windows() {
    local t=x86_64-pc-windows-gnu log="$work/x86_64-pc-windows-gnu.log"
    if ! need_target "$t"; then ok "$t" "skipped: $why"; return; fi
    if ! need_cmd x86_64-w64-mingw32-gcc gcc-mingw-w64-x86-64; then ok "$t" "skipped: $why"; return; fi
    say "$t: cargo build"
    if env CC_x86_64_pc_windows_gnu=x86_64-w64-mingw32-gcc \
        CARGO_TARGET_X86_64_PC_WINDOWS_GNU_LINKER=x86_64-w64-mingw32-gcc \
        timeout 3600 cargo build --locked -p eic-ssh --bin eic-ssh --target "$t" \
        --profile "$profile" --message-format short >"$log" 2>&1; then
        ok "$t" "build ok"
    else
        show_errors "$log"
        fail "$t" "build FAILED ($(count_errors "$log") errors; $log)"
        ok "$t" "smoke test skipped: the build failed"
        return
    fi
    # The Windows side of src/local/ is only compiled here: lint it as the host's is.
    say "$t: cargo clippy"
    if env CC_x86_64_pc_windows_gnu=x86_64-w64-mingw32-gcc \
        timeout 3600 cargo clippy --locked -p eic-ssh --lib --bins --target "$t" \
        --profile "$profile" --message-format short -- -D warnings >"$work/$t-clippy.log" 2>&1; then
        ok "$t" "clippy ok"
    else
        show_errors "$work/$t-clippy.log"
        fail "$t" "clippy FAILED ($(count_errors "$work/$t-clippy.log") errors; $work/$t-clippy.log)"
    fi
    local exe="$target_dir/$t/$profile_dir/eic-ssh.exe"
    if ! need_wine; then ok "$t" "smoke test skipped: $why"; return; fi
    if ! need_openssh; then ok "$t" "smoke test skipped: $why"; return; fi
    if ! build_sim; then fail "$t" "smoke test FAILED: $why"; return; fi
    say "$t: smoke test under wine"
    if (smoke_windows "$exe"); then
        ok "$t" "wine smoke test ok"
    else
        fail "$t" "wine smoke test FAILED (logs in $work/wine-smoke)"
    fi
}

# Runs in a subshell: the emulator's environment and the trap stay here.
smoke_windows() {
    local exe=$1 dir="$work/wine-smoke" wine
    wine=$(wine_loader)
    rm -rf "$dir"
    mkdir -p "$dir/bin"
    cp "$exe" "$dir/bin/eic-ssh.exe"
    if ! x86_64-w64-mingw32-gcc -O2 -shared -o "$dir/bin/bcryptprimitives.dll" \
        "$root/scripts/wine/bcryptprimitives.c" "$root/scripts/wine/bcryptprimitives.def" \
        -ladvapi32 2>"$dir/shim.log"; then
        sed 's/^/    /' "$dir/shim.log"
        echo "    the bcryptprimitives shim does not build"
        return 1
    fi
    export WINEPREFIX="$work/wineprefix" WINEDEBUG=-all
    # No Mono or Gecko prompts; the shim beside the .exe before any builtin of that name.
    export WINEDLLOVERRIDES="mscoree,mshtml=;bcryptprimitives=n,b"
    unset DISPLAY WAYLAND_DISPLAY
    if [ ! -f "$WINEPREFIX/system.reg" ]; then
        say "creating the wine prefix"
        timeout 600 "$wine" wineboot --init >"$dir/wineboot.log" 2>&1 || true
        timeout 120 wineserver -w 2>/dev/null || true
    fi
    # This prefix's wineserver, started here rather than by the first .exe (which would hand
    # it the pipes ssh gives its ProxyCommand), and stopped at the end with the emulator.
    sim_pid=""
    trap '[ -n "$sim_pid" ] && kill "$sim_pid" 2>/dev/null && wait "$sim_pid" 2>/dev/null; wineserver -k 2>/dev/null' EXIT
    wineserver -p 30 </dev/null >/dev/null 2>&1
    step() { printf '   - %s\n' "$*"; }

    step "eic-ssh.exe --version"
    if ! timeout 120 "$wine" "$dir/bin/eic-ssh.exe" --version >"$dir/version.out" 2>"$dir/version.err"; then
        sed 's/^/    /' "$dir/version.err" | tail -n 20
        return 1
    fi
    sed 's/^/     /' "$dir/version.out"

    sim_pid=""
    start_sim "$dir" || { echo "    the emulator did not start"; return 1; }
    # Paths eic-ssh.exe reads, in Windows form (wine maps / to Z:).
    local v
    for v in AWS_CA_BUNDLE AWS_CONFIG_FILE AWS_SHARED_CREDENTIALS_FILE; do
        export "$v=$(winepath -w "${!v}")"
    done
    export WINEPATH=""   # nothing from the host PATH leaks into the .exe's lookups
    local user host=i-0123456789abcdef0
    user=$(id -un)
    ssh-keygen -q -t ed25519 -N "" -C cross-check -f "$dir/id_ed25519"
    echo "$host $(cat "$dir/sim/sshd/ssh_host_ed25519_key.pub")" >"$dir/known_hosts"
    local w_pub w_known
    w_pub=$(winepath -w "$dir/id_ed25519.pub")
    w_known=$(winepath -w "$dir/known_hosts")
    head -c "$bulk" /dev/urandom >"$dir/payload"
    local want got status
    want=$(sha256sum <"$dir/payload" | cut -d' ' -f1)

    # 1. The .exe as ProxyCommand of the Linux ssh: bulk data up through its stdin and the
    #    hash back through its stdout, and the remote exit status.
    step "ssh with ProxyCommand eic-ssh.exe proxy (${bulk} bytes through the pipes)"
    local proxy="'$wine' '$dir/bin/eic-ssh.exe' proxy %h %p --user %r --push-key '$w_pub'"
    timeout 180 ssh -F /dev/null -i "$dir/id_ed25519" \
        -o "UserKnownHostsFile=$dir/known_hosts" -o StrictHostKeyChecking=yes \
        -o BatchMode=yes -o IdentitiesOnly=yes -o LogLevel=ERROR \
        -o "ProxyCommand=$proxy" "$user@$host" 'sha256sum; exit 3' \
        <"$dir/payload" >"$dir/ssh.out" 2>"$dir/ssh.err"
    status=$?
    got=$(cut -d' ' -f1 "$dir/ssh.out")
    if [ "$status" != 3 ] || [ "$got" != "$want" ]; then
        echo "    ssh exit $status (want 3), remote hash '$got' (want $want)"
        sed 's/^/    /' "$dir/ssh.err" | tail -n 20
        return 1
    fi

    # 2. cp up, then down, hashes checked.
    step "eic-ssh.exe cp up"
    if ! timeout 180 "$wine" "$dir/bin/eic-ssh.exe" cp -q --known-hosts "$w_known" \
        "$(winepath -w "$dir/payload")" "$user@$host:$dir/payload.remote" \
        </dev/null >"$dir/cp-up.out" 2>"$dir/cp-up.err"; then
        sed 's/^/    /' "$dir/cp-up.err" | tail -n 20
        return 1
    fi
    got=$(sha256sum <"$dir/payload.remote" | cut -d' ' -f1)
    [ "$got" = "$want" ] || { echo "    uploaded copy differs ($got)"; return 1; }
    step "eic-ssh.exe cp down"
    if ! timeout 180 "$wine" "$dir/bin/eic-ssh.exe" cp -q --known-hosts "$w_known" \
        "$user@$host:$dir/payload.remote" "$(winepath -w "$dir/payload.back")" \
        </dev/null >"$dir/cp-down.out" 2>"$dir/cp-down.err"; then
        sed 's/^/    /' "$dir/cp-down.err" | tail -n 20
        return 1
    fi
    got=$(sha256sum <"$dir/payload.back" | cut -d' ' -f1)
    [ "$got" = "$want" ] || { echo "    downloaded copy differs ($got)"; return 1; }

    # 3. HOST -- COMMAND: output and exit status passed through.
    step "eic-ssh.exe HOST -- COMMAND (exit status 7)"
    timeout 180 "$wine" "$dir/bin/eic-ssh.exe" "$user@$host" --known-hosts "$w_known" \
        -- 'echo hello-from-remote; exit 7' </dev/null >"$dir/session.out" 2>"$dir/session.err"
    status=$?
    if [ "$status" != 7 ] || ! grep -q hello-from-remote "$dir/session.out"; then
        echo "    exit $status (want 7), stdout: $(head -c 200 "$dir/session.out")"
        sed 's/^/    /' "$dir/session.err" | tail -n 20
        return 1
    fi

    # 4. Windows' own places: known_hosts learned in %USERPROFILE%\.ssh, the log in
    #    %LOCALAPPDATA%\eic-ssh (the prefix's profile is drive_c/users/<unix user>).
    step 'default paths: %USERPROFILE%\.ssh\known_hosts, %LOCALAPPDATA%\eic-ssh\log.jsonl'
    local profile="$WINEPREFIX/drive_c/users/$user"
    rm -f "$profile/.ssh/known_hosts"
    local logged=0
    [ -f "$profile/AppData/Local/eic-ssh/log.jsonl" ] &&
        logged=$(wc -l <"$profile/AppData/Local/eic-ssh/log.jsonl")
    if ! timeout 180 "$wine" "$dir/bin/eic-ssh.exe" "$user@$host" --host-key-check accept-new \
        -- true </dev/null >"$dir/paths.out" 2>"$dir/paths.err"; then
        sed 's/^/    /' "$dir/paths.err" | tail -n 20
        return 1
    fi
    if ! grep -q "^$host " "$profile/.ssh/known_hosts" 2>/dev/null; then
        echo "    no $host line in $profile/.ssh/known_hosts"
        return 1
    fi
    if [ "$(wc -l <"$profile/AppData/Local/eic-ssh/log.jsonl" 2>/dev/null || echo 0)" -le "$logged" ]; then
        echo "    nothing appended to $profile/AppData/Local/eic-ssh/log.jsonl"
        return 1
    fi
    return 0
}

# ---- Linux, static (musl): build, then the README demo with that binary ------------------

build_musl() {
    local t=x86_64-unknown-linux-musl log="$work/x86_64-unknown-linux-musl.log"
    if ! need_target "$t"; then ok "$t" "skipped: $why"; return; fi
    if ! need_cmd musl-gcc musl-tools; then ok "$t" "skipped: $why"; return; fi
    say "$t: cargo build"
    if env CC_x86_64_unknown_linux_musl=musl-gcc \
        timeout 3600 cargo build --locked -p eic-ssh --bin eic-ssh --target "$t" \
        --profile "$profile" --message-format short >"$log" 2>&1; then
        ok "$t" "build ok"
    else
        show_errors "$log"
        fail "$t" "build FAILED ($(count_errors "$log") errors; $log)"
        ok "$t" "demo skipped: the build failed"
        return
    fi
    local bin="$target_dir/$t/$profile_dir/eic-ssh"
    if readelf -lW "$bin" | grep -q 'program interpreter' || readelf -dW "$bin" | grep -q NEEDED; then
        fail "$t" "not static: $(readelf -dW "$bin" | grep NEEDED | tr -s ' ' | tr '\n' ' ')"
        return
    fi
    ok "$t" "static"
    say "$t: the README demo (scripts/demo.sh) with this binary as eic-ssh"
    if run_demo_with "$bin" >"$work/musl-demo.log" 2>&1; then
        ok "$t" "demo ok"
    else
        tail -n 30 "$work/musl-demo.log" | sed 's/^/    /'
        fail "$t" "demo FAILED ($work/musl-demo.log)"
    fi
}

# scripts/demo.sh runs "$bin/eic-ssh" with bin=target/debug (beside the emulator it builds).
# If it learns to take the binary from EIC_SSH_BIN, that is used; until then a copy in the
# target directory runs, with only its eic-ssh path changed, checked to have taken.
run_demo_with() {
    local bin=$1 demo="$root/scripts/demo.sh" copy="$work/demo-with-binary.sh"
    if grep -q 'EIC_SSH_BIN' "$demo"; then
        EIC_SSH_BIN="$bin" "$demo"
        return
    fi
    sed -e "s|^cd \"\$(dirname \"\$0\")/..\"\$|cd '$root'|" \
        -e "s|\\\$bin/eic-ssh\\b|$bin|g" "$demo" >"$copy"
    if grep -q '\$bin/eic-ssh\b' "$copy" || ! grep -qF "cd '$root'" "$copy" || ! grep -qF "$bin proxy" "$copy"; then
        echo "scripts/demo.sh changed shape: cannot point it at $bin (update run_demo_with)"
        return 1
    fi
    echo "demo: eic-ssh is $bin"
    bash "$copy"
}

# ---- run ----------------------------------------------------------------------------------

for t in $targets; do
    case "$t" in
        x86_64-apple-darwin | aarch64-apple-darwin) check_apple "$t" ;;
        x86_64-pc-windows-gnu) build_windows ;;
        x86_64-unknown-linux-musl) build_musl ;;
        *) echo "cross-check: unknown target $t" >&2; exit 2 ;;
    esac
done

echo
for t in $targets; do
    printf 'cross-check: %-27s %s\n' "$t" "${summary[$t]:-nothing ran}"
done
exit "$failed"
