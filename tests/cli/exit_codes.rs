//! The exit codes are one list (`Exit::ALL`): `--help` prints it, and docs/commands.md's
//! table must name exactly the same codes.

use crate::common;

use std::collections::BTreeSet;

use common::*;
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

/// The session form (`eic-ssh TARGET -- CMD`, or `eic-ssh ssh TARGET -- CMD`) run three
/// ways: as ssh would (255), with `--exit-codes detailed`, and with EIC_SSH_EXIT_CODES.
/// Returns each run's exit code and stderr.
fn three_ways(h: &Harness, prepare: impl Fn(&mut Command)) -> [(Option<i32>, String); 3] {
    let target = format!("{}@bastion", h.user);
    let ways: [(&[&str], Option<&str>); 3] = [
        (&[], None),
        (&["--exit-codes", "detailed"], None),
        (&["ssh"], Some("detailed")),
    ];
    ways.map(|(before, env)| {
        let mut cmd = h.eic_ssh();
        cmd.env("EIC_SSH_EGRESS_CACHE_SECS", "0")
            .args(before)
            .args([target.as_str(), "--", "true"]);
        if let Some(env) = env {
            cmd.env("EIC_SSH_EXIT_CODES", env);
        }
        prepare(&mut cmd);
        let out = run(&mut cmd, LIMIT);
        (out.status.code(), stderr(&out))
    })
}

/// Asserts ssh's 255 with the plain line by default, and the per-cause `code` with the
/// line tagged `error[tag]` when detailed codes are asked for (flag or environment).
#[track_caller]
fn per_cause(runs: [(Option<i32>, String); 3], code: i32, tag: &str, message: &str) {
    let [plain, flag, env] = runs;
    assert_eq!(plain.0, Some(255), "{}", plain.1);
    assert!(
        plain.1.starts_with(&format!("eic-ssh: {message}")),
        "{}",
        plain.1
    );
    for (got, err) in [flag, env] {
        assert_eq!(got, Some(code), "{err}");
        assert!(
            err.starts_with(&format!("eic-ssh: error[{tag}]: {message}")),
            "{err}"
        );
        assert_eq!(err.lines().count(), 1, "{err}");
    }
}

#[test]
fn a_session_refused_by_the_guard_exits_3_when_asked() {
    let (h, config) = with_config(eic_ssh_sim::World::demo(), "192.0.2.44", ALLOW_OFFICE);
    let runs = three_ways(&h, |cmd| {
        cmd.env("EIC_SSH_CONFIG", &config);
    });
    per_cause(
        runs,
        3,
        "refused",
        "refusing to connect: egress IP 192.0.2.44",
    );
}

#[test]
fn a_session_without_a_region_exits_2_when_asked() {
    let (h, config) = with_config(eic_ssh_sim::World::demo(), "203.0.113.9", ALLOW_OFFICE);
    let runs = three_ways(&h, |cmd| {
        cmd.env("EIC_SSH_CONFIG", &config).env_remove("AWS_REGION");
    });
    per_cause(runs, 2, "usage", "no AWS region: pass --region");
}

#[test]
fn a_session_without_credentials_exits_4_when_asked() {
    let (h, config) = with_config(eic_ssh_sim::World::demo(), "203.0.113.9", ALLOW_OFFICE);
    let runs = three_ways(&h, |cmd| {
        cmd.env("EIC_SSH_CONFIG", &config)
            .env_remove("AWS_ACCESS_KEY_ID")
            .env_remove("AWS_SECRET_ACCESS_KEY");
    });
    per_cause(runs, 4, "credentials", "no AWS credentials found");
}

#[test]
fn a_session_command_line_clap_rejects_exits_2_when_asked() {
    let h = Harness::new();
    let line = |args: &[&str], env: Option<&str>| {
        let mut cmd = h.eic_ssh();
        cmd.args(args);
        if let Some(env) = env {
            cmd.env("EIC_SSH_EXIT_CODES", env);
        }
        run(&mut cmd, LIMIT).status.code()
    };
    assert_eq!(line(&["--bogus", "bastion"], None), Some(255));
    assert_eq!(line(&["ssh", "--bogus", "bastion"], None), Some(255));
    assert_eq!(line(&["--bogus", "bastion"], Some("detailed")), Some(2));
    assert_eq!(
        line(
            &["ssh", "--exit-codes=detailed", "--bogus", "bastion"],
            None
        ),
        Some(2)
    );
    // Other commands keep their per-cause codes either way.
    assert_eq!(line(&["proxy", "--bogus", "bastion"], None), Some(2));
}

#[test]
fn every_kind_has_one_tag_and_the_docs_name_it_beside_its_code() {
    use eic_ssh::error::Kind;
    let docs =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/commands.md")).unwrap();
    let mut tags = BTreeSet::new();
    for kind in Kind::ALL {
        assert!(tags.insert(kind.tag()), "{} used twice", kind.tag());
        let row = format!("| {} | `{}` |", kind.exit().code(), kind.tag());
        assert!(
            docs.contains(&row),
            "docs/commands.md lacks the row {row:?}"
        );
    }
}
