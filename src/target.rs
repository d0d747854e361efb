//! Parses what the user names as a target: instance ids (aliases come with the config file).

use std::path::{Path, PathBuf};

use crate::error::Failure;

/// Checks `i-` followed by 8 or 17 hex digits.
pub fn instance_id(text: &str) -> Result<&str, Failure> {
    let hex = text.strip_prefix("i-").unwrap_or_default();
    let ok = matches!(hex.len(), 8 | 17) && hex.bytes().all(|b| b.is_ascii_hexdigit());
    if ok {
        Ok(text)
    } else {
        Err(Failure::usage(format!(
            "{text:?} is not an instance id (expected i- and 8 or 17 hex digits, e.g. i-0123456789abcdef0)"
        )))
    }
}

/// Expands a leading `~/` to the home directory.
pub fn expand_tilde(path: &Path) -> PathBuf {
    match (path.strip_prefix("~"), std::env::var_os("HOME")) {
        (Ok(rest), Some(home)) => PathBuf::from(home).join(rest),
        _ => path.to_path_buf(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instance_ids() {
        assert!(instance_id("i-0123456789abcdef0").is_ok());
        assert!(instance_id("i-01234567").is_ok());
        assert!(instance_id("i-xyz").is_err());
        assert!(
            instance_id("bastion")
                .unwrap_err()
                .message
                .contains("not an instance id")
        );
    }
}
