//! The local SSH agent, for `-A`: a Unix-domain socket (`$SSH_AUTH_SOCK`), or on Windows the
//! OpenSSH agent's named pipe (`$SSH_AUTH_SOCK` when set, else `\\.\pipe\openssh-ssh-agent`).
//! Pageant is not supported.

use std::io;
use std::path::{Path, PathBuf};

use tokio::io::{AsyncRead, AsyncWrite};

/// Where the agent listens, if anywhere.
pub fn socket() -> Option<PathBuf> {
    let set = std::env::var_os("SSH_AUTH_SOCK").filter(|s| !s.is_empty());
    #[cfg(windows)]
    let set = set.or_else(|| Some(r"\\.\pipe\openssh-ssh-agent".into()));
    set.map(PathBuf::from)
}

/// What to say when there is no agent to forward.
pub const MISSING: &str = "-A: SSH_AUTH_SOCK is not set, so there is no agent to forward";

/// A byte stream to the agent.
pub trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Stream for T {}

/// Connects to the agent at `path`.
#[cfg(unix)]
pub async fn connect(path: &Path) -> io::Result<Box<dyn Stream>> {
    Ok(Box::new(tokio::net::UnixStream::connect(path).await?))
}

/// Connects to the agent's named pipe at `path`.
#[cfg(windows)]
pub async fn connect(path: &Path) -> io::Result<Box<dyn Stream>> {
    let pipe = tokio::net::windows::named_pipe::ClientOptions::new().open(path)?;
    Ok(Box::new(pipe))
}
