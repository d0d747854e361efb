//! `eic-ssh man`: man pages (clap_mangen) for the command and every subcommand, with the
//! sections clap does not know (`sections`) and the config file's own page.

mod sections;

use std::path::{Path, PathBuf};

use clap::CommandFactory;

use crate::cli::{Cli, ManArgs};
use crate::error::{Failure, Kind, Outcome};

/// Writes one page per command into `--dir`, or prints eic-ssh(1) on stdout.
pub fn run(args: &ManArgs) -> Result<Outcome, Failure> {
    match &args.dir {
        Some(dir) => {
            let (man1, man5) = sections_dirs(dir);
            write_pages(&man1, &man5).map_err(|e| {
                Failure::new(
                    Kind::Other,
                    format!("cannot write man pages to {}: {e}", dir.display()),
                )
            })?;
            eprintln!(
                "eic-ssh: man pages written to {} and {}",
                man1.display(),
                man5.display()
            );
        }
        None => {
            let page = main_page()
                .map_err(|e| Failure::new(Kind::Other, format!("cannot render: {e}")))?;
            print!("{page}");
        }
    }
    Ok(Outcome::Success)
}

/// Where `--dir DIR` puts sections 1 and 5, as man(1) looks for them: DIR is a
/// manual's root (`~/.local/share/man`: DIR/man1 and DIR/man5), unless it is already one
/// section's directory (`…/man1` or `…/man5`: that one and its sibling).
pub fn sections_dirs(dir: &Path) -> (PathBuf, PathBuf) {
    let root = match dir.file_name().and_then(|n| n.to_str()) {
        Some("man1" | "man5") => dir.parent().unwrap_or(Path::new("")),
        _ => dir,
    };
    (root.join("man1"), root.join("man5"))
}

/// eic-ssh.1, eic-ssh-proxy.1, eic-ssh-config-check.1, … into `man1`, and
/// eic-ssh-config.5 into `man5`.
pub fn write_pages(man1: &Path, man5: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(man1)?;
    std::fs::create_dir_all(man5)?;
    clap_mangen::generate_to(Cli::command(), man1)?;
    std::fs::write(man1.join("eic-ssh.1"), main_page()?)?;
    std::fs::write(man5.join("eic-ssh-config.5"), sections::config_page())
}

/// eic-ssh(1): clap's page, then FILES, ENVIRONMENT, EXIT STATUS and SEE ALSO.
fn main_page() -> std::io::Result<String> {
    let mut page = Vec::new();
    clap_mangen::Man::new(Cli::command()).render(&mut page)?;
    let mut text = String::from_utf8_lossy(&page).into_owned();
    text.push_str(&sections::main_page_extras());
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn section_directories_follow_man_s_layout() {
        let both = |dir: &str| {
            let (one, five) = sections_dirs(Path::new(dir));
            (one.display().to_string(), five.display().to_string())
        };
        let root = ("/m/man1".to_string(), "/m/man5".to_string());
        assert_eq!(both("/m"), root);
        assert_eq!(both("/m/man1"), root);
        assert_eq!(both("/m/man5"), root);
        assert_eq!(both("man"), ("man/man1".into(), "man/man5".into()));
        assert_eq!(both("man1"), ("man1".into(), "man5".into()));
    }
}
