//! The network clients every stage shares: the one rustls configuration (API calls, tunnels,
//! egress checks) and the HTTP client of the egress checks and the SDK's credential
//! providers built on it (the signed API calls have their own connections, `aws::connections`).

use std::path::Path;
use std::sync::{Arc, Once};
use std::time::Duration;

use rustls::RootCertStore;
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;

use crate::error::{Failure, Kind};

/// Installs ring as the process-wide rustls provider. tokio-tungstenite and
/// reqwest both look it up; without it the first `wss://` connect panics.
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

/// Builds the client: proxies from the environment, our TLS roots, sane timeouts, no
/// redirects.
pub fn http_client(tls: &Arc<rustls::ClientConfig>) -> Result<reqwest::Client, Failure> {
    http_client_over(tls, None)
}

/// [`http_client`] with its direct connections pinned to `family` (none of the other
/// family's addresses is tried), for an egress check over one family.
pub fn http_client_over(
    tls: &Arc<rustls::ClientConfig>,
    family: Option<crate::family::Family>,
) -> Result<reqwest::Client, Failure> {
    check_proxy_variables()?;
    reqwest::Client::builder()
        .local_address(family.map(crate::family::Family::unspecified))
        .use_preconfigured_tls(rustls::ClientConfig::clone(tls))
        .connect_timeout(Duration::from_secs(10))
        .timeout(Duration::from_secs(30))
        .tcp_nodelay(true)
        // An egress check answered with a redirect (to http://, or to another host) is a
        // failure, not a second source; the AWS APIs never redirect.
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("eic-ssh/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| Failure::new(Kind::Other, format!("cannot set up the HTTP client: {e}")))
}

/// The most eic-ssh reads of an AWS API answer (16 MiB): a full page of instances is a few
/// hundred KiB, so only a broken or hostile server sends more.
pub const MAX_API_BODY: usize = 16 << 20;

/// The most eic-ssh reads of a checkip answer (1 KiB): one address and a newline.
pub const MAX_CHECKIP_BODY: usize = 1024;

/// Why a response body was not read.
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    /// The connection failed while reading.
    #[error("{}", crate::aws::context::with_causes(.0))]
    Network(#[from] reqwest::Error),
    /// The body is (or announced that it is) larger than the limit.
    #[error("the answer is larger than the {} eic-ssh reads from it", size_words(*.0))]
    TooLarge(usize),
}

/// `16 MiB`, `1 KiB`, `300 bytes`.
pub fn size_words(n: usize) -> String {
    match n {
        n if n >= 1 << 20 && n % (1 << 20) == 0 => format!("{} MiB", n >> 20),
        n if n >= 1 << 10 && n % (1 << 10) == 0 => format!("{} KiB", n >> 10),
        n => format!("{n} bytes"),
    }
}

/// Reads a response body of at most `max` bytes, chunk by chunk, so an endless or huge
/// answer stops at the limit instead of growing memory.
pub async fn read_body(
    mut response: reqwest::Response,
    max: usize,
) -> Result<bytes::Bytes, BodyError> {
    if response.content_length().is_some_and(|n| n > max as u64) {
        return Err(BodyError::TooLarge(max));
    }
    let mut body = bytes::BytesMut::new();
    while let Some(chunk) = response.chunk().await? {
        if body.len() + chunk.len() > max {
            return Err(BodyError::TooLarge(max));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

/// The proxy variables reqwest and the tunnel read.
pub const PROXY_VARIABLES: [&str; 6] = [
    "HTTPS_PROXY",
    "https_proxy",
    "HTTP_PROXY",
    "http_proxy",
    "ALL_PROXY",
    "all_proxy",
];

/// Refuses a proxy variable that is set but cannot be used: the HTTP stack would ignore
/// it silently and go direct, from a network the user meant to leave through the proxy.
/// Only an unset (or empty) variable means "no proxy".
pub fn check_proxy_variables() -> Result<(), Failure> {
    for name in PROXY_VARIABLES {
        let Some(value) = std::env::var_os(name) else {
            continue;
        };
        let value = value.to_string_lossy();
        if let Err(why) = check_proxy_value(&value) {
            return Err(Failure::usage(format!(
                "{name}=\"{}\" is not a proxy URL: {why}; set it to http://HOST:PORT, or unset it to connect directly",
                crate::printable::escape(&redact_userinfo(&value))
            )));
        }
    }
    Ok(())
}

/// A request the proxy refused, in one sentence: which proxy (and the variable naming it,
/// its password redacted), what it answered and what to do; `None` when the failure was
/// not a proxy's refusal. reqwest words it only as "tunnel error: …".
pub fn proxy_refusal(url: &str, e: &(dyn std::error::Error + 'static)) -> Option<String> {
    let mut cause = Some(e);
    let mut said = None;
    while let Some(c) = cause {
        if let Some(what) = c.to_string().strip_prefix("tunnel error: ") {
            said = Some(what.to_string());
            break;
        }
        cause = c.source();
    }
    let said = said?;
    let uri: http::Uri = url.parse().ok()?;
    let target = format!(
        "{}:{}",
        uri.host()?,
        uri.port_u16()
            .unwrap_or(if uri.scheme_str() == Some("http") {
                80
            } else {
                443
            })
    );
    let intercept = hyper_util::client::proxy::matcher::Matcher::from_env().intercept(&uri)?;
    let proxy = intercept.uri();
    let proxy_addr = format!(
        "{}:{}",
        proxy.host().unwrap_or("?"),
        proxy.port_u16().unwrap_or(80)
    );
    let names: &[&str] = if uri.scheme_str() == Some("http") {
        &["HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"]
    } else {
        &["HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"]
    };
    let variable = names.iter().find_map(|name| {
        let value = std::env::var(name).ok().filter(|v| !v.trim().is_empty())?;
        Some(format!(
            "{name}={}",
            crate::printable::escape(&redact_userinfo(&value))
        ))
    });
    let named = variable.map_or(format!("the proxy {proxy_addr}"), |v| {
        format!("the proxy {proxy_addr} ({v})")
    });
    let (answered, todo) = match said.as_str() {
        "proxy authorization required" if intercept.basic_auth().is_some() => (
            "answered CONNECT with 407 Proxy Authentication Required: it refused the user name and password".to_string(),
            "correct them in the proxy URL (http://USER:PASSWORD@HOST:PORT)".to_string(),
        ),
        "proxy authorization required" => (
            "answered CONNECT with 407 Proxy Authentication Required".to_string(),
            "put the proxy's user name and password in its URL (http://USER:PASSWORD@HOST:PORT)".to_string(),
        ),
        "unexpected end of file" => (
            "closed the connection without answering CONNECT".to_string(),
            format!("check that {proxy_addr} is an HTTP proxy and that it allows {target}"),
        ),
        _ => (
            "answered CONNECT with an error status, not 200".to_string(),
            format!("ask its administrator to allow {target}, or list the host in NO_PROXY if it is reachable directly"),
        ),
    };
    Some(format!(
        "{named} refused to connect to {target}: it {answered}; {todo}"
    ))
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

/// Why `value` is not a usable proxy URL (`http://[user:pass@]host[:port][/]`, or the same
/// without `http://`); `Ok` for an empty value.
pub fn check_proxy_value(value: &str) -> Result<(), &'static str> {
    let value = value.trim();
    if value.is_empty() {
        return Ok(());
    }
    // The URL parser would drop a newline or tab silently; reqwest would not.
    if !value.chars().all(|c| c.is_ascii_graphic()) {
        return Err("it holds a space, a control or a non-ASCII character");
    }
    let with_scheme = if value.contains("://") {
        value.to_string()
    } else {
        format!("http://{value}")
    };
    let url = reqwest::Url::parse(&with_scheme).map_err(|_| "it does not parse as a URL")?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err("only http:// proxies are supported");
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err("it names no host");
    }
    if !matches!(url.path(), "" | "/") || url.query().is_some() || url.fragment().is_some() {
        return Err("a proxy URL has no path or query");
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
            "https://proxy.example",
        ] {
            assert_eq!(check_proxy_value(good), Ok(()), "{good}");
        }
        for bad in [
            "::::",
            "http://",
            "http://proxy.example:99999",
            "socks5://proxy.example:1080",
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
