//! The API calls' HTTP/1.1 connections: `net::http`'s client (kept here under its old
//! names for the callers in `aws`).

pub use crate::net::http::{CallError, Client as ApiConnections, target};

/// How long one API call may take, connection included.
pub const CALL_TIMEOUT: std::time::Duration = crate::net::timeouts::API_CALL;
