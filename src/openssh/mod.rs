//! What eic-ssh writes for OpenSSH's `ssh` (the `ssh-config` and `inventory` commands):
//! `Host` blocks and their options (`blocks`), the program a ProxyCommand names
//! (`program`), the identity ssh offers, the directory of shared connections' sockets, and
//! the flags a ProxyCommand repeats.

pub mod blocks;
pub mod program;

use std::path::{Path, PathBuf};

use crate::config;
use crate::error::Failure;
use crate::local::files;
use crate::local::paths::expand_tilde;
use crate::ssh::key::read_public_key;
use blocks::Common;

impl Common {
    /// What every block shares: this program, the identity (`--identity`, else ssh's
    /// default), and with `multiplex` the shared connections' directory.
    pub fn new(identity_flag: Option<&Path>, multiplex: bool) -> Result<Common, Failure> {
        let (identity, public_key) = identity(identity_flag)?;
        Ok(Common {
            program: program::program()?,
            identity,
            public_key,
            control_dir: if multiplex { control_dir() } else { None },
        })
    }
}

/// ~/.ssh, made (0700) if missing, for shared connections' sockets; none on Windows, whose
/// OpenSSH cannot share connections.
pub fn control_dir() -> Option<PathBuf> {
    if cfg!(windows) {
        return None;
    }
    let dir = absolute(&expand_tilde(Path::new("~/.ssh")));
    match crate::local::private::create_dir_all(&dir) {
        Ok(()) => {
            // ssh refuses nothing here, but whoever can write the directory can put their
            // own socket in place of a shared connection's.
            if let Some(warning) =
                files::ssh_dir_warning(&dir, "the shared connections' sockets (ControlPath)")
            {
                eprintln!("eic-ssh: warning: {warning}");
            }
            Some(dir)
        }
        Err(e) => {
            eprintln!(
                "eic-ssh: warning: no connection sharing: cannot make {}: {e}",
                dir.display()
            );
            None
        }
    }
}

/// The private key ssh offers and the public half the proxy pushes: `--identity`, else the
/// first of ssh's default identities (that EC2 Instance Connect accepts) with a `.pub`.
pub fn identity(flag: Option<&Path>) -> Result<(PathBuf, PathBuf), Failure> {
    let with_pub = |private: PathBuf| {
        let mut public = private.clone().into_os_string();
        public.push(".pub");
        (private, PathBuf::from(public))
    };
    if let Some(flag) = flag {
        let flag = absolute(&expand_tilde(flag));
        let private = match flag.to_str().and_then(|s| s.strip_suffix(".pub")) {
            Some(stem) => PathBuf::from(stem),
            None => flag,
        };
        let (private, public) = with_pub(private);
        read_public_key(&public)?;
        return Ok((private, public));
    }
    let ssh_dir = expand_tilde(Path::new("~/.ssh"));
    for name in ["id_ed25519", "id_ecdsa", "id_rsa"] {
        let (private, public) = with_pub(ssh_dir.join(name));
        if public.exists() {
            read_public_key(&public)?;
            return Ok((private, public));
        }
    }
    Err(Failure::usage(format!(
        "no public key in {} (id_ed25519.pub, id_ecdsa.pub or id_rsa.pub): create one with `ssh-keygen -t ed25519`, or pass --identity FILE",
        ssh_dir.display()
    )))
}

pub fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}

/// Flags every ProxyCommand needs to see what this run saw: a config file that is not at the
/// default place, and the profile and region given (as flags for alias blocks; for
/// discovered instances, where they were found). Never a value from the environment: it
/// would freeze a variable of this shell into every later `ssh`, and override nothing a
/// section names anyway (docs/commands.md, "What a block bakes in").
pub fn proxy_flags(
    config_flag: Option<&Path>,
    config_path: Option<&Path>,
    profile: Option<&str>,
    region: Option<&str>,
) -> Result<Vec<String>, Failure> {
    let mut flags = Vec::new();
    let explicit = config::file::locate(config_flag).is_some_and(|(_, e)| e);
    if let Some(path) = config_path.filter(|_| explicit) {
        flags.push("--config".into());
        flags.push(absolute(path).to_string_lossy().into_owned());
    }
    for (flag, value) in [("--profile", profile), ("--region", region)] {
        if let Some(value) = value {
            crate::plain_name::check(flag, value).map_err(Failure::usage)?;
            flags.extend([flag.to_string(), value.to_string()]);
        }
    }
    Ok(flags)
}
