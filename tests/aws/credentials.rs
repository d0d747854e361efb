//! AWS credentials and settings: each way credentials can be wrong is a credentials problem
//! (exit 4) with a sentence that says what to do, no secret reaches any log, even at -vvv,
//! and the FIPS and dual-stack settings reach the API URLs called.

use crate::common;

use common::*;

#[test]
fn a_wrong_secret_key_is_reported_as_a_credentials_problem() {
    let h = Harness::new();
    let mut cmd = h.eic_ssh();
    cmd.env("AWS_SECRET_ACCESS_KEY", "not-the-secret")
        .args(["proxy", BASTION]);
    let out = run(&mut cmd, LIMIT);
    assert_fails_exactly(
        &out,
        4,
        "eic-ssh: DescribeInstances failed: SignatureDoesNotMatch: The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Check the credentials in use (AWS_PROFILE, --profile, `aws sso login`)\n",
    );
}

#[test]
fn expired_credentials() {
    let mut world = eic_ssh_sim::World::demo();
    world.credentials[0].expires_at = Some(1_000_000_000);
    let h = Harness::with_world(world);
    let (code, err) = proxy_failure(&h, BASTION, "22");
    assert_eq!(code, Some(4));
    assert_eq!(
        err,
        "eic-ssh: DescribeInstances failed: RequestExpired: Request has expired. Your credentials have expired: refresh them (e.g. `aws sso login`) and retry\n"
    );
}

#[test]
fn unknown_access_key() {
    let h = Harness::new();
    let mut cmd = h.eic_ssh();
    cmd.env("AWS_ACCESS_KEY_ID", "AKIAUNKNOWN000000000")
        .args(["proxy", BASTION]);
    let out = run(&mut cmd, LIMIT);
    assert_eq!(out.status.code(), Some(4));
    assert!(
        stderr(&out).starts_with("eic-ssh: DescribeInstances failed: AuthFailure: AWS was not able to validate the provided access credentials"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn no_credentials_at_all() {
    let h = Harness::new();
    let mut cmd = h.eic_ssh();
    cmd.env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .args(["proxy", BASTION]);
    let out = run(&mut cmd, LIMIT);
    assert_fails(&out, 4, "no AWS credentials found");
}

#[test]
fn missing_send_ssh_public_key_permission() {
    let mut world = eic_ssh_sim::World::demo();
    world.credentials[0]
        .deny
        .push("ec2-instance-connect:SendSSHPublicKey".into());
    let h = Harness::with_world(world);
    let mut cmd = h.eic_ssh();
    cmd.args(["proxy", BASTION, "--user", "ec2-user", "--push-key"])
        .arg(h.public_key());
    let out = run(&mut cmd, LIMIT);
    assert_eq!(out.status.code(), Some(4));
    assert!(
        stderr(&out)
            .ends_with("Your IAM policy must allow ec2-instance-connect:SendSSHPublicKey\n"),
        "{}",
        stderr(&out)
    );
    // The push runs beside the tunnel's opening, so a tunnel may have opened; it must
    // end without carrying a byte from the client.
    assert!(h.sim.until(LIMIT, || count(&h, "tunnel_closed")
        == count(&h, "tunnel_open")));
    for closed in h.sim.events_of("tunnel_closed") {
        assert_eq!(closed["bytes_up"], 0, "{closed}");
    }
}

#[test]
fn a_stray_character_in_a_key_is_named_and_the_secret_never_shown() {
    let h = Harness::new();
    let key = &h.sim.client_env()[0].1.clone();
    let mut cmd = h.eic_ssh();
    cmd.env("AWS_ACCESS_KEY_ID", format!("{key}\n"))
        .args(["proxy", BASTION]);
    let out = run(&mut cmd, LIMIT);
    assert_fails_exactly(
        &out,
        4,
        "eic-ssh: the AWS access key id holds a newline (at byte 20), which no AWS key has: check AWS_ACCESS_KEY_ID or your AWS profile for a stray character\n",
    );

    let mut cmd = h.eic_ssh();
    cmd.env("AWS_SECRET_ACCESS_KEY", "very secret\tvalue")
        .args(["proxy", BASTION]);
    let out = run(&mut cmd, LIMIT);
    assert_fails(
        &out,
        4,
        "the AWS secret access key holds a space (at byte 4)",
    );
    assert!(!stderr(&out).contains("secret\t") && !stderr(&out).contains("very"));
    assert!(api_actions(&h).is_empty());
}

#[test]
fn dev_null_an_empty_file_or_a_missing_path_is_no_aws_file() {
    let h = Harness::new();
    let empty = h.dir.path().join("empty");
    std::fs::write(&empty, "").unwrap();
    let missing = h.dir.path().join("missing");
    for path in [std::path::PathBuf::from("/dev/null"), empty, missing] {
        let mut cmd = h.eic_ssh();
        cmd.env("AWS_CONFIG_FILE", &path)
            .env("AWS_SHARED_CREDENTIALS_FILE", &path)
            .arg("list");
        let out = run(&mut cmd, LIMIT);
        assert!(out.status.success(), "{}: {}", path.display(), stderr(&out));
        let listed = String::from_utf8_lossy(&out.stdout);
        assert!(listed.contains(BASTION), "{}: {listed}", path.display());
    }
}

#[test]
fn a_fifo_a_socket_a_directory_or_a_device_is_refused_as_an_aws_file() {
    let h = Harness::new();
    let fifo = h.dir.path().join("aws-config.fifo");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success());
    let socket = h.dir.path().join("aws-config.sock");
    let _listening = std::os::unix::net::UnixListener::bind(&socket).unwrap();
    let directory = h.dir.path().join("aws-config.d");
    std::fs::create_dir(&directory).unwrap();
    let cases = [
        (fifo, "a FIFO"),
        (socket, "a socket"),
        (directory, "a directory"),
        ("/dev/zero".into(), "a device that does not read as empty"),
    ];
    for (path, what) in &cases {
        for var in ["AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"] {
            let mut cmd = h.eic_ssh();
            cmd.env(var, path).arg("list");
            let out = run(&mut cmd, std::time::Duration::from_secs(20));
            assert_fails_exactly(
                &out,
                2,
                &format!(
                    "eic-ssh: cannot read the AWS file {} ({var}): not a regular file ({what})\n",
                    path.display()
                ),
            );
        }
    }
    assert!(api_actions(&h).is_empty(), "nothing was asked of AWS");
}

/// `~/.aws/config` (at `AWS_CONFIG_FILE`) with profile `corp` and the default profile, both
/// through the SSO session `corp`, whose cached token (`~/.aws/sso/cache/SHA1(corp).json`)
/// expired in 2020 and holds no refresh token: the SDK finds it expired without asking
/// anyone.
fn expired_sso(h: &Harness) -> std::path::PathBuf {
    use sha1::Digest;
    let config = h.dir.path().join("aws-sso-config");
    let profile = "sso_session = corp\nsso_account_id = 111122223333\nsso_role_name = ReadOnly\nregion = us-east-1\n";
    std::fs::write(
        &config,
        format!(
            "[default]\n{profile}\n[profile corp]\n{profile}\n[sso-session corp]\nsso_start_url = https://example.awsapps.com/start\nsso_region = us-east-1\nsso_registration_scopes = sso:account:access\n"
        ),
    )
    .unwrap();
    let cache = h.dir.path().join(".aws/sso/cache");
    std::fs::create_dir_all(&cache).unwrap();
    let name = hex::encode(sha1::Sha1::digest(b"corp"));
    std::fs::write(
        cache.join(format!("{name}.json")),
        r#"{"startUrl": "https://example.awsapps.com/start", "region": "us-east-1", "accessToken": "expired-token", "expiresAt": "2020-01-01T00:00:00Z"}"#,
    )
    .unwrap();
    config
}

#[test]
fn an_expired_sso_session_says_the_exact_login_command() {
    let h = Harness::new();
    let config = expired_sso(&h);
    let sso = |args: &[&str], profile_env: Option<&str>| {
        let mut cmd = h.eic_ssh();
        cmd.env_remove("AWS_ACCESS_KEY_ID")
            .env_remove("AWS_SECRET_ACCESS_KEY")
            .env("AWS_CONFIG_FILE", &config)
            .args(args);
        if let Some(p) = profile_env {
            cmd.env("AWS_PROFILE", p);
        }
        run(&mut cmd, LIMIT)
    };
    let login =
        "the AWS SSO session has expired: run `aws sso login --profile corp`, then try again\n";
    let out = sso(&["--profile", "corp", "proxy", BASTION], None);
    assert_fails_exactly(&out, 4, &format!("eic-ssh: profile corp: {login}"));
    let out = sso(&["proxy", BASTION], Some("corp"));
    assert_fails_exactly(&out, 4, &format!("eic-ssh: profile corp: {login}"));
    // The default profile: plain `aws sso login`.
    let out = sso(&["proxy", BASTION], None);
    assert_fails_exactly(
        &out,
        4,
        "eic-ssh: the AWS SSO session has expired: run `aws sso login`, then try again\n",
    );
    // The session says the same (and exits 255, as for every failure of its own).
    let out = sso(
        &[
            &format!("{}@{BASTION}", h.user),
            "--profile",
            "corp",
            "--",
            "true",
        ],
        None,
    );
    assert_fails_exactly(&out, 255, &format!("eic-ssh: profile corp: {login}"));
    // Never logged in here (no cached token): the same fix, with the SDK's cause.
    std::fs::remove_dir_all(h.dir.path().join(".aws/sso/cache")).unwrap();
    let out = sso(&["--profile", "corp", "proxy", BASTION], None);
    assert_fails(
        &out,
        4,
        "eic-ssh: profile corp: no credentials from AWS SSO (",
    );
    assert!(
        stderr(&out).ends_with("): run `aws sso login --profile corp`, then try again\n"),
        "{}",
        stderr(&out)
    );
    assert!(h.sim.events().is_empty(), "nothing was asked of AWS");
}

#[test]
fn aws_profile_naming_a_missing_profile_is_refused_even_with_keys_in_the_environment() {
    let h = Harness::new();
    let expected = "eic-ssh: there is no AWS profile \"nosuch\" (AWS_PROFILE) in ~/.aws/config or ~/.aws/credentials: check the name (`aws configure list-profiles`), unset AWS_PROFILE, or run `aws configure sso --profile nosuch`\n";
    // The environment's keys would do, but the AWS CLI refuses the missing profile.
    let mut cmd = h.eic_ssh();
    cmd.env("AWS_PROFILE", "nosuch").args(["proxy", BASTION]);
    let out = run(&mut cmd, LIMIT);
    assert_fails_exactly(&out, 4, expected);
    // Without keys: the missing profile is named, not "no AWS credentials found".
    let mut cmd = h.eic_ssh();
    cmd.env("AWS_PROFILE", "nosuch")
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .args(["proxy", BASTION]);
    let out = run(&mut cmd, LIMIT);
    assert_fails_exactly(&out, 4, expected);
    assert!(h.sim.events().is_empty(), "nothing was asked of AWS");
}

/// `eic-ssh -vv proxy` with the environment changed by `env` (an empty value removes the
/// variable) and `config` (the AWS config file's text, if any) and no EC2 endpoint override: its log names the URL of the first EC2 call. The
/// call goes through a proxy at a closed loopback port, so nothing leaves this machine.
fn first_ec2_call(h: &Harness, env: &[(&str, &str)], config: Option<&str>) -> String {
    let mut cmd = h.eic_ssh();
    cmd.env_remove("AWS_ENDPOINT_URL_EC2")
        .env("HTTPS_PROXY", "http://127.0.0.1:1")
        .env("NO_PROXY", "127.0.0.1,localhost")
        .args(["-vv", "proxy", BASTION]);
    for (name, value) in env {
        match value {
            &"" => cmd.env_remove(name),
            value => cmd.env(name, value),
        };
    }
    if let Some(text) = config {
        let path = h.dir.path().join("aws-config-endpoints");
        std::fs::write(&path, text).unwrap();
        cmd.env("AWS_CONFIG_FILE", path);
    }
    let out = run(&mut cmd, LIMIT);
    assert_ne!(out.status.code(), Some(0));
    let log = stderr(&out);
    let Some((_, url)) = log.split_once("DescribeInstances → ") else {
        panic!("no EC2 call in the log: {log}");
    };
    url.lines().next().unwrap().to_string()
}

#[test]
fn fips_and_dual_stack_settings_reach_the_api_urls_called() {
    let h = Harness::new();
    // From the environment (the fast path, no SDK chain).
    let url = first_ec2_call(&h, &[("AWS_USE_DUALSTACK_ENDPOINT", "true")], None);
    assert_eq!(url, "https://ec2.us-east-1.api.aws/");
    let china = [
        ("AWS_REGION", "cn-north-1"),
        ("AWS_USE_DUALSTACK_ENDPOINT", "TRUE"),
    ];
    let url = first_ec2_call(&h, &china, None);
    assert_eq!(url, "https://ec2.cn-north-1.api.amazonwebservices.com.cn/");
    let iso = [("AWS_REGION", "us-iso-east-1")];
    assert_eq!(
        first_ec2_call(&h, &iso, None),
        "https://ec2.us-iso-east-1.c2s.ic.gov/"
    );
    // From the profile (through the SDK's chain): FIPS in GovCloud is EC2's plain host.
    let gov = "[default]\nregion = us-gov-west-1\nuse_fips_endpoint = true\n";
    let no_region = [("AWS_REGION", "")];
    assert_eq!(
        first_ec2_call(&h, &no_region, Some(gov)),
        "https://ec2.us-gov-west-1.amazonaws.com/"
    );
    let both = format!("{gov}use_dualstack_endpoint = true\n");
    assert_eq!(
        first_ec2_call(&h, &no_region, Some(&both)),
        "https://ec2-fips.us-gov-west-1.api.aws/"
    );
    // The environment wins over the profile, as in the SDK.
    let off = [("AWS_REGION", ""), ("AWS_USE_DUALSTACK_ENDPOINT", "false")];
    assert_eq!(
        first_ec2_call(&h, &off, Some(&both)),
        "https://ec2.us-gov-west-1.amazonaws.com/"
    );
    assert!(h.sim.events_of("api_call").is_empty());
}

#[test]
fn dual_stack_where_botocore_refuses_it_is_one_line_naming_the_setting() {
    let h = Harness::new();
    let mut cmd = h.eic_ssh();
    cmd.env("AWS_REGION", "eu-isoe-west-1")
        .env("AWS_USE_DUALSTACK_ENDPOINT", "true")
        .env_remove("AWS_ENDPOINT_URL_EC2")
        .args(["proxy", BASTION]);
    let out = run(&mut cmd, LIMIT);
    assert_fails_exactly(
        &out,
        2,
        "eic-ssh: dual-stack API endpoints are not offered in eu-isoe-west-1 (partition aws-iso-e): unset AWS_USE_DUALSTACK_ENDPOINT\n",
    );
    let config = h.dir.path().join("aws-config-isoe");
    std::fs::write(
        &config,
        "[profile gov]\nregion = eu-isoe-west-1\nuse_dualstack_endpoint = true\n",
    )
    .unwrap();
    let mut cmd = h.eic_ssh();
    cmd.env("AWS_CONFIG_FILE", &config)
        .env_remove("AWS_REGION")
        .env_remove("AWS_ENDPOINT_URL_EC2")
        .args(["--profile", "gov", "proxy", BASTION]);
    let out = run(&mut cmd, LIMIT);
    assert_fails_exactly(
        &out,
        2,
        "eic-ssh: dual-stack API endpoints are not offered in eu-isoe-west-1 (partition aws-iso-e): remove use_dualstack_endpoint from the AWS profile gov\n",
    );
    assert!(h.sim.events().is_empty(), "nothing was asked of AWS");
}

/// An executable script at `dir/name` with `body` (after `#!/bin/sh`).
fn script(dir: &std::path::Path, name: &str, body: &str) -> std::path::PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join(name);
    std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

/// eic-ssh with no keys in the environment and profile `PROFILE` whose `credential_process`
/// is `command`, with a credential_process timeout of one second.
fn with_process(h: &Harness, profile: &str, command: &str, args: &[&str]) -> std::process::Output {
    let config = h.dir.path().join("aws-process-config");
    std::fs::write(
        &config,
        format!("[profile {profile}]\ncredential_process = {command}\n"),
    )
    .unwrap();
    let mut cmd = h.eic_ssh();
    cmd.env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .env("AWS_CONFIG_FILE", &config)
        .env("EIC_SSH_CREDENTIAL_PROCESS_TIMEOUT_SECS", "1")
        .args(["--profile", profile])
        .args(args);
    run(&mut cmd, LIMIT)
}

#[test]
fn a_credential_process_gives_the_credentials() {
    let h = Harness::new();
    let env = h.sim.client_env();
    let value = |name: &str| env.iter().find(|(k, _)| k == name).unwrap().1.clone();
    let json = format!(
        r#"{{"Version": 1, "AccessKeyId": "{}", "SecretAccessKey": "{}"}}"#,
        value("AWS_ACCESS_KEY_ID"),
        value("AWS_SECRET_ACCESS_KEY")
    );
    let process = script(h.dir.path(), "creds.sh", &format!("echo '{json}'"));
    let out = with_process(&h, "tool", &process.display().to_string(), &["list"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains(BASTION));
}

#[test]
fn a_credential_process_that_never_answers_is_stopped_with_one_line() {
    let h = Harness::new();
    let pid_file = h.dir.path().join("process.pid");
    let process = script(
        h.dir.path(),
        "hang.sh",
        &format!("echo $$ > {}\nexec sleep 1000", pid_file.display()),
    );
    let command = format!("{} --token-file /secret/place", process.display());
    for args in [vec!["list"], vec!["proxy", BASTION, "22"]] {
        let out = with_process(&h, "slow", &command, &args);
        assert_fails_exactly(
            &out,
            4,
            &format!(
                "eic-ssh: profile slow: credential_process `{} …` did not finish within 1 s, so eic-ssh stopped it: run it yourself to see what it waits for\n",
                process.display()
            ),
        );
        // The process itself was stopped (and reaped) before eic-ssh exited.
        let pid = std::fs::read_to_string(&pid_file).unwrap();
        let proc_dir = std::path::PathBuf::from(format!("/proc/{}", pid.trim()));
        let cmdline = std::fs::read(proc_dir.join("cmdline")).unwrap_or_default();
        assert!(
            !String::from_utf8_lossy(&cmdline).contains("sleep"),
            "the process is still running"
        );
    }
    assert!(api_actions(&h).is_empty());
}

#[test]
fn what_a_failing_credential_process_writes_on_stderr_is_shown_escaped() {
    let h = Harness::new();
    let process = script(
        h.dir.path(),
        "fail.sh",
        r"printf '\033[31mtoken expired\033[0m\n\033]0;owned\007' >&2; exit 3",
    );
    let out = with_process(&h, "esc", &process.display().to_string(), &["list"]);
    assert_fails_exactly(
        &out,
        4,
        &format!(
            "eic-ssh: profile esc: credential_process `{}` failed (exit status: 3): \\033[31mtoken expired\\033[0m\\n\\033]0;owned\\007\n",
            process.display()
        ),
    );
    assert!(!out.stderr.contains(&0x1b));
}
