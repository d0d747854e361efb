//! The selected AWS profile's settings, read with the SDK's own parser: the SDK's chain
//! does not expose what it read, and two of our decisions depend on it (the environment
//! fast path, MFA roles).

use aws_config::profile::{Profile, ProfileFileLoadError};
use aws_runtime::env_config::file::EnvConfigFiles;
use aws_types::os_shim_internal::{Env, Fs};

/// The profile that `profile` (else `AWS_PROFILE`, else `default`) selects, as the AWS
/// config and credentials files define it; `None` when they do not.
pub async fn selected(profile: Option<&str>) -> Result<Option<Profile>, ProfileFileLoadError> {
    let chosen = profile.map(|p| std::borrow::Cow::Owned(p.to_string()));
    let profiles = aws_config::profile::load(
        &Fs::real(),
        &Env::real(),
        &EnvConfigFiles::default(),
        chosen,
    )
    .await?;
    Ok(profiles.get_profile(profiles.selected_profile()).cloned())
}
