//! Where each host's output goes: its lines on our stdout and stderr, prefixed with its
//! label padded to one width and never interleaved mid-line (a whole line is one write under
//! the stream's lock); or files `DIR/LABEL.stdout`, `.stderr`, `.exit` (`--out-dir`); or,
//! with `--json`, kept up to a limit for the host's one JSON object.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::{Failure, Kind};
use crate::printable::escape_bytes;

/// What `--json` keeps of each stream of a host.
pub const JSON_LIMIT: usize = 64 * 1024;

/// A line longer than this is printed in pieces of this size (a remote that never ends its
/// line must not grow our memory).
const LONGEST_LINE: usize = 64 * 1024;

/// How the run shows output.
#[derive(Debug, Clone)]
pub enum Mode {
    /// Prefixed lines, the labels padded to `width`.
    Lines {
        /// The widest label's width.
        width: usize,
    },
    /// One file per host and stream in this directory.
    Dir(PathBuf),
    /// Kept for one JSON object per host.
    Json,
}

/// Which of the host's streams.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Which {
    /// The remote stdout.
    Out,
    /// The remote stderr.
    Err,
}

/// One stream of one host.
pub struct Stream {
    /// Which one.
    which: Which,
    /// `LABEL   | ` (prefixed mode).
    prefix: String,
    /// The line begun and not yet ended (prefixed mode).
    partial: Vec<u8>,
    /// The file it goes to (`--out-dir`).
    file: Option<File>,
    /// What `--json` keeps.
    pub kept: Vec<u8>,
    /// More came than `--json` keeps.
    pub truncated: bool,
    /// Whether bytes are kept for JSON.
    keep: bool,
}

impl Stream {
    /// The `which` stream of the host labelled `label` (`file_name` under `--out-dir`).
    pub fn new(mode: &Mode, which: Which, label: &str, file_name: &str) -> Result<Stream, Failure> {
        let mut stream = Stream {
            which,
            prefix: String::new(),
            partial: Vec::new(),
            file: None,
            kept: Vec::new(),
            truncated: false,
            keep: false,
        };
        match mode {
            Mode::Lines { width } => {
                let label = crate::printable::escape(label);
                stream.prefix = format!("{label:<width$} | ");
            }
            Mode::Dir(dir) => {
                let suffix = match which {
                    Which::Out => "stdout",
                    Which::Err => "stderr",
                };
                stream.file = Some(create(&dir.join(format!("{file_name}.{suffix}")))?);
            }
            Mode::Json => stream.keep = true,
        }
        Ok(stream)
    }

    /// Bytes from the host.
    pub fn push(&mut self, data: &[u8]) {
        if let Some(file) = &mut self.file {
            if let Err(e) = file.write_all(data) {
                tracing::warn!("cannot write a host's output: {e}");
            }
        } else if self.keep {
            let room = JSON_LIMIT.saturating_sub(self.kept.len());
            self.kept.extend_from_slice(&data[..data.len().min(room)]);
            self.truncated |= data.len() > room;
        } else {
            self.partial.extend_from_slice(data);
            while let Some(end) = self.partial.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = self.partial.drain(..=end).collect();
                self.print(&line[..end]);
            }
            while self.partial.len() >= LONGEST_LINE {
                let piece: Vec<u8> = self.partial.drain(..LONGEST_LINE).collect();
                self.print(&piece);
            }
        }
    }

    /// The stream ended: a last line without its newline is printed all the same.
    pub fn finish(&mut self) {
        if !self.partial.is_empty() {
            let rest = std::mem::take(&mut self.partial);
            self.print(&rest);
        }
        if let Some(file) = &mut self.file {
            let _ = file.flush();
        }
    }

    /// One line, prefixed, in one write: lines of other hosts never cut into it. The
    /// host's text is escaped (no cursor moves or colours can reach the terminal as another
    /// host's line).
    fn print(&self, line: &[u8]) {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let text = format!(
            "{}{}\n",
            self.prefix,
            escape_bytes(line).replace("\\t", "\t")
        );
        super::progress::print(|| {
            let _ = match self.which {
                Which::Out => std::io::stdout().lock().write_all(text.as_bytes()),
                Which::Err => std::io::stderr().lock().write_all(text.as_bytes()),
            };
        });
    }
}

/// Writes `DIR/NAME.exit`: the exit status, or the failure, one line.
pub fn write_exit(dir: &Path, file_name: &str, text: &str) {
    let path = dir.join(format!("{file_name}.exit"));
    if let Err(e) = create(&path).and_then(|mut f| {
        writeln!(f, "{text}").map_err(|e| Failure::new(Kind::Other, e.to_string()))
    }) {
        tracing::warn!("cannot write {}: {}", path.display(), e.message);
    }
}

fn create(path: &Path) -> Result<File, Failure> {
    File::create(path)
        .map_err(|e| Failure::new(Kind::Other, format!("cannot write {}: {e}", path.display())))
}

/// `--out-dir DIR` is usable: created when missing; else an empty directory; writable.
pub fn check_out_dir(dir: &Path) -> Result<(), Failure> {
    let shown = crate::printable::escape(&dir.display().to_string());
    let refuse = |why: String| Failure::usage(format!("--out-dir {shown}: {why}"));
    match std::fs::read_dir(dir) {
        Ok(mut entries) => {
            if entries.next().is_some() {
                return Err(refuse(
                    "the directory is not empty: give a new or empty one (each run writes its own)"
                        .into(),
                ));
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            std::fs::create_dir_all(dir).map_err(|e| refuse(format!("cannot create it: {e}")))?;
        }
        Err(e) if dir.exists() && !dir.is_dir() => {
            let _ = e;
            return Err(refuse("it is not a directory".into()));
        }
        Err(e) => return Err(refuse(format!("cannot read it: {e}"))),
    }
    // Writable: a probe file, created and removed.
    let probe = dir.join(".eic-ssh-probe");
    File::create(&probe).map_err(|e| refuse(format!("cannot write in it: {e}")))?;
    let _ = std::fs::remove_file(&probe);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_keeps_up_to_its_limit_and_says_so() {
        let mut s = Stream::new(&Mode::Json, Which::Out, "web-1", "web-1").unwrap();
        s.push(&vec![b'a'; JSON_LIMIT - 1]);
        assert!(!s.truncated);
        s.push(b"bc");
        assert!(s.truncated);
        assert_eq!(s.kept.len(), JSON_LIMIT);
    }

    #[test]
    fn out_dir_must_be_new_or_empty_and_a_directory() {
        let dir = tempfile::tempdir().unwrap();
        let fresh = dir.path().join("new/out");
        check_out_dir(&fresh).unwrap();
        assert!(fresh.is_dir());
        check_out_dir(&fresh).unwrap();
        std::fs::write(fresh.join("x"), "").unwrap();
        let e = check_out_dir(&fresh).unwrap_err();
        assert!(e.message.contains("is not empty"), "{}", e.message);
        let e = check_out_dir(&fresh.join("x")).unwrap_err();
        assert!(e.message.contains("not a directory"), "{}", e.message);
    }
}
