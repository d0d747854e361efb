//! Shell-style wildcards (`*`, `?`), for known_hosts patterns and remote file globs.

/// Whether `name` matches `pattern`. Iterative, with one backtrack point per `*`, so a
/// long name from a server cannot make a pattern with many stars take exponential time.
pub fn matches(pattern: &str, name: &str, ignore_case: bool) -> bool {
    let (p, n) = (pattern.as_bytes(), name.as_bytes());
    let same = |a: u8, b: u8| a == b || (ignore_case && a.eq_ignore_ascii_case(&b));
    let (mut pi, mut ni) = (0, 0);
    // Where the last `*` was, and where in the name it stands to be retried from.
    let mut star: Option<(usize, usize)> = None;
    while ni < n.len() {
        match p.get(pi) {
            Some(b'*') => {
                star = Some((pi, ni));
                pi += 1;
            }
            Some(&c) if c == b'?' || same(c, n[ni]) => {
                pi += 1;
                ni += 1;
            }
            _ => match star {
                Some((sp, sn)) => {
                    pi = sp + 1;
                    ni = sn + 1;
                    star = Some((sp, sn + 1));
                }
                None => return false,
            },
        }
    }
    p[pi..].iter().all(|&c| c == b'*')
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
        assert!(matches("a*b*c", "aXbYbZc", false));
        assert!(!matches("a*b*c", "aXbYbZ", false));
        assert!(matches("*.log.*", "x.log.1", false));
        assert!(!matches("", "x", false) && matches("", "", false));
    }
}
