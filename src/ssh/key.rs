//! The ephemeral client key: ed25519, generated in memory for one run, never written anywhere.

use std::io;
use std::path::Path;
use std::sync::Arc;

use russh::keys::{Algorithm, PrivateKey, PrivateKeyWithHashAlg};

use crate::error::{Failure, Kind};

/// A fresh key pair. ssh-key wipes the private half from memory when the last `Arc` drops.
pub struct EphemeralKey {
    key: Arc<PrivateKey>,
}

impl EphemeralKey {
    /// Makes a new key from the OS random generator.
    pub fn generate() -> Result<Self, Failure> {
        let key = PrivateKey::random(&mut rand::rng(), Algorithm::Ed25519)
            .map_err(|e| Failure::new(Kind::Other, format!("cannot generate a key: {e}")))?;
        Ok(EphemeralKey { key: Arc::new(key) })
    }

    /// The public half in OpenSSH one-line form, for SendSSHPublicKey.
    pub fn public_line(&self) -> String {
        let mut public = self.key.public_key().clone();
        public.set_comment("eic-ssh-ephemeral");
        public.to_openssh().unwrap_or_default()
    }

    /// The key as russh wants it for authentication.
    pub fn for_auth(&self) -> PrivateKeyWithHashAlg {
        PrivateKeyWithHashAlg::new(self.key.clone(), None)
    }
}

/// Reads an OpenSSH public key file; refuses private keys and junk.
pub fn read_public_key(path: &Path) -> Result<String, Failure> {
    let path = crate::local::paths::expand_tilde(path);
    let shown = path.display();
    let text = read_small_file(&path, MAX_PUBLIC_KEY)
        .map_err(|e| Failure::usage(format!("cannot read public key {shown}: {e}")))?;
    if text.contains("PRIVATE KEY") {
        return Err(Failure::usage(format!(
            "{shown} is a private key; pass the public half (usually {shown}.pub)"
        )));
    }
    let line = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with('#'));
    let valid = line.is_some_and(|l| {
        let mut parts = l.split_whitespace();
        let kind = parts.next().unwrap_or_default();
        let blob = parts.next().unwrap_or_default();
        (kind.starts_with("ssh-") || kind.starts_with("ecdsa-") || kind.starts_with("sk-"))
            && blob.len() > 16
    });
    match line {
        Some(l) if valid => Ok(l.to_string()),
        _ => Err(Failure::usage(format!(
            "{shown} is not an OpenSSH public key (expected a line like `ssh-ed25519 AAAA… comment`)"
        ))),
    }
}

/// A public key file is one line; anything larger is not one.
const MAX_PUBLIC_KEY: u64 = 16 * 1024;

/// Reads a regular file of at most `limit` bytes. A FIFO or device is refused without
/// blocking on it (opened non-blocking, then checked).
fn read_small_file(path: &Path, limit: u64) -> io::Result<String> {
    use crate::local::private::OpenPrivate;
    use std::io::Read;
    let file = std::fs::OpenOptions::new()
        .read(true)
        .no_block()
        .open(path)?;
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(io::Error::other("not a regular file"));
    }
    if meta.len() > limit {
        return Err(io::Error::other(format!(
            "{} bytes is too large for a public key",
            meta.len()
        )));
    }
    let mut text = String::new();
    file.take(limit).read_to_string(&mut text)?;
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_fresh_ed25519() {
        let a = EphemeralKey::generate().unwrap();
        let b = EphemeralKey::generate().unwrap();
        assert!(a.public_line().starts_with("ssh-ed25519 AAAA"));
        assert!(a.public_line().ends_with(" eic-ssh-ephemeral"));
        assert_ne!(a.public_line(), b.public_line());
    }

    #[test]
    fn public_keys_are_checked() {
        let dir = tempfile::tempdir().unwrap();
        let good = dir.path().join("k.pub");
        std::fs::write(&good, "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGq me@host\n").unwrap();
        assert_eq!(
            read_public_key(&good).unwrap(),
            "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGq me@host"
        );
        let private = dir.path().join("k");
        std::fs::write(&private, "-----BEGIN OPENSSH PRIVATE KEY-----\n").unwrap();
        assert!(
            read_public_key(&private)
                .unwrap_err()
                .message
                .contains("is a private key")
        );
        let junk = dir.path().join("j");
        std::fs::write(&junk, "hello\n").unwrap();
        assert!(
            read_public_key(&junk)
                .unwrap_err()
                .message
                .contains("not an OpenSSH public key")
        );
        let fifo = dir.path().join("fifo");
        assert!(
            std::process::Command::new("mkfifo")
                .arg(&fifo)
                .status()
                .unwrap()
                .success()
        );
        let e = read_public_key(&fifo).unwrap_err();
        assert!(e.message.contains("not a regular file"), "{e}");
        let big = dir.path().join("big.pub");
        std::fs::write(&big, "ssh-ed25519 ".repeat(10_000)).unwrap();
        let e = read_public_key(&big).unwrap_err();
        assert!(e.message.contains("too large"), "{e}");
        let missing = read_public_key(&dir.path().join("nope")).unwrap_err();
        assert!(
            missing.message.starts_with("cannot read public key"),
            "{missing}"
        );
    }
}
