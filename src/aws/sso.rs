//! Credentials of an SSO profile that cannot be had (the session expired, or was never
//! started here): one sentence with the exact `aws sso login` that fixes it.

use aws_credential_types::provider::error::{CredentialsError, TokenError};

/// Whether the profile `profile` selects (else `AWS_PROFILE`, else `default`) gets its
/// credentials from IAM Identity Center: it names an `sso_session` or an `sso_start_url`.
pub async fn uses_sso(profile: Option<&str>) -> bool {
    match super::profile_file::selected(profile).await {
        Ok(Some(p)) => p.get("sso_session").is_some() || p.get("sso_start_url").is_some(),
        _ => false,
    }
}

/// The command that starts a new SSO session for `profile` (the one in use; `None`: the
/// default profile, which needs no `--profile`).
pub fn login_command(profile: Option<&str>) -> String {
    match profile {
        Some(p) => format!("aws sso login --profile {}", crate::printable::escape(p)),
        None => "aws sso login".into(),
    }
}

/// The sentence for an SSO profile whose credentials failed. The SDK finds an expired
/// token locally (the cached token's `expiresAt` has passed and it cannot be refreshed) and
/// says so through the token provider, a [`TokenError`] under the credentials error; any
/// other failure of an SSO profile (no cached token, a refusal from the SSO service) has
/// the same fix.
pub fn sentence(e: &CredentialsError, profile: Option<&str>) -> String {
    let scope = profile.map_or(String::new(), |p| {
        format!("profile {}: ", crate::printable::escape(p))
    });
    let login = login_command(profile);
    if token_expired(e) {
        return format!("{scope}the AWS SSO session has expired: run `{login}`, then try again");
    }
    format!(
        "{scope}no credentials from AWS SSO ({}): run `{login}`, then try again",
        crate::error::with_causes(e)
    )
}

/// Whether the SSO token provider, somewhere under `e`, failed for an expired token.
fn token_expired(e: &CredentialsError) -> bool {
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        if cause.downcast_ref::<TokenError>().is_some() {
            return crate::error::with_causes(cause).contains("expired");
        }
        source = cause.source();
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Said(&'static str);

    impl std::fmt::Display for Said {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str(self.0)
        }
    }

    impl std::error::Error for Said {}

    #[test]
    fn the_login_names_the_profile_unless_it_is_the_default() {
        assert_eq!(login_command(Some("corp")), "aws sso login --profile corp");
        assert_eq!(login_command(None), "aws sso login");
    }

    #[test]
    fn an_expired_token_is_said_so_and_anything_else_keeps_its_cause() {
        let expired = CredentialsError::provider_error(TokenError::provider_error(Said(
            "the SSO token has expired and cannot be refreshed",
        )));
        assert_eq!(
            sentence(&expired, Some("corp")),
            "profile corp: the AWS SSO session has expired: run `aws sso login --profile corp`, then try again"
        );
        let missing =
            CredentialsError::provider_error(Said("failed to read `/h/.aws/sso/cache/x.json`"));
        assert_eq!(
            sentence(&missing, None),
            "no credentials from AWS SSO (an error occurred while loading credentials: failed to read `/h/.aws/sso/cache/x.json`): run `aws sso login`, then try again"
        );
    }
}
