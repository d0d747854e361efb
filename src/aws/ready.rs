//! The run's credentials made ready once the guard has admitted the network: a profile's
//! `credential_process` taken from the SDK and run by eic-ssh (`process.rs`), and an MFA
//! role's AssumeRole with the code asked for (`mfa.rs`). Kept apart from `context.rs`,
//! which reads settings and sends nothing, so that the calls these make can use the context.

use aws_credential_types::provider::SharedCredentialsProvider;

use super::connections::ApiConnections;
use super::context::{AwsChoices, AwsContext};
use crate::error::Failure;

/// [`AwsContext::settings`], then [`with_mfa`].
pub async fn load(
    choices: &AwsChoices,
    http: crate::net::http::Client,
    api: ApiConnections,
) -> Result<AwsContext, Failure> {
    with_mfa(AwsContext::settings(choices, http, api).await?, choices).await
}

/// For a role that needs an MFA code, asks for it and calls AssumeRole (the SDK would
/// call it without one): a request to AWS, so only once the guard has admitted the network.
/// A profile's `credential_process` is taken from the SDK here too, and run by eic-ssh
/// when first needed.
pub async fn with_mfa(mut aws: AwsContext, choices: &AwsChoices) -> Result<AwsContext, Failure> {
    if let Some(process) =
        super::process::CredentialProcess::of_profile(choices.profile.as_deref()).await
    {
        aws.credentials = SharedCredentialsProvider::new(process);
    }
    if let Some(role) = super::mfa::role_of(choices.profile.as_deref()).await? {
        aws.credentials = super::mfa::credentials(&role, &aws).await?;
    }
    Ok(aws)
}
