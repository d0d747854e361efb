//! Shell completions loaded by a real bash (config aliases complete as targets), the other
//! shells' scripts generated, and the committed man pages held to the CLI.

use crate::common;

use std::path::Path;
use std::process::Command;

use common::*;

/// What bash offers for `words` (the last one being completed), with the script loaded.
fn bash_complete(h: &Harness, config: &Path, words: &[&str]) -> Vec<String> {
    let script = h.dir.path().join("eic-ssh.bash");
    let mut cmd = h.eic_ssh();
    cmd.args(["completions", "bash"]);
    let out = run(&mut cmd, LIMIT);
    assert!(out.status.success(), "{}", stderr(&out));
    std::fs::write(&script, &out.stdout).unwrap();
    let quoted: Vec<String> = words.iter().map(|w| format!("'{w}'")).collect();
    let program = format!(
        "source '{script}'; COMP_WORDS=({words}); COMP_CWORD={cword}; {func} eic-ssh '{cur}' '{prev}'; printf '%s\\n' \"${{COMPREPLY[@]}}\"",
        script = script.display(),
        words = quoted.join(" "),
        cword = words.len() - 1,
        func = "_eic_ssh_targets",
        cur = words[words.len() - 1],
        prev = words[words.len() - 2],
    );
    let bin_dir = Path::new(env!("CARGO_BIN_EXE_eic-ssh")).parent().unwrap();
    let path = format!("{}:{}", bin_dir.display(), std::env::var("PATH").unwrap());
    let mut cmd = Command::new("bash");
    h.isolate(&mut cmd);
    cmd.env("PATH", path).env("EIC_SSH_CONFIG", config).args([
        "--norc",
        "--noprofile",
        "-c",
        &program,
    ]);
    let out = run(&mut cmd, LIMIT);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).is_empty(), "bash said: {}", stderr(&out));
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn bash_completes_subcommands_flags_and_config_aliases() {
    let h = Harness::new();
    let config = h.dir.path().join("config.toml");
    std::fs::write(
        &config,
        format!("[hosts.bastion]\ninstance = \"{BASTION}\"\n\n[hosts.web]\nname = \"web-1\"\n"),
    )
    .unwrap();
    assert_eq!(
        bash_complete(&h, &config, &["eic-ssh", "ssh-c"]),
        ["ssh-config"]
    );
    assert_eq!(bash_complete(&h, &config, &["eic-ssh", "b"]), ["bastion"]);
    // After `user@`, whether '@' breaks words or not.
    assert_eq!(
        bash_complete(&h, &config, &["eic-ssh", "ec2-user@b"]),
        ["ec2-user@bastion"]
    );
    assert_eq!(
        bash_complete(&h, &config, &["eic-ssh", "ec2-user", "@", "b"]),
        ["bastion"]
    );
    assert_eq!(
        bash_complete(&h, &config, &["eic-ssh", "cp", "a.txt", "me@ba"]),
        ["me@bastion:"]
    );
    assert_eq!(
        bash_complete(&h, &config, &["eic-ssh", "proxy", "w"]),
        ["web"]
    );
    // `eic-ssh ssh` takes a target and the session's flags.
    assert_eq!(
        bash_complete(&h, &config, &["eic-ssh", "ssh", "ec2-user@b"]),
        ["ec2-user@bastion"]
    );
    assert_eq!(
        bash_complete(&h, &config, &["eic-ssh", "ssh", "--known-h"]),
        ["--known-hosts"]
    );
    assert_eq!(
        bash_complete(&h, &config, &["eic-ssh", "doctor", "--js"]),
        ["--json"]
    );
    assert_eq!(
        bash_complete(&h, &config, &["eic-ssh", "cp", "a.txt", "ba"]),
        ["bastion:"]
    );
    let all = bash_complete(&h, &config, &["eic-ssh", ""]);
    for word in ["proxy", "list", "ssh-config", "bastion", "web", "--port"] {
        assert!(all.iter().any(|w| w == word), "{word} in {all:?}");
    }
    // `config aliases` itself.
    let out = eic(&h, &config, &["config", "aliases"]);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "bastion\nweb\n");
}

#[test]
fn every_shell_gets_a_script() {
    let h = Harness::new();
    for (shell, marker) in [
        ("bash", "complete -F"),
        ("zsh", "#compdef eic-ssh"),
        ("fish", "complete -c eic-ssh"),
        ("powershell", "Register-ArgumentCompleter"),
        ("elvish", "set edit:completion:arg-completer[eic-ssh]"),
    ] {
        let mut cmd = h.eic_ssh();
        cmd.args(["completions", shell]);
        let out = run(&mut cmd, LIMIT);
        assert!(out.status.success(), "{shell}: {}", stderr(&out));
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            text.contains(marker) && text.contains("ssh-config"),
            "{shell}"
        );
        if shell == "zsh" {
            assert!(
                text.contains("compdef _eic_ssh_targets eic-ssh"),
                "aliases in zsh"
            );
            // Where zsh is installed, the script must at least parse.
            let script = h.dir.path().join("_eic-ssh");
            std::fs::write(&script, text.as_bytes()).unwrap();
            if let Ok(parsed) = Command::new("zsh").arg("-n").arg(&script).output() {
                assert!(parsed.status.success(), "{}", stderr(&parsed));
            }
        }
    }
    let mut cmd = h.eic_ssh();
    cmd.args(["completions", "tcsh"]);
    assert_fails(&run(&mut cmd, LIMIT), 2, "invalid value 'tcsh'");
}

#[test]
fn a_man1_directory_gets_section_5_beside_it() {
    // What users type for a system manual: the config file's page must land in man5.
    let h = Harness::new();
    let root = h.dir.path().join("share/man");
    let mut cmd = h.eic_ssh();
    cmd.arg("man").arg("--dir").arg(root.join("man1"));
    let out = run(&mut cmd, LIMIT);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(root.join("man1/eic-ssh.1").is_file());
    assert!(root.join("man1/eic-ssh-proxy.1").is_file());
    assert!(root.join("man5/eic-ssh-config.5").is_file());
    assert!(!root.join("man1/eic-ssh-config.5").exists());
    assert!(!root.join("man1/man5").exists());
}

#[test]
fn committed_man_pages_match_the_cli() {
    let h = Harness::new();
    let fresh = h.dir.path().join("man");
    let mut cmd = h.eic_ssh();
    cmd.arg("man").arg("--dir").arg(&fresh);
    let out = run(&mut cmd, LIMIT);
    assert!(out.status.success(), "{}", stderr(&out));
    let committed = Path::new(env!("CARGO_MANIFEST_DIR")).join("man");
    let names = |dir: &Path| {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    };
    let regenerate = "regenerate them: cargo run -- man --dir man";
    assert_eq!(names(&fresh), ["man1", "man5"], "{regenerate}");
    assert_eq!(names(&committed), ["man1", "man5"], "{regenerate}");
    for section in ["man1", "man5"] {
        let (fresh, committed) = (fresh.join(section), committed.join(section));
        assert_eq!(names(&fresh), names(&committed), "{regenerate}");
        for name in names(&fresh) {
            assert_eq!(
                std::fs::read_to_string(fresh.join(&name)).unwrap(),
                std::fs::read_to_string(committed.join(&name)).unwrap(),
                "man/{section}/{name} is stale: {regenerate}"
            );
        }
    }
    assert!(names(&fresh.join("man1")).contains(&"eic-ssh-ssh-config.1".to_string()));
    assert_eq!(names(&fresh.join("man5")), ["eic-ssh-config.5"]);
    // Without --dir: eic-ssh(1) on stdout, as roff.
    let mut cmd = h.eic_ssh();
    cmd.arg("man");
    let out = run(&mut cmd, LIMIT);
    assert!(String::from_utf8_lossy(&out.stdout).starts_with(".ie \\n(.g .ds Aq"));
}
