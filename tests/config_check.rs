//! `eic-ssh config check`: the effective settings of a target, and config errors that
//! name file, line and key.

mod common;

use common::*;
use eic_ssh_sim::World;

#[test]
fn config_errors_name_file_line_and_key() {
    let h = Harness::new();
    let path = h.dir.path().join("bad.toml");
    let cases = [
        (
            "[defaults]\nregion = \"us-east-1\"\nallw = []\n",
            ":3:1: unknown field `allw`, expected one of",
        ),
        (
            "[defaults]\nallow = [\"203.0.113.0/33\"]\n",
            ":2:9: invalid CIDR \"203.0.113.0/33\"",
        ),
        ("[defaults\nallow = []\n", ":1:"),
        (
            "[hosts.web]\nuser = \"ubuntu\"\n",
            ":1: [hosts.web] needs `instance = \"i-…\"` or `name = \"NAME\"`",
        ),
        (
            "[defaults]\negress_check_url = \"http://checkip.example.com\"\n",
            "must use https://",
        ),
    ];
    for (text, expected) in cases {
        std::fs::write(&path, text).unwrap();
        for args in [vec!["config", "check"], vec!["proxy", BASTION]] {
            let out = eic(&h, &path, &args);
            assert_eq!(out.status.code(), Some(2), "{text:?}");
            let err = stderr(&out);
            assert!(
                err.starts_with(&format!("eic-ssh: {}", path.display())) && err.contains(expected),
                "{text:?}: {err}"
            );
            assert_eq!(err.lines().count(), 1, "one line: {err}");
        }
    }
    let mut cmd = h.eic_ssh();
    cmd.args(["proxy", BASTION, "--config", "/nonexistent/eic.toml"]);
    let out = run(&mut cmd, LIMIT);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).starts_with("eic-ssh: cannot read config file /nonexistent/eic.toml:"),
        "{}",
        stderr(&out)
    );
    assert!(h.sim.events().is_empty());
}

#[test]
fn config_check_prints_the_effective_settings() {
    let (h, config) = with_config(World::demo(), "203.0.113.10", ALLOW_OFFICE);
    let out = eic(&h, &config, &["config", "check", "bastion"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(&format!("{} is valid", config.display())),
        "{text}"
    );
    assert!(
        text.contains("instance:        i-0123456789abcdef0"),
        "{text}"
    );
    assert!(
        text.contains("allow:           203.0.113.0/24, 198.51.100.7/32 (from defaults)"),
        "{text}"
    );
}

#[test]
fn config_check_shows_bound_lists_and_opt_outs() {
    let (h, config) = with_config(World::demo(), "192.0.2.99", BOUND);
    let out = eic(&h, &config, &["config", "check", "opted-out"]);
    let text = String::from_utf8_lossy(&out.stdout).into_owned() + &stderr(&out);
    assert!(text.contains("egress_check = false"), "{text}");
    assert!(text.contains("from [hosts.office-only]"), "{text}");
    let out = eic(&h, &config, &["egress", "i-0123456789abcdef0"]);
    assert_fails(&out, 3, "not in the allowlist of [hosts.office-only]");
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(
        shown.contains("and:        203.0.113.0/24 (from [hosts.office-only]"),
        "{shown}"
    );
    std::fs::write(&config, "[defaults]\nallow = []\n").unwrap();
    let out = eic(&h, &config, &["config", "check"]);
    assert_fails(&out, 2, "config.toml:2:");
}

/// The parsed stdout of a `--json` command.
fn json_of(out: &std::process::Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)))
}

#[test]
fn config_check_and_egress_speak_json() {
    let (h, config) = with_config(World::demo(), "192.0.2.99", BOUND);
    let out = eic(&h, &config, &["config", "check", "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let report = json_of(&out);
    assert_eq!(report["valid"], true);
    assert_eq!(report["config_file"], config.display().to_string());
    let hosts = report["hosts"].as_array().unwrap();
    assert_eq!(hosts.len(), 2);
    let office = &hosts[0];
    assert_eq!(office["section"], "hosts.office-only");
    assert_eq!(office["instance_id"], BASTION);
    assert_eq!(office["allow"], serde_json::json!(["203.0.113.0/24"]));
    assert_eq!(office["egress_check"], true);
    let opted = &hosts[1];
    assert_eq!(opted["egress_check"], false);
    assert_eq!(opted["also_allow"][0]["section"], "hosts.office-only");

    // Refused: the report on stdout, the reason on stderr, exit 3.
    let out = eic(&h, &config, &["egress", "office-only", "--json"]);
    assert_fails(&out, 3, "not in the allowlist for office-only");
    let report = json_of(&out);
    assert_eq!(report["egress_ip"], "192.0.2.99");
    assert_eq!(report["verdict"], "refused");
    assert_eq!(report["allow_source"], "hosts.office-only");
    assert!(report["reason"].as_str().unwrap().contains("192.0.2.99"));

    let out = eic(&h, &config, &["egress", "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(json_of(&out)["verdict"], "unchecked");

    // An invalid file: exit 2, and a report that says so.
    std::fs::write(&config, "[defaults]\nallow = []\n").unwrap();
    let out = eic(&h, &config, &["config", "check", "--json"]);
    assert_fails(&out, 2, "config.toml:2:");
    let report = json_of(&out);
    assert_eq!(report["valid"], false);
    assert!(
        report["error"]
            .as_str()
            .unwrap()
            .contains("empty allowlist")
    );
}

#[test]
fn config_init_writes_a_starter_once() {
    let (h, _) = with_config(World::demo(), "198.51.100.23", "");
    let path = h.dir.path().join(".config/eic-ssh/config.toml");
    let mut cmd = h.eic_ssh();
    cmd.env("EIC_SSH_EGRESS_CHECK_URL", h.sim.checkip_url())
        .args([
            "config",
            "init",
            "--allow-current",
            "--allow",
            "2001:db8::/32",
            "--region",
            "us-east-1",
        ]);
    let out = run(&mut cmd, LIMIT);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains("the current egress IP is 198.51.100.23"));
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(
        text.contains("allow = [\"2001:db8::/32\", \"198.51.100.23/32\"]"),
        "{text}"
    );
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
        0o600
    );
    // The default place is where every other command looks: config check reads it.
    let mut cmd = h.eic_ssh();
    cmd.args(["config", "check"]);
    let out = run(&mut cmd, LIMIT);
    assert!(out.status.success(), "{}", stderr(&out));
    // Never over an existing file, even a dangling symlink.
    let mut cmd = h.eic_ssh();
    cmd.args(["config", "init"]);
    assert_fails(
        &run(&mut cmd, LIMIT),
        2,
        "exists: config init never overwrites it",
    );
    assert_eq!(std::fs::read_to_string(&path).unwrap(), text);
    let link = h.dir.path().join("link.toml");
    std::os::unix::fs::symlink(h.dir.path().join("nowhere"), &link).unwrap();
    let mut cmd = h.eic_ssh();
    cmd.args(["config", "init", "--config"]).arg(&link);
    assert_fails(&run(&mut cmd, LIMIT), 2, "exists");
    assert!(!h.dir.path().join("nowhere").exists());
    let mut cmd = h.eic_ssh();
    cmd.args(["config", "init", "--allow", "10.0.0.0/33", "--config"])
        .arg(h.dir.path().join("other.toml"));
    assert_fails(&run(&mut cmd, LIMIT), 2, "--allow: invalid CIDR");
}
