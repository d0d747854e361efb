//! The progress line of `eic-ssh run` on a terminal: hosts done (and failed), running, and
//! waiting for a slot on their endpoint, on stderr, redrawn in place. Only when stderr is
//! a terminal (the caller decides); every line the run prints goes through [`print`],
//! which clears the progress line first and draws it again after, under one lock, so a
//! host's line never lands inside it. Cleared with spaces and a carriage return, no escape
//! sequences, so any console shows it.

use std::io::Write;
use std::sync::Mutex;

/// The line's counts, and how wide it was last drawn.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Counts {
    /// Hosts in the run.
    pub total: usize,
    /// Hosts that ended, whatever the outcome.
    pub done: usize,
    /// Of those, the ones that did not exit 0.
    pub failed: usize,
    /// Hosts connecting or running the command.
    pub running: usize,
    /// Hosts waiting for a place on their endpoint.
    pub waiting: usize,
}

impl Counts {
    /// The line as drawn, e.g. `run: 37/120 done (3 failed), 40 running, 43 waiting for a slot`.
    pub fn text(&self) -> String {
        let mut text = format!("run: {}/{} done", self.done, self.total);
        if self.failed > 0 {
            text.push_str(&format!(" ({} failed)", self.failed));
        }
        text.push_str(&format!(", {} running", self.running));
        if self.waiting > 0 {
            text.push_str(&format!(", {} waiting for a slot", self.waiting));
        }
        text
    }
}

/// The line while a run shows one: its counts and the width on screen now (0: cleared).
struct Line {
    counts: Counts,
    shown: usize,
}

static LINE: Mutex<Option<Line>> = Mutex::new(None);

fn line() -> std::sync::MutexGuard<'static, Option<Line>> {
    LINE.lock().unwrap_or_else(|e| e.into_inner())
}

/// Starts showing the line for a run of `total` hosts.
pub fn start(total: usize) {
    let mut guard = line();
    let mut l = Line {
        counts: Counts {
            total,
            ..Counts::default()
        },
        shown: 0,
    };
    draw(&mut l);
    *guard = Some(l);
}

/// Changes the counts and draws the line again (nothing when no line is shown).
pub fn update(change: impl FnOnce(&mut Counts)) {
    if let Some(l) = line().as_mut() {
        change(&mut l.counts);
        clear(l);
        draw(l);
    }
}

/// Prints through `write` (a whole line on stdout or stderr) with the line cleared first
/// and drawn again after.
pub fn print(write: impl FnOnce()) {
    let mut guard = line();
    match guard.as_mut() {
        Some(l) => {
            clear(l);
            write();
            draw(l);
        }
        None => write(),
    }
}

/// Clears the line for good (before the summary).
pub fn end() {
    if let Some(mut l) = line().take() {
        clear(&mut l);
    }
}

fn draw(l: &mut Line) {
    let text = l.counts.text();
    let mut err = std::io::stderr().lock();
    let _ = write!(err, "\r{text}");
    let _ = err.flush();
    l.shown = text.chars().count();
}

fn clear(l: &mut Line) {
    if l.shown == 0 {
        return;
    }
    let mut err = std::io::stderr().lock();
    let _ = write!(err, "\r{}\r", " ".repeat(l.shown));
    let _ = err.flush();
    l.shown = 0;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_line_names_what_there_is() {
        let mut c = Counts {
            total: 120,
            ..Counts::default()
        };
        assert_eq!(c.text(), "run: 0/120 done, 0 running");
        (c.done, c.failed, c.running, c.waiting) = (37, 3, 40, 43);
        assert_eq!(
            c.text(),
            "run: 37/120 done (3 failed), 40 running, 43 waiting for a slot"
        );
    }
}
