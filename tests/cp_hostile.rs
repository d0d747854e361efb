//! `eic-ssh cp` against an instance that lies: a hostile SFTP server (sshd's `Subsystem
//! sftp`, see sim/src/bin/eic-sim-sftp-liar.rs) serves names that climb out, absolute names,
//! empty names, escapes, one name listed twice, set-id modes and special files. Each test
//! checks the destination *and its surroundings* afterwards.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Output;

use common::*;
use eic_ssh_sim::World;
use serde_json::json;

/// A harness whose sshd serves `tree` through the liar, and a scratch layout:
/// `work/dest` (the destination) beside `work/outside` (must stay untouched).
struct Liar {
    h: Harness,
    dest: PathBuf,
    outside: PathBuf,
}

impl Liar {
    fn new(tree: serde_json::Value) -> Liar {
        let spec = tempfile::NamedTempFile::new().unwrap().into_temp_path();
        let spec = spec.keep().unwrap();
        std::fs::write(&spec, tree.to_string()).unwrap();
        let cmd = format!("{} {}", sftp_liar().display(), spec.display());
        let h = Harness::with_sftp_server(World::demo(), Some(cmd));
        let work = h.dir.path().join("work");
        let dest = work.join("dest");
        let outside = work.join("outside");
        std::fs::create_dir_all(&dest).unwrap();
        std::fs::create_dir_all(&outside).unwrap();
        std::fs::set_permissions(&work, std::fs::Permissions::from_mode(0o750)).unwrap();
        Liar { h, dest, outside }
    }

    /// `eic-ssh cp ARGS…` with umask 027.
    fn cp(&self, args: &[&str]) -> Output {
        let mut cmd = self.h.eic_ssh();
        cmd.env("EIC_SSH_KNOWN_HOSTS", &self.h.known_hosts)
            .arg("cp")
            .args(args);
        // SAFETY: umask is async-signal-safe and touches only the child.
        unsafe {
            cmd.pre_exec(|| {
                libc::umask(0o027);
                Ok(())
            });
        }
        run(&mut cmd, LIMIT)
    }

    fn remote(&self, path: &str) -> String {
        format!("{}@{BASTION}:{path}", self.h.user)
    }

    /// Every path under `dir` (relative, sorted), symlinks not followed.
    fn tree(dir: &Path) -> Vec<String> {
        fn walk(base: &Path, dir: &Path, out: &mut Vec<String>) {
            for e in std::fs::read_dir(dir).unwrap().flatten() {
                let p = e.path();
                out.push(p.strip_prefix(base).unwrap().display().to_string());
                if e.file_type().unwrap().is_dir() {
                    walk(base, &p, out);
                }
            }
        }
        let mut out = Vec::new();
        walk(dir, dir, &mut out);
        out.sort();
        out
    }

    /// The surroundings are as they were: `outside` empty, `work` still 0750.
    fn assert_outside_untouched(&self) {
        assert_eq!(Liar::tree(&self.outside), Vec::<String>::new());
        let work = self.dest.parent().unwrap();
        let mode = std::fs::metadata(work).unwrap().permissions().mode() & 0o7777;
        assert_eq!(mode, 0o750, "the destination's parent was chmodded");
        let names: Vec<String> = std::fs::read_dir(work)
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        let mut names = names;
        names.sort();
        assert_eq!(
            names,
            ["dest", "outside"],
            "something was written beside dest"
        );
    }
}

fn mode_of(p: &Path) -> u32 {
    std::fs::symlink_metadata(p).unwrap().permissions().mode() & 0o7777
}

#[test]
fn names_that_climb_out_are_refused_and_the_rest_is_copied() {
    let placeholder = tempfile::tempdir().unwrap();
    let abs = placeholder.path().join("abs-escape");
    let abs_name = abs.display().to_string();
    let l = Liar::new(json!({
        "/d": {"kind": "dir", "mode": 0o755, "entries": [
            {"name": "../../escaped"}, {"name": abs_name}, {"name": "", "kind": "dir"},
            {"name": "../", "kind": "dir", "mode": 0o777}, {"name": "a/b"},
            {"name": "ok"}, {"name": "red\u{1b}[31m"}
        ]},
        "/d/../../escaped": {"kind": "file", "data": "escaped"},
        format!("/d/{abs_name}"): {"kind": "file", "data": "escaped"},
        "/d/": {"kind": "dir", "entries": [{"name": "", "kind": "dir"}]},
        "/d/../": {"kind": "dir", "mode": 0o777, "entries": [{"name": "x"}]},
        "/d/a/b": {"kind": "file", "data": "escaped"},
        "/d/ok": {"kind": "file", "data": "fine"},
        "/d/red\u{1b}[31m": {"kind": "file", "data": "fine too"},
    }));
    let out = l.cp(&["-r", &l.remote("/d"), l.dest.to_str().unwrap()]);
    assert_fails(&out, 1, "refused: the server listed");
    let err = stderr(&out);
    assert!(
        !err.contains('\u{1b}'),
        "a raw escape reached the terminal: {err:?}"
    );
    assert!(err.contains("red\\033[31m"), "{err}");
    assert!(err.contains("/d/../../escaped"), "{err}");
    assert_eq!(Liar::tree(&l.dest), ["d", "d/ok", "d/red\u{1b}[31m"]);
    assert_eq!(std::fs::read(l.dest.join("d/ok")).unwrap(), b"fine");
    assert!(!abs.exists());
    l.assert_outside_untouched();
}

#[test]
fn a_name_listed_as_symlink_then_as_directory_is_refused() {
    let l = Liar::new(json!({
        "/s": {"kind": "dir", "entries": [
            {"name": "x", "kind": "link"}, {"name": "x", "kind": "dir"}, {"name": "y"}
        ]},
        "/s/x": {"kind": "link", "target": "../../outside"},
        "/s/y": {"kind": "file", "data": "y"},
    }));
    let out = l.cp(&["-r", &l.remote("/s"), l.dest.to_str().unwrap()]);
    assert_fails(&out, 1, "listed this name more than once");
    assert_eq!(Liar::tree(&l.dest), ["s", "s/y"]);
    l.assert_outside_untouched();
}

#[test]
fn a_symlink_left_by_an_earlier_copy_is_never_written_through() {
    let l = Liar::new(json!({
        "/t": {"kind": "dir", "entries": [{"name": "x", "kind": "dir"}]},
        "/t/x": {"kind": "dir", "entries": [{"name": "pwned"}]},
        "/t/x/pwned": {"kind": "file", "data": "pwned"},
    }));
    std::fs::create_dir(l.dest.join("t")).unwrap();
    std::os::unix::fs::symlink(&l.outside, l.dest.join("t/x")).unwrap();
    let out = l.cp(&["-r", &l.remote("/t"), l.dest.to_str().unwrap()]);
    assert_fails(&out, 1, "not a directory");
    assert!(
        std::fs::symlink_metadata(l.dest.join("t/x"))
            .unwrap()
            .is_symlink()
    );
    l.assert_outside_untouched();
}

#[test]
fn planted_part_files_are_replaced_or_refused_never_followed() {
    let l = Liar::new(json!({
        "/f": {"kind": "file", "data": "the real content"},
    }));
    let victim = l.outside.join("victim");
    let part = l.dest.join(".f.eic-ssh.part");
    std::os::unix::fs::symlink(&victim, &part).unwrap();
    // --resume will not continue into a symlink …
    let out = l.cp(&["--resume", &l.remote("/f"), l.dest.to_str().unwrap()]);
    assert_fails(&out, 1, "symlink");
    assert!(!victim.exists());
    // … and a fresh copy unlinks it and creates its own part file.
    let out = l.cp(&[&l.remote("/f"), l.dest.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        std::fs::read(l.dest.join("f")).unwrap(),
        b"the real content"
    );
    assert!(!part.exists() && !victim.exists());
    l.assert_outside_untouched();
}

#[test]
fn modes_follow_the_umask_without_p_and_never_keep_set_id_bits() {
    let l = Liar::new(json!({
        "/m": {"kind": "dir", "mode": 0o2777, "entries": [
            {"name": "suid"}, {"name": "open"}, {"name": "sub", "kind": "dir"}
        ]},
        "/m/suid": {"kind": "file", "mode": 0o4755, "data": "#!/bin/sh\n"},
        "/m/open": {"kind": "file", "mode": 0o666, "data": "x"},
        "/m/sub": {"kind": "dir", "mode": 0o1777, "entries": []},
    }));
    let plain = l.dest.join("plain");
    let kept = l.dest.join("kept");
    std::fs::create_dir(&plain).unwrap();
    std::fs::create_dir(&kept).unwrap();
    let out = l.cp(&["-r", &l.remote("/m"), plain.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    // umask 027, as OpenSSH: the source's permission bits (+ owner write), less the umask.
    assert_eq!(mode_of(&plain.join("m")), 0o750);
    assert_eq!(mode_of(&plain.join("m/suid")), 0o750);
    assert_eq!(mode_of(&plain.join("m/open")), 0o640);
    assert_eq!(mode_of(&plain.join("m/sub")), 0o750);
    let out = l.cp(&["-r", "-p", &l.remote("/m"), kept.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(mode_of(&kept.join("m")), 0o777);
    assert_eq!(mode_of(&kept.join("m/suid")), 0o755);
    assert_eq!(mode_of(&kept.join("m/open")), 0o666);
    assert_eq!(mode_of(&kept.join("m/sub")), 0o777);
    // An existing directory keeps its mode without -p.
    std::fs::set_permissions(plain.join("m"), std::fs::Permissions::from_mode(0o700)).unwrap();
    let out = l.cp(&["-r", &l.remote("/m"), plain.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(mode_of(&plain.join("m")), 0o700);
    l.assert_outside_untouched();
}

#[test]
fn sockets_devices_and_fifos_are_skipped_not_taken_for_directories() {
    let l = Liar::new(json!({
        "/k": {"kind": "dir", "entries": [
            {"name": "sock"}, {"name": "blk"}, {"name": "fifo"}, {"name": "real"}
        ]},
        "/k/sock": {"kind": "sock", "entries": [{"name": "inside"}]},
        "/k/blk": {"kind": "blk", "data": "raw disk"},
        "/k/fifo": {"kind": "fifo"},
        "/k/real": {"kind": "file", "data": "r"},
    }));
    let out = l.cp(&["-r", &l.remote("/k"), l.dest.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let err = stderr(&out);
    for name in ["sock", "blk", "fifo"] {
        assert!(
            err.contains(&format!("skipping /k/{name}: not a regular file")),
            "{err}"
        );
    }
    assert_eq!(Liar::tree(&l.dest), ["k", "k/real"]);
    l.assert_outside_untouched();
}

#[test]
fn glob_matches_are_checked_as_names() {
    let l = Liar::new(json!({
        "/g": {"kind": "dir", "entries": [
            {"name": "../evil.txt"}, {"name": "good.txt"}, {"name": "sub/evil.txt"},
            {"name": "..txt"}
        ]},
        "/g/good.txt": {"kind": "file", "data": "good"},
        "/g/../evil.txt": {"kind": "file", "data": "evil"},
        "/g/sub/evil.txt": {"kind": "file", "data": "evil"},
        "/g/..txt": {"kind": "file", "data": "odd but one name"},
    }));
    let out = l.cp(&[&l.remote("/g/*.txt"), l.dest.to_str().unwrap()]);
    assert_fails(&out, 1, "refused: the server listed a name with a '/'");
    assert_eq!(Liar::tree(&l.dest), ["..txt", "good.txt"]);
    l.assert_outside_untouched();
}

#[test]
fn uploads_never_write_through_a_planted_remote_part_file() {
    // The honest sshd this time: the remote side is where the part file lives.
    let h = Harness::new();
    let dest = h.dir.path().join("remote-dest");
    let outside = h.dir.path().join("outside");
    std::fs::create_dir_all(&dest).unwrap();
    std::fs::create_dir_all(&outside).unwrap();
    let victim = outside.join("victim");
    std::fs::write(&victim, "keep me").unwrap();
    std::os::unix::fs::symlink(&victim, dest.join(".up.eic-ssh.part")).unwrap();
    let src = h.random_file("up", 100_000);
    let remote = format!("{}@{BASTION}:{}", h.user, dest.display());
    let mut cmd = h.eic_ssh();
    cmd.env("EIC_SSH_KNOWN_HOSTS", &h.known_hosts).args([
        "cp",
        "--resume",
        src.to_str().unwrap(),
        &remote,
    ]);
    let out = run(&mut cmd, LIMIT);
    assert_fails(&out, 1, "not a regular file");
    assert_eq!(std::fs::read(&victim).unwrap(), b"keep me");
    let mut cmd = h.eic_ssh();
    cmd.env("EIC_SSH_KNOWN_HOSTS", &h.known_hosts)
        .args(["cp", src.to_str().unwrap(), &remote]);
    let out = run(&mut cmd, LIMIT);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(sha256(&dest.join("up")), sha256(&src));
    assert_eq!(std::fs::read(&victim).unwrap(), b"keep me");
    assert!(!dest.join(".up.eic-ssh.part").exists());
}

#[test]
fn a_tree_without_end_stops_at_the_depth_limit() {
    let l = Liar::new(json!({
        "/deep": {"kind": "dir", "repeat": true, "entries": [{"name": "a", "kind": "dir"}]},
    }));
    let out = l.cp(&["-r", &l.remote("/deep"), l.dest.to_str().unwrap()]);
    assert_fails(&out, 1, "more than 128 directories deep");
    // `deep` and 127 levels of `a` below it: 128 directories deep.
    let deepest = (0..127).fold(l.dest.join("deep"), |p, _| p.join("a"));
    assert!(deepest.is_dir(), "128 levels were copied");
    assert!(!deepest.join("a").exists(), "and no more");
    l.assert_outside_untouched();
}
