//! `eic-ssh man`: man pages (clap_mangen) for the command and every subcommand, with the
//! sections clap does not know (`sections`) and the config file's own page.

mod sections;

use std::path::Path;

use clap::CommandFactory;

use crate::cli::{Cli, ManArgs};
use crate::error::{Failure, Kind, Outcome};

/// Writes one page per command into `--dir`, or prints eic-ssh(1) on stdout.
pub fn run(args: &ManArgs) -> Result<Outcome, Failure> {
    match &args.dir {
        Some(dir) => {
            write_pages(dir).map_err(|e| {
                Failure::new(
                    Kind::Other,
                    format!("cannot write man pages to {}: {e}", dir.display()),
                )
            })?;
            eprintln!("eic-ssh: man pages written to {}", dir.display());
        }
        None => {
            let page = main_page()
                .map_err(|e| Failure::new(Kind::Other, format!("cannot render: {e}")))?;
            print!("{page}");
        }
    }
    Ok(Outcome::Success)
}

/// eic-ssh.1, eic-ssh-proxy.1, eic-ssh-config-check.1, …, and eic-ssh-config.5.
pub fn write_pages(dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    clap_mangen::generate_to(Cli::command(), dir)?;
    std::fs::write(dir.join("eic-ssh.1"), main_page()?)?;
    std::fs::write(dir.join("eic-ssh-config.5"), sections::config_page())
}

/// eic-ssh(1): clap's page, then FILES, ENVIRONMENT, EXIT STATUS and SEE ALSO.
fn main_page() -> std::io::Result<String> {
    let mut page = Vec::new();
    clap_mangen::Man::new(Cli::command()).render(&mut page)?;
    let mut text = String::from_utf8_lossy(&page).into_owned();
    text.push_str(&sections::main_page_extras());
    Ok(text)
}
