//! scp's operand grammar: `[user@]TARGET:PATH` is remote, anything else is local.

use std::path::PathBuf;

use crate::error::Failure;

/// One operand of `eic-ssh cp`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Operand {
    /// A local path.
    Local(PathBuf),
    /// A path on the instance.
    Remote {
        /// `[user@]TARGET`.
        target: String,
        /// The path as SFTP sees it (relative paths start at the home directory).
        path: String,
    },
}

/// Remote if a `:` comes before any `/`, as in scp; `./a:b` or `/a:b` stay local. On
/// Windows, as with Win32-OpenSSH's scp, `\` separates too and a drive (`C:\x`, `C:/x`,
/// `C:`) is local.
pub fn parse(text: &str) -> Operand {
    parse_on(text, cfg!(windows))
}

fn parse_on(text: &str, windows: bool) -> Operand {
    let separator = |c: char| c == '/' || (windows && c == '\\');
    let drive = |t: &str| {
        let b = t.as_bytes();
        b.len() >= 2
            && b[0].is_ascii_alphabetic()
            && b[1] == b':'
            && (b.len() == 2 || separator(char::from(b[2])))
    };
    if text.starts_with(separator)
        || text.starts_with("./")
        || text.starts_with("../")
        || (windows && (drive(text) || text.starts_with(".\\") || text.starts_with("..\\")))
    {
        return Operand::Local(PathBuf::from(text));
    }
    match text.split_once(':') {
        Some((target, path)) if !target.is_empty() && !target.contains(separator) => {
            Operand::Remote {
                target: target.to_string(),
                path: remote_path(path),
            }
        }
        _ => Operand::Local(PathBuf::from(text)),
    }
}

/// `~` and `~/x` are the home directory (SFTP's starting point); empty means home too.
fn remote_path(path: &str) -> String {
    match path {
        "" | "~" | "~/" => ".".into(),
        p => p.strip_prefix("~/").unwrap_or(p).to_string(),
    }
}

/// Which way a copy goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Plan {
    /// Local sources to a remote directory or file.
    Upload {
        /// `[user@]TARGET`.
        target: String,
        /// Local sources.
        sources: Vec<PathBuf>,
        /// Remote destination.
        dest: String,
    },
    /// Remote sources (globs allowed) to a local directory or file.
    Download {
        /// `[user@]TARGET`.
        target: String,
        /// Remote sources.
        sources: Vec<String>,
        /// Local destination.
        dest: PathBuf,
    },
}

/// Checks the operands: one remote side, one target, at least one source.
pub fn plan(operands: &[String]) -> Result<Plan, Failure> {
    if operands.len() < 2 {
        return Err(Failure::usage(
            "cp needs a source and a destination: eic-ssh cp SOURCE… [user@]TARGET:PATH (or the reverse)",
        ));
    }
    let parsed: Vec<Operand> = operands.iter().map(|o| parse(o)).collect();
    let (sources, dest) = parsed.split_at(parsed.len() - 1);
    let one_target = |targets: Vec<&String>| -> Result<String, Failure> {
        let first = targets[0].clone();
        if targets.iter().any(|t| **t != first) {
            return Err(Failure::usage(
                "all remote paths must be on the same target (one tunnel and one SSH connection serve the whole copy)",
            ));
        }
        Ok(first)
    };
    match &dest[0] {
        Operand::Remote { target, path } => {
            let mut locals = Vec::new();
            for s in sources {
                match s {
                    Operand::Local(p) => locals.push(p.clone()),
                    Operand::Remote { .. } => {
                        return Err(Failure::usage(
                            "copies between two remote paths are not supported; copy through a local directory",
                        ));
                    }
                }
            }
            Ok(Plan::Upload {
                target: target.clone(),
                sources: locals,
                dest: path.clone(),
            })
        }
        Operand::Local(dest) => {
            let mut targets = Vec::new();
            let mut paths = Vec::new();
            for s in sources {
                match s {
                    Operand::Remote { target, path } => {
                        targets.push(target);
                        paths.push(path.clone());
                    }
                    Operand::Local(p) => {
                        return Err(Failure::usage(format!(
                            "{} and {} are both local: one side must be [user@]TARGET:PATH",
                            p.display(),
                            dest.display()
                        )));
                    }
                }
            }
            Ok(Plan::Download {
                target: one_target(targets)?,
                sources: paths,
                dest: dest.clone(),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_drives_and_backslashes_are_local() {
        let local = |t: &str| Operand::Local(PathBuf::from(t));
        for t in [
            r"C:\Users\me\f",
            "C:/Users/me/f",
            "c:",
            r".\a:b",
            r"\\server\share\a:b",
            r"dir\a:b",
        ] {
            assert_eq!(parse_on(t, true), local(t), "{t}");
        }
        assert_eq!(parse_on("host:C:/x", true), remote("host", "C:/x"));
        assert_eq!(parse_on("ab:x", true), remote("ab", "x"));
        // Elsewhere only `/` separates, as in scp.
        assert_eq!(parse_on("C:/x", false), remote("C", "/x"));
    }

    fn remote(target: &str, path: &str) -> Operand {
        Operand::Remote {
            target: target.into(),
            path: path.into(),
        }
    }

    #[test]
    fn operands() {
        assert_eq!(parse("bastion:/tmp/"), remote("bastion", "/tmp/"));
        assert_eq!(
            parse("ubuntu@i-0123456789abcdef0:~/in/"),
            remote("ubuntu@i-0123456789abcdef0", "in/")
        );
        assert_eq!(parse("bastion:"), remote("bastion", "."));
        assert_eq!(parse("./a:b"), Operand::Local("./a:b".into()));
        assert_eq!(parse("dir/a:b"), Operand::Local("dir/a:b".into()));
        assert_eq!(parse("build.tar.gz"), Operand::Local("build.tar.gz".into()));
    }

    #[test]
    fn plans() {
        let args = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            plan(&args(&[
                "a.txt",
                "b.txt",
                "ubuntu@i-0123456789abcdef0:~/in/"
            ]))
            .unwrap(),
            Plan::Upload {
                target: "ubuntu@i-0123456789abcdef0".into(),
                sources: vec!["a.txt".into(), "b.txt".into()],
                dest: "in/".into()
            }
        );
        assert!(matches!(
            plan(&args(&["bastion:/var/log/*.gz", "./logs"])).unwrap(),
            Plan::Download { .. }
        ));
        assert!(
            plan(&args(&["a", "b"]))
                .unwrap_err()
                .message
                .contains("both local")
        );
        assert!(
            plan(&args(&["x:a", "y:b", "."]))
                .unwrap_err()
                .message
                .contains("same target")
        );
        assert!(
            plan(&args(&["x:a", "y:b"]))
                .unwrap_err()
                .message
                .contains("two remote paths")
        );
        assert!(plan(&args(&["x:a"])).is_err());
    }
}
