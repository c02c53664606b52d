//! The lab's questions answered only from the evidence of the steps they
//! name, on the virtual bench: partial runs (`--from I.12 --to I.13`,
//! `--step I.10`, `--to I.11`, `--from II.1`) and a failing run answer
//! exactly the questions their steps evidence and say "not answered" for
//! the others, naming the steps; an instructor's own lab gets only its own
//! questions; the students' copy holds the questions but no answer.

mod capture_support;
mod common;
mod run_json_support;

use std::path::{Path, PathBuf};

use common::{install_programs, Labctl, Scratch, TestBench};
use run_json_support::{assert_matches_schema, read_json};
use serde_json::Value;

const NINE: [&str; 9] = [
    "I.1(a)", "I.1(b)", "I.2", "I.3", "I.4(a)", "I.4(b)", "II.1", "II.2", "II.3",
];

/// Runs the lab (`lab`, or the seed lab) with `args`; returns the run directory.
fn run(
    bench: &TestBench,
    s: &Scratch,
    tag: &str,
    lab: Option<&Path>,
    args: &[&str],
    status: i32,
) -> PathBuf {
    common::run_on(bench, lab, &s.path(tag), args, status)
}

/// (id, answered, ok, text) of every answer, in order.
fn answers(dir: &Path) -> Vec<(String, bool, bool, String)> {
    let run: Value = read_json(&dir.join("run.json"));
    assert_matches_schema(&dir.join("run.json"));
    run_json_support::answers(&run)
}

/// The ids answered (each as the lab expects); every other one of the nine
/// says it is not answered, naming its steps, and cites nothing.
fn exactly(dir: &Path, answered: &[&str], why: &str) {
    let got = answers(dir);
    let ids: Vec<&str> = got.iter().map(|a| a.0.as_str()).collect();
    assert_eq!(ids, NINE, "the nine questions, in order");
    for (id, yes, ok, text) in &got {
        if answered.contains(&id.as_str()) {
            assert!(*yes && *ok, "{id} answered: {text}");
            assert!(text.contains("Where to look: "), "{id}: {text}");
        } else {
            assert!(!yes && !ok, "{id} not answered: {text}");
            assert!(text.starts_with("Not answered: "), "{id}: {text}");
            assert!(text.contains(why), "{id} says {why:?}: {text}");
            assert!(text.contains("`labctl run --step "), "{id}: {text}");
            assert!(!text.contains("Where to look"), "{id}: {text}");
        }
    }
    let md = std::fs::read_to_string(dir.join("report.md")).unwrap();
    for (id, yes, _, _) in &got {
        let mark = if *yes { "✔" } else { "–" };
        assert!(
            md.contains(&format!("### {mark} {id} — ")),
            "{id} in report.md"
        );
    }
}

const UDP_LAB: &str = r#"
[lab]
name = "udp-only"

[[step]]
id = "U.1"
title = "addresses"
hosts = ["A", "B", "C"]
do = [{ configure = true }]

[[step]]
id = "U.2"
title = "a UDP server and two clients"
hosts = ["A", "B", "C"]
do = [
  { capture = "udp", on = "A", filter = "udp port 50001" },
  { start = "server", on = "A", program = "udp_server", args = ["--port", "50001"] },
  { expect = "server", match = "UDP server started" },
  { start = "b", on = "B", program = "udp_client", args = ["--server", "{A.addr}", "--port", "50001"] },
  { start = "c", on = "C", program = "udp_client", args = ["--server", "{A.addr}", "--port", "50001"] },
  { expect = "b", match = "^Connected " },
  { expect = "c", match = "^Connected " },
  { send = "b", lines = ["one"] },
  { send = "c", lines = ["two"] },
  { expect = "b", match = "^Server> ONE$" },
  { expect = "c", match = "^Server> TWO$" },
  { stop = ["b", "c", "server", "udp"] },
]

[[question]]
id = "Q.1"
text = "What do the datagrams look like?"
evidence = ["U.2"]
answer = "udp-frames"

[[question]]
id = "Q.2"
text = "Did the second client wait?"
evidence = ["U.2"]
answer = "udp-no-wait"
"#;

#[test]
fn answers_come_only_from_the_steps_that_ran_and_passed() {
    capture_support::programs();
    let bench = TestBench::up();
    let s = Scratch::new("answers");

    // The UDP part alone: its two questions answered, the others not.
    let udp = run(
        &bench,
        &s,
        "udp",
        None,
        &["--from", "I.12", "--to", "I.13"],
        0,
    );
    exactly(&udp, &["I.4(a)", "I.4(b)"], "no evidence in this run");
    let got = answers(&udp);
    assert!(got[0].3.contains("step `I.8` did not run"), "{}", got[0].3);
    assert!(got[6].3.contains("step `II.3` did not run"), "{}", got[6].3);
    // I.4(b) compares with C's TCP client only when that step ran.
    assert!(
        got[5].3.contains("`I.10`") && got[5].3.contains("did not pass in this run"),
        "{}",
        got[5].3
    );

    // The students' copy: the questions, the captures, no answer.
    Labctl::new()
        .args(["report", "--student"])
        .arg(&udp)
        .run()
        .assert_status(0);
    let student = udp.join("student");
    let md = std::fs::read_to_string(student.join("report.md")).unwrap();
    let html = std::fs::read_to_string(student.join("report.html")).unwrap();
    for (id, _, _, text) in &got {
        for page in [&md, &html] {
            assert!(page.contains(id.as_str()), "{id} asked");
            for part in text.split("\n\n").filter(|p| p.len() > 20) {
                assert!(
                    !page.contains(part),
                    "no answer text in the students' copy: {part}"
                );
            }
        }
    }
    for word in ["Where to look", "Why:", "Not answered", "✔ I.4"] {
        assert!(!md.contains(word) && !html.contains(word), "{word}");
    }
    assert!(md.contains("## The lab's questions") && md.contains("### I.4(a) — "));
    assert!(
        student.join("A-cap-udp-A.pcap").is_file(),
        "the captures are handed out too"
    );
    // Its pcapng copy is the run's: the same story, interface and filter.
    assert_eq!(
        std::fs::read(student.join("A-cap-udp-A.pcapng")).unwrap(),
        std::fs::read(udp.join("A-cap-udp-A.pcapng")).unwrap(),
        "the students' pcapng tells the capture's story as the run's does"
    );
    let sj = read_json(&student.join("run.json"));
    assert!(sj["answers"]
        .as_array()
        .unwrap()
        .iter()
        .all(|a| a["answer"] == ""));

    // One step replayed after what it needs.
    let i10 = run(&bench, &s, "i10", None, &["--step", "I.10"], 0);
    exactly(&i10, &["I.1(a)", "I.1(b)", "I.3"], "did not run");
    // Part I's TCP steps: I.9 ran too.
    let to11 = run(&bench, &s, "to11", None, &["--to", "I.11"], 0);
    exactly(&to11, &["I.1(a)", "I.1(b)", "I.2", "I.3"], "did not run");
    // Part II alone: never answered from Part I's captures, nor Part I from Part II's.
    let p2 = run(&bench, &s, "p2", None, &["--from", "II.1"], 0);
    exactly(&p2, &["II.1", "II.2", "II.3"], "did not run");

    // A run that fails in I.10: what ran before it is answered, I.10's
    // question says it failed, the rest did not run.
    let lab = std::fs::read_to_string("labs/lab.toml").unwrap();
    let broken = lab.replacen(
        r#"{ expect = "client-C", match = "^Server> HELLO FROM C$" },"#,
        r#"{ expect = "client-C", match = "^Server> NEVER$", within = "1s" },"#,
        1,
    );
    assert_ne!(broken, lab);
    let lab_file = s.write("failing.toml", &broken);
    let failed = run(&bench, &s, "failed", Some(&lab_file), &[], 1);
    let got = answers(&failed);
    let answered: Vec<&str> = got.iter().filter(|a| a.1).map(|a| a.0.as_str()).collect();
    assert_eq!(answered, ["I.1(a)", "I.1(b)", "I.2"], "{got:#?}");
    assert!(
        got[3].3.starts_with("Not answered: step `I.10` failed"),
        "{}",
        got[3].3
    );
    for a in &got[4..] {
        assert!(a.3.contains("did not run"), "{}: {}", a.0, a.3);
    }

    // An instructor's own UDP-only lab: its questions, and only those.
    install_programs(&bench);
    let own = s.write("udp-lab.toml", UDP_LAB);
    let dir = run(&bench, &s, "own", Some(&own), &[], 0);
    let got = answers(&dir);
    let ids: Vec<&str> = got.iter().map(|a| a.0.as_str()).collect();
    assert_eq!(ids, ["Q.1", "Q.2"]);
    for (id, yes, ok, text) in &got {
        assert!(*yes && *ok, "{id}: {text}");
    }
    assert!(
        got[0]
            .3
            .contains("`A-udp.pcapng` with the display filter `udp`"),
        "{}",
        got[0].3
    );
}
