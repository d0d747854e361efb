//! A hostile SFTP server for tests: run by sshd as `Subsystem sftp`, it serves a made-up
//! tree from a JSON file and says whatever that file says — names with `/`, `..`, empty
//! names, escapes, one name listed twice with two types, sockets and devices.
//!
//! The file maps exact paths (as the client sends them) to nodes:
//! `{"/d": {"kind": "dir", "mode": 493, "entries": [{"name": "../x", "kind": "file"}]},
//!   "/d/../x": {"kind": "file", "data": "escaped"}}`.
//! A listed entry takes its type and mode from its own fields, else from the node at
//! `dir/name`. Kinds: file, dir, link (with `target`), sock, fifo, blk. A node with
//! `"repeat": true` stands for every path below it too (a tree without end; listing `a`
//! and `b` there is a tree that is endless in breadth as well as depth).
//!
//! More lies, per node: `"endless": true` on a directory lists new unique names forever
//! (READDIR never says EOF); on a file, reads never reach the end. `"fill": N` is a file of
//! N bytes `x`; `"announce": N` is the size stat and listings claim, whatever the data.
//! A name may hold U+F8FF or U+F8FE: on the wire each becomes the 3 bytes `ff ff ff` or
//! `fe fe fe`, so the server sends names that are not UTF-8.
//!
//! And per run, flags after the tree file: `--stall-at-start` (never answer INIT),
//! `--stall-after N` (answer N packets, then nothing), `--duplicate-replies` (every reply
//! but VERSION twice), `--duplicate-version` (VERSION twice), `--stop-sshd` (SIGSTOP the
//! sshd serving this connection at start, so its keepalives go unanswered; it is killed
//! 30 s later).

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
    /// A directory whose listing never ends, or a file whose reads never reach EOF.
    #[serde(default)]
    endless: bool,
    /// A file of this many bytes `x` (instead of `data`).
    #[serde(default)]
    fill: Option<u64>,
    /// The size stat and listings announce, whatever the content.
    #[serde(default)]
    announce: Option<u64>,
}

impl Node {
    /// The size the server announces.
    fn announced(&self) -> u64 {
        self.announce.unwrap_or_else(|| self.len())
    }

    /// The real length of the content.
    fn len(&self) -> u64 {
        self.fill.unwrap_or(self.data.len() as u64)
    }

    /// Up to `len` bytes of content at `offset`; empty at the end.
    fn read(&self, offset: u64, len: u32) -> Vec<u8> {
        if self.endless {
            return vec![b'x'; len as usize];
        }
        if let Some(n) = self.fill {
            return vec![b'x'; n.saturating_sub(offset).min(u64::from(len)) as usize];
        }
        let data = self.data.as_bytes();
        let start = usize::try_from(offset)
            .unwrap_or(usize::MAX)
            .min(data.len());
        let end = data.len().min(start.saturating_add(len as usize));
        data[start..end].to_vec()
    }
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
    /// Names handed out by endless listings so far.
    invented: u64,
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
        Ok(attrs(&n.kind, n.mode, n.announced()))
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
        let data = self.node(&handle)?.read(offset, len);
        if data.is_empty() {
            return Err(StatusCode::Eof);
        }
        Ok(Data { id, data })
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
        let node = self.node(&handle)?.clone();
        if node.endless {
            // 1,000 new names a reply, forever.
            let files = (0..1000)
                .map(|_| {
                    self.invented += 1;
                    let name = format!("n{:09}", self.invented);
                    russh_sftp::protocol::File::new(name, attrs("file", None, 0))
                })
                .collect();
            return Ok(Name { id, files });
        }
        if !self.listed.insert(handle.clone()) {
            return Err(StatusCode::Eof);
        }
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
                let size = found.map_or(0, Node::announced);
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
    let mut args = std::env::args().skip(1);
    let Some(spec) = args.next() else {
        eprintln!(
            "usage: eic-sim-sftp-liar TREE.json [--stall-at-start | --stall-after N | --duplicate-replies | --duplicate-version | --stop-sshd]"
        );
        std::process::exit(2);
    };
    let wire = match Wire::parse(args) {
        Ok(w) => w,
        Err(e) => {
            eprintln!("eic-sim-sftp-liar: {e}");
            std::process::exit(2);
        }
    };
    if wire.stop_sshd {
        stop_sshd();
    }
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
        invented: 0,
    };
    // The server writes into a pipe; `relay` passes its packets on to sshd, lying as told.
    let (served, replies) = tokio::io::duplex(1 << 20);
    tokio::spawn(relay(replies, wire));
    let stream = tokio::io::join(ExitAtEof(tokio::io::stdin()), served);
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

/// What the relay does to the server's packets on their way to sshd.
#[derive(Debug, Default)]
struct Wire {
    /// Send nothing at all (not even VERSION).
    stall_at_start: bool,
    /// Send this many packets, then nothing.
    stall_after: Option<u64>,
    /// Send every reply but VERSION twice.
    duplicate_replies: bool,
    /// Send VERSION twice.
    duplicate_version: bool,
    /// Stop the sshd serving this connection.
    stop_sshd: bool,
}

impl Wire {
    fn parse(mut args: impl Iterator<Item = String>) -> Result<Wire, String> {
        let mut wire = Wire::default();
        while let Some(arg) = args.next() {
            match arg.as_str() {
                "--stall-at-start" => wire.stall_at_start = true,
                "--stall-after" => {
                    let n = args.next().and_then(|n| n.parse().ok());
                    wire.stall_after = Some(n.ok_or("--stall-after needs a number")?);
                }
                "--duplicate-replies" => wire.duplicate_replies = true,
                "--duplicate-version" => wire.duplicate_version = true,
                "--stop-sshd" => wire.stop_sshd = true,
                other => return Err(format!("unknown flag {other}")),
            }
        }
        Ok(wire)
    }
}

/// SSH_FXP_VERSION.
const VERSION: u8 = 2;

/// Passes the server's packets to stdout, one whole packet at a time, with the lies of
/// `wire`; names' U+F8FF and U+F8FE become bytes that are not UTF-8.
async fn relay(mut from: tokio::io::DuplexStream, wire: Wire) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut out = tokio::io::stdout();
    let mut sent = 0u64;
    loop {
        let mut len = [0u8; 4];
        if from.read_exact(&mut len).await.is_err() {
            return;
        }
        let mut body = vec![0u8; u32::from_be_bytes(len) as usize];
        if from.read_exact(&mut body).await.is_err() {
            return;
        }
        not_utf8(&mut body);
        if wire.stall_at_start || wire.stall_after.is_some_and(|n| sent >= n) {
            continue;
        }
        sent += 1;
        let is_version = body.first() == Some(&VERSION);
        let times =
            if (is_version && wire.duplicate_version) || (!is_version && wire.duplicate_replies) {
                2
            } else {
                1
            };
        for _ in 0..times {
            if out.write_all(&len).await.is_err() || out.write_all(&body).await.is_err() {
                return;
            }
        }
        if out.flush().await.is_err() {
            return;
        }
    }
}

/// Replaces the UTF-8 of U+F8FF and U+F8FE by `ff ff ff` and `fe fe fe` (same length, so
/// the packet stays well formed).
fn not_utf8(body: &mut [u8]) {
    let mut i = 0;
    while i + 3 <= body.len() {
        match &body[i..i + 3] {
            [0xef, 0xa3, 0xbf] => body[i..i + 3].fill(0xff),
            [0xef, 0xa3, 0xbe] => body[i..i + 3].fill(0xfe),
            _ => {
                i += 1;
                continue;
            }
        }
        i += 3;
    }
}

/// Stops the nearest sshd above this process (the one serving this connection), and kills
/// it 30 s later so nothing is left behind.
fn stop_sshd() {
    let mut pid = std::os::unix::process::parent_id();
    for _ in 0..8 {
        let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
        if comm.starts_with("sshd") {
            let _ = std::process::Command::new("kill")
                .args(["-STOP", &pid.to_string()])
                .status();
            std::thread::spawn(move || {
                std::thread::sleep(std::time::Duration::from_secs(30));
                let _ = std::process::Command::new("kill")
                    .args(["-KILL", &pid.to_string()])
                    .status();
                std::process::exit(0);
            });
            return;
        }
        // The fourth field of /proc/PID/stat is the parent's pid.
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        let after_name = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
        match after_name
            .split_whitespace()
            .nth(1)
            .and_then(|p| p.parse().ok())
        {
            Some(parent) => pid = parent,
            None => return,
        }
    }
}
