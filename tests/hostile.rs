//! An unkind classroom, on the virtual bench: labctl's stdout closed by
//! `| head -1`, its terminal closed mid-run (SIGHUP, and a vanished
//! terminal with SIGHUP blocked by the parent), and text from the lab file
//! and the hosts carrying HTML and terminal control bytes.
//!
//! Each time the record of the run is finished: the programs are stopped
//! (nothing left on the hosts), the capture is fetched, report.md and
//! run.json are written and run.json is not "pending"; the exit code says
//! what happened (0 only when every expectation passed), and no panic.
//! The hostile text is inert: no raw `<script>`, ESC or NUL in report.md,
//! report.html or on the terminal. And hosts offering two host keys (ed25519
//! and RSA) are recognised by the one known_hosts has, as OpenSSH does.

mod common;

use std::ffi::OsString;
use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{
    assert_nothing_left, b_waits, install_programs, labctl, labctl_bin, run_dir, with_known_hosts,
    Background, ExchangeLab, Scratch, TestBench,
};

/// The lab: S.2 (titled `title`) captures on A and sends `line` through a
/// server on A and a client on B; S.3 waits `wait`.
fn lab(title: &str, line: &str, wait: &str) -> String {
    ExchangeLab::new("hostile")
        .title(title)
        .line(line, "^Server> ")
        .captured()
        .toml()
        + &b_waits("a wait", wait)
}

struct Setup {
    bench: TestBench,
    s: Scratch,
    home: PathBuf,
}

impl Setup {
    fn new(tag: &str) -> Setup {
        let bench = TestBench::up();
        install_programs(&bench);
        let s = Scratch::new(&format!("hostile-{tag}"));
        let home = s.path("home");
        std::fs::create_dir_all(&home).unwrap();
        Setup { bench, s, home }
    }

    /// `--hosts H --lab L run --out <scratch>/<out>` for a lab with `wait` in S.3.
    fn args(&self, out: &str, wait: &str, title: &str, line: &str) -> Vec<OsString> {
        let text = lab(title, line, wait);
        let lab = self.s.write(&format!("{out}.toml"), &text);
        vec![
            "--hosts".into(),
            self.bench.hosts_file().into(),
            "--lab".into(),
            lab.into(),
            "run".into(),
            "--out".into(),
            self.s.path(out).into(),
        ]
    }

    fn command(&self, program: &str) -> Command {
        let mut cmd = Command::new(program);
        cmd.env("HOME", &self.home)
            .env("LABCTL_SSH_CONFIG", "/dev/null")
            .current_dir(&self.home);
        cmd
    }
}

/// The record is finished: report.md and report.html, run.json with the
/// run's `outcome` (never "pending"), the capture fetched; nothing left on
/// the hosts.
#[track_caller]
fn assert_finished(t: &Setup, out: &str, outcome: &str) -> PathBuf {
    let dir = run_dir(&t.s.path(out));
    for f in ["report.md", "report.html", "run.json"] {
        assert!(dir.join(f).is_file(), "no {f} in {}", dir.display());
    }
    let run: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("run.json")).unwrap()).unwrap();
    assert_eq!(run["run"]["outcome"], outcome, "{}", run["run"]);
    let pcap = dir.join("A-cap-A.pcap");
    let names: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert!(pcap.is_file(), "capture `cap-A` not fetched: {names:?}");
    assert!(pcap.metadata().unwrap().len() > 24, "an empty capture");
    assert_nothing_left(&t.bench);
    dir
}

#[test]
fn run_piped_into_head_finishes_its_record_and_exits_by_its_outcome() {
    let t = Setup::new("head");
    // `labctl run … | head -1`, with labctl's own exit code on stderr.
    let pipe = |out: &str, wait: &str| {
        let mut cmd = t.command("bash");
        cmd.arg("-c")
            .arg(r#""$@" | head -1; echo "labctl exited ${PIPESTATUS[0]}" >&2"#)
            .arg("bash")
            .arg(labctl_bin())
            .args(t.args(out, wait, "a captured exchange", "hello"));
        let (code, stdout, stderr) = Background::spawn(cmd).finish(Duration::from_secs(180));
        assert_eq!(code, 0, "{stdout}\n{stderr}");
        assert_eq!(stdout.lines().count(), 1, "{stdout}");
        assert!(!stderr.contains("panicked"), "{stderr}");
        stderr
    };
    // Every expectation passes: exit 0, the whole record written.
    let err = pipe("pass", "1s");
    assert!(err.contains("labctl exited 0"), "{err}");
    assert_finished(&t, "pass", "passed");
    // An expectation fails (the client saw its own line): exit 1, not 0.
    let t2_args = t.args("fail", "1s", "x", "hello");
    let lab = PathBuf::from(&t2_args[3]);
    let text = std::fs::read_to_string(&lab).unwrap().replace(
        r#"absent = "nothing", for = "1s""#,
        r#"match = "never printed", within = "1s""#,
    );
    std::fs::write(&lab, text).unwrap();
    let mut cmd = t.command("bash");
    cmd.arg("-c")
        .arg(r#""$@" | head -1; echo "labctl exited ${PIPESTATUS[0]}" >&2"#)
        .arg("bash")
        .arg(labctl_bin())
        .args(&t2_args);
    let (_, stdout, err) = Background::spawn(cmd).finish(Duration::from_secs(180));
    assert!(err.contains("labctl exited 1"), "{stdout}\n{err}");
    assert!(!err.contains("panicked"), "{err}");
    assert_finished(&t, "fail", "failed");
}

/// `labctl check` and `labctl clean` into `| head -1` and into a reader
/// that closed before the first line (`| true`): no panic, and the exit
/// code is the one the command has on a terminal.
#[test]
fn check_and_clean_into_a_closed_pipe_exit_by_their_outcome() {
    let t = Setup::new("head-check");
    for cmd in ["check", "clean"] {
        let base = [
            "--hosts".into(),
            t.bench.hosts_file().as_os_str().to_owned(),
            OsString::from(cmd),
        ];
        let mut direct = t.command(labctl_bin());
        direct.args(&base);
        let (want, out, err) = Background::spawn(direct).finish(Duration::from_secs(120));
        assert!(out.lines().count() > 1, "{cmd}: {out}\n{err}");
        for reader in ["head -1", "true"] {
            let mut c = t.command("bash");
            c.arg("-c")
                .arg(format!(
                    r#""$@" | {reader}; echo "labctl exited ${{PIPESTATUS[0]}}" >&2"#
                ))
                .arg("bash")
                .arg(labctl_bin())
                .args(&base);
            let (_, stdout, stderr) = Background::spawn(c).finish(Duration::from_secs(120));
            assert!(!stderr.contains("panicked"), "{cmd} | {reader}: {stderr}");
            assert!(
                stderr.contains(&format!("labctl exited {want}")),
                "{cmd} | {reader}: want {want}\n{stdout}\n{stderr}"
            );
        }
    }
}

/// labctl on a fresh pseudo-terminal as its controlling terminal (its own
/// session), SIGHUP blocked when `block_hup`. Returns the master side.
fn spawn_on_pty(cmd: Command, block_hup: bool) -> (std::process::Child, OwnedFd) {
    spawn_on_pty_with(cmd, block_hup, None)
}

/// As [`spawn_on_pty`], stdout into `stdout` when given (stdin and stderr
/// on the terminal).
fn spawn_on_pty_with(
    mut cmd: Command,
    block_hup: bool,
    stdout: Option<std::fs::File>,
) -> (std::process::Child, OwnedFd) {
    // Plain text on the terminal, so the lines waited for read as written.
    cmd.env("NO_COLOR", "1");
    let (mut master, mut slave) = (0, 0);
    // SAFETY: openpty(3) fills two fds; null name/termios/winsize are allowed.
    let rc = unsafe {
        libc::openpty(
            &mut master,
            &mut slave,
            std::ptr::null_mut(),
            std::ptr::null(),
            std::ptr::null(),
        )
    };
    assert_eq!(rc, 0, "openpty");
    // openpty's fds are inherited across exec: labctl holding the master
    // would keep its own terminal open.
    for fd in [master, slave] {
        // SAFETY: fcntl(2) on the fds just opened.
        unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) };
    }
    // SAFETY: both fds were just opened by openpty and are owned here.
    let (master, slave) = unsafe { (OwnedFd::from_raw_fd(master), OwnedFd::from_raw_fd(slave)) };
    cmd.stdin(Stdio::from(slave.try_clone().unwrap()))
        .stdout(match stdout {
            Some(f) => Stdio::from(f),
            None => Stdio::from(slave.try_clone().unwrap()),
        })
        .stderr(Stdio::from(slave));
    // SAFETY: only async-signal-safe calls between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            libc::setsid();
            libc::ioctl(0, libc::TIOCSCTTY, 0);
            if block_hup {
                let mut set: libc::sigset_t = std::mem::zeroed();
                libc::sigemptyset(&mut set);
                libc::sigaddset(&mut set, libc::SIGHUP);
                libc::sigprocmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
            }
            Ok(())
        });
    }
    let child = cmd.spawn().unwrap();
    drop(cmd); // the parent's copies of the slave side
    (child, master)
}

/// Reads the terminal until `needle` shows (returns all read), within `within`.
fn read_until(master: &OwnedFd, needle: &str, within: Duration) -> String {
    use std::os::fd::AsRawFd;
    let deadline = Instant::now() + within;
    let mut seen = Vec::new();
    while Instant::now() < deadline {
        let mut p = libc::pollfd {
            fd: master.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd.
        if unsafe { libc::poll(&mut p, 1, 100) } <= 0 {
            continue;
        }
        let mut buf = [0u8; 4096];
        // SAFETY: reads into a local buffer of its length.
        let n = unsafe { libc::read(master.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
        if n <= 0 {
            break;
        }
        seen.extend_from_slice(&buf[..n as usize]);
        if String::from_utf8_lossy(&seen).contains(needle) {
            return String::from_utf8_lossy(&seen).into_owned();
        }
    }
    panic!(
        "no {needle:?} on the terminal; saw:\n{}",
        String::from_utf8_lossy(&seen)
    );
}

/// `child`'s exit code (or 128 + signal) once it ends within `within`;
/// `None`, with the child killed, when it does not.
fn ended_within(child: &mut std::process::Child, within: Duration) -> Option<i32> {
    let deadline = Instant::now() + within;
    loop {
        if let Some(st) = child.try_wait().unwrap() {
            return Some(
                std::os::unix::process::ExitStatusExt::signal(&st)
                    .map_or_else(|| st.code().unwrap_or(-1), |s| 128 + s),
            );
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Waits for `child` to end (exit code, or 128 + signal); on a timeout,
/// shows the end of the run's events (its run directory is under `out`).
fn wait_code(mut child: std::process::Child, within: Duration, out: &std::path::Path) -> i32 {
    ended_within(&mut child, within).unwrap_or_else(|| {
        let events = std::fs::read_to_string(run_dir(out).join("events.jsonl")).unwrap();
        let tail: Vec<&str> = events.lines().rev().take(4).collect();
        panic!(
            "labctl did not end within {within:?} after its terminal closed:\n{}",
            tail.join("\n")
        )
    })
}

#[test]
fn a_closed_terminal_stops_the_run_as_ctrl_c_and_finishes_its_record() {
    let t = Setup::new("hup");
    let mut cmd = t.command(labctl_bin());
    cmd.args(t.args("hup", "60s", "a captured exchange", "hello"));
    let (child, master) = spawn_on_pty(cmd, false);
    read_until(&master, "START  S.3", Duration::from_secs(120));
    drop(master); // the terminal window closes: SIGHUP, then EIO on every write
    let code = wait_code(child, Duration::from_secs(60), &t.s.path("hup"));
    assert_eq!(code, 130, "stopped as on Ctrl-C");
    assert_finished(&t, "hup", "interrupted");
}

#[test]
fn a_vanished_terminal_with_sighup_blocked_lets_the_run_finish_silently() {
    let t = Setup::new("hup-blocked");
    let mut cmd = t.command(labctl_bin());
    cmd.args(t.args("blocked", "5s", "a captured exchange", "hello"));
    let (child, master) = spawn_on_pty(cmd, true);
    read_until(&master, "START  S.3", Duration::from_secs(120));
    drop(master);
    // No SIGHUP reaches labctl: the run goes on, its output discarded, and
    // ends as the lab says (every expectation passes).
    let code = wait_code(child, Duration::from_secs(120), &t.s.path("blocked"));
    assert_eq!(code, 0);
    assert_finished(&t, "blocked", "passed");
}

/// Waits for `child` to end (exit code, or 128 + signal) within `within`.
fn wait_exit(mut child: std::process::Child, within: Duration, what: &str) -> i32 {
    ended_within(&mut child, within)
        .unwrap_or_else(|| panic!("{what} did not end within {within:?} after its terminal closed"))
}

/// A host's sshd stopped (SIGSTOP): a connection to it waits for its
/// greeting, so the command's spinners go on drawing; continued when dropped.
struct Frozen(i32);

impl Frozen {
    fn sshd(bench: &TestBench, host: &str) -> Frozen {
        let pid = bench.sshd_pid(host) as i32;
        // SAFETY: kill(2) on this test's own bench's sshd.
        unsafe { libc::kill(pid, libc::SIGSTOP) };
        Frozen(pid)
    }
}

impl Drop for Frozen {
    fn drop(&mut self) {
        // SAFETY: as above.
        unsafe { libc::kill(self.0, libc::SIGCONT) };
    }
}

/// `check` or `deploy` (`args`, after `--hosts`) on a terminal that
/// vanishes while its spinners draw (SIGHUP blocked, as a vanished
/// terminal's parent may): C's sshd is frozen until the terminal is gone,
/// so the spinners draw on a hung-up terminal (EIO) before and after.
/// Returns the exit code and what it printed on stdout (a file).
fn on_a_vanishing_terminal(t: &Setup, tag: &str, args: &[&str]) -> (i32, String) {
    let out = t.s.path(&format!("{tag}.out"));
    let mut cmd = t.command(labctl_bin());
    cmd.arg("--hosts").arg(t.bench.hosts_file()).args(args);
    let frozen = Frozen::sshd(&t.bench, "C");
    let (child, master) = spawn_on_pty_with(cmd, true, Some(std::fs::File::create(&out).unwrap()));
    read_until(&master, "connecting", Duration::from_secs(60));
    drop(master);
    // A second of spinners (ten draws) on the hung-up terminal, then C answers.
    std::thread::sleep(Duration::from_secs(1));
    drop(frozen);
    let code = wait_exit(child, Duration::from_secs(180), tag);
    (code, std::fs::read_to_string(&out).unwrap())
}

#[test]
fn a_vanished_terminal_lets_check_finish_and_print_its_result() {
    let t = Setup::new("check-vanished");
    let (code, stdout) = on_a_vanishing_terminal(&t, "check", &["check", "--json"]);
    let last: serde_json::Value = serde_json::from_str(stdout.lines().last().unwrap_or(""))
        .unwrap_or_else(|e| panic!("not JSON ({e}): {stdout}"));
    assert_eq!(last["event"], "check_finished", "{stdout}");
    // A fresh bench has no lab addresses: not ready (exit 1), as on a terminal.
    assert_eq!(code, 1, "{stdout}");
    let hosts = last["benches"][0]["hosts"].as_array().unwrap();
    assert_eq!(hosts.len(), 3, "{stdout}");
    for h in hosts {
        assert!(
            h["connect_ms"].is_u64(),
            "every host was reached, C once its sshd answered: {h}"
        );
    }
}

#[test]
fn a_vanished_terminal_lets_deploy_finish_and_say_what_it_did() {
    let t = Setup::new("deploy-vanished");
    // Another version of the programs on every host: each is uploaded again.
    for h in ["A", "B", "C"] {
        let bin = common::workdir(&t.bench, h).join("bin");
        for e in std::fs::read_dir(&bin).unwrap().flatten() {
            std::fs::remove_file(e.path()).unwrap();
        }
    }
    let (code, stdout) = on_a_vanishing_terminal(&t, "deploy", &["deploy"]);
    assert_eq!(code, 0, "{stdout}");
    for h in ["A", "B", "C"] {
        assert!(
            stdout.contains(&format!("✔ {h}  uploaded ")),
            "host {h} deployed: {stdout}"
        );
    }
    assert_nothing_left(&t.bench);
}

/// What must never appear raw in a report or on the terminal.
fn assert_inert(what: &str, text: &[u8], html_too: bool) {
    let s = String::from_utf8_lossy(text);
    assert!(!text.contains(&0x1b), "{what} has a raw ESC");
    assert!(!text.contains(&0), "{what} has a raw NUL");
    if html_too {
        assert!(
            !s.to_lowercase().contains("<script"),
            "{what} has a raw <script>"
        );
    }
}

#[test]
fn hostile_titles_and_program_output_are_inert_in_reports_and_on_the_terminal() {
    let t = Setup::new("inert");
    // A step title and a sent line (echoed back by the server, printed by
    // both programs) with HTML and terminal control bytes.
    let title = r#"<script>alert(1)</script> \u001b[2J\u001b]0;pwned\u0007 \u0000nul"#;
    let line = r#"<script>x</script> \u001b[31mred\u001b[0m"#;
    let mut cmd = t.command(labctl_bin());
    cmd.args(t.args("inert", "1s", title, line));
    let (code, stdout, stderr) = Background::spawn(cmd).finish(Duration::from_secs(180));
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert_inert("the terminal (stdout)", stdout.as_bytes(), false);
    assert_inert("the terminal (stderr)", stderr.as_bytes(), false);
    assert!(stdout.contains(r"\x1b[2J"), "shown escaped: {stdout}");
    let dir = assert_finished(&t, "inert", "passed");
    for f in ["report.md", "report.html"] {
        let bytes = std::fs::read(dir.join(f)).unwrap();
        assert_inert(f, &bytes, true);
        let text = String::from_utf8_lossy(&bytes);
        assert!(
            text.contains(r"\x1b[2J"),
            "{f} shows the title's ESC escaped"
        );
        assert!(
            text.contains(r"\x1b[31m"),
            "{f} shows the output's ESC escaped"
        );
    }
    let md = std::fs::read_to_string(dir.join("report.md")).unwrap();
    assert!(md.contains("&lt;script&gt;"), "report.md escapes HTML");
}

#[test]
fn a_host_with_two_key_types_is_known_by_either_and_changed_only_when_none_matches() {
    let bench = TestBench::up_with_env(&[("LABCTL_TESTBED_RSA_HOST_KEY", "1")]);
    let s = Scratch::new("hostile-keys");
    let home = s.path("home");
    std::fs::create_dir_all(&home).unwrap();
    let lab = s.write("lab.toml", &lab("a captured exchange", "hello", "1s"));
    let public = |path: &std::path::Path| -> String {
        let text = std::fs::read_to_string(path).unwrap();
        text.split_whitespace()
            .take(2)
            .collect::<Vec<_>>()
            .join(" ")
    };
    // labctl's known_hosts holds only each host's RSA key (ed25519 is what
    // libssh2 would ask for first).
    let rsa_lines = |key_of: &dyn Fn(&str) -> String| -> String {
        ["A", "B", "C"]
            .iter()
            .map(|h| format!("[127.0.0.1]:{} {}\n", bench.ssh_port(h), key_of(h)))
            .collect()
    };
    let kh = s.path("known_hosts_rsa");
    std::fs::write(
        &kh,
        rsa_lines(&|h| public(&bench.host(h).dir.join("ssh_host_rsa_key.pub"))),
    )
    .unwrap();
    assert!(std::fs::read_to_string(&kh).unwrap().contains(" ssh-rsa "));
    let hosts = with_known_hosts(&bench, "hosts-rsa.toml", &kh);
    let out = labctl(&hosts, &lab, &home, &["clean"]);
    out.assert_success()
        .assert_stdout_contains("✔ A  nothing labctl started is running")
        .assert_stdout_lacks("CHANGED");

    // Another RSA key for every host: no known key matches, so CHANGED.
    let other = s.path("other_rsa");
    let st = Command::new("ssh-keygen")
        .args(["-q", "-t", "rsa", "-N", "", "-f"])
        .arg(&other)
        .status()
        .unwrap();
    assert!(st.success());
    let wrong = public(&other.with_extension("pub"));
    let kh2 = s.path("known_hosts_wrong");
    std::fs::write(&kh2, rsa_lines(&|_| wrong.clone())).unwrap();
    let hosts = with_known_hosts(&bench, "hosts-wrong.toml", &kh2);
    let out = labctl(&hosts, &lab, &home, &["clean"]);
    assert_ne!(out.status, 0, "{out}");
    out.assert_stdout_contains("host key CHANGED");
}
