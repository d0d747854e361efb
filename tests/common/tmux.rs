//! A terminal for tests: a private tmux server whose pane runs bash with the emulator's
//! environment; keys are typed, the screen read, and waits end on what appears.

use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use super::{Harness, eventually};

/// A tmux server of our own, killed at drop.
pub struct Tmux {
    /// The server's socket, private to the test.
    socket: std::path::PathBuf,
}

impl Tmux {
    /// A bash in a new session `e2e`, with the emulator's environment.
    pub fn start(h: &Harness, width: u16, height: u16) -> Tmux {
        assert!(
            Command::new("tmux")
                .arg("-V")
                .output()
                .is_ok_and(|o| o.status.success()),
            "these tests drive a terminal through tmux: apt-get install tmux (.ci/run does)"
        );
        let socket = h.dir.path().join("tmux.sock");
        let t = Tmux { socket };
        let env: Vec<String> = h
            .sim
            .client_env()
            .into_iter()
            .map(|(k, v)| format!("export {k}='{v}';"))
            .collect();
        let shell = format!(
            "{} export HOME='{}' EIC_SSH_KNOWN_HOSTS='{}' PS1='local$ ' TERM=xterm; exec bash --norc --noprofile",
            env.join(" "),
            h.dir.path().display(),
            h.known_hosts.display()
        );
        let (w, hgt) = (width.to_string(), height.to_string());
        let args = [
            "new-session",
            "-d",
            "-s",
            "e2e",
            "-x",
            &w,
            "-y",
            &hgt,
            "bash",
            "-c",
            &shell,
        ];
        // Under a loaded CI machine a tmux server has once failed to start: try again, and
        // say what tmux said if it never does.
        let mut said = String::new();
        for attempt in 0..3 {
            let out = t.cmd(&args);
            if out.status.success() {
                return t;
            }
            said = String::from_utf8_lossy(&out.stderr).into_owned();
            t.cmd(&["kill-server"]);
            std::thread::sleep(Duration::from_millis(200 * (attempt + 1)));
        }
        panic!("tmux does not start: {said}");
    }

    /// Runs a tmux command on this server.
    pub fn cmd(&self, args: &[&str]) -> Output {
        Command::new("tmux")
            .arg("-S")
            .arg(&self.socket)
            .args(args)
            .output()
            .unwrap()
    }

    /// Types `keys` literally.
    pub fn keys(&self, keys: &str) {
        self.cmd(&["send-keys", "-t", "e2e", "-l", keys]);
    }

    /// Presses Enter.
    pub fn enter(&self) {
        self.cmd(&["send-keys", "-t", "e2e", "Enter"]);
    }

    /// The visible screen.
    pub fn screen(&self) -> String {
        String::from_utf8_lossy(&self.cmd(&["capture-pane", "-t", "e2e", "-p"]).stdout).into_owned()
    }

    /// Waits (≤ 20 s) until the screen shows `needle`; panics with the screen if not.
    pub fn wait_for(&self, needle: &str) -> String {
        let mut screen = String::new();
        let found = eventually(Duration::from_secs(20), || {
            screen = self.screen();
            screen.contains(needle)
        });
        assert!(found, "{needle:?} never appeared on the screen:\n{screen}");
        screen
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        self.cmd(&["kill-server"]);
    }
}

impl Tmux {
    /// A bash that saved its terminal settings in `$before`, then started
    /// `eic-ssh user@BASTION EXTRA` in the foreground.
    pub fn session(h: &Harness, width: u16, height: u16, extra: &str) -> Tmux {
        let tmux = Tmux::start(h, width, height);
        tmux.wait_for("local$");
        tmux.keys("before=$(stty -g)");
        tmux.enter();
        tmux.keys(&format!(
            "{} {}@{} {extra}",
            env!("CARGO_BIN_EXE_eic-ssh"),
            h.user,
            super::BASTION
        ));
        tmux.enter();
        tmux
    }

    /// Everything the terminal receives from now on is appended to `path`.
    pub fn record_to(&self, path: &Path) {
        let ok = self
            .cmd(&[
                "pipe-pane",
                "-t",
                "e2e",
                &format!("cat > '{}'", path.display()),
            ])
            .status
            .success();
        assert!(ok, "tmux pipe-pane");
    }

    /// The program in the foreground of the pane (`bash` once a command has ended).
    pub fn foreground(&self) -> String {
        let out = self.cmd(&["display", "-p", "-t", "e2e", "#{pane_current_command}"]);
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// Waits (≤ 20 s) until the shell is back in the foreground.
    pub fn wait_for_shell(&self) {
        assert!(
            eventually(Duration::from_secs(20), || self.foreground() == "bash"),
            "the command never ended: {}",
            self.screen()
        );
    }
}
