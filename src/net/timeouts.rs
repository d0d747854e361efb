//! Every network phase's limit, in one table: what each phase is, how long it may take, and
//! why (docs/configuration.md, "Time limits", lists the same rows).

use std::time::Duration;

/// Opening a connection: TCP (to the host or the proxy), the proxy's answer to CONNECT,
/// TLS, and for a tunnel the WebSocket upgrade.
pub const CONNECT: Duration = Duration::from_secs(15);

/// One API call (EC2, EC2 Instance Connect, STS, SSO), connection included.
pub const API_CALL: Duration = Duration::from_secs(30);

/// One egress check request (checkip), connection included.
pub const EGRESS_CHECK: Duration = Duration::from_secs(3);

/// A kept-alive HTTP connection idle for longer is closed rather than used again.
pub const IDLE: Duration = Duration::from_secs(15);

/// A connection opened ahead and not taken within this time is closed unused.
pub const AHEAD_FRESH: Duration = Duration::from_secs(20);

/// How long the tunnel drains after the local side ends.
pub const DRAIN: Duration = Duration::from_secs(5);

/// A SOCKS client (`-D`) must finish its handshake within this time.
pub const SOCKS_HANDSHAKE: Duration = Duration::from_secs(10);

/// A forward waits this long for the tunnel to come up before it refuses a connection.
pub const WAIT_FOR_TUNNEL: Duration = Duration::from_secs(60);

/// A `credential_process` must print its credentials within this time.
pub const CREDENTIAL_PROCESS: Duration = Duration::from_secs(60);

/// Closing a tunnel or an SSH connection that is no longer used may take this long.
pub const CLOSE_GRACE: Duration = Duration::from_secs(2);

/// An SSH keepalive must come back within this time when an SFTP reply did not.
pub const SSH_PING: Duration = Duration::from_secs(10);

/// After the SSH connection is lost, a copy gets this long to write what had arrived.
pub const COPY_SETTLE: Duration = Duration::from_secs(5);

/// After SIGINT, SIGTERM or SIGHUP, what is open (tunnels, sessions, a run's hosts) gets
/// this long to close and be logged before the command exits anyway.
pub const STOP: Duration = Duration::from_secs(10);

/// One row of the table: the phase's name, its limit and one sentence.
pub struct Row {
    /// The phase, as docs/configuration.md names it.
    pub phase: &'static str,
    /// Its limit.
    pub limit: Duration,
    /// What it bounds.
    pub sentence: &'static str,
}

/// The table, for the documentation and its test.
pub const TABLE: [Row; 13] = [
    Row {
        phase: "connect",
        limit: CONNECT,
        sentence: "TCP to the host or the proxy, the proxy's CONNECT, TLS, and a tunnel's WebSocket upgrade",
    },
    Row {
        phase: "API call",
        limit: API_CALL,
        sentence: "one call to EC2, EC2 Instance Connect, STS or SSO, connection included",
    },
    Row {
        phase: "egress check",
        limit: EGRESS_CHECK,
        sentence: "one checkip request, connection included",
    },
    Row {
        phase: "idle connection",
        limit: IDLE,
        sentence: "a kept-alive HTTP connection idle longer is closed, not reused",
    },
    Row {
        phase: "connection opened ahead",
        limit: AHEAD_FRESH,
        sentence: "a connection opened while the guard decides and not taken by then is closed",
    },
    Row {
        phase: "drain",
        limit: DRAIN,
        sentence: "the tunnel drains this long after the local side ends",
    },
    Row {
        phase: "SOCKS handshake",
        limit: SOCKS_HANDSHAKE,
        sentence: "a `-D` client's SOCKS handshake",
    },
    Row {
        phase: "wait for the tunnel",
        limit: WAIT_FOR_TUNNEL,
        sentence: "a forwarded connection waits this long for the tunnel",
    },
    Row {
        phase: "credential_process",
        limit: CREDENTIAL_PROCESS,
        sentence: "a profile's credential_process must answer within this time",
    },
    Row {
        phase: "close",
        limit: CLOSE_GRACE,
        sentence: "closing a tunnel or SSH connection no longer used",
    },
    Row {
        phase: "SSH keepalive",
        limit: SSH_PING,
        sentence: "a keepalive answer, when `cp` asks whether a silent SFTP server or the connection is to blame",
    },
    Row {
        phase: "copy settle",
        limit: COPY_SETTLE,
        sentence: "after the connection is lost, `cp` writes what had arrived (for `--resume`)",
    },
    Row {
        phase: "stop",
        limit: STOP,
        sentence: "after SIGINT, SIGTERM or SIGHUP, open tunnels, sessions and a run's hosts close and are logged",
    },
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_documentation_lists_every_row() {
        let doc = include_str!("../../docs/configuration.md");
        for row in &TABLE {
            let line = format!("| {} | {} s |", row.phase, row.limit.as_secs());
            assert!(doc.contains(&line), "docs/configuration.md lacks `{line}`");
        }
    }
}
