//! The platform seam holds: outside `src/local/`, no source file names a Unix-only (or any
//! operating-system) API, so the code that differs between Linux, macOS and Windows stays
//! in one folder (docs/design.md, `src/local/`).

use std::path::{Path, PathBuf};

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

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn only_src_local_names_the_operating_system() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let local = src.join("local");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
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
