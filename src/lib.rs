//! eic-ssh: SSH to private EC2 instances through an EC2 Instance Connect Endpoint.
//!
//! The data path: `cli` → `connector` (AWS discovery and key push in `aws`) → `tunnel`
//! (presigned WebSocket as a byte stream) → a front end in `commands`.

pub mod aws;
pub mod cli;
pub mod commands;
pub mod config;
pub mod connector;
pub mod copy;
pub mod doctor;
pub mod egress;
pub mod error;
pub mod http;
pub mod logging;
pub mod printable;
pub mod signals;
pub mod ssh;
pub mod stdio;
pub mod target;
pub mod tls;
pub mod tunnel;
pub mod wildcard;
