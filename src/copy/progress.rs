//! Progress bars for copies (indicatif): one per file and a total, on a terminal only.

use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

/// The bars; all no-ops when hidden.
pub struct Progress {
    /// The set of bars drawn together.
    multi: MultiProgress,
    /// The total, always last.
    total: ProgressBar,
    /// Whether anything is drawn.
    visible: bool,
}

impl Progress {
    /// Bars on stderr when `visible`, else nothing.
    pub fn new(visible: bool) -> Progress {
        let target = if visible {
            ProgressDrawTarget::stderr_with_hz(10)
        } else {
            ProgressDrawTarget::hidden()
        };
        let multi = MultiProgress::with_draw_target(target);
        let total = multi.add(ProgressBar::new(0));
        total.set_style(style(
            "{prefix:>12.bold} {wide_bar} {bytes}/{total_bytes} {bytes_per_sec} ETA {eta}",
        ));
        total.set_prefix("total");
        if visible {
            total.enable_steady_tick(Duration::from_millis(200));
        }
        Progress {
            multi,
            total,
            visible,
        }
    }

    /// A bar for one file of `size` bytes, `done` of them already there (resume).
    pub fn file(&self, name: &str, size: u64, done: u64) -> FileBar {
        self.total.inc_length(size.saturating_sub(done));
        let bar = if self.visible {
            let bar = self
                .multi
                .insert_before(&self.total, ProgressBar::new(size));
            bar.set_style(style(
                "{prefix:>12} {wide_bar} {bytes}/{total_bytes} {bytes_per_sec} ETA {eta}",
            ));
            bar.set_prefix(short(name));
            bar.set_position(done);
            bar
        } else {
            ProgressBar::hidden()
        };
        FileBar {
            bar,
            total: self.total.clone(),
        }
    }

    /// A line on stderr above the bars (which are drawn again below it).
    pub fn note(&self, line: &str) {
        if self.visible {
            let _ = self.multi.println(line);
        } else {
            eprintln!("{line}");
        }
    }

    /// Removes the bars (before the summary line).
    pub fn finish(&self) {
        self.total.finish_and_clear();
        let _ = self.multi.clear();
    }
}

/// One file's bar, which also advances the total.
pub struct FileBar {
    /// This file's bar (hidden when nothing is drawn).
    bar: ProgressBar,
    /// The total it also advances.
    total: ProgressBar,
}

impl FileBar {
    /// `n` more bytes confirmed.
    pub fn inc(&self, n: u64) {
        self.bar.inc(n);
        self.total.inc(n);
    }

    /// The file is done (or failed): the bar goes.
    pub fn done(&self) {
        self.bar.finish_and_clear();
    }
}

fn style(template: &str) -> ProgressStyle {
    ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_bar())
}

fn short(name: &str) -> String {
    let count = name.chars().count();
    if count <= 24 {
        name.to_string()
    } else {
        let tail: String = name.chars().skip(count - 23).collect();
        format!("…{tail}")
    }
}

/// `1.5 MiB`.
pub fn human_bytes(n: u64) -> String {
    indicatif::BinaryBytes(n).to_string()
}
