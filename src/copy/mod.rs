//! `eic-ssh cp`: scp-style copies over SFTP inside the embedded session. Operands in
//! `operands`, pipelined SFTP in `sftp`, the copy rules (temporary names, resume, -r, -p)
//! in `transfer`, bars in `progress`, the watch on the SFTP stream (reply bounds,
//! protocol violations) in `wire`.

pub mod names;
pub mod operands;
pub mod progress;
pub mod sftp;
pub mod transfer;
pub mod wire;
