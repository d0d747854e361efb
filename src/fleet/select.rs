//! Which instances a run's targets name: config aliases, instance ids, Name tags and Name
//! globs, among the instances one DescribeInstances returned (narrowed by `--filter`); and
//! the label each host's output carries. Plain functions, no I/O.

use crate::aws::inventory::Inventoried;
use crate::config::ConfigFile;
use crate::error::{Failure, Kind};
use crate::printable::escape;
use crate::target::looks_like_instance_id;
use crate::wildcard;

/// One host the run will reach (or report on).
#[derive(Debug, Clone)]
pub struct Chosen {
    /// The instance and the endpoint that serves it (or why none).
    pub entry: Inventoried,
    /// What the settings are looked up by: the alias, else the instance id.
    pub typed: String,
    /// What its output lines carry: the alias, else its Name tag, else its id.
    pub label: String,
}

/// What one target names.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Pick {
    /// A `[hosts]` alias.
    Alias(String),
    /// An instance id.
    Id(String),
    /// A Name tag, exactly.
    Name(String),
    /// A Name glob (`*`, `?`).
    Glob(String),
}

fn classify(target: &str, file: &ConfigFile) -> Pick {
    if file.hosts.contains_key(target) {
        Pick::Alias(target.to_string())
    } else if looks_like_instance_id(target) {
        Pick::Id(target.to_string())
    } else if wildcard::has_wildcard(target) {
        Pick::Glob(target.to_string())
    } else {
        Pick::Name(target.to_string())
    }
}

/// The hosts `targets` name among `entries` (all of them that run when there is no
/// target: `--filter` chose them), each once, in the order named. A target that names
/// nothing is an error: nothing is connected. An instance named by alias, id or exact Name
/// that is not running stays in, to be reported; a glob or a filter takes running ones only.
pub fn choose(
    targets: &[String],
    entries: &[Inventoried],
    file: &ConfigFile,
) -> Result<Vec<Chosen>, Failure> {
    let running = |e: &&Inventoried| e.instance.state == "running";
    let mut chosen: Vec<Chosen> = Vec::new();
    let mut add = |entry: &Inventoried, alias: Option<&str>| {
        if chosen
            .iter()
            .any(|c| c.entry.instance.id == entry.instance.id)
        {
            return;
        }
        let id = &entry.instance.id;
        chosen.push(Chosen {
            entry: entry.clone(),
            typed: alias.unwrap_or(id).to_string(),
            label: alias.or(entry.usable_name()).unwrap_or(id).to_string(),
        });
    };
    if targets.is_empty() {
        entries.iter().filter(running).for_each(|e| add(e, None));
    }
    for target in targets {
        let pick = classify(target, file);
        let found: Vec<&Inventoried> = match &pick {
            Pick::Alias(alias) => {
                let host = &file.hosts[alias];
                entries
                    .iter()
                    .filter(|e| {
                        host.instance
                            .as_ref()
                            .is_some_and(|id| id.0 == e.instance.id)
                            || (host.instance.is_none()
                                && host.name.is_some()
                                && host.name.as_deref() == e.usable_name())
                    })
                    .collect()
            }
            Pick::Id(id) => entries.iter().filter(|e| &e.instance.id == id).collect(),
            Pick::Name(name) => entries
                .iter()
                .filter(|e| e.instance.name.as_deref() == Some(name.as_str()))
                .collect(),
            Pick::Glob(glob) => entries
                .iter()
                .filter(running)
                .filter(|e| {
                    e.instance.name.as_deref().is_some_and(|n| {
                        !looks_like_instance_id(n) && wildcard::matches(glob, n, false)
                    })
                })
                .collect(),
        };
        if found.is_empty() {
            return Err(nothing(&pick));
        }
        let alias = match &pick {
            Pick::Alias(alias) => Some(alias.as_str()),
            _ => None,
        };
        found.into_iter().for_each(|e| add(e, alias));
    }
    // A label names one host: a second host with the same one is labelled by its id.
    let mut seen = std::collections::HashSet::new();
    for c in &mut chosen {
        if !seen.insert(c.label.clone()) {
            c.label.clone_from(&c.entry.instance.id);
            seen.insert(c.label.clone());
        }
    }
    Ok(chosen)
}

fn nothing(pick: &Pick) -> Failure {
    let message = match pick {
        Pick::Alias(alias) => format!(
            "alias {} names no instance the credentials can see (with the --filter given, if any): check its `instance`/`name`",
            escape(alias)
        ),
        Pick::Id(id) => format!("instance {id} was not found (with the --filter given, if any)"),
        Pick::Name(name) => format!(
            "no instance has the Name tag {} (with the --filter given, if any): `eic-ssh list` shows the names",
            escape(name)
        ),
        Pick::Glob(glob) => format!(
            "the Name glob {} matches no running instance (with the --filter given, if any): `eic-ssh list` shows the names",
            escape(glob)
        ),
    };
    Failure::new(Kind::NotFound, message)
}

/// `--max-errors N` or `N%` of `hosts`, as a count of failed hosts that stops the launching
/// (at least 1 for a percentage above 0).
pub fn max_errors(spec: &str, hosts: usize) -> Result<usize, Failure> {
    let bad = || {
        Failure::usage(format!(
            "--max-errors {}: expected a count (5) or a percentage of the hosts (10%)",
            escape(spec)
        ))
    };
    match spec.strip_suffix('%') {
        Some(percent) => {
            let p: u32 = percent.parse().map_err(|_| bad())?;
            if p > 100 {
                return Err(bad());
            }
            let n = (hosts * p as usize).div_ceil(100);
            Ok(n.max(usize::from(p > 0)))
        }
        None => spec.parse().map_err(|_| bad()),
    }
}

/// A label as a file name under `--out-dir`: one path component of plain characters.
pub fn file_name(label: &str) -> String {
    let name: String = label
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect();
    if name.starts_with('.') || name.is_empty() {
        format!("_{name}")
    } else {
        name
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aws::ec2::Instance;

    fn entry(id: &str, name: &str, state: &str) -> Inventoried {
        Inventoried {
            instance: Instance {
                id: id.into(),
                name: Some(name.into()),
                state: state.into(),
                ..Instance::default()
            },
            endpoint: Err("none".into()),
            name_problem: None,
        }
    }

    fn config(text: &str) -> ConfigFile {
        toml::from_str(text).unwrap()
    }

    fn labels(chosen: &[Chosen]) -> Vec<&str> {
        chosen.iter().map(|c| c.label.as_str()).collect()
    }

    #[test]
    fn targets_are_aliases_ids_names_and_globs_each_host_once() {
        let entries = [
            entry("i-0000000000000000a", "web-1", "running"),
            entry("i-0000000000000000b", "web-2", "running"),
            entry("i-0000000000000000c", "web-3", "stopped"),
            entry("i-0000000000000000d", "db", "running"),
        ];
        let file = config("[hosts.database]\ninstance = \"i-0000000000000000d\"\n");
        let t = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let chosen = choose(&t(&["web-*", "database", "web-1"]), &entries, &file).unwrap();
        assert_eq!(
            labels(&chosen),
            ["web-1", "web-2", "database"],
            "globs take running ones"
        );
        assert_eq!(chosen[2].typed, "database");
        let chosen = choose(&t(&["i-0000000000000000c"]), &entries, &file).unwrap();
        assert_eq!(
            labels(&chosen),
            ["web-3"],
            "named by id: kept, to be reported"
        );
        let all = choose(&[], &entries, &file).unwrap();
        assert_eq!(
            labels(&all),
            ["web-1", "web-2", "db"],
            "no target: every running one"
        );
        let e = choose(&t(&["api-*"]), &entries, &file).unwrap_err();
        assert_eq!(e.kind, Kind::NotFound);
        assert!(
            e.message
                .contains("the Name glob api-* matches no running instance")
        );
        assert!(choose(&t(&["nosuch"]), &entries, &file).is_err());
        assert!(choose(&t(&["i-0000000000000000f"]), &entries, &file).is_err());
    }

    #[test]
    fn max_errors_is_a_count_or_a_share() {
        assert_eq!(max_errors("3", 50).unwrap(), 3);
        assert_eq!(max_errors("10%", 50).unwrap(), 5);
        assert_eq!(
            max_errors("1%", 7).unwrap(),
            1,
            "never 0 for a share above 0"
        );
        assert_eq!(max_errors("0%", 7).unwrap(), 0);
        for bad in ["", "x", "-1", "101%", "5%%"] {
            assert!(max_errors(bad, 10).is_err(), "{bad}");
        }
    }

    #[test]
    fn labels_become_plain_file_names() {
        assert_eq!(file_name("web-1"), "web-1");
        assert_eq!(file_name("../etc/passwd"), "_.._etc_passwd");
        assert_eq!(file_name("a b/c"), "a_b_c");
    }
}
