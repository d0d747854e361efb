//! Integration tests, `eic-ssh cp` against a real sshd through the emulator, and against an
//! SFTP server that lies. One test binary per surface; the shared harness is
//! tests/common/mod.rs.

#[path = "../common/mod.rs"]
mod common;

mod cp_e2e;
mod cp_hostile;
