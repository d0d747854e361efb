//! Integration tests, forwards and listeners: `-L`, `-D`, `-N` and `eic-ssh tunnel`. One test
//! binary per surface; the shared harness is tests/common/mod.rs.

#[path = "../common/mod.rs"]
mod common;

mod forward;
mod listener;
