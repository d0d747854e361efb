//! `eic-ssh list` against emulator worlds: each instance with its endpoint or the reason,
//! the alias naming it, the guard's verdict for this network, shared Name tags flagged,
//! filters, every region, and JSON.

use crate::common;

use common::*;
use eic_ssh_sim::World;

const CONFIG: &str = r#"
[defaults]
egress_check_url = "CHECKIP"

[hosts.jump]
instance = "i-0123456789abcdef0"
allow = ["203.0.113.0/24"]

[hosts.lonely]
name = "orphan"
"#;

fn json_of(out: &std::process::Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)))
}

#[test]
fn list_shows_endpoint_alias_and_verdict() {
    let mut world = World::demo();
    let mut twin = world.instances[0].clone();
    twin.id = "i-0ccccccccccccccc3".into();
    world.instances.push(twin);
    let (h, config) = with_config(world, "198.51.100.9", CONFIG);
    let out = eic(&h, &config, &["list"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    let line = |id: &str| {
        text.lines()
            .find(|l| l.starts_with(id))
            .unwrap_or_else(|| panic!("{id} in {text}"))
            .split_whitespace()
            .collect::<Vec<_>>()
    };
    assert_eq!(
        line(BASTION),
        [
            BASTION,
            "bastion*",
            "running",
            "10.0.1.5",
            "eice-0123456789abcdef0",
            "jump",
            "refused"
        ]
    );
    assert_eq!(line("i-0ccccccccccccccc3")[6], "unchecked");
    assert_eq!(
        line(ORPHAN),
        [
            ORPHAN,
            "orphan",
            "running",
            "10.9.0.7",
            "-",
            "lonely",
            "unchecked"
        ]
    );
    assert_eq!(line(STOPPED)[2..5], ["stopped", "10.0.1.6", "-"]);
    assert!(
        text.contains(&format!(
            "{ORPHAN}: no EC2 Instance Connect Endpoint in vpc-0noendpoint000000"
        )),
        "{text}"
    );
    assert!(
        text.contains(&format!("{BASTION}: its Name is shared (*): connect by id")),
        "{text}"
    );
    assert!(
        text.contains("egress IP 198.51.100.9 is not in the allowlist for jump"),
        "{text}"
    );
    assert_eq!(count(&h, "checkip"), 1, "the egress IP is asked once");

    let out = eic(&h, &config, &["list", "--json", "--filter", "tag:env=prod"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let report = json_of(&out);
    assert_eq!(report["egress_ip"], "198.51.100.9");
    let ids: Vec<&str> = report["instances"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["instance_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [BASTION, "i-0ccccccccccccccc3", ORPHAN]);
    let first = &report["instances"][0];
    assert_eq!(first["guard"], "refused");
    assert_eq!(first["aliases"], serde_json::json!(["jump"]));
    assert_eq!(first["endpoint_id"], "eice-0123456789abcdef0");
    assert_eq!(first["name_shared"], true);
    assert!(
        report["instances"][2]["endpoint_problem"]
            .as_str()
            .unwrap()
            .contains("no EC2 Instance Connect Endpoint")
    );
}

#[test]
fn list_all_regions_and_an_allowed_network() {
    let (h, config) = with_config(World::demo(), "203.0.113.10", CONFIG);
    let out = eic(&h, &config, &["list", "--all-regions"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.starts_with("REGION     ID"), "{text}");
    let bastion = text.lines().find(|l| l.contains(BASTION)).unwrap();
    assert!(
        bastion.starts_with("us-east-1") && bastion.ends_with("allowed"),
        "{bastion}"
    );
    let describes = api_actions(&h)
        .iter()
        .filter(|a| *a == "DescribeInstances")
        .count();
    assert_eq!(describes, 2, "one DescribeInstances per region");

    // Denied DescribeInstances: the usual one line and exit code.
    h.sim
        .update_world(|w| w.credentials[0].deny.push("ec2:DescribeInstances".into()));
    let out = eic(&h, &config, &["list"]);
    assert_fails(&out, 4, "not authorized to perform: ec2:DescribeInstances");
}

#[test]
fn a_name_tag_shaped_like_an_id_is_flagged_and_never_binds() {
    let mut world = World::demo();
    let mut impostor = world.instances[0].clone();
    impostor.id = "i-0eeeeeeeeeeeeeee1".into();
    impostor.name = Some(BASTION.into());
    world.instances.push(impostor);
    let (h, config) = with_config(world, "203.0.113.10", CONFIG);
    let out = eic(&h, &config, &["list"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    let row = |id: &str| {
        text.lines()
            .find(|l| l.starts_with(id))
            .unwrap_or_else(|| panic!("{id} in {text}"))
            .split_whitespace()
            .collect::<Vec<_>>()
    };
    let impostor = row("i-0eeeeeeeeeeeeeee1");
    assert_eq!(impostor[1], format!("{BASTION}!"), "{text}");
    assert_eq!(impostor[5], "-", "no alias binds it: {text}");
    assert_eq!(row(BASTION)[5], "jump", "{text}");
    assert!(
        text.contains(&format!(
            "i-0eeeeeeeeeeeeeee1: its Name {BASTION} looks like an instance id"
        )),
        "{text}"
    );

    let out = eic(&h, &config, &["list", "--json"]);
    let report = json_of(&out);
    let entry = report["instances"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["instance_id"] == "i-0eeeeeeeeeeeeeee1")
        .unwrap()
        .clone();
    assert_eq!(entry["name_problem"], "looks_like_an_instance_id");
    assert_eq!(entry["aliases"], serde_json::json!([]));
}
