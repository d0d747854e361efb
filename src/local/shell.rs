//! A command line from the AWS config (`credential_process`) as the SDKs run it: `sh -c
//! LINE` on Unix, `cmd.exe /C "LINE"` on Windows.

/// The command that runs `line` through the system's shell. On Unix a simple command (one
/// program and its arguments: no `;`, `|`, `&`, redirection, substitution, assignment or
/// keyword) is run with `exec`, so the process a caller kills is the program itself, not a
/// shell that would leave it running. On Windows `cmd.exe` is that process.
pub fn command(line: &str) -> tokio::process::Command {
    #[cfg(unix)]
    {
        let mut command = tokio::process::Command::new("sh");
        if is_simple(line) {
            command.args(["-c", &format!("exec {line}")]);
        } else {
            command.args(["-c", line]);
        }
        command
    }
    #[cfg(windows)]
    {
        // As the SDK does: the line is passed raw, quoted once, since cmd.exe does not
        // understand the C runtime's escaping.
        let mut command = std::process::Command::new("cmd.exe");
        std::os::windows::process::CommandExt::raw_arg(&mut command, format!("/C \"{line}\""));
        tokio::process::Command::from(command)
    }
}

/// Whether `line` is one program and its arguments, which `exec` runs the same way.
#[cfg(unix)]
fn is_simple(line: &str) -> bool {
    const KEYWORDS: &[&str] = &[
        "if", "then", "else", "elif", "fi", "while", "until", "for", "do", "done", "case", "esac",
        "{", "}", "!", "function", "exec",
    ];
    let Some(first) = line.split_whitespace().next() else {
        return false;
    };
    !line.contains(|c: char| ";&|<>()$`\n\\".contains(c))
        && !first.contains('=')
        && !KEYWORDS.contains(&first)
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    #[test]
    fn only_a_simple_command_is_execed() {
        for simple in [
            "/opt/bin/creds --user helen",
            "\"/opt/my tools/creds\" --x \"a b\"",
            "sleep 1000",
        ] {
            assert!(is_simple(simple), "{simple}");
        }
        for compound in [
            "a; b",
            "a | b",
            "a && b",
            "a > f",
            "a $(b)",
            "X=1 a",
            "if a; then b; fi",
            "a `b`",
            "",
            "exec a",
        ] {
            assert!(!is_simple(compound), "{compound}");
        }
    }
}
