//! The embedded SSH client: russh over the tunnel, with an in-memory key, our host-key
//! policy, and a session that behaves like OpenSSH's for shells and commands.

pub mod client;
pub mod escape;
pub mod host_keys;
pub mod key;
pub mod session;
