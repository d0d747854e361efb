//! `eic-ssh cp` against an instance that lies: a hostile SFTP server (sshd's `Subsystem
//! sftp`, see sim/src/bin/eic-sim-sftp-liar.rs) serves names that climb out, absolute names,
//! empty names, escapes, one name listed twice, set-id modes and special files. Each test
//! checks the destination *and its surroundings* afterwards.

use crate::common;

use std::os::unix::fs::{FileTypeExt, PermissionsExt};
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
        Liar::lying(tree, "")
    }

    /// The liar with run-wide flags (`--stall-after 6`, `--duplicate-replies`, …).
    fn lying(tree: serde_json::Value, flags: &str) -> Liar {
        let spec = tempfile::NamedTempFile::new().unwrap().into_temp_path();
        let spec = spec.keep().unwrap();
        std::fs::write(&spec, tree.to_string()).unwrap();
        let cmd = format!("{} {} {flags}", sftp_liar().display(), spec.display());
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

/// Exactly one line on stderr, and it contains `text`.
#[track_caller]
fn assert_one_line(out: &Output, code: i32, text: &str) {
    assert_fails(out, code, text);
    let err = stderr(out);
    assert_eq!(err.lines().count(), 1, "one line: {err}");
}

#[test]
fn a_listing_that_never_ends_stops_at_max_dir_entries() {
    let l = Liar::new(json!({
        "/end\u{1b}[1m": {"kind": "dir", "endless": true},
    }));
    let out = l.cp(&["-r", &l.remote("/end\u{1b}[1m"), l.dest.to_str().unwrap()]);
    assert_one_line(
        &out,
        1,
        "the server listed more than 100000 entries in /end\\033[1m (--max-dir-entries)",
    );
    assert!(!stderr(&out).contains('\u{1b}'));
    // Nothing listed was copied: the listing was refused as a whole.
    assert_eq!(Liar::tree(&l.dest), ["end\u{1b}[1m"]);
    l.assert_outside_untouched();
}

#[test]
fn a_tree_endless_in_breadth_stops_at_max_entries() {
    let l = Liar::new(json!({
        "/ab": {"kind": "dir", "repeat": true, "entries": [
            {"name": "a", "kind": "dir"}, {"name": "b", "kind": "dir"}
        ]},
    }));
    let out = l.cp(&[
        "-r",
        "--max-entries",
        "500",
        &l.remote("/ab"),
        l.dest.to_str().unwrap(),
    ]);
    // Depth-first: the depth limit is met first (a line each), then the total stops it all.
    assert_fails(&out, 1, "more than 128 directories deep");
    let err = stderr(&out);
    let last = err.lines().last().unwrap_or_default();
    assert!(
        last.starts_with("eic-ssh: the listings reached 500 entries in all (--max-entries)"),
        "{last}"
    );
    let made = Liar::tree(&l.dest).len();
    assert!(made <= 502, "{made} directories made");
    l.assert_outside_untouched();
}

#[test]
fn max_dir_entries_can_be_raised() {
    let l = Liar::new(json!({
        "/few": {"kind": "dir", "entries": [{"name": "a"}, {"name": "b"}, {"name": "c"}]},
        "/few/a": {"kind": "file", "data": "a"},
        "/few/b": {"kind": "file", "data": "b"},
        "/few/c": {"kind": "file", "data": "c"},
    }));
    let dest = l.dest.to_str().unwrap();
    let out = l.cp(&["-r", "--max-dir-entries", "2", &l.remote("/few"), dest]);
    assert_one_line(&out, 1, "more than 2 entries in /few (--max-dir-entries)");
    let out = l.cp(&["-r", "--max-dir-entries", "3", &l.remote("/few"), dest]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(Liar::tree(&l.dest), ["few", "few/a", "few/b", "few/c"]);
}

#[test]
fn a_server_that_stops_answering_mid_copy_ends_the_copy() {
    let l = Liar::lying(
        json!({"/big": {"kind": "file", "fill": 4 << 20}}),
        "--stall-after 6",
    );
    let out = l.cp(&[
        "--sftp-timeout",
        "3",
        &l.remote("/big"),
        l.dest.to_str().unwrap(),
    ]);
    assert_one_line(
        &out,
        255,
        "the instance's SFTP server did not answer for 3 s (--sftp-timeout)",
    );
    assert!(!l.dest.join("big").exists(), "no complete-looking file");
    assert!(l.dest.join(".big.eic-ssh.part").exists());
}

#[test]
fn a_server_that_never_starts_sftp_ends_the_copy() {
    let l = Liar::lying(
        json!({"/f": {"kind": "file", "data": "x"}}),
        "--stall-at-start",
    );
    let out = l.cp(&[
        "--sftp-timeout",
        "3",
        &l.remote("/f"),
        l.dest.to_str().unwrap(),
    ]);
    assert_one_line(
        &out,
        255,
        "the instance's SFTP server did not start within 3 s (--sftp-timeout)",
    );
}

#[test]
fn keepalives_failing_while_sftp_starts_exit_7() {
    // The liar stops the sshd serving the connection: nothing answers any more.
    let l = Liar::lying(json!({"/f": {"kind": "file", "data": "x"}}), "--stop-sshd");
    let out = l.cp(&[
        "--server-alive-interval",
        "1",
        "--server-alive-count-max",
        "2",
        &l.remote("/f"),
        l.dest.to_str().unwrap(),
    ]);
    assert_one_line(&out, 7, "the instance stopped answering keepalives");
}

#[test]
fn a_reply_sent_twice_is_a_protocol_violation() {
    let tree = json!({"/f": {"kind": "file", "data": "twice"}});
    for (flags, what) in [
        ("--duplicate-replies", "answered request "),
        ("--duplicate-version", "sent its VERSION twice"),
    ] {
        let l = Liar::lying(tree.clone(), flags);
        let out = l.cp(&[&l.remote("/f"), l.dest.to_str().unwrap()]);
        assert_one_line(
            &out,
            255,
            "the instance's SFTP server broke the protocol: it ",
        );
        assert!(stderr(&out).contains(what), "{flags}: {}", stderr(&out));
        assert!(!l.dest.join("f").exists());
    }
}

#[test]
fn a_device_destination_is_written_into_never_replaced() {
    let l = Liar::new(json!({"/f": {"kind": "file", "data": "into the pipe"}}));
    // A private /dev/full (the same device, made here with mknod, so that a regression
    // can never replace the machine's own): the write fails, and says so. mknod needs
    // root, as CI has; elsewhere this half is skipped, and on CI that fails.
    let full = l.dest.with_file_name("full");
    let made = std::process::Command::new("mknod")
        .args(["-m", "666"])
        .arg(&full)
        .args(["c", "1", "7"])
        .status()
        .is_ok_and(|s| s.success());
    if made {
        let out = l.cp(&[&l.remote("/f"), full.to_str().unwrap()]);
        let expected = format!("cannot write {}: No space left on device", full.display());
        assert_fails(&out, 1, &expected);
        assert!(
            std::fs::metadata(&full)
                .unwrap()
                .file_type()
                .is_char_device()
        );
    } else {
        skip_or_fail(
            "the /dev/full half of a_device_destination_is_written_into_never_replaced: mknod needs root",
        );
    }
    // A FIFO: written into, as with scp, and still a FIFO afterwards.
    let pipe = l.dest.join("pipe");
    let made = std::process::Command::new("mkfifo")
        .arg(&pipe)
        .status()
        .unwrap();
    assert!(made.success());
    let reader = {
        let pipe = pipe.clone();
        std::thread::spawn(move || std::fs::read(pipe).unwrap())
    };
    let out = l.cp(&[&l.remote("/f"), pipe.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(reader.join().unwrap(), b"into the pipe");
    assert!(std::fs::metadata(&pipe).unwrap().file_type().is_fifo());
    assert_eq!(Liar::tree(&l.dest), ["pipe"]);
}

#[test]
fn names_of_242_to_255_bytes_are_downloaded() {
    let names: Vec<String> = [242, 250, 255].iter().map(|&n| "n".repeat(n)).collect();
    let mut tree = serde_json::Map::new();
    let entries: Vec<_> = names.iter().map(|n| json!({"name": n})).collect();
    tree.insert("/long".into(), json!({"kind": "dir", "entries": entries}));
    for n in &names {
        tree.insert(format!("/long/{n}"), json!({"kind": "file", "data": n}));
    }
    let l = Liar::new(serde_json::Value::Object(tree));
    let out = l.cp(&["-r", &l.remote("/long"), l.dest.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    for n in &names {
        assert_eq!(
            std::fs::read_to_string(l.dest.join("long").join(n)).unwrap(),
            *n
        );
    }
    assert_eq!(
        Liar::tree(&l.dest.join("long")).len(),
        3,
        "no part file left"
    );
}

#[test]
fn names_that_are_not_utf8_are_refused_not_merged() {
    // The liar sends U+F8FF and U+F8FE as the bytes ff ff ff and fe fe fe.
    let l = Liar::new(json!({
        "/u": {"kind": "dir", "entries": [
            {"name": "x\u{f8ff}"}, {"name": "x\u{f8fe}"}, {"name": "ok"}
        ]},
        "/u/ok": {"kind": "file", "data": "ok"},
    }));
    let out = l.cp(&["-r", &l.remote("/u"), l.dest.to_str().unwrap()]);
    assert_fails(&out, 1, "refused: the name is not UTF-8");
    let err = stderr(&out);
    assert!(
        err.contains("/u/x\\xff\\xff\\xff") || err.contains("/u/x\\xfe\\xfe\\xfe"),
        "{err}"
    );
    assert_eq!(Liar::tree(&l.dest), ["u", "u/ok"]);
}

#[test]
fn a_file_announced_larger_than_the_free_space_is_not_downloaded() {
    let l = Liar::new(json!({
        "/huge": {"kind": "file", "announce": 1u64 << 63, "endless": true},
    }));
    let out = l.cp(&[&l.remote("/huge"), l.dest.to_str().unwrap()]);
    assert_fails(&out, 1, "the instance announces 8.00 EiB");
    assert!(
        stderr(&out).contains("is free where it goes"),
        "{}",
        stderr(&out)
    );
    assert!(!l.dest.join("huge").exists(), "no complete-looking file");
    let part = l.dest.join(".huge.eic-ssh.part");
    assert_eq!(std::fs::metadata(part).unwrap().len(), 0);
}
