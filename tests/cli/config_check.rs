//! `eic-ssh config check`: the effective settings of a target, and config errors that
//! name file, line and key.

use crate::common;

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
        text.contains("allow:           203.0.113.0/24, 198.51.100.7/32 (config [defaults])"),
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

/// A section that names its region and profile, `[defaults]` that name others, and an AWS
/// config file whose `dev` profile sets a region of its own.
const WHERE_HOSTS_LIVE: &str = r#"
[defaults]
region = "eu-west-1"
profile = "shared"

[hosts.prod]
instance = "i-0123456789abcdef0"
region = "us-east-1"
profile = "prod"
"#;

/// `config check` with AWS_REGION/AWS_PROFILE exported (or not), and `extra` arguments.
fn check_with_env(h: &Harness, config: &std::path::Path, env: bool, extra: &[&str]) -> String {
    let aws_config = h.dir.path().join("aws-config");
    std::fs::write(
        &aws_config,
        "[profile dev]\nregion = ap-northeast-1\n[profile shared]\n[profile prod]\n",
    )
    .unwrap();
    let mut cmd = h.eic_ssh();
    cmd.env_remove("AWS_REGION")
        .env("AWS_CONFIG_FILE", &aws_config)
        .env("EIC_SSH_CONFIG", config)
        .args(["config", "check"])
        .args(extra);
    if env {
        cmd.env("AWS_REGION", "ap-southeast-2")
            .env("AWS_PROFILE", "dev");
    }
    let out = run(&mut cmd, LIMIT);
    assert!(out.status.success(), "{}", stderr(&out));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn config_check_shows_each_value_with_its_origin() {
    let (h, config) = with_config(World::demo(), "192.0.2.99", WHERE_HOSTS_LIVE);
    // A section's own region and profile beat the exported variables, and say so.
    let text = check_with_env(&h, &config, true, &["prod"]);
    for expected in [
        "profile:         prod (config [hosts.prod]; AWS_PROFILE=dev ignored)\n",
        "region:          us-east-1 (config [hosts.prod]; AWS_REGION=ap-southeast-2 ignored)\n",
        "port:            22 (default)\n",
        "quota wait:      up to 30 s in all when the endpoint's 20 connections are in use (default)\n",
    ] {
        assert!(text.contains(expected), "{expected:?} in {text}");
    }
    // Without a section, the environment beats `[defaults]`, and shows its value.
    let text = check_with_env(&h, &config, true, &[BASTION]);
    for expected in [
        "profile:         dev (env AWS_PROFILE)\n",
        "region:          ap-southeast-2 (env AWS_REGION)\n",
    ] {
        assert!(text.contains(expected), "{expected:?} in {text}");
    }
    // A flag beats everything.
    let text = check_with_env(&h, &config, true, &["prod", "--region", "eu-central-1"]);
    assert!(
        text.contains("region:          eu-central-1 (flag --region)\n"),
        "{text}"
    );
    // Nothing exported: `[defaults]`.
    let text = check_with_env(&h, &config, false, &[BASTION]);
    for expected in [
        "profile:         shared (config [defaults])\n",
        "region:          eu-west-1 (config [defaults])\n",
    ] {
        assert!(text.contains(expected), "{expected:?} in {text}");
    }
    // Nothing in the config: the AWS profile's region, read from ~/.aws/config.
    std::fs::write(&config, "").unwrap();
    let mut cmd = h.eic_ssh();
    cmd.env_remove("AWS_REGION")
        .env("AWS_PROFILE", "dev")
        .env("AWS_CONFIG_FILE", h.dir.path().join("aws-config"))
        .env("EIC_SSH_CONFIG", &config)
        .args(["config", "check", BASTION, "--json"]);
    let out = run(&mut cmd, LIMIT);
    let json = json_of(&out);
    let host = &json["hosts"][0];
    assert_eq!(host["region"], "ap-northeast-1", "{host}");
    assert_eq!(host["origins"]["region"], "AWS profile dev", "{host}");
    assert_eq!(host["profile"], "dev", "{host}");
    assert_eq!(host["origins"]["profile"], "env AWS_PROFILE", "{host}");
}

#[test]
fn config_check_json_names_the_origins_and_what_a_section_overrode() {
    let (h, config) = with_config(World::demo(), "192.0.2.99", WHERE_HOSTS_LIVE);
    let text = check_with_env(&h, &config, true, &["prod", "--json"]);
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    let prod = &json["hosts"][0];
    assert_eq!(prod["region"], "us-east-1");
    assert_eq!(prod["profile"], "prod");
    assert_eq!(prod["origins"]["region"], "config [hosts.prod]");
    assert_eq!(prod["origins"]["profile"], "config [hosts.prod]");
    assert_eq!(prod["origins"]["egress_check_url"], "default");
    assert_eq!(
        prod["overridden"],
        serde_json::json!([
            "region us-east-1 from [hosts.prod] (AWS_REGION=ap-southeast-2 ignored)",
            "profile prod from [hosts.prod] (AWS_PROFILE=dev ignored)"
        ])
    );
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

/// Runs `eic-ssh ARGS --config PATH` and expects one line saying `expected`, exit 2, and no
/// call to the emulator.
fn refused(h: &Harness, path: &std::path::Path, args: &[&str], expected: &str) {
    let out = eic(h, path, args);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
    assert!(err.contains(expected), "{args:?}: {err}");
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    assert!(h.sim.events().is_empty(), "no AWS call: {args:?}");
}

#[test]
fn values_written_to_known_hosts_or_ssh_config_are_plain_names() {
    let h = Harness::new();
    let path = h.dir.path().join("c.toml");
    let cases = [
        (
            "[hosts.web]\ninstance = \"i-0123456789abcdef0\"\nhost_key_alias = \"x\\n@cert-authority *\"\n",
            r#":3:18: the value "x\n@cert-authority *" is not a plain name"#,
        ),
        (
            "[hosts.web]\ninstance = \"i-0123456789abcdef0\"\nhost_key_alias = \"\"\n",
            r#"the value "" is not a plain name"#,
        ),
        (
            "[hosts.\"\"]\ninstance = \"i-0123456789abcdef0\"\n",
            r#":1: [hosts.""] is not a plain alias"#,
        ),
        (
            "[hosts.\"a b\"]\ninstance = \"i-0123456789abcdef0\"\n",
            r#"[hosts."a b"] is not a plain alias"#,
        ),
        (
            "[defaults]\nuser = \"-oProxyCommand=x\"\n",
            "is not a plain name",
        ),
        (
            "[hosts.web]\nname = \"i-0fedcba9876543210\"\n",
            "looks like an instance id: write `instance = \"i-0fedcba9876543210\"`",
        ),
        (
            "[hosts.i-0fedcba9876543210]\ninstance = \"i-0123456789abcdef0\"\n",
            "looks like an instance id but names i-0123456789abcdef0",
        ),
    ];
    for (text, expected) in cases {
        std::fs::write(&path, text).unwrap();
        refused(&h, &path, &["config", "check"], expected);
        refused(&h, &path, &["proxy", BASTION], expected);
    }
    std::fs::write(&path, "").unwrap();
    for alias in ["", "x\n@cert-authority *"] {
        let out = eic(
            &h,
            &path,
            &[BASTION, "--host-key-alias", alias, "--", "true"],
        );
        assert_eq!(out.status.code(), Some(255), "a session exits 255");
        assert!(
            stderr(&out).contains("is not a plain name"),
            "{}",
            stderr(&out)
        );
        let out = eic(&h, &path, &["cp", "--host-key-alias", alias, "a", "b:c"]);
        assert_eq!(out.status.code(), Some(2));
    }
    // A target that reads as an id is never looked up as a Name tag.
    let out = eic(&h, &path, &["proxy", &BASTION.to_uppercase()]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("is not an instance id"));
    assert!(h.sim.events().is_empty());
}

#[test]
fn a_config_file_others_could_change_is_refused() {
    let h = Harness::new();
    let dir = h.dir.path().join("conf");
    std::fs::create_dir(&dir).unwrap();
    let path = dir.join("c.toml");
    std::fs::write(&path, "[defaults]\negress_check = false\n").unwrap();
    let mode = |p: &std::path::Path, m: u32| {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(m)).unwrap();
    };
    let out = eic(&h, &path, &["config", "check"]);
    assert!(out.status.success(), "{}", stderr(&out));

    mode(&path, 0o664);
    refused(
        &h,
        &path,
        &["config", "check"],
        "is writable by group or others (mode 0664): run `chmod go-w",
    );
    refused(&h, &path, &["proxy", BASTION], "refusing the config file");
    mode(&path, 0o644);

    // Owned by another user (the tests run as root in CI; elsewhere chown is not allowed).
    let chown = |p: &std::path::Path, uid: u32| std::os::unix::fs::chown(p, Some(uid), None);
    let me = std::os::unix::fs::MetadataExt::uid(&std::fs::metadata(&path).unwrap());
    if chown(&path, 65534).is_ok() {
        refused(
            &h,
            &path,
            &["config", "check"],
            "is owned by uid 65534, not by you",
        );
        chown(&path, me).unwrap();
        // In a directory another user owns: they could replace the file.
        chown(&dir, 65534).unwrap();
        refused(
            &h,
            &path,
            &["config", "check"],
            "which is owned by uid 65534",
        );
        chown(&dir, me).unwrap();
    }
    let out = eic(&h, &path, &["config", "check"]);
    assert!(out.status.success(), "{}", stderr(&out));

    // Nothing but a regular file of sane size is read: no hang on a FIFO, no flood.
    refused(
        &h,
        std::path::Path::new("/dev/zero"),
        &["config", "check"],
        "not a regular file",
    );
    let fifo = h.dir.path().join("fifo");
    assert!(
        std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    refused(&h, &fifo, &["proxy", BASTION], "not a regular file");
    let big = h.dir.path().join("big.toml");
    std::fs::write(&big, "#".repeat(2 << 20)).unwrap();
    refused(
        &h,
        &big,
        &["config", "check"],
        "larger than the 1048576 bytes",
    );
}

#[test]
fn dev_null_an_empty_file_or_a_missing_default_is_no_config_file() {
    let h = Harness::new();
    let empty = h.dir.path().join("empty.toml");
    std::fs::write(&empty, "").unwrap();
    // Empty and group-writable: there is nothing in it to trust.
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&empty, std::fs::Permissions::from_mode(0o666)).unwrap();
    for path in [std::path::Path::new("/dev/null"), &empty] {
        let out = eic(&h, path, &["config", "check"]);
        assert!(out.status.success(), "{}: {}", path.display(), stderr(&out));
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            "no config file (defaults only)\n"
        );
        // --config names it as well as the variable, and a command really runs.
        let mut cmd = h.eic_ssh();
        cmd.arg("--config").arg(path).arg("list");
        let out = run(&mut cmd, LIMIT);
        assert!(out.status.success(), "{}: {}", path.display(), stderr(&out));
        assert!(String::from_utf8_lossy(&out.stdout).contains(BASTION));
    }
    // The default file ($XDG_CONFIG_HOME/eic-ssh/config.toml) missing: defaults only.
    let mut cmd = h.eic_ssh();
    cmd.env("XDG_CONFIG_HOME", h.dir.path().join("nowhere"))
        .arg("list");
    let out = run(&mut cmd, LIMIT);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains(BASTION));
}

#[test]
fn a_fifo_a_socket_or_a_directory_is_refused_as_the_config_file() {
    let h = Harness::new();
    let fifo = h.dir.path().join("config.fifo");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success());
    let socket = h.dir.path().join("config.sock");
    let _listening = std::os::unix::net::UnixListener::bind(&socket).unwrap();
    let directory = h.dir.path().join("config.d");
    std::fs::create_dir(&directory).unwrap();
    for (path, what) in [
        (&fifo, "a FIFO"),
        (&socket, "a socket"),
        (&directory, "a directory"),
    ] {
        for args in [vec!["config", "check"], vec!["list"]] {
            let out = eic(&h, path, &args);
            assert_fails_exactly(
                &out,
                2,
                &format!(
                    "eic-ssh: cannot read config file {}: not a regular file ({what})\n",
                    path.display()
                ),
            );
        }
    }
    assert!(h.sim.events().is_empty(), "nothing was asked of AWS");
}

#[test]
fn many_sections_naming_one_instance_give_output_linear_in_the_sections() {
    let h = Harness::new();
    let path = h.dir.path().join("many.toml");
    let mut text = String::new();
    for n in 0..2000 {
        text.push_str(&format!(
            "[hosts.s{n}]\ninstance = \"i-0123456789abcdef0\"\nallow = [\"10.{}.{}.0/24\"]\n",
            n / 256,
            n % 256
        ));
    }
    std::fs::write(&path, text).unwrap();
    let out = eic(&h, &path, &["config", "check"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(shown.len() < 4 << 20, "{} bytes", shown.len());
    assert_eq!(
        shown
            .matches("… and 1994 more sections naming the same instance")
            .count(),
        2000
    );
    let out = eic(&h, &path, &["config", "check", "--json"]);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["hosts"][0]["also_allow_omitted"], 1994);
    // One target: every section that also binds it.
    let out = eic(&h, &path, &["config", "check", "s7"]);
    let shown = String::from_utf8_lossy(&out.stdout);
    assert_eq!(shown.matches("also allow:").count(), 1999);
}

/// The keys of every setting `config check` reports an origin for (docs/configuration.md
/// lists the same).
const EVERY_SETTING: [&str; 20] = [
    "user",
    "profile",
    "region",
    "endpoint",
    "egress_check",
    "allow",
    "allow_from_security_group",
    "egress_check_url",
    "endpoint_dns_name",
    "private_ip",
    "max_tunnel_duration",
    "port",
    "host_key_alias",
    "known_hosts",
    "tunnel_endpoint_url",
    "quota_wait",
    "connect_timeout",
    "cache",
    "log",
    "forward",
];

#[test]
fn config_check_json_reports_the_values_connect_uses() {
    let h = Harness::new();
    let config = h.dir.path().join("config.toml");
    std::fs::write(
        &config,
        format!(
            r#"
[defaults]
user = "{user}"
region = "eu-west-1"
quota_wait = 7

[hosts.web]
instance = "{BASTION}"
region = "us-east-1"
endpoint = "eice-0123456789abcdef0"
max_tunnel_duration = 900
"#,
            user = h.user
        ),
    )
    .unwrap();
    // The section's region beats the exported one (which the emulator would refuse), the
    // known_hosts file comes from the environment, the rest from `[defaults]` or built in.
    let command = |args: &[&str]| {
        let mut cmd = h.eic_ssh();
        cmd.env("EIC_SSH_CONFIG", &config)
            .env("AWS_REGION", "ap-southeast-2")
            .env("EIC_SSH_KNOWN_HOSTS", &h.known_hosts)
            .args(args);
        run(&mut cmd, LIMIT)
    };
    let out = command(&["config", "check", "web", "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let checked = json_of(&out)["hosts"][0].clone();
    let origins = &checked["origins"];
    for key in EVERY_SETTING {
        assert!(origins[key].is_string(), "no origin for {key}: {checked}");
    }
    let keys = origins.as_object().unwrap().keys();
    let unlisted: Vec<&String> = keys
        .filter(|k| !EVERY_SETTING.contains(&k.as_str()))
        .collect();
    assert!(unlisted.is_empty(), "add {unlisted:?} to EVERY_SETTING");
    for (key, value, origin) in [
        (
            "region",
            serde_json::json!("us-east-1"),
            "config [hosts.web]",
        ),
        ("user", serde_json::json!(h.user), "config [defaults]"),
        ("port", serde_json::json!(22), "default"),
        (
            "endpoint_id",
            serde_json::json!("eice-0123456789abcdef0"),
            "config [hosts.web]",
        ),
        (
            "max_tunnel_duration",
            serde_json::json!(900),
            "config [hosts.web]",
        ),
        ("quota_wait", serde_json::json!(7), "config [defaults]"),
        ("connect_timeout", serde_json::json!(15), "default"),
        (
            "known_hosts",
            serde_json::json!(h.known_hosts.display().to_string()),
            "env EIC_SSH_KNOWN_HOSTS",
        ),
        ("log", serde_json::json!(true), "default"),
    ] {
        assert_eq!(checked[key], value, "{key}: {checked}");
        let key = if key == "endpoint_id" {
            "endpoint"
        } else {
            key
        };
        assert_eq!(origins[key], origin, "origin of {key}: {checked}");
    }
    assert_eq!(
        origins["tunnel_endpoint_url"],
        "env EIC_SSH_TUNNEL_ENDPOINT_URL"
    );

    // The connection: what the emulator saw and the log recorded are the same values.
    let out = command(&["-v", "web", "--", "echo", "ok"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "ok\n");
    let err = stderr(&out);
    let said = format!(
        "port {} via {}",
        checked["port"],
        checked["endpoint_id"].as_str().unwrap()
    );
    assert!(err.contains(&said), "{said:?} in {err}");
    assert!(
        err.contains("region us-east-1 from [hosts.web] (AWS_REGION=ap-southeast-2 ignored)"),
        "{err}"
    );
    let pushed = h.sim.events_of("key_pushed");
    assert_eq!(pushed.len(), 1);
    assert_eq!(pushed[0]["user"], checked["user"]);
    let opened = h.sim.events_of("tunnel_open");
    assert_eq!(opened.len(), 1);
    assert_eq!(opened[0]["port"], checked["port"]);
    assert_eq!(opened[0]["endpoint"], checked["endpoint_id"]);
    assert_eq!(opened[0]["max_duration"], checked["max_tunnel_duration"]);
    let log = std::fs::read_to_string(h.dir.path().join(".local/state/eic-ssh/log.jsonl"))
        .expect("the connection log");
    let entry: serde_json::Value = serde_json::from_str(log.lines().last().unwrap()).unwrap();
    assert_eq!(entry["endpoint"], checked["endpoint_id"]);
    assert_eq!(entry["instance"], checked["instance_id"]);

    // The text form gives every line its origin.
    let out = command(&["config", "check", "web"]);
    let text = String::from_utf8_lossy(&out.stdout);
    for expected in [
        "user:            ",
        "known_hosts:     ",
        "connect timeout: 15 s to open a tunnel (default)\n",
        "tunnel URL:      ",
    ] {
        assert!(text.contains(expected), "{expected:?} in {text}");
    }
    let settings = text.lines().skip_while(|l| !l.starts_with("user:"));
    for line in settings.filter(|l| !l.starts_with("also allow") && !l.starts_with("warning")) {
        assert!(line.ends_with(')'), "no origin on {line:?} in {text}");
    }
}

#[test]
fn the_documented_config_check_output_is_the_real_one() {
    let doc = include_str!("../../docs/configuration.md");
    let block = |opening: &str| -> String {
        let start = doc.find(opening).expect(opening) + opening.len();
        doc[start..].split("```").next().unwrap().to_string()
    };
    let shown = block("```\n$ AWS_REGION=eu-west-1 eic-ssh config check bastion\n");
    let file = block("for this file:\n\n```toml\n");
    let h = Harness::new();
    let config = h.dir.path().join("config.toml");
    std::fs::write(&config, file).unwrap();
    let mut cmd = h.eic_ssh();
    cmd.env("EIC_SSH_CONFIG", &config)
        .env("AWS_REGION", "eu-west-1")
        .env_remove("EIC_SSH_TUNNEL_ENDPOINT_URL")
        .args(["config", "check", "bastion"]);
    let out = run(&mut cmd, LIMIT);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    let from_target = |t: &str| t[t.find("target:").unwrap()..].to_string();
    assert_eq!(from_target(&text), from_target(&shown));
}
