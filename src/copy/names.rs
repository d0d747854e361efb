//! Names from the server: a remote name is one path component, or it is refused.

use crate::printable;

/// Why a name from the server cannot become a local file name, if it cannot.
pub fn refusal(name: &str) -> Option<&'static str> {
    match name {
        "" => Some("an empty name"),
        "." | ".." => Some("not a file name"),
        n if n.contains('/') => Some("a name with a '/'"),
        n if n.contains('\0') => Some("a name with a NUL byte"),
        _ => None,
    }
}

/// `Ok(name)` when it is one path component, else the warning that names it (escaped).
pub fn component<'a>(name: &'a str, listed_in: &str) -> Result<&'a str, String> {
    match refusal(name) {
        None => Ok(name),
        Some(why) => Err(format!(
            "refusing \"{}\" listed in {}: {why}, not a single file name",
            printable::escape(name),
            printable::escape(listed_in)
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_component_only() {
        for bad in ["", ".", "..", "../x", "/etc/passwd", "a/b", "x\0y", "/"] {
            assert!(refusal(bad).is_some(), "{bad:?} must be refused");
        }
        for good in ["a", ".hidden", "...", "a b", "x\u{1b}[1m", "..a"] {
            assert_eq!(component(good, "/d"), Ok(good));
        }
    }

    #[test]
    fn warnings_are_escaped() {
        let w = component("../\u{1b}[2J", "/srv").unwrap_err();
        assert!(w.contains("\\033[2J") && !w.contains('\u{1b}'), "{w}");
    }
}
