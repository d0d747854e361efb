//! Integration tests, the command line and the files it reads and writes: options wherever they
//! stand, exit codes, completions and man pages, `config check` and host sections, `list`, the
//! picker, `ssh-config` and `~/.ssh`, the platform seam, and property tests of the parsers. One
//! test binary per surface; the shared harness is tests/common/mod.rs.

#[path = "../common/mod.rs"]
mod common;

mod command_line;
mod completions_man;
mod config_check;
mod error_lines;
mod exit_codes;
mod host_settings;
mod list;
mod picker;
mod platform_seam;
mod properties;
mod ssh_config;
mod ssh_dir;
