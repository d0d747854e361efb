//! The ephemeral client key: ed25519, generated in memory for one run, never written anywhere.

use std::sync::Arc;

use russh::keys::{Algorithm, PrivateKey, PrivateKeyWithHashAlg};

use crate::error::{Exit, Failure};

/// A fresh key pair. ssh-key wipes the private half from memory when the last `Arc` drops.
pub struct EphemeralKey {
    key: Arc<PrivateKey>,
}

impl EphemeralKey {
    /// Makes a new key from the OS random generator.
    pub fn generate() -> Result<Self, Failure> {
        let key = PrivateKey::random(&mut rand::rng(), Algorithm::Ed25519)
            .map_err(|e| Failure::new(Exit::Other, format!("cannot generate a key: {e}")))?;
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
}
