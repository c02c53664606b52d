//! A tmux server of a test's own, so a test can run labctl on a real
//! terminal (a pane), press keys and read what it drew: the presenter
//! (tests/pause.rs) and the room's view (tests/room.rs).

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

/// A path shell-quoted, for the command line a pane runs.
pub fn quote_path(p: &Path) -> String {
    labctl::util::shell_quote(&p.display().to_string())
}

/// A tmux server of its own (`-L NAME`) with one session `p`, killed when
/// dropped (also on panic).
pub struct Tmux(String);

impl Tmux {
    /// Starts the server `name` with a `width`×`height` pane running `command`.
    pub fn start(name: &str, width: u16, height: u16, command: &[&str]) -> Tmux {
        let tmux = Tmux(name.to_string());
        let (w, h) = (width.to_string(), height.to_string());
        let mut args = vec!["new-session", "-d", "-s", "p", "-x", &w, "-y", &h];
        args.extend_from_slice(command);
        tmux.cmd(&args);
        tmux
    }

    /// `tmux -L NAME ARGS`, which must succeed; its stdout.
    pub fn cmd(&self, args: &[&str]) -> String {
        let out = Command::new("tmux")
            .arg("-L")
            .arg(&self.0)
            .args(args)
            .output()
            .expect("tmux (Debian package tmux)");
        assert!(out.status.success(), "tmux {args:?}: {out:?}");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// What the pane shows now.
    pub fn screen(&self) -> String {
        self.cmd(&["capture-pane", "-p", "-J", "-t", "p"])
    }

    /// What the pane shows, with up to 2000 lines scrolled off above it.
    pub fn scrollback(&self) -> String {
        self.cmd(&["capture-pane", "-p", "-J", "-S", "-2000", "-t", "p"])
    }

    /// Presses `keys` in the pane (tmux's key names: `Enter`, `q` …).
    pub fn keys(&self, keys: &str) {
        self.cmd(&["send-keys", "-t", "p", keys]);
    }

    /// Waits until the pane (with its scrollback) shows `needle` (a wait,
    /// not a timing assert).
    #[track_caller]
    pub fn wait_for(&self, needle: &str) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let s = self.scrollback();
            if s.contains(needle) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the pane never showed {needle:?}:\n{s}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Waits until `file` (where the pane's command writes its exit code
    /// when it ends) exists, for `within` at most.
    #[track_caller]
    pub fn wait_for_file(&self, file: &Path, within: Duration) {
        let deadline = Instant::now() + within;
        while !file.exists() {
            assert!(
                Instant::now() < deadline,
                "labctl did not end (no {}):\n{}",
                file.display(),
                self.scrollback()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["-L", &self.0, "kill-server"])
            .output();
    }
}
