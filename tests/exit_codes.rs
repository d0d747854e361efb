//! The exit codes are one list (`Exit::ALL`): `--help` prints it, and docs/commands.md's
//! table must name exactly the same codes.

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
