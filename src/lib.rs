//! eic-ssh: SSH to private EC2 instances through an EC2 Instance Connect Endpoint.
//!
//! Each folder is one stage of the pipeline, a front end that wires it, or a helper every
//! stage may use (docs/design.md, "Module map"):
//!
//! ```text
//! config → target → route → guard → aws → net → tunnel → ssh → front end
//! ```
//!
//! `cli` is seen only by `commands` and `connect`, which wire the stages for each front end
//! and decide what the process exits with.

pub mod audit;
pub mod aws;
pub mod cache_file;
pub mod cli;
pub mod commands;
pub mod config;
pub mod connect;
pub mod copy;
pub mod error;
pub mod family;
pub mod fleet;
pub mod guard;
pub mod local;
pub mod logbook;
pub mod logging;
pub mod net;
pub mod openssh;
/// The connections opened ahead live in `net`; the old path stays.
pub use net::ahead;
pub mod plain_name;
pub mod printable;
pub mod route;
pub mod ssh;
pub mod target;
pub mod tunnel;
pub mod wildcard;
