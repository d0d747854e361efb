//! The local side, and the one place that names the operating system: stdin/stdout as
//! the tunnel needs them, the terminal (raw mode, size; the instance picker), the signals that end a command
//! cleanly, where files live, the files eic-ssh reads and writes, the agent, and the
//! directory-confined writes of `cp`. Each module has one API with `cfg(unix)` and
//! `cfg(windows)` implementations; nothing outside `src/local/` names `libc`, `rustix`,
//! `std::os::unix`/`std::os::fd` or tokio's Unix-only parts (`tests/cli/platform_seam.rs`).

pub mod agent;
pub mod confined;
pub mod files;
pub mod memory;
pub mod paths;
pub mod picker;
pub mod private;
pub mod prompt;
pub mod shell;
pub mod signals;
pub mod slots;
pub mod stdio;
pub mod terminal;
