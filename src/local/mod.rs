//! The local side of a session: stdin/stdout as the tunnel needs them, the terminal (raw
//! mode, size), and the signals that end a command cleanly.

pub mod signals;
pub mod stdio;
pub mod terminal;
