//! `eic-ssh cp` against a real sshd through the emulator: sizes, trees, names, globs, every
//! bad case, a tunnel dying mid-transfer (and `--resume`), and the progress bars on a pty.

use crate::common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use common::tmux::Tmux;
use common::*;
use eic_ssh_sim::Faults;

fn cp(h: &Harness, args: &[&str]) -> Output {
    let mut cmd = h.eic_ssh();
    cmd.env("EIC_SSH_KNOWN_HOSTS", &h.known_hosts)
        .arg("cp")
        .args(args);
    run(&mut cmd, LIMIT)
}

fn remote(h: &Harness, path: &Path) -> String {
    format!("{}@{BASTION}:{}", h.user, path.display())
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn mkdir(h: &Harness, name: &str) -> PathBuf {
    let d = h.dir.path().join(name);
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn files_of_0_1_and_64_mib_bytes_both_ways() {
    let h = Harness::new();
    let (up, down) = (mkdir(&h, "up"), mkdir(&h, "down"));
    for (name, size) in [("empty", 0), ("one", 1), ("big", 64 << 20)] {
        let src = h.random_file(name, size);
        let out = cp(&h, &[s(&src), &remote(&h, &up)]);
        assert!(out.status.success(), "{name} up: {}", stderr(&out));
        assert_eq!(sha256(&up.join(name)), sha256(&src), "{name} up");
        let out = cp(&h, &[&remote(&h, &up.join(name)), s(&down)]);
        assert!(out.status.success(), "{name} down: {}", stderr(&out));
        assert_eq!(sha256(&down.join(name)), sha256(&src), "{name} down");
        assert!(
            stderr(&out).starts_with("eic-ssh: copied 1 file, "),
            "{}",
            stderr(&out)
        );
    }
    // One login per command: three files, one tunnel.
    let before = h.sim.events_of("tunnel_open").len();
    let out = cp(
        &h,
        &[
            s(&h.dir.path().join("empty")),
            s(&h.dir.path().join("one")),
            s(&h.dir.path().join("big")),
            &remote(&h, &down),
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(h.sim.events_of("tunnel_open").len(), before + 1);
    assert!(
        stderr(&out).starts_with("eic-ssh: copied 3 files, 64.00 MiB"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_tree_of_500_files_with_modes_times_and_a_symlink() {
    let h = Harness::new();
    let tree = mkdir(&h, "tree");
    for i in 0..500 {
        let dir = tree.join(format!("d{}", i % 10));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join(format!("f{i}.txt"));
        std::fs::write(&f, format!("file {i}\n")).unwrap();
        std::fs::set_permissions(
            &f,
            std::fs::Permissions::from_mode(if i % 2 == 0 { 0o640 } else { 0o755 }),
        )
        .unwrap();
    }
    std::os::unix::fs::symlink("d0/f0.txt", tree.join("link")).unwrap();
    let old = std::time::UNIX_EPOCH + Duration::from_secs(1_500_000_000);
    std::fs::File::options()
        .write(true)
        .open(tree.join("d3/f3.txt"))
        .unwrap()
        .set_modified(old)
        .unwrap();

    let up = mkdir(&h, "up");
    let out = cp(&h, &["-r", "-p", s(&tree), &remote(&h, &up)]);
    assert!(out.status.success(), "{}", stderr(&out));
    // Like scp -r, a single directory may land under a new name.
    let out = cp(&h, &["-r", s(&tree), &remote(&h, &up.join("renamed"))]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        std::fs::read_to_string(up.join("renamed/d7/f7.txt")).unwrap(),
        "file 7\n"
    );
    let back = mkdir(&h, "back");
    let out = cp(&h, &["-r", "-p", &remote(&h, &up.join("tree")), s(&back)]);
    assert!(out.status.success(), "{}", stderr(&out));
    for copy in [up.join("tree"), back.join("tree")] {
        for i in [0, 1, 254, 499] {
            let f = copy.join(format!("d{}/f{i}.txt", i % 10));
            assert_eq!(std::fs::read_to_string(&f).unwrap(), format!("file {i}\n"));
            let mode = std::fs::metadata(&f).unwrap().permissions().mode() & 0o777;
            assert_eq!(
                mode,
                if i % 2 == 0 { 0o640 } else { 0o755 },
                "{}",
                f.display()
            );
        }
        assert_eq!(
            std::fs::read_link(copy.join("link")).unwrap(),
            Path::new("d0/f0.txt")
        );
        let mtime = std::fs::metadata(copy.join("d3/f3.txt"))
            .unwrap()
            .modified()
            .unwrap();
        assert_eq!(mtime, old, "-p keeps times");
        let count = walk(&copy);
        assert_eq!(count, 501, "500 files and a link");
    }
}

fn walk(dir: &Path) -> usize {
    std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| {
            let t = e.file_type().unwrap();
            if t.is_dir() { walk(&e.path()) } else { 1 }
        })
        .sum()
}

#[test]
fn names_with_spaces_and_unicode_and_remote_globs() {
    let h = Harness::new();
    let remote_dir = mkdir(&h, "logs");
    for name in ["access log 1.gz", "érreur-日本.gz", "keep.txt"] {
        std::fs::write(remote_dir.join(name), name).unwrap();
    }
    let down = mkdir(&h, "down");
    let out = cp(&h, &[&remote(&h, &remote_dir.join("*.gz")), s(&down)]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        std::fs::read_to_string(down.join("access log 1.gz")).unwrap(),
        "access log 1.gz"
    );
    assert_eq!(
        std::fs::read_to_string(down.join("érreur-日本.gz")).unwrap(),
        "érreur-日本.gz"
    );
    assert!(!down.join("keep.txt").exists());
    let up = mkdir(&h, "up");
    let out = cp(
        &h,
        &[
            s(&down.join("érreur-日本.gz")),
            &remote(&h, &up.join("nom avec espaces.gz")),
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        std::fs::read_to_string(up.join("nom avec espaces.gz")).unwrap(),
        "érreur-日本.gz"
    );
    let out = cp(&h, &[&remote(&h, &remote_dir.join("*.zip")), s(&down)]);
    assert_fails(&out, 1, "*.zip: no match");
}

#[test]
fn bad_cases_say_what_and_copy_nothing_wrong() {
    let h = Harness::new();
    let a = h.random_file("a.txt", 100);
    let b = h.random_file("b.txt", 100);
    let up = mkdir(&h, "up");

    let out = cp(
        &h,
        &[s(&h.dir.path().join("missing.txt")), &remote(&h, &up)],
    );
    assert_fails(&out, 1, "missing.txt: No such file or directory");
    assert!(
        stderr(&out).contains("copied 0 of 1 file; not copied:"),
        "{}",
        stderr(&out)
    );

    let out = cp(
        &h,
        &[
            &remote(&h, &up.join("nope.txt")),
            s(&h.dir.path().join("x")),
        ],
    );
    assert_fails(&out, 1, "nope.txt: No such file");

    let out = cp(
        &h,
        &[s(&a), &remote(&h, &h.dir.path().join("no/such/dir/"))],
    );
    assert_fails(&out, 1, "destination directory");
    let out = cp(
        &h,
        &[
            s(&a),
            &remote(&h, &h.dir.path().join("no/such/dir/file.txt")),
        ],
    );
    assert!(
        stderr(&out).contains("destination directory") && stderr(&out).contains("does not exist"),
        "{}",
        stderr(&out)
    );

    let out = cp(&h, &[s(&a), s(&b), &remote(&h, &a)]);
    assert_fails(&out, 1, "is a file, not a directory");

    let out = cp(
        &h,
        &[
            s(&a),
            &format!("{}@{BASTION}:/sys/eic-ssh-test.txt", h.user),
        ],
    );
    assert_fails(&out, 1, "Permission denied");

    let dir = mkdir(&h, "adir");
    let out = cp(&h, &[s(&dir), &remote(&h, &up)]);
    assert!(
        stderr(&out).contains("is a directory (use -r)"),
        "{}",
        stderr(&out)
    );

    let out = cp(&h, &[s(&a), s(&b)]);
    assert_fails(&out, 2, "both local");
    let leftovers: Vec<_> = std::fs::read_dir(&up).unwrap().flatten().collect();
    assert!(leftovers.is_empty(), "nothing half-copied: {leftovers:?}");
}

#[test]
fn a_tunnel_killed_mid_transfer_leaves_no_final_file_and_resume_completes() {
    let h = Harness::new();
    let src = h.random_file("big.bin", 16 << 20);
    let down = mkdir(&h, "down");
    for fault in [
        Faults {
            close_after_bytes: Some(4 << 20),
            ..Faults::default()
        },
        Faults {
            drop_after_bytes: Some(4 << 20),
            ..Faults::default()
        },
    ] {
        let _ = std::fs::remove_file(down.join("big.bin"));
        h.sim.set_faults(fault);
        let out = cp(&h, &[&remote(&h, &src), s(&down)]);
        assert_fails(&out, 7, "copied 0 files");
        assert!(
            !down.join("big.bin").exists(),
            "no file under the final name"
        );
        let part = down.join(".big.bin.eic-ssh.part");
        assert!(part.exists(), "the partial file is kept for --resume");
        let partial = std::fs::metadata(&part).unwrap().len();
        assert!(partial > 0 && partial < 16 << 20, "partial: {partial}");

        h.sim.set_faults(Faults::default());
        let out = cp(&h, &["--resume", &remote(&h, &src), s(&down)]);
        assert!(out.status.success(), "{}", stderr(&out));
        assert_eq!(sha256(&down.join("big.bin")), sha256(&src));
        assert!(!part.exists());
    }
    // Uploads resume too.
    let up = mkdir(&h, "up");
    h.sim.set_faults(Faults {
        close_after_bytes: Some(64 << 10),
        ..Faults::default()
    });
    let out = cp(&h, &[s(&src), &remote(&h, &up)]);
    assert_fails(&out, 7, "Internal error (code 1011)");
    assert!(!up.join("big.bin").exists());
    assert!(
        up.join(".big.bin.eic-ssh.part").exists(),
        "{}",
        stderr(&out)
    );
    h.sim.set_faults(Faults::default());
    let out = cp(&h, &["--resume", s(&src), &remote(&h, &up)]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(sha256(&up.join("big.bin")), sha256(&src));
}

#[test]
fn progress_bars_on_a_terminal_and_silence_otherwise() {
    let h = Harness::new();
    let src = h.random_file("big.bin", 64 << 20);
    let up = mkdir(&h, "up");
    let out = cp(&h, &["-q", s(&src), &remote(&h, &up)]);
    assert!(out.status.success());
    assert_eq!(stderr(&out), "", "-q is silent");

    let tmux = Tmux::start(&h, 120, 10);
    tmux.wait_for("local$");
    // Everything the terminal receives, not just the last screen.
    let log = h.dir.path().join("terminal.log");
    tmux.record_to(&log);
    tmux.keys(&format!(
        "EIC_SSH_EGRESS_CACHE_SECS=0 {} cp {} {}",
        env!("CARGO_BIN_EXE_eic-ssh"),
        src.display(),
        remote(&h, &up.join("again.bin"))
    ));
    tmux.enter();
    tmux.wait_for("eic-ssh: copied 1 file, 64.00 MiB");
    let drawn = String::from_utf8_lossy(&std::fs::read(&log).unwrap()).into_owned();
    assert!(
        drawn.contains("total") && drawn.contains("ETA"),
        "progress bars were drawn: {drawn:?}"
    );
    assert_eq!(sha256(&up.join("again.bin")), sha256(&src));
}

#[test]
fn special_files_are_skipped_with_a_warning() {
    let h = Harness::new();
    let tree = mkdir(&h, "tree");
    std::fs::write(tree.join("plain.txt"), "x").unwrap();
    let made = Command::new("mkfifo")
        .arg(tree.join("pipe"))
        .status()
        .unwrap();
    assert!(made.success());
    let up = mkdir(&h, "up");
    let out = cp(&h, &["-r", s(&tree), &remote(&h, &up)]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains(&format!(
            "eic-ssh: warning: skipping {}: not a regular file, directory or symlink",
            tree.join("pipe").display()
        )),
        "{}",
        stderr(&out)
    );
    assert!(up.join("tree/plain.txt").exists());
    assert!(!up.join("tree/pipe").exists());
}

#[test]
fn ctrl_c_keeps_only_the_part_file() {
    let h = Harness::new();
    let src = h.random_file("huge.bin", 256 << 20);
    let down = mkdir(&h, "down");
    // A slow transfer: the emulator stalls after 8 MiB, so Ctrl-C lands mid-file.
    h.sim.set_faults(Faults {
        stall_after_bytes: Some(8 << 20),
        ..Faults::default()
    });
    let mut cmd = h.eic_ssh();
    cmd.env("EIC_SSH_KNOWN_HOSTS", &h.known_hosts)
        .args(["cp", &remote(&h, &src), s(&down)])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let child = cmd.spawn().unwrap();
    let part = down.join(".huge.bin.eic-ssh.part");
    assert!(eventually(Duration::from_secs(30), || std::fs::metadata(
        &part
    )
    .is_ok_and(|m| m.len() > 0)));
    // SAFETY: kill sends a signal to our own child.
    unsafe {
        libc::kill(child.id() as i32, libc::SIGINT);
    }
    let out = wait(child, LIMIT);
    assert_fails(&out, 130, "eic-ssh: interrupted; copied 0 files");
    assert!(
        !down.join("huge.bin").exists(),
        "no file under the final name"
    );
    assert!(part.exists());
}

#[test]
fn a_partial_failure_names_what_was_copied_and_what_was_not() {
    let h = Harness::new();
    let good = h.random_file("good.txt", 10);
    let missing = h.dir.path().join("missing.txt");
    let up = mkdir(&h, "up");
    let out = cp(&h, &[s(&good), s(&missing), &remote(&h, &up)]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.ends_with(&format!(
            "eic-ssh: copied 1 of 2 files ({}); not copied: {}\n",
            good.display(),
            missing.display()
        )),
        "{err}"
    );
    assert!(up.join("good.txt").exists());
}

#[test]
fn a_device_named_as_source_is_refused_and_the_rest_is_copied() {
    let h = Harness::new();
    let good = h.random_file("good.txt", 10);
    let up = mkdir(&h, "up");
    let out = cp(&h, &["/dev/zero", s(&good), &remote(&h, &up)]);
    assert_fails(&out, 1, "eic-ssh: /dev/zero: not a regular file");
    assert!(
        stderr(&out).ends_with(&format!(
            "eic-ssh: copied 1 of 2 files ({}); not copied: /dev/zero\n",
            good.display()
        )),
        "{}",
        stderr(&out)
    );
    assert_eq!(sha256(&up.join("good.txt")), sha256(&good));
    assert!(!up.join("zero").exists());
}

#[test]
fn a_copy_hears_of_the_tunnels_end_and_stops_there_for_resume() {
    let h = Harness::new();
    let src = h.random_file("long.bin", 64 << 20);
    let down = mkdir(&h, "down");
    // A slow transfer: the emulator stalls after 8 MiB, until the tunnel's 5 s run out.
    h.sim.set_faults(Faults {
        stall_after_bytes: Some(8 << 20),
        ..Faults::default()
    });
    let mut cmd = h.eic_ssh();
    cmd.env("EIC_SSH_KNOWN_HOSTS", &h.known_hosts)
        .env("EIC_SSH_LIMIT_WARNING_SECS", "2")
        .args([
            "cp",
            "--max-tunnel-duration",
            "5",
            &remote(&h, &src),
            s(&down),
        ]);
    let out = run(&mut cmd, LIMIT);
    let said = stderr(&out);
    let lines: Vec<&str> = said.lines().collect();
    assert_eq!(out.status.code(), Some(7), "{said}");
    assert_eq!(
        lines[0],
        format!(
            "eic-ssh: the tunnel to {BASTION} closes in 2 s (--max-tunnel-duration 5 s); a copy still running then stops, keeping the file in progress for `eic-ssh cp --resume` with the same arguments"
        )
    );
    assert!(
        lines.last().unwrap().starts_with(&format!(
            "eic-ssh: the endpoint closed the tunnel to {BASTION} at its maximum duration (--max-tunnel-duration 5 s); copied 0 files, "
        )),
        "{said}"
    );
    assert!(
        !down.join("long.bin").exists(),
        "nothing under the final name"
    );
}
