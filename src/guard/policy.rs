//! What the guard needs to know of a target: its allowlists, where to learn the egress IP,
//! and how to name the target and the file to fix. Built by `route` from the settings.

use ipnet::IpNet;

/// The guard's policy for one target.
#[derive(Debug, Clone, Default)]
pub struct Policy {
    /// How messages name the target (the alias, else what was typed).
    pub label: String,
    /// Where to fix the allowlist, for messages.
    pub config_hint: String,
    /// The target's own allowlist.
    pub allow: Vec<IpNet>,
    /// Which section the allowlist came from (`hosts.X` or `defaults`).
    pub allow_source: Option<String>,
    /// Add the security group's admitted ranges to the allowlist.
    pub allow_from_security_group: bool,
    /// The allowlists of other sections naming the same instance, with the section: each
    /// must admit the IP too.
    pub also_allow: Vec<(String, Vec<IpNet>)>,
    /// `egress_check = false` applies: no check, by the user's explicit choice.
    pub opted_out: bool,
    /// Egress check URLs; they must agree.
    pub egress_urls: Vec<String>,
}

impl Policy {
    /// Whether the guard applies: a static allowlist, or one from the security group.
    pub fn has_allowlist(&self) -> bool {
        !self.allow.is_empty() || self.allow_from_security_group || !self.also_allow.is_empty()
    }
}
