//! Async stdin/stdout for the proxy: on Unix, non-blocking pipes and sockets on the
//! runtime's reactor (epoll, kqueue), with tokio's stdio as the fallback; on Windows,
//! tokio's stdio (a blocking reader thread), which anonymous pipes and consoles both take.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

#[cfg(unix)]
pub use pipe::PipeFd;

#[cfg(unix)]
mod pipe {
    use std::io;
    use std::os::fd::RawFd;
    use std::pin::Pin;
    use std::task::{Context, Poll, ready};

    use tokio::io::unix::AsyncFd;
    use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

    /// Size asked for the stdin pipe: a larger pipe lifted uploads from 0.68× to 0.80× (docs/protocol.md, "Measured here").
    #[cfg(any(target_os = "linux", target_os = "android"))]
    const PIPE_SIZE: libc::c_int = 1 << 20;

    /// A pipe or socket fd set non-blocking for the life of this value.
    pub struct PipeFd {
        /// The descriptor, registered with the runtime's reactor.
        fd: AsyncFd<RawFd>,
        /// The flags to put back on drop.
        old_flags: libc::c_int,
    }

    impl PipeFd {
        /// Wraps `fd` when it is a pipe or a socket; `None` for a tty or a regular file,
        /// which must not be made non-blocking (a tty is shared with the shell).
        pub fn new(fd: RawFd) -> Option<Self> {
            Self::wrap(fd, false)
        }

        /// Like [`PipeFd::new`], but also takes a terminal (for an interactive session, which
        /// owns the terminal until it ends; the flags are restored on drop, as OpenSSH does).
        pub fn new_or_tty(fd: RawFd) -> Option<Self> {
            Self::wrap(fd, true)
        }

        fn wrap(fd: RawFd, tty_too: bool) -> Option<Self> {
            // SAFETY: fstat and fcntl on a descriptor we were handed; no memory is shared.
            unsafe {
                let mut st: libc::stat = std::mem::zeroed();
                if libc::fstat(fd, &mut st) != 0 {
                    return None;
                }
                let kind = st.st_mode & libc::S_IFMT;
                let tty = tty_too && kind == libc::S_IFCHR && libc::isatty(fd) == 1;
                if kind != libc::S_IFIFO && kind != libc::S_IFSOCK && !tty {
                    return None;
                }
                #[cfg(any(target_os = "linux", target_os = "android"))]
                if kind == libc::S_IFIFO {
                    // Best effort: an unprivileged user may be capped below 1 MiB.
                    libc::fcntl(fd, libc::F_SETPIPE_SZ, PIPE_SIZE);
                }
                let old_flags = libc::fcntl(fd, libc::F_GETFL);
                if old_flags < 0 || libc::fcntl(fd, libc::F_SETFL, old_flags | libc::O_NONBLOCK) < 0
                {
                    return None;
                }
                // stdin/stdout stay open for the whole process, as `register` requires.
                match AsyncFd::register(fd) {
                    Ok(fd) => Some(PipeFd { fd, old_flags }),
                    Err(_) => {
                        libc::fcntl(fd, libc::F_SETFL, old_flags);
                        None
                    }
                }
            }
        }
    }

    impl Drop for PipeFd {
        fn drop(&mut self) {
            // SAFETY: restores the flags of a descriptor that stays open.
            unsafe {
                libc::fcntl(*self.fd.get_ref(), libc::F_SETFL, self.old_flags);
            }
        }
    }

    impl AsyncRead for PipeFd {
        fn poll_read(
            self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            buf: &mut ReadBuf<'_>,
        ) -> Poll<io::Result<()>> {
            loop {
                let mut guard = ready!(self.fd.poll_read_ready(cx))?;
                let unfilled = buf.initialize_unfilled();
                let result = guard.try_io(|fd| {
                    // SAFETY: reads into the initialized, unfilled part of `buf`.
                    let n = unsafe {
                        libc::read(*fd.get_ref(), unfilled.as_mut_ptr().cast(), unfilled.len())
                    };
                    if n < 0 {
                        Err(io::Error::last_os_error())
                    } else {
                        Ok(n as usize)
                    }
                });
                match result {
                    Ok(Ok(n)) => {
                        buf.advance(n);
                        return Poll::Ready(Ok(()));
                    }
                    Ok(Err(e)) => return Poll::Ready(Err(e)),
                    Err(_would_block) => continue,
                }
            }
        }
    }

    impl AsyncWrite for PipeFd {
        fn poll_write(
            self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            buf: &[u8],
        ) -> Poll<io::Result<usize>> {
            loop {
                let mut guard = ready!(self.fd.poll_write_ready(cx))?;
                let result = guard.try_io(|fd| {
                    // SAFETY: writes from a valid slice.
                    let n = unsafe { libc::write(*fd.get_ref(), buf.as_ptr().cast(), buf.len()) };
                    if n < 0 {
                        Err(io::Error::last_os_error())
                    } else {
                        Ok(n as usize)
                    }
                });
                match result {
                    Ok(r) => return Poll::Ready(r),
                    Err(_would_block) => continue,
                }
            }
        }

        fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }

        fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
    }
}

/// Standard input: a non-blocking pipe when possible, else tokio's blocking-thread reader.
pub enum Stdin {
    /// Pipe or socket (the ProxyCommand case).
    #[cfg(unix)]
    Pipe(PipeFd),
    /// Terminal or file.
    Fallback(tokio::io::Stdin),
}

/// Standard output, chosen the same way as [`Stdin`].
pub enum Stdout {
    /// Pipe or socket (the ProxyCommand case).
    #[cfg(unix)]
    Pipe(PipeFd),
    /// Terminal or file.
    Fallback(tokio::io::Stdout),
}

/// This process's stdin.
pub fn stdin() -> Stdin {
    #[cfg(unix)]
    if let Some(p) = PipeFd::new(libc::STDIN_FILENO) {
        return Stdin::Pipe(p);
    }
    Stdin::Fallback(tokio::io::stdin())
}

/// This process's stdin for a session: on Unix terminals are polled too, so that no
/// blocking reader thread outlives the session.
pub fn stdin_any() -> Stdin {
    #[cfg(unix)]
    if let Some(p) = PipeFd::new_or_tty(libc::STDIN_FILENO) {
        return Stdin::Pipe(p);
    }
    Stdin::Fallback(tokio::io::stdin())
}

/// This process's stdout.
pub fn stdout() -> Stdout {
    #[cfg(unix)]
    if let Some(p) = PipeFd::new(libc::STDOUT_FILENO) {
        return Stdout::Pipe(p);
    }
    Stdout::Fallback(tokio::io::stdout())
}

impl AsyncRead for Stdin {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            #[cfg(unix)]
            Stdin::Pipe(p) => Pin::new(p).poll_read(cx, buf),
            Stdin::Fallback(s) => Pin::new(s).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stdout {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            #[cfg(unix)]
            Stdout::Pipe(p) => Pin::new(p).poll_write(cx, buf),
            Stdout::Fallback(s) => Pin::new(s).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            #[cfg(unix)]
            Stdout::Pipe(p) => Pin::new(p).poll_flush(cx),
            Stdout::Fallback(s) => Pin::new(s).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            #[cfg(unix)]
            Stdout::Pipe(p) => Pin::new(p).poll_shutdown(cx),
            Stdout::Fallback(s) => Pin::new(s).poll_shutdown(cx),
        }
    }
}
