//! A timeline that never runs backwards, on the virtual bench (real sshds):
//! the whole seed lab with each host's `/bin/sh` being dash, busybox sh and
//! bash in turn, and every line labctl sent to a client stamped at or
//! before what it caused — the client's own `Sent: …` for it — in the run
//! record (`events.jsonl`) and in the report's timeline (`report.md`).

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::{assert_nothing_left, json_lines, run_dir, Labctl, Scratch, TestBench};

/// Makes `shell` every host's `/bin/sh`: bound over dash's file in each
/// host's mount namespace (its sshd's; the namespace is private, so this
/// machine's `/bin/sh` stays dash). Invoked as `sh`, busybox is its ash and
/// bash runs in POSIX mode, as on a host whose `/bin/sh` they are.
fn host_shell(bench: &TestBench, shell: &str) {
    let dash = std::fs::canonicalize("/bin/sh").unwrap();
    for h in ["A", "B", "C"] {
        let pid = bench.sshd_pid(h).to_string();
        let st = Command::new("nsenter")
            .args(["-t", &pid, "-m", "mount", "--bind", shell])
            .arg(&dash)
            .status()
            .unwrap();
        assert!(st.success(), "{shell} as {h}'s /bin/sh");
        // The host's `sh` is that shell now (busybox answers `--help` with its name).
        let probe = bench
            .ssh(
                h,
                "sh -c 'echo ${BASH_VERSION:-none}'; sh --help 2>&1 | head -n 1",
            )
            .output()
            .unwrap();
        let said = String::from_utf8_lossy(&probe.stdout);
        match Path::new(shell).file_name().unwrap().to_str().unwrap() {
            "bash" => assert!(!said.starts_with("none"), "{h}: {said}"),
            "busybox" => assert!(said.contains("BusyBox"), "{h}: {said}"),
            _ => assert!(
                said.starts_with("none") && !said.contains("BusyBox"),
                "{h}: {said}"
            ),
        }
    }
    assert_eq!(
        std::fs::canonicalize("/bin/sh").unwrap(),
        dash,
        "this machine's /bin/sh is untouched"
    );
}

/// Every line sent to a client precedes the client's `Sent: LINE` for it:
/// the k-th line sent to a program is the k-th it echoes.
#[track_caller]
fn assert_causal(dir: &Path, shell: &str) {
    let events = json_lines(&dir.join("events.jsonl"));
    let of = |kind: &'static str| events.iter().filter(move |e| e["event"] == kind);
    let mut programs: Vec<(String, String)> = of("sent")
        .map(|e| {
            (
                e["host"].as_str().unwrap().into(),
                e["program"].as_str().unwrap().into(),
            )
        })
        .collect();
    programs.sort();
    programs.dedup();
    let mut pairs = 0;
    for (host, program) in &programs {
        let mine =
            |e: &&serde_json::Value| e["host"] == host.as_str() && e["program"] == program.as_str();
        let sent: Vec<(f64, &str)> = of("sent")
            .filter(mine)
            .map(|e| (e["ts"].as_f64().unwrap(), e["line"].as_str().unwrap()))
            .collect();
        let echoed: Vec<(f64, &str)> = of("output")
            .filter(mine)
            .filter_map(|e| {
                let line = e["line"].as_str()?.strip_prefix("Sent: ")?;
                Some((e["ts"].as_f64()?, line))
            })
            .collect();
        for ((st, sl), (et, el)) in sent.iter().zip(&echoed) {
            assert_eq!(
                sl, el,
                "{shell}: {host}/{program}: the k-th line sent is the k-th echoed"
            );
            assert!(
                st <= et,
                "{shell}: {host}/{program}: `{sl}` sent at {st:.6}, echoed at {et:.6}: the effect is stamped before its cause"
            );
            pairs += 1;
        }
    }
    assert!(
        pairs >= 14,
        "{shell}: {pairs} sent lines were echoed; the seed lab has more"
    );
    // The report's timeline (rows in time order: `| time | t | host | program | in/out/err | line |`)
    // shows each line going in before the client's echo of it.
    let md = std::fs::read_to_string(dir.join("report.md")).unwrap();
    let mut open: Vec<(String, String, String)> = Vec::new();
    let mut echoes = 0;
    for row in md
        .lines()
        .filter(|l| l.starts_with("| ") && l.ends_with(" |"))
    {
        let cells: Vec<&str> = row[2..row.len() - 2].splitn(6, " | ").collect();
        let [_, _, host, program, mark, text] = cells[..] else {
            continue;
        };
        let key = |t: &str| (host.to_string(), program.to_string(), t.to_string());
        if mark == "in" {
            open.push(key(text));
        } else if let Some(line) = text.strip_prefix("Sent: ").filter(|_| mark == "out") {
            let k = open.iter().position(|o| *o == key(line)).unwrap_or_else(|| {
                panic!("{shell}: report.md shows `Sent: {line}` of {host}/{program} before the line went in:\n{row}")
            });
            open.remove(k);
            echoes += 1;
        }
    }
    assert_eq!(
        echoes, pairs,
        "{shell}: every echo is in report.md's timeline"
    );
}

#[test]
fn every_sent_line_of_a_whole_run_precedes_what_it_caused_under_dash_busybox_and_bash() {
    for shell in ["/usr/bin/dash", "/usr/bin/busybox", "/usr/bin/bash"] {
        let bench = TestBench::up();
        if !shell.ends_with("dash") {
            host_shell(&bench, shell);
        }
        let s = Scratch::new(&format!("timeline-{}", &shell[9..]));
        let out = Labctl::new()
            .hosts(bench.hosts_file())
            .arg("--lab")
            .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("labs/lab.toml"))
            .args(["run", "--out"])
            .arg(&s.0)
            .timeout(Duration::from_secs(240))
            .run();
        out.assert_status(0)
            .assert_stdout_contains("PASSED: steps 17 passed, 0 failed");
        assert_causal(&run_dir(&s.0), shell);
        assert_nothing_left(&bench);
    }
}
