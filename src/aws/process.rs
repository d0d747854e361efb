//! `credential_process` run by eic-ssh rather than by the SDK, which waits for it forever
//! and puts what it wrote on stderr into its error untouched: here the process has
//! [`TIMEOUT`] to answer and is killed when it does not, its output is bounded, and its
//! stderr is shown escaped (it may hold escape sequences, or secrets meant for a log).

use std::process::Stdio;
use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_credential_types::provider::error::CredentialsError;
use aws_credential_types::provider::{self, ProvideCredentials, future};
use tokio::io::{AsyncRead, AsyncReadExt};

/// How long a `credential_process` may run. The AWS CLI waits forever; a minute is room
/// for one that asks for a code on the terminal.
pub const TIMEOUT: Duration = crate::net::timeouts::CREDENTIAL_PROCESS;

/// Shortens [`TIMEOUT`] (whole seconds, at least 1; never lengthens it).
pub const TIMEOUT_VARIABLE: &str = "EIC_SSH_CREDENTIAL_PROCESS_TIMEOUT_SECS";

/// The most eic-ssh keeps of what the process writes on stdout, and on stderr (64 KiB;
/// credentials are under 2 KiB). The rest is read and dropped, so the process never blocks.
const MAX_OUTPUT: usize = 64 << 10;

/// The most of its stderr a failure shows, in characters once escaped.
const MAX_SHOWN: usize = 1000;

/// Credentials are run for again when they expire within this time.
const REFRESH_BEFORE: Duration = Duration::from_secs(60);

/// Profile settings the SDK's chain takes before `credential_process`: with any of them,
/// the SDK runs the profile as it always did.
const TAKEN_FIRST: &[&str] = &[
    "role_arn",
    "credential_source",
    "web_identity_token_file",
    "sso_session",
    "sso_start_url",
    "sso_account_id",
    "sso_role_name",
    "login_session",
];

/// A failure of the process, as the user reads it (one sentence, naming the profile and
/// the command).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ProcessError(pub String);

/// The selected profile's `credential_process`, run here.
#[derive(Debug)]
pub struct CredentialProcess {
    /// The profile that names it.
    profile: String,
    /// The command line, run through the shell as the AWS CLI runs it.
    command: String,
    /// How long it may run.
    timeout: Duration,
    /// What it answered last, reused while fresh; the lock makes concurrent callers wait
    /// for one run.
    issued: tokio::sync::Mutex<Option<Credentials>>,
}

impl CredentialProcess {
    /// The selected profile's `credential_process`, when the SDK's chain would run it for
    /// this profile: no keys in the environment (they come first) and nothing in the
    /// profile that the SDK takes before it ([`TAKEN_FIRST`]).
    pub async fn of_profile(profile: Option<&str>) -> Option<CredentialProcess> {
        if std::env::var_os("AWS_ACCESS_KEY_ID").is_some_and(|v| !v.is_empty()) {
            return None;
        }
        let p = super::profile_file::selected(profile).await.ok()??;
        let command = p.get("credential_process")?;
        if TAKEN_FIRST.iter().any(|k| p.get(k).is_some()) {
            return None;
        }
        Some(CredentialProcess {
            profile: p.name().to_string(),
            command: command.to_string(),
            timeout: timeout(),
            issued: tokio::sync::Mutex::new(None),
        })
    }

    async fn credentials(&self) -> provider::Result {
        let mut issued = self.issued.lock().await;
        let fresh = |c: &&Credentials| {
            c.expiry()
                .is_none_or(|t| t > SystemTime::now() + REFRESH_BEFORE)
        };
        if let Some(c) = issued.as_ref().filter(fresh) {
            return Ok(c.clone());
        }
        let c = self.run().await.map_err(CredentialsError::provider_error)?;
        *issued = Some(c.clone());
        Ok(c)
    }

    /// Runs the process once, within the time it has; kills it when that is over.
    async fn run(&self) -> Result<Credentials, ProcessError> {
        tracing::debug!("running the credential_process of profile {}", self.profile);
        let mut command = crate::local::shell::command(&self.command);
        command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut child = command
            .spawn()
            .map_err(|e| self.failed(&format!("could not be started: {e}")))?;
        let (stdout, stderr) = (child.stdout.take(), child.stderr.take());
        let finished = tokio::time::timeout(self.timeout, async {
            let (out, err) = tokio::join!(read_capped(stdout), read_capped(stderr));
            (out, err, child.wait().await)
        })
        .await;
        let Ok((out, err, status)) = finished else {
            let _ = child.start_kill();
            let _ = child.wait().await;
            return Err(self.failed(&format!(
                "did not finish within {} s, so eic-ssh stopped it: run it yourself to see what it waits for",
                self.timeout.as_secs()
            )));
        };
        let status = status.map_err(|e| self.failed(&format!("could not be waited for: {e}")))?;
        let ((out, out_cut), (err, _)) = (
            out.map_err(|e| self.failed(&format!("could not be read: {e}")))?,
            err.unwrap_or_default(),
        );
        if !status.success() {
            return Err(self.failed(&format!("failed ({status}){}", said(&err))));
        }
        if out_cut {
            return Err(self.failed(&format!(
                "wrote more than {} on stdout, which is not credentials",
                crate::net::size_words(MAX_OUTPUT)
            )));
        }
        parse(&out).map_err(|why| {
            self.failed(&format!(
                "did not print credentials as the AWS CLI expects them ({why}): {{\"Version\": 1, \"AccessKeyId\": …, \"SecretAccessKey\": …, \"SessionToken\": …, \"Expiration\": …}}"
            ))
        })
    }

    /// `profile NAME: credential_process `PROGRAM …` WHAT`: the program, not its
    /// arguments, which may hold secrets (the SDK keeps them out of its logs too).
    fn failed(&self, what: &str) -> ProcessError {
        let mut words = self.command.split_whitespace();
        let program = words.next().unwrap_or_default();
        let more = if words.next().is_some() { " …" } else { "" };
        ProcessError(format!(
            "profile {}: credential_process `{}{more}` {what}",
            crate::printable::escape(&self.profile),
            crate::printable::escape(program)
        ))
    }
}

impl ProvideCredentials for CredentialProcess {
    fn provide_credentials<'a>(&'a self) -> future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        future::ProvideCredentials::new(self.credentials())
    }
}

/// [`TIMEOUT`], or less when [`TIMEOUT_VARIABLE`] says so.
fn timeout() -> Duration {
    std::env::var(TIMEOUT_VARIABLE)
        .ok()
        .and_then(|s| s.trim().parse::<u64>().ok())
        .map_or(TIMEOUT, |s| Duration::from_secs(s.max(1)).min(TIMEOUT))
}

/// Everything `pipe` gives until it ends, keeping the first [`MAX_OUTPUT`] bytes; `true`
/// when more came.
async fn read_capped(pipe: Option<impl AsyncRead + Unpin>) -> std::io::Result<(Vec<u8>, bool)> {
    let Some(mut pipe) = pipe else {
        return Ok((Vec::new(), false));
    };
    let mut kept = Vec::new();
    let mut cut = false;
    let mut buf = [0u8; 8192];
    loop {
        let n = pipe.read(&mut buf).await?;
        if n == 0 {
            return Ok((kept, cut));
        }
        let room = MAX_OUTPUT - kept.len();
        kept.extend_from_slice(&buf[..n.min(room)]);
        cut |= n > room;
    }
}

/// `: WHAT IT SAID` (escaped, trimmed, the start of it), or that it said nothing.
fn said(stderr: &[u8]) -> String {
    let text = crate::printable::escape_bytes(stderr.trim_ascii());
    if text.is_empty() {
        return " and wrote nothing on stderr".into();
    }
    match text.char_indices().nth(MAX_SHOWN) {
        Some((at, _)) => format!(": {}…", &text[..at]),
        None => format!(": {text}"),
    }
}

/// The credentials in the process's JSON (`Version` 1; keys matched regardless of case,
/// as the SDK does). The reason never quotes the output: it holds the secret.
fn parse(out: &[u8]) -> Result<Credentials, String> {
    use serde_json::Value;
    let value: Value = serde_json::from_slice(out).map_err(|_| "its output is not JSON")?;
    let object = value.as_object().ok_or("its output is not a JSON object")?;
    let get = |name: &str| {
        object
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    };
    match get("Version").map(Value::as_i64) {
        Some(Some(1)) => {}
        Some(_) => return Err("Version is not 1".into()),
        None => return Err("Version is missing".into()),
    }
    let text = |name: &str| -> Result<Option<String>, String> {
        match get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(format!("{name} is not a string")),
        }
    };
    let key = text("AccessKeyId")?.ok_or("AccessKeyId is missing")?;
    let secret = text("SecretAccessKey")?.ok_or("SecretAccessKey is missing")?;
    let expiry = match text("Expiration")? {
        Some(s) => Some(
            aws_smithy_types::DateTime::from_str(&s, aws_smithy_types::date_time::Format::DateTime)
                .ok()
                .and_then(|t| SystemTime::try_from(t).ok())
                .ok_or("Expiration is not an RFC 3339 time")?,
        ),
        None => None,
    };
    Ok(Credentials::new(
        key,
        secret,
        text("SessionToken")?,
        expiry,
        "CredentialProcess",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_json_of_the_aws_cli_and_what_is_wrong_with_it() {
        let c = parse(br#"{"Version": 1, "AccessKeyId": "AKID", "SecretAccessKey": "s3cret", "SessionToken": "tok", "Expiration": "2030-01-01T00:00:00Z"}"#).unwrap();
        assert_eq!(c.access_key_id(), "AKID");
        assert_eq!(c.session_token(), Some("tok"));
        assert!(c.expiry().is_some());
        let c = parse(br#"{"version": 1, "accesskeyid": "AKID", "secretaccesskey": "s"}"#).unwrap();
        assert!(c.expiry().is_none() && c.session_token().is_none());
        for (json, why) in [
            (&b"s3cret"[..], "its output is not JSON"),
            (b"[]", "its output is not a JSON object"),
            (br#"{"AccessKeyId": "A", "SecretAccessKey": "s3cret"}"#, "Version is missing"),
            (br#"{"Version": 2, "AccessKeyId": "A", "SecretAccessKey": "s3cret"}"#, "Version is not 1"),
            (br#"{"Version": 1, "SecretAccessKey": "s3cret"}"#, "AccessKeyId is missing"),
            (br#"{"Version": 1, "AccessKeyId": "A", "SecretAccessKey": 7}"#, "SecretAccessKey is not a string"),
            (br#"{"Version": 1, "AccessKeyId": "A", "SecretAccessKey": "s3cret", "Expiration": "soon"}"#, "Expiration is not an RFC 3339 time"),
        ] {
            assert_eq!(parse(json).unwrap_err(), why);
        }
    }

    #[test]
    fn stderr_is_shown_escaped_and_bounded() {
        assert_eq!(
            said(b"\x1b[31mno token\x1b[0m\n"),
            r": \033[31mno token\033[0m"
        );
        assert_eq!(said(b"  \n"), " and wrote nothing on stderr");
        let long = said(&[b'x'; 5000]);
        assert_eq!(long.chars().count(), 2 + MAX_SHOWN + 1);
    }
}
