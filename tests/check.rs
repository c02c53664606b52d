//! `labctl check` against real sshds on the virtual bench: a fresh bench fails
//! and `--fix` repairs it; every breakage is detected and named in the output;
//! a room of ten benches is checked in one call.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::{known_line, other_host_key, with_known_hosts, Labctl, RunOutput, TestBench};

/// An empty HOME inside the bench's state directory (removed with it), so
/// `~/.ssh/known_hosts` and `~/.ssh/config` of this machine play no part.
struct Home(PathBuf);

impl Home {
    fn new(bench: &TestBench) -> Home {
        Home(bench.home())
    }
}

fn check(hosts: &Path, home: &Home, args: &[&str]) -> RunOutput {
    common::ensure_programs();
    Labctl::new()
        .hosts(hosts)
        .arg("check")
        .args(args)
        .env("HOME", &home.0)
        .timeout(Duration::from_secs(180))
        .run()
}

/// The remote (= local, the namespaces share the filesystem) bin directory of a host,
/// as seen from this machine.
fn bin_dir(hosts: &Path, bench: Option<&str>, host: &str) -> PathBuf {
    let room = labctl::config::hosts::load(hosts).unwrap();
    let b = match bench {
        Some(n) => room.benches.iter().find(|b| b.name == n).unwrap(),
        None => &room.benches[0],
    };
    let inside = PathBuf::from(labctl::hostops::bin_dir(b.host(host).unwrap()));
    // A `pi` host's `/home` is its own: `home/` in the host's testbed directory.
    match inside.strip_prefix("/home") {
        Ok(rest) => hosts
            .parent()
            .unwrap()
            .join(bench.unwrap_or(""))
            .join(host)
            .join("home")
            .join(rest),
        Err(_) => inside,
    }
}

/// A process started in a namespace, killed by pid when dropped (also on panic).
struct Started(i32);

impl Drop for Started {
    fn drop(&mut self) {
        // SAFETY: kill(2) on a pid this test started.
        unsafe {
            libc::kill(self.0, libc::SIGKILL);
        }
    }
}

/// `check --json`'s outcome: its last line, `check_finished`.
fn json(out: &RunOutput) -> serde_json::Value {
    let last = out.stdout.lines().last().unwrap_or_default();
    let v: serde_json::Value =
        serde_json::from_str(last).unwrap_or_else(|e| panic!("not JSON ({e})\n{out}"));
    assert_eq!(v["event"], "check_finished", "{out}");
    v
}

/// The JSON result of one check of one host.
fn status_of<'a>(v: &'a serde_json::Value, bench: usize, host: &str, check: &str) -> &'a str {
    common::check_row(v, bench, host, check)["status"]
        .as_str()
        .unwrap()
}

#[test]
fn fresh_bench_fails_address_and_passes_after_fix() {
    let bench = TestBench::up();
    let home = Home::new(&bench);
    let out = check(bench.hosts_file(), &home, &[]);
    out.assert_status(1);
    for h in ["A", "B", "C"] {
        out.assert_stdout_contains(&format!(
            "✘ {h} address: 10.0.3.{}/24 is not on eth0",
            (h.as_bytes()[0] - b'A' + 1)
        ));
    }
    out.assert_stdout_contains("not ready");

    let fixed = check(bench.hosts_file(), &home, &["--fix"]);
    fixed.assert_status(0);
    fixed.assert_stdout_contains("A: assigned 10.0.3.1/24 to eth0");
    fixed.assert_stdout_contains("deployed tcp_server");
    let after = fixed
        .stdout
        .split("after --fix:")
        .nth(1)
        .expect("an after section");
    assert!(after.contains("ready: all 45 checks passed"), "{fixed}");

    // Again, as JSON: everything passes, including the full ping mesh.
    let again = check(bench.hosts_file(), &home, &["--json"]);
    again.assert_status(0);
    let v = json(&again);
    assert_eq!(v["ok"], true, "{again}");
    for h in ["A", "B", "C"] {
        for c in ["ssh", "address", "ping", "programs", "lab port"] {
            assert_eq!(status_of(&v, 0, h, c), "pass", "{h} {c}\n{again}");
        }
    }
    assert!(v["benches"][0]["hosts"][0]["connect_ms"].is_u64());
}

#[test]
fn breakages_are_detected_named_and_fixed() {
    let bench = TestBench::up();
    let home = Home::new(&bench);
    let hosts = bench.hosts_file().to_path_buf();
    check(&hosts, &home, &["--fix"]).assert_status(0);

    // A: an outdated program; B: a missing one; C: its link down.
    std::fs::write(
        bin_dir(&hosts, None, "A").join("tcp_server"),
        "#!/bin/sh\nexit 0\n",
    )
    .unwrap();
    std::fs::remove_file(bin_dir(&hosts, None, "B").join("udp_client")).unwrap();
    let o = bench.exec_in("C", "ip link set eth0 down");
    assert!(o.status.success(), "{o:?}");
    let out = check(&hosts, &home, &[]);
    out.assert_status(1);
    out.assert_stdout_contains("✘ A programs:")
        .assert_stdout_contains("differ from the local build: tcp_server")
        .assert_stdout_contains("✘ B programs:")
        .assert_stdout_contains("missing: udp_client")
        .assert_stdout_contains("✘ C link: eth0 is down")
        .assert_stdout_contains("✘ A ping: no reply over eth0 from C (10.0.3.3)");

    let fixed = check(&hosts, &home, &["--fix"]);
    fixed.assert_status(0);
    fixed
        .assert_stdout_contains("A: deployed tcp_server")
        .assert_stdout_contains("B: deployed udp_client")
        .assert_stdout_contains("C: assigned 10.0.3.3/24 to eth0 and brought it up");

    // A stale lab program on A's lab port, and B without eth0.
    let bin = bin_dir(&hosts, None, "A").join("tcp_server");
    let o = bench.exec_in(
        "A",
        &format!(
            "setsid {} </dev/null >/dev/null 2>&1 & echo $!",
            bin.display()
        ),
    );
    let pid: i32 = String::from_utf8_lossy(&o.stdout)
        .trim()
        .parse()
        .expect("a pid");
    let _stale = Started(pid);
    // Wait until it listens (it binds at once; this only guards a slow machine).
    for _ in 0..100 {
        let o = bench.exec_in("A", "ss -ltnH 'sport = :50000'");
        if !o.stdout.is_empty() {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let o = bench.exec_in("B", "ip link del eth0");
    assert!(o.status.success(), "{o:?}");
    let out = check(&hosts, &home, &[]);
    out.assert_status(1);
    out.assert_stdout_contains(&format!(
        "✘ A lab port: port 50000/tcp is in use: tcp 0.0.0.0:50000 by `tcp_server` (pid {pid}, user "
    ))
    .assert_stdout_contains(&format!("kill {pid}"))
    .assert_stdout_contains("✘ B interface: no interface `eth0`")
    .assert_stdout_lacks("✘ C programs");
}

#[test]
fn programs_are_compared_through_the_manifest_without_missing_a_change() {
    let bench = TestBench::up();
    let home = Home::new(&bench);
    let hosts = bench.hosts_file().to_path_buf();
    check(&hosts, &home, &["--fix"]).assert_status(0);
    let a = bin_dir(&hosts, None, "A");
    let manifest = a.join(labctl::hostops::MANIFEST);
    let written = std::fs::read_to_string(&manifest).expect("deploy writes the manifest");
    assert_eq!(
        written.lines().count(),
        labctl::hostops::DEPLOYED.len(),
        "{written}"
    );

    // Same size, different content, written in place on the host: the
    // manifest's stat line no longer matches, so the program is hashed.
    let o = bench.exec_in(
        "A",
        &format!(
            "printf XXXX | dd of={} bs=1 seek=64 conv=notrunc 2>/dev/null",
            a.join("tcp_server").display()
        ),
    );
    assert!(o.status.success(), "{o:?}");
    // The manifest deleted on B: every program is hashed, all still identical.
    std::fs::remove_file(bin_dir(&hosts, None, "B").join(labctl::hostops::MANIFEST)).unwrap();
    let out = check(&hosts, &home, &[]);
    out.assert_status(1);
    out.assert_stdout_contains("✘ A programs:")
        .assert_stdout_contains("differ from the local build: tcp_server")
        .assert_stdout_lacks("✘ B programs");

    let fixed = check(&hosts, &home, &["--fix"]);
    fixed.assert_status(0);
    fixed.assert_stdout_contains("A: deployed tcp_server");
    // A's manifest names the new upload.
    let m = std::fs::read_to_string(&manifest).expect("the manifest after --fix");
    assert_eq!(m.lines().count(), labctl::hostops::DEPLOYED.len(), "{m}");
    assert_ne!(std::fs::read_to_string(&manifest).unwrap(), written);
}

#[test]
fn unreachable_hosts_and_host_key_problems_are_named() {
    let bench = TestBench::up();
    let home = Home::new(&bench);
    // labctl's known_hosts: B's real key, another key for C on line 2, nothing for A.
    let b_line = known_line(&bench, "B");
    let other_key = other_host_key(&bench.state_dir().join("other_key"));
    let kh = bench.state_dir().join("kh-test");
    std::fs::write(
        &kh,
        format!(
            "{b_line}\n[127.0.0.1]:{} {other_key}\n",
            bench.ssh_port("C")
        ),
    )
    .unwrap();
    let hosts = with_known_hosts(&bench, "hosts-kh.toml", &kh);

    let out = check(&hosts, &home, &[]);
    out.assert_stdout_contains("✘ A host key: unknown host key ssh-ed25519 SHA256:")
        .assert_stdout_contains("--accept-new")
        .assert_stdout_contains("✘ C host key: host key CHANGED")
        .assert_stdout_contains(&format!("`{}` line 2", kh.display()))
        .assert_stdout_lacks("✘ B host key");
    // B was checked (its address is missing on a fresh bench) while A and C were refused.
    out.assert_stdout_contains("✘ B address");
    out.assert_status(1);

    // --accept-new records A's key; a changed key stays refused.
    let out = check(&hosts, &home, &["--accept-new"]);
    out.assert_stdout_lacks("✘ A host key")
        .assert_stdout_contains("✘ C host key: host key CHANGED");
    let recorded = std::fs::read_to_string(&kh).unwrap();
    assert_eq!(recorded.lines().count(), 3, "{recorded}");
    assert!(recorded.contains(&format!("[127.0.0.1]:{} ssh-ed25519 ", bench.ssh_port("A"))));

    // B's sshd stopped: named at once, the others still checked.
    bench.stop_sshd("B");
    let out = check(bench.hosts_file(), &home, &[]);
    out.assert_status(1);
    out.assert_stdout_contains("✘ B ssh: ")
        .assert_stdout_contains("✘ A address")
        .assert_stdout_contains("✘ C address");
    assert!(out.elapsed < Duration::from_secs(60), "{out}");
    // Nothing reachable at all: exit 3.
    bench.stop_sshd("A");
    bench.stop_sshd("C");
    let out = check(bench.hosts_file(), &home, &[]);
    out.assert_status(3)
        .assert_stderr_contains("no host could be reached");
}

#[test]
fn a_room_of_ten_benches_in_one_call() {
    let room = TestBench::room(10);
    let home = Home::new(&room);
    let hosts = room.hosts_file().to_path_buf();

    let out = check(&hosts, &home, &[]);
    out.assert_status(2).assert_stderr_contains("--bench NAME");

    let out = check(&hosts, &home, &["--all"]);
    out.assert_status(1);
    let matrix: Vec<&str> = out.stdout.lines().take(11).collect();
    assert!(matrix[0].split_whitespace().eq(["A", "B", "C"]), "{out}");
    for (i, row) in matrix[1..].iter().enumerate() {
        let cells: Vec<&str> = row.split_whitespace().collect();
        assert_eq!(cells[0], format!("bench{}", i + 1), "{out}");
        // At least address, programs and ping fail on every host of a fresh room.
        for c in &cells[1..] {
            assert!(c.parse::<u32>().is_ok_and(|n| n >= 3), "{out}");
        }
    }
    out.assert_stdout_contains("✘ bench10/C address");

    let fixed = check(&hosts, &home, &["--all", "--fix", "--json"]);
    fixed.assert_status(0);
    let v = json(&fixed);
    assert_eq!(v["benches"].as_array().unwrap().len(), 10);
    assert_eq!(v["fix"]["before"]["ok"], false);
    assert_eq!(v["ok"], true, "{fixed}");

    let one = check(&hosts, &home, &["--bench", "bench7"]);
    one.assert_status(0)
        .assert_stdout_contains("bench `bench7`");
    let bad = check(&hosts, &home, &["--bench", "nope"]);
    bad.assert_status(2)
        .assert_stderr_contains("no bench `nope`");
}
