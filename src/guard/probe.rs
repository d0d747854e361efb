//! Finds this machine's public egress IP by asking one or more checkip services.

use std::net::IpAddr;

use futures_util::future::join_all;

use crate::family::Family;
use crate::net::dial::DialError;
use crate::net::http::{CallError, Client};

/// How long one checkip request may take.
pub const PROBE_TIMEOUT: std::time::Duration = crate::net::timeouts::EGRESS_CHECK;

/// Why the egress IP is unknown.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProbeError {
    /// A source could not be reached or answered with an error.
    #[error("{url}: {reason}")]
    Unreachable {
        /// The source.
        url: String,
        /// What went wrong.
        reason: String,
    },
    /// A source answered something that is not an IP address.
    #[error("{url} answered {answer:?}, which is not an IP address")]
    Garbage {
        /// The source.
        url: String,
        /// The start of its answer.
        answer: String,
    },
    /// The sources named different addresses.
    #[error("the egress IP sources disagree: {}", .0.iter().map(|(u, ip)| format!("{u} says {ip}")).collect::<Vec<_>>().join(", "))]
    Disagree(Vec<(String, IpAddr)>),
}

impl ProbeError {
    /// The same error, saying which family the check went over.
    pub fn over(self, family: Family) -> ProbeError {
        match self {
            ProbeError::Unreachable { url, reason } => ProbeError::Unreachable {
                url,
                reason: format!("{reason} (over {family})"),
            },
            other => other,
        }
    }
}

/// Whether `url` can be reached over `family`: any host name can (its addresses of that
/// family are tried), an IP literal only when it is of that family.
pub fn reachable_over(url: &str, family: Family) -> bool {
    let Ok(uri) = url.parse::<http::Uri>() else {
        return true;
    };
    let host = uri.host().unwrap_or_default();
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    match host.parse::<IpAddr>() {
        Ok(ip) => Family::of(ip) == family,
        Err(_) => true,
    }
}

/// Asks every URL at once; they must all answer the same address.
pub async fn egress_ip(http: &Client, urls: &[String]) -> Result<IpAddr, ProbeError> {
    let answers = join_all(urls.iter().map(|u| ask(http, u))).await;
    let mut found: Vec<(String, IpAddr)> = Vec::new();
    for (url, answer) in urls.iter().zip(answers) {
        found.push((url.clone(), answer?));
    }
    let first = found
        .first()
        .map(|(_, ip)| *ip)
        .ok_or_else(|| ProbeError::Unreachable {
            url: "(none)".into(),
            reason: "no egress check URL is configured".into(),
        })?;
    if found.iter().any(|(_, ip)| *ip != first) {
        return Err(ProbeError::Disagree(found));
    }
    tracing::debug!("egress IP {first} (from {})", urls.join(", "));
    Ok(first)
}

async fn ask(http: &Client, url: &str) -> Result<IpAddr, ProbeError> {
    let unreachable = |reason: String| ProbeError::Unreachable {
        url: url.to_string(),
        reason,
    };
    // A redirect (to http://, or to another host) is a failure, not a second source: the
    // client never follows one.
    let answer = http
        .get(url, crate::net::MAX_CHECKIP_BODY, PROBE_TIMEOUT)
        .await
        .map_err(|e| match e {
            CallError::Timeout(_) => {
                unreachable(format!("no answer within {}s", PROBE_TIMEOUT.as_secs()))
            }
            // The URL is named already: the cause alone.
            CallError::Connect(DialError::Dial { what, source }) if !what.starts_with("proxy") => {
                unreachable(crate::error::with_causes(&source))
            }
            other => unreachable(crate::error::with_causes(&other)),
        })?;
    if !(200..300).contains(&answer.status) {
        return Err(unreachable(format!("HTTP {}", answer.status)));
    }
    let body = answer.body;
    parse_answer(&body).ok_or_else(|| ProbeError::Garbage {
        url: url.to_string(),
        answer: String::from_utf8_lossy(&body[..body.len().min(40)])
            .trim()
            .to_string(),
    })
}

/// A checkip answer: one address, surrounding white space allowed.
pub fn parse_answer(body: &[u8]) -> Option<IpAddr> {
    std::str::from_utf8(body).ok()?.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers() {
        assert_eq!(
            parse_answer(b"203.0.113.9\n"),
            Some("203.0.113.9".parse().unwrap())
        );
        assert_eq!(
            parse_answer(b" 2001:db8::1 "),
            Some("2001:db8::1".parse().unwrap())
        );
        assert_eq!(parse_answer(b"<html>503</html>"), None);
        assert_eq!(parse_answer(b""), None);
    }

    #[test]
    fn literals_are_reached_over_their_own_family_only() {
        assert!(reachable_over("http://127.0.0.1:9/ip", Family::V4));
        assert!(!reachable_over("http://127.0.0.1:9/ip", Family::V6));
        assert!(reachable_over("http://[::1]:9/ip", Family::V6));
        assert!(!reachable_over("http://[::1]:9/ip", Family::V4));
        assert!(reachable_over("https://checkip.amazonaws.com", Family::V6));
    }
}
