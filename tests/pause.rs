//! `run --pause` (presenter mode) driven through a real pseudo-terminal:
//! tmux runs labctl in a pane, `send-keys` presses the keys and
//! `capture-pane` reads what the presenter showed. Enter runs a step, `s`
//! skips a step nothing later needs (and refuses, saying why, for one that
//! is needed), `q` stops as Ctrl-C does: exit 130, the report written,
//! nothing left on the hosts, the terminal's settings restored. Without a
//! terminal, `--pause` is refused (exit 2).

mod common;

use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::{
    assert_nothing_left, ensure_programs, json_lines, labctl_bin, quote_path, run_dir, Scratch,
    TestBench, Tmux,
};

use common::seed_lab;

#[test]
fn enter_runs_s_skips_what_nothing_needs_and_q_stops_cleanly() {
    ensure_programs();
    let bench = TestBench::up();
    let home = Scratch::new("pause");
    let out = home.path("runs");
    let rc = home.path("rc");
    let stty = home.path("stty");
    let q = quote_path;
    let script = format!(
        "HOME={home} {bin} --hosts {hosts} --lab {lab} run --pause --out {out}; echo $? > {rc}.tmp; stty -a > {stty}; mv {rc}.tmp {rc}; sleep 600",
        home = q(&home.0),
        bin = q(Path::new(labctl_bin())),
        hosts = q(bench.hosts_file()),
        lab = q(&seed_lab()),
        out = q(&out),
        rc = q(&rc),
        stty = q(&stty),
    );
    let tmux = Tmux::start(&format!("labctl-{}", bench.name()), 200, 50, &[&script]);

    // Before a step: its title, hosts and plan lines.
    tmux.wait_for("── next: I.1  Give A its lab address on eth0");
    tmux.wait_for("ip addr replace 10.0.3.1/24 dev eth0");
    // `s` on a step later steps need: refused, naming them.
    tmux.keys("s");
    tmux.wait_for("cannot skip `I.1`: `I.4`, `I.6`");
    // Enter runs it; afterwards, what it showed.
    tmux.keys("Enter");
    tmux.wait_for("── `I.1` showed:");
    tmux.wait_for("✔ A  configure eth0 10.0.3.1/24");
    for step in ["I.2", "I.3"] {
        tmux.wait_for(&format!("── next: {step}"));
        tmux.keys("Enter");
        tmux.wait_for(&format!("── `{step}` showed:"));
    }
    // I.4 (the pings): nothing later needs it, so `s` skips it.
    tmux.wait_for("── next: I.4");
    tmux.keys("s");
    tmux.wait_for("skipped `I.4`");
    tmux.wait_for("── next: I.5");
    tmux.keys("Enter");
    tmux.wait_for("── `I.5` showed:");
    tmux.wait_for("── next: I.6");
    tmux.keys("Enter");
    tmux.wait_for("── `I.6` showed:");
    tmux.wait_for("listening on 0.0.0.0:50000");
    // `q`: stops as Ctrl-C does.
    tmux.wait_for("── next: I.7");
    tmux.keys("q");
    tmux.wait_for("stopping, as Ctrl-C does");
    tmux.wait_for_file(&rc, Duration::from_secs(60));
    let screen = tmux.scrollback();
    assert_eq!(
        std::fs::read_to_string(&rc).unwrap().trim(),
        "130",
        "{screen}"
    );
    assert!(screen.contains("INTERRUPTED"), "{screen}");
    assert_nothing_left(&bench);

    // A normal run directory: the steps run, I.4 not among them, the report written.
    let dir = run_dir(&out);
    let ids: Vec<String> = json_lines(&dir.join("steps.jsonl"))
        .iter()
        .map(|s| s["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(ids, ["I.1", "I.2", "I.3", "I.5", "I.6"], "{screen}");
    assert!(dir.join("report.html").exists() && dir.join("report.md").exists());
    let run: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("run.json")).unwrap()).unwrap();
    assert_eq!(run["run"]["outcome"], "interrupted");

    // The terminal's settings were restored: line editing and echo are back.
    let stty = std::fs::read_to_string(&stty).unwrap();
    let words: Vec<&str> = stty.split_whitespace().collect();
    assert!(
        words.contains(&"icanon") && words.contains(&"echo"),
        "{stty}"
    );
}

#[test]
fn pause_without_a_terminal_is_refused_before_anything_runs() {
    let home = Scratch::new("pause-notty");
    let hosts = Path::new(env!("CARGO_MANIFEST_DIR")).join("hosts.toml");
    let mut cmd = Command::new(labctl_bin());
    cmd.arg("--hosts")
        .arg(&hosts)
        .arg("--lab")
        .arg(seed_lab())
        .args(["run", "--pause", "--out"])
        .arg(home.path("runs"));
    // SAFETY: setsid in the child before exec: no controlling terminal.
    unsafe {
        cmd.pre_exec(|| {
            libc::setsid();
            Ok(())
        });
    }
    let out = cmd.output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("`run --pause` needs a terminal"), "{err}");
    assert!(!home.path("runs").exists(), "a run directory was created");
}
