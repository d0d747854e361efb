//! The rows of the audit and how they read: which instance each event reached (the one
//! that has its private IP now), today's allowlist verdict on its source address (from
//! `guard::decide`, the function the connect path gates on), the table with the rows
//! outside the allowlist marked, the summary, and the documented JSON lines.

use std::collections::BTreeMap;
use std::net::IpAddr;

use serde_json::json;

use super::window::format_time;
use crate::aws::cloudtrail::{TrailEvent, Window};
use crate::aws::inventory::Inventoried;
use crate::aws::security_groups::Admitted;
use crate::guard::probe::ProbeError;
use crate::guard::{Verdict, decide};
use crate::printable::escape;
use crate::route::Settings;

/// The instance an event reached, as it is now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reached {
    /// `i-…`.
    pub id: String,
    /// Its Name tag.
    pub name: Option<String>,
    /// The `[hosts]` aliases naming it.
    pub aliases: Vec<String>,
}

/// One event of the report.
#[derive(Debug, Clone)]
pub struct Row {
    /// The region CloudTrail recorded it in.
    pub region: String,
    /// The event.
    pub event: TrailEvent,
    /// The instance it reached, when one has its address (or id) now.
    pub reached: Option<Reached>,
    /// Today's allowlist on its source: `None` when no allowlist applies (or no instance
    /// is known).
    pub allowed: Option<bool>,
}

impl Row {
    /// A successful tunnel from a source today's allowlist does not admit.
    pub fn outside(&self) -> bool {
        self.event.name == "OpenTunnel"
            && self.event.error_code.is_none()
            && self.allowed == Some(false)
    }

    /// The instance id: the one that has the address now, else the one the call named.
    pub fn instance_id(&self) -> Option<&str> {
        self.reached
            .as_ref()
            .map(|r| r.id.as_str())
            .or(self.event.instance_id.as_deref())
    }
}

/// The entry an event reached: by the instance id a key push names, else by the private
/// address a tunnel asked for (IPv4 or IPv6).
pub fn reached<'e>(event: &TrailEvent, entries: &'e [Inventoried]) -> Option<&'e Inventoried> {
    if let Some(id) = &event.instance_id {
        return entries.iter().find(|e| &e.instance.id == id);
    }
    let ip: IpAddr = event.private_ip.as_deref()?.parse().ok()?;
    entries.iter().find(|e| {
        let i = &e.instance;
        [&i.private_ip, &i.ipv6]
            .into_iter()
            .flatten()
            .any(|a| a.parse::<IpAddr>().ok() == Some(ip))
    })
}

/// What today's allowlist says of `source` for the instance's settings: `Ok(None)` when
/// none applies, `Err(())` when the instance's security group decides and `groups` was not
/// read yet. A source that is not an address (a service's name) is never admitted.
pub fn allowed(
    eff: &Settings,
    source: &str,
    groups: Option<&Admitted>,
) -> Result<Option<bool>, NeedsGroups> {
    let not_an_address = ProbeError::Garbage {
        url: "CloudTrail's sourceIPAddress".into(),
        answer: source.chars().take(60).collect(),
    };
    let ip = source.parse::<IpAddr>().map_err(|_| &not_an_address);
    match decide(&eff.policy(), ip, groups) {
        Verdict::Unchecked { .. } => Ok(None),
        Verdict::Allowed { .. } => Ok(Some(true)),
        Verdict::Refused { .. } => Ok(Some(false)),
        Verdict::AskSecurityGroup { .. } => Err(NeedsGroups),
    }
}

/// The verdict needs what the instance's security group admits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NeedsGroups;

/// The documented JSON line of a row (docs/commands.md, "audit").
pub fn json_line(row: &Row) -> String {
    let e = &row.event;
    json!({
        "time": format_time(e.time),
        "event": e.name,
        "region": row.region,
        "principal": e.principal,
        "source_ip": e.source_ip,
        "endpoint_id": e.endpoint_id,
        "private_ip": e.private_ip,
        "instance_id": row.instance_id(),
        "name": row.reached.as_ref().and_then(|r| r.name.clone()),
        "aliases": row.reached.as_ref().map(|r| r.aliases.clone()).unwrap_or_default(),
        "port": e.port,
        "error_code": e.error_code,
        "allowed": row.allowed,
    })
    .to_string()
}

/// The table's lines, in the rows' order: calls that succeeded from outside the allowlist
/// marked `!`, refused ones from outside `x`; every text from CloudTrail escaped.
pub fn table(rows: &[Row], with_region: bool) -> Vec<String> {
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            let e = &r.event;
            let mark = match (r.allowed, &e.error_code) {
                (Some(false), None) => "!",
                (Some(false), Some(_)) => "x",
                _ => "",
            };
            let mut cells = vec![mark.to_string(), format_time(e.time)];
            if with_region {
                cells.push(r.region.clone());
            }
            let event = match e.name.as_str() {
                "OpenTunnel" => "tunnel",
                "SendSSHPublicKey" => "key",
                other => other,
            };
            let instance = match (&r.reached, &e.private_ip) {
                (Some(reached), _) => label(reached),
                (None, Some(ip)) => format!("? ({})", escape(ip)),
                (None, None) => e.instance_id.as_deref().map_or("?".into(), escape),
            };
            cells.extend([
                event.to_string(),
                escape(&e.principal),
                escape(&e.source_ip),
                instance,
                e.port.map_or("-".into(), |p| p.to_string()),
                e.error_code.as_deref().map_or("-".into(), escape),
                match r.allowed {
                    Some(true) => "yes".into(),
                    Some(false) => "NO".into(),
                    None => "-".into(),
                },
            ]);
            cells
        })
        .collect();
    let mut header = vec!["", "TIME (UTC)"];
    if with_region {
        header.push("REGION");
    }
    header.extend([
        "EVENT",
        "PRINCIPAL",
        "SOURCE",
        "INSTANCE",
        "PORT",
        "ERROR",
        "ALLOWLIST",
    ]);
    crate::printable::table::render(&header, &cells)
}

/// `i-… (alias, Name)`.
fn label(r: &Reached) -> String {
    let mut names: Vec<String> = r.aliases.iter().map(|a| escape(a)).collect();
    if let Some(name) = &r.name
        && !r.aliases.contains(name)
    {
        names.push(escape(name));
    }
    if names.is_empty() {
        r.id.clone()
    } else {
        format!("{} ({})", r.id, names.join(", "))
    }
}

/// The summary under the table: the window, counts, connections by principal and by
/// source, refused attempts, and the successes from outside the allowlist.
pub fn summary(rows: &[Row], window: Window, regions: &[String]) -> Vec<String> {
    let span = format!(
        "{} to {} in {}",
        format_time(window.start),
        format_time(window.end),
        regions.join(", ")
    );
    if rows.is_empty() {
        return vec![format!(
            "no OpenTunnel or SendSSHPublicKey events from {span}"
        )];
    }
    let tunnels: Vec<&Row> = rows
        .iter()
        .filter(|r| r.event.name == "OpenTunnel")
        .collect();
    let keys = rows.len() - tunnels.len();
    let refused = rows.iter().filter(|r| r.event.error_code.is_some()).count();
    let mut lines = vec![format!(
        "{} events from {span}: {} tunnels, {keys} key pushes, {refused} refused",
        rows.len(),
        tunnels.len()
    )];
    let count = |key: fn(&Row) -> &str| {
        let mut by: BTreeMap<String, usize> = BTreeMap::new();
        for r in tunnels.iter().filter(|r| r.event.error_code.is_none()) {
            *by.entry(escape(key(r))).or_default() += 1;
        }
        by.into_iter()
            .map(|(k, n)| format!("{k} {n}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let opened = tunnels
        .iter()
        .filter(|r| r.event.error_code.is_none())
        .count();
    if opened > 0 {
        lines.push(format!(
            "tunnels by principal: {}",
            count(|r| &r.event.principal)
        ));
        lines.push(format!(
            "tunnels by source: {}",
            count(|r| &r.event.source_ip)
        ));
    }
    let outside: Vec<&Row> = rows
        .iter()
        .filter(|r| r.allowed == Some(false) && r.event.error_code.is_none())
        .collect();
    if outside.is_empty() {
        lines.push("outside the allowlist: no successful tunnel or key push".into());
    } else {
        let mut sources: Vec<String> = outside.iter().map(|r| escape(&r.event.source_ip)).collect();
        sources.sort();
        sources.dedup();
        let tunnels = outside.iter().filter(|r| r.outside()).count();
        lines.push(format!(
            "outside the allowlist: {tunnels} successful tunnels, {} key pushes (marked !) from {}",
            outside.len() - tunnels,
            sources.join(", ")
        ));
    }
    let unknown = rows
        .iter()
        .filter(|r| r.reached.is_none() && r.event.private_ip.is_some())
        .count();
    if unknown > 0 {
        lines.push(format!(
            "{unknown} events name a private IP no instance has now (instance ?): not judged"
        ));
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aws::ec2::Instance;

    fn event(name: &str, source: &str, ip: Option<&str>, error: Option<&str>) -> TrailEvent {
        TrailEvent {
            time: 1_714_557_600,
            name: name.into(),
            principal: "arn:aws:iam::1:user/alice".into(),
            source_ip: source.into(),
            endpoint_id: Some("eice-1".into()),
            private_ip: ip.map(str::to_string),
            instance_id: None,
            port: Some(22),
            error_code: error.map(str::to_string),
        }
    }

    fn eff(text: &str) -> Settings {
        let file = crate::config::file::parse(text, std::path::Path::new("c.toml")).unwrap();
        crate::route::settings::for_target(
            &file,
            None,
            "i-0123456789abcdef0",
            &crate::route::Flags::default(),
        )
        .unwrap()
    }

    #[test]
    fn verdicts_come_from_the_guard() {
        let listed = eff("[defaults]\nallow = [\"203.0.113.0/24\"]\n");
        assert_eq!(allowed(&listed, "203.0.113.9", None), Ok(Some(true)));
        assert_eq!(allowed(&listed, "198.51.100.1", None), Ok(Some(false)));
        assert_eq!(
            allowed(&listed, "ec2.amazonaws.com", None),
            Ok(Some(false)),
            "a service name is never admitted"
        );
        assert_eq!(allowed(&eff(""), "198.51.100.1", None), Ok(None));
        let by_group =
            eff("[defaults]\nallow = [\"10.0.0.0/8\"]\nallow_from_security_group = true\n");
        assert_eq!(allowed(&by_group, "198.51.100.1", None), Err(NeedsGroups));
    }

    #[test]
    fn events_reach_the_instance_with_their_address_now() {
        let entry = |id: &str, ip: &str| Inventoried {
            instance: Instance {
                id: id.into(),
                private_ip: Some(ip.into()),
                ..Instance::default()
            },
            endpoint: Err(String::new()),
            name_problem: None,
        };
        let entries = [entry("i-1", "10.0.1.5"), entry("i-2", "10.0.1.6")];
        let e = event("OpenTunnel", "1.2.3.4", Some("10.0.1.6"), None);
        assert_eq!(reached(&e, &entries).unwrap().instance.id, "i-2");
        let gone = event("OpenTunnel", "1.2.3.4", Some("10.0.9.9"), None);
        assert!(reached(&gone, &entries).is_none());
        let mut push = event("SendSSHPublicKey", "1.2.3.4", None, None);
        push.instance_id = Some("i-1".into());
        assert_eq!(reached(&push, &entries).unwrap().instance.id, "i-1");
    }

    #[test]
    fn outside_rows_are_marked_and_counted() {
        let row = |e: TrailEvent, allowed| Row {
            region: "us-east-1".into(),
            event: e,
            reached: None,
            allowed,
        };
        let rows = vec![
            row(
                event("OpenTunnel", "203.0.113.9", Some("10.0.1.5"), None),
                Some(true),
            ),
            row(
                event("OpenTunnel", "198.51.100.1", Some("10.0.1.5"), None),
                Some(false),
            ),
            row(
                event(
                    "OpenTunnel",
                    "198.51.100.2",
                    Some("10.0.1.5"),
                    Some("AccessDenied"),
                ),
                Some(false),
            ),
        ];
        assert!(!rows[0].outside() && rows[1].outside() && !rows[2].outside());
        let lines = table(&rows, false);
        assert!(
            lines[2].starts_with("!  2024-05-01T10:00:00Z  tunnel"),
            "{lines:?}"
        );
        assert!(lines[3].starts_with("x "), "{lines:?}");
        let window = Window { start: 0, end: 1 };
        let summary = summary(&rows, window, &["us-east-1".into()]);
        assert!(
            summary[0].ends_with("3 tunnels, 0 key pushes, 1 refused"),
            "{summary:?}"
        );
        assert!(
            summary
                .iter()
                .any(|l| l
                    == "outside the allowlist: 1 successful tunnels, 0 key pushes (marked !) from 198.51.100.1"),
            "{summary:?}"
        );
        let json: serde_json::Value = serde_json::from_str(&json_line(&rows[1])).unwrap();
        assert_eq!(json["allowed"], false);
        assert_eq!(json["time"], "2024-05-01T10:00:00Z");
        assert_eq!(json["instance_id"], serde_json::Value::Null);
    }
}
