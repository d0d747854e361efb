//! One connection attempt of a front end (the session, `cp`, `proxy`, each `tunnel`
//! connection): what the stages learned and how it ended, appended as one log entry.

use std::time::Instant;

use crate::error::{Failure, Outcome};
use crate::logbook::{self, Entry};
use crate::route::Learned;

/// An attempt under way: the front end fills `learned` through the stages, then `finish`.
pub struct Attempt {
    /// What the log calls the command.
    command: &'static str,
    /// The target as typed.
    target: String,
    /// When it started.
    started: Instant,
    /// What the stages learned so far.
    pub learned: Learned,
}

impl Attempt {
    /// Starts an attempt of `command` on `target`.
    pub fn new(command: &'static str, target: &str) -> Attempt {
        Attempt {
            command,
            target: target.to_string(),
            started: Instant::now(),
            learned: Learned::default(),
        }
    }

    /// Logs the attempt as one entry (unless `log = false`), then hands `result` back.
    pub fn finish(self, result: Result<Outcome, Failure>) -> Result<Outcome, Failure> {
        if !self.learned.log_off {
            logbook::append(&self.entry(result.as_ref().copied()));
        }
        result
    }

    /// The entry for this attempt, ended with `result`.
    pub fn entry(&self, result: Result<Outcome, &Failure>) -> Entry {
        let mut entry = Entry::new(self.command, &self.target);
        self.learned.record(&mut entry);
        (entry.outcome, entry.exit) = match result {
            Ok(outcome) => (outcome.word().to_string(), outcome.code()),
            Err(f) => (f.message.clone(), f.exit().code()),
        };
        entry.duration_ms = u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX);
        entry
    }
}
