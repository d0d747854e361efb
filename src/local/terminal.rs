//! The local terminal for interactive sessions: raw mode (always restored), size, size
//! changes, modes. Unix through termios; Windows through the console API, in VT mode
//! (keys arrive as the escape sequences the remote pty expects, output is interpreted by
//! the console), as Win32-OpenSSH's client does.

use std::io::IsTerminal;
use std::sync::Mutex;

use russh::Pty;

/// Whether stdin is a terminal.
pub fn stdin_is_tty() -> bool {
    std::io::stdin().is_terminal()
}

/// Whether stderr is a terminal (progress bars are drawn only there).
pub fn stderr_is_tty() -> bool {
    std::io::stderr().is_terminal()
}

/// `$TERM`, else `xterm-256color`.
pub fn term() -> String {
    std::env::var("TERM")
        .ok()
        .filter(|t| !t.is_empty())
        .unwrap_or_else(|| "xterm-256color".into())
}

/// The settings to put back, for the panic hook.
static SAVED: Mutex<Option<imp::Saved>> = Mutex::new(None);

/// Raw mode on stdin while this value lives; the old settings come back on drop, on panic
/// (see [`restore_on_panic`]), and so on every exit path that unwinds or returns.
pub struct RawMode {
    /// The settings before raw mode.
    original: imp::Saved,
}

impl RawMode {
    /// Switches stdin to raw mode.
    pub fn enter() -> std::io::Result<RawMode> {
        let original = imp::enter_raw()?;
        *SAVED.lock().unwrap_or_else(|e| e.into_inner()) = Some(original);
        Ok(RawMode { original })
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        imp::restore(&self.original);
        *SAVED.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }
}

/// Makes a panic restore the terminal before the message is printed.
pub fn restore_on_panic() {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if let Some(t) = SAVED.lock().unwrap_or_else(|e| e.into_inner()).take() {
            imp::restore(&t);
        }
        previous(info);
    }));
}

pub use imp::{Resizes, modes, size};

#[cfg(unix)]
mod imp {
    use super::Pty;

    /// termios as it was before raw mode.
    pub type Saved = libc::termios;

    /// Columns and rows of the terminal on stdout (else stdin), if any.
    pub fn size() -> Option<(u32, u32)> {
        for fd in [libc::STDOUT_FILENO, libc::STDIN_FILENO] {
            // SAFETY: TIOCGWINSZ fills a winsize we own.
            let mut ws: libc::winsize = unsafe { std::mem::zeroed() };
            if unsafe { libc::ioctl(fd, libc::TIOCGWINSZ, &mut ws) } == 0 && ws.ws_col > 0 {
                return Some((u32::from(ws.ws_col), u32::from(ws.ws_row)));
            }
        }
        None
    }

    /// The local control characters and flags, as pty-req modes (RFC 4254 §8).
    pub fn modes() -> Vec<(Pty, u32)> {
        // SAFETY: tcgetattr fills a termios we own.
        let mut t: libc::termios = unsafe { std::mem::zeroed() };
        if unsafe { libc::tcgetattr(libc::STDIN_FILENO, &mut t) } != 0 {
            return Vec::new();
        }
        let cc = |i: usize| u32::from(t.c_cc[i]);
        let flag = |set: libc::tcflag_t, bit: libc::tcflag_t| u32::from(set & bit != 0);
        let mut modes = vec![
            (Pty::VINTR, cc(libc::VINTR)),
            (Pty::VQUIT, cc(libc::VQUIT)),
            (Pty::VERASE, cc(libc::VERASE)),
            (Pty::VKILL, cc(libc::VKILL)),
            (Pty::VEOF, cc(libc::VEOF)),
            (Pty::VSUSP, cc(libc::VSUSP)),
            (Pty::VWERASE, cc(libc::VWERASE)),
            (Pty::ICRNL, flag(t.c_iflag, libc::ICRNL)),
            (Pty::IXON, flag(t.c_iflag, libc::IXON)),
        ];
        #[cfg(any(target_os = "linux", target_os = "android", target_os = "macos"))]
        modes.push((Pty::IUTF8, flag(t.c_iflag, libc::IUTF8)));
        modes.extend([
            (Pty::ISIG, flag(t.c_lflag, libc::ISIG)),
            (Pty::ICANON, flag(t.c_lflag, libc::ICANON)),
            (Pty::ECHO, flag(t.c_lflag, libc::ECHO)),
            (Pty::ECHOE, flag(t.c_lflag, libc::ECHOE)),
            (Pty::ECHOK, flag(t.c_lflag, libc::ECHOK)),
            (Pty::OPOST, flag(t.c_oflag, libc::OPOST)),
            (Pty::ONLCR, flag(t.c_oflag, libc::ONLCR)),
        ]);
        modes
    }

    pub fn enter_raw() -> std::io::Result<Saved> {
        // SAFETY: termios calls on stdin with structs we own.
        unsafe {
            let mut original: libc::termios = std::mem::zeroed();
            if libc::tcgetattr(libc::STDIN_FILENO, &mut original) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            let mut raw = original;
            libc::cfmakeraw(&mut raw);
            if libc::tcsetattr(libc::STDIN_FILENO, libc::TCSADRAIN, &raw) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(original)
        }
    }

    pub fn restore(t: &Saved) {
        // SAFETY: puts back settings read from the same descriptor.
        unsafe {
            libc::tcsetattr(libc::STDIN_FILENO, libc::TCSADRAIN, t);
        }
    }

    /// The terminal's new size after each SIGWINCH.
    pub struct Resizes {
        /// SIGWINCH, as a stream.
        winch: tokio::signal::unix::Signal,
    }

    impl Resizes {
        /// `None` when the handler cannot be installed.
        pub fn new() -> Option<Resizes> {
            use tokio::signal::unix::{SignalKind, signal};
            Some(Resizes {
                winch: signal(SignalKind::window_change()).ok()?,
            })
        }

        /// The next size; `None` when no more changes will be seen.
        pub async fn next(&mut self) -> Option<(u32, u32)> {
            loop {
                self.winch.recv().await?;
                if let Some(size) = size() {
                    return Some(size);
                }
            }
        }
    }
}

#[cfg(windows)]
mod imp {
    use super::Pty;
    use windows_sys::Win32::System::Console::{
        CONSOLE_SCREEN_BUFFER_INFO, DISABLE_NEWLINE_AUTO_RETURN, ENABLE_ECHO_INPUT,
        ENABLE_LINE_INPUT, ENABLE_PROCESSED_INPUT, ENABLE_VIRTUAL_TERMINAL_INPUT,
        ENABLE_VIRTUAL_TERMINAL_PROCESSING, GetConsoleMode, GetConsoleScreenBufferInfo,
        GetStdHandle, STD_HANDLE, STD_INPUT_HANDLE, STD_OUTPUT_HANDLE, SetConsoleMode,
    };

    /// The input and output console modes before raw mode.
    #[derive(Clone, Copy)]
    pub struct Saved {
        input: u32,
        output: Option<u32>,
    }

    fn mode_of(which: STD_HANDLE) -> Option<u32> {
        let mut mode = 0;
        // SAFETY: GetStdHandle has no preconditions; GetConsoleMode writes a u32 we own
        // and fails cleanly on a handle that is not a console.
        let ok = unsafe { GetConsoleMode(GetStdHandle(which), &mut mode) };
        (ok != 0).then_some(mode)
    }

    fn set_mode(which: STD_HANDLE, mode: u32) -> bool {
        // SAFETY: as in `mode_of`.
        unsafe { SetConsoleMode(GetStdHandle(which), mode) != 0 }
    }

    /// Columns and rows of the console window on stdout, if any.
    pub fn size() -> Option<(u32, u32)> {
        // SAFETY: fills a struct we own; fails on a handle that is not a console.
        let mut info: CONSOLE_SCREEN_BUFFER_INFO = unsafe { std::mem::zeroed() };
        let ok = unsafe { GetConsoleScreenBufferInfo(GetStdHandle(STD_OUTPUT_HANDLE), &mut info) };
        if ok == 0 {
            return None;
        }
        let w = info.srWindow;
        let cols = i32::from(w.Right) - i32::from(w.Left) + 1;
        let rows = i32::from(w.Bottom) - i32::from(w.Top) + 1;
        (cols > 0 && rows > 0).then_some((cols as u32, rows as u32))
    }

    /// The console has no termios: the remote pty keeps its defaults (OpenSSH's Windows
    /// client sends none either).
    pub fn modes() -> Vec<(Pty, u32)> {
        Vec::new()
    }

    pub fn enter_raw() -> std::io::Result<Saved> {
        let input = mode_of(STD_INPUT_HANDLE).ok_or_else(std::io::Error::last_os_error)?;
        let raw_in = (input & !(ENABLE_LINE_INPUT | ENABLE_ECHO_INPUT | ENABLE_PROCESSED_INPUT))
            | ENABLE_VIRTUAL_TERMINAL_INPUT;
        if !set_mode(STD_INPUT_HANDLE, raw_in) {
            return Err(std::io::Error::last_os_error());
        }
        let output = mode_of(STD_OUTPUT_HANDLE);
        if let Some(out) = output {
            // Best effort: a console without VT processing still shows plain text.
            set_mode(
                STD_OUTPUT_HANDLE,
                out | ENABLE_VIRTUAL_TERMINAL_PROCESSING | DISABLE_NEWLINE_AUTO_RETURN,
            );
        }
        Ok(Saved { input, output })
    }

    pub fn restore(saved: &Saved) {
        set_mode(STD_INPUT_HANDLE, saved.input);
        if let Some(out) = saved.output {
            set_mode(STD_OUTPUT_HANDLE, out);
        }
    }

    /// The console's new size, polled: the console reports changes only as input records,
    /// which the reader of stdin would have to share.
    pub struct Resizes {
        /// The size last reported.
        last: Option<(u32, u32)>,
    }

    impl Resizes {
        /// Always available.
        pub fn new() -> Option<Resizes> {
            Some(Resizes { last: size() })
        }

        /// The next size different from the last one.
        pub async fn next(&mut self) -> Option<(u32, u32)> {
            loop {
                tokio::time::sleep(std::time::Duration::from_millis(250)).await;
                let now = size();
                if now.is_some() && now != self.last {
                    self.last = now;
                    return now;
                }
            }
        }
    }
}
