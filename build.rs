//! Link options for the `eic-ssh` binary that make each process map less of it, applied
//! only where a probe shows the toolchain here supports them:
//!
//! - Packed relative relocations (DT_RELR). A position-independent Rust binary carries
//!   ~19 000 relative relocations. As RELA entries they take 450 KB of the file, and the
//!   loader reads all of them at every start. DT_RELR packs them into a few KB (glibc ≥ 2.36,
//!   binutils ≥ 2.38 or lld).
//! - In release builds, `link/hot-text.ld` (from scripts/hot-text.py): the functions that
//!   connecting, `proxy`, the session and `cp` run, placed together ahead of the rest of the
//!   code (docs/design.md, "Code layout"). GNU ld and lld take its `INSERT BEFORE`; where
//!   the probe fails, or another linker is chosen in RUSTFLAGS, the code is laid out as before.

use std::env;
use std::path::Path;
use std::process::Command;

const RELR: &str = "-Wl,-z,pack-relative-relocs";
const HOT_TEXT: &str = "link/hot-text.ld";
/// Set (to anything) to link without the layout: scripts/hot-text.py does, because valgrind
/// names only the functions in `.text`, and a way out if a linker here mishandles the script.
const PLAIN_LAYOUT: &str = "EIC_SSH_PLAIN_LAYOUT";

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed={HOT_TEXT}");
    println!("cargo:rerun-if-env-changed={PLAIN_LAYOUT}");
    let target_is = |key: &str, want: &str| env::var(key).is_ok_and(|v| v == want);
    let native = env::var("HOST").ok() == env::var("TARGET").ok();
    if !(target_is("CARGO_CFG_TARGET_OS", "linux")
        && target_is("CARGO_CFG_TARGET_ENV", "gnu")
        && native)
    {
        return;
    }
    let out = env::var("OUT_DIR").expect("cargo sets OUT_DIR");
    let out = Path::new(&out);
    if probe_relr(out) {
        println!("cargo:rustc-link-arg-bin=eic-ssh={RELR}");
    }
    let script = Path::new(&env::var("CARGO_MANIFEST_DIR").expect("cargo sets it")).join(HOT_TEXT);
    // Another linker named in RUSTFLAGS (mold, gold) may not take the script; the probe
    // below runs the default one.
    let flags = env::var("CARGO_ENCODED_RUSTFLAGS").unwrap_or_default();
    let own_linker = flags.contains("fuse-ld") || flags.contains("linker");
    if target_is("PROFILE", "release")
        && env::var_os(PLAIN_LAYOUT).is_none()
        && !own_linker
        && script.is_file()
        && probe_hot_text(out)
    {
        println!(
            "cargo:rustc-link-arg-bin=eic-ssh=-Wl,-T,{}",
            script.display()
        );
    }
}

/// Links and runs a small program that needs a relative relocation, with the flag and with
/// warnings made fatal (an old linker only warns about an unknown `-z` option). True only
/// when the program links and the loader here runs it.
fn probe_relr(out: &Path) -> bool {
    let code = "static int x = 7;\nint *p = &x;\nint main(void) { return *p == 7 ? 0 : 1; }\n";
    links_and_runs(out, "relr-probe", code, &[RELR])
}

/// Links and runs a small program whose `hot` function is placed by an `INSERT BEFORE
/// .text` script of the same shape as link/hot-text.ld.
fn probe_hot_text(out: &Path) -> bool {
    let script = out.join("hot-text-probe.ld");
    let text =
        "SECTIONS\n{\n  .text.hot :\n  {\n    *(.text.hot_probe)\n  }\n}\nINSERT BEFORE .text;\n";
    if std::fs::write(&script, text).is_err() {
        return false;
    }
    let code = "__attribute__((section(\".text.hot_probe\"))) int hot(void) { return 7; }\n\
                int main(void) { return hot() == 7 ? 0 : 1; }\n";
    let arg = format!("-Wl,-T,{}", script.display());
    links_and_runs(out, "hot-text-probe", code, &[&arg])
}

fn links_and_runs(out: &Path, name: &str, code: &str, flags: &[&str]) -> bool {
    let source = out.join(format!("{name}.c"));
    let program = out.join(name);
    if std::fs::write(&source, code).is_err() {
        return false;
    }
    let linker = env::var("RUSTC_LINKER").unwrap_or_else(|_| "cc".to_string());
    let linked = Command::new(linker)
        .args(["-fPIE", "-pie"])
        .args(flags)
        .args(["-Wl,--fatal-warnings", "-o"])
        .arg(&program)
        .arg(&source)
        .output()
        .is_ok_and(|o| o.status.success());
    linked && Command::new(&program).status().is_ok_and(|s| s.success())
}
