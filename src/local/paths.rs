//! Where eic-ssh's files live on this system: the home directory (for `~` and `~/.ssh`),
//! and the bases of the config, state and cache directories. Unix follows the XDG base
//! directories; Windows the usual folders (`%USERPROFILE%`, `%APPDATA%`, `%LOCALAPPDATA%`).

use std::ffi::OsString;
use std::path::{Path, PathBuf};

fn var(name: &str) -> Option<OsString> {
    std::env::var_os(name).filter(|v| !v.is_empty())
}

/// The user's home directory: `$HOME`; on Windows `%USERPROFILE%` (else `$HOME`), where
/// OpenSSH for Windows keeps `.ssh`.
pub fn home() -> Option<PathBuf> {
    #[cfg(windows)]
    if let Some(profile) = var("USERPROFILE") {
        return Some(profile.into());
    }
    std::env::var_os("HOME").map(PathBuf::from)
}

/// Expands a leading `~` (`~/x`, or `~` alone) to the home directory; anything else, or
/// no home directory known, is left as it is.
pub fn expand_tilde(path: &Path) -> PathBuf {
    match (path.strip_prefix("~"), home()) {
        (Ok(rest), Some(home)) => home.join(rest),
        _ => path.to_path_buf(),
    }
}

/// Where the config directory `eic-ssh/` goes: `$XDG_CONFIG_HOME`, else `~/.config`; on
/// Windows `%APPDATA%` (roaming: the config follows the user).
pub fn config_base() -> Option<PathBuf> {
    #[cfg(windows)]
    if let Some(appdata) = var("APPDATA") {
        return Some(appdata.into());
    }
    xdg("XDG_CONFIG_HOME", ".config")
}

/// Where the state directory `eic-ssh/` (the connection log) goes: `$XDG_STATE_HOME`, else
/// `~/.local/state`; on Windows `%LOCALAPPDATA%` (this machine's).
pub fn state_base() -> Option<PathBuf> {
    #[cfg(windows)]
    if let Some(local) = var("LOCALAPPDATA") {
        return Some(local.into());
    }
    xdg("XDG_STATE_HOME", ".local/state")
}

/// Where the cache directory `eic-ssh/` goes: `$XDG_CACHE_HOME`, else `~/.cache`; on
/// Windows `%LOCALAPPDATA%`.
pub fn cache_base() -> Option<PathBuf> {
    #[cfg(windows)]
    if let Some(local) = var("LOCALAPPDATA") {
        return Some(local.into());
    }
    xdg("XDG_CACHE_HOME", ".cache")
}

fn xdg(variable: &str, below_home: &str) -> Option<PathBuf> {
    var(variable)
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(below_home)))
}

/// The default config file, as messages name it.
#[cfg(not(windows))]
pub const CONFIG_SHOWN: &str = "~/.config/eic-ssh/config.toml";
/// The default config file, as messages name it.
#[cfg(windows)]
pub const CONFIG_SHOWN: &str = r"%APPDATA%\eic-ssh\config.toml";
