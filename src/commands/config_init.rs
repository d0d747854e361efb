//! `eic-ssh config init`: a commented starter config file, never written over an existing one.

use std::fmt::Write as _;

use ipnet::IpNet;

use crate::cli::{ConfigInitArgs, Globals};
use crate::config::ConfigFile;
use crate::config::file::{self, Cidr};
use crate::error::{Failure, Kind, Outcome};
use crate::guard::probe;
use crate::local::files;
use crate::net;
use crate::route;
use crate::route::settings::DEFAULT_CHECK_URL;

/// Writes the file (mode 0600); exit 0, or 2 when it exists already.
pub async fn run(args: ConfigInitArgs, g: &Globals) -> Result<Outcome, Failure> {
    let Some((path, _)) = file::locate(g.config.as_deref()) else {
        return Err(Failure::usage(
            "no place for the config file: HOME is not set; pass --config FILE",
        ));
    };
    if std::fs::symlink_metadata(&path).is_ok() {
        return Err(Failure::usage(format!(
            "{} exists: config init never overwrites it; edit it, or pass --config OTHER_FILE",
            path.display()
        )));
    }
    if let Some(region) = &g.region {
        crate::aws::context::check_region(region)?;
    }
    let mut allow: Vec<IpNet> = args
        .allow
        .iter()
        .map(|text| {
            Cidr::try_from(text.clone())
                .map(|c| c.0)
                .map_err(|e| Failure::usage(format!("--allow: {e}")))
        })
        .collect::<Result<_, _>>()?;
    if args.allow_current {
        let http = net::http_client(&net::client_config()?)?;
        // Where the guard would ask with no config yet: EIC_SSH_EGRESS_CHECK_URL, else the default.
        let urls = route::settings::defaults(&ConfigFile::default(), None)?.egress_urls;
        let ip = probe::egress_ip(&http, &urls).await.map_err(|e| {
            Failure::new(
                Kind::Other,
                format!("cannot learn the current egress IP ({e}); pass --allow CIDR instead"),
            )
        })?;
        allow.push(IpNet::from(ip));
        eprintln!("eic-ssh: the current egress IP is {ip}");
    }
    let text = starter(&allow, g.region.as_deref(), args.user.as_deref());
    // What is written must be what `config check` accepts.
    file::parse(&text, &path)?;
    let failed = |e: std::io::Error| {
        Failure::new(Kind::Other, format!("cannot write {}: {e}", path.display()))
    };
    if let Some(dir) = path.parent() {
        crate::local::private::create_dir_all(dir).map_err(failed)?;
    }
    files::create_new(&path, text.as_bytes(), 0o600).map_err(|e| match e.kind() {
        std::io::ErrorKind::AlreadyExists => Failure::usage(format!(
            "{} exists: config init never overwrites it",
            path.display()
        )),
        _ => failed(e),
    })?;
    println!("wrote {}", path.display());
    println!(
        "next: add a [hosts.NAME] section, then `eic-ssh config check` and `eic-ssh doctor NAME`"
    );
    Ok(Outcome::Success)
}

/// The starter text: every key commented, the allowlist set when one was given.
pub fn starter(allow: &[IpNet], region: Option<&str>, user: Option<&str>) -> String {
    let mut out = String::new();
    let quoted = |v: &str| format!("{v:?}");
    let _ = writeln!(
        out,
        "# eic-ssh config (every key: `man 5 eic-ssh-config`). Check it: eic-ssh config check\n"
    );
    let _ = writeln!(out, "[defaults]");
    match region {
        Some(r) => {
            let _ = writeln!(out, "region = {}", quoted(r));
        }
        None => {
            let _ = writeln!(
                out,
                "# region = \"us-east-1\"          # below AWS_REGION; a [hosts] section's own wins"
            );
        }
    }
    let _ = writeln!(
        out,
        "# profile = \"dev\"                # below AWS_PROFILE; a [hosts] section's own wins"
    );
    match user {
        Some(u) => {
            let _ = writeln!(out, "user = {}", quoted(u));
        }
        None => {
            let _ = writeln!(
                out,
                "# user = \"ec2-user\"             # OS user on the instances"
            );
        }
    }
    let _ = writeln!(
        out,
        "\n# The egress guard: refuse to connect, before any AWS call, from outside these networks."
    );
    let _ = writeln!(
        out,
        "# Keep it in step with the instances' security groups (eic-ssh doctor compares them)."
    );
    if allow.is_empty() {
        let _ = writeln!(out, "# allow = [\"203.0.113.0/24\", \"2001:db8::/32\"]");
    } else {
        let list: Vec<String> = allow.iter().map(|n| quoted(&n.to_string())).collect();
        let _ = writeln!(out, "allow = [{}]", list.join(", "));
    }
    let _ = writeln!(
        out,
        "# egress_check_url = \"{DEFAULT_CHECK_URL}\"   # or a list; all must agree"
    );
    let _ = writeln!(out, "# allow_from_security_group = false");
    let _ = writeln!(
        out,
        "\n# One section per instance you reach often: `eic-ssh bastion`, `ssh bastion` (eic-ssh ssh-config)."
    );
    let _ = writeln!(out, "# [hosts.bastion]");
    let _ = writeln!(
        out,
        "# instance = \"i-0123456789abcdef0\"   # or: name = \"bastion\" (the Name tag)"
    );
    let _ = writeln!(out, "# user = \"ubuntu\"");
    let _ = writeln!(
        out,
        "# endpoint_id = \"eice-0123456789abcdef0\"   # with private_ip: no Describe call at all"
    );
    let _ = writeln!(out, "# private_ip = \"10.0.1.5\"");
    let _ = writeln!(out, "# forward = [\"-L 15432:db.internal:5432\"]");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::IpAddr;
    use std::path::Path;

    #[test]
    fn the_starter_parses_with_and_without_an_allowlist() {
        let path = Path::new("c.toml");
        let empty = starter(&[], None, None);
        let c = file::parse(&empty, path).unwrap();
        assert!(c.defaults.allow.is_none() && c.hosts.is_empty());
        let ip: IpAddr = "198.51.100.7".parse().unwrap();
        let full = starter(
            &[IpNet::from(ip), "2001:db8::/32".parse().unwrap()],
            Some("eu-west-1"),
            Some("ubuntu"),
        );
        let c = file::parse(&full, path).unwrap();
        assert_eq!(c.defaults.allow.unwrap().len(), 2);
        assert_eq!(c.defaults.region.as_deref(), Some("eu-west-1"));
        assert!(full.contains("allow = [\"198.51.100.7/32\", \"2001:db8::/32\"]"));
    }
}
