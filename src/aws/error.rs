//! Errors from AWS calls, and the sentence and exit code each one becomes.

use crate::error::{Failure, Kind, sentences};

/// Why an AWS call failed.
#[derive(Debug, thiserror::Error)]
pub enum AwsError {
    /// No usable credentials could be loaded.
    #[error("{0}")]
    Credentials(String),
    /// The service answered with an error code.
    #[error("{action} failed: {code}: {message}")]
    Service {
        /// API action, e.g. `DescribeInstances`.
        action: String,
        /// HTTP status.
        status: u16,
        /// AWS error code, e.g. `InvalidInstanceID.NotFound`.
        code: String,
        /// The service's message, trimmed to one line.
        message: String,
    },
    /// The request did not get an answer.
    #[error("{action} failed: {}", unreachable(endpoint, reason))]
    Network {
        /// API action.
        action: String,
        /// The endpoint URL called.
        endpoint: String,
        /// What went wrong, with its causes.
        reason: String,
    },
    /// The answer could not be understood.
    #[error("{action} returned a response eic-ssh cannot read: {reason}")]
    Malformed {
        /// API action.
        action: String,
        /// What was wrong with it.
        reason: String,
    },
}

/// "cannot reach ENDPOINT: REASON", the endpoint said once: a reason that already says
/// what could not be reached (`cannot reach HOST:443: …`, `cannot reach proxy …`) stands
/// alone.
fn unreachable(endpoint: &str, reason: &str) -> String {
    if reason.starts_with("cannot reach ") {
        reason.to_string()
    } else {
        format!("cannot reach {endpoint}: {reason}")
    }
}

/// Codes that mean "your credentials or permissions", not "your input".
const AUTH_CODES: &[&str] = &[
    "AuthFailure",
    "UnauthorizedOperation",
    "AccessDenied",
    "AccessDeniedException",
    "RequestExpired",
    "ExpiredToken",
    "ExpiredTokenException",
    "InvalidClientTokenId",
    "SignatureDoesNotMatch",
    "InvalidSignatureException",
    "IncompleteSignature",
    "UnrecognizedClientException",
    "AuthException",
    "OptInRequired",
];

/// Codes that mean the instance or endpoint is missing or unusable.
const NOT_FOUND_CODES: &[&str] = &[
    "InvalidInstanceID.NotFound",
    "InvalidInstanceID.Malformed",
    "InvalidInstanceConnectEndpointId.NotFound",
    "InvalidInstanceConnectEndpointId.Malformed",
    "EC2InstanceNotFoundException",
    "EC2InstanceStateInvalidException",
    "EC2InstanceUnavailableException",
];

impl From<AwsError> for Failure {
    fn from(e: AwsError) -> Failure {
        match &e {
            AwsError::Credentials(_) => Failure::new(Kind::Credentials, e.to_string()),
            AwsError::Service { action, code, .. } if AUTH_CODES.contains(&code.as_str()) => {
                let hint = auth_hint(code, action);
                Failure::new(Kind::Credentials, sentences(&e.to_string(), &hint))
            }
            AwsError::Service { code, .. } if NOT_FOUND_CODES.contains(&code.as_str()) => {
                Failure::new(Kind::NotFound, e.to_string())
            }
            AwsError::Network { .. } => Failure::new(Kind::Network, e.to_string()),
            _ => Failure::new(Kind::Other, e.to_string()),
        }
    }
}

fn auth_hint(code: &str, action: &str) -> String {
    match code {
        "UnauthorizedOperation" | "AccessDenied" | "AccessDeniedException" => {
            format!("Your IAM policy must allow {}", iam_action(action))
        }
        "RequestExpired" | "ExpiredToken" | "ExpiredTokenException" => {
            "Your credentials have expired: refresh them (e.g. `aws sso login`) and retry".into()
        }
        _ => "Check the credentials in use (AWS_PROFILE, --profile, `aws sso login`)".into(),
    }
}

/// The IAM action name for an API action.
pub fn iam_action(action: &str) -> String {
    match action {
        "SendSSHPublicKey" => "ec2-instance-connect:SendSSHPublicKey".into(),
        "OpenTunnel" => "ec2-instance-connect:OpenTunnel".into(),
        "SimulatePrincipalPolicy" | "GetRole" => format!("iam:{action}"),
        "AssumeRole" | "GetCallerIdentity" => format!("sts:{action}"),
        "LookupEvents" => "cloudtrail:LookupEvents".into(),
        other => format!("ec2:{other}"),
    }
}

/// One line of a service message, escaped for the terminal: EC2 appends a long encoded
/// blob to UnauthorizedOperation.
pub fn one_line(message: &str) -> String {
    let message = message
        .split(" Encoded authorization failure message:")
        .next()
        .unwrap_or(message);
    let line = message.lines().next().unwrap_or_default().trim();
    let line: String = line.chars().take(400).collect();
    crate::printable::escape(&line)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn service(code: &str) -> AwsError {
        AwsError::Service {
            action: "DescribeInstances".into(),
            status: 400,
            code: code.into(),
            message: "msg".into(),
        }
    }

    #[test]
    fn auth_codes_map_to_exit_4_with_a_hint() {
        let f = Failure::from(service("UnauthorizedOperation"));
        assert_eq!(f.kind, Kind::Credentials);
        assert_eq!(
            f.message,
            "DescribeInstances failed: UnauthorizedOperation: msg. Your IAM policy must allow ec2:DescribeInstances"
        );
    }

    #[test]
    fn not_found_maps_to_exit_5() {
        assert_eq!(
            Failure::from(service("InvalidInstanceID.NotFound")).kind,
            Kind::NotFound
        );
        assert_eq!(Failure::from(service("Throttling")).kind, Kind::Other);
    }

    #[test]
    fn encoded_blobs_are_cut() {
        let m = "You are not authorized to perform this operation. Encoded authorization failure message: AAAA\nmore";
        assert_eq!(
            one_line(m),
            "You are not authorized to perform this operation."
        );
    }
}
