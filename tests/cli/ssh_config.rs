//! `eic-ssh ssh-config`: the generated blocks, read by a real `ssh -G` and used by a real
//! `ssh` through the emulator; `--write` and its refusals; `--discover` with filters, and a
//! Name tag that tries to add lines of its own.

use crate::common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::*;
use eic_ssh_sim::World;

/// ~/.ssh/id_ed25519 (the harness key) and a config with an alias by id and one by Name tag.
fn setup(world: World) -> (Harness, PathBuf) {
    let h = Harness::with_world(world);
    let ssh_dir = h.dir.path().join(".ssh");
    std::fs::create_dir_all(&ssh_dir).unwrap();
    std::fs::copy(&h.key, ssh_dir.join("id_ed25519")).unwrap();
    std::fs::copy(h.public_key(), ssh_dir.join("id_ed25519.pub")).unwrap();
    let config = h.dir.path().join("eic.toml");
    let text = format!(
        "[defaults]\nuser = \"{user}\"\n\n[hosts.jump]\ninstance = \"{BASTION}\"\n\n[hosts.by-name]\nname = \"bastion\"\nhost_key_alias = \"{BASTION}\"\n",
        user = h.user
    );
    std::fs::write(&config, text).unwrap();
    (h, config)
}

fn ssh_config(h: &Harness, config: &Path, args: &[&str]) -> Output {
    let mut cmd = h.eic_ssh();
    cmd.arg("ssh-config").arg("--config").arg(config).args(args);
    run(&mut cmd, LIMIT)
}

/// A real ssh that reads only the generated file (and the harness's known_hosts).
/// (Connection sharing off: a master kept alive by ControlPersist would outlive the test;
/// `generated_blocks_share_one_tunnel` tests the sharing.)
fn ssh_with(h: &Harness, file: &Path, host: &str, remote: &str) -> Output {
    let mut cmd = Command::new("ssh");
    h.isolate(&mut cmd);
    cmd.arg("-F")
        .arg(file)
        .args(["-o", "ControlMaster=no"])
        .args(["-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes"])
        .arg("-o")
        .arg(format!("UserKnownHostsFile={}", h.known_hosts.display()))
        .args([host, remote]);
    run(&mut cmd, LIMIT)
}

/// `ssh -G`'s view of one host: its options, lower-cased keys.
fn ssh_g(h: &Harness, file: &Path, host: &str) -> Vec<(String, String)> {
    let mut cmd = Command::new("ssh");
    h.isolate(&mut cmd);
    cmd.arg("-G").arg("-F").arg(file).arg(host);
    let out = run(&mut cmd, LIMIT);
    assert!(out.status.success(), "{}", stderr(&out));
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_once(' '))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn option<'a>(options: &'a [(String, String)], key: &str) -> &'a str {
    options
        .iter()
        .find(|(k, _)| k == key)
        .map_or("", |(_, v)| v.as_str())
}

#[test]
fn written_blocks_work_with_real_ssh() {
    let (h, config) = setup(World::demo());
    let out = ssh_config(&h, &config, &["--write"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let said = String::from_utf8_lossy(&out.stdout);
    let file = h.dir.path().join(".ssh/eic-ssh.conf");
    assert!(
        said.contains(&format!("wrote 2 hosts to {}", file.display())),
        "{said}"
    );
    assert!(
        said.contains(&format!("    Include {}", file.display())),
        "{said}"
    );
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&file).unwrap().permissions().mode() & 0o777,
        0o600
    );

    let options = ssh_g(&h, &file, "jump");
    assert_eq!(option(&options, "user"), h.user);
    assert_eq!(option(&options, "hostkeyalias"), BASTION);
    assert_eq!(option(&options, "identitiesonly"), "yes");
    let proxy = option(&options, "proxycommand");
    assert!(
        proxy.contains(" proxy jump %p --user %r --push-key ")
            && proxy.contains(&format!("--config {}", config.display())),
        "{proxy}"
    );

    for host in ["jump", "by-name"] {
        let out = ssh_with(&h, &file, host, "echo via-$USER");
        assert!(out.status.success(), "{host}: {}", stderr(&out));
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            format!("via-{}\n", h.user)
        );
    }
    assert_eq!(h.sim.events_of("key_pushed").len(), 2);

    // Again: nothing changes. Once ~/.ssh/config includes it, that is said instead.
    std::fs::write(
        h.dir.path().join(".ssh/config"),
        "Include ~/.ssh/eic-ssh.conf\n",
    )
    .unwrap();
    let out = ssh_config(&h, &config, &["--write"]);
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        said.contains("is up to date (2 hosts)") && said.contains("includes it already"),
        "{said}"
    );

    // A file eic-ssh did not write is never replaced.
    let mine = h.dir.path().join(".ssh/hand-written.conf");
    std::fs::write(&mine, "Host x\n").unwrap();
    let out = ssh_config(&h, &config, &["--write", mine.to_str().unwrap()]);
    assert_fails(&out, 2, "exists and was not written by eic-ssh");
    assert_eq!(std::fs::read_to_string(&mine).unwrap(), "Host x\n");
}

#[test]
fn discover_names_each_served_instance_and_honours_filters() {
    let mut world = World::demo();
    let mut evil = world.instances[0].clone();
    evil.id = "i-0eeeeeeeeeeeeeee1".into();
    evil.name = Some("web\n    ProxyCommand touch /tmp/pwned".into());
    evil.tags.clear();
    world.instances.push(evil);
    let (h, config) = setup(world);
    let out = ssh_config(&h, &config, &["--discover"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(&format!("\nHost bastion {BASTION}\n")),
        "{text}"
    );
    assert!(text.contains("\nHost i-0eeeeeeeeeeeeeee1\n"), "{text}");
    assert_eq!(
        text.matches("ProxyCommand").count(),
        4,
        "2 aliases, 2 discovered: {text}"
    );
    assert!(!text.contains("pwned"), "{text}");
    assert!(
        !text.contains("orphan") && !text.contains("stopped-box"),
        "{text}"
    );
    let err = stderr(&out);
    assert!(
        err.contains("skipped i-0bbbbbbbbbbbbbbb2: no EC2 Instance Connect Endpoint"),
        "{err}"
    );
    assert!(
        err.contains(r"its Name web\n    ProxyCommand touch /tmp/pwned is not a plain host name"),
        "{err}"
    );

    // The discovered block works with a real ssh, by Name and by id.
    let file = h.dir.path().join("discovered.conf");
    std::fs::write(&file, text.as_bytes()).unwrap();
    let options = ssh_g(&h, &file, "bastion");
    assert!(option(&options, "proxycommand").contains(&format!("proxy {BASTION} %p")));
    assert!(option(&options, "proxycommand").contains("--region us-east-1"));
    let out = ssh_with(&h, &file, "bastion", "true");
    assert!(out.status.success(), "{}", stderr(&out));

    let out = ssh_config(
        &h,
        &config,
        &["--discover", "--filter", "tag:team=platform"],
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(text.matches("ProxyCommand").count(), 3, "{text}");
    let out = ssh_config(&h, &config, &["--discover", "--filter", "team"]);
    assert_fails(&out, 2, "--filter team: expected NAME=VALUE");
}

#[test]
fn without_a_public_key_it_says_how_to_make_one() {
    let h = Harness::new();
    let config = h.dir.path().join("eic.toml");
    std::fs::write(&config, "").unwrap();
    let out = ssh_config(&h, &config, &[]);
    assert_fails(&out, 2, "ssh-keygen -t ed25519");
    let out = ssh_config(&h, &config, &["--identity", h.key.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
}

#[test]
fn a_name_tag_that_spells_another_id_never_becomes_a_host_name() {
    // Anyone allowed to tag one instance names it after another instance's id (in both
    // cases): `ssh <id>` must still reach the instance with that id.
    let mut world = World::demo();
    for (id, name) in [
        ("i-0eeeeeeeeeeeeeee1", BASTION.to_string()),
        ("i-0eeeeeeeeeeeeeee2", BASTION.to_uppercase()),
    ] {
        let mut impostor = world.instances[0].clone();
        impostor.id = id.into();
        impostor.name = Some(name);
        impostor.tags.clear();
        world.instances.push(impostor);
    }
    let (h, config) = setup(world);
    let out = ssh_config(&h, &config, &["--discover"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    let hosts: Vec<&str> = text.lines().filter(|l| l.starts_with("Host ")).collect();
    assert!(hosts.contains(&"Host i-0eeeeeeeeeeeeeee1"), "{text}");
    assert!(hosts.contains(&"Host i-0eeeeeeeeeeeeeee2"), "{text}");
    let naming_bastion: Vec<&&str> = hosts
        .iter()
        .filter(|l| l.to_ascii_lowercase().contains(BASTION))
        .collect();
    assert_eq!(
        naming_bastion,
        [&format!("Host bastion {BASTION}").as_str()],
        "only the real instance is named {BASTION}: {text}"
    );
    let err = stderr(&out);
    for id in ["i-0eeeeeeeeeeeeeee1", "i-0eeeeeeeeeeeeeee2"] {
        assert!(
            err.contains(&format!("{id} is named by id only: its Name"))
                && err.contains("looks like an instance id"),
            "{err}"
        );
    }

    // A real ssh by id reaches the real instance: its host key alias is the real id.
    let file = h.dir.path().join("discovered.conf");
    std::fs::write(&file, text.as_bytes()).unwrap();
    let options = ssh_g(&h, &file, BASTION);
    assert!(option(&options, "proxycommand").contains(&format!("proxy {BASTION} %p")));
    assert_eq!(option(&options, "hostkeyalias"), BASTION);
}

#[test]
fn generated_blocks_share_one_tunnel() {
    let (h, config) = setup(World::demo());
    let out = ssh_config(&h, &config, &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let file = h.dir.path().join("generated.conf");
    std::fs::write(&file, &out.stdout).unwrap();
    let options = ssh_g(&h, &file, "jump");
    assert_eq!(option(&options, "controlmaster"), "auto");
    assert_eq!(option(&options, "serveraliveinterval"), "30");
    assert!(option(&options, "controlpath").contains("eic-ssh-"));
    // A first ssh holds the connection (no ControlPersist: it ends with the test); three
    // more ride on it, so the endpoint sees one tunnel and one key push.
    let base = |cmd: &mut Command| {
        h.isolate(cmd);
        cmd.arg("-F").arg(&file).args([
            "-o",
            "ControlPersist=no",
            "-o",
            "BatchMode=yes",
            "-o",
            "StrictHostKeyChecking=yes",
        ]);
        cmd.arg("-o")
            .arg(format!("UserKnownHostsFile={}", h.known_hosts.display()));
    };
    let mut master = Command::new("ssh");
    base(&mut master);
    let mut master = master
        .args(["jump", "echo up; sleep 5"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(master.stdout.as_mut().unwrap()),
        &mut line,
    )
    .unwrap();
    if line != "up\n" {
        let out = master.wait_with_output().unwrap();
        panic!("the first ssh: {}", String::from_utf8_lossy(&out.stderr));
    }
    for _ in 0..3 {
        let mut cmd = Command::new("ssh");
        base(&mut cmd);
        cmd.args(["jump", "true"]);
        let out = run(&mut cmd, LIMIT);
        assert!(out.status.success(), "{}", stderr(&out));
    }
    assert!(master.wait().unwrap().success());
    assert_eq!(
        h.sim.events_of("tunnel_open").len(),
        1,
        "one tunnel for four ssh"
    );
    assert_eq!(h.sim.events_of("key_pushed").len(), 1);
}

#[test]
fn no_multiplex_leaves_sharing_out_and_each_ssh_opens_its_own_tunnel() {
    let (h, config) = setup(World::demo());
    let out = ssh_config(&h, &config, &["--no-multiplex"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    for word in ["ControlMaster", "ControlPath", "ControlPersist"] {
        assert!(!text.contains(word), "{word} in:\n{text}");
    }
    let file = h.dir.path().join("unshared.conf");
    std::fs::write(&file, &text).unwrap();
    let options = ssh_g(&h, &file, "jump");
    // ssh's own defaults: no master, no socket.
    assert_eq!(option(&options, "controlmaster"), "false");
    assert_eq!(option(&options, "controlpath"), "");
    assert_eq!(option(&options, "serveraliveinterval"), "30");
    // Read by a real ssh without -o ControlMaster=no: two runs, two tunnels.
    for _ in 0..2 {
        let mut cmd = Command::new("ssh");
        h.isolate(&mut cmd);
        cmd.arg("-F")
            .arg(&file)
            .args(["-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes"])
            .arg("-o")
            .arg(format!("UserKnownHostsFile={}", h.known_hosts.display()))
            .args(["jump", "true"]);
        let out = run(&mut cmd, LIMIT);
        assert!(out.status.success(), "{}", stderr(&out));
    }
    assert_eq!(h.sim.events_of("tunnel_open").len(), 2);
}

#[test]
fn an_include_under_a_host_block_is_not_taken_for_one_at_the_top() {
    let (h, config) = setup(World::demo());
    std::fs::write(
        h.dir.path().join(".ssh/config"),
        "Host other\n    Include ~/.ssh/eic-ssh.conf\n",
    )
    .unwrap();
    let out = ssh_config(&h, &config, &["--write"]);
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(said.contains("add this line to"), "{said}");
    assert!(!said.contains("includes it already"), "{said}");
    std::fs::write(
        h.dir.path().join(".ssh/config"),
        "Include ~/.ssh/eic-ssh.conf\nHost other\n    User x\n",
    )
    .unwrap();
    let out = ssh_config(&h, &config, &["--write"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("includes it already"));
}

#[test]
fn a_name_tag_that_is_a_real_host_never_takes_its_traffic() {
    // Anyone allowed to tag an instance names it after a host the user reaches with plain
    // ssh or git: the generated file must not send that traffic through eic-ssh.
    let mut world = World::demo();
    let tags = [
        ("i-0eeeeeeeeeeeeeee1", "localhost"),
        ("i-0eeeeeeeeeeeeeee2", "LocalHost."),
        ("i-0eeeeeeeeeeeeeee3", "1.2.3.4"),
        ("i-0eeeeeeeeeeeeeee4", "github.com"),
        ("i-0eeeeeeeeeeeeeee5", "web.example.com"),
        ("i-0eeeeeeeeeeeeeee6", "db.localhost"),
        ("i-0eeeeeeeeeeeeeee7", "::1"),
        ("i-0eeeeeeeeeeeeeee8", "2130706433"),
    ];
    for (id, name) in tags {
        let mut tagged = world.instances[0].clone();
        tagged.id = id.into();
        tagged.name = Some(name.into());
        tagged.tags.clear();
        world.instances.push(tagged);
    }
    let (h, config) = setup(world);
    // An alias the user wrote with a dot is theirs: written as it is.
    let mut text = std::fs::read_to_string(&config).unwrap();
    text.push_str(&format!(
        "\n[hosts.\"git.corp.example\"]\ninstance = \"{BASTION}\"\n"
    ));
    std::fs::write(&config, text).unwrap();

    let out = ssh_config(&h, &config, &["--discover"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let hosts: Vec<&str> = text.lines().filter(|l| l.starts_with("Host ")).collect();
    for (id, _) in tags {
        assert!(hosts.contains(&format!("Host {id}").as_str()), "{text}");
    }
    assert!(hosts.contains(&"Host git.corp.example"), "{text}");
    let err = stderr(&out);
    for (id, name) in tags {
        assert!(
            err.contains(&format!("{id} is named by id only: its Name {name} ")),
            "{id} {name}: {err}"
        );
    }
    assert!(err.contains("its Name github.com has a dot"), "{err}");
    assert!(err.contains("its Name 1.2.3.4 is an IP address"), "{err}");
    assert!(
        err.contains("its Name localhost names this machine"),
        "{err}"
    );
    assert!(err.contains("--allow-dotted-names"), "{err}");

    // A real ssh reading the file: these hosts get no ProxyCommand; the alias does.
    let file = h.dir.path().join("discovered.conf");
    std::fs::write(&file, text.as_bytes()).unwrap();
    for host in ["localhost", "github.com", "1.2.3.4", "web.example.com"] {
        let options = ssh_g(&h, &file, host);
        let proxy = option(&options, "proxycommand");
        assert!(proxy.is_empty() || proxy == "none", "{host}: {proxy}");
    }
    assert!(option(&ssh_g(&h, &file, "git.corp.example"), "proxycommand").contains(" proxy "));

    // Asked for: dotted names and addresses become Host names; loopback names never do.
    let out = ssh_config(&h, &config, &["--discover", "--allow-dotted-names"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    std::fs::write(&file, text.as_bytes()).unwrap();
    let proxy = option(&ssh_g(&h, &file, "github.com"), "proxycommand").to_string();
    assert!(proxy.contains("proxy i-0eeeeeeeeeeeeeee4 %p"), "{proxy}");
    assert!(
        text.contains("\nHost 1.2.3.4 i-0eeeeeeeeeeeeeee3\n"),
        "{text}"
    );
    for host in ["localhost", "db.localhost"] {
        let proxy = option(&ssh_g(&h, &file, host), "proxycommand").to_string();
        assert!(proxy.is_empty() || proxy == "none", "{host}: {proxy}");
    }
    let err = stderr(&out);
    assert!(!err.contains("github.com"), "{err}");
    assert!(
        err.contains("its Name localhost names this machine"),
        "{err}"
    );

    let out = ssh_config(&h, &config, &["--allow-dotted-names"]);
    assert_fails(&out, 2, "--discover");
}

#[test]
fn no_environment_value_is_baked_and_a_section_keeps_its_own_region() {
    let (h, config) = setup(World::demo());
    let mut text = std::fs::read_to_string(&config).unwrap();
    text.push_str(&format!(
        "\n[hosts.prod]\ninstance = \"{BASTION}\"\nregion = \"us-east-1\"\n"
    ));
    std::fs::write(&config, text).unwrap();
    let generate = |extra: &[&str]| {
        let mut cmd = h.eic_ssh();
        cmd.env("AWS_REGION", "ap-southeast-2")
            .env("AWS_PROFILE", "dev")
            .arg("ssh-config")
            .arg("--config")
            .arg(&config)
            .args(extra);
        run(&mut cmd, LIMIT)
    };
    let out = generate(&[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(text.matches("ProxyCommand").count(), 3, "{text}");
    assert!(
        !text.contains("--region") && !text.contains("--profile"),
        "no environment value baked in: {text}"
    );
    // The sections that follow the environment are named once per variable.
    let err = stderr(&out);
    assert!(
        err.contains("eic-ssh: note: AWS_REGION=ap-southeast-2 is not written into the blocks: [hosts.by-name], [hosts.jump] follow the AWS_REGION of each ssh run"),
        "{err}"
    );
    assert!(
        err.contains("AWS_PROFILE=dev is not written into the blocks: [hosts.by-name], [hosts.jump], [hosts.prod] follow"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 2, "{err}");

    // A real ssh whose environment names another region still reaches prod: its section
    // names where it lives.
    let file = h.dir.path().join("generated.conf");
    std::fs::write(&file, &text).unwrap();
    let mut cmd = Command::new("ssh");
    h.isolate(&mut cmd);
    cmd.env("AWS_REGION", "ap-southeast-2")
        .arg("-F")
        .arg(&file)
        .args(["-o", "ControlMaster=no", "-o", "BatchMode=yes"])
        .arg("-o")
        .arg(format!("UserKnownHostsFile={}", h.known_hosts.display()))
        .args(["prod", "echo", "ok"]);
    let out = run(&mut cmd, LIMIT);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "ok\n");

    // Flags are what the user asked for: they are written into every block.
    let out = generate(&["--region", "us-east-1"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(text.matches("--region us-east-1").count(), 3, "{text}");
    assert!(!stderr(&out).contains("AWS_REGION"), "{}", stderr(&out));

    // A discovered instance is an id in the account and region it was listed in: its block
    // names both, wherever they came from; the alias blocks still name neither.
    let aws_config = h.dir.path().join("aws-config");
    std::fs::write(&aws_config, "[profile dev]\n").unwrap();
    let mut cmd = h.eic_ssh();
    cmd.env("AWS_PROFILE", "dev")
        .env("AWS_CONFIG_FILE", &aws_config)
        .args(["ssh-config", "--discover", "--config"])
        .arg(&config);
    let out = run(&mut cmd, LIMIT);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    let proxies: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("ProxyCommand"))
        .collect();
    assert_eq!(proxies.len(), 4, "3 aliases, 1 discovered: {text}");
    for line in &proxies[..3] {
        assert!(
            !line.contains("--profile") && !line.contains("--region"),
            "{line}"
        );
    }
    assert!(
        proxies[3].contains(&format!(" proxy {BASTION} %p "))
            && proxies[3].ends_with(" --profile dev --region us-east-1"),
        "{}",
        proxies[3]
    );
}

#[test]
fn the_default_identity_is_ed25519_before_rsa() {
    let (h, config) = setup(World::demo());
    let ssh_dir = h.dir.path().join(".ssh");
    std::fs::copy(h.public_key(), ssh_dir.join("id_rsa.pub")).unwrap();
    std::fs::copy(&h.key, ssh_dir.join("id_rsa")).unwrap();
    let out = ssh_config(&h, &config, &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let file = h.dir.path().join("generated.conf");
    std::fs::write(&file, &out.stdout).unwrap();
    let options = ssh_g(&h, &file, "jump");
    let identity = option(&options, "identityfile");
    assert!(identity.ends_with("/.ssh/id_ed25519"), "{identity}");
    assert!(
        option(&options, "proxycommand").contains("/.ssh/id_ed25519.pub"),
        "{options:?}"
    );
}

/// `eic-ssh ssh-config` run as `program` with `path` as PATH: its ProxyCommand's first word.
fn program_written(h: &Harness, config: &Path, program: &Path, path: &str) -> String {
    let mut cmd = Command::new(program);
    h.isolate(&mut cmd);
    cmd.env("PATH", path)
        .arg("ssh-config")
        .arg("--config")
        .arg(config);
    let out = run(&mut cmd, LIMIT);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let line = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("ProxyCommand "))
        .unwrap_or_else(|| panic!("no ProxyCommand in {text}"));
    line.split(' ').next().unwrap().to_string()
}

#[cfg(unix)]
#[test]
fn proxycommand_names_the_program_as_invoked_never_a_symlink_target() {
    let (h, config) = setup(World::demo());
    // A package manager's link: bin/eic-ssh -> the versioned binary.
    let bin = h.dir.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    let link = bin.join("eic-ssh");
    let target = Path::new(env!("CARGO_BIN_EXE_eic-ssh"));
    std::os::unix::fs::symlink(target, &link).unwrap();
    let system_path = std::env::var("PATH").unwrap_or_default();

    // Invoked through the link, which PATH does not hold: the link's path, not its target.
    let written = program_written(&h, &config, &link, &system_path);
    assert_eq!(written, link.display().to_string());

    // With the link's directory on PATH: plain `eic-ssh`, however it was invoked.
    let with_bin = format!("{}:{system_path}", bin.display());
    assert_eq!(program_written(&h, &config, &link, &with_bin), "eic-ssh");
    assert_eq!(program_written(&h, &config, target, &with_bin), "eic-ssh");

    // Another eic-ssh first on PATH: this one's own path, since `eic-ssh` would run the other.
    let other = h.dir.path().join("other");
    std::fs::create_dir(&other).unwrap();
    std::fs::write(other.join("eic-ssh"), "#!/bin/sh\n").unwrap();
    let shadowed = format!("{}:{}:{system_path}", other.display(), bin.display());
    assert_eq!(
        program_written(&h, &config, &link, &shadowed),
        link.display().to_string()
    );

    // The block with plain `eic-ssh` works for a real ssh whose PATH holds it.
    let mut cmd = Command::new(&link);
    h.isolate(&mut cmd);
    cmd.env("PATH", &with_bin)
        .args(["ssh-config", "--config"])
        .arg(&config);
    let out = run(&mut cmd, LIMIT);
    let file = h.dir.path().join("plain.conf");
    std::fs::write(&file, &out.stdout).unwrap();
    let mut cmd = Command::new("ssh");
    h.isolate(&mut cmd);
    cmd.env("PATH", &with_bin)
        .arg("-F")
        .arg(&file)
        .args(["-o", "ControlMaster=no", "-o", "BatchMode=yes"])
        .arg("-o")
        .arg(format!("UserKnownHostsFile={}", h.known_hosts.display()))
        .args(["jump", "echo", "ok"]);
    let out = run(&mut cmd, LIMIT);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "ok\n");
}
