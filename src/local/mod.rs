//! The local side: stdin/stdout as the tunnel needs them, the terminal (raw mode, size),
//! the signals that end a command cleanly, and the files eic-ssh writes.

pub mod files;
pub mod signals;
pub mod space;
pub mod stdio;
pub mod terminal;
