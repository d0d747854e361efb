//! The one way out of this machine: the proxy rules (`proxy`), the dialer that reports the
//! road it took (`dial`), the one HTTP/1.1 client (`http`), the connections opened ahead
//! (`ahead`), the time limits (`timeouts`), and the one rustls configuration they all use.
//! It imports no stage above it (`aws`, `guard`, `route`).

pub mod ahead;
pub mod backoff;
pub mod dial;
pub mod http;
pub mod proxy;
pub mod timeouts;
pub mod transport;

use std::path::Path;
use std::sync::{Arc, Once};

use rustls::RootCertStore;
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;

use crate::error::Failure;

/// Installs ring as the process-wide rustls provider. tokio-tungstenite and
/// russh both look it up; without it the first `wss://` connect panics.
pub fn install_crypto_provider() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // Err only means another provider is already installed, which is fine.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

/// Builds the client TLS configuration. `AWS_CA_BUNDLE` (a PEM file) replaces the
/// system roots, as it does in the AWS CLI and SDKs.
pub fn client_config() -> Result<Arc<rustls::ClientConfig>, Failure> {
    let bundle = std::env::var_os("AWS_CA_BUNDLE").filter(|v| !v.is_empty());
    client_config_with(bundle.as_deref().map(Path::new))
}

/// The client configuration trusting `ca_bundle` (PEM) instead of the system roots, if given.
pub fn client_config_with(ca_bundle: Option<&Path>) -> Result<Arc<rustls::ClientConfig>, Failure> {
    install_crypto_provider();
    let roots = match ca_bundle {
        Some(path) => bundle_roots(path)?,
        None => system_roots(),
    };
    let mut config = rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// The largest `AWS_CA_BUNDLE` read (16 MiB; the system's whole bundle is about 200 KiB).
pub const MAX_CA_BUNDLE: u64 = 16 << 20;

fn bundle_roots(path: &Path) -> Result<RootCertStore, Failure> {
    let shown = crate::printable::escape(&path.display().to_string());
    // Only a regular file, and a bounded one: /dev/zero or a FIFO must not hang or flood us.
    let pem = crate::local::files::read_limited(path, MAX_CA_BUNDLE).map_err(|e| {
        Failure::usage(format!(
            "cannot read AWS_CA_BUNDLE {shown}: {e}; point it at a PEM bundle"
        ))
    })?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| Failure::usage(format!("AWS_CA_BUNDLE {shown} is not a PEM file: {e}")))?;
    let mut roots = RootCertStore::empty();
    let (added, _) = roots.add_parsable_certificates(certs);
    if added == 0 {
        return Err(Failure::usage(format!(
            "AWS_CA_BUNDLE {shown} holds no usable certificate; point it at a PEM bundle"
        )));
    }
    Ok(roots)
}

fn system_roots() -> RootCertStore {
    let found = rustls_native_certs::load_native_certs();
    for err in &found.errors {
        tracing::debug!("skipping a system certificate: {err}");
    }
    let mut roots = RootCertStore::empty();
    roots.add_parsable_certificates(found.certs);
    roots
}

/// The HTTP client of this run on `tls`, its roads decided by the proxy variables; an
/// unusable proxy variable is refused here, before anything is sent.
pub fn http_client(tls: &Arc<rustls::ClientConfig>) -> Result<http::Client, Failure> {
    check_proxy_variables()?;
    Ok(http::Client::new(tls.clone()))
}

/// The most eic-ssh reads of an AWS API answer (16 MiB): a full page of instances is a few
/// hundred KiB, so only a broken or hostile server sends more.
pub const MAX_API_BODY: usize = 16 << 20;

/// The most eic-ssh reads of a checkip answer (1 KiB): one address and a newline.
pub const MAX_CHECKIP_BODY: usize = 1024;

/// `16 MiB`, `1 KiB`, `300 bytes`.
pub fn size_words(n: usize) -> String {
    match n {
        n if n >= 1 << 20 && n % (1 << 20) == 0 => format!("{} MiB", n >> 20),
        n if n >= 1 << 10 && n % (1 << 10) == 0 => format!("{} KiB", n >> 10),
        n => format!("{n} bytes"),
    }
}

/// Refuses a proxy variable that is set but cannot be used: the connection would go
/// direct, from a network the user meant to leave through the proxy. Only an unset (or
/// empty) variable means "no proxy" (`proxy::Proxies` has the rules).
pub fn check_proxy_variables() -> Result<(), Failure> {
    proxy::Proxies::from_env().map(|_| ())
}

/// A proxy URL, well formed or not, fit to print or store: whatever stands before the last
/// `@` of what follows the scheme (a user name and password, however malformed) becomes
/// `***`. A malformed value may lose more than its userinfo; a password never shows.
pub fn redact_userinfo(value: &str) -> String {
    let after_scheme = value.find("://").filter(|&i| {
        let scheme = &value[..i];
        scheme.starts_with(|c: char| c.is_ascii_alphabetic())
            && scheme
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
    });
    let (scheme, rest) = after_scheme.map_or(("", value), |i| value.split_at(i + 3));
    match rest.rfind('@') {
        Some(at) => format!("{scheme}***{}", &rest[at..]),
        None => value.to_string(),
    }
}

/// Why a proxy variable's value cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProxyValueError {
    /// A well-formed URL of a scheme eic-ssh does not speak to a proxy (https, socks5…).
    #[error("only http:// proxies are supported, not {0}://")]
    Scheme(String),
    /// Anything else, in words.
    #[error("{0}")]
    Malformed(&'static str),
}

/// Why `value` is not a usable proxy URL (`http://[user:pass@]host[:port][/]`, or the same
/// without `http://`); `Ok` for an empty value.
pub fn check_proxy_value(value: &str) -> Result<(), ProxyValueError> {
    use ProxyValueError::Malformed;
    let value = value.trim();
    if value.is_empty() {
        return Ok(());
    }
    // The URL parser would drop a newline or tab silently.
    if !value.chars().all(|c| c.is_ascii_graphic()) {
        return Err(Malformed(
            "it holds a space, a control or a non-ASCII character",
        ));
    }
    let with_scheme = if value.contains("://") {
        value.to_string()
    } else {
        format!("http://{value}")
    };
    let url = url::Url::parse(&with_scheme).map_err(|_| Malformed("it does not parse as a URL"))?;
    if url.scheme() != "http" {
        return Err(ProxyValueError::Scheme(url.scheme().to_string()));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(Malformed("it names no host"));
    }
    if !matches!(url.path(), "" | "/") || url.query().is_some() || url.fragment().is_some() {
        return Err(Malformed("a proxy URL has no path or query"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proxy_values() {
        for good in [
            "",
            "http://proxy.example:3128",
            "http://user:pw@10.0.0.1:8080/",
            "proxy.example:3128",
            "http://[::1]:3128",
        ] {
            assert_eq!(check_proxy_value(good), Ok(()), "{good}");
        }
        for bad in [
            "::::",
            "http://",
            "http://proxy.example:99999",
            "socks5://proxy.example:1080",
            "https://proxy.example",
            "http://proxy.example/path",
            "http://a b:1",
            "http://proxy\n.example:3128",
        ] {
            assert!(check_proxy_value(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn userinfo_is_redacted_however_malformed() {
        for (value, shown) in [
            ("http://alice:pw@h:1/corp", "http://***@h:1/corp"),
            ("socks5://alice:pw@h:1", "socks5://***@h:1"),
            ("alice:p w@h:1", "***@h:1"),
            ("alice:p://w@h:1", "***@h:1"),
            ("http://alice:p/w@h:1", "http://***@h:1"),
            ("http://al@ice:p@w@h:1", "http://***@h:1"),
            ("http://h:1", "http://h:1"),
            ("::::", "::::"),
            ("", ""),
        ] {
            assert_eq!(redact_userinfo(value), shown, "{value}");
        }
    }

    #[test]
    fn sizes_in_words() {
        assert_eq!(size_words(16 << 20), "16 MiB");
        assert_eq!(size_words(1024), "1 KiB");
        assert_eq!(size_words(300), "300 bytes");
    }
}
