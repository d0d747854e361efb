//! Shell-style wildcards (`*`, `?`), for known_hosts patterns and remote file globs.

/// Whether `name` matches `pattern`.
pub fn matches(pattern: &str, name: &str, ignore_case: bool) -> bool {
    fn go(p: &[u8], n: &[u8], ic: bool) -> bool {
        match (p.first(), n.first()) {
            (None, None) => true,
            (Some(b'*'), _) => go(&p[1..], n, ic) || (!n.is_empty() && go(p, &n[1..], ic)),
            (Some(b'?'), Some(_)) => go(&p[1..], &n[1..], ic),
            (Some(a), Some(b)) if a == b || (ic && a.eq_ignore_ascii_case(b)) => {
                go(&p[1..], &n[1..], ic)
            }
            _ => false,
        }
    }
    go(pattern.as_bytes(), name.as_bytes(), ignore_case)
}

/// Whether `text` has a wildcard.
pub fn has_wildcard(text: &str) -> bool {
    text.contains(['*', '?'])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stars_and_questions() {
        assert!(matches("*.gz", "access.log.1.gz", false));
        assert!(!matches("*.gz", "access.log", false));
        assert!(matches("a?c", "abc", false));
        assert!(!matches("A?C", "abc", false));
        assert!(matches("A?C", "abc", true));
        assert!(matches("*", "", false));
    }
}
