//! The run engine's streaming on the virtual bench (real sshds): output is
//! pushed by the hosts as it is printed and matched as it arrives — a
//! program printing 100,000 lines fast (all kept, in order, the last one
//! matched), a line of a megabyte (recorded whole), output that comes after
//! the program exited — and the host stamps tell the truth: in the seed
//! lab's I.10 the server's accept line precedes C's reply, and every stamp
//! of the exchange is within 2 ms of its frame in A's capture. Also: the
//! host scripts are POSIX sh, checked under dash, busybox sh and bash.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{install_programs, labctl, run_dir, workdir, Scratch, TestBench};

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

/// `(stamp, text)` per line of a run directory's output file.
fn stamped(path: &Path) -> Vec<(f64, String)> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.lines()
        .map(|l| {
            let (ts, rest) = l.split_once(' ').unwrap_or((l, ""));
            (ts.parse().unwrap(), rest.to_string())
        })
        .collect()
}

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

/// `(absolute time, source, destination, payload)` of each data frame of a capture.
fn data_frames(pcap: &Path) -> Vec<(f64, String, String, String)> {
    let bytes = std::fs::read(pcap).unwrap();
    let a = labctl::capture::analyze(&bytes).unwrap();
    a.frames
        .iter()
        .filter(|f| f.len > 0)
        .map(|f| {
            (
                a.start_unix + f.time,
                f.src.clone(),
                f.dst.clone(),
                f.text
                    .clone()
                    .unwrap_or_default()
                    .trim_matches('"')
                    .to_string(),
            )
        })
        .collect()
}

#[test]
fn in_i10_the_accept_precedes_the_reply_and_every_stamp_agrees_with_the_capture() {
    let bench = TestBench::up();
    let s = Scratch::new("streaming-i10");
    let home = s.path("home");
    std::fs::create_dir_all(&home).unwrap();
    let lab: PathBuf = Path::new(env!("CARGO_MANIFEST_DIR")).join("labs/lab.toml");
    let out = labctl(
        bench.hosts_file(),
        &lab,
        &home,
        &[
            "run",
            "--step",
            "I.10",
            "--out",
            s.path("runs").to_str().unwrap(),
        ],
    );
    out.assert_status(0);
    let dir = run_dir(&s.path("runs"));
    let server = stamped(&dir.join("A-server.out"));
    let client_c = stamped(&dir.join("C-client-C.out"));
    let accept = server
        .iter()
        .find(|l| l.1.starts_with("New client connected from 10.0.3.3:"))
        .expect("the server accepted C");
    let reply = client_c
        .iter()
        .find(|l| l.1 == "Server> HELLO FROM C")
        .expect("C got its reply");
    assert!(
        accept.0 < reply.0,
        "the accept ({}) precedes C's reply ({})",
        accept.0,
        reply.0
    );

    // Each line that shows a payload, and the frame that carried it (A sees every frame).
    let frames = data_frames(&dir.join("A-cap-A.pcap"));
    let mut checked = 0;
    let mut check = |ts: f64, payload: &str, to_a: bool, line: &str| {
        let f = frames
            .iter()
            .filter(|f| f.3 == payload && f.2.starts_with("10.0.3.1:") == to_a)
            .min_by(|x, y| (x.0 - ts).abs().total_cmp(&(y.0 - ts).abs()))
            .unwrap_or_else(|| panic!("no frame with {payload:?} for {line:?}: {frames:?}"));
        let gap = (f.0 - ts).abs();
        assert!(
            gap <= 0.002,
            "{line:?} stamped {ts:.6}, its frame at {:.6}: {:.1} ms apart",
            f.0,
            gap * 1000.0
        );
        checked += 1;
    };
    for (ts, line) in &client_c {
        if let Some(p) = line.strip_prefix("Sent: ") {
            check(*ts, p, true, line);
        } else if let Some(p) = line.strip_prefix("Server> ") {
            check(*ts, p, false, line);
        }
    }
    // The server prints what it read, then sends it back upper-cased.
    for (ts, line) in &server {
        if line.starts_with("Client 10.0.3.3:") {
            if let Some((_, p)) = line.split_once("> ") {
                check(*ts, &p.to_uppercase(), false, line);
            }
        }
    }
    assert!(
        checked >= 3,
        "C's line, its echo and the reply were checked"
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

/// The agent, under each shell, on this machine (no network: a scratch
/// directory as the host's workdir): a program started, its lines streamed
/// as frames on stderr, its exit and end of output, a reply per request.
#[test]
fn the_agent_streams_frames_under_dash_busybox_and_bash() {
    let stamp = Path::new(env!("CARGO_BIN_EXE_labctl"))
        .parent()
        .unwrap()
        .to_path_buf();
    common::ensure_programs();
    for shell in [&["dash"][..], &["busybox", "sh"], &["bash"]] {
        let s = Scratch::new(&format!("agent-{}", shell[0]));
        let q = |p: &Path| labctl::util::shell_quote(p.to_str().unwrap());
        let header = format!(
            "S=; P={}; D={}; RUN=r1; K={}\n",
            q(&s.path("procs")),
            q(&s.path("runs/r1")),
            q(&stamp)
        );
        let script = format!("{header}{}lc_agent\n", labctl::remote::lib());
        let mut input = Vec::new();
        input.extend(labctl::remote::agent_request(
            "lc_start p I.0 sh -c 'echo one; echo two >&2; exit 3'",
        ));
        // Long enough for the program to end before the agent's input does.
        input.extend(labctl::remote::agent_request("sleep 0.5"));
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
        assert!(stdout.starts_with("@@reply "), "{shell:?}: {stdout}");
        assert!(stdout.contains("@@reply 0 0 0"), "{shell:?}: {stdout}");
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
