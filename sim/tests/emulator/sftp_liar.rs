//! The lying SFTP server says exactly what its tree file says: a listing with names no
//! honest server sends, types from the file, contents and EOF. (Building this test also
//! builds the binary that `tests/copy/cp_hostile.rs` runs as sshd's SFTP subsystem.)

use std::process::Stdio;

use russh_sftp::client::RawSftpSession;
use russh_sftp::protocol::{FileAttributes, OpenFlags};

#[tokio::test]
async fn it_lists_and_serves_what_the_tree_file_says() {
    let dir = tempfile_dir();
    let spec = dir.join("tree.json");
    let tree = serde_json::json!({
        "/d": {"kind": "dir", "entries": [
            {"name": "../up"}, {"name": ""}, {"name": "x", "kind": "link"},
            {"name": "x", "kind": "dir"}, {"name": "sock"}, {"name": "f"}
        ]},
        "/d/sock": {"kind": "sock"},
        "/d/f": {"kind": "file", "mode": 0o4755, "data": "hello"},
    });
    std::fs::write(&spec, tree.to_string()).unwrap();
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_eic-sim-sftp-liar"))
        .arg(&spec)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let stream = tokio::io::join(child.stdout.take().unwrap(), child.stdin.take().unwrap());
    let sftp = RawSftpSession::new(stream);
    sftp.init().await.unwrap();
    let handle = sftp.opendir("/d").await.unwrap().handle;
    let listing = sftp.readdir(handle.as_str()).await.unwrap();
    let seen: Vec<(String, u32)> = listing
        .files
        .iter()
        .map(|f| (f.filename.clone(), f.attrs.permissions.unwrap() & 0o170_000))
        .collect();
    assert_eq!(
        seen,
        [
            ("../up".to_string(), 0o100_000),
            (String::new(), 0o100_000),
            ("x".to_string(), 0o120_000),
            ("x".to_string(), 0o040_000),
            ("sock".to_string(), 0o140_000),
            ("f".to_string(), 0o100_000),
        ]
    );
    assert!(sftp.readdir(handle.as_str()).await.is_err(), "then EOF");
    let attrs = sftp.stat("/d/f").await.unwrap().attrs;
    assert_eq!(attrs.permissions, Some(0o104_755));
    let file = sftp
        .open("/d/f", OpenFlags::READ, FileAttributes::empty())
        .await
        .unwrap()
        .handle;
    assert_eq!(
        sftp.read(file.as_str(), 0, 100).await.unwrap().data,
        b"hello"
    );
    assert!(sftp.read(file.as_str(), 5, 100).await.is_err(), "EOF");
    drop(sftp);
    let _ = child.kill().await;
    let _ = std::fs::remove_dir_all(&dir);
}

fn tempfile_dir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("eic-sim-liar-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
