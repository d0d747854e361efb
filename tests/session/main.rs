//! Integration tests, connecting: the embedded session, `run`, `proxy` as OpenSSH's
//! ProxyCommand and the roads it takes, opening the tunnel, the connection log, and every fault
//! against every front end. One test binary per surface; the shared harness is
//! tests/common/mod.rs.

#[path = "../common/mod.rs"]
mod common;

mod connection_log;
mod fault_matrix;
mod proxy_e2e;
mod proxy_roads;
mod run;
mod session_e2e;
mod tunnel_connect;
