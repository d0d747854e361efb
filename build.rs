//! Links the `eic-ssh` binary with packed relative relocations (DT_RELR) when the
//! toolchain and C library here support them.
//!
//! A position-independent Rust binary carries ~19 000 relative relocations. As RELA entries
//! they take 450 KB of the file, and the loader reads all of them at every start, so they
//! count in every process's resident memory. DT_RELR packs the same relocations into a few
//! KB (glibc ≥ 2.36, binutils ≥ 2.38 or lld). Where the probe below fails, the binary is
//! linked as before, so older systems still build and run it.

use std::env;
use std::path::Path;
use std::process::Command;

const FLAG: &str = "-Wl,-z,pack-relative-relocs";

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let target_is = |key: &str, want: &str| env::var(key).is_ok_and(|v| v == want);
    let native = env::var("HOST").ok() == env::var("TARGET").ok();
    if target_is("CARGO_CFG_TARGET_OS", "linux")
        && target_is("CARGO_CFG_TARGET_ENV", "gnu")
        && native
    {
        let out = env::var("OUT_DIR").expect("cargo sets OUT_DIR");
        if probe(Path::new(&out)) {
            println!("cargo:rustc-link-arg-bin=eic-ssh={FLAG}");
        }
    }
}

/// Links and runs a small program that needs a relative relocation, with the flag and with
/// warnings made fatal (an old linker only warns about an unknown `-z` option). True only
/// when the program links and the loader here runs it.
fn probe(out: &Path) -> bool {
    let source = out.join("relr-probe.c");
    let program = out.join("relr-probe");
    let code = "static int x = 7;\nint *p = &x;\nint main(void) { return *p == 7 ? 0 : 1; }\n";
    if std::fs::write(&source, code).is_err() {
        return false;
    }
    let linker = env::var("RUSTC_LINKER").unwrap_or_else(|_| "cc".to_string());
    let linked = Command::new(linker)
        .args(["-fPIE", "-pie", FLAG, "-Wl,--fatal-warnings", "-o"])
        .arg(&program)
        .arg(&source)
        .output()
        .is_ok_and(|o| o.status.success());
    linked && Command::new(&program).status().is_ok_and(|s| s.success())
}
