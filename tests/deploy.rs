//! `labctl deploy` on the virtual bench: it puts the programs on every host
//! (after it, `check`'s programs row passes), and a second deploy uploads
//! nothing (the sha-256 comparison and the manifest); exit codes as `check`'s;
//! `--programs python` deploys the Python set as `check --programs python` wants it.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::{Labctl, RunOutput, TestBench};

fn labctl(bench: &TestBench, home: &Path, args: &[&str]) -> RunOutput {
    common::ensure_programs();
    Labctl::new()
        .hosts(bench.hosts_file())
        .args(args)
        .env("HOME", home)
        .timeout(Duration::from_secs(180))
        .run()
}

fn bin_dir(bench: &TestBench, host: &str) -> PathBuf {
    common::workdir(bench, host).join("bin")
}

/// Every file of a host's bin directory with its modification time.
fn stamps(dir: &Path) -> Vec<(String, std::time::SystemTime)> {
    let mut v: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (
                e.file_name().to_string_lossy().into_owned(),
                e.metadata().unwrap().modified().unwrap(),
            )
        })
        .collect();
    v.sort();
    v
}

fn programs_row(out: &RunOutput, host: &str) -> String {
    let last = out.stdout.lines().last().unwrap_or_default();
    let v: serde_json::Value =
        serde_json::from_str(last).unwrap_or_else(|e| panic!("not JSON ({e})\n{out}"));
    let h = v["benches"][0]["hosts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["host"] == host)
        .unwrap_or_else(|| panic!("no host {host}\n{out}"))
        .clone();
    let c = h["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["check"] == "programs")
        .unwrap()
        .clone();
    c["status"].as_str().unwrap().to_string()
}

#[test]
fn deploy_makes_programs_pass_and_a_second_deploy_uploads_nothing() {
    let bench = TestBench::up();
    let home = bench.home();
    let before = labctl(&bench, &home, &["check", "--json"]);
    for h in ["A", "B", "C"] {
        assert_eq!(programs_row(&before, h), "fail", "{before}");
    }

    let first = labctl(&bench, &home, &["deploy"]);
    first.assert_status(0);
    for h in ["A", "B", "C"] {
        first.assert_stdout_contains(&format!("✔ {h}  uploaded tcp_server"));
    }
    let after = labctl(&bench, &home, &["check", "--json"]);
    for h in ["A", "B", "C"] {
        assert_eq!(programs_row(&after, h), "pass", "{after}");
    }

    // Nothing else was done: the addresses `check --fix` would assign are still missing.
    assert!(after.stdout.contains("is not on eth0"), "{after}");

    let was: Vec<_> = ["A", "B", "C"].map(|h| stamps(&bin_dir(&bench, h))).into();
    let second = labctl(&bench, &home, &["deploy", "--all"]);
    second.assert_status(0);
    second.assert_stdout_lacks("uploaded");
    for h in ["A", "B", "C"] {
        second.assert_stdout_contains(&format!("✔ {h}  up to date: 6 programs"));
    }
    let now: Vec<_> = ["A", "B", "C"].map(|h| stamps(&bin_dir(&bench, h))).into();
    assert_eq!(was, now, "the second deploy rewrote a file\n{second}");
}

#[test]
fn deploy_to_unreachable_hosts_exits_3() {
    let bench = TestBench::up();
    let home = bench.home();
    let hosts = common::hosts_copy(&bench, "dead.toml", |t| t.replace("127.0.0.1", "127.0.0.2"));
    let out = Labctl::new()
        .hosts(&hosts)
        .arg("deploy")
        .env("HOME", &home)
        .timeout(Duration::from_secs(120))
        .run();
    out.assert_status(3);
    out.assert_stdout_contains("✘ A");
}

#[test]
fn deploy_programs_python_puts_the_python_set_on_the_hosts() {
    let bench = TestBench::up();
    let home = bench.home();
    let out = labctl(&bench, &home, &["deploy", "--programs", "python"]);
    out.assert_status(0);
    let check = labctl(&bench, &home, &["check", "--programs", "python", "--json"]);
    for h in ["A", "B", "C"] {
        let bin = common::workdir(&bench, h).join("bin");
        for p in [
            "tcp_server.py",
            "udp_client.py",
            "labsock.py",
            "labctl-stamp",
        ] {
            assert!(bin.join(p).is_file(), "{h}: {p} deployed\n{out}");
        }
        assert_eq!(programs_row(&check, h), "pass", "{check}");
    }
    let unknown = labctl(&bench, &home, &["deploy", "--programs", "cobol"]);
    unknown.assert_status(2);
}
