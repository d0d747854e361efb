//! Where each effective setting came from (a flag, the environment, a config section, the
//! AWS profile, the built-in default), named as `config check` shows it.

use std::collections::BTreeMap;
use std::fmt;

/// One place a setting can come from, highest precedence first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// A command-line flag (its name, e.g. `--region`).
    Flag(&'static str),
    /// A `[hosts.ALIAS]` section of the config file (the alias).
    Section(String),
    /// An environment variable, with the value it held.
    Env {
        /// The variable, e.g. `AWS_REGION`.
        var: &'static str,
        /// What it held.
        value: String,
    },
    /// The config file's `[defaults]`.
    Defaults,
    /// The selected AWS profile's settings in `~/.aws/config`.
    AwsProfile {
        /// The profile.
        name: String,
        /// The value it sets.
        value: String,
    },
    /// Built into eic-ssh (or, for the AWS profile, the SDK's `default`).
    Default,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Flag(flag) => write!(f, "flag {flag}"),
            Origin::Section(alias) => write!(f, "config [hosts.{alias}]"),
            Origin::Env { var, .. } => write!(f, "env {var}"),
            Origin::Defaults => f.write_str("config [defaults]"),
            Origin::AwsProfile { name, .. } => write!(f, "AWS profile {name}"),
            Origin::Default => f.write_str("default"),
        }
    }
}

impl Origin {
    /// The value an environment variable or the AWS profile held (the settings leave
    /// those to the AWS layer, which reads them itself).
    pub fn held(&self) -> Option<&str> {
        match self {
            Origin::Env { value, .. } | Origin::AwsProfile { value, .. } => Some(value),
            _ => None,
        }
    }
}

/// Where each setting that has a value came from, by its config-file key.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Origins(BTreeMap<&'static str, Origin>);

impl Origins {
    /// None yet.
    pub fn new() -> Origins {
        Origins::default()
    }

    /// Records where `key` came from.
    pub fn insert(&mut self, key: &'static str, origin: Origin) {
        self.0.insert(key, origin);
    }

    /// The first of `layers` that holds a value, its origin recorded under `key`.
    pub fn pick<T>(
        &mut self,
        key: &'static str,
        layers: impl IntoIterator<Item = (Option<T>, Origin)>,
    ) -> Option<T> {
        let (value, origin) = first(layers)?;
        self.insert(key, origin);
        Some(value)
    }

    /// Where `key` came from; `None` when it has no value.
    pub fn get(&self, key: &str) -> Option<&Origin> {
        self.0.get(key)
    }

    /// Every key with a value and its origin, by key.
    pub fn iter(&self) -> impl Iterator<Item = (&'static str, &Origin)> {
        self.0.iter().map(|(k, o)| (*k, o))
    }
}

/// The first of `layers` (highest precedence first) that holds a value, with its origin.
pub fn first<T>(layers: impl IntoIterator<Item = (Option<T>, Origin)>) -> Option<(T, Origin)> {
    layers
        .into_iter()
        .find_map(|(value, origin)| value.map(|v| (v, origin)))
}

/// The first of `vars` set to something other than blanks, as an [`Origin::Env`].
pub fn env(vars: &[&'static str]) -> Option<Origin> {
    vars.iter().find_map(|var| {
        std::env::var(var)
            .ok()
            .filter(|v| !v.trim().is_empty())
            .map(|value| Origin::Env { var, value })
    })
}

/// An environment variable a `[hosts.X]` section's own value overrode, for `-v` and
/// `config check`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Overridden {
    /// The setting (`region` or `profile`).
    pub key: &'static str,
    /// The section's value, which applies.
    pub value: String,
    /// The section (its alias).
    pub alias: String,
    /// The variable ignored.
    pub var: &'static str,
    /// What it held.
    pub ignored: String,
}

impl fmt::Display for Overridden {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} from [hosts.{}] ({}={} ignored)",
            self.key,
            crate::printable::escape(&self.value),
            crate::printable::escape(&self.alias),
            self.var,
            crate::printable::escape(&self.ignored)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_read_like_git_config_show_origin() {
        let shown: Vec<String> = [
            Origin::Flag("--region"),
            Origin::Section("prod".into()),
            Origin::Env {
                var: "AWS_REGION",
                value: "ap-southeast-2".into(),
            },
            Origin::Defaults,
            Origin::AwsProfile {
                name: "prod".into(),
                value: "us-east-1".into(),
            },
            Origin::Default,
        ]
        .iter()
        .map(ToString::to_string)
        .collect();
        assert_eq!(
            shown,
            [
                "flag --region",
                "config [hosts.prod]",
                "env AWS_REGION",
                "config [defaults]",
                "AWS profile prod",
                "default"
            ]
        );
        let layers = [
            (None, Origin::Flag("--region")),
            (Some(1), Origin::Defaults),
            (Some(2), Origin::Default),
        ];
        assert_eq!(first(layers), Some((1, Origin::Defaults)));
    }
}
