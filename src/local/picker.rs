//! The instance picker's terminal side: a list filtered as you type (fuzzy), drawn on stderr,
//! keys read from the terminal (dialoguer over console, which works on Unix terminals and
//! the Windows console alike), and the cursor shown again however the pick ends.

use std::io;

/// Whether a pick can be offered: keys come from stdin and the list goes to stderr, so both
/// must be terminals.
pub fn available() -> bool {
    super::terminal::stdin_is_tty() && super::terminal::stderr_is_tty()
}

/// Shows `prompt` and `items` (text already made safe for the terminal) until one is chosen
/// with Enter (`Some` of its index) or the pick is abandoned with Esc (`None`). Ctrl-C ends
/// the process as it would have, the cursor shown again first. The keys are read on a
/// blocking thread, not on the runtime's.
pub async fn pick(prompt: &'static str, items: Vec<String>) -> io::Result<Option<usize>> {
    tokio::task::spawn_blocking(move || pick_blocking(prompt, &items))
        .await
        .map_err(io::Error::other)?
}

fn pick_blocking(prompt: &str, items: &[String]) -> io::Result<Option<usize>> {
    let term = dialoguer::console::Term::stderr();
    let interrupt = imp::show_cursor_on_interrupt();
    let chosen = dialoguer::FuzzySelect::new()
        .with_prompt(prompt)
        .items(items)
        .default(0)
        .max_length(15)
        .interact_on_opt(&term);
    drop(interrupt);
    // A failed draw may leave the cursor hidden.
    let _ = term.show_cursor();
    chosen.map_err(|dialoguer::Error::IO(e)| e)
}

#[cfg(unix)]
mod imp {
    /// The signals that end the process while the list is up (console turns Ctrl-C into
    /// SIGINT).
    const SIGNALS: [libc::c_int; 3] = [libc::SIGINT, libc::SIGQUIT, libc::SIGTERM];

    /// The actions the signals had before, put back at drop.
    pub struct Guard(Vec<(libc::c_int, libc::sigaction)>);

    /// Shows the cursor (the list hid it), then dies of the same signal, as without us.
    extern "C" fn show_cursor_and_die(signal: libc::c_int) {
        const SHOW: &[u8] = b"\x1b[?25h\r\n";
        // SAFETY: write, signal and raise are async-signal-safe.
        unsafe {
            libc::write(libc::STDERR_FILENO, SHOW.as_ptr().cast(), SHOW.len());
            libc::signal(signal, libc::SIG_DFL);
            libc::raise(signal);
        }
    }

    /// Installs [`show_cursor_and_die`] for [`SIGNALS`] until the guard drops.
    pub fn show_cursor_on_interrupt() -> Guard {
        let mut saved = Vec::new();
        for signal in SIGNALS {
            // SAFETY: sigaction with structures we own; the handler only calls
            // async-signal-safe functions.
            unsafe {
                let mut action: libc::sigaction = std::mem::zeroed();
                action.sa_sigaction = show_cursor_and_die as *const () as libc::sighandler_t;
                libc::sigemptyset(&mut action.sa_mask);
                let mut old: libc::sigaction = std::mem::zeroed();
                if libc::sigaction(signal, &action, &mut old) == 0 {
                    saved.push((signal, old));
                }
            }
        }
        Guard(saved)
    }

    impl Drop for Guard {
        fn drop(&mut self) {
            for (signal, old) in &self.0 {
                // SAFETY: puts back the action sigaction gave us.
                unsafe {
                    libc::sigaction(*signal, old, std::ptr::null_mut());
                }
            }
        }
    }
}

#[cfg(windows)]
mod imp {
    use windows_sys::Win32::Foundation::{FALSE, TRUE};
    use windows_sys::Win32::System::Console::SetConsoleCtrlHandler;
    use windows_sys::core::BOOL;

    /// The handler is removed at drop.
    pub struct Guard(bool);

    /// Runs on its own thread for Ctrl-C or Ctrl-Break: shows the cursor, then lets the
    /// default handler end the process.
    unsafe extern "system" fn show_cursor(_: u32) -> BOOL {
        let _ = dialoguer::console::Term::stderr().show_cursor();
        FALSE
    }

    /// Adds [`show_cursor`] to the console's control handlers until the guard drops.
    pub fn show_cursor_on_interrupt() -> Guard {
        // SAFETY: registers a handler that lives for the whole program.
        Guard(unsafe { SetConsoleCtrlHandler(Some(show_cursor), TRUE) } != 0)
    }

    impl Drop for Guard {
        fn drop(&mut self) {
            if self.0 {
                // SAFETY: removes the handler added above.
                unsafe { SetConsoleCtrlHandler(Some(show_cursor), FALSE) };
            }
        }
    }
}
