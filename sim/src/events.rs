//! The JSON-lines event log that tests and the demo read: what the emulator saw and decided.

use std::fs::File;
use std::io::Write;
use std::path::Path;
use std::sync::{Condvar, Mutex};
use std::time::Instant;

use serde_json::{Value, json};

/// Append-only log, kept in memory and optionally mirrored to a file. Never holds secrets.
#[derive(Default)]
pub struct Events {
    memory: Mutex<Vec<Value>>,
    /// Notified at each event, for [`Events::wait_past`].
    recorded: Condvar,
    file: Option<Mutex<File>>,
}

impl Events {
    /// A log that also writes each event as one JSON line to `path`.
    pub fn to_file(path: &Path) -> std::io::Result<Self> {
        Ok(Events {
            memory: Mutex::default(),
            recorded: Condvar::new(),
            file: Some(Mutex::new(File::create(path)?)),
        })
    }

    /// Records an event: `kind` plus the fields of `detail` (a JSON object).
    pub fn record(&self, kind: &str, detail: Value) {
        let mut event = json!({
            "ts": time::OffsetDateTime::now_utc().unix_timestamp_nanos() as f64 / 1e9,
            "event": kind,
        });
        if let (Some(target), Value::Object(fields)) = (event.as_object_mut(), detail) {
            target.extend(fields);
        }
        if let Some(file) = &self.file {
            let mut f = file.lock().unwrap();
            let _ = writeln!(f, "{event}");
            let _ = f.flush();
        }
        self.memory.lock().unwrap().push(event);
        self.recorded.notify_all();
    }

    /// How many events so far.
    pub fn len(&self) -> usize {
        self.memory.lock().unwrap().len()
    }

    /// Whether there are none yet.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Blocks until there are more than `seen` events or `deadline` passes.
    pub fn wait_past(&self, seen: usize, deadline: Instant) {
        let mut memory = self.memory.lock().unwrap();
        while memory.len() <= seen {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return;
            }
            memory = self.recorded.wait_timeout(memory, left).unwrap().0;
        }
    }

    /// Every event so far.
    pub fn all(&self) -> Vec<Value> {
        self.memory.lock().unwrap().clone()
    }

    /// Events of one kind.
    pub fn of(&self, kind: &str) -> Vec<Value> {
        self.all()
            .into_iter()
            .filter(|e| e["event"] == kind)
            .collect()
    }
}
