//! Unkind hosts, on the virtual bench: `check` says ready only when `run`
//! can work. A read-only workdir and a full disk (a test-created read-only
//! bind mount and a full tmpfs that a host's workdir points into) are named
//! with their whole reason; the lab port is the lab file's (a listener on
//! the lab's port 6000 fails, one on 50000 does not), and a socket in
//! TIME_WAIT that makes the server's bind fail is found, while one that
//! does not (left by a socket with SO_REUSEADDR, as the lab's servers set
//! it) is not blamed.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{hosts_copy, install_programs, labctl, workdir, Scratch, TestBench};

/// A mount the test made in a host's mount namespace (its sshd's, which
/// every login shares; `ip netns exec` gave it its own), undone on drop.
struct Mount(u32, PathBuf);

/// `nsenter -t PID -m ARGS…`: a command in the mount namespace of `pid`.
fn in_mounts(pid: u32, args: &[&str]) -> std::process::Output {
    let o = Command::new("nsenter")
        .args(["-t", &pid.to_string(), "-m"])
        .args(args)
        .output()
        .unwrap();
    o
}

impl Mount {
    fn new(pid: u32, args: &[&str], at: &Path) -> Mount {
        std::fs::create_dir_all(at).unwrap();
        let mut all = vec!["mount"];
        all.extend(args);
        all.push(at.to_str().unwrap());
        let o = in_mounts(pid, &all);
        assert!(o.status.success(), "mount {args:?}: {o:?}");
        Mount(pid, at.to_path_buf())
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = in_mounts(self.0, &["umount", "-l", self.1.to_str().unwrap()]);
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to.parent().unwrap()).unwrap();
    let o = Command::new("cp")
        .arg("-a")
        .arg(from)
        .arg(to)
        .output()
        .unwrap();
    assert!(o.status.success(), "{o:?}");
}

/// The hosts file of `bench` with `host`'s workdir at `to`.
fn with_workdir(bench: &TestBench, name: &str, moves: &[(&str, &Path)]) -> PathBuf {
    hosts_copy(bench, name, |mut text| {
        for (host, to) in moves {
            let from = format!("{:?}", workdir(bench, host).display().to_string());
            assert!(text.contains(&from), "{from} in {text}");
            text = text.replace(&from, &format!("{:?}", to.display().to_string()));
        }
        text
    })
}

#[test]
fn a_read_only_workdir_and_a_full_disk_are_not_ready_and_named() {
    // Root hosts: the test points workdirs at mounts by this machine's paths,
    // which a `pi` host (its own /home) sees under other names.
    let bench = TestBench::root();
    install_programs(&bench);
    let s = Scratch::new("hostile-disk");
    // B: a read-only bind mount; C: a 1 MiB tmpfs, filled. Each in the
    // host's own mount namespace.
    let (b, c) = (bench.sshd_pid("B"), bench.sshd_pid("C"));
    // The programs are there (copied from A's workdir), so only the disk fails.
    let src_bin = workdir(&bench, "A").join("bin");
    let ro = s.path("ro");
    let ro_s = ro.to_str().unwrap();
    copy_dir(&src_bin, &ro.join("bin"));
    let _ro = Mount::new(b, &["--bind", ro_s], &ro);
    let o = in_mounts(b, &["mount", "-o", "remount,bind,ro", ro_s]);
    assert!(o.status.success(), "{o:?}");
    let full = s.path("full");
    let _full = Mount::new(c, &["-t", "tmpfs", "-o", "size=64m", "tmpfs"], &full);
    let o = in_mounts(
        c,
        &[
            "cp",
            "-a",
            src_bin.to_str().unwrap(),
            full.to_str().unwrap(),
        ],
    );
    assert!(o.status.success(), "{o:?}");
    let fill = format!("of={}", full.join("fill").display());
    let o = in_mounts(c, &["dd", "if=/dev/zero", "bs=64k", &fill]);
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("No space left"),
        "{o:?}"
    );
    let hosts = with_workdir(&bench, "disk.toml", &[("B", &ro), ("C", &full)]);
    let home = s.path("home");
    std::fs::create_dir_all(&home).unwrap();
    // A lab with no server: the lab-port row plays no part here (a `--lab`
    // that is not there is an input error, not "no lab file").
    let lab = s.write(
        "lab.toml",
        "[lab]\nname = \"x\"\n[[step]]\nid = \"S.1\"\ntitle = \"t\"\nhosts = [\"A\"]\ndo = [{ configure = true }]\n",
    );
    let out = labctl(&hosts, &lab, &home, &["check"]);
    out.assert_status(1)
        .assert_stdout_contains(&format!(
            "✘ B workdir: read-only file system on host `B` (workdir {}): ",
            ro.display()
        ))
        .assert_stdout_contains(&format!(
            "✘ C workdir: no space left on device on host `C` (workdir {})",
            full.display()
        ))
        .assert_stdout_lacks("✘ A workdir");
    // The whole reason: the shell's own words, not just the first line.
    out.assert_stdout_contains("Read-only file system");
    // `run` on those hosts fails naming the reason, never an empty one.
    for (h, why) in [
        ("B", "ead-only file system"),
        ("C", "o space left on device"),
    ] {
        let lab_h = s.write(
            &format!("one-{h}.toml"),
            &ONE_STEP.replace("\"B\"", &format!("{h:?}")),
        );
        let out = labctl(
            &hosts,
            &lab_h,
            &home,
            &["run", "--out", s.path("runs").to_str().unwrap()],
        );
        assert_ne!(out.status, 0, "{out}");
        let all = format!("{}{}", out.stdout, out.stderr);
        assert!(all.contains(why), "host {h}: {why}\n{out}");
        assert!(
            !all.contains(": \n") && !all.trim_end().ends_with(':'),
            "{out}"
        );
    }
}

/// One program on B.
const ONE_STEP: &str = r#"
[lab]
name = "one"
[[step]]
id = "O.1"
title = "a server"
hosts = ["B"]
do = [
  { start = "s", on = "B", program = "tcp_server", args = ["--port", "6000"] },
  { expect = "s", match = "listening" },
]
"#;

/// A lab whose servers bind 6000 and 6002 on A and 6001/udp on B.
const LAB: &str = r#"
[lab]
name = "ports"
[vars]
port = 6000
[[step]]
id = "P.1"
title = "servers"
hosts = ["A"]
do = [
  { start = "s1", on = "A", program = "tcp_server", args = ["--port", "{port}"] },
  { start = "s2", on = "A", program = "tcp_threaded_server", args = ["--port=6002"] },
  { start = "s3", on = "B", program = "udp_server", args = ["--port", "6001"] },
  { start = "c", on = "C", program = "tcp_client", args = ["--server", "{A.addr}", "--port", "{port}"] },
]
"#;

/// Leaves a TCP connection in TIME_WAIT on A with local port `port`, from
/// a socket with or without SO_REUSEADDR (the side that closes first waits).
const TIME_WAIT_PY: &str = r#"
import socket, sys, time
port, reuse = int(sys.argv[1]), sys.argv[2] == "1"
srv = socket.socket()
if reuse:
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", port))
srv.listen()
c = socket.create_connection(("127.0.0.1", port))
a, _ = srv.accept()
a.close()
time.sleep(0.2)
c.close()
srv.close()
"#;

#[test]
fn check_probes_the_lab_files_ports_and_a_time_wait_that_blocks_a_bind() {
    let bench = TestBench::up();
    install_programs(&bench);
    let s = Scratch::new("hostile-ports");
    let home = s.path("home");
    std::fs::create_dir_all(&home).unwrap();
    let lab = s.write("ports.toml", LAB);
    let py = s.write("tw.py", TIME_WAIT_PY);
    // Free ports: the lab's ports are named, 50000 is not.
    let out = labctl(bench.hosts_file(), &lab, &home, &["check", "--json"]);
    let v: serde_json::Value =
        serde_json::from_str(out.stdout.lines().last().unwrap_or("")).expect("json");
    let port_row = |v: &serde_json::Value, h: usize| -> serde_json::Value {
        v["benches"][0]["hosts"][h]["checks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["check"] == "lab port")
            .unwrap()
            .clone()
    };
    assert_eq!(port_row(&v, 0)["status"], "pass", "{out}");
    assert_eq!(
        port_row(&v, 0)["detail"],
        "nothing holds 6000/tcp, 6002/tcp",
        "{out}"
    );
    assert_eq!(port_row(&v, 1)["detail"], "nothing holds 6001/udp", "{out}");
    assert_eq!(
        port_row(&v, 2)["detail"],
        "no server of the lab runs here",
        "{out}"
    );

    // A listener on 50000 is none of this lab's business; one on 6001/udp is.
    let bin = workdir(&bench, "A").join("bin");
    let mut guards = Vec::new();
    for (h, cmd) in [
        ("A", format!("{}/tcp_server --port 50000", bin.display())),
        ("B", format!("{}/udp_server --port 6001", bin.display())),
    ] {
        let o = bench.exec_in(
            h,
            &format!("setsid {cmd} </dev/null >/dev/null 2>&1 & echo $!"),
        );
        let pid: i32 = String::from_utf8_lossy(&o.stdout).trim().parse().unwrap();
        guards.push(Killed(pid));
    }
    // The TIME_WAITs: 6000 without SO_REUSEADDR (blocks), 6002 with (does not).
    for (port, reuse) in [("6000", "0"), ("6002", "1")] {
        let o = bench.exec_in(
            "A",
            &format!("ip link set lo up; python3 {} {port} {reuse}", py.display()),
        );
        assert!(o.status.success(), "{o:?}");
    }
    let out = labctl(bench.hosts_file(), &lab, &home, &["check"]);
    out.assert_status(1)
        .assert_stdout_contains("✘ A lab port: a server cannot bind port 6000/tcp: TIME-WAIT")
        .assert_stdout_contains("✘ B lab port: port 6001/udp is in use: udp")
        .assert_stdout_contains("`udp_server` (pid");
    let a = out
        .stdout
        .lines()
        .find(|l| l.contains("✘ A lab port"))
        .unwrap();
    assert!(!a.contains("6002") && !a.contains("50000"), "{a}");
}

/// Kills a process the test started, on drop.
struct Killed(i32);

impl Drop for Killed {
    fn drop(&mut self) {
        // SAFETY: kill(2) on a pid this test started.
        unsafe { libc::kill(self.0, libc::SIGKILL) };
    }
}

/// A stand-in put where `udp_client` is deployed: one line of 10 MB, then
/// 100 MB of output in lines of 100 bytes.
const LOUD: &str = r#"#!/bin/sh
case $1 in
  wide) head -c 10000000 /dev/zero | tr '\0' w; echo; echo end ;;
  much) yes 'mmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmm' | head -n 1000000; echo end ;;
esac
"#;

const LOUD_LAB: &str = r#"
[lab]
name = "loud"
[[step]]
id = "L.1"
title = "a line of 10 MB"
hosts = ["A"]
do = [
  { start = "wide", on = "A", program = "udp_client", args = ["wide"] },
  { expect = "wide", match = "^end$", within = "120s" },
]
[[step]]
id = "L.2"
title = "100 MB of output"
hosts = ["A"]
do = [
  { start = "much", on = "A", program = "udp_client", args = ["much"] },
  { expect = "much", match = "^end$", within = "300s" },
  { expect = "much", exit = 0, within = "10s" },
]
"#;

/// labctl's memory stays under 64 MB whatever the programs print (GNU
/// `time -v`'s maximum resident set size, a generous ceiling, not a
/// timing); the run directory has every line, the reports a bounded part.
#[test]
fn labctl_stays_under_64_mb_whatever_the_programs_print() {
    let bench = TestBench::up();
    install_programs(&bench);
    std::fs::write(workdir(&bench, "A").join("bin/udp_client"), LOUD).unwrap();
    let s = Scratch::new("hostile-loud");
    let lab = s.write("loud.toml", LOUD_LAB);
    let home = s.path("home");
    std::fs::create_dir_all(&home).unwrap();
    let runs = s.path("runs");
    let out = Command::new("/usr/bin/time")
        .arg("-v")
        .arg(common::labctl_bin())
        .arg("--hosts")
        .arg(bench.hosts_file())
        .arg("--lab")
        .arg(&lab)
        .args(["run", "--out"])
        .arg(&runs)
        .env("HOME", &home)
        .env("LABCTL_SSH_CONFIG", "/dev/null")
        .current_dir(&home)
        .output()
        .unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(out.status.success(), "{stdout}\n{stderr}");
    let rss_kb: u64 = stderr
        .lines()
        .find_map(|l| {
            l.trim()
                .strip_prefix("Maximum resident set size (kbytes): ")
        })
        .expect("time -v's maximum resident set size")
        .trim()
        .parse()
        .unwrap();
    eprintln!("labctl's maximum resident set size: {} MB", rss_kb / 1024);
    assert!(rss_kb < 64 * 1024, "{rss_kb} kB\n{stdout}");
    // The terminal saw no 10 MB line.
    assert!(stdout.len() < 100_000, "{} bytes on stdout", stdout.len());
    let dir = common::run_dir(&runs);
    let size = |f: &str| std::fs::metadata(dir.join(f)).unwrap().len();
    eprintln!(
        "report.html {} kB, events.jsonl {} kB, A-much.out {} MB",
        size("report.html") / 1024,
        size("events.jsonl") / 1024,
        size("A-much.out") >> 20
    );
    assert!(
        size("report.html") < 4 << 20,
        "report.html: {}",
        size("report.html")
    );
    assert!(
        size("report.md") < 4 << 20,
        "report.md: {}",
        size("report.md")
    );
    // The run directory's files have every line: the wide line as far as
    // the stream carries it (4 MiB; the host's file has it all), all of the rest.
    let wide = std::fs::read_to_string(dir.join("A-wide.out")).unwrap();
    assert!(wide.lines().next().unwrap().len() > 4_000_000);
    assert!(wide.lines().any(|l| l.ends_with(" end")));
    let much = std::fs::read_to_string(dir.join("A-much.out")).unwrap();
    assert_eq!(much.lines().count(), 1_000_001);
    let html = std::fs::read_to_string(dir.join("report.html")).unwrap();
    assert!(
        html.contains("all of it is in A-much.out"),
        "the report points to the file"
    );
}

/// `{LINES}`: the lines sent to the client; `{WIDE}` to the server, which
/// never reads its stdin.
const SEND_LAB: &str = r#"
[lab]
name = "send"
[[step]]
id = "N.1"
title = "addresses"
hosts = ["A", "B"]
do = [{ configure = true }]
[[step]]
id = "N.2"
title = "twenty thousand lines"
hosts = ["A", "B"]
needs = ["N.1"]
do = [
  { start = "server", on = "A", program = "tcp_server", args = ["--port", "6100"] },
  { expect = "server", match = "listening" },
  { start = "client", on = "B", program = "tcp_client", args = ["--server", "{A.addr}", "--port", "6100"] },
  { expect = "client", match = "^Connected" },
  { send = "client", lines = [{LINES}] },
  { expect = "client", match = "^Server> LINE 20000$", within = "120s" },
]
[[step]]
id = "N.3"
title = "a send nobody reads"
hosts = ["A"]
needs = ["N.2"]
do = [
  { send = "server", lines = [{WIDE}] },
]
"#;

/// A `send` of 20,000 lines completes; a send into a program that never
/// reads fails cleanly (stopped after its time, the message short), and
/// nothing of the run is left on the hosts.
#[test]
fn a_send_of_any_size_completes_or_fails_cleanly_and_leaves_nothing() {
    let bench = TestBench::up();
    install_programs(&bench);
    let s = Scratch::new("hostile-send");
    let home = s.path("home");
    std::fs::create_dir_all(&home).unwrap();
    let lines: Vec<String> = (1..=20_000).map(|i| format!("\"line {i}\"")).collect();
    let wide: Vec<String> = (0..200)
        .map(|_| format!("\"{}\"", "w".repeat(1000)))
        .collect();
    let text = SEND_LAB
        .replace("{LINES}", &lines.join(", "))
        .replace("{WIDE}", &wide.join(", "));
    let lab = s.write("send.toml", &text);
    let runs = s.path("runs");
    let out = labctl(
        bench.hosts_file(),
        &lab,
        &home,
        &["run", "--out", runs.to_str().unwrap()],
    );
    // N.2 passed: every line went out and came back.
    out.assert_stdout_contains("/^Server> LINE 20000$/");
    let dir = common::run_dir(&runs);
    let sent = std::fs::read_to_string(dir.join("B-client.in")).unwrap();
    assert_eq!(sent.lines().count(), 20_000);
    // N.3 failed cleanly: a short message, exit not 0, nothing left.
    assert_ne!(out.status, 0, "{out}");
    let all = format!("{}{}", out.stdout, out.stderr);
    assert!(all.contains("was stopped"), "{out}");
    assert!(all.lines().all(|l| l.len() < 2000), "no huge line: {out}");
    common::assert_nothing_left(&bench);
    let clean = Command::new(common::labctl_bin())
        .arg("--hosts")
        .arg(bench.hosts_file())
        .arg("clean")
        .env("HOME", &home)
        .env("LABCTL_SSH_CONFIG", "/dev/null")
        .output()
        .unwrap();
    assert!(clean.status.success(), "{clean:?}");
    common::assert_nothing_left(&bench);
}

/// labctl killed (SIGKILL) while a send into a program that never reads
/// blocks the host's run shell on its FIFO: `clean` ends that shell too.
#[test]
fn clean_ends_a_run_shell_a_killed_labctl_left_blocked_in_a_send() {
    // Root hosts: the blocked shell is found by its working directory as this
    // machine names it, which a `pi` host (its own /home) names otherwise.
    let bench = TestBench::root();
    install_programs(&bench);
    let s = Scratch::new("hostile-send-kill");
    let home = s.path("home");
    std::fs::create_dir_all(&home).unwrap();
    let wide: Vec<String> = (0..200)
        .map(|_| format!("\"{}\"", "w".repeat(1000)))
        .collect();
    let text = SEND_LAB
        .replace("{LINES}", "\"line 20000\"")
        .replace("{WIDE}", &wide.join(", "));
    let lab = s.write("send.toml", &text);
    let args: Vec<std::ffi::OsString> = vec![
        "--hosts".into(),
        bench.hosts_file().into(),
        "--lab".into(),
        lab.into(),
        "run".into(),
        "--out".into(),
        s.path("runs").into(),
    ];
    let mut bg = common::Background::start(&args, &home, &[]);
    bg.wait_for("START  N.3", std::time::Duration::from_secs(60));
    std::thread::sleep(std::time::Duration::from_secs(2));
    bg.signal(libc::SIGKILL);
    let _ = bg.finish(std::time::Duration::from_secs(10));
    let wd = workdir(&bench, "A").display().to_string();
    let agents = || -> Vec<u32> {
        std::fs::read_dir("/proc")
            .unwrap()
            .flatten()
            .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
            .filter(|pid| {
                let c = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
                let c = String::from_utf8_lossy(&c);
                c.contains("lc_agent") && c.contains(&wd)
            })
            .collect()
    };
    // The run shell is still there, blocked (what the issue saw).
    std::thread::sleep(std::time::Duration::from_secs(1));
    assert!(
        !agents().is_empty(),
        "the blocked run shell is there before clean"
    );
    let clean = Command::new(common::labctl_bin())
        .arg("--hosts")
        .arg(bench.hosts_file())
        .arg("clean")
        .env("HOME", &home)
        .env("LABCTL_SSH_CONFIG", "/dev/null")
        .output()
        .unwrap();
    assert!(clean.status.success(), "{clean:?}");
    std::thread::sleep(std::time::Duration::from_millis(500));
    assert_eq!(agents(), Vec::<u32>::new(), "clean ended the run shell");
    common::assert_nothing_left(&bench);
}
