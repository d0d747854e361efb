//! One question on the controlling terminal, even when stdin and stdout are ssh's pipes (as
//! a ProxyCommand's are): `/dev/tty` on Unix, the console's `CONIN$`/`CONOUT$` on Windows.

use std::io::{BufRead, Write};

/// Writes `question` to the terminal and reads one line of answer, without its line end.
/// Fails when the process has no terminal (cron, CI, a service), so callers can say what to
/// do instead of waiting for an answer that cannot come.
pub fn ask(question: &str) -> std::io::Result<String> {
    let (input, mut output) = imp::open()?;
    output.write_all(question.as_bytes())?;
    output.flush()?;
    let mut line = String::new();
    std::io::BufReader::new(input).read_line(&mut line)?;
    Ok(line.trim_end_matches(['\r', '\n']).to_string())
}

/// [`ask`] on a blocking thread: the runtime's own thread goes on meanwhile (timers,
/// keepalives, connections opened ahead), however long the user takes to answer.
pub async fn ask_async(question: String) -> std::io::Result<String> {
    tokio::task::spawn_blocking(move || ask(&question))
        .await
        .map_err(std::io::Error::other)?
}

#[cfg(unix)]
mod imp {
    use std::fs::{File, OpenOptions};

    /// The controlling terminal, once for reading and once for writing.
    pub fn open() -> std::io::Result<(File, File)> {
        let tty = OpenOptions::new().read(true).write(true).open("/dev/tty")?;
        let out = tty.try_clone()?;
        Ok((tty, out))
    }
}

#[cfg(windows)]
mod imp {
    use std::fs::{File, OpenOptions};

    /// The console's input and output buffers: they exist whenever the process has a
    /// console, whatever its standard handles are redirected to.
    pub fn open() -> std::io::Result<(File, File)> {
        let input = OpenOptions::new().read(true).write(true).open("CONIN$")?;
        let output = OpenOptions::new().read(true).write(true).open("CONOUT$")?;
        Ok((input, output))
    }
}
