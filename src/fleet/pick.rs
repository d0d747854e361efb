//! The session's target when `eic-ssh` is given none on a terminal: a fuzzy pick among the
//! config aliases and the instances of the listing that are reachable (running, served by
//! an endpoint, not refused by the guard); the choice then goes the usual way, as if typed.

use crate::aws::AwsChoices;
use crate::config::ConfigFile;
use crate::config::file::Loaded;
use crate::error::{Failure, Kind};
use crate::fleet::listing::{self, Listed};
use crate::local::picker;
use crate::printable::escape;
use crate::{guard, net, route};

/// What the prompt says.
const PROMPT: &str = "Connect to (type to filter, Enter to connect, Esc to cancel)";

/// One line of the pick and the target it stands for.
#[derive(Debug, PartialEq, Eq)]
pub struct Choice {
    /// The columns shown (alias, id, Name, private IP), escaped for the terminal.
    pub columns: [String; 4],
    /// What the choice means, as if typed: the alias, else the instance id.
    pub target: String,
}

/// Offers the pick (the caller made sure there is a terminal) and returns the target
/// chosen. Refused, when the guard refuses the listing and there is no alias to offer.
pub async fn target(config: &Loaded, flags: &AwsChoices) -> Result<String, Failure> {
    let (rows, why_not) = reachable(flags, config).await?;
    if let Some(why) = &why_not {
        eprintln!("eic-ssh: warning: no instances listed, only the config aliases: {why}");
    }
    let choices = choices(&config.file, &rows);
    if choices.is_empty() {
        return Err(Failure::new(
            Kind::NotFound,
            "nothing to pick: no config alias, and no running instance that an endpoint serves in this region (eic-ssh list shows why); give a target: eic-ssh [user@]TARGET",
        ));
    }
    let lines = lines(&choices);
    match picker::pick(PROMPT, lines).await {
        Ok(Some(i)) => Ok(choices[i].target.clone()),
        Ok(None) => Err(Failure::new(Kind::Interrupted, "nothing picked")),
        Err(e) => Err(Failure::new(
            Kind::Other,
            format!("the instance picker failed: {e}"),
        )),
    }
}

/// The reachable instances of `list`'s listing, and why there are none when the listing
/// could not be had but the aliases can still be offered.
async fn reachable(
    flags: &AwsChoices,
    config: &Loaded,
) -> Result<(Vec<Listed>, Option<String>), Failure> {
    let path = config.path.as_deref();
    // The listing is an AWS request like any other: the guard decides before it, with the
    // allowlist that applies to a target without a section of its own.
    let aws_flags = route::Flags::aws(flags.profile.clone(), flags.region.clone());
    let defaults = route::settings::defaults_for(&config.file, path, &aws_flags)?;
    let tls = net::client_config()?;
    let with_aliases = !config.file.hosts.is_empty();
    let over = route::road::guard_path(&defaults, crate::family::Family::preferred()?)?;
    if let Err(refused) = guard::check(&defaults.policy(), &tls, &over).await.gate() {
        if !with_aliases {
            return Err(refused);
        }
        return Ok((Vec::new(), Some(refused.message)));
    }
    match listing::listing(flags, &config.file, path, false, &[]).await {
        Ok((rows, _)) => Ok((rows.into_iter().filter(reachable_row).collect(), None)),
        Err(f) if with_aliases => Ok((Vec::new(), Some(f.message))),
        Err(f) => Err(f),
    }
}

/// Whether connecting to the row's instance could work now.
fn reachable_row(row: &Listed) -> bool {
    row.entry.instance.state == "running" && row.entry.endpoint.is_ok() && row.guard != "refused"
}

/// Every alias (with its instance's details when the listing has it), then the listed
/// instances no alias names.
pub fn choices(file: &ConfigFile, rows: &[Listed]) -> Vec<Choice> {
    let details = |row: &Listed| {
        let i = &row.entry.instance;
        [
            escape(&i.id),
            i.name.as_deref().map_or("-".into(), escape),
            i.private_ip.as_deref().map_or("-".into(), escape),
        ]
    };
    let mut out = Vec::new();
    for (alias, host) in &file.hosts {
        let [id, name, ip] = match rows.iter().find(|r| r.aliases.contains(alias)) {
            Some(row) => details(row),
            None => [
                host.instance.as_ref().map_or("-".into(), |i| escape(&i.0)),
                host.name.as_deref().map_or("-".into(), escape),
                "-".into(),
            ],
        };
        out.push(Choice {
            columns: [escape(alias), id, name, ip],
            target: alias.clone(),
        });
    }
    for row in rows.iter().filter(|r| r.aliases.is_empty()) {
        let [id, name, ip] = details(row);
        out.push(Choice {
            columns: ["-".into(), id, name, ip],
            target: row.entry.instance.id.clone(),
        });
    }
    out
}

/// The choices as aligned lines.
fn lines(choices: &[Choice]) -> Vec<String> {
    let width = |n: usize| {
        choices
            .iter()
            .map(|c| c.columns[n].chars().count())
            .max()
            .unwrap_or(0)
    };
    let widths = [width(0), width(1), width(2)];
    choices
        .iter()
        .map(|c| {
            let mut line = String::new();
            for (n, cell) in c.columns.iter().enumerate() {
                match widths.get(n) {
                    Some(w) => line.push_str(&format!("{cell:<w$}  ")),
                    None => line.push_str(cell),
                }
            }
            line.trim_end().to_string()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aws::ec2::{Endpoint, Instance};
    use crate::aws::inventory::Inventoried;

    fn row(id: &str, name: Option<&str>, aliases: &[&str]) -> Listed {
        Listed {
            region: "us-east-1".into(),
            profile: None,
            entry: Inventoried {
                instance: Instance {
                    id: id.into(),
                    state: "running".into(),
                    name: name.map(str::to_string),
                    private_ip: Some("10.0.1.5".into()),
                    ..Instance::default()
                },
                endpoint: Ok(Endpoint::default()),
                name_problem: None,
            },
            aliases: aliases.iter().map(|a| a.to_string()).collect(),
            guard: "allowed",
            guard_reason: None,
        }
    }

    #[test]
    fn aliases_first_then_unnamed_instances_by_id_with_names_escaped() {
        let file = crate::config::file::parse(
            "[hosts.bastion]\ninstance = \"i-0123456789abcdef0\"\n\n[hosts.elsewhere]\nname = \"db\"\n",
            std::path::Path::new("c.toml"),
        )
        .unwrap();
        let rows = [
            row("i-0123456789abcdef0", Some("jump"), &["bastion"]),
            row("i-0fedcba9876543210", Some("evil\x1b[2J"), &[]),
        ];
        let got = choices(&file, &rows);
        let targets: Vec<&str> = got.iter().map(|c| c.target.as_str()).collect();
        assert_eq!(targets, ["bastion", "elsewhere", "i-0fedcba9876543210"]);
        assert_eq!(
            got[0].columns[1..],
            ["i-0123456789abcdef0", "jump", "10.0.1.5"]
        );
        assert_eq!(got[1].columns, ["elsewhere", "-", "db", "-"]);
        assert_eq!(got[2].columns[2], "evil\\033[2J");
        let shown = lines(&got);
        assert_eq!(
            shown[0],
            "bastion    i-0123456789abcdef0  jump         10.0.1.5"
        );
        assert_eq!(shown[1], "elsewhere  -                    db           -");
    }

    #[test]
    fn only_running_instances_an_endpoint_serves_and_the_guard_admits() {
        let ok = row("i-0123456789abcdef0", None, &[]);
        assert!(reachable_row(&ok));
        let mut stopped = row("i-0123456789abcdef0", None, &[]);
        stopped.entry.instance.state = "stopped".into();
        let mut no_endpoint = row("i-0123456789abcdef0", None, &[]);
        no_endpoint.entry.endpoint = Err("no endpoint in vpc-1".into());
        let mut refused = row("i-0123456789abcdef0", None, &[]);
        refused.guard = "refused";
        for r in [stopped, no_endpoint, refused] {
            assert!(!reachable_row(&r));
        }
    }
}
