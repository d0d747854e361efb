//! Assume-role profiles with `mfa_serial`: ask for the code on the terminal once per run,
//! then call STS AssumeRole with it. The Rust SDK does not ask (the AWS CLI does), so
//! without this such a profile could not be used at all.

use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use aws_config::profile::ProfileFileCredentialsProvider;
use aws_credential_types::Credentials;
use aws_credential_types::provider::SharedCredentialsProvider;
use roxmltree::Document;

use super::client::{ApiCall, send};
use super::context::AwsContext;
use super::error::AwsError;
use crate::error::{Failure, Kind};

/// What the selected profile says about the role it assumes with MFA.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MfaRole {
    /// The profile selected (`--profile`, `AWS_PROFILE`, or `default`).
    pub profile: String,
    /// `role_arn`.
    pub role_arn: String,
    /// `mfa_serial`: the device whose code is asked for.
    pub mfa_serial: String,
    /// `source_profile`: whose credentials call AssumeRole.
    pub source_profile: Option<String>,
    /// `role_session_name`.
    pub session_name: Option<String>,
    /// `duration_seconds`.
    pub duration_seconds: Option<u32>,
    /// `external_id`.
    pub external_id: Option<String>,
}

/// Credentials this run got with an MFA code, by profile: asked once per run.
static ISSUED: Mutex<Vec<(String, Credentials)>> = Mutex::new(Vec::new());

/// The selected profile's MFA role, if it has both `role_arn` and `mfa_serial` and the
/// environment's own keys do not take precedence (as they do in the SDK's chain).
pub async fn role_of(profile: Option<&str>) -> Result<Option<MfaRole>, Failure> {
    let env_keys = std::env::var_os("AWS_ACCESS_KEY_ID").is_some_and(|v| !v.is_empty());
    if env_keys {
        return Ok(None);
    }
    let selected = super::profile_file::selected(profile).await.map_err(|e| {
        Failure::new(
            Kind::Credentials,
            format!("cannot read the AWS config: {e}"),
        )
    })?;
    let Some(p) = selected else {
        return Ok(None);
    };
    let (Some(role_arn), Some(mfa_serial)) = (p.get("role_arn"), p.get("mfa_serial")) else {
        return Ok(None);
    };
    Ok(Some(MfaRole {
        profile: p.name().to_string(),
        role_arn: role_arn.to_string(),
        mfa_serial: mfa_serial.to_string(),
        source_profile: p.get("source_profile").map(str::to_string),
        session_name: p.get("role_session_name").map(str::to_string),
        duration_seconds: p.get("duration_seconds").and_then(|d| d.parse().ok()),
        external_id: p.get("external_id").map(str::to_string),
    }))
}

/// Credentials for the role: from this run's earlier answer while they last, else after
/// asking for a code on the terminal.
pub async fn credentials(
    role: &MfaRole,
    base: &AwsContext,
) -> Result<SharedCredentialsProvider, Failure> {
    let fresh = |c: &Credentials| {
        c.expiry()
            .is_none_or(|t| t > SystemTime::now() + Duration::from_secs(60))
    };
    if let Some((_, c)) = ISSUED
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
        .find(|(p, c)| *p == role.profile && fresh(c))
    {
        return Ok(SharedCredentialsProvider::new(c.clone()));
    }
    let Some(source) = &role.source_profile else {
        return Err(Failure::new(
            Kind::Credentials,
            format!(
                "profile {} has mfa_serial but no source_profile: eic-ssh asks for MFA codes only for source_profile roles",
                role.profile
            ),
        ));
    };
    let code = ask_code(role).await?;
    let setup = aws_config::provider_config::ProviderConfig::without_region()
        .with_region(Some(aws_config::Region::new(base.region.clone())))
        .with_http_client(super::sdk_http::SdkHttp(base.http.clone()));
    let source = ProfileFileCredentialsProvider::builder()
        .configure(&setup)
        .profile_name(source)
        .build();
    let caller = AwsContext {
        credentials: SharedCredentialsProvider::new(source),
        ..base.clone()
    };
    let issued = assume_role(&caller, role, &code).await?;
    ISSUED
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push((role.profile.clone(), issued.clone()));
    Ok(SharedCredentialsProvider::new(issued))
}

/// Reads a six-digit code from the controlling terminal (ssh's ProxyCommand has one too),
/// on a blocking thread.
async fn ask_code(role: &MfaRole) -> Result<String, Failure> {
    let no_terminal = |e: std::io::Error| {
        Failure::new(
            Kind::Credentials,
            format!(
                "profile {} assumes {} with MFA ({}), and there is no terminal to ask for the code ({e}): run eic-ssh from a terminal, or export temporary credentials first (aws configure export-credentials --profile {} --format env)",
                role.profile, role.role_arn, role.mfa_serial, role.profile
            ),
        )
    };
    let line = crate::local::prompt::ask_async(format!("MFA code for {}: ", role.mfa_serial))
        .await
        .map_err(no_terminal)?;
    let code = line.trim().to_string();
    if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Failure::new(
            Kind::Credentials,
            format!(
                "an MFA code is six digits, not {:?}",
                crate::printable::escape(&code)
            ),
        ));
    }
    Ok(code)
}

/// STS AssumeRole with the MFA serial and code, signed with the source credentials.
async fn assume_role(
    caller: &AwsContext,
    role: &MfaRole,
    code: &str,
) -> Result<Credentials, Failure> {
    const ACTION: &str = "AssumeRole";
    let session = role.session_name.clone().unwrap_or_else(|| {
        let now = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        format!("eic-ssh-{now}")
    });
    let duration = role.duration_seconds.unwrap_or(3600).to_string();
    let body = {
        let mut form = form_urlencoded::Serializer::new(String::new());
        form.append_pair("Action", ACTION)
            .append_pair("Version", "2011-06-15")
            .append_pair("RoleArn", &role.role_arn)
            .append_pair("RoleSessionName", &session)
            .append_pair("SerialNumber", &role.mfa_serial)
            .append_pair("TokenCode", code)
            .append_pair("DurationSeconds", &duration);
        if let Some(id) = &role.external_id {
            form.append_pair("ExternalId", id);
        }
        form.finish().into_bytes()
    };
    let call = ApiCall {
        action: ACTION,
        service: "sts",
        url: &caller.sts_url,
        content_type: "application/x-www-form-urlencoded; charset=utf-8",
        target: None,
        body,
    };
    let response = send(caller, call).await?;
    let text = String::from_utf8_lossy(&response.body);
    if !(200..300).contains(&response.status) {
        let (code, message) = super::ec2::parse_error(&text)
            .unwrap_or_else(|| (format!("HTTP{}", response.status), String::new()));
        return Err(AwsError::Service {
            action: ACTION.into(),
            status: response.status,
            code,
            message,
        }
        .into());
    }
    parse_credentials(&text).map_err(|reason| {
        AwsError::Malformed {
            action: ACTION.into(),
            reason,
        }
        .into()
    })
}

/// The `<Credentials>` of an AssumeRole response.
pub fn parse_credentials(xml: &str) -> Result<Credentials, String> {
    let doc = Document::parse(xml).map_err(|e| format!("bad XML: {e}"))?;
    let field = |name: &str| {
        doc.descendants()
            .find(|n| n.has_tag_name(name))
            .and_then(|n| n.text())
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| format!("no {name}"))
    };
    let expiry = aws_smithy_types::DateTime::from_str(
        field("Expiration")?,
        aws_smithy_types::date_time::Format::DateTime,
    )
    .ok()
    .and_then(|t| SystemTime::try_from(t).ok())
    .ok_or("a bad Expiration")?;
    Ok(Credentials::new(
        field("AccessKeyId")?,
        field("SecretAccessKey")?,
        Some(field("SessionToken")?.to_string()),
        Some(expiry),
        "eic-ssh-mfa",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn assume_role_credentials_are_read() {
        let xml = "<AssumeRoleResponse><AssumeRoleResult><Credentials><AccessKeyId>ASIA1</AccessKeyId><SecretAccessKey>s</SecretAccessKey><SessionToken>t</SessionToken><Expiration>2030-01-01T00:00:00Z</Expiration></Credentials></AssumeRoleResult></AssumeRoleResponse>";
        let c = parse_credentials(xml).unwrap();
        assert_eq!(c.access_key_id(), "ASIA1");
        assert_eq!(c.session_token(), Some("t"));
        assert!(c.expiry().is_some());
        assert!(parse_credentials("<x/>").unwrap_err().contains("no "));
    }
}
