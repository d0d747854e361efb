//! The command line means the same wherever an option stands: `--config`, `--profile` and
//! `--region` before or after the subcommand; a mistyped subcommand is caught before any
//! AWS call.

use crate::common;

use common::*;
use eic_ssh_sim::World;

#[test]
fn global_options_work_before_or_after_the_subcommand() {
    let (h, config) = with_config(World::demo(), "203.0.113.10", ALLOW_OFFICE);
    // `list` needs a region: the flag works on either side (the harness sets none).
    for args in [
        vec!["--region", "us-east-1", "list", "--json"],
        vec!["list", "--region", "us-east-1", "--json"],
    ] {
        let mut cmd = h.eic_ssh();
        cmd.env_remove("AWS_REGION")
            .env_remove("AWS_DEFAULT_REGION");
        cmd.env("EIC_SSH_CONFIG", &config).args(&args);
        let out = run(&mut cmd, LIMIT);
        assert!(out.status.success(), "{args:?}: {}", stderr(&out));
        assert!(
            String::from_utf8_lossy(&out.stdout).contains(BASTION),
            "{args:?}"
        );
    }
    // A --config that does not exist is an error wherever it stands.
    for args in [
        vec!["--config", "/nonexistent/eic.toml", "egress"],
        vec!["egress", "--config", "/nonexistent/eic.toml"],
    ] {
        let mut cmd = h.eic_ssh();
        cmd.args(&args);
        let out = run(&mut cmd, LIMIT);
        assert_fails(&out, 2, "cannot read config file /nonexistent/eic.toml");
    }
    // A profile before `ssh-config` reaches every ProxyCommand it writes.
    let ssh_dir = h.dir.path().join(".ssh");
    std::fs::create_dir_all(&ssh_dir).unwrap();
    std::fs::copy(h.public_key(), ssh_dir.join("id_ed25519.pub")).unwrap();
    let mut cmd = h.eic_ssh();
    cmd.env("EIC_SSH_CONFIG", &config)
        .args(["--profile", "prod", "ssh-config"]);
    let out = run(&mut cmd, LIMIT);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("--profile prod"), "{text}");
}

#[test]
fn a_mistyped_subcommand_is_caught_before_any_aws_call() {
    let (h, config) = with_config(World::demo(), "203.0.113.10", ALLOW_OFFICE);
    for (typed, meant) in [("lsit", "list"), ("docter", "doctor")] {
        let out = eic(&h, &config, &[typed]);
        assert_fails(&out, 255, &format!("did you mean `eic-ssh {meant}`?"));
    }
    assert!(h.sim.events().is_empty(), "no AWS call");
    // With a user, a word like that is a target like any other.
    let out = eic(&h, &config, &["someone@lsit", "--", "true"]);
    assert!(!stderr(&out).contains("did you mean"), "{}", stderr(&out));
}

#[test]
fn profile_and_region_must_be_plain_names_wherever_they_stand() {
    let (h, config) = with_config(World::demo(), "203.0.113.10", ALLOW_OFFICE);
    for args in [
        vec!["--profile", "prod\nProxyCommand x", "list"],
        vec!["list", "--profile=-oProxyCommand=x"],
        vec!["--region", "us-east-1 x", "egress"],
        vec!["ssh-config", "--region", "@cert-authority"],
    ] {
        let out = eic(&h, &config, &args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        let err = stderr(&out);
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
        let flag = args.iter().find(|a| a.starts_with("--")).unwrap();
        let flag = flag.split('=').next().unwrap();
        assert!(
            err.starts_with(&format!("eic-ssh: {flag} \""))
                && err.contains("is not a plain name (letters, digits"),
            "{args:?}: {err}"
        );
    }
    // The session form: the same line, and 255 like every usage error of a session.
    let out = eic(
        &h,
        &config,
        &["--region", "a/b", "someone@host", "--", "true"],
    );
    assert_fails_exactly(
        &out,
        255,
        "eic-ssh: --region \"a/b\" is not a plain name (letters, digits, `.`, `_`, `-`, `@`, `+`; not starting with `-` or `@`; 1 to 255 bytes)\n",
    );
    assert!(h.sim.events().is_empty(), "no AWS call");
}

/// Every command path (`proxy`, `config check`, …), from the CLI's own definition.
fn command_paths() -> Vec<Vec<String>> {
    use clap::CommandFactory;
    fn walk(cmd: &clap::Command, path: &[String], out: &mut Vec<Vec<String>>) {
        out.push(path.to_vec());
        for sub in cmd.get_subcommands() {
            let mut next = path.to_vec();
            next.push(sub.get_name().to_string());
            walk(sub, &next, out);
        }
    }
    let mut out = Vec::new();
    walk(&eic_ssh::cli::Cli::command(), &[], &mut out);
    out
}

#[test]
fn no_output_names_a_repository_file() {
    // An installed eic-ssh has no docs/ beside it: help and the starter config point to
    // `--help` and the man pages instead.
    let h = Harness::new();
    let leaks = |text: &str| text.contains("docs/") || text.contains(".md");
    let paths = command_paths();
    assert!(paths.len() > 15, "{paths:?}");
    for path in paths {
        for flag in ["--help", "-h"] {
            let mut cmd = h.eic_ssh();
            cmd.args(&path).arg(flag);
            let out = run(&mut cmd, LIMIT);
            assert!(out.status.success(), "{path:?} {flag}: {}", stderr(&out));
            let help = String::from_utf8_lossy(&out.stdout);
            assert!(help.len() > 100, "{path:?} {flag}: {help}");
            assert!(
                !leaks(&help),
                "{path:?} {flag} names a repository file:\n{help}"
            );
        }
    }
    let config = h.dir.path().join("fresh/config.toml");
    let mut cmd = h.eic_ssh();
    cmd.env("EIC_SSH_CONFIG", &config)
        .args(["config", "init", "--allow", "203.0.113.0/24"]);
    let out = run(&mut cmd, LIMIT);
    assert!(out.status.success(), "{}", stderr(&out));
    let starter = std::fs::read_to_string(&config).unwrap();
    assert!(starter.contains("allow"), "{starter}");
    let printed = String::from_utf8_lossy(&out.stdout);
    for text in [starter.as_str(), &printed, &stderr(&out)] {
        assert!(!leaks(text), "config init names a repository file:\n{text}");
    }
}
