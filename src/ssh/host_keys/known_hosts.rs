//! OpenSSH-compatible known_hosts: lookups (plain, wildcard and hashed `|1|` entries) and
//! appending new keys. eic-ssh keys entries by instance id, not by a reusable private IP.

use std::io::{self, Write};
use std::path::Path;

use data_encoding::BASE64;
use hmac::{Hmac, KeyInit, Mac};
use russh::keys::{HashAlg, PublicKey};
use sha1::Sha1;

use crate::wildcard;

/// What known_hosts says about a host and the key it presented.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Known {
    /// A matching entry exists.
    Match,
    /// An entry of the same key type holds another key (line number, 1-based).
    Changed(usize),
    /// The key is marked `@revoked` (line number).
    Revoked(usize),
    /// No entry for this host and key type.
    Unknown,
}

/// The known_hosts file: `flag` (`--known-hosts`, `known_hosts`) with `~` expanded, else
/// ~/.ssh/known_hosts.
pub fn file(flag: Option<&std::path::Path>) -> std::path::PathBuf {
    crate::local::paths::expand_tilde(flag.unwrap_or(std::path::Path::new("~/.ssh/known_hosts")))
}

/// The known_hosts name: `i-…`, or `[i-…]:PORT` for other ports, as OpenSSH writes them.
pub fn host_name(host: &str, port: u16) -> String {
    if port == 22 {
        host.to_string()
    } else {
        format!("[{host}]:{port}")
    }
}

/// `SHA256:…`, as OpenSSH prints fingerprints.
pub fn fingerprint(key: &PublicKey) -> String {
    key.fingerprint(HashAlg::Sha256).to_string()
}

/// The key type as OpenSSH names it in messages: ED25519, ECDSA, RSA.
pub fn type_label(key: &PublicKey) -> String {
    let name = key.algorithm().as_str().to_string();
    match name.as_str() {
        "ssh-ed25519" => "ED25519".into(),
        "ssh-rsa" => "RSA".into(),
        n if n.starts_with("ecdsa-") => "ECDSA".into(),
        other => other.to_uppercase(),
    }
}

/// The host keys in an instance's console output: the block cloud-init prints at first
/// boot between `-----BEGIN SSH HOST KEY KEYS-----` and `-----END SSH HOST KEY KEYS-----`.
pub fn from_console(text: &str) -> Vec<PublicKey> {
    let Some((_, rest)) = text.split_once("-----BEGIN SSH HOST KEY KEYS-----") else {
        return Vec::new();
    };
    let block = rest
        .split("-----END SSH HOST KEY KEYS-----")
        .next()
        .unwrap_or_default();
    block
        .lines()
        .filter_map(|line| line.split_whitespace().nth(1))
        .filter_map(|blob| russh::keys::parse_public_key_base64(blob).ok())
        .collect()
}

/// Looks `name` up in the file at `path` (a missing file knows nothing).
pub fn lookup(path: &Path, name: &str, key: &PublicKey) -> io::Result<Known> {
    // Only a regular file of bounded size: a FIFO or /dev/zero must not hang or flood us.
    let bytes = match crate::local::files::read_limited(path, MAX_FILE) {
        Ok(t) => t,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Known::Unknown),
        Err(e) => return Err(e),
    };
    let (text, skipped) = readable_lines(&bytes);
    if let Some(first) = skipped.first() {
        tracing::warn!(
            "{}: skipped {} unreadable line(s) (not UTF-8, or over {MAX_LINE} bytes), first at line {first}",
            path.display(),
            skipped.len()
        );
    }
    Ok(lookup_in(&text, name, key))
}

/// The largest known_hosts file read (64 MiB, some 150,000 keys).
pub const MAX_FILE: u64 = 64 << 20;

/// Longer lines are not host keys (OpenSSH's own limit is far lower).
const MAX_LINE: usize = 64 * 1024;

/// The file with unreadable lines (not UTF-8, or too long) blanked, so that one bad line
/// never breaks every session and line numbers stay right; plus the 1-based numbers of the
/// lines blanked.
fn readable_lines(bytes: &[u8]) -> (String, Vec<usize>) {
    let mut text = String::with_capacity(bytes.len());
    let mut skipped = Vec::new();
    for (i, line) in bytes.split(|&b| b == b'\n').enumerate() {
        match std::str::from_utf8(line) {
            Ok(l) if l.len() <= MAX_LINE => text.push_str(l),
            _ => skipped.push(i + 1),
        }
        text.push('\n');
    }
    (text, skipped)
}

/// Looks `name` up in known_hosts text. `@revoked` wins wherever it stands, then a
/// match, then a changed key (OpenSSH's order).
pub fn lookup_in(text: &str, name: &str, key: &PublicKey) -> Known {
    let mut changed = None;
    let mut matched = false;
    for (i, line) in text.lines().enumerate() {
        let mut fields = line.split_whitespace();
        let Some(mut hosts) = fields.next() else {
            continue;
        };
        if hosts.starts_with('#') {
            continue;
        }
        let marker = hosts.strip_prefix('@');
        if marker.is_some() {
            hosts = match fields.next() {
                Some(h) => h,
                None => continue,
            };
        }
        let (Some(_kind), Some(blob)) = (fields.next(), fields.next()) else {
            continue;
        };
        if !hosts_match(hosts, name) {
            continue;
        }
        let Ok(recorded) = russh::keys::parse_public_key_base64(blob) else {
            continue;
        };
        match marker {
            Some("revoked") if recorded.key_data() == key.key_data() => {
                return Known::Revoked(i + 1);
            }
            Some(_) => continue,
            None => {}
        }
        if recorded.algorithm() != key.algorithm() {
            continue;
        }
        if recorded.key_data() == key.key_data() {
            matched = true;
        } else {
            changed.get_or_insert(i + 1);
        }
    }
    match changed {
        _ if matched => Known::Match,
        Some(line) => Known::Changed(line),
        None => Known::Unknown,
    }
}

/// A host field: comma-separated patterns (`*`, `?`, `!negation`) or one hashed `|1|salt|hash`.
fn hosts_match(field: &str, name: &str) -> bool {
    if let Some(rest) = field.strip_prefix("|1|") {
        let mut parts = rest.split('|');
        let (Some(salt), Some(hash)) = (parts.next(), parts.next()) else {
            return false;
        };
        let (Ok(salt), Ok(hash)) = (
            BASE64.decode(salt.as_bytes()),
            BASE64.decode(hash.as_bytes()),
        ) else {
            return false;
        };
        let Ok(mac) = <Hmac<Sha1> as KeyInit>::new_from_slice(&salt) else {
            return false;
        };
        return mac
            .chain_update(name.as_bytes())
            .verify_slice(&hash)
            .is_ok();
    }
    let mut matched = false;
    for pattern in field.split(',') {
        if let Some(negated) = pattern.strip_prefix('!') {
            if wildcard::matches(negated, name, true) {
                return false;
            }
        } else if wildcard::matches(pattern, name, true) {
            matched = true;
        }
    }
    matched
}

/// Appends `name key` to the file, creating it (0600) and its directory (0700) if needed.
pub fn learn(path: &Path, name: &str, key: &PublicKey) -> io::Result<()> {
    use crate::local::private::{self, OpenPrivate};
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        private::create_dir_all(dir)?;
    }
    let existing = match crate::local::files::read_limited(path, MAX_FILE) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(e),
    };
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .private_mode(0o600)
        .open(path)?;
    let mut key = key.clone();
    key.set_comment("");
    let line = key.to_openssh().map_err(io::Error::other)?;
    // One complete line in one write(2) with O_APPEND: two sessions learning at once
    // never interleave their lines.
    let mut entry = String::new();
    if !existing.is_empty() && !existing.ends_with(b"\n") {
        entry.push('\n');
    }
    entry.push_str(&format!("{name} {}\n", line.trim()));
    f.write_all(entry.as_bytes())
}

/// The warning OpenSSH prints for a changed host key.
pub fn changed_warning(name: &str, key: &PublicKey, path: &Path, line: usize) -> String {
    format!(
        "@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@\n\
         @    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @\n\
         @@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@\n\
         IT IS POSSIBLE THAT SOMEONE IS DOING SOMETHING NASTY!\n\
         Someone could be eavesdropping on you right now (man-in-the-middle attack)!\n\
         It is also possible that a host key has just been changed.\n\
         The fingerprint for the {} key sent by the remote host {name} is\n{}.\n\
         Offending key in {}:{line}\n",
        type_label(key),
        fingerprint(key),
        path.display()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY_A: &str = "AAAAC3NzaC1lZDI1NTE5AAAAIJdD7y3aLq454yWBdwLWbieU1ebz9/cu7/QEXn9OIeZJ";
    const KEY_B: &str = "AAAAC3NzaC1lZDI1NTE5AAAAIA6rWI3G1sz07DnfFlrouTcysQlj2P+jpNSOEWD9OJ3X";

    fn key(b64: &str) -> PublicKey {
        russh::keys::parse_public_key_base64(b64).unwrap()
    }

    #[test]
    fn plain_wildcard_and_negated_entries() {
        let text = format!(
            "# comment\n\n@cert-authority *.example ssh-ed25519 {KEY_B}\ni-0123456789abcdef0 ssh-ed25519 {KEY_A}\ni-0aa*,!i-0aab* ssh-ed25519 {KEY_B}\n"
        );
        assert_eq!(
            lookup_in(&text, "i-0123456789abcdef0", &key(KEY_A)),
            Known::Match
        );
        assert_eq!(
            lookup_in(&text, "i-0123456789abcdef0", &key(KEY_B)),
            Known::Changed(4)
        );
        assert_eq!(lookup_in(&text, "i-0aa1", &key(KEY_B)), Known::Match);
        assert_eq!(lookup_in(&text, "i-0aab1", &key(KEY_B)), Known::Unknown);
        assert_eq!(
            lookup_in(&text, "[i-0123456789abcdef0]:3389", &key(KEY_A)),
            Known::Unknown
        );
    }

    #[test]
    fn hashed_entries_match_like_openssh() {
        // A hashed (`ssh-keygen -H`) entry for the host name "example.com".
        let hashed = "|1|O33ESRMWPVkMYIwJ1Uw+n877jTo=|nuuC5vEqXlEZ/8BXQR7m619W6Ak=";
        let blob = "AAAAC3NzaC1lZDI1NTE5AAAAILIG2T/B0l0gaqj3puu510tu9N1OkQ4znY3LYuEm5zCF";
        let text = format!("{hashed} ssh-ed25519 {blob}\n");
        assert_eq!(lookup_in(&text, "example.com", &key(blob)), Known::Match);
        assert_eq!(lookup_in(&text, "example.org", &key(blob)), Known::Unknown);
        assert_eq!(
            lookup_in(&text, "example.com", &key(KEY_A)),
            Known::Changed(1)
        );
    }

    #[test]
    fn console_blocks_are_read() {
        let text = format!(
            "boot\n-----BEGIN SSH HOST KEY KEYS-----\nssh-ed25519 {KEY_A} root@ip\nbogus line\n-----END SSH HOST KEY KEYS-----\nssh-ed25519 {KEY_B} after\n"
        );
        let keys = from_console(&text);
        assert_eq!(keys.len(), 1);
        assert_eq!(keys[0].key_data(), key(KEY_A).key_data());
        assert!(from_console("no block here").is_empty());
    }

    #[test]
    fn revoked_wins_wherever_it_stands_and_bad_lines_are_skipped() {
        let good = format!("i-0123456789abcdef0 ssh-ed25519 {KEY_A}\n");
        let revoked = format!("@revoked * ssh-ed25519 {KEY_A}\n");
        let key = key(KEY_A);
        for text in [good.clone() + &revoked, revoked.clone() + &good] {
            assert!(
                matches!(
                    lookup_in(&text, "i-0123456789abcdef0", &key),
                    Known::Revoked(_)
                ),
                "{text}"
            );
        }
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("known_hosts");
        let mut bytes = b"bad \xff\xfe line\n".to_vec();
        bytes.extend(vec![b'x'; MAX_LINE + 10]);
        bytes.push(b'\n');
        bytes.extend(good.as_bytes());
        std::fs::write(&path, bytes).unwrap();
        assert_eq!(
            lookup(&path, "i-0123456789abcdef0", &key).unwrap(),
            Known::Match
        );
    }

    #[test]
    fn revoked_keys_are_reported() {
        let text = format!("@revoked * ssh-ed25519 {KEY_A}\n");
        assert_eq!(lookup_in(&text, "i-1", &key(KEY_A)), Known::Revoked(1));
    }

    #[test]
    fn learn_appends_and_lookup_finds() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ssh/known_hosts");
        learn(&path, "i-1", &key(KEY_A)).unwrap();
        learn(&path, "[i-1]:3389", &key(KEY_B)).unwrap();
        assert_eq!(lookup(&path, "i-1", &key(KEY_A)).unwrap(), Known::Match);
        assert_eq!(
            lookup(&path, "[i-1]:3389", &key(KEY_B)).unwrap(),
            Known::Match
        );
        #[cfg(unix)]
        assert_eq!(crate::local::private::mode_of(&path), Some(0o600));
    }
}
