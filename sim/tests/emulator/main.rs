//! The emulator's own tests, in one binary: latency at a distance, the lying SFTP server,
//! the tunnel's rules and the world read again on SIGHUP.

mod latency;
mod sftp_liar;
mod tunnel_rules;
mod world_reload;
