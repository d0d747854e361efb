//! Every cause of a failure is said once, on one short line: an unresolvable name (an
//! `.invalid` host, which never resolves) for the egress check, the EC2 API and a proxy.

use crate::common;

use common::*;
use eic_ssh_sim::World;

/// Asserts one line, naming the lookup failure once and each "cannot reach" at most once.
#[track_caller]
fn said_once(err: &str, host: &str) {
    assert_eq!(err.lines().count(), 1, "{err}");
    let lower = err.to_lowercase();
    assert!(lower.contains("lookup"), "{err}");
    assert_eq!(lower.matches("dns").count(), 0, "{err}");
    assert_eq!(lower.matches("lookup").count(), 1, "{err}");
    assert!(lower.matches("cannot reach").count() <= 1, "{err}");
    assert!(!lower.contains("error sending request"), "{err}");
    assert!(!lower.contains("client error"), "{err}");
    assert!(
        err.contains(host),
        "the line names what was looked up: {err}"
    );
}

#[test]
fn an_unresolvable_egress_check_is_one_cause() {
    let config = ALLOW_OFFICE.replace("CHECKIP", "https://checkip.nowhere.invalid/");
    let (h, config) = with_config(World::demo(), "203.0.113.10", &config);
    let out = eic(&h, &config, &["proxy", "bastion"]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.starts_with("eic-ssh: refusing to connect: cannot determine the egress IP"),
        "{err}"
    );
    said_once(&err, "checkip.nowhere.invalid");
    assert_eq!(err.matches("checkip.nowhere.invalid").count(), 1, "{err}");
}

#[test]
fn an_unresolvable_api_host_is_one_cause() {
    let h = Harness::new();
    let mut cmd = h.eic_ssh();
    cmd.env("AWS_ENDPOINT_URL_EC2", "https://ec2.nowhere.invalid")
        .args(["proxy", BASTION]);
    let out = run(&mut cmd, LIMIT);
    assert_eq!(out.status.code(), Some(8), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.starts_with(
            "eic-ssh: DescribeInstances failed: cannot reach ec2.nowhere.invalid:443: "
        ),
        "{err}"
    );
    said_once(&err, "ec2.nowhere.invalid");
}

#[test]
fn an_unresolvable_proxy_is_one_cause() {
    let h = Harness::new();
    let mut cmd = h.eic_ssh();
    cmd.env("HTTPS_PROXY", "http://proxy.nowhere.invalid:3128")
        .args(["proxy", BASTION]);
    let out = run(&mut cmd, LIMIT);
    assert_eq!(out.status.code(), Some(8), "{}", stderr(&out));
    let err = stderr(&out);
    said_once(&err, "proxy proxy.nowhere.invalid:3128");
}
