//! An Ansible dynamic inventory as JSON (the script protocol's `--list` and `--host`):
//! groups by tag (`tag_KEY_VALUE`, as amazon.aws.aws_ec2's keyed groups name them), by
//! endpoint and by availability zone, `_meta.hostvars` for each host; hosts the guard
//! refuses are in `eic_refused` and no other group.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

/// The group of the hosts the guard refuses from this network.
pub const REFUSED: &str = "eic_refused";

/// One instance as the inventory shows it.
pub struct AnsibleHost {
    /// Its inventory name: the Name tag when that is a plain, unique host name, else the id.
    pub name: String,
    /// The instance id (`ansible_host`: what the ProxyCommand's `%h` is).
    pub instance_id: String,
    /// Every tag of the instance.
    pub tags: BTreeMap<String, String>,
    /// The endpoint that serves it.
    pub endpoint: String,
    /// Its availability zone, if known.
    pub availability_zone: Option<String>,
    /// Its region.
    pub region: String,
    /// `ansible_user`, when one is set.
    pub user: Option<String>,
    /// `ansible_ssh_common_args`: the ProxyCommand and the connection-sharing options.
    pub ssh_args: String,
    /// Why the guard refuses it from here, if it does.
    pub refused: Option<String>,
}

/// A group name as Ansible takes it: every character outside `[A-Za-z0-9_]` becomes `_`.
pub fn group_name(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// The host's variables (`--host`, and `_meta.hostvars`).
pub fn hostvars(host: &AnsibleHost) -> Value {
    let mut vars = json!({
        "ansible_host": host.instance_id,
        "ansible_ssh_common_args": host.ssh_args,
        "eic_instance_id": host.instance_id,
        "eic_endpoint_id": host.endpoint,
        "eic_region": host.region,
        "eic_availability_zone": host.availability_zone,
        "eic_tags": host.tags,
        "eic_guard": if host.refused.is_some() { "refused" } else { "allowed" },
    });
    if let Some(user) = &host.user {
        vars["ansible_user"] = json!(user);
    }
    if let Some(why) = &host.refused {
        vars["eic_guard_reason"] = json!(why);
    }
    vars
}

/// The whole `--list` answer.
pub fn list(hosts: &[AnsibleHost]) -> Value {
    let mut groups: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut add = |group: String, host: &AnsibleHost| {
        let members = groups.entry(group).or_default();
        if !members.contains(&host.name) {
            members.push(host.name.clone());
        }
    };
    for host in hosts {
        if host.refused.is_some() {
            add(REFUSED.to_string(), host);
            continue;
        }
        for (key, value) in &host.tags {
            add(group_name(&format!("tag_{key}_{value}")), host);
        }
        add(group_name(&host.endpoint), host);
        if let Some(az) = &host.availability_zone {
            add(group_name(&format!("az_{az}")), host);
        }
    }
    let mut out = Map::new();
    for (group, members) in groups {
        out.insert(group, json!({ "hosts": members }));
    }
    let vars: Map<String, Value> = hosts
        .iter()
        .map(|h| (h.name.clone(), hostvars(h)))
        .collect();
    out.insert("_meta".into(), json!({ "hostvars": vars }));
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(name: &str, refused: bool) -> AnsibleHost {
        AnsibleHost {
            name: name.into(),
            instance_id: format!("i-{name}"),
            tags: [("Role", "web"), ("team:a", "x.y")]
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .into(),
            endpoint: "eice-0123".into(),
            availability_zone: Some("us-east-1a".into()),
            region: "us-east-1".into(),
            user: Some("ec2-user".into()),
            ssh_args: "-o X=y".into(),
            refused: refused.then(|| "not on the allowlist".into()),
        }
    }

    #[test]
    fn groups_by_tag_endpoint_and_zone_and_refused_hosts_only_in_their_group() {
        let inv = list(&[host("a", false), host("b", true)]);
        assert_eq!(inv["tag_Role_web"]["hosts"], json!(["a"]));
        assert_eq!(inv["tag_team_a_x_y"]["hosts"], json!(["a"]));
        assert_eq!(inv["eice_0123"]["hosts"], json!(["a"]));
        assert_eq!(inv["az_us_east_1a"]["hosts"], json!(["a"]));
        assert_eq!(inv[REFUSED]["hosts"], json!(["b"]));
        assert_eq!(inv["_meta"]["hostvars"]["a"]["ansible_host"], "i-a");
        assert_eq!(inv["_meta"]["hostvars"]["b"]["eic_guard"], "refused");
    }
}
