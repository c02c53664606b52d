//! `labctl run` on the virtual bench (real sshds): the whole seed lab passes
//! from a fresh bench and again straight after; every step replayed alone
//! passes; a wrong expectation fails naming step, host, program and what
//! was seen; Ctrl-C in Part II and SIGKILL leave no lab program on any host;
//! `clean` stops exactly what labctl started.

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::{ensure_programs, Labctl, RunOutput, TestBench};

const HOSTS: [&str; 3] = ["A", "B", "C"];

fn seed_lab() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("labs/lab.toml")
}

/// A scratch directory removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new(tag: &str) -> Scratch {
        let p = std::env::temp_dir().join(format!("labctl-labrun-{}-{tag}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        Scratch(p)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

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

fn workdir(bench: &TestBench, host: &str) -> PathBuf {
    bench.host(host).dir.join("work")
}

/// Every live process of a lab program on the bench: its executable is one
/// of the deployed programs, or it works in a run directory (the wrapper,
/// the timestamp loops, tcpdump). Read from /proc: the namespaces share
/// this machine's pid namespace.
fn lab_processes(bench: &TestBench) -> Vec<String> {
    let dirs: Vec<PathBuf> = HOSTS.iter().map(|h| workdir(bench, h)).collect();
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .filter(|s| s.bytes().all(|b| b.is_ascii_digit()))
        else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // The state follows the command name's closing parenthesis; zombies hold nothing.
        if stat
            .rsplit_once(") ")
            .is_some_and(|(_, rest)| rest.starts_with('Z'))
        {
            continue;
        }
        let exe = std::fs::read_link(entry.path().join("exe")).unwrap_or_default();
        let cwd = std::fs::read_link(entry.path().join("cwd")).unwrap_or_default();
        if dirs
            .iter()
            .any(|d| exe.starts_with(d.join("bin")) || cwd.starts_with(d.join("runs")))
        {
            let cmd = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
            let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
            found.push(format!("{pid} {cmd}"));
        }
    }
    found
}

/// The registered groups left in the hosts' `procs` directories.
fn registered(bench: &TestBench) -> Vec<String> {
    let mut v = Vec::new();
    for h in HOSTS {
        if let Ok(rd) = std::fs::read_dir(workdir(bench, h).join("procs")) {
            v.extend(
                rd.flatten()
                    .map(|e| format!("{h}/{}", e.file_name().to_string_lossy())),
            );
        }
    }
    v
}

/// Nothing of the lab runs on any host (allowing a few seconds for the agents' watchdogs).
fn assert_nothing_left(bench: &TestBench) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (procs, files) = (lab_processes(bench), registered(bench));
        if procs.is_empty() && files.is_empty() {
            return;
        }
        if Instant::now() > deadline {
            panic!("left on the bench: processes {procs:#?}, registered groups {files:?}");
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The single run directory created under `out`.
fn run_dir(out: &Path) -> PathBuf {
    let dirs: Vec<PathBuf> = std::fs::read_dir(out)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    assert_eq!(
        dirs.len(),
        1,
        "one run directory in {}: {dirs:?}",
        out.display()
    );
    dirs[0].clone()
}

fn json_lines(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn the_whole_seed_lab_passes_from_a_fresh_bench_and_again_straight_after() {
    let bench = TestBench::up();
    let first = Scratch::new("whole1");
    let out = labctl(&bench, &seed_lab(), &first.0, &["run"]);
    out.assert_status(0)
        .assert_stdout_contains("PASSED: steps 17 passed, 0 failed");
    assert_nothing_left(&bench);

    let dir = run_dir(&first.0);
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

    let second = Scratch::new("whole2");
    labctl(&bench, &seed_lab(), &second.0, &["run"])
        .assert_status(0)
        .assert_stdout_contains("PASSED: steps 17 passed, 0 failed")
        .assert_stdout_lacks("stopped what an earlier run left");
    assert_nothing_left(&bench);
}

#[test]
fn every_step_replayed_alone_passes() {
    let bench = TestBench::up();
    let scratch = Scratch::new("replay");
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
    let scratch = Scratch::new("wrong");
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
        &["run", "--step", "I.8"],
    );
    out.assert_status(1)
        .assert_stdout_contains(
            "step `I.8` on host `B`: program `client-B`: expected /^Server> HELO$/ within 2s; saw: ",
        )
        .assert_stdout_contains(r#""Server> HELLO""#)
        .assert_stdout_contains("FAILED");
    assert_nothing_left(&bench);
    let steps = json_lines(&run_dir(&scratch.0.join("runs")).join("steps.jsonl"));
    let last = steps.last().unwrap();
    assert_eq!(last["id"], "I.8");
    assert_eq!(last["outcome"], "failed");
}

/// Starts `labctl run` in the background; returns the child and its stdout lines.
fn spawn_run(
    bench: &TestBench,
    out: &Path,
    args: &[&str],
) -> (std::process::Child, mpsc::Receiver<String>) {
    ensure_programs();
    let mut child = Command::new(common::labctl_bin())
        .arg("--hosts")
        .arg(bench.hosts_file())
        .arg("--lab")
        .arg(seed_lab())
        .args(args)
        .arg("--out")
        .arg(out)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    (child, rx)
}

/// Waits for a stdout line containing `needle`; returns every line seen.
fn wait_for(
    rx: &mpsc::Receiver<String>,
    needle: &str,
    child: &mut std::process::Child,
) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut seen = Vec::new();
    while Instant::now() < deadline {
        match rx.recv_timeout(Duration::from_millis(200)) {
            Ok(l) => {
                let hit = l.contains(needle);
                seen.push(l);
                if hit {
                    return seen;
                }
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        }
    }
    let _ = child.kill();
    panic!("no line with {needle:?}; saw:\n{}", seen.join("\n"));
}

fn wait_exit(child: &mut std::process::Child) -> std::process::ExitStatus {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(st) = child.try_wait().unwrap() {
            return st;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("labctl did not end within 60 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn ctrl_c_in_part_ii_stops_every_program_and_keeps_what_was_gathered() {
    let bench = TestBench::up();
    let scratch = Scratch::new("sigint");
    let (mut child, rx) = spawn_run(&bench, &scratch.0, &["run"]);
    // Four clients and the threaded server are running, the captures too.
    wait_for(&rx, "`client-C2` stdout /^Connected", &mut child);
    assert!(
        !lab_processes(&bench).is_empty(),
        "programs run before Ctrl-C"
    );
    // SAFETY: kill(2) on our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let status = wait_exit(&mut child);
    assert_eq!(status.code(), Some(130), "{status:?}");
    let rest: Vec<String> = rx.try_iter().collect();
    assert!(rest.iter().any(|l| l.contains("INTERRUPTED")), "{rest:#?}");
    assert_nothing_left(&bench);

    // What was gathered is there: part I's steps and captures, part II's output so far.
    let dir = run_dir(&scratch.0);
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
    let scratch = Scratch::new("sigkill");
    let (mut child, rx) = spawn_run(&bench, &scratch.0, &["run", "--step", "II.3"]);
    wait_for(
        &rx,
        "`client-B1` stdout /^Server> HELLO FROM B1$/",
        &mut child,
    );
    assert!(
        !lab_processes(&bench).is_empty(),
        "programs run before SIGKILL"
    );
    child.kill().unwrap(); // SIGKILL
    wait_exit(&mut child);
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
    let scratch = Scratch::new("clean");
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
    let deadline = Instant::now() + Duration::from_secs(5);
    while !pidfile.exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let foreign: i32 = std::fs::read_to_string(&pidfile)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
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
    let alive = std::fs::read_to_string(format!("/proc/{foreign}/stat")).unwrap_or_default();
    // SAFETY: kill(2) on the process this test started.
    unsafe { libc::kill(foreign, libc::SIGKILL) };
    assert!(
        alive
            .rsplit_once(") ")
            .is_some_and(|(_, r)| !r.starts_with('Z')),
        "clean stopped a process labctl did not start"
    );

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
    let scratch = Scratch::new("room");
    let out = labctl(
        &room,
        &seed_lab(),
        &scratch.0,
        &["run", "--all", "--step", "I.10"],
    );
    out.assert_status(0)
        .assert_stdout_contains("[bench1]   SUMMARY")
        .assert_stdout_contains("[bench2]   SUMMARY")
        .assert_stdout_lacks("FAILED");
    let mut dirs: Vec<String> = std::fs::read_dir(&scratch.0)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    dirs.sort();
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
