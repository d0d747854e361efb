//! The one check for a name that eic-ssh writes into known_hosts, ssh_config or the log
//! (host-key aliases, config aliases, users, profiles, regions): one word that cannot start
//! a line, a marker or an option of its own.

/// What a plain name may hold, for messages.
pub const RULE: &str =
    "letters, digits, `.`, `_`, `-`, `@`, `+`; not starting with `-` or `@`; 1 to 255 bytes";

/// Whether `text` is a plain name: not empty, at most 255 bytes, only letters, digits and
/// `._-@+`, and not starting with `-` (an option) or `@` (a known_hosts marker such as
/// `@cert-authority`). No spaces, newlines, quotes, wildcards or `%`.
pub fn is_plain(text: &str) -> bool {
    !text.is_empty()
        && text.len() <= 255
        && !text.starts_with(['-', '@'])
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b'@' | b'+'))
}

/// [`is_plain`] as an error naming the setting: `host_key_alias "x\n@cert-authority *" is
/// not a plain name (…)`, the value escaped.
pub fn check(what: &str, text: &str) -> Result<(), String> {
    if is_plain(text) {
        Ok(())
    } else {
        Err(format!(
            "{what} \"{}\" is not a plain name ({RULE})",
            crate::printable::escape(text)
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_one_plain_word_passes() {
        for ok in [
            "i-0123456789abcdef0",
            "web.prod",
            "ec2-user",
            "a@b",
            "fleet+1",
        ] {
            assert!(is_plain(ok), "{ok}");
        }
        let long = "a".repeat(256);
        for bad in [
            "",
            "x\n@cert-authority *",
            "@cert-authority",
            "-oProxyCommand=x",
            "two words",
            "web*",
            "a,b",
            "!neg",
            "100%",
            "tab\there",
            long.as_str(),
        ] {
            assert!(!is_plain(bad), "{bad:?}");
        }
        let err = check("host_key_alias", "x\n@cert-authority *").unwrap_err();
        assert!(
            err.starts_with(r#"host_key_alias "x\n@cert-authority *" is not a plain name"#),
            "{err}"
        );
    }
}
