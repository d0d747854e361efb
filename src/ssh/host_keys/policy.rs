//! The host-key policy: what to do with the key the server presented — accept a match,
//! refuse a changed or revoked key, and for an unknown one follow strict / accept-new / ask
//! or the instance's console output. The file format is `known_hosts`' job.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use russh::keys::PublicKey;

use super::known_hosts::{self as host_keys, Known};
use crate::error::{Failure, Kind};

/// What the user chose for unknown hosts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Policy {
    /// Only keys already in known_hosts.
    Strict,
    /// Record unknown keys, refuse changed ones.
    AcceptNew,
    /// Ask on the terminal about unknown keys, refuse changed ones.
    Ask,
}

/// How the server's host key is checked.
#[derive(Debug, Clone)]
pub struct HostKeyCheck {
    /// The known_hosts name (`i-…` or `[i-…]:PORT`).
    pub name: String,
    /// The known_hosts file.
    pub path: PathBuf,
    /// What to do with unknown keys.
    pub policy: Policy,
    /// Host keys from the instance's console output (`--host-key-from-console`): an
    /// unknown key is accepted only if it is among them.
    pub console: Option<Vec<PublicKey>>,
    /// Set to the fingerprint of the key the server presented, whatever the verdict: the
    /// caller logs it.
    pub seen: Arc<Mutex<Option<String>>>,
}

/// Applies the policy to the key the server presented (may prompt on the terminal).
pub fn verify(check: &HostKeyCheck, key: &PublicKey) -> Result<(), Failure> {
    let path = &check.path;
    let name = &check.name;
    let known = host_keys::lookup(path, name, key)
        .map_err(|e| Failure::new(Kind::Ssh, format!("cannot read {}: {e}", path.display())))?;
    let fingerprint = host_keys::fingerprint(key);
    *check.seen.lock().unwrap_or_else(|e| e.into_inner()) = Some(fingerprint.clone());
    match known {
        Known::Match => {
            tracing::debug!(
                "host key {fingerprint} of {name} matches {}",
                path.display()
            );
            Ok(())
        }
        Known::Changed(line) => {
            eprint!("{}", host_keys::changed_warning(name, key, path, line));
            Err(Failure::new(
                Kind::Ssh,
                format!(
                    "host key verification failed: the {} key of {name} has changed ({}:{line}). If the instance was really rebuilt, remove the old key with: ssh-keygen -R '{name}' -f {}",
                    host_keys::type_label(key),
                    path.display(),
                    path.display()
                ),
            ))
        }
        Known::Revoked(line) => Err(Failure::new(
            Kind::Ssh,
            format!(
                "host key verification failed: the key of {name} is marked @revoked in {}:{line}",
                path.display()
            ),
        )),
        Known::Unknown if check.console.is_some() => {
            let console = check.console.as_deref().unwrap_or_default();
            if console.is_empty() {
                return Err(Failure::new(
                    Kind::Ssh,
                    format!(
                        "host key verification failed: the console output of {name} holds no host keys (they are printed at first boot; a new instance may need a minute, and some AMIs do not print them)"
                    ),
                ));
            }
            if !console.iter().any(|k| k.key_data() == key.key_data()) {
                return Err(Failure::new(
                    Kind::Ssh,
                    format!(
                        "host key verification failed: the {} key {fingerprint} of {name} is not among the {} host keys in its console output; refusing to connect",
                        host_keys::type_label(key),
                        console.len()
                    ),
                ));
            }
            tracing::info!("host key {fingerprint} matches the instance's console output");
            learn(check, key)
        }
        Known::Unknown => match check.policy {
            Policy::Strict => Err(Failure::new(
                Kind::Ssh,
                format!(
                    "host key verification failed: no key for {name} in {} and --host-key-check is strict ({} key {fingerprint}). Verify it with --host-key-from-console (the keys the instance printed at boot), or trust it on first use with --host-key-check accept-new",
                    path.display(),
                    host_keys::type_label(key)
                ),
            )),
            Policy::AcceptNew => learn(check, key),
            Policy::Ask => {
                if ask(name, key)? {
                    learn(check, key)
                } else {
                    Err(Failure::new(
                        Kind::Ssh,
                        format!("host key verification failed: {name} was not accepted"),
                    ))
                }
            }
        },
    }
}

fn learn(check: &HostKeyCheck, key: &PublicKey) -> Result<(), Failure> {
    host_keys::learn(&check.path, &check.name, key).map_err(|e| {
        Failure::new(
            Kind::Ssh,
            format!(
                "cannot record the host key in {}: {e}",
                check.path.display()
            ),
        )
    })?;
    eprintln!(
        "Warning: Permanently added '{}' ({}) to the list of known hosts.",
        check.name,
        host_keys::type_label(key)
    );
    Ok(())
}

/// OpenSSH's question, on the controlling terminal.
fn ask(name: &str, key: &PublicKey) -> Result<bool, Failure> {
    let question = format!(
        "The authenticity of host '{name}' can't be established.\r\n{} key fingerprint is {}.\r\nAre you sure you want to continue connecting (yes/no)? ",
        host_keys::type_label(key),
        host_keys::fingerprint(key)
    );
    let answer = crate::local::prompt::ask(&question).map_err(|_| {
        Failure::new(
            Kind::Ssh,
            format!("host key verification failed: {name} is unknown and there is no terminal to ask on; verify it with --host-key-from-console (the keys the instance printed at boot), or trust it on first use with --host-key-check accept-new"),
        )
    })?;
    Ok(answer.trim().eq_ignore_ascii_case("yes"))
}
