//! ssh's `~` escapes on an interactive session: `~.` disconnects, `~~` sends one `~`,
//! `~?` lists them. Recognised only right after a newline, as in OpenSSH.

/// What the user asked for, besides the bytes to send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Nothing special.
    None,
    /// `~.`: close the connection.
    Disconnect,
    /// `~?`: print the help.
    Help,
}

/// Help text for `~?`.
pub const HELP: &str = "\r\nSupported escape sequences:\r\n ~.   - terminate connection\r\n ~?   - this message\r\n ~~   - send the escape character\r\n(Note that escapes are only recognized immediately after newline.)\r\n";

/// Escape-sequence state across reads.
#[derive(Debug, Clone)]
pub struct Escapes {
    at_line_start: bool,
    after_tilde: bool,
}

impl Default for Escapes {
    fn default() -> Self {
        Escapes {
            at_line_start: true,
            after_tilde: false,
        }
    }
}

impl Escapes {
    /// Filters one chunk of keyboard input: the bytes to send, and an action (which ends the chunk).
    pub fn filter(&mut self, input: &[u8]) -> (Vec<u8>, Action) {
        let mut out = Vec::with_capacity(input.len());
        for &b in input {
            if self.after_tilde {
                self.after_tilde = false;
                match b {
                    b'.' => return (out, Action::Disconnect),
                    b'?' => {
                        self.at_line_start = false;
                        return (out, Action::Help);
                    }
                    b'~' => {
                        out.push(b'~');
                        self.at_line_start = false;
                        continue;
                    }
                    other => {
                        out.push(b'~');
                        out.push(other);
                        self.at_line_start = matches!(other, b'\r' | b'\n');
                        continue;
                    }
                }
            }
            if self.at_line_start && b == b'~' {
                self.after_tilde = true;
                continue;
            }
            out.push(b);
            self.at_line_start = matches!(b, b'\r' | b'\n');
        }
        (out, Action::None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tilde_dot_after_newline_disconnects() {
        let mut e = Escapes::default();
        assert_eq!(e.filter(b"ls\r"), (b"ls\r".to_vec(), Action::None));
        assert_eq!(e.filter(b"~"), (vec![], Action::None));
        assert_eq!(e.filter(b"."), (vec![], Action::Disconnect));
    }

    #[test]
    fn tildes_elsewhere_pass_through() {
        let mut e = Escapes::default();
        assert_eq!(e.filter(b"a~.b"), (b"a~.b".to_vec(), Action::None));
        let mut e = Escapes::default();
        assert_eq!(e.filter(b"~~x"), (b"~x".to_vec(), Action::None));
        let mut e = Escapes::default();
        assert_eq!(e.filter(b"~x"), (b"~x".to_vec(), Action::None));
        let mut e = Escapes::default();
        assert_eq!(e.filter(b"~?"), (vec![], Action::Help));
    }
}
