//! `eic-ssh proxy` as OpenSSH's ProxyCommand: ssh, scp, sftp and rsync through the emulator
//! to a real sshd, and what the user sees when things go wrong.

use crate::common;

use std::process::{Command, Stdio};
use std::time::Duration;

use common::connect_proxy::{Behaviour, ConnectProxy};
use common::*;
use eic_ssh_sim::Faults;

#[test]
fn ssh_runs_commands_and_passes_exit_codes_through() {
    let h = Harness::new();
    let ok = run(&mut h.ssh("true"), LIMIT);
    assert!(ok.status.success(), "ssh true failed: {}", stderr(&ok));
    let out = run(&mut h.ssh("echo hello; exit 3"), LIMIT);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "hello\n");
    // Each connection: one key push right before one tunnel.
    assert_eq!(h.sim.events_of("key_pushed").len(), 2);
    assert_eq!(h.sim.events_of("tunnel_open").len(), 2);
    let push = &h.sim.events_of("key_pushed")[0];
    assert_eq!(push["user"], h.user.as_str());
    assert_eq!(push["instance"], BASTION);
}

#[test]
fn scp_copies_50_mb_both_ways_intact() {
    let h = Harness::new();
    let src = h.random_file("up.bin", 50 << 20);
    let remote = h.dir.path().join("remote.bin");
    let mut up = Command::new("scp");
    h.isolate(&mut up);
    up.args(h.ssh_options())
        .arg(&src)
        .arg(format!("{}@{BASTION}:{}", h.user, remote.display()));
    let out = run(&mut up, LIMIT);
    assert!(out.status.success(), "scp up: {}", stderr(&out));
    assert_eq!(sha256(&remote), sha256(&src));

    let back = h.dir.path().join("back.bin");
    let mut down = Command::new("scp");
    h.isolate(&mut down);
    down.args(h.ssh_options())
        .arg(format!("{}@{BASTION}:{}", h.user, remote.display()))
        .arg(&back);
    let out = run(&mut down, LIMIT);
    assert!(out.status.success(), "scp down: {}", stderr(&out));
    assert_eq!(sha256(&back), sha256(&src));
}

#[test]
fn sftp_copies_50_mb_both_ways_intact() {
    let h = Harness::new();
    let src = h.random_file("up.bin", 50 << 20);
    let remote = h.dir.path().join("remote-sftp.bin");
    let back = h.dir.path().join("back-sftp.bin");
    let batch = h.dir.path().join("batch");
    std::fs::write(
        &batch,
        format!(
            "put {} {}\nget {} {}\n",
            src.display(),
            remote.display(),
            remote.display(),
            back.display()
        ),
    )
    .unwrap();
    let mut sftp = Command::new("sftp");
    h.isolate(&mut sftp);
    sftp.args(h.ssh_options())
        .arg("-b")
        .arg(&batch)
        .arg(format!("{}@{BASTION}", h.user));
    let out = run(&mut sftp, LIMIT);
    assert!(out.status.success(), "sftp: {}", stderr(&out));
    assert_eq!(sha256(&remote), sha256(&src));
    assert_eq!(sha256(&back), sha256(&src));
}

#[test]
fn rsync_works_through_the_proxy() {
    if Command::new("rsync").arg("--version").output().is_err() {
        return skip_or_fail("rsync is not installed (apt-get install rsync)");
    }
    let h = Harness::new();
    let tree = h.dir.path().join("tree");
    std::fs::create_dir_all(tree.join("sub")).unwrap();
    std::fs::write(tree.join("a.txt"), "alpha\n").unwrap();
    std::fs::write(tree.join("sub/b.txt"), "beta\n").unwrap();
    let dest = h.dir.path().join("synced");
    let ssh = format!(
        "ssh {}",
        h.ssh_options()
            .iter()
            .map(|o| format!("'{o}'"))
            .collect::<Vec<_>>()
            .join(" ")
    );
    let mut rsync = Command::new("rsync");
    h.isolate(&mut rsync);
    rsync
        .args(["-a", "-e", &ssh])
        .arg(format!("{}/", tree.display()))
        .arg(format!("{}@{BASTION}:{}/", h.user, dest.display()));
    let out = run(&mut rsync, LIMIT);
    assert!(out.status.success(), "rsync: {}", stderr(&out));
    assert_eq!(
        std::fs::read_to_string(dest.join("sub/b.txt")).unwrap(),
        "beta\n"
    );
}

#[test]
fn stdin_eof_ends_the_tunnel_cleanly() {
    let h = Harness::new();
    let mut cmd = h.eic_ssh();
    cmd.args(["proxy", BASTION, "22"]);
    let out = run(&mut cmd, Duration::from_secs(20));
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(h.sim.until(Duration::from_secs(5), || {
        !h.sim.events_of("tunnel_closed").is_empty()
    }));
    let closed = &h.sim.events_of("tunnel_closed")[0];
    assert_eq!(closed["end"], "client closed", "{closed}");
}

#[test]
fn the_21st_connection_waits_for_a_free_one_and_the_others_close_cleanly() {
    let h = Harness::new();
    let proxy = || {
        let mut cmd = h.eic_ssh();
        cmd.args(["proxy", BASTION])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        cmd.spawn().unwrap()
    };
    let mut held: Vec<_> = (0..20).map(|_| proxy()).collect();
    let opened = |n: usize| {
        eventually(Duration::from_secs(30), || {
            h.sim.events_of("tunnel_open").len() == n
        })
    };
    assert!(opened(20), "20 tunnels did not open");
    // The 21st waits for one of this user's 20 slots (nothing sent to the endpoint, so no
    // HTTP 429); once one of the 20 ends, it opens.
    let mut late = proxy();
    // Its stderr, read as it comes: the line saying it waits is the event to go on from.
    let late_err = {
        use std::io::BufRead;
        let err = late.stderr.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(err).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        rx
    };
    let waiting = "this user's eic-ssh processes hold 20 tunnels on eice-0123456789abcdef0 (limit 20); waiting up to 30 s for one to close";
    let mut late_lines = Vec::new();
    while !late_lines.iter().any(|l: &String| l.contains(waiting)) {
        late_lines.push(
            late_err
                .recv_timeout(LIMIT)
                .unwrap_or_else(|_| panic!("the 21st never said it waits: {late_lines:?}")),
        );
    }
    assert_eq!(h.sim.events_of("tunnel_open").len(), 20, "the 21st waits");
    let mut first = held.remove(0);
    drop(first.stdin.take());
    assert!(wait(first, Duration::from_secs(20)).status.success());
    assert!(opened(21), "the 21st did not get the freed connection");
    drop(late.stdin.take());
    let out = wait(late, Duration::from_secs(20));
    late_lines.extend(late_err.try_iter());
    assert!(out.status.success(), "{late_lines:?}");
    assert!(h.sim.events_of("tunnel_refused").is_empty());
    for mut child in held {
        drop(child.stdin.take());
        let out = wait(child, Duration::from_secs(20));
        assert!(out.status.success(), "{}", stderr(&out));
    }
}

#[test]
fn unknown_instance() {
    let h = Harness::new();
    assert_eq!(
        proxy_failure(&h, "i-0ffffffffffffffff", "22"),
        (Some(5), "eic-ssh: instance i-0ffffffffffffffff was not found in us-east-1 with the default credentials: it may be in another region or account: pass --region or --profile (or set AWS_REGION / AWS_PROFILE)\n".into())
    );
}

#[test]
fn no_endpoint_in_the_vpc() {
    let h = Harness::new();
    assert_eq!(
        proxy_failure(&h, ORPHAN, "22"),
        (
            Some(5),
            format!(
                "eic-ssh: no EC2 Instance Connect Endpoint in vpc-0noendpoint000000 (the VPC of {ORPHAN}): create one (`eic-ssh doctor TARGET --fix` prints how) or pass --endpoint-id\n"
            )
        )
    );
}

#[test]
fn stopped_instance() {
    let h = Harness::new();
    assert_eq!(
        proxy_failure(&h, STOPPED, "22"),
        (
            Some(5),
            format!("eic-ssh: instance {STOPPED} is stopped, not running: start it first\n")
        )
    );
}

#[test]
fn port_2222_is_refused_before_any_call() {
    let h = Harness::new();
    assert_eq!(
        proxy_failure(&h, BASTION, "2222"),
        (Some(2), "eic-ssh: port 2222 cannot be tunnelled: an EC2 Instance Connect Endpoint only opens ports 22 and 3389; reach other ports inside SSH (ssh -L 2222:localhost:2222)\n".into())
    );
    assert!(h.sim.events().is_empty(), "no AWS call for a bad port");
}

#[test]
fn a_403_from_the_tunnel_shows_the_services_message() {
    let mut world = eic_ssh_sim::World::demo();
    world.credentials[0]
        .deny
        .push("ec2-instance-connect:OpenTunnel".into());
    let h = Harness::with_world(world);
    let (code, err) = proxy_failure(&h, BASTION, "22");
    assert_eq!(code, Some(6));
    assert_eq!(
        err,
        "eic-ssh: the endpoint refused the tunnel (HTTP 403, AccessDeniedException): User: arn:aws:iam::123456789012:user/developer is not authorized to perform: ec2-instance-connect:OpenTunnel on resource: arn:aws:ec2:us-east-1:123456789012:instance-connect-endpoint/eice-0123456789abcdef0. Check that your credentials are valid and your IAM policy allows ec2-instance-connect:OpenTunnel on eice-0123456789abcdef0\n"
    );
}

#[test]
fn unable_to_connect_to_target() {
    let h = Harness::new();
    h.sim.set_faults(Faults {
        target_unreachable: true,
        ..Faults::default()
    });
    let (code, err) = proxy_failure(&h, BASTION, "22");
    assert_eq!(code, Some(7));
    assert_eq!(
        err,
        "eic-ssh: the endpoint closed the tunnel: Unable to connect to target (code 1011). The instance did not accept the connection on port 22: check that its security group admits the endpoint (or your public IP, with Preserve Client IP) and that the service is running\n"
    );
}

#[test]
fn security_groups_are_enforced_with_preserve_client_ip() {
    let mut world = eic_ssh_sim::World::demo();
    world.endpoints[0].preserve_client_ip = true;
    world.client_public_ip = Some("198.51.100.7".parse().unwrap());
    let h = Harness::with_world(world);
    // The instance's group admits only the endpoint's group, which no longer counts.
    let (code, _) = proxy_failure(&h, BASTION, "22");
    assert_eq!(code, Some(7));
    h.sim.update_world(|w| {
        w.security_groups[0].inbound[0]
            .cidrs
            .push("198.51.100.0/24".into())
    });
    let ok = run(&mut h.ssh("true"), LIMIT);
    assert!(ok.status.success(), "{}", stderr(&ok));
    assert_eq!(
        h.sim.events_of("tunnel_open")[0]["client_ip"],
        "198.51.100.7"
    );
}

#[test]
fn server_closing_mid_transfer_fails_loudly_without_hanging() {
    let h = Harness::new();
    let src = h.random_file("big.bin", 8 << 20);
    for faults in [
        Faults {
            close_after_bytes: Some(1 << 20),
            ..Faults::default()
        },
        Faults {
            drop_after_bytes: Some(1 << 20),
            ..Faults::default()
        },
    ] {
        h.sim.set_faults(faults);
        let mut cmd = h.ssh(&format!("cat {}", src.display()));
        let out = run(&mut cmd, LIMIT);
        // ssh's own code: the proxy's line below says why.
        assert_eq!(out.status.code(), Some(255), "{}", stderr(&out));
        assert!(out.stdout.len() < 8 << 20);
        let err = stderr(&out);
        assert!(
            err.contains("eic-ssh: the endpoint closed the tunnel: Internal error (code 1011)")
                || err.contains("eic-ssh: the tunnel broke"),
            "{err}"
        );
    }
}

/// The production path end to end: no tunnel URL override, so eic-ssh takes the endpoint's
/// DNS name from DescribeInstanceConnectEndpoints and opens `wss://NAME/openTunnel` with
/// that name as Host and TLS server name, checked against the emulator's certificate for
/// the region's endpoint names. The test's CONNECT proxy is the only stand-in: it carries
/// `NAME:443` to the emulator, as DNS and the internet would.
#[test]
fn the_tunnel_goes_to_the_endpoints_dns_name_from_the_api_with_that_host_and_sni() {
    let h = Harness::new();
    let name = "eice-0123456789abcdef0.ec2-instance-connect-endpoint.us-east-1.amazonaws.com";
    let proxy = ConnectProxy::start(Behaviour::Relay);
    proxy.resolve(&format!("{name}:443"), h.sim.hosts.tunnel);
    let mut cmd = h.ssh("echo through-the-name");
    cmd.env_remove("EIC_SSH_TUNNEL_ENDPOINT_URL")
        .env("HTTPS_PROXY", proxy.url(None));
    let out = run(&mut cmd, LIMIT);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "through-the-name\n");
    assert!(
        proxy.targets().contains(&format!("{name}:443")),
        "{:?}",
        proxy.targets()
    );
    assert!(api_actions(&h).contains(&"DescribeInstanceConnectEndpoints".to_string()));
    let opened = h.sim.events_of("tunnel_open");
    assert_eq!(opened.len(), 1);
    assert_eq!(opened[0]["host"], name, "{}", opened[0]);
    assert_eq!(opened[0]["sni"], name, "{}", opened[0]);
}

/// Keys pushed with SendSSHPublicKey are for one instance and one OS user: a key pushed for
/// the bastion does not open another instance behind the same endpoint, though it still
/// opens the bastion.
#[test]
fn a_key_pushed_for_one_instance_does_not_open_another() {
    let mut world = eic_ssh_sim::World::demo();
    world.instances[1].state = "running".into();
    let other = world.instances[1].id.clone();
    let h = Harness::with_world(world);
    let ssh = |instance: &str, push: bool| {
        let proxy = if push {
            h.proxy_command()
        } else {
            format!("{} proxy %h %p --user %r", env!("CARGO_BIN_EXE_eic-ssh"))
        };
        let mut cmd = Command::new("ssh");
        h.isolate(&mut cmd);
        cmd.args(h.ssh_options_via(&proxy))
            .args(["-o", &format!("HostKeyAlias={BASTION}")])
            .arg(format!("{}@{instance}", h.user))
            .arg("true");
        run(&mut cmd, LIMIT)
    };
    let out = ssh(BASTION, true);
    assert!(
        out.status.success(),
        "pushed for the bastion: {}",
        stderr(&out)
    );
    let out = ssh(&other, false);
    assert_eq!(out.status.code(), Some(255), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("Permission denied (publickey)"),
        "{}",
        stderr(&out)
    );
    let out = ssh(BASTION, false);
    assert!(
        out.status.success(),
        "still good for the bastion: {}",
        stderr(&out)
    );
    let out = ssh(&other, true);
    assert!(out.status.success(), "pushed for it: {}", stderr(&out));
    let pushed: Vec<_> = h.sim.events_of("key_pushed");
    assert_eq!(pushed.len(), 2);
    assert_eq!(pushed[0]["instance"], BASTION);
    assert_eq!(pushed[1]["instance"], other.as_str());
}

/// A tunnel URL signed for a region the endpoint is not in is refused by the endpoint (403,
/// as AWS answers), and eic-ssh says so in one line with the endpoint's words.
#[test]
fn a_tunnel_url_signed_for_another_region_is_refused_in_one_line() {
    let h = Harness::new();
    let mut cmd = h.eic_ssh();
    cmd.args([
        "proxy",
        BASTION,
        "--endpoint-id",
        "eice-0123456789abcdef0",
        "--private-ip",
        "10.0.1.5",
        "--region",
        "eu-central-1",
    ]);
    let out = run(&mut cmd, LIMIT);
    assert_fails_exactly(
        &out,
        6,
        "eic-ssh: the endpoint refused the tunnel (HTTP 403, SignatureDoesNotMatch): Credential should be scoped to a valid region and service (us-east-1/ec2-instance-connect), not eu-central-1/ec2-instance-connect. Check that your credentials are valid and your IAM policy allows ec2-instance-connect:OpenTunnel on eice-0123456789abcdef0\n",
    );
    let refused = h.sim.events_of("tunnel_refused");
    assert_eq!(refused.len(), 1);
    assert_eq!(refused[0]["status"], 403);
    assert_eq!(refused[0]["code"], "SignatureDoesNotMatch");
    assert!(h.sim.events_of("tunnel_open").is_empty());
}
