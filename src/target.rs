//! What the user names as a target: `[user@]NAME` parsed once, instance ids checked, and
//! how an instance is referred to once the config file has had its say.

use crate::error::Failure;

/// `[user@]NAME` as typed: NAME is a config alias, an instance id or a Name tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The OS user before `@`, if any (it wins over `-l`, as in OpenSSH).
    pub user: Option<String>,
    /// What names the instance.
    pub name: String,
}

impl Target {
    /// Splits at the last `@`, as ssh does; neither side may be empty.
    pub fn parse(text: &str) -> Result<Target, Failure> {
        let (user, name) = match text.rsplit_once('@') {
            Some(("", _)) => {
                return Err(Failure::usage(format!(
                    "{text:?} has an empty user name before '@': write USER@TARGET or just TARGET"
                )));
            }
            Some((user, name)) => (Some(user.to_string()), name),
            None => (None, text),
        };
        if name.is_empty() {
            return Err(Failure::usage(
                "the target is empty: name an instance id, a Name tag or a config alias",
            ));
        }
        Ok(Target {
            user,
            name: name.to_string(),
        })
    }

    /// A target named without a user (`%h` in ssh_config, the listener's instance).
    pub fn named(name: &str) -> Result<Target, Failure> {
        Target::parse(name).map(|t| Target { user: None, ..t })
    }
}

/// How the instance is referred to once aliases are resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InstanceRef {
    /// `i-…`.
    Id(String),
    /// A `Name` tag, looked up with DescribeInstances.
    Name(String),
}

impl std::fmt::Display for InstanceRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            InstanceRef::Id(id) => f.write_str(id),
            InstanceRef::Name(name) => write!(f, "Name={name}"),
        }
    }
}

/// What a `[hosts.NAME]` section says names its instance.
#[derive(Debug, Clone, Copy, Default)]
pub struct Section<'a> {
    /// Its `instance` (an id, already checked).
    pub instance: Option<&'a str>,
    /// Its `name` (a Name tag).
    pub name: Option<&'a str>,
}

/// What NAME names: the instance of its `[hosts.NAME]` section, else an instance id, else
/// a Name tag. Anything shaped like an id is only ever an id (a Name tag that reads as one
/// could be another instance's).
pub fn instance_ref(name: &str, section: Option<Section<'_>>) -> Result<InstanceRef, Failure> {
    match section {
        Some(h) => match (h.instance, h.name) {
            (Some(id), _) => Ok(InstanceRef::Id(id.to_string())),
            (None, Some(tag)) => Ok(InstanceRef::Name(tag.to_string())),
            (None, None) => Err(Failure::usage(format!(
                "[hosts.{name}] needs `instance` or `name`"
            ))),
        },
        None if instance_id(name).is_ok() => Ok(InstanceRef::Id(name.to_string())),
        None if name.starts_with("i-") || looks_like_instance_id(name) => {
            Err(instance_id(name).unwrap_err())
        }
        None if name.is_empty() => Err(Failure::usage("the target is empty")),
        None => Ok(InstanceRef::Name(name.to_string())),
    }
}

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

/// Whether `text` reads as an instance id in any case (`i-` or `I-`, then hex digits). A
/// Name tag like that never names an instance: anyone allowed to tag one instance could
/// otherwise take over the id of another (`ssh i-0fed…` would reach the impostor).
pub fn looks_like_instance_id(text: &str) -> bool {
    text.len() > 2
        && text.is_char_boundary(2)
        && text[..2].eq_ignore_ascii_case("i-")
        && text[2..].bytes().all(|b| b.is_ascii_hexdigit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_split_at_the_last_at() {
        let t = Target::parse("ec2-user@bastion").unwrap();
        assert_eq!(
            (t.user.as_deref(), t.name.as_str()),
            (Some("ec2-user"), "bastion")
        );
        let t = Target::parse("a@b@i-0123456789abcdef0").unwrap();
        assert_eq!(t.user.as_deref(), Some("a@b"));
        assert_eq!(Target::parse("bastion").unwrap().user, None);
        assert!(Target::parse("@bastion").is_err());
        assert!(Target::parse("user@").is_err());
        assert!(Target::parse("").is_err());
    }

    #[test]
    fn names_shaped_like_ids_are_recognised_in_any_case() {
        for id in [
            "i-0fedcba9876543210",
            "I-0FEDCBA9876543210",
            "i-01234567",
            "i-abc",
        ] {
            assert!(looks_like_instance_id(id), "{id}");
        }
        for name in ["i-", "web-1", "i-web", "i-0123 ", "ï-0123", "bastion"] {
            assert!(!looks_like_instance_id(name), "{name}");
        }
    }

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
