//! The exit codes are one list (`Exit::ALL`): `--help` prints it, and docs/commands.md's
//! table must name exactly the same codes.

mod common;

use std::collections::BTreeSet;
use std::process::Command;

use eic_ssh::error::Exit;

fn documented() -> BTreeSet<i32> {
    let docs =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/commands.md")).unwrap();
    let table = docs
        .split("## Exit codes")
        .nth(1)
        .expect("docs/commands.md has an exit-code table");
    table
        .lines()
        .filter_map(|l| l.strip_prefix("| "))
        .filter_map(|l| l.split(' ').next())
        .filter_map(|code| code.parse().ok())
        .collect()
}

#[test]
fn the_docs_table_lists_exactly_the_codes_of_the_code() {
    let mut codes: BTreeSet<i32> = Exit::ALL.iter().map(|e| e.code()).collect();
    codes.insert(0);
    assert_eq!(documented(), codes);
}

#[test]
fn help_prints_every_code_with_its_meaning() {
    let out = Command::new(env!("CARGO_BIN_EXE_eic-ssh"))
        .arg("--help")
        .output()
        .unwrap();
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    for exit in Exit::ALL {
        let line = format!("{:<4} {}", exit.code(), exit.meaning());
        assert!(help.contains(&line), "--help lacks {line:?}:\n{help}");
    }
}

#[test]
fn exit_codes_are_picked_only_in_error_rs() {
    // What picking an exit code outside src/error.rs looks like: a process exit, a status
    // built from a number, or a command returning a bare number instead of an `Outcome`.
    let forbidden = [
        "process::exit(",
        "ExitCode::SUCCESS",
        "ExitCode::FAILURE",
        "Result<i32, Failure>",
        "Ok(255)",
        "Exit::Session.code()",
    ];
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let files = common::rust_sources(&root);
    assert!(files.len() > 50, "found the sources: {}", files.len());
    let mut found = Vec::new();
    for file in files.iter().filter(|f| !f.ends_with("error.rs")) {
        let text = std::fs::read_to_string(file).unwrap();
        for (n, line) in text.lines().enumerate() {
            let literal_status = line.contains("ExitCode::from(")
                && line
                    .split("ExitCode::from(")
                    .nth(1)
                    .is_some_and(|rest| rest.starts_with(|c: char| c.is_ascii_digit()));
            if literal_status || forbidden.iter().any(|f| line.contains(f)) {
                found.push(format!("{}:{}: {}", file.display(), n + 1, line.trim()));
            }
        }
    }
    assert!(
        found.is_empty(),
        "exit codes picked outside src/error.rs:\n{}",
        found.join("\n")
    );
}
