//! The order in which the client offers SSH ciphers: AES-GCM first where the CPU has AES
//! instructions, ChaCha20-Poly1305 first elsewhere (russh's own order).
//!
//! Both are AEADs that OpenSSH offers by default. With ring as the crypto provider, its
//! AES-GCM (AES-NI, carry-less multiply, VAES where present) costs the session far less CPU
//! than its ChaCha20-Poly1305 on such CPUs (docs/protocol.md, "Measured here"); without AES instructions,
//! ChaCha20-Poly1305 is the faster and the constant-time choice.

use std::borrow::Cow;

use russh::Preferred;
use russh::cipher::{self, Name};

/// AES hardware first.
const AES_FIRST: &[Name] = &[
    cipher::AES_256_GCM,
    cipher::CHACHA20_POLY1305,
    cipher::AES_256_CTR,
    cipher::AES_192_CTR,
    cipher::AES_128_CTR,
];

/// The cipher list to offer on this machine: without AES hardware, russh's own order.
pub fn preferred() -> Cow<'static, [Name]> {
    if aes_in_hardware() {
        Cow::Borrowed(AES_FIRST)
    } else {
        Preferred::DEFAULT.cipher
    }
}

fn aes_in_hardware() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("aes")
            && std::arch::is_x86_feature_detected!("pclmulqdq")
    }
    #[cfg(target_arch = "aarch64")]
    {
        std::arch::is_aarch64_feature_detected!("aes")
            && std::arch::is_aarch64_feature_detected!("pmull")
    }
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aes_first_reorders_russh_s_own_list() {
        let names = |list: &[Name]| {
            let mut v: Vec<String> = list.iter().map(|n| n.as_ref().to_string()).collect();
            v.sort_unstable();
            v
        };
        assert_eq!(names(AES_FIRST), names(&Preferred::DEFAULT.cipher));
        assert_eq!(AES_FIRST[0].as_ref(), "aes256-gcm@openssh.com");
        assert_eq!(
            Preferred::DEFAULT.cipher[0].as_ref(),
            "chacha20-poly1305@openssh.com"
        );
    }
}
