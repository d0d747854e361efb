//! The local terminal for interactive sessions: raw mode (always restored), size, modes.

use std::sync::Mutex;

use russh::Pty;

/// The terminal settings to put back, for the panic hook.
static SAVED: Mutex<Option<libc::termios>> = Mutex::new(None);

/// Whether `fd` is a terminal.
pub fn is_tty(fd: libc::c_int) -> bool {
    // SAFETY: isatty only inspects the descriptor.
    unsafe { libc::isatty(fd) == 1 }
}

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

/// `$TERM`, else `xterm-256color`.
pub fn term() -> String {
    std::env::var("TERM")
        .ok()
        .filter(|t| !t.is_empty())
        .unwrap_or_else(|| "xterm-256color".into())
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
    vec![
        (Pty::VINTR, cc(libc::VINTR)),
        (Pty::VQUIT, cc(libc::VQUIT)),
        (Pty::VERASE, cc(libc::VERASE)),
        (Pty::VKILL, cc(libc::VKILL)),
        (Pty::VEOF, cc(libc::VEOF)),
        (Pty::VSUSP, cc(libc::VSUSP)),
        (Pty::VWERASE, cc(libc::VWERASE)),
        (Pty::ICRNL, flag(t.c_iflag, libc::ICRNL)),
        (Pty::IXON, flag(t.c_iflag, libc::IXON)),
        (Pty::IUTF8, flag(t.c_iflag, libc::IUTF8)),
        (Pty::ISIG, flag(t.c_lflag, libc::ISIG)),
        (Pty::ICANON, flag(t.c_lflag, libc::ICANON)),
        (Pty::ECHO, flag(t.c_lflag, libc::ECHO)),
        (Pty::ECHOE, flag(t.c_lflag, libc::ECHOE)),
        (Pty::ECHOK, flag(t.c_lflag, libc::ECHOK)),
        (Pty::OPOST, flag(t.c_oflag, libc::OPOST)),
        (Pty::ONLCR, flag(t.c_oflag, libc::ONLCR)),
    ]
}

/// Raw mode on stdin while this value lives; the old settings come back on drop, on panic
/// (see [`restore_on_panic`]), and so on every exit path that unwinds or returns.
pub struct RawMode {
    /// The settings before raw mode.
    original: libc::termios,
}

impl RawMode {
    /// Switches stdin to raw mode.
    pub fn enter() -> std::io::Result<RawMode> {
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
            *SAVED.lock().unwrap_or_else(|e| e.into_inner()) = Some(original);
            Ok(RawMode { original })
        }
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        restore(&self.original);
        *SAVED.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }
}

fn restore(t: &libc::termios) {
    // SAFETY: puts back settings read from the same descriptor.
    unsafe {
        libc::tcsetattr(libc::STDIN_FILENO, libc::TCSADRAIN, t);
    }
}

/// Makes a panic restore the terminal before the message is printed.
pub fn restore_on_panic() {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if let Some(t) = SAVED.lock().unwrap_or_else(|e| e.into_inner()).take() {
            restore(&t);
        }
        previous(info);
    }));
}
