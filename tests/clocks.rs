//! One clock for the bench (issue 31), on the virtual bench with real
//! sshds: hosts whose clocks disagree with each other and with labctl's
//! (`testbed up --clock`, libfaketime for everything on a host that reads
//! the time, its captures written with its times) — as Raspberry Pis
//! without a battery clock or a time server do.
//!
//! - the whole seed lab with A 90 s behind, B 40 s ahead and C right gives
//!   the answers a run with agreeing clocks gives (the same text but for
//!   times and ports), a causal timeline on every host
//!   (`common::assert_causal`, the guard of tests/timeline.rs), and a report
//!   that says each host's offset and how precisely;
//! - a clock jumping an hour mid-run keeps the timeline causal;
//! - labctl's own clock off while the hosts agree changes nothing;
//! - `check`'s clock row: an offset past a second warns, `--fix` sets the
//!   clock where the login may, and says how where it may not.

mod common;
mod run_json_support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use common::{
    assert_causal, assert_nothing_left, json_lines, labctl, run_dir, Background, Labctl, Scratch,
    TestBench,
};

/// The runs of this file one at a time: each is the whole seed lab on
/// three hosts, and what they assert is timing (what came first, to a
/// fraction of a millisecond) that several at once on two cores would blur
/// for reasons of their own (a stamper waiting for a CPU).
fn one_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock().unwrap_or_else(|p| p.into_inner())
}

use common::seed_lab as lab;

/// The whole seed lab on `bench`, run by `program` with `pre` before
/// labctl's own arguments (`faketime … labctl`, or labctl itself), with
/// `envs`; its output directory.
fn lab_command(
    bench: &TestBench,
    s: &Scratch,
    program: &str,
    pre: &[&str],
    envs: &[(&str, &str)],
) -> (std::process::Command, PathBuf) {
    let out = s.path("runs");
    let mut cmd = std::process::Command::new(program);
    cmd.args(pre)
        .arg("--hosts")
        .arg(bench.hosts_file())
        .arg("--lab")
        .arg(lab())
        .args(["run", "--out"])
        .arg(&out)
        .env("HOME", &s.0)
        .env("LABCTL_SSH_CONFIG", "/dev/null")
        .envs(envs.iter().copied());
    (cmd, out)
}

/// Runs it, passing: its stdout and run directory.
#[track_caller]
fn passing(cmd: std::process::Command, out: &Path) -> (String, PathBuf) {
    let (code, stdout, stderr) = Background::spawn(cmd).finish(Duration::from_secs(240));
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert!(
        stdout.contains("PASSED: steps 17 passed, 0 failed"),
        "{stdout}"
    );
    (stdout, run_dir(out))
}

/// The whole seed lab on `bench` (labctl with `envs`), passing; its run directory.
#[track_caller]
fn run_lab(bench: &TestBench, s: &Scratch, envs: &[(&str, &str)]) -> PathBuf {
    let (cmd, out) = lab_command(bench, s, common::labctl_bin(), &[], envs);
    passing(cmd, &out).1
}

fn run_json(dir: &Path) -> serde_json::Value {
    run_json_support::read_json(&dir.join("run.json"))
}

/// An answer's text without what differs between two runs of a lab: its
/// durations (`845 µs`, `1.00 s`), its ephemeral ports (the lab's 50000
/// stays) and the numbers of the frames it cites (a run's capture may hold
/// a frame more: a window update, a retransmission).
fn normalized(text: &str) -> String {
    let re = |r: &str| regex::Regex::new(r).unwrap();
    let text = re(r"\b\d+(\.\d+)? (s|ms|µs)\b").replace_all(text, "T");
    let text = re(r"(10\.0\.3\.\d+):(\d+)").replace_all(&text, |c: &regex::Captures| {
        let port = if &c[2] == "50000" { "50000" } else { "PORT" };
        format!("{}:{port}", &c[1])
    });
    let text = re(r"\b(frames?) [0-9–, ]*\d").replace_all(&text, "$1 N");
    // Frames listed one by one (`frames 1 (UDP …), 2 (UDP …)`): clients an
    // action starts together race, and their frames' numbers with them.
    re(r"\b\d+ \(").replace_all(&text, "N (").into_owned()
}

/// Each answer of the run: whether it is as the lab expects, and its text normalized.
fn answers(dir: &Path) -> BTreeMap<String, (bool, String)> {
    run_json_support::answers(&run_json(dir))
        .into_iter()
        .map(|(id, _, ok, text)| (id, (ok, normalized(&text))))
        .collect()
}

/// Host `h`'s clock against this machine's, read with `date` over SSH.
fn host_offset(bench: &TestBench, h: &str) -> f64 {
    let now = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs_f64()
    };
    let before = now();
    let out = bench.ssh(h, "date +%s.%N").output().unwrap();
    let after = now();
    let t: f64 = String::from_utf8_lossy(&out.stdout).trim().parse().unwrap();
    t - (before + after) / 2.0
}

/// The `clocks` of a run.json by host: `(offset, uncertainty, stretches)` of the first stretch.
fn clocks(dir: &Path) -> BTreeMap<String, (f64, f64, usize)> {
    run_json(dir)["clocks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            let s = c["stretches"].as_array().unwrap();
            (
                c["host"].as_str().unwrap().to_string(),
                (
                    s[0]["offset"].as_f64().unwrap(),
                    s[0]["uncertainty"].as_f64().unwrap(),
                    s.len(),
                ),
            )
        })
        .collect()
}

/// The first frame's time of a pcap (microsecond or nanosecond, little-endian, as tcpdump writes here).
fn first_frame(pcap: &Path) -> f64 {
    let b = std::fs::read(pcap).unwrap();
    let u = |i: usize| u32::from_le_bytes(b[i..i + 4].try_into().unwrap()) as f64;
    let unit = if b[..4] == [0x4d, 0x3c, 0xb2, 0xa1] {
        1e-9
    } else {
        1e-6
    };
    u(24) + u(28) * unit
}

#[test]
fn hosts_whose_clocks_disagree_give_the_answers_of_agreeing_clocks_on_a_causal_timeline() {
    let _one = one_at_a_time();
    // Agreeing clocks first: the answers to match.
    let s = Scratch::new("clocks-agree");
    let agreeing = TestBench::up();
    let base = run_lab(&agreeing, &s, &[]);
    drop(agreeing);
    let expected = answers(&base);
    assert!(expected.len() >= 9, "{expected:?}");
    assert!(expected.values().all(|(ok, _)| *ok), "{expected:#?}");

    let mut bench = TestBench::up_args(&["--clock", "A=-90s,B=+40s"]);
    // Wrong the way a Pi's is: for what runs on the host (`date` here).
    for (h, off) in [("A", -90.0), ("B", 40.0), ("C", 0.0)] {
        let seen = host_offset(&bench, h);
        assert!(
            (seen - off).abs() < 1.0,
            "{h}: `date` reads {seen:.3} s off"
        );
    }
    let s = Scratch::new("clocks-skewed");
    let dir = run_lab(&bench, &s, &[]);
    assert_causal(&dir, "A 90 s behind, B 40 s ahead");
    let got = answers(&dir);
    for (id, (ok, text)) in &expected {
        let (got_ok, got_text) = got.get(id).unwrap_or_else(|| panic!("{id} answered"));
        assert_eq!(got_ok, ok, "{id}");
        assert_eq!(
            got_text, text,
            "{id}: the same answer as with agreeing clocks"
        );
    }

    // The report says each host's offset, and how precisely.
    let c = clocks(&dir);
    for (h, off) in [("A", -90.0), ("B", 40.0), ("C", 0.0)] {
        let (o, u, n) = c[h];
        assert!((o - off).abs() < 0.05, "{h}: measured {o}");
        assert!(u < 0.05 && n == 1, "{h}: ± {u}, {n} stretches");
    }
    let md = std::fs::read_to_string(dir.join("report.md")).unwrap();
    let said = regex::Regex::new(r"\n- A: (89\.99\d|90\.00\d) s behind \(± [0-9.]+ ms\); \d+ samples\n- B: (39\.99\d|40\.00\d) s ahead \(± [0-9.]+ ms\); \d+ samples\n- C: [0-9.]+ ms (ahead|behind) \(± [0-9.]+ ms\)").unwrap();
    assert!(said.is_match(&md), "{md}");
    // The raw host times stay: in the record and beside the run clock's.
    let run = run_json(&dir);
    for e in run["timeline"].as_array().unwrap() {
        let skew = e["host_unix"].as_f64().unwrap() - e["unix"].as_f64().unwrap();
        let off = match e["host"].as_str().unwrap() {
            "A" => -90.0,
            "B" => 40.0,
            _ => 0.0,
        };
        assert!((skew - off).abs() < 0.05, "{e}");
    }
    let events = json_lines(&dir.join("events.jsonl"));
    assert!(
        events.iter().filter(|e| e["event"] == "clock").count() >= 9,
        "a sample per host as the run begins, and one a second"
    );
    // A's capture holds A's times, 90 s behind B's for the same moment;
    // the report puts both on one clock.
    let (a, b) = (
        first_frame(&dir.join("A-cap-A.pcap")),
        first_frame(&dir.join("B-cap-B.pcap")),
    );
    assert!(
        (b - a - 130.0).abs() < 2.0,
        "raw: B's first frame {b}, A's {a}"
    );
    let start = |name: &str| {
        run["captures"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == name)
            .unwrap()["analysis"]["start_unix"]
            .as_f64()
            .unwrap()
    };
    assert!(
        (start("cap-A") - start("cap-B")).abs() < 2.0,
        "placed on one clock"
    );
    assert_nothing_left(&bench);
    let name = bench.name().to_string();
    bench.down().assert_status(0);
    let shm: Vec<String> = std::fs::read_dir("/dev/shm")
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|f| f.contains(&format!("labctl-tb.{name}.")) || f.starts_with("faketime_"))
        .collect();
    assert!(shm.is_empty(), "left in /dev/shm: {shm:?}");
}

#[test]
fn a_clock_jumping_an_hour_mid_run_keeps_the_timeline_causal() {
    let _one = one_at_a_time();
    // B has a clock of its own, right at first; it jumps an hour ahead as
    // C's client waits in step I.10 (a Pi reaching a time server).
    let bench = TestBench::up_args(&["--clock", "B=+0s"]);
    let s = Scratch::new("clocks-jump");
    let out = s.path("runs");
    let args: Vec<std::ffi::OsString> = vec![
        "--hosts".into(),
        bench.hosts_file().into(),
        "--lab".into(),
        lab().into(),
        "run".into(),
        "--out".into(),
        out.clone().into(),
    ];
    let mut run = Background::start(&args, &s.0, &[]);
    run.wait_for("START  I.10", Duration::from_secs(120));
    Labctl::new()
        .args(["testbed", "clock", "--name", bench.name(), "B=+1h"])
        .run()
        .assert_status(0);
    let (code, stdout, stderr) = run.finish(Duration::from_secs(240));
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    // Said as it is seen (an hour, to what the samples know of it).
    assert!(
        stdout.contains("CLOCK  B  its clock jumped ")
            && stdout.contains(" ahead; its times from then on are corrected")
            && stdout.contains("PASSED"),
        "{stdout}"
    );
    let dir = run_dir(&out);
    assert_causal(&dir, "B jumping an hour");
    let run = run_json(&dir);
    let b = run["clocks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["host"] == "B")
        .unwrap();
    let st = b["stretches"].as_array().unwrap();
    assert_eq!(st.len(), 2, "{b}");
    assert!(
        (st[1]["jump"].as_f64().unwrap() - 3600.0).abs() < 0.05,
        "{b}"
    );
    assert!(
        (st[1]["offset"].as_f64().unwrap() - 3600.0).abs() < 0.05,
        "{b}"
    );
    // Seen within a second: the jump's sample is at most ~1 s after the change.
    let md = std::fs::read_to_string(dir.join("report.md")).unwrap();
    assert!(
        md.contains(" its clock jumped ") && md.contains(" ahead: "),
        "{md}"
    );
    assert!(
        run["answers"]
            .as_array()
            .unwrap()
            .iter()
            .all(|a| a["ok"] == true),
        "{}",
        run["answers"]
    );
    assert_nothing_left(&bench);
}

#[test]
fn labctls_own_clock_off_while_the_hosts_agree_gives_the_same_run() {
    let _one = one_at_a_time();
    let bench = TestBench::up();
    let s = Scratch::new("clocks-labctl");
    let base = answers(&run_lab(&bench, &s, &[]));
    // labctl 300 s behind the hosts (and this machine): Debian's `faketime`
    // runs it with libfaketime (its build for threads), and ends with it.
    let s = Scratch::new("clocks-labctl-off");
    let (cmd, out) = lab_command(
        &bench,
        &s,
        "faketime",
        &["-m", "-f", "-300", common::labctl_bin()],
        &[("FAKETIME_DONT_FAKE_MONOTONIC", "1"), ("NO_FAKE_STAT", "1")],
    );
    let (stdout, dir) = passing(cmd, &out);
    // labctl's own times are its clock's: the run began 300 s ago by this machine's.
    let began = run_json(&dir)["run"]["started_at"]
        .as_str()
        .unwrap()
        .to_string();
    let events = json_lines(&dir.join("events.jsonl"));
    let at = events[0]["at"].as_f64().unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    assert!(
        (now - at - 300.0).abs() < 60.0,
        "labctl began at {at} ({began}), now {now}"
    );
    assert_causal(&dir, "labctl 300 s behind");
    assert_eq!(
        answers(&dir),
        base,
        "the same answers as with labctl's clock right"
    );
    for (h, (o, u, n)) in clocks(&dir) {
        assert!(
            (o - 300.0).abs() < 0.05 && u < 0.05 && n == 1,
            "{h}: {o} ± {u}"
        );
    }
    let md = std::fs::read_to_string(dir.join("report.md")).unwrap();
    let said = regex::Regex::new(r"\n- A: (299\.99\d|300\.00\d) s ahead \(± [0-9.]+ ms\)").unwrap();
    assert!(said.is_match(&md), "{md}");
    assert!(stdout.contains("CLOCK  A  its clock is 30"), "{stdout}");
    assert_nothing_left(&bench);
}

/// The `clock` row of each host in `check --json`'s last line: `(status, detail)`.
fn clock_rows(stdout: &str) -> BTreeMap<String, (String, String)> {
    let last: serde_json::Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
    let mut rows = BTreeMap::new();
    for h in last["benches"][0]["hosts"].as_array().unwrap() {
        let c = h["checks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["check"] == "clock")
            .unwrap_or_else(|| panic!("a clock row: {h}"));
        rows.insert(
            h["host"].as_str().unwrap().to_string(),
            (
                c["status"].as_str().unwrap().to_string(),
                c["detail"].as_str().unwrap().to_string(),
            ),
        );
    }
    rows
}

#[test]
fn check_shows_each_hosts_clock_warns_past_a_second_and_fix_sets_it_where_it_may() {
    let home = Scratch::new("clocks-check");
    // A login that may set the clock (sudo, as Raspberry Pi OS's `pi`).
    let bench = TestBench::up_args(&["--clock", "A=-90s"]);
    let out = labctl(bench.hosts_file(), &lab(), &home.0, &["check", "--fix"]);
    out.assert_status(0)
        .assert_stdout_contains("`labctl check --fix` sets the clock from this machine's")
        .assert_stdout_contains("A: set the clock from this machine's (it was ")
        .assert_stdout_contains("ready: all 45 checks passed on 3 hosts\n");
    // 90 s behind, within what the measure says it knows.
    let warned =
        regex::Regex::new(r"⚠ A clock: ([0-9.]+) s behind this machine's \(± ([0-9.]+) ms\)")
            .unwrap()
            .captures(&out.stdout)
            .unwrap_or_else(|| panic!("a warning on A's clock:\n{}", out.stdout));
    let (off, within): (f64, f64) = (warned[1].parse().unwrap(), warned[2].parse().unwrap());
    assert!(
        (off - 90.0).abs() <= within / 1000.0 + 0.001,
        "{off} ± {within} ms"
    );
    let before = out.stdout.split("after --fix:").next().unwrap();
    let row = before.lines().find(|l| l.starts_with("clock ")).unwrap();
    assert!(row.contains('⚠') && row.matches('✔').count() == 2, "{row}");
    assert!(host_offset(&bench, "A").abs() < 1.0, "A's clock was set");
    let out = labctl(bench.hosts_file(), &lab(), &home.0, &["check", "--json"]);
    out.assert_status(0);
    for (h, (status, detail)) in clock_rows(&out.stdout) {
        assert_eq!(status, "pass", "{h}: {detail}");
        assert!(detail.contains("this machine's (± "), "{h}: {detail}");
    }
    // This machine's clock was never set: the hosts without a clock of their
    // own refuse it, as a clock their login may not set.
    let set = bench
        .ssh("C", "sudo -n date -s @0; echo status=$?")
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&set.stdout) + String::from_utf8_lossy(&set.stderr);
    assert!(
        said.contains("status=1") && said.contains("Operation not permitted"),
        "{said}"
    );
    assert!(host_offset(&bench, "C").abs() < 1.0);
    drop(bench);

    // A login sudo lets run only `ip` and `tcpdump`: the row still warns,
    // --fix says how, and the bench is ready all the same.
    let bench = TestBench::up_args(&["--sudo-lab-only", "--clock", "A=-90s"]);
    let out = labctl(
        bench.hosts_file(),
        &lab(),
        &home.0,
        &["check", "--fix", "--json"],
    );
    out.assert_status(0).assert_stderr_contains(
        "setting the clock: `sudo -n date -s` exited with status 1: sudo: a password is required; set it on the host (`sudo date -u -s '",
    );
    out.assert_stderr_contains("the sudoers line `pi ALL=(root) NOPASSWD: /usr/bin/date`");
    let rows = clock_rows(&out.stdout);
    assert_eq!(rows["A"].0, "warn", "{rows:?}");
    assert!(
        rows["A"].1.contains(" s behind this machine's (± "),
        "{rows:?}"
    );
    assert_eq!(
        (rows["B"].0.as_str(), rows["C"].0.as_str()),
        ("pass", "pass")
    );
    assert!(
        (host_offset(&bench, "A") + 90.0).abs() < 1.0,
        "A's clock is as it was"
    );
}
