#!/usr/bin/env bash
# Release packaging: builds the release binary, generates its man pages and shell completions
# into target/assets/ (from the binary itself: `eic-ssh man`, `eic-ssh completions SHELL`),
# then the .deb with cargo-deb ([package.metadata.deb] in Cargo.toml) into target/debian/.
#
#   scripts/package.sh            # build, assets, .deb
#   scripts/package.sh --no-build # reuse target/release/eic-ssh (CI that built it already)
#
# A missing cargo-deb, or a machine that is not Debian-like, is not a failure: the script says
# what it skipped and exits 0 with the assets in place. Anything else that fails stops it.
# Archives and installers for the other platforms come from cargo-dist (dist-workspace.toml,
# .github/workflows/release.yml), not from here.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"

build=1
for arg in "$@"; do
    case "$arg" in
        --no-build) build=0 ;;
        -h | --help) sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "package.sh: unknown argument: $arg" >&2; exit 2 ;;
    esac
done

# cargo-deb maps its `target/release/` asset prefix to the real target directory; the
# generated assets have a fixed place under this checkout's target/ instead.
target_dir="${CARGO_TARGET_DIR:-$root/target}"
bin="$target_dir/release/eic-ssh"
assets="$root/target/assets"
skipped=()

if [ "$build" = 1 ]; then
    cargo build --release --locked -p eic-ssh --bin eic-ssh
fi
[ -x "$bin" ] || { echo "package.sh: no binary at $bin (build it, or drop --no-build)" >&2; exit 1; }

rm -rf "$assets"
mkdir -p "$assets/man" "$assets/completions"
"$bin" man --dir "$assets/man" 2>/dev/null
"$bin" completions bash > "$assets/completions/eic-ssh.bash"
"$bin" completions zsh > "$assets/completions/_eic-ssh"
"$bin" completions fish > "$assets/completions/eic-ssh.fish"
for f in "$assets/man/man1/eic-ssh.1" "$assets/completions/eic-ssh.bash" \
    "$assets/completions/_eic-ssh" "$assets/completions/eic-ssh.fish"; do
    [ -s "$f" ] || { echo "package.sh: $f is missing or empty" >&2; exit 1; }
done
echo "package.sh: $(ls "$assets/man/man1" "$assets/man/man5" | grep -c "\.[15]$") man pages and 3 completion scripts in ${assets#"$root/"}"

if ! cargo deb --version >/dev/null 2>&1; then
    skipped+=(".deb: cargo-deb is not installed (cargo install cargo-deb --locked)")
elif ! command -v dpkg >/dev/null 2>&1; then
    skipped+=(".deb: no dpkg on this machine (cargo-deb needs it for the architecture)")
else
    # --no-build: the binary above is the one packaged (cargo-deb would rebuild otherwise).
    cargo deb -p eic-ssh --no-build
    # cargo-deb derives libc6's minimum from the versioned symbols, but not from the
    # GLIBC_ABI_DT_RELR marker that packed relocations add: that needs glibc 2.36.
    if command -v readelf >/dev/null && readelf -V "$bin" | grep -q GLIBC_ABI_DT_RELR; then
        echo "package.sh: warning: the binary needs glibc >= 2.36 (GLIBC_ABI_DT_RELR);" \
            "the .deb's Depends may say less" >&2
    fi
    ls -l "$target_dir"/debian/*.deb
fi

for s in "${skipped[@]}"; do
    echo "package.sh: skipped $s"
done
