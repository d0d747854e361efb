//! SigV4 verification, written independently of the client's signer: presigned query strings
//! (openTunnel) and `Authorization` headers (EC2 and Instance Connect APIs).

use hmac::{Hmac, Mac};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use time::macros::format_description;

/// SigV4's unreserved set: everything but `A-Za-z0-9-_.~` is encoded.
const UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// Allowed difference between the signer's clock and ours.
pub const MAX_SKEW_SECS: i64 = 300;

/// The longest `X-Amz-Expires` the tunnel service takes: its presigned URLs live 60 s.
pub const MAX_PRESIGNED_EXPIRES_SECS: i64 = 60;

/// SHA-256 of the empty string: the payload hash the tunnel service expects.
pub const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/// What a request claims, parsed from its query or Authorization header.
#[derive(Debug, Clone)]
pub struct Claim {
    /// Access key id.
    pub access_key: String,
    /// `YYYYMMDD` of the scope.
    pub scope_date: String,
    /// Region of the scope.
    pub region: String,
    /// Service of the scope.
    pub service: String,
    /// `X-Amz-Date`.
    pub amz_date: String,
    /// Lower-case signed header names.
    pub signed_headers: Vec<String>,
    /// Hex signature.
    pub signature: String,
    /// `X-Amz-Expires` (presigned only).
    pub expires: Option<i64>,
    /// `X-Amz-Security-Token`, if sent.
    pub session_token: Option<String>,
}

/// Why a signature was not accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rejection {
    /// Required parts missing or malformed.
    Incomplete(String),
    /// Presigned URL past its expiry, or a header-signed request too old.
    Expired,
    /// Signed too far in the future.
    Skewed,
    /// The signature does not match.
    Mismatch,
}

/// A request as the verifier sees it.
pub struct Seen<'a> {
    /// HTTP method.
    pub method: &'a str,
    /// Raw path, e.g. `/openTunnel`.
    pub path: &'a str,
    /// Raw query string without `?`.
    pub query: &'a str,
    /// Header lookup by lower-case name.
    pub header: &'a dyn Fn(&str) -> Option<String>,
    /// Hex SHA-256 of the payload.
    pub payload_hash: String,
}

/// Decoded `key=value` pairs of a raw query string.
pub fn query_pairs(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let d = |s: &str| percent_decode_str(s).decode_utf8_lossy().into_owned();
            (d(k), d(v))
        })
        .collect()
}

/// Reads the claim of a presigned URL.
pub fn presigned_claim(query: &str) -> Result<Claim, Rejection> {
    let pairs = query_pairs(query);
    let get = |k: &str| pairs.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    let need = |k: &str| get(k).ok_or_else(|| Rejection::Incomplete(format!("missing {k}")));
    if need("X-Amz-Algorithm")? != "AWS4-HMAC-SHA256" {
        return Err(Rejection::Incomplete(
            "X-Amz-Algorithm must be AWS4-HMAC-SHA256".into(),
        ));
    }
    let (access_key, scope_date, region, service) = parse_credential(&need("X-Amz-Credential")?)?;
    let expires = need("X-Amz-Expires")?
        .parse::<i64>()
        .map_err(|_| Rejection::Incomplete("X-Amz-Expires is not a number".into()))?;
    Ok(Claim {
        access_key,
        scope_date,
        region,
        service,
        amz_date: need("X-Amz-Date")?,
        signed_headers: need("X-Amz-SignedHeaders")?
            .split(';')
            .map(str::to_string)
            .collect(),
        signature: need("X-Amz-Signature")?,
        expires: Some(expires),
        session_token: get("X-Amz-Security-Token"),
    })
}

/// Reads the claim of an `Authorization: AWS4-HMAC-SHA256 …` header.
pub fn header_claim(
    authorization: &str,
    header: &dyn Fn(&str) -> Option<String>,
) -> Result<Claim, Rejection> {
    let rest = authorization
        .strip_prefix("AWS4-HMAC-SHA256 ")
        .ok_or_else(|| Rejection::Incomplete("Authorization must use AWS4-HMAC-SHA256".into()))?;
    let mut credential = None;
    let mut signed = None;
    let mut signature = None;
    for part in rest.split(',') {
        let (k, v) = part.trim().split_once('=').unwrap_or_default();
        match k {
            "Credential" => credential = Some(v.to_string()),
            "SignedHeaders" => signed = Some(v.to_string()),
            "Signature" => signature = Some(v.to_string()),
            _ => {}
        }
    }
    let missing = |what: &str| Rejection::Incomplete(format!("Authorization lacks {what}"));
    let (access_key, scope_date, region, service) =
        parse_credential(&credential.ok_or_else(|| missing("Credential"))?)?;
    Ok(Claim {
        access_key,
        scope_date,
        region,
        service,
        amz_date: header("x-amz-date").ok_or_else(|| missing("an X-Amz-Date header"))?,
        signed_headers: signed
            .ok_or_else(|| missing("SignedHeaders"))?
            .split(';')
            .map(str::to_string)
            .collect(),
        signature: signature.ok_or_else(|| missing("Signature"))?,
        expires: None,
        session_token: header("x-amz-security-token"),
    })
}

fn parse_credential(text: &str) -> Result<(String, String, String, String), Rejection> {
    let parts: Vec<&str> = text.split('/').collect();
    match parts.as_slice() {
        [key, date, region, service, "aws4_request"] => Ok((
            key.to_string(),
            date.to_string(),
            region.to_string(),
            service.to_string(),
        )),
        _ => Err(Rejection::Incomplete(format!(
            "malformed credential scope {text:?}"
        ))),
    }
}

/// Checks time and signature of `claim` for `seen`, given the secret key.
pub fn verify(
    claim: &Claim,
    seen: &Seen,
    secret: &str,
    now: OffsetDateTime,
) -> Result<(), Rejection> {
    let signed_at = parse_amz_date(&claim.amz_date)?;
    if !claim.amz_date.starts_with(&claim.scope_date) {
        return Err(Rejection::Incomplete(
            "the scope date differs from X-Amz-Date".into(),
        ));
    }
    if let Some(expires) = claim.expires
        && !(1..=MAX_PRESIGNED_EXPIRES_SECS).contains(&expires)
    {
        // A URL that would live longer than the service allows is refused however fresh.
        return Err(Rejection::Incomplete(format!(
            "X-Amz-Expires must be between 1 and {MAX_PRESIGNED_EXPIRES_SECS} seconds, not {expires}"
        )));
    }
    let age = (now - signed_at).whole_seconds();
    if age < -MAX_SKEW_SECS {
        return Err(Rejection::Skewed);
    }
    let limit = claim.expires.unwrap_or(MAX_SKEW_SECS);
    if age > limit {
        return Err(Rejection::Expired);
    }
    if !claim.signed_headers.iter().any(|h| h == "host") {
        return Err(Rejection::Incomplete(
            "the host header must be signed".into(),
        ));
    }
    let expected = signature(claim, seen, secret)?;
    if expected != claim.signature {
        return Err(Rejection::Mismatch);
    }
    Ok(())
}

fn parse_amz_date(text: &str) -> Result<OffsetDateTime, Rejection> {
    let format = format_description!("[year][month][day]T[hour][minute][second]Z");
    time::PrimitiveDateTime::parse(text, format)
        .map(|t| t.assume_utc())
        .map_err(|_| Rejection::Incomplete(format!("malformed X-Amz-Date {text:?}")))
}

/// The signature the request should carry.
pub fn signature(claim: &Claim, seen: &Seen, secret: &str) -> Result<String, Rejection> {
    let canonical = canonical_request(claim, seen)?;
    let scope = format!(
        "{}/{}/{}/aws4_request",
        claim.scope_date, claim.region, claim.service
    );
    let string_to_sign = format!(
        "AWS4-HMAC-SHA256\n{}\n{scope}\n{}",
        claim.amz_date,
        hex::encode(Sha256::digest(canonical.as_bytes()))
    );
    let mut key = hmac(
        format!("AWS4{secret}").as_bytes(),
        claim.scope_date.as_bytes(),
    );
    for part in [
        claim.region.as_str(),
        claim.service.as_str(),
        "aws4_request",
    ] {
        key = hmac(&key, part.as_bytes());
    }
    Ok(hex::encode(hmac(&key, string_to_sign.as_bytes())))
}

fn canonical_request(claim: &Claim, seen: &Seen) -> Result<String, Rejection> {
    let uri: String = seen
        .path
        .split('/')
        .map(|seg| utf8_percent_encode(seg, UNRESERVED).to_string())
        .collect::<Vec<_>>()
        .join("/");
    let mut pairs: Vec<(String, String)> = query_pairs(seen.query)
        .into_iter()
        .filter(|(k, _)| k != "X-Amz-Signature")
        .map(|(k, v)| {
            (
                utf8_percent_encode(&k, UNRESERVED).to_string(),
                utf8_percent_encode(&v, UNRESERVED).to_string(),
            )
        })
        .collect();
    pairs.sort();
    let query = pairs
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&");
    let mut headers = String::new();
    for name in &claim.signed_headers {
        let value = (seen.header)(name)
            .ok_or_else(|| Rejection::Incomplete(format!("signed header {name} is missing")))?;
        let value = value.split_whitespace().collect::<Vec<_>>().join(" ");
        headers.push_str(&format!("{name}:{value}\n"));
    }
    Ok(format!(
        "{}\n{uri}\n{query}\n{headers}\n{}\n{}",
        seen.method,
        claim.signed_headers.join(";"),
        seen.payload_hash
    ))
}

fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

/// Hex SHA-256 of a body.
pub fn sha256_hex(body: &[u8]) -> String {
    hex::encode(Sha256::digest(body))
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    const GOLDEN_QUERY: &str = "instanceConnectEndpointId=eice-0123456789abcdef0&remotePort=22&privateIpAddress=10.0.1.5&maxTunnelDuration=3600&X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIDEXAMPLE%2F20240101%2Fus-east-1%2Fec2-instance-connect%2Faws4_request&X-Amz-Date=20240101T000000Z&X-Amz-Expires=60&X-Amz-SignedHeaders=host&X-Amz-Signature=679aee52ad1d00a059eccb46e627ac1ceadbab1588033bc6b9849da3ad796fed";
    const HOST: &str =
        "eice-0123456789abcdef0.ec2-instance-connect-endpoint.us-east-1.amazonaws.com";
    const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";

    fn check(query: &str, now: OffsetDateTime) -> Result<(), Rejection> {
        let header = |n: &str| (n == "host").then(|| HOST.to_string());
        let seen = Seen {
            method: "GET",
            path: "/openTunnel",
            query,
            header: &header,
            payload_hash: EMPTY_SHA256.into(),
        };
        let claim = presigned_claim(query)?;
        verify(&claim, &seen, SECRET, now)
    }

    #[test]
    fn golden_vector_verifies() {
        assert_eq!(
            check(GOLDEN_QUERY, datetime!(2024-01-01 0:00:30 UTC)),
            Ok(())
        );
    }

    #[test]
    fn expiry_skew_and_tampering_are_caught() {
        assert_eq!(
            check(GOLDEN_QUERY, datetime!(2024-01-01 0:01:01 UTC)),
            Err(Rejection::Expired)
        );
        assert_eq!(
            check(GOLDEN_QUERY, datetime!(2023-12-31 23:54:00 UTC)),
            Err(Rejection::Skewed)
        );
        // Signed to live an hour: refused before the signature is even computed.
        let long = GOLDEN_QUERY.replace("X-Amz-Expires=60", "X-Amz-Expires=3600");
        assert_eq!(
            check(&long, datetime!(2024-01-01 0:00:10 UTC)),
            Err(Rejection::Incomplete(
                "X-Amz-Expires must be between 1 and 60 seconds, not 3600".into()
            ))
        );
        let tampered = GOLDEN_QUERY.replace("10.0.1.5", "10.0.1.6");
        assert_eq!(
            check(&tampered, datetime!(2024-01-01 0:00:10 UTC)),
            Err(Rejection::Mismatch)
        );
    }
}
