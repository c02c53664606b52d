//! The course's next lab, `labs/arp-icmp.toml`, written in the lab language
//! alone, on the virtual bench (real sshds): every step passes and every
//! question is answered from the evidence it declares (frames, output,
//! exit, compared between steps), with tshark agreeing on every frame a
//! filter counts and every frame an answer cites; the captures' tables pair
//! ARP and ICMP; a replayed step answers what its steps hold and says what
//! is absent; the same on a bench without NetworkManager. And the lab that
//! docs/writing-a-lab.md's `toml` blocks make, each a piece of that file,
//! runs the same.

mod common;
mod run_json_support;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::{assert_nothing_left, lab_command as labctl, run_dir, Labctl, Scratch, TestBench};
use labctl::lab::evidence::Show;
use run_json_support::{assert_matches_schema, read_json};
use serde_json::Value;

use common::repo_file as repo;

/// tshark's frame numbers for a display filter.
fn tshark(file: &Path, filter: &str) -> BTreeSet<usize> {
    let out = Command::new("tshark")
        .args(["-n", "-r"])
        .arg(file)
        .args(["-Y", filter, "-T", "fields", "-e", "frame.number"])
        .output()
        .expect("tshark runs (Debian package `tshark`)");
    assert!(
        out.status.success(),
        "tshark -Y {filter:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect()
}

/// Runs `lab` on `bench` into `out`; returns the run directory.
fn run_lab(bench: &TestBench, lab: &Path, out: &Path) -> PathBuf {
    labctl(bench.hosts_file(), lab)
        .args(["run", "--out"])
        .arg(out)
        .run()
        .assert_status(0)
        .assert_stdout_contains("PASSED: steps 9 passed, 0 failed");
    assert_nothing_left(bench);
    run_dir(out)
}

/// Every answer of `run.json` answered as the lab expects, in the lab's order.
fn assert_every_question_answered(run: &Value) {
    let ids: Vec<&str> = run["answers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["1(a)", "1(b)", "2", "3", "4", "5(a)", "5(b)"]);
    for a in run["answers"].as_array().unwrap() {
        assert_eq!(a["answered"], true, "{a:#}");
        assert_eq!(a["ok"], true, "{a:#}");
    }
}

/// Each question's frames: our filter and tshark's display filter pick the
/// same frames of the whole capture, and every frame an answer cites is one
/// of them, in the file it names.
fn assert_tshark_agrees(dir: &Path, run: &Value) {
    let questions: Vec<Value> =
        serde_json::from_slice(&std::fs::read(dir.join("questions.json")).unwrap()).unwrap();
    let mut checked = 0;
    for q in &questions {
        let shows: Vec<Show> = serde_json::from_value(q["shows"].clone()).unwrap();
        for s in shows {
            let Show::Frames {
                capture, filter, ..
            } = s
            else {
                continue;
            };
            let c = run["captures"]
                .as_array()
                .unwrap()
                .iter()
                .find(|c| c["name"] == capture.as_str())
                .unwrap_or_else(|| panic!("capture {capture} in run.json"));
            let pcap = dir.join(c["file"].as_str().unwrap());
            let a = labctl::capture::analyze(&std::fs::read(&pcap).unwrap()).unwrap();
            let ours: BTreeSet<usize> = a
                .frames
                .iter()
                .filter(|f| filter.matches(f))
                .map(|f| f.number)
                .collect();
            let display = filter.display();
            assert_eq!(
                ours,
                tshark(&pcap, &display),
                "question {}: `{display}` on {}",
                q["id"],
                pcap.display()
            );
            checked += 1;
        }
    }
    assert!(checked >= 10, "every frames evidence compared ({checked})");
    let mut cited = 0;
    for a in run["answers"].as_array().unwrap() {
        for f in a["frames"].as_array().unwrap() {
            let file = dir.join(f["file"].as_str().unwrap());
            let n = f["number"].as_u64().unwrap() as usize;
            let filter = f["filter"].as_str().unwrap();
            assert!(
                tshark(&file, filter).contains(&n),
                "answer {}: frame {n} of {} under `{filter}`",
                a["id"],
                file.display()
            );
            cited += 1;
        }
    }
    assert!(cited >= 15, "{cited} frames cited");
}

#[test]
fn the_second_lab_passes_with_every_question_answered_and_tshark_agrees() {
    let bench = TestBench::up();
    let scratch = Scratch::new("second-lab");
    let lab = repo("labs/arp-icmp.toml");
    // `check` looks for the lab's commands and its root program's right.
    let check = labctl(bench.hosts_file(), &lab)
        .args(["check", "--fix", "--json"])
        .env("HOME", scratch.0.as_os_str())
        .run();
    let last: Value = serde_json::from_str(check.stdout.lines().last().unwrap_or("")).unwrap();
    let row = |host: &str, name: &str| -> String {
        let c = common::check_row(&last, 0, host, name);
        assert_eq!(c["status"], "pass", "{c}");
        c["detail"].as_str().unwrap().to_string()
    };
    assert!(
        row("A", "tools").contains("python3"),
        "{}",
        row("A", "tools")
    );
    assert!(row("C", "tools").contains("curl"), "{}", row("C", "tools"));
    assert!(!row("B", "tools").contains("curl"), "curl runs on C only");
    assert!(row("B", "rights").contains("the lab's `ip` as root"));

    let dir = run_lab(&bench, &lab, &scratch.path("runs"));
    let run = read_json(&dir.join("run.json"));
    assert_eq!(run["run"]["outcome"], "passed");
    assert_eq!(run["bench"]["programs"]["set"], "lab");
    assert_matches_schema(&dir.join("run.json"));
    assert_every_question_answered(&run);
    assert_tshark_agrees(&dir, &run);

    // What the answers say, as the lab means it.
    let answer = |id: &str| -> Value {
        run["answers"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["id"] == id)
            .unwrap()
            .clone()
    };
    let a1 = answer("1(a)");
    let text = a1["answer"].as_str().unwrap();
    assert!(
        text.contains("ARP request: `10.0.3.2` (B) asks who has `10.0.3.1` (A); the reply, #"),
        "{text}"
    );
    assert!(text.contains("Where to look: `B-cap-B.pcapng` with the display filter `arp.opcode == 1 && arp.src.proto_ipv4 == 10.0.3.2 && arp.dst.proto_ipv4 == 10.0.3.1`"), "{text}");
    assert!(text.contains("Why: B knew A's IP address"), "{text}");
    let a3 = answer("3");
    assert_eq!(a3["facts"]["evidence"][0]["count"], 0, "{a3:#}");
    assert_eq!(a3["facts"]["evidence"][0]["compared"], 1, "{a3:#}");
    let a4 = answer("4");
    let ev = &a4["facts"]["evidence"];
    assert!(ev[0]["count"].as_u64().unwrap() >= 2, "B retried: {a4:#}");
    assert_eq!(
        (ev[1]["count"].as_u64(), ev[2]["count"].as_u64()),
        (Some(0), Some(0))
    );
    assert_eq!(ev[3]["statuses"]["7/B"], 1);
    assert!(a4["answer"]
        .as_str()
        .unwrap()
        .contains("`From 10.0.3.2 icmp_seq=1 Destination Host Unreachable`"));
    let a5 = answer("5(a)");
    assert!(
        a5["answer"].as_str().unwrap().contains("GET / HTTP/1.1"),
        "{a5:#}"
    );
    assert!(
        a5["lines"][0]["text"]
            .as_str()
            .unwrap()
            .starts_with("10.0.3.3 "),
        "{a5:#}"
    );

    // The captures' tables pair ARP and ICMP; the ladders draw ARP.
    let md = std::fs::read_to_string(dir.join("report.md")).unwrap();
    assert!(md.contains("ARP (address resolution):"), "{md}");
    assert!(
        md.contains("| `10.0.3.2` (B) | `10.0.3.9` | no reply | – | – |"),
        "{md}"
    );
    assert!(md.contains("ICMP echo (ping):"));
    let svg = std::fs::read_to_string(dir.join("ladder-cap-B.svg")).unwrap();
    assert!(svg.contains("ARP who-has 10.0.3.1? (reply #"), "{svg}");
    assert!(svg.contains("ARP who-has 10.0.3.9? (no reply)"));

    // The pcapng copy tells the lab's story of an ARP exchange too.
    let ng = dir.join("B-cap-B.pcapng");
    let out = Command::new("tshark")
        .args(["-n", "-r"])
        .arg(&ng)
        .args([
            "-Y",
            "arp.dst.proto_ipv4 == 10.0.3.1",
            "-T",
            "fields",
            "-e",
            "frame.comment",
        ])
        .output()
        .unwrap();
    let comments = String::from_utf8_lossy(&out.stdout);
    assert!(
        comments.contains("4: B asks who has A (ARP request)"),
        "{comments}"
    );

    // `labctl report` rebuilds the same answers from the run directory.
    Labctl::new()
        .arg("report")
        .arg(&dir)
        .run()
        .assert_status(0)
        .assert_stdout_contains("7 of 7 questions answered as the lab expects");

    // A replayed step: its closure runs, its questions are answered, the
    // others say their steps did not run.
    let replay = scratch.path("replay");
    labctl(bench.hosts_file(), &lab)
        .args(["run", "--step", "6", "--out"])
        .arg(&replay)
        .run()
        .assert_status(0)
        .assert_stdout_contains("PASSED: steps 5 passed, 0 failed");
    assert_nothing_left(&bench);
    let run = read_json(&run_dir(&replay).join("run.json"));
    let answered: Vec<(&str, bool)> = run["answers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| (a["id"].as_str().unwrap(), a["answered"].as_bool().unwrap()))
        .collect();
    assert_eq!(
        answered,
        [
            ("1(a)", true),
            ("1(b)", false),
            ("2", true),
            ("3", true),
            ("4", false),
            ("5(a)", false),
            ("5(b)", false)
        ]
    );
    let a4 = &run["answers"][4]["answer"];
    assert!(
        a4.as_str().unwrap().contains("step `7` did not run"),
        "{a4}"
    );
}

/// A bench whose hosts run no NetworkManager (`testbed up
/// --no-network-manager`, as a Bullseye image or a plain Debian): the lab
/// passes the same, every question answered, tshark agreeing.
#[test]
fn the_second_lab_passes_on_a_bench_without_network_manager() {
    let bench = TestBench::up_args(&["--no-network-manager"]);
    let scratch = Scratch::new("second-lab-raw");
    let dir = run_lab(&bench, &repo("labs/arp-icmp.toml"), &scratch.path("runs"));
    let run = read_json(&dir.join("run.json"));
    assert_every_question_answered(&run);
    assert_tshark_agrees(&dir, &run);
}

/// The `toml` blocks of docs/writing-a-lab.md, in order.
fn guide_blocks() -> Vec<String> {
    let text = std::fs::read_to_string(repo("docs/writing-a-lab.md")).unwrap();
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    for line in text.lines() {
        match (&mut current, line) {
            (None, "```toml") => current = Some(String::new()),
            (Some(b), "```") => {
                blocks.push(std::mem::take(b));
                current = None;
            }
            (Some(b), l) => {
                b.push_str(l);
                b.push('\n');
            }
            (None, _) => {}
        }
    }
    blocks
}

#[test]
fn the_guide_example_is_the_second_lab_and_runs() {
    let blocks = guide_blocks();
    assert!(blocks.len() >= 5, "{blocks:?}");
    let lab = std::fs::read_to_string(repo("labs/arp-icmp.toml")).unwrap();
    for b in &blocks {
        assert!(
            lab.contains(b.as_str()),
            "a guide block that is not in labs/arp-icmp.toml:\n{b}"
        );
    }
    // Together they are the whole lab: every step and question of it.
    let guide = blocks.concat();
    for key in ["[[step]]", "[[question]]", "[programs."] {
        assert_eq!(
            guide.matches(key).count(),
            lab.matches(key).count(),
            "{key}"
        );
    }
    let bench = TestBench::up();
    let scratch = Scratch::new("guide-lab");
    let file = scratch.write("guide.toml", &guide);
    let dir = run_lab(&bench, &file, &scratch.path("runs"));
    let run = read_json(&dir.join("run.json"));
    assert_every_question_answered(&run);
}
