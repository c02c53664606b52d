//! A student's leftovers on the virtual bench (real sshds): a program
//! labctl did not start holding the lab port, TCP or UDP. `check` names it
//! with its protocol, process, pid and user (a TCP listener is not a UDP
//! one); `run` refuses in the same words before changing anything (exit 1,
//! no run directory, no address, nothing started). `reset` lists, then
//! stops, the login's leftovers (on the lab's ports, or named as the lab's
//! programs) and removes the lab address, leaving another user's process
//! alone; `--dry-run` only lists.

mod common;

use std::time::{Duration, Instant};

use common::{
    assert_nothing_left, install_programs, registered, Labctl, RunOutput, Scratch, TestBench,
};

use common::seed_lab;

fn labctl(bench: &TestBench, args: &[&str]) -> RunOutput {
    Labctl::new()
        .hosts(bench.hosts_file())
        .arg("--lab")
        .arg(seed_lab())
        .args(args)
        .timeout(Duration::from_secs(120))
        .run()
}

/// Starts `cmd` on `host` as its login (`pi`), in the background, detached
/// from the SSH session as a student's forgotten program is; returns its pid
/// once something of `proto` listens on port 50000 there.
fn leave_running(bench: &TestBench, host: &str, cmd: &str, proto: &str) -> u32 {
    let out = bench
        .ssh(
            host,
            &format!("setsid {cmd} >/dev/null 2>&1 </dev/null & echo $!"),
        )
        .output()
        .unwrap();
    let pid: u32 = String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("{out:?}"));
    let flag = if proto == "tcp" { "-ltnH" } else { "-lunH" };
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let ss = bench.exec_in(host, &format!("ss {flag} 'sport = :50000'"));
        if !String::from_utf8_lossy(&ss.stdout).trim().is_empty() {
            return pid;
        }
        assert!(Instant::now() < deadline, "{cmd} never bound 50000/{proto}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `check` names the program on `proto` and only there; `run` refuses in
/// the same words, changing nothing.
#[track_caller]
fn named_and_refused(bench: &TestBench, s: &Scratch, pid: u32, proto: &str, other: &str) {
    let said = format!(
        "port 50000/{proto} is in use: {proto} 0.0.0.0:50000 by `python3` (pid {pid}, user pi)"
    );
    let check = labctl(bench, &["check"]);
    check
        .assert_status(1)
        .assert_stdout_contains(&format!("✘ A lab port: {said}"))
        .assert_stdout_contains(&format!("kill {pid}"))
        .assert_stdout_lacks(&format!("port 50000/{other} is in use"));
    let out = s.path(&format!("runs-{proto}"));
    let run = labctl(bench, &["run", "--out", out.to_str().unwrap()]);
    run.assert_status(1)
        .assert_stderr_contains(&format!("host `A`: lab port: {said}; nothing was changed"))
        .assert_stderr_contains(&format!("kill {pid}"));
    assert!(!run.stdout.contains("START"), "no step ran:\n{run}");
    let left: Vec<_> = std::fs::read_dir(&out)
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "the refused run left {left:?}");
    // Nothing changed on the hosts: no lab address given, nothing started.
    let addr = bench.exec_in("A", "ip -o -4 addr show");
    assert!(
        !String::from_utf8_lossy(&addr.stdout).contains("10.0.3.1"),
        "{addr:?}"
    );
    assert!(registered(bench).is_empty(), "{:?}", registered(bench));
}

#[test]
fn a_foreign_tcp_listener_and_a_foreign_udp_socket_on_the_lab_port_are_named_and_refuse_the_run() {
    let bench = TestBench::up();
    let s = Scratch::new("leftovers-ports");
    let tcp = leave_running(
        &bench,
        "A",
        "python3 -m http.server --bind 0.0.0.0 50000",
        "tcp",
    );
    named_and_refused(&bench, &s, tcp, "tcp", "udp");
    bench.ssh("A", &format!("kill {tcp}")).status().unwrap();
    let udp = leave_running(
        &bench,
        "A",
        "python3 -c 'import socket,time; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind((\"0.0.0.0\", 50000)); time.sleep(600)'",
        "udp",
    );
    named_and_refused(&bench, &s, udp, "udp", "tcp");
    bench.ssh("A", &format!("kill {udp}")).status().unwrap();
    // Free again, the lab runs.
    let out = s.path("runs-ok");
    labctl(
        &bench,
        &["run", "--step", "I.6", "--out", out.to_str().unwrap()],
    )
    .assert_status(0);
    assert_nothing_left(&bench);
}

/// Whether process `pid` runs (and is not a zombie), seen from `host`'s namespace.
fn running(bench: &TestBench, host: &str, pid: u32) -> bool {
    let st = bench.exec_in(host, &format!("kill -0 {pid}"));
    st.status.success() && labctl::testbed::proc::alive(pid)
}

fn has_lab_address(bench: &TestBench) -> bool {
    let addr = bench.exec_in("A", "ip -o -4 addr show dev eth0");
    String::from_utf8_lossy(&addr.stdout).contains("10.0.3.1/24")
}

#[test]
fn reset_lists_then_stops_a_students_leftovers_removes_the_address_and_leaves_another_users_process(
) {
    let bench = TestBench::up();
    install_programs(&bench);
    let s = Scratch::new("leftovers-reset");
    // The last section: A's lab address (labctl configured it), a student's
    // server on the lab port, a lab program left running, and root's program.
    let out = s.path("runs");
    labctl(
        &bench,
        &["run", "--step", "I.1", "--out", out.to_str().unwrap()],
    )
    .assert_status(0);
    assert!(has_lab_address(&bench));
    let web = leave_running(
        &bench,
        "A",
        "python3 -m http.server --bind 0.0.0.0 50000",
        "tcp",
    );
    let client = {
        let o = bench
            .ssh("A", "setsid /home/pi/labctl/bin/tcp_server --port 50001 >/dev/null 2>&1 </dev/null & echo $!")
            .output()
            .unwrap();
        String::from_utf8_lossy(&o.stdout)
            .trim()
            .parse::<u32>()
            .unwrap()
    };
    // As root, in A's namespaces (its sshd's: where /home/pi is A's).
    let roots = {
        let o = std::process::Command::new("nsenter")
            .args(["-t", &bench.sshd_pid("A").to_string(), "-m", "-n", "sh", "-c"])
            .arg("setsid /home/pi/labctl/bin/tcp_server --port 50002 >/dev/null 2>&1 </dev/null & echo $!")
            .output()
            .unwrap();
        String::from_utf8_lossy(&o.stdout)
            .trim()
            .parse::<u32>()
            .unwrap()
    };
    std::thread::sleep(Duration::from_millis(300));
    for p in [web, client, roots] {
        assert!(running(&bench, "A", p), "{p} runs");
    }
    // --dry-run lists, and changes nothing.
    let dry = labctl(&bench, &["reset", "--dry-run"]);
    dry.assert_status(0)
        .assert_stdout_contains("dry run: nothing is stopped or removed")
        .assert_stdout_contains(&format!(
            "A  stop   pid {web}  pi  python3 -m http.server --bind 0.0.0.0 50000  (holds 50000/tcp)"
        ))
        .assert_stdout_contains(&format!(
            "A  stop   pid {client}  pi  /home/pi/labctl/bin/tcp_server --port 50001  (runs `tcp_server`)"
        ))
        .assert_stdout_contains(&format!("A  leave  pid {roots}  root  "))
        .assert_stdout_contains("(runs `tcp_server`; root's: left alone)")
        .assert_stdout_contains("A  remove 10.0.3.1/24 from eth0")
        .assert_stdout_contains("A  would: stop 2 programs; remove 10.0.3.1/24");
    for p in [web, client, roots] {
        assert!(running(&bench, "A", p), "the dry run left {p} running");
    }
    assert!(has_lab_address(&bench), "the dry run left the address");
    // The reset: listed first, then done.
    let reset = labctl(&bench, &["reset"]);
    reset
        .assert_status(0)
        .assert_stdout_contains(&format!("A  stop   pid {web}  pi  "))
        .assert_stdout_contains("✔ A  stopped 2 programs; removed 10.0.3.1/24 from eth0")
        .assert_stdout_contains("✔ B  nothing to reset")
        .assert_stdout_lacks("B  stop ");
    let listed = reset.stdout.find(&format!("pid {web}")).unwrap();
    let done = reset.stdout.find("✔ A  stopped").unwrap();
    assert!(listed < done, "listed before it acts:\n{reset}");
    assert!(
        !running(&bench, "A", web),
        "the student's server is stopped"
    );
    assert!(!running(&bench, "A", client), "the lab program is stopped");
    assert!(running(&bench, "A", roots), "root's process is left alone");
    assert!(!has_lab_address(&bench), "the lab address is gone");
    // As `check` expects before a lab: nothing on the lab's ports.
    labctl(&bench, &["check"]).assert_stdout_contains("lab port   ✔");
    bench.exec_in("A", &format!("kill {roots}"));
    assert_nothing_left(&bench);
}
