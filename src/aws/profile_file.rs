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

/// The largest AWS config or credentials file eic-ssh lets the SDK read (16 MiB).
pub const MAX_FILE: u64 = 16 << 20;

/// Checks the AWS config and credentials files before the SDK reads them whole: each is
/// missing, empty or `/dev/null` (no file, as the AWS CLI reads them), or a regular file
/// of at most [`MAX_FILE`] bytes. A FIFO would hang the SDK's read, `/dev/zero` would fill
/// memory, a directory or a socket cannot be read: each is refused, saying which file and
/// why.
pub fn check_files() -> Result<(), crate::error::Failure> {
    let home = crate::local::paths::home();
    let files = [
        ("AWS_CONFIG_FILE", ".aws/config"),
        ("AWS_SHARED_CREDENTIALS_FILE", ".aws/credentials"),
    ];
    for (var, default) in files {
        let path = match std::env::var_os(var).filter(|v| !v.is_empty()) {
            Some(p) => crate::local::paths::expand_tilde(std::path::Path::new(&p)),
            None => match &home {
                Some(h) => h.join(default),
                None => continue,
            },
        };
        match crate::local::files::open_limited(&path, MAX_FILE) {
            Ok(_) => continue,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => {
                return Err(crate::error::Failure::usage(format!(
                    "cannot read the AWS file {} ({var}): {e}",
                    crate::printable::escape(&path.display().to_string())
                )));
            }
        }
    }
    Ok(())
}
