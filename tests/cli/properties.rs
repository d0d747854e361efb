//! Property tests for every parser that reads untrusted or user text: remote names and
//! operands, wildcards, known_hosts, the config file, checkip answers, EC2 XML and Instance
//! Connect JSON errors, tunnel error bodies. None may panic, and what reaches the terminal
//! or the file system keeps its invariants whatever the input.

use std::path::{Component, Path};

use eic_ssh::aws::{ec2, instance_connect};
use eic_ssh::config::file as config_file;
use eic_ssh::copy::{names, operands};
use eic_ssh::guard::probe;
use eic_ssh::printable;
use eic_ssh::ssh::host_keys;
use eic_ssh::tunnel::connect::parse_error_body;
use eic_ssh::wildcard;
use proptest::prelude::*;

/// Nothing that could drive a terminal: no C0/C1 control, no bidi or zero-width format
/// character.
fn printable_only(text: &str) -> bool {
    text.chars().all(|c| {
        let u = c as u32;
        !(u < 0x20
            || (0x7f..=0x9f).contains(&u)
            || (0x200b..=0x200f).contains(&u)
            || (0x202a..=0x202e).contains(&u)
            || (0x2066..=0x2069).contains(&u))
    })
}

/// Names a hostile SFTP server might send: path tricks, controls, NULs, plain text.
fn hostile_name() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        Just(".".to_string()),
        Just("..".to_string()),
        "(\\.\\./|/|\\./)*[a-z.]{0,6}(/[a-z.]{0,4}){0,3}",
        "[\\x00-\\x1f\\x7f\u{80}-\u{9f}\u{202e}a-z./\\\\]{0,12}",
        any::<String>(),
    ]
}

/// Both branches of `names::component` on hostile names: an accepted name is exactly one
/// normal path component, a refusal names the name escaped. The runner counts each branch,
/// so the property cannot pass with one of them never taken.
#[test]
fn hostile_names_are_one_normal_component_or_refused_escaped() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let (accepted, refused) = (AtomicUsize::new(0), AtomicUsize::new(0));
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig::with_cases(512));
    runner
        .run(&hostile_name(), |name| {
            match names::component(&name, "/srv\u{1b}") {
                Ok(ok) => {
                    accepted.fetch_add(1, Ordering::Relaxed);
                    let joined = Path::new("dest").join(ok);
                    let parts: Vec<Component> = joined.components().collect();
                    prop_assert_eq!(parts.len(), 2, "{:?} became {:?}", name, joined);
                    prop_assert!(matches!(parts[1], Component::Normal(_)));
                    prop_assert!(!ok.contains('\0'));
                }
                Err(warning) => {
                    refused.fetch_add(1, Ordering::Relaxed);
                    prop_assert!(printable_only(&warning), "{:?}", warning);
                }
            }
            Ok(())
        })
        .unwrap();
    let (accepted, refused) = (accepted.into_inner(), refused.into_inner());
    // Each branch in at least a tenth of the cases (about half each in practice).
    assert!(
        accepted > 50 && refused > 50,
        "accepted {accepted}, refused {refused} of the generated names"
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn escaped_text_is_printable(text in any::<String>()) {
        prop_assert!(printable_only(&printable::escape(&text)));
    }

    #[test]
    fn escaped_bytes_are_printable(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
        prop_assert!(printable_only(&printable::escape_bytes(&bytes)));
    }

    #[test]
    fn operands_never_panic_and_remote_targets_have_no_slash(text in any::<String>()) {
        if let operands::Operand::Remote { target, .. } = operands::parse(&text) {
            prop_assert!(!target.contains('/') && !target.is_empty());
        }
    }

    #[test]
    fn wildcards_never_panic_and_a_star_matches_everything(
        pattern in "[a-z*?]{0,12}",
        name in any::<String>(),
    ) {
        let _ = wildcard::matches(&pattern, &name, true);
        prop_assert!(wildcard::matches("*", &name, false));
        if !wildcard::has_wildcard(&name) {
            prop_assert!(wildcard::matches(&name, &name, false));
        }
    }

    #[test]
    fn known_hosts_text_never_panics(text in any::<String>(), name in "[a-z0-9.-]{0,20}") {
        let key = russh::keys::parse_public_key_base64(
            "AAAAC3NzaC1lZDI1NTE5AAAAIJdD7y3aLq454yWBdwLWbieU1ebz9/cu7/QEXn9OIeZJ",
        )
        .unwrap();
        let _ = host_keys::lookup_in(&text, &name, &key);
        let line = format!("{name},{text} ssh-ed25519 {text}\n@revoked {text}\n");
        let _ = host_keys::lookup_in(&line, &name, &key);
    }

    #[test]
    fn config_text_never_panics(text in any::<String>()) {
        let _ = config_file::parse(&text, Path::new("c.toml"));
        let toml = format!("[hosts.\"{}\"]\ninstance = \"{}\"\nallow = [\"{}\"]\n", text, text, text);
        if let Err(e) = config_file::parse(&toml, Path::new("c.toml")) {
            prop_assert!(e.message.starts_with("c.toml:"), "{}", e.message);
        }
    }

    #[test]
    fn checkip_answers_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..80)) {
        let _ = probe::parse_answer(&bytes);
    }

    #[test]
    fn service_errors_are_one_printable_line(text in any::<String>()) {
        let xml = format!(
            "<Response><Errors><Error><Code>{0}</Code><Message>{0}</Message></Error></Errors></Response>",
            text.replace('&', "&amp;").replace('<', "&lt;")
        );
        if let Some((code, message)) = ec2::parse_error(&xml) {
            prop_assert!(printable_only(&code) && printable_only(&message));
        }
        let _ = ec2::parse_error(&text);
        let _ = ec2::parse_instances(&text);
        let _ = ec2::parse_endpoints(&text);
        let json = serde_json::json!({"__type": text, "Message": text}).to_string();
        if let Some((code, message)) = instance_connect::parse_json_error(json.as_bytes()) {
            prop_assert!(printable_only(&code) && printable_only(&message));
        }
        let _ = instance_connect::parse_json_error(text.as_bytes());
    }

    #[test]
    fn tunnel_error_bodies_are_printable(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        let (code, message) = parse_error_body(&bytes);
        prop_assert!(printable_only(&message));
        prop_assert!(code.is_none_or(|c| printable_only(&c)));
        let text = String::from_utf8_lossy(&bytes);
        let json = serde_json::json!({"ErrorCode": text, "Message": text}).to_string();
        let (code, message) = parse_error_body(json.as_bytes());
        prop_assert!(printable_only(&message));
        prop_assert!(code.is_none_or(|c| printable_only(&c)));
    }
}
