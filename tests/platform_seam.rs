//! The platform seam holds: outside `src/local/`, no source file names a Unix-only (or any
//! operating-system) API, so the code that differs between Linux, macOS and Windows stays
//! in one folder (docs/design.md, `src/local/`).

mod common;

use std::path::Path;

/// What only `src/local/` may name.
const FORBIDDEN: &[&str] = &[
    "libc::",
    "rustix::",
    "std::os::unix",
    "std::os::fd",
    "std::os::windows",
    "tokio::signal::unix",
    "tokio::signal::windows",
    "tokio::io::unix",
    "UnixStream",
    "windows_sys::",
];

#[test]
fn only_src_local_names_the_operating_system() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let local = src.join("local");
    let files = common::rust_sources(&src);
    assert!(files.len() > 20, "the walk found the sources");
    let mut found = Vec::new();
    for file in files.iter().filter(|f| !f.starts_with(&local)) {
        let text = std::fs::read_to_string(file).unwrap();
        for (n, line) in text.lines().enumerate() {
            for name in FORBIDDEN.iter().filter(|name| line.contains(*name)) {
                let shown = file.strip_prefix(&src).unwrap().display();
                found.push(format!("src/{shown}:{}: {name}", n + 1));
            }
        }
    }
    assert!(
        found.is_empty(),
        "outside src/local/, these name an OS API (move them behind src/local/):\n{}",
        found.join("\n")
    );
}
