//! A timeline that never runs backwards, on the virtual bench (real sshds):
//! the whole seed lab with each host's `/bin/sh` being dash, busybox sh and
//! bash in turn, and every line labctl sent to a client stamped at or
//! before what it caused — the client's own `Sent: …` for it, in the run
//! record (`events.jsonl`) and in the report's timeline (`report.md`), and
//! the frames that carried it in the captures of its host and the
//! server's, on the report's run clock (`run.json`): `common::assert_causal`,
//! which tests/clocks.rs reuses with hosts whose clocks disagree.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::{assert_causal, assert_nothing_left, run_dir, Labctl, Scratch, TestBench};

/// Makes `shell` every host's `/bin/sh`: bound over dash's file in each
/// host's mount namespace (its sshd's; the namespace is private, so this
/// machine's `/bin/sh` stays dash). Invoked as `sh`, busybox is its ash and
/// bash runs in POSIX mode, as on a host whose `/bin/sh` they are.
fn host_shell(bench: &TestBench, shell: &str) {
    let dash = std::fs::canonicalize("/bin/sh").unwrap();
    for h in ["A", "B", "C"] {
        let pid = bench.sshd_pid(h).to_string();
        let st = Command::new("nsenter")
            .args(["-t", &pid, "-m", "mount", "--bind", shell])
            .arg(&dash)
            .status()
            .unwrap();
        assert!(st.success(), "{shell} as {h}'s /bin/sh");
        // The host's `sh` is that shell now (busybox answers `--help` with its name).
        let probe = bench
            .ssh(
                h,
                "sh -c 'echo ${BASH_VERSION:-none}'; sh --help 2>&1 | head -n 1",
            )
            .output()
            .unwrap();
        let said = String::from_utf8_lossy(&probe.stdout);
        match Path::new(shell).file_name().unwrap().to_str().unwrap() {
            "bash" => assert!(!said.starts_with("none"), "{h}: {said}"),
            "busybox" => assert!(said.contains("BusyBox"), "{h}: {said}"),
            _ => assert!(
                said.starts_with("none") && !said.contains("BusyBox"),
                "{h}: {said}"
            ),
        }
    }
    assert_eq!(
        std::fs::canonicalize("/bin/sh").unwrap(),
        dash,
        "this machine's /bin/sh is untouched"
    );
}

#[test]
fn every_sent_line_of_a_whole_run_precedes_what_it_caused_under_dash_busybox_and_bash() {
    for shell in ["/usr/bin/dash", "/usr/bin/busybox", "/usr/bin/bash"] {
        let bench = TestBench::up();
        if !shell.ends_with("dash") {
            host_shell(&bench, shell);
        }
        let s = Scratch::new(&format!("timeline-{}", &shell[9..]));
        let out = Labctl::new()
            .hosts(bench.hosts_file())
            .arg("--lab")
            .arg(common::seed_lab())
            .args(["run", "--out"])
            .arg(&s.0)
            .timeout(Duration::from_secs(240))
            .run();
        out.assert_status(0)
            .assert_stdout_contains("PASSED: steps 17 passed, 0 failed");
        assert_causal(&run_dir(&s.0), shell);
        assert_nothing_left(&bench);
    }
}
