//! The run engine's streaming on the virtual bench (real sshds): output is
//! pushed by the hosts as it is printed and matched as it arrives — a
//! program printing 100,000 lines fast (all kept, in order, the last one
//! matched), a line of a megabyte (recorded whole), output that comes after
//! the program exited. Also: the host scripts are POSIX sh, checked under
//! dash, busybox sh and bash, and a program stopped the moment it started
//! is stopped by its SIGINT under each. (The stamps' accuracy is `tests/stamps.rs`,
//! a binary of its own so no other test loads the CPU while it measures.)

mod common;

use std::path::Path;
use std::process::Command;

use common::{install_programs, labctl, run_dir, stamped, workdir, Scratch, TestBench};
use labctl::remote::Reply;

/// A stand-in program, put where `udp_client` is deployed: the lab engine
/// runs whatever is there, and these print what the tests need.
const STANDIN: &str = r#"#!/bin/sh
case $1 in
  many) seq 1 100000 | sed 's/^/line /' ;;
  big) head -c 1000000 /dev/zero | tr '\0' x; echo; echo end ;;
  late) echo early; (sleep 0.5; echo late) & exit 0 ;;
esac
"#;

const LAB: &str = r#"
[lab]
name = "streaming"
[[step]]
id = "T.1"
title = "a hundred thousand lines, fast"
hosts = ["A"]
do = [
  { start = "many", on = "A", program = "udp_client", args = ["many"] },
  { expect = "many", match = "^line 100000$", within = "60s" },
  { expect = "many", exit = 0, within = "10s" },
]
[[step]]
id = "T.2"
title = "a line of a megabyte"
hosts = ["A"]
do = [
  { start = "big", on = "A", program = "udp_client", args = ["big"] },
  { expect = "big", match = "^end$", within = "30s" },
]
[[step]]
id = "T.3"
title = "output after the program exited (its shell exits at once, a child prints later)"
hosts = ["A"]
do = [
  { start = "late", on = "A", program = "udp_client", args = ["late"] },
  { expect = "late", match = "^early$" },
  { expect = "late", match = "^late$", within = "5s" },
  { expect = "late", exit = 0, within = "5s" },
]
"#;

#[test]
fn many_lines_a_huge_line_and_late_output_all_arrive_whole_and_in_order() {
    let bench = TestBench::up();
    install_programs(&bench);
    let standin = workdir(&bench, "A").join("bin/udp_client");
    std::fs::write(&standin, STANDIN).unwrap();
    let s = Scratch::new("streaming");
    let lab = s.write("lab.toml", LAB);
    let home = s.path("home");
    std::fs::create_dir_all(&home).unwrap();
    let out = labctl(
        bench.hosts_file(),
        &lab,
        &home,
        &["run", "--out", s.path("runs").to_str().unwrap()],
    );
    out.assert_status(0)
        .assert_stdout_contains("/^line 100000$/")
        .assert_stdout_contains("PASSED: steps 3 passed, 0 failed");
    let dir = run_dir(&s.path("runs"));

    let many = stamped(&dir.join("A-many.out"));
    assert_eq!(many.len(), 100_000, "every line is kept");
    for (i, (_, text)) in many.iter().enumerate() {
        assert_eq!(text, &format!("line {}", i + 1), "in order");
    }
    assert!(
        many.windows(2).all(|w| w[0].0 <= w[1].0),
        "host stamps never go back"
    );

    let big = stamped(&dir.join("A-big.out"));
    assert_eq!(
        big.len(),
        2,
        "{:?}",
        big.iter().map(|l| l.1.len()).collect::<Vec<_>>()
    );
    assert_eq!(big[0].1.len(), 1_000_000, "the megabyte line is whole");
    assert!(big[0].1.bytes().all(|b| b == b'x'));
    assert_eq!(big[1].1, "end");

    let late = stamped(&dir.join("A-late.out"));
    let texts: Vec<&str> = late.iter().map(|l| l.1.as_str()).collect();
    assert_eq!(texts, ["early", "late"]);
    assert!(
        late[1].0 - late[0].0 >= 0.4,
        "late came after the exit: {late:?}"
    );
}

#[test]
fn the_host_scripts_are_posix_sh_for_dash_busybox_and_bash() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/remote");
    for file in ["lib.sh", "wrap.sh"] {
        let path = dir.join(file);
        for shell in [&["dash"][..], &["busybox", "sh"], &["bash", "--posix"]] {
            let st = Command::new(shell[0])
                .args(&shell[1..])
                .arg("-n")
                .arg(&path)
                .status()
                .unwrap_or_else(|e| panic!("{}: {e}", shell[0]));
            assert!(st.success(), "{file} under {shell:?}");
        }
        let sc = Command::new("shellcheck")
            .arg(&path)
            .output()
            .expect("shellcheck (Debian package `shellcheck`)");
        assert!(
            sc.status.success(),
            "{file}: {}",
            String::from_utf8_lossy(&sc.stdout)
        );
    }
}

/// The shells a host's `/bin/sh` may be.
const SHELLS: [&[&str]; 3] = [&["dash"], &["busybox", "sh"], &["bash"]];

/// A scratch directory standing for a host's workdir on this machine (no
/// network), and what every `lc_*` call runs after there: the header (as
/// root: no sudo) and the library.
fn local_host(tag: &str) -> (Scratch, String) {
    let stamp = Path::new(env!("CARGO_BIN_EXE_labctl")).parent().unwrap();
    local_host_with(tag, stamp)
}

/// [`local_host`] whose deployed programs' directory is `stamp` (where
/// `labctl-stamp` is, or is not).
fn local_host_with(tag: &str, stamp: &Path) -> (Scratch, String) {
    common::ensure_programs();
    let s = Scratch::new(tag);
    let lib = format!(
        "S=; P={}; D={}; RUN=r1; K={}\n{}",
        q(&s.path("procs")),
        q(&s.path("runs/r1")),
        q(stamp),
        labctl::remote::lib()
    );
    (s, lib)
}

/// `script` (lib.sh's functions, then what a test does with them) under
/// `shell`, as sshd starts a host's shell: SIGINT and SIGHUP not ignored.
/// (A test may run in a background job, which ignores SIGINT; a shell cannot
/// undo what it was given ignored.)
fn run_as_host_shell(shell: &[&str], script: &str) -> std::process::Output {
    let mut cmd = Command::new(shell[0]);
    cmd.args(&shell[1..]).arg("-c").arg(script);
    // SAFETY: signal(2) is async-signal-safe; nothing else runs between fork and exec.
    unsafe {
        use std::os::unix::process::CommandExt;
        cmd.pre_exec(|| {
            libc::signal(libc::SIGINT, libc::SIG_DFL);
            libc::signal(libc::SIGHUP, libc::SIG_DFL);
            Ok(())
        });
    }
    cmd.output().unwrap()
}

/// Shell: `start` then `then`, 20 rounds (`$round` counts them; lib.sh's
/// functions use short names of their own, `i`, `n`, `k`).
fn twenty_rounds(start: &str, then: &str) -> String {
    format!("round=0\nwhile [ $round -lt 20 ]; do\n  {start} >/dev/null\n  {then}\n  round=$((round + 1))\ndone\n")
}

/// A path shell-quoted, for a test's script.
fn q(p: &Path) -> String {
    labctl::util::shell_quote(p.to_str().unwrap())
}

/// The agent, under each shell, on this machine (no network: a scratch
/// directory as the host's workdir): a program started, its lines streamed
/// as frames on stderr, its exit and end of output, a reply per request.
#[test]
fn the_agent_streams_frames_under_dash_busybox_and_bash() {
    for shell in SHELLS {
        let (s, lib) = local_host(&format!("agent-{}", shell[0]));
        let script = format!("{lib}lc_agent\n");
        let mut input = Vec::new();
        input.extend(labctl::remote::agent_request(
            "lc_start p I.0 sh -c 'echo one; echo two >&2; exit 3'",
            Reply::Lines,
        ));
        // Long enough for the program to end before the agent's input does.
        input.extend(labctl::remote::agent_request("sleep 0.5", Reply::Bytes));
        let mut child = Command::new(shell[0])
            .args(&shell[1..])
            .arg("-c")
            .arg(&script)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write;
        child.stdin.take().unwrap().write_all(&input).unwrap();
        let out = child.wait_with_output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stdout.starts_with("@@lines 1 0 0 0 0\nheld\n"),
            "{shell:?}: {stdout}"
        );
        assert!(stdout.contains("@@reply 0 0 0"), "{shell:?}: {stdout}");
        // The hold's reply, then lc_start's, framed by lines with builtins:
        // the group id and a newline, nothing on stderr.
        let (_, _, _, used) = labctl::remote::parse_agent_reply(&out.stdout).unwrap();
        let rest = &out.stdout[used..];
        assert!(
            rest.starts_with(b"@@lines 1 0 0 0 0\n"),
            "{shell:?}: {stdout}"
        );
        let (pgid, err, rc, _) = labctl::remote::parse_agent_reply(rest).unwrap();
        let pgid = String::from_utf8(pgid).unwrap();
        assert!(
            pgid.ends_with('\n') && pgid.trim().parse::<u32>().is_ok(),
            "{shell:?}: {pgid:?}"
        );
        assert_eq!((err.as_slice(), rc), (&b""[..], 0), "{shell:?}");
        let mut buf = out.stderr.clone();
        let frames = labctl::remote::take_frames(&mut buf);
        let lines: Vec<String> = frames
            .iter()
            .filter_map(|f| match f {
                labctl::remote::Frame::Line { text, stderr, .. } => Some(format!(
                    "{}{}",
                    if *stderr { "2:" } else { "1:" },
                    String::from_utf8_lossy(text)
                )),
                _ => None,
            })
            .collect();
        assert!(lines.contains(&"1:one".to_string()), "{shell:?}: {stderr}");
        assert!(lines.contains(&"2:two".to_string()), "{shell:?}: {stderr}");
        let exit = frames
            .iter()
            .position(|f| matches!(f, labctl::remote::Frame::Exit { status: 3, .. }));
        let end = frames
            .iter()
            .position(|f| matches!(f, labctl::remote::Frame::End { .. }));
        assert!(exit.is_some() && end > exit, "{shell:?}: {stderr}");
        let rec = std::fs::read_to_string(s.path("runs/r1/p.out")).unwrap();
        assert!(rec.ends_with(" one\n"), "{rec}");
    }
}

/// A stop sent the moment `lc_start` returned (the wrapper may not have
/// forked the program yet, or the program's shell may still ignore SIGINT as
/// the wrapper does) must not be lost: every program that started gets that
/// SIGINT (it writes `start`, then `int` when the signal comes), or it never
/// starts. Before, such a program started after the signal and was stopped
/// 3 s later by SIGTERM, never seeing SIGINT.
#[test]
fn a_program_stopped_right_after_it_started_is_stopped_by_sigint_under_every_shell() {
    for shell in SHELLS {
        let (s, lib) = local_host(&format!("stop-now-{}", shell[0]));
        let marker = s.path("seen");
        // The program waits in a builtin (`read`: its stdin is its FIFO): a child forked
        // after its trap, caught between fork and exec, would swallow the SIGINT meant for it.
        let body = twenty_rounds(
            &format!(
                "lc_start p I.0 sh -c 'trap \"echo int >>$0; exit 130\" INT; echo start >>$0; read -r x' {}",
                q(&marker)
            ),
            "lc_stop p",
        );
        let out = run_as_host_shell(shell, &format!("{lib}{body}"));
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stopped = stdout.lines().filter(|l| l.starts_with("stopped ")).count();
        assert_eq!(
            stopped,
            20,
            "{shell:?}: {stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let seen = std::fs::read_to_string(&marker).unwrap_or_default();
        let count = |w: &str| seen.lines().filter(|l| *l == w).count();
        assert_eq!(
            count("start"),
            count("int"),
            "{shell:?}: a program that started never got its SIGINT: {seen}"
        );
        let left: Vec<_> = std::fs::read_dir(s.path("procs"))
            .unwrap()
            .flatten()
            .collect();
        assert!(left.is_empty(), "{shell:?}: still registered: {left:?}");
    }
}

/// A send's host time comes from the run's clock (`labctl-stamp --clock`,
/// which the agent starts where the programs are deployed, read with
/// builtins), not from a `date` process; without `labctl-stamp`, or with
/// one an older labctl deployed (it refuses `--clock`), from `date`, and
/// nothing waits on a clock that is not there. Under dash, busybox sh and
/// bash. (Here `date` prints a time of its own, so the two are told apart.)
#[test]
fn a_sends_time_comes_from_the_agents_clock_and_from_date_without_it() {
    let stamp = Path::new(env!("CARGO_BIN_EXE_labctl")).parent().unwrap();
    for shell in SHELLS {
        for bin in ["stamper", "none", "older"] {
            let clock = bin == "stamper";
            let tag = format!("clock-{}-{bin}", shell[0]);
            let other = Scratch::new(&format!("{tag}-bin"));
            if bin == "older" {
                let old = other.0.join("labctl-stamp");
                let text = format!(
                    "#!/bin/sh\n[ \"$1\" != --clock ] || {{ echo usage >&2; exit 2; }}\nexec {} \"$@\"\n",
                    stamp.join("labctl-stamp").display()
                );
                std::fs::write(&old, text).unwrap();
                use std::os::unix::fs::PermissionsExt;
                std::fs::set_permissions(&old, std::fs::Permissions::from_mode(0o755)).unwrap();
            }
            let (s, lib) = local_host_with(&tag, if clock { stamp } else { &other.0 });
            let fake = s.path("fakebin");
            std::fs::create_dir_all(&fake).unwrap();
            let date = fake.join("date");
            std::fs::write(&date, "#!/bin/sh\necho 1.000000000\n").unwrap();
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&date, std::fs::Permissions::from_mode(0o755)).unwrap();
            let path = format!("{}:{}", fake.display(), std::env::var("PATH").unwrap());
            let mut input = Vec::new();
            input.extend(labctl::remote::agent_request(
                "lc_start p I.0 sh -c 'read -r l; echo \"got $l\"'",
                Reply::Lines,
            ));
            input.extend(labctl::remote::agent_request(
                "lc_send p 0 hello",
                Reply::Lines,
            ));
            // Until the program's answer is recorded (at most 5 s).
            input.extend(labctl::remote::agent_request(
                "w=0; while [ ! -s \"$D/p.out\" ] && [ $w -lt 250 ]; do sleep 0.02; w=$((w + 1)); done",
                Reply::Bytes,
            ));
            // Bounded: a send waiting for a clock that is gone must fail this test, not hang it.
            let mut child = Command::new("timeout")
                .arg("20")
                .args(shell)
                .arg("-c")
                .arg(format!("{lib}lc_agent\n"))
                .env("PATH", &path)
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap();
            use std::io::Write;
            child.stdin.take().unwrap().write_all(&input).unwrap();
            let out = child.wait_with_output().unwrap();
            let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
            // The hold's reply, lc_start's, then lc_send's: the time of its line.
            let mut rest = &out.stdout[..];
            let mut replies = Vec::new();
            while let Some((o, _, rc, used)) = labctl::remote::parse_agent_reply(rest) {
                replies.push((String::from_utf8_lossy(&o).trim().to_string(), rc));
                rest = &rest[used..];
            }
            assert!(replies.len() >= 3, "{shell:?} {bin}: {stdout}");
            let (time, rc) = &replies[2];
            assert_eq!(*rc, 0, "{shell:?} {bin}: {stdout}");
            if clock {
                let t: f64 = time.parse().unwrap_or_else(|_| panic!("{time:?}"));
                let now = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .as_secs_f64();
                assert!(
                    (now - t).abs() < 60.0,
                    "{shell:?}: {time} is not the clock's"
                );
                assert_eq!(time.split_once('.').unwrap().1.len(), 9, "{time}");
            } else {
                assert_eq!(time, "1.000000000", "{shell:?} {bin}: `date`");
            }
            let got = std::fs::read_to_string(s.path("runs/r1/p.out")).unwrap_or_default();
            assert!(got.ends_with(" got hello\n"), "{shell:?} {bin}: {got:?}");
        }
    }
}

/// A line written into a program's FIFO the moment `lc_start` returned
/// reaches the program: the wrapper holds the FIFO open from before it
/// answers, so the line waits there while the program is not reading yet.
/// (A FIFO that nobody holds drops what was written into it: before, about
/// one such line in five was lost once a send no longer forked `date`.)
#[test]
fn a_line_sent_the_moment_its_program_started_reaches_it_under_every_shell() {
    for shell in SHELLS {
        let (s, lib) = local_host(&format!("send-now-{}", shell[0]));
        let got = s.path("got");
        // Then until the 20 lines are in (at most 5 s).
        let body = format!(
            "{}w=0\nwhile [ \"$(wc -l <{g} 2>/dev/null)\" != 20 ] && [ $w -lt 250 ]; do sleep 0.02; w=$((w + 1)); done\n\
             lc_stop_run >/dev/null\n",
            twenty_rounds(
                &format!("lc_start p$round I.0 sh -c 'read -r l; echo \"$l\" >>\"$0\"' {}", q(&got)),
                "printf 'line %s\\n' $round 1<>\"$D/p$round.in\"",
            ),
            g = q(&got)
        );
        let out = run_as_host_shell(shell, &format!("{lib}{body}"));
        let seen = std::fs::read_to_string(&got).unwrap_or_default();
        let mut lines: Vec<&str> = seen.lines().collect();
        lines.sort_by_key(|l| l[5..].parse::<u32>().unwrap_or(99));
        let want: Vec<String> = (0..20).map(|i| format!("line {i}")).collect();
        assert_eq!(
            lines,
            want,
            "{shell:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// A wrapper writes its group's registration in place, in one write: a stop
/// that finds the file still empty leaves it while the wrapper (the group's
/// leader) lives, and forgets it once no such process is left (a write that
/// never came: a full disk, a crash). Under dash, busybox sh and bash.
#[test]
fn an_empty_registration_is_kept_while_its_wrapper_lives_and_forgotten_after() {
    for shell in SHELLS {
        let (s, lib) = local_host(&format!("empty-reg-{}", shell[0]));
        // 999999 is above Linux's largest pid (4194304 is the cap, but nothing here has it);
        // `$$`, this shell, stands for a wrapper that lives.
        let body = "mkdir -p \"$P\" && : >\"$P/999999\" && : >\"$P/$$\"\n\
                    lc_stop_all\n\
                    for f in \"$P\"/*; do echo \"left ${f##*/}\"; done\n\
                    echo \"me $$\"\n";
        let out = run_as_host_shell(shell, &format!("{lib}{body}"));
        let stdout = String::from_utf8_lossy(&out.stdout);
        let me = stdout
            .lines()
            .find_map(|l| l.strip_prefix("me "))
            .unwrap_or_else(|| panic!("{shell:?}: {stdout}"));
        let left: Vec<&str> = stdout
            .lines()
            .filter_map(|l| l.strip_prefix("left "))
            .collect();
        assert_eq!(left, [me], "{shell:?}: {stdout}");
        // Nothing was reported stopped: neither was ever a group labctl started.
        assert!(!stdout.contains("stopped"), "{shell:?}: {stdout}");
        drop(s);
    }
}

/// labctl's ticks are answered at once, even while a long request runs
/// (`lc_reader` reads labctl's input apart from the requests' loop): each
/// `@@tick SEQ` gets `@@k SEQ TIME` on the stream with the host's time, and
/// the host notes when labctl was last heard (`.seen`). Under dash, busybox
/// sh and bash, with the deployed clock and with `date`.
#[test]
fn ticks_are_answered_at_once_while_a_request_runs_under_every_shell() {
    use std::io::{Read, Write};
    use std::time::{Duration, Instant};
    let stamp = Path::new(env!("CARGO_BIN_EXE_labctl")).parent().unwrap();
    for shell in SHELLS {
        for clock in [true, false] {
            let tag = format!("tick-{}-{clock}", shell[0]);
            let none = Scratch::new(&format!("{tag}-bin"));
            let (s, lib) = local_host_with(&tag, if clock { stamp } else { &none.0 });
            let mut child = Command::new("timeout")
                .arg("30")
                .args(shell)
                .arg("-c")
                .arg(format!("{lib}lc_agent\n"))
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap();
            let mut stdin = child.stdin.take().unwrap();
            let mut stderr = child.stderr.take().unwrap();
            // The stream, read as it comes (ticks are answered while `sleep 3` runs).
            let (tx, rx) = std::sync::mpsc::channel();
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                while let Ok(n) = stderr.read(&mut buf) {
                    if n == 0 || tx.send((Instant::now(), buf[..n].to_vec())).is_err() {
                        break;
                    }
                }
            });
            stdin
                .write_all(&labctl::remote::agent_request("sleep 3", Reply::Bytes))
                .unwrap();
            std::thread::sleep(Duration::from_millis(300));
            let before = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_secs_f64();
            let sent = Instant::now();
            stdin.write_all(&labctl::remote::agent_tick(7)).unwrap();
            let mut frames = Vec::new();
            let mut answered = None;
            while answered.is_none() && sent.elapsed() < Duration::from_secs(10) {
                if let Ok((at, bytes)) = rx.recv_timeout(Duration::from_millis(100)) {
                    frames.extend(bytes);
                    for f in labctl::remote::take_frames(&mut frames.clone()) {
                        if let labctl::remote::Frame::Tick { seq: 7, host } = f {
                            answered = Some((at, host));
                        }
                    }
                }
            }
            let (at, host) = answered.unwrap_or_else(|| panic!("{shell:?} {clock}: no answer"));
            assert!(
                at.duration_since(sent) < Duration::from_millis(1500),
                "{shell:?} {clock}: answered after {:?}, while the request ran",
                at.duration_since(sent)
            );
            assert!(
                (host - before).abs() < 5.0,
                "{shell:?} {clock}: host time {host}"
            );
            let seen = std::fs::read_to_string(s.path("runs/r1/.seen")).unwrap();
            let uptime: f64 = std::fs::read_to_string("/proc/uptime")
                .unwrap()
                .split_whitespace()
                .next()
                .unwrap()
                .parse()
                .unwrap();
            let seen: f64 = seen.trim().parse().unwrap();
            assert!(
                uptime - seen < 3.0,
                "{shell:?} {clock}: heard at {seen}, now {uptime}"
            );
            drop(stdin);
            let out = child.wait_with_output().unwrap();
            let stdout = String::from_utf8_lossy(&out.stdout);
            assert!(
                stdout.contains("@@reply 0 0 0"),
                "{shell:?} {clock}: the request's reply: {stdout}"
            );
            assert!(out.status.success(), "{shell:?} {clock}: {:?}", out.status);
        }
    }
}
