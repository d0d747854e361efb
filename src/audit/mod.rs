//! The audit report: CloudTrail's record of tunnels and key pushes, each judged by today's
//! allowlist for the instance it reached (`report`), over a window read from the command
//! line (`window`). Plain functions: the command wires the AWS reads in.

pub mod report;
pub mod window;
