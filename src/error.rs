//! The one place where a failure becomes a sentence for the user and an exit code: lower
//! layers say what went wrong (a [`Kind`]), [`Kind::exit`] maps it to the documented code,
//! and a front end may decide otherwise for its own command (the session exits 255).

use std::fmt;

/// Exit codes: stable and documented in docs/commands.md ("Exit codes").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Exit {
    /// Anything not covered below (an unexpected AWS error, an I/O error).
    Other = 1,
    /// Bad command-line arguments or a bad local file (key, CA bundle).
    Usage = 2,
    /// The egress guard refused to connect from this network.
    Refused = 3,
    /// AWS credentials are missing, expired or lack a permission.
    Credentials = 4,
    /// The instance or its endpoint does not exist or is not usable.
    NotFound = 5,
    /// The endpoint refused to open the tunnel (HTTP error at the handshake).
    TunnelRefused = 6,
    /// The tunnel opened, then the endpoint closed it with an error.
    TunnelClosed = 7,
    /// The network failed: DNS, TCP, TLS, proxy or a timeout.
    Network = 8,
    /// `audit --fail-on-outside`: a tunnel was opened from outside today's allowlist.
    Outside = 9,
    /// `run`: every host was reached and ran the command, and some command exited non-zero.
    CommandsFailed = 10,
    /// `run`: some hosts could not be reached, were refused by the guard, timed out or were
    /// never started (`--max-errors`).
    HostsFailed = 11,
    /// Ended by SIGHUP (128 + its number, as shells report it; on Windows, the console
    /// window closed).
    Hangup = 129,
    /// Stopped by Ctrl-C (128 + SIGINT, as shells report it).
    Interrupted = 130,
    /// Ended by SIGTERM (128 + its number; on Windows, log-off or shutdown).
    Terminated = 143,
    /// The embedded SSH session failed (connection, host key, authentication); like ssh,
    /// every failure of the session command itself is 255, so it never collides with the
    /// remote command's status.
    Session = 255,
}

impl Exit {
    /// Every code, in order: the one list that `--help` prints and that docs/commands.md's
    /// table is checked against (`tests/cli/exit_codes.rs`).
    pub const ALL: [Exit; 15] = [
        Exit::Other,
        Exit::Usage,
        Exit::Refused,
        Exit::Credentials,
        Exit::NotFound,
        Exit::TunnelRefused,
        Exit::TunnelClosed,
        Exit::Network,
        Exit::Outside,
        Exit::CommandsFailed,
        Exit::HostsFailed,
        Exit::Hangup,
        Exit::Interrupted,
        Exit::Terminated,
        Exit::Session,
    ];

    /// The process exit status for this code.
    pub fn code(self) -> i32 {
        self as i32
    }

    /// The tag of the error line that comes with this code (the kind's), if any.
    pub fn tag(self) -> Option<&'static str> {
        Kind::ALL.iter().find(|k| k.exit() == self).map(|k| k.tag())
    }

    /// What the code means, in a few words.
    pub fn meaning(self) -> &'static str {
        match self {
            Exit::Other => "other error (doctor: a check failed; cp: something was not copied)",
            Exit::Usage => "usage",
            Exit::Refused => "refused by the egress guard",
            Exit::Credentials => "AWS credentials or permissions",
            Exit::NotFound => "instance or endpoint not found or not usable",
            Exit::TunnelRefused => "the endpoint refused the tunnel",
            Exit::TunnelClosed => "the tunnel closed with an error",
            Exit::Network => "network",
            Exit::Outside => "audit --fail-on-outside: a tunnel came from outside the allowlist",
            Exit::CommandsFailed => "run: every host ran the command, some exited non-zero",
            Exit::HostsFailed => {
                "run: some hosts were not reached, refused, timed out or not started"
            }
            Exit::Hangup => "ended by SIGHUP",
            Exit::Interrupted => "interrupted (Ctrl-C, SIGINT)",
            Exit::Terminated => "ended by SIGTERM",
            Exit::Session => "the session (or cp's SSH connection) failed",
        }
    }
}

/// The exit codes as `--help` shows them, one per line with the error line's tag, from
/// [`Exit::ALL`].
pub fn exit_table() -> String {
    let mut out = String::from("Exit codes (and the error line's tag):\n  0    success\n");
    for exit in Exit::ALL {
        let tag = exit.tag().map_or(String::new(), |t| format!(" [{t}]"));
        out.push_str(&format!("  {:<4} {}{tag}\n", exit.code(), exit.meaning()));
    }
    out.push_str(SESSION_EXIT);
    out
}

/// How the session form exits, as `--help` and the man page say it.
pub const SESSION_EXIT: &str = "A session (`eic-ssh TARGET …`, `eic-ssh ssh TARGET …`) exits with the remote command's status, or 255 when eic-ssh itself fails, as ssh does; a signal that ends it (SIGHUP, SIGINT, SIGTERM) gives 128 + its number. With --exit-codes detailed (or EIC_SSH_EXIT_CODES=detailed) it exits with the code above instead, and every error line reads `eic-ssh: error[TAG]: …`.";

/// How a command that ran to its end finished (a failure is a [`Failure`]); its exit code
/// is decided here and nowhere else.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Everything asked was done: 0.
    Success,
    /// It ran, but not everything asked was done (cp: something was not copied; doctor: a
    /// check failed): 1.
    Incomplete,
    /// The remote command's own exit status, passed through (a signal as 128 + its number).
    Remote(u8),
    /// The session was ended from this side with `~.`: 255, as ssh does.
    Disconnected,
    /// `run`: every host reached, some command exited non-zero: 10.
    CommandsFailed,
    /// `run`: some host not reached, refused, timed out or not started: 11.
    HostsFailed,
    /// `audit --fail-on-outside` found a tunnel opened from outside the allowlist: 9.
    Outside,
    /// A signal asked it to stop (`proxy`, `tunnel`, the session, `-N`, `run`), and it
    /// closed what was open: 128 + the signal's number, as shells report it.
    Signalled(Signal),
}

/// The signal that ended a command (on Windows, the console event standing in for it:
/// Ctrl-C, the console window closed, log-off or shutdown).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    /// SIGHUP.
    Hangup,
    /// SIGINT (Ctrl-C).
    Interrupt,
    /// SIGTERM.
    Terminate,
}

impl Signal {
    /// The documented exit code for it.
    pub fn exit(self) -> Exit {
        match self {
            Signal::Hangup => Exit::Hangup,
            Signal::Interrupt => Exit::Interrupted,
            Signal::Terminate => Exit::Terminated,
        }
    }

    /// Its name, as `kill -l` and the log say it.
    pub fn name(self) -> &'static str {
        match self {
            Signal::Hangup => "SIGHUP",
            Signal::Interrupt => "SIGINT",
            Signal::Terminate => "SIGTERM",
        }
    }
}

impl Outcome {
    /// The process exit status.
    pub fn code(self) -> i32 {
        match self {
            Outcome::Success => 0,
            Outcome::Incomplete => Exit::Other.code(),
            Outcome::Remote(status) => i32::from(status),
            Outcome::Disconnected => Exit::Session.code(),
            Outcome::Signalled(signal) => signal.exit().code(),
            Outcome::Outside => Exit::Outside.code(),
            Outcome::CommandsFailed => Exit::CommandsFailed.code(),
            Outcome::HostsFailed => Exit::HostsFailed.code(),
        }
    }

    /// How the connection log words it (the status itself is in its `exit`).
    pub fn word(self) -> &'static str {
        match self {
            Outcome::Success | Outcome::Remote(_) => "ok",
            Outcome::Incomplete => "incomplete",
            Outcome::Outside => "a tunnel came from outside the allowlist",
            Outcome::Disconnected => "disconnected from this side (~.)",
            Outcome::Signalled(Signal::Hangup) => "ended by SIGHUP",
            Outcome::Signalled(Signal::Interrupt) => "ended by SIGINT",
            Outcome::Signalled(Signal::Terminate) => "ended by SIGTERM",
            Outcome::CommandsFailed => "some commands exited non-zero",
            Outcome::HostsFailed => "some hosts failed",
        }
    }
}

/// The exit code for a command line clap did not run: help and version are not failures;
/// a usage error exits 2, except in the session form, which (like ssh) keeps every code
/// below 255 for the remote command and so exits 255 unless `detailed` codes were asked for.
pub fn command_line_exit(help_or_version: bool, session_form: bool, detailed: bool) -> i32 {
    match (help_or_version, session_form && !detailed) {
        (true, _) => 0,
        (false, true) => Exit::Session.code(),
        (false, false) => Exit::Usage.code(),
    }
}

/// What went wrong, by stage; each layer picks one and never an exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Anything not covered below (an unexpected AWS error, an I/O error).
    Other,
    /// Bad command-line arguments or a bad local file (key, CA bundle, config).
    Usage,
    /// The egress guard refused this network.
    Refused,
    /// AWS credentials are missing, expired or lack a permission.
    Credentials,
    /// The instance or its endpoint does not exist or is not usable.
    NotFound,
    /// The endpoint refused to open the tunnel.
    TunnelRefused,
    /// The tunnel closed with an error, or the connection through it was lost.
    TunnelClosed,
    /// The network failed: DNS, TCP, TLS, proxy or a timeout.
    Network,
    /// Stopped by Ctrl-C.
    Interrupted,
    /// The SSH connection failed: host key, authentication, handshake, a channel.
    Ssh,
}

impl Kind {
    /// The one map from what went wrong to the documented exit code.
    pub fn exit(self) -> Exit {
        match self {
            Kind::Other => Exit::Other,
            Kind::Usage => Exit::Usage,
            Kind::Refused => Exit::Refused,
            Kind::Credentials => Exit::Credentials,
            Kind::NotFound => Exit::NotFound,
            Kind::TunnelRefused => Exit::TunnelRefused,
            Kind::TunnelClosed => Exit::TunnelClosed,
            Kind::Network => Exit::Network,
            Kind::Interrupted => Exit::Interrupted,
            // Like ssh: 255 never collides with a remote command's status.
            Kind::Ssh => Exit::Session,
        }
    }

    /// Every kind, in the order of their exit codes.
    pub const ALL: [Kind; 10] = [
        Kind::Other,
        Kind::Usage,
        Kind::Refused,
        Kind::Credentials,
        Kind::NotFound,
        Kind::TunnelRefused,
        Kind::TunnelClosed,
        Kind::Network,
        Kind::Interrupted,
        Kind::Ssh,
    ];

    /// The stable tag of the error line (`eic-ssh: error[TAG]: …`) with detailed exit codes:
    /// one per kind, documented beside its exit code; a script matches on it.
    pub fn tag(self) -> &'static str {
        match self {
            Kind::Other => "other",
            Kind::Usage => "usage",
            Kind::Refused => "refused",
            Kind::Credentials => "credentials",
            Kind::NotFound => "not-found",
            Kind::TunnelRefused => "tunnel-refused",
            Kind::TunnelClosed => "tunnel-closed",
            Kind::Network => "network",
            Kind::Interrupted => "interrupted",
            Kind::Ssh => "ssh",
        }
    }
}

/// A failure ready to show: one line that says what happened and what to do.
#[derive(Debug, Clone)]
pub struct Failure {
    /// What went wrong.
    pub kind: Kind,
    /// The exit code, when a front end decided it for its own command (the session);
    /// else the kind's.
    exit: Option<Exit>,
    /// The sentence printed after `eic-ssh: `.
    pub message: String,
}

impl Failure {
    /// A failure of the given kind.
    pub fn new(kind: Kind, message: impl Into<String>) -> Self {
        Failure {
            kind,
            exit: None,
            message: message.into(),
        }
    }

    /// A usage error.
    pub fn usage(message: impl Into<String>) -> Self {
        Failure::new(Kind::Usage, message)
    }

    /// The same failure, exiting with `exit` (a front end's own decision).
    pub fn exiting(self, exit: Exit) -> Self {
        Failure {
            exit: Some(exit),
            ..self
        }
    }

    /// The code the process exits with.
    pub fn exit(&self) -> Exit {
        self.exit.unwrap_or(self.kind.exit())
    }

    /// The same failure as the session form ends with it: 255, as ssh does, unless the
    /// user asked for `detailed` codes (then the kind's own).
    pub fn of_session(self, detailed: bool) -> Self {
        if detailed {
            self
        } else {
            self.exiting(Exit::Session)
        }
    }

    /// The line printed on stderr: `eic-ssh: MESSAGE`, or with `tagged` (detailed exit
    /// codes) `eic-ssh: error[TAG]: MESSAGE`.
    pub fn line(&self, tagged: bool) -> String {
        if tagged {
            format!("eic-ssh: error[{}]: {}", self.kind.tag(), self.message)
        } else {
            format!("eic-ssh: {}", self.message)
        }
    }
}

/// `first` and `then` as two sentences, without doubling a final period.
pub fn sentences(first: &str, then: &str) -> String {
    if first.ends_with('.') {
        format!("{first} {then}")
    } else {
        format!("{first}. {then}")
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Failure {}
/// An error with its chain of causes, on one line, each said once: a cause whose text is
/// already in the line is left out, and so are the labels the HTTP libraries wrap a cause
/// in (reqwest's "error sending request for url (…)", hyper-util's "client error
/// (Connect)", "dns error", "error resolving DNS"), which the cause below them says better:
/// one DNS failure reads as one failed lookup, not three. The callers name the URL.
pub fn with_causes(e: &dyn std::error::Error) -> String {
    let mut chain = vec![e.to_string()];
    let mut source = e.source();
    while let Some(cause) = source {
        chain.push(cause.to_string());
        source = cause.source();
    }
    let last = chain.len() - 1;
    let mut said: Vec<String> = Vec::new();
    for (i, text) in chain.into_iter().enumerate() {
        let repeated = said.iter().any(|s| s.contains(&text));
        if text.is_empty() || repeated || (i < last && is_label(&text)) {
            continue;
        }
        said.push(text);
    }
    said.join(": ")
}

/// A wrapper's text that names no cause of its own.
fn is_label(text: &str) -> bool {
    const LABELS: [&str; 5] = [
        "client error (Connect)",
        "client error (SendRequest)",
        "dns error",
        "error resolving DNS",
        "error sending request",
    ];
    LABELS.iter().any(|l| text.eq_ignore_ascii_case(l))
        || text.starts_with("error sending request for url (")
}
