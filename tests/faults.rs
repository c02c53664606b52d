//! Faults during `check` and `run` on the virtual bench (real sshds): a
//! host's sshd stopped before the run, a host lost in the middle of a step,
//! the lab interface taken down mid-step, a client that never answers and a
//! program that never ends, a host that accepts TCP but never speaks SSH,
//! Ctrl-C at several points, and SIGKILL of labctl followed by `clean`.
//!
//! Each time: the run stops with a message naming the step and the host,
//! nothing of the lab is left on any reachable host (no lab program process
//! in any namespace, an empty `<workdir>/procs/`), what was gathered before
//! the fault is in the run directory and the report, and the exit code
//! says failure. The labs are small, written here.

mod common;

use std::net::TcpListener;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{
    agent_pid, assert_nothing_left, b_waits, hosts_copy, json_lines, labctl, registered, workdir,
    Background, ExchangeLab, LabSetup, TestBench,
};
use labctl::testbed::proc::alive;

/// A step in which B's client waits a minute (B's session is busy the whole time).
fn long_wait() -> String {
    b_waits("a long wait", "60s")
}

/// The terminal line saying S.2's last expectation passed.
const AFTER_S2: &str = "/^Server> BEFORE$/";

/// A bench with the programs in place, a scratch directory, and the lab [`ExchangeLab`] + `extra`.
fn setup(tag: &str, extra: &str) -> LabSetup {
    LabSetup::new(
        &format!("faults-{tag}"),
        &(ExchangeLab::new("faults").toml() + extra),
    )
}

/// What a run directory keeps: the report and the gathered output.
#[track_caller]
fn assert_kept(dir: &Path, outcome: &str, lines: &[(&str, &str)]) {
    let events = json_lines(&dir.join("events.jsonl"));
    let last = events.last().unwrap();
    assert_eq!(last["event"], "run_finished", "{last}");
    assert_eq!(last["outcome"], outcome, "{last}");
    // report.md escapes `<`, `>` and `&` in its tables.
    let report = std::fs::read_to_string(dir.join("report.md"))
        .unwrap()
        .replace("&gt;", ">")
        .replace("&lt;", "<")
        .replace("&amp;", "&");
    let run = std::fs::read_to_string(dir.join("run.json")).unwrap();
    for (file, line) in lines {
        let text = std::fs::read_to_string(dir.join(file))
            .unwrap_or_else(|e| panic!("{file} in {}: {e}", dir.display()));
        assert!(text.contains(line), "{file} lacks {line:?}:\n{text}");
        assert!(report.contains(line), "report.md lacks {line:?}:\n{report}");
        assert!(run.contains(line), "run.json lacks {line:?}");
    }
}

/// After a fault in S.3: S.2's exchange is kept, and S.3 is the last step, ended `outcome`.
#[track_caller]
fn assert_s3_ended(dir: &Path, outcome: &str) {
    assert_kept(
        dir,
        outcome,
        &[
            ("A-server.out", "> before"),
            ("B-client.out", "Server> BEFORE"),
        ],
    );
    let steps = json_lines(&dir.join("steps.jsonl"));
    let last = steps.last().unwrap();
    assert_eq!(last["id"], "S.3", "{steps:#?}");
    assert_eq!(last["outcome"], outcome, "{steps:#?}");
}

/// SIGKILLs every sshd process (the listener and its sessions) inside `host`'s
/// namespace: the host is gone for labctl, as if its SSH service crashed.
fn kill_sshd_and_sessions(bench: &TestBench, host: &str) {
    let ino = std::fs::metadata(format!("/run/netns/{}", bench.netns(host)))
        .unwrap()
        .ino();
    let want = format!("net:[{ino}]");
    bench.stop_sshd(host);
    let mut killed = 0;
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|n| n.parse::<i32>().ok()) else {
            continue;
        };
        let ns = std::fs::read_link(e.path().join("ns/net")).unwrap_or_default();
        let comm = std::fs::read_to_string(e.path().join("comm")).unwrap_or_default();
        if ns.to_string_lossy() == want && comm.trim() == "sshd" {
            // SAFETY: kill(2) on a session of the bench's own sshd.
            unsafe { libc::kill(pid, libc::SIGKILL) };
            killed += 1;
        }
    }
    assert!(killed > 0, "labctl's session on `{host}` was found and cut");
}

#[test]
fn a_host_whose_sshd_is_down_before_the_run_is_named_and_nothing_runs() {
    let t = setup("before", "");
    t.bench.stop_sshd("B");
    let out = t.run("runs", &[]);
    out.assert_status(3)
        .assert_stderr_contains("host `B` (127.0.0.1:")
        .assert_stdout_contains("host `B`");
    let dir = t.run_dir("runs");
    let events = json_lines(&dir.join("events.jsonl"));
    assert!(
        !events.iter().any(|e| e["event"] == "step_started"),
        "no step ran: {events:#?}"
    );
    assert_kept(&dir, "failed", &[]);
    let problem = events
        .iter()
        .find(|e| e["event"] == "problem")
        .expect("the reason is recorded");
    assert!(
        problem["message"].as_str().unwrap().contains("host `B`"),
        "{problem}"
    );
    assert_nothing_left(&t.bench);
}

#[test]
fn a_host_lost_in_the_middle_of_a_step_fails_the_run_naming_step_and_host() {
    let t = setup("lost", &long_wait());
    let mut bg = t.start("runs", &[]);
    bg.wait_for(AFTER_S2, Duration::from_secs(60));
    bg.wait_for("START  S.3", Duration::from_secs(10));
    kill_sshd_and_sessions(&t.bench, "B");
    let (code, out, err) = bg.finish(Duration::from_secs(60));
    assert_eq!(code, 3, "{out}\n{err}");
    assert!(err.contains("step `S.3`: host `B` (127.0.0.1:"), "{err}");
    // In words an instructor understands, not libssh2's.
    assert!(err.contains("the connection was lost"), "{err}");
    assert!(out.contains("FAIL  S.3"), "{out}");
    // A's programs were stopped by labctl, B's by B's own watchdog.
    assert_nothing_left(&t.bench);
    assert_s3_ended(&t.run_dir("runs"), "failed");
    // Back on its feet, B holds nothing of the run: `clean` finds nothing.
    t.bench.start_sshd("B");
    t.labctl(&["clean"])
        .assert_success()
        .assert_stdout_contains("✔ B  nothing labctl started is running");
}

#[test]
fn the_lab_interface_taken_down_mid_step_fails_the_expectation_naming_step_host_program() {
    let t = setup(
        "linkdown",
        r#"
[[step]]
id = "S.3"
title = "a line after a pause"
hosts = ["B"]
needs = ["S.2"]
do = [
  { expect = "client", absent = "nothing", for = "2s" },
  { send = "client", lines = ["after"] },
  { expect = "client", match = "^Server> AFTER$", within = "2s" },
]
"#,
    );
    let mut bg = t.start("runs", &[]);
    bg.wait_for("START  S.3", Duration::from_secs(60));
    let down = t.bench.exec_in("B", "ip link set eth0 down");
    assert!(down.status.success(), "{down:?}");
    let (code, out, err) = bg.finish(Duration::from_secs(60));
    assert_eq!(code, 1, "{out}\n{err}");
    assert!(
        out.contains(
            "step `S.3` on host `B`: program `client`: expected /^Server> AFTER$/ within 2s"
        ),
        "{out}"
    );
    assert_nothing_left(&t.bench);
    let dir = t.run_dir("runs");
    assert_kept(
        &dir,
        "failed",
        &[
            ("B-client.out", "Server> BEFORE"),
            ("B-client.out", "Sent: after"),
        ],
    );
    let report = std::fs::read_to_string(dir.join("report.md")).unwrap();
    assert!(
        report.contains("✘ S.3") || report.contains("✘ | S.3"),
        "{report}"
    );
}

#[test]
fn a_client_that_never_answers_and_a_program_that_never_ends_are_cut_by_their_timeouts() {
    let t = setup(
        "timeouts",
        r#"
[[step]]
id = "S.3"
title = "a UDP client whose server never answers"
hosts = ["B"]
needs = ["S.1"]
do = [
  { start = "lonely", program = "udp_client", args = ["--server", "{A.addr}", "--port", "50009"] },
  { send = "lonely", lines = ["anyone?"] },
  { expect = "lonely", match = "^Server>", within = "1s" },
]
[[step]]
id = "S.4"
title = "a foreground server that never ends"
hosts = ["A"]
needs = ["S.1"]
do = [{ run = "udp_server", args = ["--port", "50008"], timeout = "1s", exit = 0 }]
"#,
    );
    let out = t.run("runs1", &["--step", "S.3"]);
    out.assert_status(1)
        .assert_stdout_contains(
            "step `S.3` on host `B`: program `lonely`: expected /^Server>/ within 1s; saw: ",
        )
        .assert_stdout_contains("\"Sent: anyone?\"")
        .assert_stderr_contains("the run failed; see the summary above");
    assert_nothing_left(&t.bench);
    assert_kept(
        &t.run_dir("runs1"),
        "failed",
        &[("B-lonely.out", "Sent: anyone?")],
    );

    let out = t.run("runs2", &["--step", "S.4"]);
    out.assert_status(1)
        .assert_stdout_contains("step `S.4` on host `A`: program `udp_server --port 50008`")
        .assert_stdout_contains("it was still running after 1s and was stopped");
    assert_nothing_left(&t.bench);
    assert_kept(
        &t.run_dir("runs2"),
        "failed",
        &[("A-S.4-udp_server.out", "UDP server started")],
    );
}

/// A loopback listener that accepts connections and never says a word.
struct Silent {
    port: u16,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<usize>>,
}

impl Silent {
    fn new() -> Silent {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.set_nonblocking(true).unwrap();
        let port = l.local_addr().unwrap().port();
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut held = Vec::new();
            while !flag.load(Ordering::SeqCst) {
                match l.accept() {
                    Ok((c, _)) => held.push(c),
                    Err(_) => std::thread::sleep(Duration::from_millis(10)),
                }
            }
            held.len()
        });
        Silent {
            port,
            stop,
            thread: Some(thread),
        }
    }

    /// Stops listening; returns how many connections it held.
    fn close(mut self) -> usize {
        self.stop.store(true, Ordering::SeqCst);
        self.thread.take().unwrap().join().unwrap()
    }
}

#[test]
fn a_host_that_accepts_tcp_but_never_speaks_ssh_is_a_timeout_not_a_hang() {
    let t = setup("silent", "");
    let silent = Silent::new();
    let b = format!("127.0.0.1:{}", t.bench.ssh_port("B"));
    let hosts = hosts_copy(&t.bench, "hosts-silent.toml", |text| {
        assert!(text.contains(&b), "{text}");
        text.replace(&b, &format!("127.0.0.1:{}", silent.port))
    });
    // `check` names B and still checks A and C.
    let out = labctl(&hosts, &t.lab, &t.home, &["check"]);
    out.assert_status(1)
        .assert_stdout_contains("✘ B ssh: no ssh handshake within")
        .assert_stdout_contains("✘ A address")
        .assert_stdout_contains("✘ C address");
    // `run` refuses to start without B.
    let out = labctl(&hosts, &t.lab, &t.home, &t.run_args("runs", &[]));
    out.assert_status(3)
        .assert_stderr_contains("host `B` (127.0.0.1:")
        .assert_stderr_contains("no ssh handshake within");
    assert!(
        silent.close() >= 2,
        "check and run both reached the silent host"
    );
    let dir = t.run_dir("runs");
    assert_kept(&dir, "failed", &[]);
    assert_nothing_left(&t.bench);
}

/// The first file named `name` under `<host workdir>/runs/*/` containing `needle`, waited for.
#[track_caller]
fn wait_host_file(bench: &TestBench, host: &str, name: &str, needle: &str) {
    let runs = workdir(bench, host).join("runs");
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        for d in std::fs::read_dir(&runs).into_iter().flatten().flatten() {
            let text = std::fs::read_to_string(d.path().join(name)).unwrap_or_default();
            if text.contains(needle) {
                return;
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("no {needle:?} in {}/*/{name}", runs.display());
}

/// Steps for Ctrl-C after [`long_wait`]: a slow send, a foreground program that runs long.
const CTRL_C_STEPS: &str = r#"
[[step]]
id = "S.4"
title = "slow lines"
hosts = ["B"]
needs = ["S.2"]
do = [{ send = "client", lines = ["one", "two", "three", "four"], pace = "20s" }]
[[step]]
id = "S.5"
title = "a foreground server"
hosts = ["A"]
needs = ["S.1"]
do = [{ run = "udp_server", args = ["--port", "50007"], timeout = "60s", exit = 0 }]
"#;

#[test]
fn ctrl_c_at_several_points_stops_everything_and_keeps_what_was_gathered() {
    let t = setup("sigint", &(long_wait() + CTRL_C_STEPS));
    let int = |bg: &Background| bg.signal(libc::SIGINT);
    let finish = |bg: Background, what: &str| -> String {
        let (code, out, err) = bg.finish(Duration::from_secs(30));
        assert_eq!(code, 130, "Ctrl-C {what}: exit {code}\n{out}\n{err}");
        assert!(out.contains("INTERRUPTED"), "{what}: {out}");
        assert!(
            err.contains("interrupted; stopped what it had started"),
            "{what}: {err}"
        );
        out
    };

    // 1. At once, while labctl connects and prepares the hosts.
    let mut bg = t.start("runs1", &["--step", "S.3"]);
    bg.wait_for("run directory", Duration::from_secs(30));
    int(&bg);
    finish(bg, "while connecting");
    assert_nothing_left(&t.bench);
    assert_kept(&t.run_dir("runs1"), "interrupted", &[]);

    // 2. During a long expectation, with a server and a client running.
    let mut bg = t.start("runs2", &["--step", "S.3"]);
    bg.wait_for("START  S.3", Duration::from_secs(60));
    int(&bg);
    let out = finish(bg, "during a wait");
    assert!(out.contains("INTR  S.3"), "{out}");
    assert!(
        out.contains("stopped `server`") && out.contains("stopped `client`"),
        "{out}"
    );
    assert_nothing_left(&t.bench);
    assert_s3_ended(&t.run_dir("runs2"), "interrupted");

    // 3. In the middle of a slow send: the first line is out, the next 20 s away.
    let bg = t.start("runs3", &["--step", "S.4"]);
    wait_host_file(&t.bench, "B", "client.out", "Sent: one");
    int(&bg);
    let out = finish(bg, "during a send");
    assert!(out.contains("INTR  S.4"), "{out}");
    assert_nothing_left(&t.bench);
    let dir = t.run_dir("runs3");
    assert_kept(&dir, "interrupted", &[("B-client.out", "Server> ONE")]);
    let sent = std::fs::read_to_string(dir.join("B-client.in")).unwrap();
    assert!(sent.contains(" one") && !sent.contains(" two"), "{sent}");

    // 4. While a foreground program runs (its timeout is a minute away).
    let bg = t.start("runs4", &["--step", "S.5"]);
    wait_host_file(&t.bench, "A", ".out", "UDP server started");
    int(&bg);
    let out = finish(bg, "during a foreground program");
    assert!(out.contains("INTR  S.5"), "{out}");
    assert!(
        !out.contains("still running after"),
        "an interruption, not a timeout: {out}"
    );
    assert_nothing_left(&t.bench);
    assert_kept(
        &t.run_dir("runs4"),
        "interrupted",
        &[("A-S.5-udp_server.out", "UDP server started")],
    );

    // 5. Twice: labctl ends at once; the hosts' watchdogs stop the programs.
    let mut bg = t.start("runs5", &["--step", "S.3"]);
    bg.wait_for("START  S.3", Duration::from_secs(60));
    int(&bg);
    int(&bg);
    let (code, out, err) = bg.finish(Duration::from_secs(30));
    assert_eq!(code, 130, "{out}\n{err}");
    assert_nothing_left(&t.bench);
    let dir = t.run_dir("runs5");
    assert!(std::fs::read_to_string(dir.join("A-server.out"))
        .unwrap()
        .contains("> before"));
    t.labctl(&["clean"])
        .assert_success()
        .assert_stdout_contains("✔ A  nothing labctl started is running");
}

#[test]
fn after_sigkill_clean_stops_what_the_hosts_could_not() {
    let t = setup("sigkill", &long_wait());
    let mut bg = t.start("runs", &[]);
    bg.wait_for("START  S.3", Duration::from_secs(60));
    // Freeze both hosts' agents, so their watchdogs cannot act, then kill labctl.
    let agents = [agent_pid(&t.bench, "A"), agent_pid(&t.bench, "B")];
    for a in agents {
        // SAFETY: kill(2) on labctl's agents on this test's own bench.
        unsafe { libc::kill(a, libc::SIGSTOP) };
    }
    bg.signal(libc::SIGKILL);
    let (code, _, _) = bg.finish(Duration::from_secs(30));
    assert_eq!(code, 128 + libc::SIGKILL);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        registered(&t.bench).len(),
        2,
        "the server and the client are left running"
    );

    let out = t.labctl(&["clean"]);
    for a in agents {
        // SAFETY: as above; the agents read end-of-input and exit.
        unsafe { libc::kill(a, libc::SIGCONT) };
    }
    out.assert_success()
        .assert_stdout_contains("✔ A  stopped `server` (step S.2, run ")
        .assert_stdout_contains("✔ B  stopped `client` (step S.2, run ");
    assert_nothing_left(&t.bench);
    // What the killed run gathered before it died is in its run directory.
    let dir = t.run_dir("runs");
    let steps = json_lines(&dir.join("steps.jsonl"));
    assert_eq!(steps.len(), 2, "S.1 and S.2 finished: {steps:#?}");
    assert!(std::fs::read_to_string(dir.join("B-client.out"))
        .unwrap()
        .contains("Server> BEFORE"));
    assert!(std::fs::read_to_string(dir.join("report.md"))
        .unwrap()
        .contains("Server> BEFORE"));
    // The agents are gone too.
    let deadline = Instant::now() + Duration::from_secs(10);
    while agents.iter().any(|a| alive(*a as u32)) {
        assert!(Instant::now() < deadline, "the agents ended after SIGCONT");
        std::thread::sleep(Duration::from_millis(50));
    }
}
