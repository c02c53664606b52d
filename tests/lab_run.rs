//! `labctl run` on the virtual bench (real sshds): the whole seed lab passes
//! from a fresh bench and again straight after; every step replayed alone
//! passes; a wrong expectation fails naming step, host, program and what
//! was seen; Ctrl-C in Part II and SIGKILL leave no lab program on any host;
//! `clean` stops exactly what labctl started.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::{
    assert_nothing_left, ensure_programs, json_lines, lab_processes, registered, run_dir, workdir,
    Background, Labctl, RunOutput, Scratch, TestBench,
};
use labctl::testbed::proc::alive;

const HOSTS: [&str; 3] = ["A", "B", "C"];

use common::seed_lab;

fn labctl(bench: &TestBench, lab: &Path, out: &Path, args: &[&str]) -> RunOutput {
    ensure_programs();
    Labctl::new()
        .hosts(bench.hosts_file())
        .arg("--lab")
        .arg(lab)
        .args(args)
        .arg("--out")
        .arg(out)
        .timeout(Duration::from_secs(180))
        .run()
}

#[test]
fn the_whole_seed_lab_passes_from_a_fresh_bench_and_again_straight_after() {
    let bench = TestBench::up();
    let first = Scratch::new("labrun-whole1");
    let out = labctl(&bench, &seed_lab(), &first.0, &["run"]);
    out.assert_status(0)
        .assert_stdout_contains("PASSED: steps 17 passed, 0 failed");
    assert_nothing_left(&bench);

    let dir = run_dir(&first.0);
    let (passed, failed) = assert_counted(&dir, &out.stdout);
    assert!(passed > 30 && failed == 0, "{passed} ✔, {failed} ✘");
    let mode =
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&dir).unwrap().permissions());
    assert_eq!(mode & 0o777, 0o700, "the run directory is private");
    let steps = json_lines(&dir.join("steps.jsonl"));
    let ids: Vec<&str> = steps.iter().map(|s| s["id"].as_str().unwrap()).collect();
    assert_eq!(ids.first(), Some(&"I.1"));
    assert_eq!(ids.last(), Some(&"II.4"));
    assert_eq!(ids.len(), 17, "{ids:?}");
    assert!(steps.iter().all(|s| s["outcome"] == "passed"), "{steps:#?}");
    // Each program's output, a host timestamp per line.
    let server = std::fs::read_to_string(dir.join("A-server.out")).unwrap();
    let first_line = server.lines().next().unwrap();
    let (ts, text) = first_line.split_once(' ').unwrap();
    assert!(ts.parse::<f64>().unwrap() > 1.0e9, "{first_line}");
    assert!(text.starts_with("TCP server started"), "{first_line}");
    assert!(server.contains("> hello from C"), "{server}");
    let sent = std::fs::read_to_string(dir.join("B-client-B.in")).unwrap();
    assert!(sent.lines().any(|l| l.ends_with(" how are you")), "{sent}");
    // The captures, fetched: pcap magic (tcpdump writes native-endian classic pcap).
    for cap in ["A-cap-A", "B-cap-B", "B-cap-udp", "B-cap-B2", "C-cap-C2"] {
        let bytes = std::fs::read(dir.join(format!("{cap}.pcap"))).unwrap();
        assert!(bytes.len() > 24, "{cap}.pcap has packets");
        assert!(
            bytes.starts_with(&[0xd4, 0xc3, 0xb2, 0xa1])
                || bytes.starts_with(&[0xa1, 0xb2, 0xc3, 0xd4]),
            "{cap}.pcap is a pcap"
        );
    }
    // Nothing remains in the hosts' run directories either.
    for h in HOSTS {
        let runs: Vec<_> = std::fs::read_dir(workdir(&bench, h).join("runs"))
            .unwrap()
            .collect();
        assert!(runs.is_empty(), "host {h} keeps {runs:?}");
    }

    let second = Scratch::new("labrun-whole2");
    labctl(&bench, &seed_lab(), &second.0, &["run"])
        .assert_status(0)
        .assert_stdout_contains("PASSED: steps 17 passed, 0 failed")
        .assert_stdout_lacks("stopped what an earlier run left");
    assert_nothing_left(&bench);
}

#[test]
fn every_step_replayed_alone_passes() {
    let bench = TestBench::up();
    let scratch = Scratch::new("labrun-replay");
    let list = Labctl::new()
        .hosts(bench.hosts_file())
        .arg("--lab")
        .arg(seed_lab())
        .arg("list")
        .run();
    list.assert_status(0);
    let ids: Vec<String> = list
        .stdout
        .lines()
        .filter_map(|l| l.split_whitespace().next().map(str::to_string))
        .collect();
    assert_eq!(ids.len(), 17, "{}", list.stdout);
    for id in &ids {
        let out = scratch.0.join(id);
        let r = labctl(&bench, &seed_lab(), &out, &["run", "--step", id]);
        r.assert_status(0);
        // The step itself ran last, after what it needs.
        let steps = json_lines(&run_dir(&out).join("steps.jsonl"));
        let last = steps.last().unwrap();
        assert_eq!(last["id"], id.as_str(), "{steps:#?}");
        assert_eq!(last["needed"], false);
        assert!(steps[..steps.len() - 1].iter().all(|s| s["needed"] == true));
        assert_nothing_left(&bench);
    }
}

#[test]
fn a_wrong_expectation_fails_naming_step_host_program_and_what_was_seen() {
    let bench = TestBench::up();
    let scratch = Scratch::new("labrun-wrong");
    let text = std::fs::read_to_string(seed_lab()).unwrap();
    let wrong = text.replace(
        r#"match = "^Server> HELLO$""#,
        r#"match = "^Server> HELO$""#,
    );
    assert_ne!(wrong, text, "the seed lab expects `Server> HELLO`");
    let lab = scratch.0.join("wrong.toml");
    std::fs::write(&lab, wrong).unwrap();
    let out = labctl(
        &bench,
        &lab,
        &scratch.0.join("runs"),
        &["run", "--to", "I.9"],
    );
    let failure =
        "step `I.8` on host `B`: program `client-B`: expected /^Server> HELO$/ within 2s; saw: ";
    out.assert_status(1)
        .assert_stdout_contains(failure)
        .assert_stdout_contains(r#""Server> HELLO""#)
        .assert_stdout_contains("FAILED: steps 7 passed, 1 failed, 1 skipped;");
    // Printed once in the step and once in the summary, not a third time.
    assert_eq!(out.stdout.matches(failure).count(), 2, "{out}");
    assert!(!out.stderr.contains(failure), "{out}");
    // One word for the step that did not run: the reports' "skipped".
    assert!(!out.stdout.contains("not run"), "{out}");
    // Where the report is, and how to replay the failed step.
    let dir = run_dir(&scratch.0.join("runs"));
    out.assert_stdout_contains(&format!("REPORT  {}", dir.join("report.html").display()))
        .assert_stdout_contains("REPLAY  labctl run --step I.8");
    assert!(dir.join("report.html").exists());
    assert_nothing_left(&bench);
    let steps = json_lines(&run_dir(&scratch.0.join("runs")).join("steps.jsonl"));
    let last = steps.last().unwrap();
    assert_eq!(last["id"], "I.8");
    assert_eq!(last["outcome"], "failed");
    let (passed, failed) = assert_counted(&run_dir(&scratch.0.join("runs")), &out.stdout);
    assert!(passed > 0);
    assert_eq!(failed, 1);
}

/// The run's last event counts the expectations its events show, and the
/// summary line says the same; returns (passed, failed).
#[track_caller]
fn assert_counted(dir: &Path, stdout: &str) -> (u64, u64) {
    let events = json_lines(&dir.join("events.jsonl"));
    let seen = |kind: &str| events.iter().filter(|e| e["event"] == kind).count() as u64;
    let last = events.last().unwrap();
    assert_eq!(last["event"], "run_finished");
    let counts = (
        last["checks_passed"].as_u64().unwrap(),
        last["checks_failed"].as_u64().unwrap(),
    );
    assert_eq!(
        counts,
        (seen("expectation_passed"), seen("expectation_failed"))
    );
    let summary = format!("expectations {} ✔, {} ✘", counts.0, counts.1);
    assert!(stdout.contains(&summary), "{summary} in:\n{stdout}");
    counts
}

/// `labctl run ARGS --out OUT` of `lab`, in the background.
fn start_run(bench: &TestBench, lab: &Path, out: &Path, args: &[&str]) -> Background {
    let mut cmd = Command::new(common::labctl_bin());
    cmd.arg("--hosts")
        .arg(bench.hosts_file())
        .arg("--lab")
        .arg(lab)
        .args(args)
        .arg("--out")
        .arg(out);
    Background::spawn(cmd)
}

/// The seed lab with the step's programs kept running for a minute right
/// after its action `after` (an `absent` window on `name`), written into
/// `dir`: a signal sent once that action passed finds the step and its
/// programs still running, however loaded the machine (without it, the
/// few actions left could end the run first).
fn held_lab(dir: &Path, after: &str, name: &str) -> std::path::PathBuf {
    let seed = std::fs::read_to_string(seed_lab()).unwrap();
    let hold = format!("  {{ expect = \"{name}\", absent = \"^never$\", for = \"60s\" }},\n");
    let at = seed.find(after).expect("the action is in the seed lab");
    let end = at + seed[at..].find('\n').unwrap() + 1;
    let lab = dir.join("held-lab.toml");
    std::fs::write(&lab, format!("{}{hold}{}", &seed[..end], &seed[end..])).unwrap();
    lab
}

#[test]
fn ctrl_c_in_part_ii_stops_every_program_and_keeps_what_was_gathered() {
    let bench = TestBench::up();
    let scratch = Scratch::new("labrun-sigint");
    let lab = held_lab(
        &scratch.0,
        r#"{ expect = "client-C2", match = "^Connected " }"#,
        "client-C2",
    );
    let runs = scratch.0.join("runs");
    let mut bg = start_run(&bench, &lab, &runs, &["run"]);
    // Four clients and the threaded server are running, the captures too.
    bg.wait_for("`client-C2` stdout /^Connected", Duration::from_secs(120));
    assert!(
        !lab_processes(&bench).is_empty(),
        "programs run before Ctrl-C"
    );
    bg.signal(libc::SIGINT);
    let seen = bg.seen.len();
    let (status, out, _) = bg.finish_status(Duration::from_secs(60));
    assert_eq!(status.code(), Some(130), "{status:?}");
    let rest: Vec<&str> = out.lines().skip(seen).collect();
    assert!(rest.iter().any(|l| l.contains("INTERRUPTED")), "{rest:#?}");
    assert_nothing_left(&bench);

    // What was gathered is there: part I's steps and captures, part II's output so far.
    let dir = run_dir(&runs);
    let steps = json_lines(&dir.join("steps.jsonl"));
    let i13 = steps
        .iter()
        .find(|s| s["id"] == "I.13")
        .expect("I.13 finished");
    assert_eq!(i13["outcome"], "passed");
    assert_eq!(steps.last().unwrap()["outcome"], "interrupted");
    assert!(dir.join("B-cap-B.pcap").exists());
    assert!(
        dir.join("B-cap-B2.pcap").exists(),
        "the running capture was stopped and fetched"
    );
    let c2 = std::fs::read_to_string(dir.join("C-client-C2.out")).unwrap();
    assert!(c2.contains("Connected 10.0.3.3:"), "{c2}");
    let events = json_lines(&dir.join("events.jsonl"));
    let last = events.last().unwrap();
    assert_eq!(last["event"], "run_finished");
    assert_eq!(last["outcome"], "interrupted");
}

#[test]
fn after_sigkill_the_hosts_stop_the_programs_and_clean_finds_nothing_left() {
    let bench = TestBench::up();
    let scratch = Scratch::new("labrun-sigkill");
    let lab = held_lab(
        &scratch.0,
        r#"{ expect = "client-B1", match = "^Server> HELLO FROM B1$" }"#,
        "client-B1",
    );
    let runs = scratch.0.join("runs");
    let mut bg = start_run(&bench, &lab, &runs, &["run", "--step", "II.3"]);
    bg.wait_for(
        "`client-B1` stdout /^Server> HELLO FROM B1$/",
        Duration::from_secs(120),
    );
    assert!(
        !lab_processes(&bench).is_empty(),
        "programs run before SIGKILL"
    );
    bg.child.kill().unwrap(); // SIGKILL
    bg.finish(Duration::from_secs(60));
    // The agents notice the dropped connections and stop everything by themselves.
    assert_nothing_left(&bench);
    Labctl::new()
        .hosts(bench.hosts_file())
        .arg("clean")
        .run()
        .assert_status(0)
        .assert_stdout_contains("✔ A  nothing labctl started is running");
}

#[test]
fn clean_and_the_next_run_stop_what_labctl_started_and_nothing_else() {
    let bench = TestBench::up();
    let scratch = Scratch::new("labrun-clean");
    let room = labctl::config::hosts::load(bench.hosts_file()).unwrap();
    let a = room.benches[0].host("A").unwrap().clone();
    // A program registered the way labctl registers them, as if a killed labctl left it,
    // next to a process labctl did not start.
    let leave_one = || {
        let call = "lc_start stray I.0 sleep 300";
        let st = bench
            .ssh("A", &labctl::remote::script(&a, "left-behind", call))
            .output()
            .unwrap();
        assert!(
            st.status.success(),
            "{}",
            String::from_utf8_lossy(&st.stderr)
        );
    };
    leave_one();
    let pidfile = scratch.0.join("foreign.pid");
    let foreign = bench.exec_in(
        "A",
        &format!(
            "setsid -f sh -c 'echo $$ >{}; exec sleep 301' </dev/null >/dev/null 2>&1",
            pidfile.display()
        ),
    );
    assert!(foreign.status.success());
    // The shell creates the file before `echo` writes to it: wait for the
    // whole pid, which the newline ends.
    let deadline = Instant::now() + Duration::from_secs(5);
    let foreign: i32 = loop {
        let text = std::fs::read_to_string(&pidfile).unwrap_or_default();
        if let Some(pid) = text.strip_suffix('\n') {
            break pid.trim().parse().unwrap();
        }
        assert!(
            Instant::now() < deadline,
            "no pid in {} within 5 s: {text:?}",
            pidfile.display()
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(registered(&bench).len(), 1);
    let running = lab_processes(&bench);
    assert!(
        running.iter().any(|p| p.contains("sleep 300")),
        "{running:#?}"
    );

    Labctl::new()
        .hosts(bench.hosts_file())
        .arg("clean")
        .run()
        .assert_status(0)
        .assert_stdout_contains("✔ A  stopped `stray` (step I.0, run left-behind)");
    assert_nothing_left(&bench);
    let survived = alive(foreign as u32);
    // SAFETY: kill(2) on the process this test started.
    unsafe { libc::kill(foreign, libc::SIGKILL) };
    assert!(survived, "clean stopped a process labctl did not start");

    // The next run finds what an earlier one left and stops it first.
    leave_one();
    labctl(&bench, &seed_lab(), &scratch.0, &["run", "--step", "I.1"])
        .assert_status(0)
        .assert_stdout_contains(
            "A  stopped what an earlier run left: `stray` (step I.0, run left-behind)",
        );
    assert_nothing_left(&bench);
}

#[test]
fn a_room_runs_the_lab_on_every_bench_at_once() {
    let room = TestBench::room(2);
    let scratch = Scratch::new("labrun-room");
    let out = labctl(
        &room,
        &seed_lab(),
        &scratch.0,
        &["run", "--all", "--step", "I.10"],
    );
    out.assert_status(0)
        .assert_stdout_contains("room: 2 of 2 benches passed")
        .assert_stdout_lacks("FAILED");
    let (rooms, mut dirs): (Vec<String>, Vec<String>) = std::fs::read_dir(&scratch.0)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .partition(|d| d.ends_with("-sockets-room"));
    dirs.sort();
    assert_eq!(rooms.len(), 1, "{rooms:?}");
    assert_eq!(dirs.len(), 2, "{dirs:?}");
    assert!(
        dirs[0].ends_with("-sockets-bench1") && dirs[1].ends_with("-sockets-bench2"),
        "{dirs:?}"
    );
    for d in &dirs {
        let steps = json_lines(&scratch.0.join(d).join("steps.jsonl"));
        assert_eq!(steps.last().unwrap()["id"], "I.10");
        assert!(steps.iter().all(|s| s["outcome"] == "passed"), "{steps:#?}");
    }
}
