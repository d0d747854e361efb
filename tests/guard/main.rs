//! Integration tests, the egress guard end to end, the route cache it decides on, and the
//! connections opened ahead while it decides. One test binary per surface; the shared harness
//! is tests/common/mod.rs.

#[path = "../common/mod.rs"]
mod common;

mod ahead;
mod guard;
mod route_cache;
