//! Text from untrusted peers (SFTP names, close reasons, HTTP bodies) escaped so that it
//! can reach a terminal without moving the cursor, changing colours or hiding itself; and
//! the plain-text tables that text is shown in (`table.rs`).

use std::fmt::Write as _;

pub mod table;

/// `text` with every control or invisible character written as an escape, the way
/// `ls -b` shows file names: `\n`, `\t`, `\\`, `\033` (octal for other C0/DEL bytes) and
/// `\u{…}` for C1 controls and Unicode format characters (bidi overrides, zero-width
/// joiners). Printable text, including non-ASCII letters, is kept as it is.
pub fn escape(text: &str) -> String {
    if !text.chars().any(needs_escape) {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                let _ = write!(out, "\\{:03o}", c as u32);
            }
            c if needs_escape(c) => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
    out
}

/// Bytes that may not be UTF-8 (an HTTP body), escaped the same way; invalid bytes
/// become `\xNN`.
pub fn escape_bytes(bytes: &[u8]) -> String {
    let mut out = String::new();
    for chunk in bytes.utf8_chunks() {
        out.push_str(&escape(chunk.valid()));
        for b in chunk.invalid() {
            let _ = write!(out, "\\x{b:02x}");
        }
    }
    out
}

/// Whether `c` must not reach a terminal raw. A backslash is escaped only when something
/// else in the text is, so ordinary names with a backslash print unchanged.
fn needs_escape(c: char) -> bool {
    let u = c as u32;
    u < 0x20
        || (0x7f..=0x9f).contains(&u)
        // Unicode format characters: soft hyphen, bidi marks and overrides, zero-width
        // characters, invisible operators, the BOM, interlinear annotation.
        || u == 0xad
        || u == 0x61c
        || u == 0x180e
        || (0x200b..=0x200f).contains(&u)
        || (0x202a..=0x202e).contains(&u)
        || (0x2060..=0x206f).contains(&u)
        || u == 0xfeff
        || (0xfff9..=0xfffb).contains(&u)
        // Line and paragraph separators move the cursor in some terminals.
        || u == 0x2028
        || u == 0x2029
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn controls_are_escaped() {
        assert_eq!(escape("a\x1b[31mred"), "a\\033[31mred");
        assert_eq!(escape("two\nlines"), "two\\nlines");
        assert_eq!(escape("tab\there\\"), "tab\\there\\\\");
        assert_eq!(escape("del\x7f"), "del\\177");
        assert_eq!(escape("c1\u{9b}2J"), "c1\\u{9b}2J");
        assert_eq!(escape("evil\u{202e}txt.exe"), "evil\\u{202e}txt.exe");
    }

    #[test]
    fn printable_text_is_kept() {
        assert_eq!(escape("café – ✓ a\\b"), "café – ✓ a\\b");
        assert_eq!(escape(""), "");
    }

    #[test]
    fn invalid_utf8_becomes_hex() {
        assert_eq!(escape_bytes(b"ok\xff\x1b"), "ok\\xff\\033");
    }
}
