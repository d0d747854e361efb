//! Discovery through the whole binary: which EC2 calls are made (explicit ids skip them),
//! every page read, the instance's own subnet preferred, bad ids and regions refused first.

use crate::common;

use common::*;
use eic_ssh_sim::World;

/// The EC2 actions called, sorted: the instance and the endpoints are asked at once, so
/// their order is the network's.
fn ec2_actions(h: &Harness) -> Vec<String> {
    let mut actions: Vec<String> = h
        .sim
        .events_of("api_call")
        .iter()
        .filter(|e| e["service"] == "ec2")
        .map(|e| e["action"].as_str().unwrap().to_string())
        .collect();
    actions.sort();
    actions
}

#[test]
fn explicit_endpoint_and_ip_skip_every_ec2_call() {
    let h = Harness::new();
    let proxy = format!(
        "{} --endpoint-id eice-0123456789abcdef0 --private-ip 10.0.1.5",
        h.proxy_command()
    );
    let mut cmd = h.ssh_via(&proxy, "true");
    let out = run(&mut cmd, LIMIT);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        ec2_actions(&h).is_empty(),
        "EC2 calls made: {:?}",
        ec2_actions(&h)
    );
    assert_eq!(h.sim.events_of("key_pushed").len(), 1);
}

#[test]
fn an_explicit_endpoint_id_is_described_alone() {
    let h = Harness::new();
    let mut cmd = h.eic_ssh();
    cmd.env_remove("EIC_SSH_TUNNEL_ENDPOINT_URL")
        .args([
            "proxy",
            BASTION,
            "--endpoint-id",
            "eice-0123456789abcdef0",
            "--private-ip",
            "10.0.1.5",
            "--tunnel-endpoint-url",
        ])
        .arg(format!("wss://{}", h.sim.addr));
    let out = run(&mut cmd, LIMIT);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(ec2_actions(&h).is_empty());

    // Without a tunnel URL override the endpoint's DNS name is needed: one describe, by id.
    let mut cmd = h.eic_ssh();
    cmd.env_remove("EIC_SSH_TUNNEL_ENDPOINT_URL").args([
        "proxy",
        BASTION,
        "--endpoint-id",
        "eice-0ffffffffffffffff",
    ]);
    let out = run(&mut cmd, LIMIT);
    assert_fails_exactly(
        &out,
        5,
        "eic-ssh: DescribeInstanceConnectEndpoints failed: InvalidInstanceConnectEndpointId.NotFound: The instanceConnectEndpoint ID 'eice-0ffffffffffffffff' does not exist\n",
    );
    assert_eq!(
        ec2_actions(&h),
        ["DescribeInstanceConnectEndpoints", "DescribeInstances"]
    );
}

#[test]
fn discovery_reads_every_page_and_prefers_the_instances_subnet() {
    let mut world = World::demo();
    let template = world.endpoints[0].clone();
    world.endpoints.clear();
    for i in 0..55 {
        let mut e = template.clone();
        e.id = format!("eice-0{i:016x}");
        e.subnet_id = if i == 54 {
            template.subnet_id.clone()
        } else {
            format!("subnet-other{i}")
        };
        world.endpoints.push(e);
    }
    let h = Harness::with_world(world);
    let out = run(&mut h.ssh("true"), LIMIT);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        ec2_actions(&h),
        [
            "DescribeInstanceConnectEndpoints",
            "DescribeInstanceConnectEndpoints",
            "DescribeInstances"
        ]
    );
    assert_eq!(
        h.sim.events_of("tunnel_open")[0]["endpoint"],
        format!("eice-0{:016x}", 54)
    );
}

#[test]
fn bad_region_endpoint_id_and_dns_name_are_usage_errors_before_any_call() {
    let h = Harness::new();
    let cases: [(&[&str], &str); 4] = [
        (
            &["--region", "us-east-1.evil.example/x"],
            "--region \"us-east-1.evil.example/x\" is not a plain name",
        ),
        // A plain name, but no region: it would become part of a host name.
        (
            &["--region", "us-east-1.evil.example"],
            "invalid AWS region",
        ),
        (
            &["--endpoint-id", "eice-nope"],
            "--endpoint-id: \"eice-nope\" is not an endpoint id",
        ),
        (&["--endpoint-dns-name", ""], "--endpoint-dns-name is empty"),
    ];
    for (flags, text) in cases {
        let mut cmd = h.eic_ssh();
        cmd.args(["proxy", BASTION]).args(flags);
        let out = run(&mut cmd, LIMIT);
        assert_fails(&out, 2, text);
    }
    assert!(h.sim.events_of("api_call").is_empty());
}

#[test]
fn a_forged_endpoint_dns_name_from_the_api_is_refused() {
    let mut world = World::demo();
    world.endpoints[0].forged_dns_name = Some("attacker.example".into());
    let h = Harness::with_world(world);
    let mut cmd = h.eic_ssh();
    cmd.env_remove("EIC_SSH_TUNNEL_ENDPOINT_URL")
        .args(["proxy", BASTION, "22"]);
    let out = run(&mut cmd, LIMIT);
    assert_fails_exactly(
        &out,
        5,
        "eic-ssh: refusing the DNS name \"attacker.example\" that the EC2 API gave for endpoint eice-0123456789abcdef0: it is not an EC2 Instance Connect Endpoint name in us-east-1 (ID.ec2-instance-connect-endpoint.us-east-1.amazonaws.com); if it is right, pass it with --endpoint-dns-name or endpoint_dns_name in the config file\n",
    );
    assert!(h.sim.events_of("key_pushed").is_empty());

    // The user's own name is theirs to choose: it is dialled (and fails here, exit 8).
    let mut cmd = h.eic_ssh();
    cmd.env_remove("EIC_SSH_TUNNEL_ENDPOINT_URL").args([
        "proxy",
        BASTION,
        "22",
        "--endpoint-dns-name",
        "localhost",
    ]);
    let out = run(&mut cmd, LIMIT);
    assert_eq!(out.status.code(), Some(8), "{}", stderr(&out));
    assert!(stderr(&out).contains("localhost"), "{}", stderr(&out));
}

#[test]
fn identity_mistakes_say_where_eic_ssh_looked() {
    let h = Harness::new();
    // An id no instance has here: the region and the credentials used, and what to try.
    let (code, err) = proxy_failure(&h, "i-0fffffffffffffff9", "22");
    assert_eq!(code, Some(5), "{err}");
    assert!(
        err.contains("instance i-0fffffffffffffff9 was not found in us-east-1 with")
            && err.contains("another region or account: pass --region or --profile"),
        "{err}"
    );
    // A profile named on purpose that does not exist, before any AWS call.
    let before = h.sim.events().len();
    let mut cmd = h.eic_ssh();
    cmd.args(["proxy", BASTION, "--profile", "nosuch"]);
    let out = run(&mut cmd, LIMIT);
    assert_fails(&out, 4, "there is no AWS profile \"nosuch\"");
    assert_eq!(h.sim.events().len(), before, "no AWS call");
}

#[test]
fn a_name_on_the_second_page_is_found_and_duplicates_across_pages_are_ambiguous() {
    // 1000 instances come before the bastion: EC2 pages before it filters, so the first
    // page of the Name lookup holds no match and carries a NextToken.
    let mut world = World::demo();
    let template = world.instances[1].clone();
    let filler: Vec<_> = (0..1000)
        .map(|i| {
            let mut f = template.clone();
            f.id = format!("i-0f{i:015x}");
            f.name = Some(format!("filler-{i}"));
            f
        })
        .collect();
    world.instances.splice(0..0, filler);
    let h = Harness::with_world(world);
    let mut cmd = h.eic_ssh();
    cmd.args(["proxy", "bastion", "22"]);
    let out = run(&mut cmd, LIMIT);
    assert!(out.status.success(), "{}", stderr(&out));
    let described = ec2_actions(&h)
        .iter()
        .filter(|a| *a == "DescribeInstances")
        .count();
    assert_eq!(described, 2, "{:?}", ec2_actions(&h));
    assert_eq!(h.sim.events_of("tunnel_open").len(), 1);
    // The same Name, running, on page 1 and on page 2: ambiguous, whatever the pages.
    h.sim.update_world(|w| {
        w.instances[0].name = Some("bastion".into());
        w.instances[0].state = "running".into();
    });
    let mut cmd = h.eic_ssh();
    cmd.args(["proxy", "bastion", "22", "--no-cache"]);
    let out = run(&mut cmd, LIMIT);
    assert_fails(&out, 5, "2 instances are named \"bastion\"");
}
