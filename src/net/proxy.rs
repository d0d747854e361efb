//! The one reading of the proxy variables, with curl's rules: which variable a connection
//! uses (`https_proxy`, `HTTPS_PROXY`, `http_proxy` for `http://` only, `all_proxy`,
//! `ALL_PROXY`), and which hosts `no_proxy`/`NO_PROXY` exempts (hyper-util's `Matcher`).

use std::fmt;
use std::sync::Arc;

use http::HeaderValue;
use hyper_util::client::proxy::matcher::Matcher;

use crate::error::Failure;

/// Every variable read here, in the order curl consults them.
pub const VARIABLES: [&str; 7] = [
    "https_proxy",
    "HTTPS_PROXY",
    "http_proxy",
    "all_proxy",
    "ALL_PROXY",
    "no_proxy",
    "NO_PROXY",
];

/// The proxy a connection goes through, as the environment names it.
#[derive(Clone, PartialEq, Eq)]
pub struct Proxy {
    /// The variable that named it (for messages).
    pub variable: &'static str,
    /// The proxy's host name or address (no brackets).
    pub host: String,
    /// The proxy's port (80 when the URL gives none).
    pub port: u16,
    /// `Basic …` from the URL's `user:password@`; sent as `Proxy-Authorization`, never shown.
    pub authorization: Option<HeaderValue>,
}

impl Proxy {
    /// `host:port`, IPv6 in brackets: what is dialled, and what is shown (no credentials).
    pub fn address(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

impl fmt::Debug for Proxy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never the credentials.
        write!(f, "Proxy({} from {})", self.address(), self.variable)
    }
}

impl fmt::Display for Proxy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.address())
    }
}

/// The proxy rules of this run: read once, asked for every connection.
#[derive(Clone, Debug)]
pub struct Proxies {
    matcher: Arc<Matcher>,
    /// The variable that names the proxy for `https://` (and `wss://`) destinations.
    https: Option<&'static str>,
    /// The variable that names the proxy for `http://` destinations.
    http: Option<&'static str>,
    /// The variable whose list exempts hosts, when one is set.
    no: Option<&'static str>,
    /// The list is `*`: every host, names and addresses alike, goes direct (hyper-util's
    /// matcher applies `*` to names only).
    none_at_all: bool,
}

impl Proxies {
    /// No proxy for any destination.
    pub fn none() -> Proxies {
        Proxies {
            matcher: Arc::new(Matcher::builder().build()),
            https: None,
            http: None,
            no: None,
            none_at_all: true,
        }
    }

    /// The rules of this process's environment; a set variable that cannot be used is an
    /// error naming it, never a silent direct connection.
    pub fn from_env() -> Result<Proxies, Failure> {
        Self::from_lookup(|name| std::env::var_os(name).map(|v| v.to_string_lossy().into_owned()))
    }

    /// The rules of the variables `lookup` returns (`None`: unset).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Proxies, Failure> {
        // curl: a scheme's variable is read in lower case, and in upper case only when the
        // lower-case one is not set at all; http_proxy only in lower case (HTTP_PROXY is
        // a CGI request header); all_proxy (then ALL_PROXY) only when the scheme's own
        // variable is not set. A set but empty variable means no proxy.
        let first = |names: &[&'static str]| {
            names
                .iter()
                .find_map(|&name| lookup(name).map(|value| (name, value)))
        };
        let all = first(&["all_proxy", "ALL_PROXY"]);
        let https = first(&["https_proxy", "HTTPS_PROXY"]).or_else(|| all.clone());
        let http = first(&["http_proxy"]).or_else(|| all.clone());
        let no = first(&["no_proxy", "NO_PROXY"]);
        let mut builder = Matcher::builder();
        let chosen = |slot: Option<(&'static str, String)>| -> Result<_, Failure> {
            match slot {
                Some((name, value)) if !value.trim().is_empty() => {
                    check(name, &value)?;
                    Ok((Some(name), value.trim().to_string()))
                }
                _ => Ok((None, String::new())),
            }
        };
        let (https_var, https_value) = chosen(https)?;
        let (http_var, http_value) = chosen(http)?;
        builder = builder.https(https_value).http(http_value);
        if let Some((_, list)) = &no {
            builder = builder.no(list.clone());
        }
        Ok(Proxies {
            matcher: Arc::new(builder.build()),
            https: https_var,
            http: http_var,
            none_at_all: no
                .as_ref()
                .is_some_and(|(_, list)| list.split(',').any(|e| e.trim() == "*")),
            no: no.filter(|(_, v)| !v.trim().is_empty()).map(|(n, _)| n),
        })
    }

    /// The proxy a connection to `host:port` goes through (`secure`: `https://`/`wss://`,
    /// else `http://`), or `None` to go directly.
    pub fn for_host(&self, secure: bool, host: &str, port: u16) -> Option<Proxy> {
        if self.none_at_all {
            return None;
        }
        let scheme = if secure { "https" } else { "http" };
        let authority = if host.contains(':') && !host.starts_with('[') {
            format!("[{host}]:{port}")
        } else {
            format!("{host}:{port}")
        };
        let uri: http::Uri = format!("{scheme}://{authority}/").parse().ok()?;
        let intercept = self.matcher.intercept(&uri)?;
        let proxy = intercept.uri();
        let host = proxy.host()?;
        Some(Proxy {
            variable: if secure { self.https? } else { self.http? },
            host: host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_string(),
            port: proxy.port_u16().unwrap_or(80),
            authorization: intercept.basic_auth().cloned(),
        })
    }

    /// The variable whose list exempts hosts (`NO_PROXY` when none is set), for messages.
    pub fn no_proxy_variable(&self) -> &'static str {
        self.no.unwrap_or("NO_PROXY")
    }
}

/// A proxy variable's value fit to print: credentials redacted, escaped.
fn shown(value: &str) -> String {
    crate::printable::escape(&super::redact_userinfo(value))
}

/// Refuses a value that cannot be used, naming `name`.
fn check(name: &str, value: &str) -> Result<(), Failure> {
    match super::check_proxy_value(value) {
        Ok(()) => Ok(()),
        Err(super::ProxyValueError::Scheme(scheme)) => Err(Failure::usage(format!(
            "{name}=\"{}\" names a {scheme}:// URL, which eic-ssh does not speak to a proxy: only http:// (HTTP CONNECT) proxies are supported; set it to http://HOST:PORT, or unset it to connect directly",
            shown(value)
        ))),
        Err(why) => Err(Failure::usage(format!(
            "{name}=\"{}\" is not a proxy URL: {why}; set it to http://HOST:PORT, or unset it to connect directly",
            shown(value)
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Where each expected decision comes from.
    const ENV: &str = "everything.curl.dev, Proxy environment variables";
    const LIBENV: &str = "libcurl-env(3), [scheme]_proxy / ALL_PROXY / NO_PROXY";
    const NOPROXY: &str = "CURLOPT_NOPROXY(3)";
    const URL_C: &str = "curl lib/url.c detect_proxy(): the all-uppercase versions are checked if the lowercase versions do not exist";

    struct Case {
        env: &'static [(&'static str, &'static str)],
        secure: bool,
        host: &'static str,
        port: u16,
        /// `Some("VAR host:port")` through a proxy, `None` direct.
        expect: Option<&'static str>,
        why: &'static str,
    }

    const P: &str = "http://p.corp:3128";

    fn case(
        env: &'static [(&'static str, &'static str)],
        url: (&'static str, &'static str, u16),
        expect: Option<&'static str>,
        why: &'static str,
    ) -> Case {
        Case {
            env,
            secure: url.0 == "https",
            host: url.1,
            port: url.2,
            expect,
            why,
        }
    }

    #[test]
    fn curls_rules_table() {
        const AWS: (&str, &str, u16) = ("https", "ec2.us-east-1.amazonaws.com", 443);
        const WEB: (&str, &str, u16) = ("http", "checkip.example", 80);
        let cases = [
            // Which variable, and which case of it, wins.
            case(&[], AWS, None, "no variable set: direct"),
            case(
                &[("https_proxy", P)],
                AWS,
                Some("https_proxy p.corp:3128"),
                ENV,
            ),
            case(
                &[("HTTPS_PROXY", P)],
                AWS,
                Some("HTTPS_PROXY p.corp:3128"),
                ENV,
            ),
            case(
                &[
                    ("https_proxy", "http://low:1"),
                    ("HTTPS_PROXY", "http://up:2"),
                ],
                AWS,
                Some("https_proxy low:1"),
                URL_C,
            ),
            case(
                &[("https_proxy", ""), ("HTTPS_PROXY", "http://up:2")],
                AWS,
                None,
                URL_C,
            ),
            case(
                &[("http_proxy", P)],
                WEB,
                Some("http_proxy p.corp:3128"),
                ENV,
            ),
            case(
                &[("HTTP_PROXY", P)],
                WEB,
                None,
                "everything.curl.dev: http_proxy in lower case only",
            ),
            case(&[("http_proxy", P)], AWS, None, LIBENV),
            case(&[("https_proxy", P)], WEB, None, LIBENV),
            case(
                &[("ALL_PROXY", P)],
                AWS,
                Some("ALL_PROXY p.corp:3128"),
                LIBENV,
            ),
            case(
                &[("all_proxy", P)],
                WEB,
                Some("all_proxy p.corp:3128"),
                LIBENV,
            ),
            case(
                &[("all_proxy", "http://low:1"), ("ALL_PROXY", "http://up:2")],
                AWS,
                Some("all_proxy low:1"),
                URL_C,
            ),
            case(
                &[
                    ("ALL_PROXY", "http://all:1"),
                    ("HTTPS_PROXY", "http://own:2"),
                ],
                AWS,
                Some("HTTPS_PROXY own:2"),
                "everything.curl.dev: a specific protocol variable takes precedence",
            ),
            case(
                &[("ALL_PROXY", "http://all:1"), ("https_proxy", "")],
                AWS,
                None,
                URL_C,
            ),
            case(
                &[("ALL_PROXY", "http://all:1"), ("HTTP_PROXY", "http://up:2")],
                WEB,
                Some("ALL_PROXY all:1"),
                "everything.curl.dev: http_proxy in lower case only",
            ),
            case(
                &[("https_proxy", "p.corp:3128")],
                AWS,
                Some("https_proxy p.corp:3128"),
                "curl(1) -x: no scheme means http://",
            ),
            case(
                &[("https_proxy", "http://p.corp")],
                AWS,
                Some("https_proxy p.corp:80"),
                "curl(1) -x: the port defaults to 80 (1080 for socks)",
            ),
            case(
                &[("https_proxy", "http://[fd00::1]:3128")],
                AWS,
                Some("https_proxy [fd00::1]:3128"),
                "curl(1) -x: an IPv6 proxy in brackets",
            ),
            // NO_PROXY: lists, dots, '*', addresses, CIDR, no ports.
            case(
                &[("https_proxy", P), ("NO_PROXY", "*")],
                AWS,
                None,
                "everything.curl.dev: NO_PROXY=* matches all hosts",
            ),
            case(&[("https_proxy", P), ("no_proxy", "*")], AWS, None, LIBENV),
            case(
                &[("https_proxy", P), ("NO_PROXY", "*")],
                ("https", "10.1.2.3", 443),
                None,
                "CURLOPT_NOPROXY: a single * matches all hosts, addresses too",
            ),
            case(
                &[("https_proxy", P), ("NO_PROXY", "*")],
                ("https", "::1", 443),
                None,
                "CURLOPT_NOPROXY: a single * matches all hosts, addresses too",
            ),
            case(
                &[("https_proxy", P), ("no_proxy", ""), ("NO_PROXY", "*")],
                AWS,
                Some("https_proxy p.corp:3128"),
                URL_C,
            ),
            case(
                &[("https_proxy", P), ("NO_PROXY", "amazonaws.com")],
                AWS,
                None,
                "CURLOPT_NOPROXY: a name matches the host itself or a domain containing it",
            ),
            case(
                &[("https_proxy", P), ("NO_PROXY", ".amazonaws.com")],
                AWS,
                None,
                "everything.curl.dev: a leading dot matches the entire domain",
            ),
            case(
                &[("https_proxy", P), ("NO_PROXY", "zonaws.com")],
                AWS,
                Some("https_proxy p.corp:3128"),
                "CURLOPT_NOPROXY: ample.com does not match www.example.com",
            ),
            case(
                &[
                    ("https_proxy", P),
                    ("NO_PROXY", "ec2.us-east-1.amazonaws.com"),
                ],
                AWS,
                None,
                NOPROXY,
            ),
            case(
                &[("https_proxy", P), ("NO_PROXY", "amazonaws.com.org")],
                AWS,
                Some("https_proxy p.corp:3128"),
                "CURLOPT_NOPROXY: ample.com does not match ample.com.org",
            ),
            case(
                &[
                    ("https_proxy", P),
                    ("NO_PROXY", "localhost, amazonaws.com ,10.0.0.0/8"),
                ],
                AWS,
                None,
                "everything.curl.dev: a comma-separated list",
            ),
            case(
                &[
                    ("https_proxy", P),
                    ("NO_PROXY", "EC2.US-EAST-1.AMAZONAWS.COM"),
                ],
                AWS,
                None,
                "host names compare without case (RFC 4343)",
            ),
            case(
                &[("https_proxy", P), ("NO_PROXY", "amazonaws.com")],
                ("https", "ec2.us-east-1.amazonaws.com", 8443),
                None,
                "CURLOPT_NOPROXY: ample.com matches ample.com:80 (the port plays no part)",
            ),
            case(
                &[("https_proxy", P), ("NO_PROXY", "10.0.0.0/8")],
                ("https", "10.1.2.3", 443),
                None,
                "everything.curl.dev: CIDR since 7.86.0",
            ),
            case(
                &[("https_proxy", P), ("NO_PROXY", "192.168.0.0/16")],
                ("https", "10.1.2.3", 443),
                Some("https_proxy p.corp:3128"),
                "everything.curl.dev: CIDR since 7.86.0",
            ),
            case(
                &[("https_proxy", P), ("NO_PROXY", "10.1.2.3")],
                ("https", "10.1.2.3", 443),
                None,
                NOPROXY,
            ),
            case(
                &[("https_proxy", P), ("NO_PROXY", "::1")],
                ("https", "::1", 443),
                None,
                "CURLOPT_NOPROXY: IPv6 addresses without brackets",
            ),
            case(
                &[("https_proxy", P), ("NO_PROXY", "fd00::/8")],
                ("https", "fd00::5", 443),
                None,
                "CURLOPT_NOPROXY: CIDR for IPv6 too",
            ),
            case(
                &[("https_proxy", P), ("NO_PROXY", "fd00::/8")],
                ("https", "2001:db8::5", 443),
                Some("https_proxy p.corp:3128"),
                NOPROXY,
            ),
            case(
                &[("all_proxy", P), ("NO_PROXY", "checkip.example")],
                WEB,
                None,
                "NO_PROXY applies to every proxy variable (libcurl-env)",
            ),
            case(
                &[("https_proxy", P), ("NO_PROXY", "")],
                AWS,
                Some("https_proxy p.corp:3128"),
                "an empty list exempts nothing",
            ),
        ];
        assert!(cases.len() >= 30);
        for c in &cases {
            let env = c.env;
            let proxies = Proxies::from_lookup(|name| {
                env.iter()
                    .find(|(n, _)| *n == name)
                    .map(|(_, v)| v.to_string())
            })
            .unwrap_or_else(|e| panic!("{:?}: {}", c.env, e.message));
            let got = proxies
                .for_host(c.secure, c.host, c.port)
                .map(|p| format!("{} {}", p.variable, p.address()));
            assert_eq!(
                got.as_deref(),
                c.expect,
                "{:?} for {}:{} ({})",
                c.env,
                c.host,
                c.port,
                c.why
            );
        }
    }

    fn refused(name: &'static str, value: &'static str) -> String {
        Proxies::from_lookup(|n| (n == name).then(|| value.to_string()))
            .expect_err(value)
            .message
    }

    #[test]
    fn unusable_values_are_refused_naming_the_variable() {
        let https = refused("HTTPS_PROXY", "https://alice:pw@p.corp:443");
        assert!(https.starts_with("HTTPS_PROXY=\"https://***@p.corp:443\" names a https:// URL, which eic-ssh does not speak"), "{https}");
        let socks = refused("all_proxy", "socks5://p.corp:1080");
        assert!(
            socks.starts_with("all_proxy=\"socks5://p.corp:1080\" names a socks5:// URL"),
            "{socks}"
        );
        let bad = refused("https_proxy", "::::");
        assert!(
            bad.starts_with("https_proxy=\"::::\" is not a proxy URL"),
            "{bad}"
        );
        // A variable curl does not read is not judged either.
        assert!(Proxies::from_lookup(|n| (n == "HTTP_PROXY").then(|| "::::".into())).is_ok());
    }

    #[test]
    fn credentials_become_a_header_and_never_show() {
        let proxies = Proxies::from_lookup(|n| {
            (n == "HTTPS_PROXY").then(|| "http://alice:s3cret@p.corp:3128".into())
        })
        .unwrap();
        let proxy = proxies.for_host(true, "a.example", 443).unwrap();
        // base64("alice:s3cret")
        assert_eq!(
            proxy.authorization.as_ref().unwrap().to_str().unwrap(),
            "Basic YWxpY2U6czNjcmV0"
        );
        for text in [
            format!("{proxy}"),
            format!("{proxy:?}"),
            format!("{proxies:?}"),
        ] {
            assert!(!text.contains("s3cret") && !text.contains("YWxp"), "{text}");
        }
    }
}
