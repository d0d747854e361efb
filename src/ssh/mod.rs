//! The embedded SSH client: russh over the tunnel, with an in-memory key, our host-key
//! policy, a session that behaves like OpenSSH's for shells and commands, and `-L`/`-D`
//! forwards as channels of the same connection.

pub mod ciphers;
pub mod client;
pub mod deadline;
pub mod escape;
pub mod forward;
pub mod host_keys;
pub mod key;
pub mod session;
pub mod socks;
