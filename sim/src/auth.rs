//! Who is calling, and may they: credential lookup, SigV4 check, and IAM denies, per API flavour.

use time::OffsetDateTime;

use crate::sigv4::{Claim, Rejection, Seen, header_claim, sha256_hex, verify};
use crate::world::{Credential, World};

/// Which API answers, since each words its auth errors differently.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Api {
    /// EC2 Query API (XML errors).
    Ec2,
    /// EC2 Instance Connect JSON API.
    InstanceConnect,
    /// The openTunnel WebSocket handshake.
    Tunnel,
    /// STS Query API (XML errors).
    Sts,
    /// IAM Query API (XML errors; global: signed for the partition's global region).
    Iam,
    /// CloudTrail JSON API.
    CloudTrail,
}

/// An error answer: HTTP status, AWS error code, message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Denial {
    /// HTTP status.
    pub status: u16,
    /// AWS error code.
    pub code: String,
    /// Message.
    pub message: String,
}

impl Denial {
    /// Builds a denial.
    pub fn new(status: u16, code: &str, message: impl Into<String>) -> Self {
        Denial {
            status,
            code: code.into(),
            message: message.into(),
        }
    }
}

/// Authenticates a header-signed API request (EC2 Query or JSON 1.1) for `iam_action`.
pub fn authenticate_request(
    world: &World,
    api: Api,
    service: &str,
    parts: &http::request::Parts,
    body: &[u8],
    iam_action: &str,
    resource: &str,
) -> Result<Caller, Denial> {
    let header = header_of(&parts.headers);
    let authorization = header("authorization").ok_or_else(|| match api {
        Api::Ec2 => invalid_token(api),
        _ => Denial::new(
            400,
            "MissingAuthenticationTokenException",
            "Missing Authentication Token",
        ),
    })?;
    let claim = header_claim(&authorization, &header)
        .map_err(|e| Denial::new(400, "IncompleteSignature", format!("{e:?}")))?;
    let seen = Seen {
        method: parts.method.as_str(),
        path: parts.uri.path(),
        query: parts.uri.query().unwrap_or_default(),
        header: &header,
        payload_hash: sha256_hex(body),
    };
    let cred = authenticate(world, api, service, &claim, &seen, iam_action, resource)?;
    Ok(Caller {
        region: claim.region,
        principal: cred.principal.clone(),
    })
}

/// Who made an authenticated request, and for which region it was signed.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The region of the signature's scope.
    pub region: String,
    /// The caller's principal ARN.
    pub principal: String,
}

/// Checks the claim against the world; on success returns the caller's credential.
pub fn authenticate<'w>(
    world: &'w World,
    api: Api,
    service: &str,
    claim: &Claim,
    seen: &Seen,
    iam_action: &str,
    resource: &str,
) -> Result<&'w Credential, Denial> {
    let now = OffsetDateTime::now_utc();
    let Some(cred) = world.credential(&claim.access_key) else {
        return Err(invalid_token(api));
    };
    if claim.session_token != cred.session_token {
        return Err(invalid_token(api));
    }
    if cred.expires_at.is_some_and(|t| t < now.unix_timestamp()) {
        return Err(expired_token(api));
    }
    // EC2 and CloudTrail answer in the account's other (empty) regions too; IAM, a global
    // service, only for its partition's global region; everything else lives in one.
    let home = match api {
        Api::Iam => iam_signing_region(&world.region),
        _ => world.region.as_str(),
    };
    let enabled = claim.region == world.region || world.empty_regions.contains(&claim.region);
    if api == Api::CloudTrail && !enabled && claim.service == service {
        // A region the account has not enabled does not know the key at all.
        return Err(invalid_token(api));
    }
    let region_ok = claim.region == home
        || (matches!(api, Api::Ec2 | Api::Sts | Api::CloudTrail)
            && world.empty_regions.contains(&claim.region));
    if !region_ok || claim.service != service {
        return Err(mismatch(
            api,
            format!(
                "Credential should be scoped to a valid region and service ({home}/{service}), not {}/{}.",
                claim.region, claim.service
            ),
        ));
    }
    verify(claim, seen, &cred.secret_key, now).map_err(|r| match r {
        Rejection::Expired => expired_request(api),
        Rejection::Skewed => Denial::new(
            status(api, 400),
            "RequestTimeTooSkewed",
            "The difference between the request time and the current time is too large.",
        ),
        Rejection::Mismatch => mismatch(
            api,
            "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method.".into(),
        ),
        Rejection::Incomplete(why) => Denial::new(status(api, 400), "IncompleteSignature", why),
    })?;
    if cred.deny.iter().any(|d| d == iam_action) {
        return Err(denied(api, &cred.principal, iam_action, resource));
    }
    Ok(cred)
}

/// The region IAM requests are signed for in the partition of `region`.
pub fn iam_signing_region(region: &str) -> &'static str {
    if region.starts_with("cn-") {
        "cn-north-1"
    } else if region.starts_with("us-gov-") {
        "us-gov-west-1"
    } else {
        "us-east-1"
    }
}

fn status(api: Api, otherwise: u16) -> u16 {
    if api == Api::Tunnel { 403 } else { otherwise }
}

fn invalid_token(api: Api) -> Denial {
    match api {
        Api::Sts | Api::Iam => Denial::new(
            403,
            "InvalidClientTokenId",
            "The security token included in the request is invalid.",
        ),
        Api::Ec2 => Denial::new(
            401,
            "AuthFailure",
            "AWS was not able to validate the provided access credentials",
        ),
        _ => Denial::new(
            status(api, 400),
            "UnrecognizedClientException",
            "The security token included in the request is invalid.",
        ),
    }
}

fn expired_token(api: Api) -> Denial {
    match api {
        Api::Sts | Api::Iam => Denial::new(
            400,
            "ExpiredToken",
            "The security token included in the request is expired",
        ),
        Api::Ec2 => Denial::new(400, "RequestExpired", "Request has expired."),
        _ => Denial::new(
            status(api, 400),
            "ExpiredTokenException",
            "The security token included in the request is expired",
        ),
    }
}

fn expired_request(api: Api) -> Denial {
    match api {
        Api::Ec2 => Denial::new(400, "RequestExpired", "Request has expired."),
        _ => Denial::new(status(api, 400), "RequestExpired", "Request has expired."),
    }
}

fn mismatch(api: Api, message: String) -> Denial {
    match api {
        Api::Ec2 => Denial::new(403, "SignatureDoesNotMatch", message),
        Api::InstanceConnect | Api::CloudTrail => {
            Denial::new(400, "InvalidSignatureException", message)
        }
        Api::Tunnel | Api::Sts | Api::Iam => Denial::new(403, "SignatureDoesNotMatch", message),
    }
}

fn denied(api: Api, principal: &str, action: &str, resource: &str) -> Denial {
    match api {
        Api::Sts => Denial::new(
            403,
            "AccessDenied",
            format!(
                "User: {principal} is not authorized to perform: {action} on resource: {resource}"
            ),
        ),
        Api::Iam => Denial::new(
            403,
            "AccessDenied",
            format!(
                "User: {principal} is not authorized to perform: {action} on resource: {resource} because no identity-based policy allows the {action} action"
            ),
        ),
        Api::Ec2 => Denial::new(
            403,
            "UnauthorizedOperation",
            format!(
                "You are not authorized to perform this operation. User: {principal} is not authorized to perform: {action} because no identity-based policy allows the {action} action. Encoded authorization failure message: c2ltdWxhdGVk"
            ),
        ),
        _ => Denial::new(
            status(api, 400),
            "AccessDeniedException",
            format!(
                "User: {principal} is not authorized to perform: {action} on resource: {resource}"
            ),
        ),
    }
}

/// Header lookup for the SigV4 verifier.
pub fn header_of(headers: &http::HeaderMap) -> impl Fn(&str) -> Option<String> + '_ {
    move |name: &str| {
        let values: Vec<&str> = headers
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect();
        (!values.is_empty()).then(|| values.join(","))
    }
}
