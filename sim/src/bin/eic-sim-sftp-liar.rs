//! A hostile SFTP server for tests: run by sshd as `Subsystem sftp`, it serves a made-up
//! tree from a JSON file and says whatever that file says — names with `/`, `..`, empty
//! names, escapes, one name listed twice with two types, sockets and devices.
//!
//! The file maps exact paths (as the client sends them) to nodes:
//! `{"/d": {"kind": "dir", "mode": 493, "entries": [{"name": "../x", "kind": "file"}]},
//!   "/d/../x": {"kind": "file", "data": "escaped"}}`.
//! A listed entry takes its type and mode from its own fields, else from the node at
//! `dir/name`. Kinds: file, dir, link (with `target`), sock, fifo, blk. A node with
//! `"repeat": true` stands for every path below it too (a tree without end).

use std::collections::HashMap;

use russh_sftp::protocol::{
    Attrs, Data, FileAttributes, Handle, Name, OpenFlags, Status, StatusCode, Version,
};
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize, Default)]
struct Node {
    /// file, dir, link, sock, fifo or blk.
    kind: String,
    /// Permission bits (and set-id bits), without the type.
    #[serde(default)]
    mode: Option<u32>,
    /// A file's content.
    #[serde(default)]
    data: String,
    /// A link's target.
    #[serde(default)]
    target: String,
    /// A directory's listing.
    #[serde(default)]
    entries: Vec<Listed>,
    /// Every path below this one (not in the file) is this same node: a directory that
    /// goes on forever.
    #[serde(default)]
    repeat: bool,
}

#[derive(Debug, Clone, Deserialize)]
struct Listed {
    name: String,
    #[serde(default)]
    kind: Option<String>,
    #[serde(default)]
    mode: Option<u32>,
}

fn attrs(kind: &str, mode: Option<u32>, size: u64) -> FileAttributes {
    let (type_bits, default_mode) = match kind {
        "dir" => (0o040_000, 0o755),
        "link" => (0o120_000, 0o777),
        "sock" => (0o140_000, 0o755),
        "fifo" => (0o010_000, 0o644),
        "blk" => (0o060_000, 0o660),
        _ => (0o100_000, 0o644),
    };
    FileAttributes {
        size: Some(size),
        permissions: Some(type_bits | mode.unwrap_or(default_mode)),
        atime: Some(1_000_000_000),
        mtime: Some(1_000_000_000),
        ..FileAttributes::empty()
    }
}

struct Liar {
    tree: HashMap<String, Node>,
    /// Directory handles already listed once (the next readdir says EOF).
    listed: std::collections::HashSet<String>,
}

impl Liar {
    fn node(&self, path: &str) -> Result<&Node, StatusCode> {
        if let Some(n) = self.tree.get(path) {
            return Ok(n);
        }
        let mut p = path;
        while let Some((parent, _)) = p.rsplit_once('/') {
            if let Some(n) = self.tree.get(parent).filter(|n| n.repeat) {
                return Ok(n);
            }
            p = parent;
        }
        Err(StatusCode::NoSuchFile)
    }

    fn node_attrs(&self, path: &str) -> Result<FileAttributes, StatusCode> {
        let n = self.node(path)?;
        Ok(attrs(&n.kind, n.mode, n.data.len() as u64))
    }
}

fn ok(id: u32) -> Status {
    Status {
        id,
        status_code: StatusCode::Ok,
        error_message: "Ok".into(),
        language_tag: "en-US".into(),
    }
}

impl russh_sftp::server::Handler for Liar {
    type Error = StatusCode;

    fn unimplemented(&self) -> Self::Error {
        StatusCode::OpUnsupported
    }

    async fn init(
        &mut self,
        _version: u32,
        _extensions: HashMap<String, String>,
    ) -> Result<Version, Self::Error> {
        Ok(Version::new())
    }

    async fn realpath(&mut self, id: u32, path: String) -> Result<Name, Self::Error> {
        let path = if path == "." { "/".to_string() } else { path };
        Ok(Name {
            id,
            files: vec![russh_sftp::protocol::File::dummy(path)],
        })
    }

    async fn stat(&mut self, id: u32, path: String) -> Result<Attrs, Self::Error> {
        Ok(Attrs {
            id,
            attrs: self.node_attrs(&path)?,
        })
    }

    async fn lstat(&mut self, id: u32, path: String) -> Result<Attrs, Self::Error> {
        self.stat(id, path).await
    }

    async fn open(
        &mut self,
        id: u32,
        filename: String,
        pflags: OpenFlags,
        _attrs: FileAttributes,
    ) -> Result<Handle, Self::Error> {
        if pflags.contains(OpenFlags::WRITE) {
            return Err(StatusCode::PermissionDenied);
        }
        self.node(&filename)?;
        Ok(Handle {
            id,
            handle: filename,
        })
    }

    async fn read(
        &mut self,
        id: u32,
        handle: String,
        offset: u64,
        len: u32,
    ) -> Result<Data, Self::Error> {
        let data = self.node(&handle)?.data.as_bytes();
        let start = usize::try_from(offset).unwrap_or(usize::MAX);
        if start >= data.len() {
            return Err(StatusCode::Eof);
        }
        let end = data.len().min(start + len as usize);
        Ok(Data {
            id,
            data: data[start..end].to_vec(),
        })
    }

    async fn close(&mut self, id: u32, handle: String) -> Result<Status, Self::Error> {
        self.listed.remove(&handle);
        Ok(ok(id))
    }

    async fn opendir(&mut self, id: u32, path: String) -> Result<Handle, Self::Error> {
        if self.node(&path)?.kind != "dir" {
            return Err(StatusCode::NoSuchFile);
        }
        Ok(Handle { id, handle: path })
    }

    async fn readdir(&mut self, id: u32, handle: String) -> Result<Name, Self::Error> {
        if !self.listed.insert(handle.clone()) {
            return Err(StatusCode::Eof);
        }
        let node = self.node(&handle)?.clone();
        let files = node
            .entries
            .iter()
            .map(|e| {
                let child = format!("{}/{}", handle.trim_end_matches('/'), e.name);
                let found = self.node(&child).ok();
                let kind = e
                    .kind
                    .clone()
                    .or_else(|| found.map(|n| n.kind.clone()))
                    .unwrap_or_else(|| "file".into());
                let mode = e.mode.or_else(|| found.and_then(|n| n.mode));
                let size = found.map_or(0, |n| n.data.len() as u64);
                russh_sftp::protocol::File::new(e.name.clone(), attrs(&kind, mode, size))
            })
            .collect();
        Ok(Name { id, files })
    }

    async fn readlink(&mut self, id: u32, path: String) -> Result<Name, Self::Error> {
        let target = self.node(&path)?.target.clone();
        Ok(Name {
            id,
            files: vec![russh_sftp::protocol::File::dummy(target)],
        })
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let Some(spec) = std::env::args().nth(1) else {
        eprintln!("usage: eic-sim-sftp-liar TREE.json");
        std::process::exit(2);
    };
    let tree: HashMap<String, Node> = match std::fs::read_to_string(&spec)
        .map_err(|e| e.to_string())
        .and_then(|t| serde_json::from_str(&t).map_err(|e| e.to_string()))
    {
        Ok(t) => t,
        Err(e) => {
            eprintln!("eic-sim-sftp-liar: {spec}: {e}");
            std::process::exit(2);
        }
    };
    let liar = Liar {
        tree,
        listed: Default::default(),
    };
    let stream = tokio::io::join(ExitAtEof(tokio::io::stdin()), tokio::io::stdout());
    russh_sftp::server::run(stream, liar).await;
    // `run` serves on a spawned task; the process ends when sshd closes stdin.
    std::future::pending::<()>().await;
}

/// Stdin that ends the process when sshd closes the channel.
struct ExitAtEof(tokio::io::Stdin);

impl tokio::io::AsyncRead for ExitAtEof {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = std::pin::Pin::new(&mut self.0).poll_read(cx, buf);
        if matches!(polled, std::task::Poll::Ready(Ok(()))) && buf.filled().len() == before {
            std::process::exit(0);
        }
        polled
    }
}
