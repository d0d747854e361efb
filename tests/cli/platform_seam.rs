//! The platform seam holds: outside `src/local/`, no source file names a Unix-only (or any
//! operating-system) API, so the code that differs between Linux, macOS and Windows stays
//! in one folder (docs/design.md, `src/local/`).

use crate::common;

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

/// Which stages a folder may not import (docs/design.md, the module map): the network layer
/// knows nothing of AWS, the guard or the route, and AWS nothing of the guard or the route,
/// so no import runs from a lower layer back up to a higher one.
const LAYERS: &[(&str, &[&str])] = &[
    ("net", &["aws", "guard", "route"]),
    ("aws", &["guard", "route"]),
    ("guard", &["route"]),
    ("tunnel", &["aws", "guard", "route", "ssh"]),
    ("ssh", &["aws", "guard", "route"]),
    ("route", &["commands", "connect", "fleet"]),
    ("fleet", &["commands", "connect"]),
    ("openssh", &["commands", "connect", "fleet"]),
    ("connect", &["commands"]),
];

/// `src/commands/` holds one file or folder per subcommand, wiring only: no command imports
/// another (what two of them share lives in the layer it belongs to).
#[test]
fn no_command_imports_another_command() {
    let commands = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/commands");
    let mut found = Vec::new();
    for file in common::rust_sources(&commands) {
        let rel = file.strip_prefix(&commands).unwrap();
        let own = rel
            .iter()
            .next()
            .unwrap()
            .to_string_lossy()
            .replace(".rs", "");
        if own == "mod" {
            continue;
        }
        // `super::` from a command's own file (or its folder's mod.rs) is `commands` itself.
        let at_top = rel.components().count() == 1 || rel.ends_with("mod.rs");
        let text = std::fs::read_to_string(&file).unwrap();
        for (n, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap_or_default();
            for (i, _) in code.match_indices("crate::commands::") {
                let named: String = code[i + "crate::commands::".len()..]
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                if named != own {
                    found.push(format!("src/commands/{}:{}: {named}", rel.display(), n + 1));
                }
            }
            if at_top && code.contains("super::") && !code.contains("use super::*") {
                found.push(format!("src/commands/{}:{}: super::", rel.display(), n + 1));
            }
        }
    }
    assert!(
        found.is_empty(),
        "these commands import another command (move what they share below commands/):\n{}",
        found.join("\n")
    );
}

/// The stages `line` names through `crate::` (or `super::` from a folder's own root, which
/// reaches no sibling stage), e.g. `use crate::{aws, route::Settings}` names aws and route.
fn stages_named(line: &str) -> Vec<String> {
    let mut named = Vec::new();
    for (i, _) in line.match_indices("crate::") {
        let rest = &line[i + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let inner = group.split('}').next().unwrap_or_default();
            named.extend(
                inner
                    .split(',')
                    .map(|p| p.trim().split("::").next().unwrap_or_default().to_string()),
            );
        } else {
            let stage: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            named.push(stage);
        }
    }
    named
}

#[test]
fn no_layer_imports_a_stage_above_it() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut found = Vec::new();
    for (folder, forbidden) in LAYERS {
        let files = common::rust_sources(&src.join(folder));
        assert!(!files.is_empty(), "src/{folder}/ has sources");
        for file in files {
            let text = std::fs::read_to_string(&file).unwrap();
            for (n, line) in text.lines().enumerate() {
                let code = line.split("//").next().unwrap_or_default();
                for stage in stages_named(code) {
                    if forbidden.contains(&stage.as_str()) {
                        let shown = file.strip_prefix(&src).unwrap().display();
                        found.push(format!("src/{shown}:{}: crate::{stage}", n + 1));
                    }
                }
            }
        }
    }
    assert!(
        found.is_empty(),
        "these imports run from a lower layer up to a higher one (pass the value down instead):\n{}",
        found.join("\n")
    );
}

#[test]
fn the_layer_check_sees_every_form_of_import() {
    assert_eq!(stages_named("use crate::route::Settings;"), ["route"]);
    assert_eq!(
        stages_named("use crate::{aws::AwsContext, guard};"),
        ["aws", "guard"]
    );
    assert_eq!(stages_named("    eff: &crate::route::Settings,"), ["route"]);
    assert!(stages_named("use super::dial;").is_empty());
}
