//! `eic-ssh` with no target: on a terminal (tmux), a fuzzy pick of the config aliases and
//! the reachable instances, the chosen one reached as if typed; the egress guard decides
//! before the listing; without a terminal, the one-line error as before.

use crate::common;

use std::path::PathBuf;

use common::tmux::Tmux;
use common::*;
use eic_ssh_sim::World;

/// A second running instance in the bastion's VPC (the same sshd answers for it).
const WEB: &str = "i-0ccccccccccccccc3";
/// A running instance whose Name tag holds a bidi override (text shown reversed after it).
const HOSTILE: &str = "i-0ddddddddddddddd4";

/// The demo world plus `web-7` and an instance with a hostile Name tag.
fn world() -> World {
    let mut world = World::demo();
    let bastion = world.instances[0].clone();
    let mut web = bastion.clone();
    web.id = WEB.into();
    web.name = Some("web-7".into());
    web.private_ip = Some("10.0.1.7".into());
    let mut hostile = bastion;
    hostile.id = HOSTILE.into();
    hostile.name = Some("evil\u{202e}txt.exe".into());
    hostile.private_ip = Some("10.0.1.8".into());
    world.instances.extend([web, hostile]);
    world
}

/// The harness (host keys known for the bastion and web-7) and a config file naming the
/// bastion `jump`.
fn setup(public_ip: &str, config: &str) -> (Harness, PathBuf) {
    let (h, path) = with_config(world(), public_ip, config);
    let host_key = h.sim.sshd().unwrap().host_public_key.clone();
    let mut known = std::fs::read_to_string(&h.known_hosts).unwrap();
    known.push_str(&format!("{WEB} {host_key}\n"));
    std::fs::write(&h.known_hosts, known).unwrap();
    (h, path)
}

/// Starts `eic-ssh -l USER` with no target in the pane.
fn start_picker(h: &Harness, config: &std::path::Path) -> Tmux {
    let tmux = Tmux::start(h, 250, 30);
    tmux.wait_for("local$");
    tmux.keys(&format!(
        "EIC_SSH_CONFIG='{}' EIC_SSH_EGRESS_CACHE_SECS=0 {} -l {}",
        config.display(),
        env!("CARGO_BIN_EXE_eic-ssh"),
        h.user
    ));
    tmux.enter();
    tmux
}

/// In the remote shell the pick opened: a command, then `exit`, and the local status.
fn use_the_shell(tmux: &Tmux, marker: u32) {
    tmux.keys(&format!("echo on-the-instance-$(({marker}+1))"));
    tmux.enter();
    tmux.wait_for(&format!("on-the-instance-{}", marker + 1));
    tmux.keys("exit");
    tmux.enter();
    tmux.wait_for_shell();
    tmux.keys("clear; echo status=$?");
    tmux.enter();
    tmux.wait_for("status=0");
}

fn pushed_to(h: &Harness) -> Vec<String> {
    h.sim
        .events_of("key_pushed")
        .iter()
        .map(|e| e["instance"].as_str().unwrap_or_default().to_string())
        .collect()
}

const JUMP: &str = "[hosts.jump]\ninstance = \"i-0123456789abcdef0\"\n";

#[test]
fn typing_filters_the_pick_and_enter_connects_to_the_choice() {
    let (h, config) = setup("203.0.113.10", JUMP);
    let tmux = start_picker(&h, &config);
    let screen = tmux.wait_for("Connect to");
    // The alias (with its instance), then the reachable instances no alias names; not the
    // stopped one nor the one no endpoint serves. The hostile Name is shown escaped.
    for shown in [
        "jump",
        BASTION,
        "web-7",
        WEB,
        "evil\\u{202e}txt.exe",
        HOSTILE,
    ] {
        tmux.wait_for(shown);
    }
    for hidden in ["stopped-box", "orphan"] {
        assert!(!screen.contains(hidden), "{hidden} offered:\n{screen}");
    }
    tmux.keys("web");
    // Filtered: the other lines are gone.
    assert!(
        eventually(LIMIT, || !tmux.screen().contains(BASTION)),
        "typing did not filter:\n{}",
        tmux.screen()
    );
    tmux.enter();
    use_the_shell(&tmux, 41);
    assert_eq!(pushed_to(&h), [WEB]);

    // Again, by the alias: its section applies as if `eic-ssh jump` had been typed.
    tmux.keys(&format!(
        "EIC_SSH_CONFIG='{}' {} -l {}",
        config.display(),
        env!("CARGO_BIN_EXE_eic-ssh"),
        h.user
    ));
    tmux.enter();
    tmux.wait_for("Connect to");
    tmux.keys("jump");
    tmux.enter();
    use_the_shell(&tmux, 99);
    assert_eq!(pushed_to(&h), [WEB, BASTION]);
}

#[test]
fn esc_picks_nothing_and_the_guard_decides_before_the_listing() {
    // Outside the [defaults] allowlist, with an alias to offer: the aliases only, and no
    // AWS request was made for the listing.
    let config = format!(
        "[defaults]\nallow = [\"198.51.100.0/24\"]\negress_check_url = \"CHECKIP\"\n\n{JUMP}"
    );
    let (h, config) = setup("203.0.113.10", &config);
    let tmux = start_picker(&h, &config);
    tmux.wait_for("Connect to");
    let screen = tmux.wait_for("jump");
    assert!(
        screen.contains("no instances listed, only the config aliases: refusing to connect: egress IP 203.0.113.10 is not in the allowlist"),
        "{screen}"
    );
    assert!(!screen.contains("web-7"), "{screen}");
    assert!(api_actions(&h).is_empty(), "{:?}", api_actions(&h));
    tmux.cmd(&["send-keys", "-t", "e2e", "Escape"]);
    tmux.wait_for_shell();
    tmux.keys("echo status=$?");
    tmux.enter();
    let screen = tmux.wait_for("status=255");
    assert!(screen.contains("eic-ssh: nothing picked"), "{screen}");
    assert!(api_actions(&h).is_empty(), "{:?}", api_actions(&h));
}

#[test]
fn ctrl_c_ends_the_pick_as_a_signal_with_the_cursor_shown_again() {
    let (h, config) = setup("203.0.113.10", JUMP);
    let tmux = start_picker(&h, &config);
    tmux.wait_for("Connect to");
    tmux.wait_for("web-7");
    let cursor = || {
        String::from_utf8_lossy(
            &tmux
                .cmd(&["display", "-p", "-t", "e2e", "#{cursor_flag}"])
                .stdout,
        )
        .trim()
        .to_string()
    };
    assert_eq!(cursor(), "0", "the list hides the cursor");
    tmux.cmd(&["send-keys", "-t", "e2e", "C-c"]);
    tmux.wait_for_shell();
    tmux.keys("echo status=$?");
    tmux.enter();
    tmux.wait_for("status=130");
    assert_eq!(cursor(), "1", "the cursor is shown again");
    assert!(h.sim.events_of("key_pushed").is_empty());
}

#[test]
fn refused_with_no_alias_to_offer_is_the_guards_refusal() {
    let config = "[defaults]\nallow = [\"198.51.100.0/24\"]\negress_check_url = \"CHECKIP\"\n";
    let (h, config) = setup("203.0.113.10", config);
    let tmux = start_picker(&h, &config);
    tmux.wait_for_shell();
    tmux.keys("echo status=$?");
    tmux.enter();
    let screen = tmux.wait_for("status=255");
    assert!(
        screen.contains(
            "eic-ssh: refusing to connect: egress IP 203.0.113.10 is not in the allowlist"
        ),
        "{screen}"
    );
    assert!(h.sim.events_of("api_call").is_empty(), "no AWS request");
}

#[test]
fn without_a_terminal_no_target_is_the_one_line_error() {
    let (h, config) = setup("203.0.113.10", JUMP);
    let out = eic(&h, &config, &["-l", &h.user]);
    assert_fails_exactly(
        &out,
        255,
        "eic-ssh: no target: eic-ssh [user@]TARGET [COMMAND…], or a subcommand (see eic-ssh --help)\n",
    );
    assert!(h.sim.events().is_empty(), "no AWS request");
}
