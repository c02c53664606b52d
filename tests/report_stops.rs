//! The reports of runs that stop early, on the virtual bench: a run refused
//! by two hosts' unknown keys says why at the top of report.md/report.html
//! and in run.json, names both hosts in its last line and its `problem`
//! events; a run cut by Ctrl-C shows its step and itself as interrupted, not
//! failed; every report file is private (0600) like the run directory; the
//! handout's answers appear only when the run holds what they are about.

mod common;
mod run_json_support;

use std::ffi::OsStr;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;

use common::{
    b_waits, install_programs, json_lines, known_line, labctl, run_dir, with_known_hosts,
    Background, ExchangeLab, Scratch, TestBench,
};
use run_json_support::{assert_matches_schema, read_json};
use serde_json::Value;

/// Addresses on A, B and C: a run that needs every host.
const THREE_HOSTS_LAB: &str = r#"
[lab]
name = "stops-keys"
[[step]]
id = "S.1"
title = "addresses"
hosts = ["A", "B", "C"]
do = [{ configure = true }]
"#;

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

/// report.md, report.html, run.json and every ladder are 0600, the directory 0700.
#[track_caller]
fn assert_private(dir: &Path) {
    assert_eq!(mode(dir), 0o700, "{}", dir.display());
    let mut reports = vec![
        "report.md".to_string(),
        "report.html".into(),
        "run.json".into(),
    ];
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if name.starts_with("ladder-") {
            reports.push(name);
        }
    }
    for f in &reports {
        assert_eq!(mode(&dir.join(f)), 0o600, "{f} in {}", dir.display());
    }
}

/// `text` up to the first occurrence of `marker` (which must be there).
fn before<'a>(text: &'a str, marker: &str) -> &'a str {
    let i = text
        .find(marker)
        .unwrap_or_else(|| panic!("{marker:?} in {text}"));
    &text[..i]
}

#[test]
fn two_refused_hosts_are_named_in_the_error_events_and_at_the_top_of_the_reports() {
    let bench = TestBench::up();
    let s = Scratch::new("stops-keys");
    let home = s.path("home");
    std::fs::create_dir_all(&home).unwrap();
    // labctl's known_hosts holds B's key only: A's and C's are unknown.
    let kh = s.write("known_hosts", &format!("{}\n", known_line(&bench, "B")));
    let hosts = with_known_hosts(&bench, "hosts-stops-keys.toml", &kh);
    let lab = s.write("lab.toml", THREE_HOSTS_LAB);
    let out_dir = s.path("runs");

    let out = labctl(
        &hosts,
        &lab,
        &home,
        &["run", "--out", out_dir.to_str().unwrap()],
    );
    out.assert_status(3);
    let (pa, pc) = (bench.ssh_port("A"), bench.ssh_port("C"));
    let a_says = format!("host `A` (127.0.0.1:{pa}): unknown host key ssh-ed25519 SHA256:");
    let c_says = format!("host `C` (127.0.0.1:{pc}): unknown host key ssh-ed25519 SHA256:");
    // The last words name both hosts, a line each, in the bench's order.
    let err: Vec<&str> = out.stderr.lines().collect();
    let first = err
        .iter()
        .position(|l| l.starts_with("error: "))
        .unwrap_or_else(|| panic!("an error line\n{out}"));
    assert!(err[first].starts_with(&format!("error: {a_says}")), "{out}");
    assert!(
        err.get(first + 1).is_some_and(|l| l.starts_with(&c_says)),
        "{out}"
    );

    let dir = run_dir(&out_dir);
    // Each refusal is a `problem` of its host.
    let problems: Vec<Value> = json_lines(&dir.join("events.jsonl"))
        .into_iter()
        .filter(|e| e["event"] == "problem")
        .collect();
    let mut named: Vec<&str> = problems
        .iter()
        .map(|p| p["host"].as_str().unwrap_or("null"))
        .collect();
    named.sort();
    assert_eq!(named, ["A", "C"], "{problems:#?}");

    // run.json says why, and which host said what.
    let run = read_json(&dir.join("run.json"));
    assert_eq!(run["run"]["outcome"], "failed");
    let error = run["run"]["error"]
        .as_str()
        .unwrap_or_else(|| panic!("{run:#}"));
    assert!(
        error.contains(&a_says) && error.contains(&c_says),
        "{error}"
    );
    let listed: Vec<(&str, &str)> = run["problems"]
        .as_array()
        .unwrap_or_else(|| panic!("{run:#}"))
        .iter()
        .map(|p| (p["host"].as_str().unwrap(), p["message"].as_str().unwrap()))
        .collect();
    assert_eq!(listed.len(), 2, "{listed:?}");
    assert!(listed
        .iter()
        .any(|(h, m)| *h == "A" && m.starts_with(&a_says)));
    assert!(listed
        .iter()
        .any(|(h, m)| *h == "C" && m.starts_with(&c_says)));
    // Nothing ran, so the handout's questions are not answered at all.
    assert_eq!(run["answers"], serde_json::json!([]));
    assert_matches_schema(&dir.join("run.json"));

    // report.md: the reason before anything else; the lab asks no questions.
    let md = std::fs::read_to_string(dir.join("report.md")).unwrap();
    let top = before(&md, "## Bench");
    assert!(top.contains("## ✘ Why the run stopped"), "{md}");
    assert!(top.contains("before its first step"), "{md}");
    assert!(top.contains(&a_says) && top.contains(&c_says), "{md}");
    assert!(!md.contains("## Answers"), "a lab without questions: {md}");
    assert!(!md.contains("### ✘ I.1"), "{md}");

    // report.html: the same at the top of the page.
    let html = std::fs::read_to_string(dir.join("report.html")).unwrap();
    let top = before(&html, r#"<section id="bench">"#);
    assert!(top.contains(r#"<section id="stopped""#), "{html}");
    for (h, p) in [("A", pa), ("C", pc)] {
        assert!(
            top.contains(&format!(
                "host <code>{h}</code> (127.0.0.1:{p}): unknown host key"
            )),
            "{top}"
        );
    }
    assert!(!html.contains(r#"class="answer bad""#), "{html}");
    assert_private(&dir);
}

#[test]
fn a_run_cut_by_ctrl_c_reports_its_step_and_itself_interrupted_in_private_files() {
    let bench = TestBench::up();
    install_programs(&bench);
    let s = Scratch::new("stops-intr");
    let home = s.path("home");
    std::fs::create_dir_all(&home).unwrap();
    let text = ExchangeLab::new("stops-intr")
        .title("a captured exchange")
        .captured()
        .toml()
        + &b_waits("a long wait", "60s");
    let lab = s.write("lab.toml", &text);
    let out_dir = s.path("runs");
    let args: [&OsStr; 7] = [
        "--hosts".as_ref(),
        bench.hosts_file().as_os_str(),
        "--lab".as_ref(),
        lab.as_os_str(),
        "run".as_ref(),
        "--out".as_ref(),
        out_dir.as_os_str(),
    ];
    let mut bg = Background::start(&args, &home, &[]);
    bg.wait_for("START  S.3", Duration::from_secs(120));
    bg.signal(libc::SIGINT);
    let (code, out, err) = bg.finish(Duration::from_secs(60));
    assert_eq!(code, 130, "{out}\n{err}");

    let dir = run_dir(&out_dir);
    let run = read_json(&dir.join("run.json"));
    assert_eq!(run["run"]["outcome"], "interrupted");
    let outcomes: Vec<(&str, &str)> = run["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|st| (st["id"].as_str().unwrap(), st["outcome"].as_str().unwrap()))
        .collect();
    assert_eq!(
        outcomes,
        [("S.1", "passed"), ("S.2", "passed"), ("S.3", "interrupted")],
        "{out}"
    );
    assert_eq!(run["run"]["steps_failed"], 0);
    assert_eq!(run["run"]["steps_interrupted"], 1);
    assert!(
        run["run"]["error"]
            .as_str()
            .is_some_and(|e| e.starts_with("interrupted")),
        "{:#}",
        run["run"]
    );
    // The lab asks no questions: no answers.
    assert_eq!(
        run["answers"],
        serde_json::json!([]),
        "a lab without questions"
    );
    assert_matches_schema(&dir.join("run.json"));

    let md = std::fs::read_to_string(dir.join("report.md")).unwrap();
    assert!(md.contains("### ⊘ S.3 — a long wait (interrupted)"), "{md}");
    assert!(!md.contains("✘ S.3") && !md.contains("(failed)"), "{md}");
    let top = before(&md, "## Bench");
    assert!(top.contains("⊘ interrupted"), "{top}");
    assert!(top.contains("stopped in step `S.3`"), "{top}");
    let html = std::fs::read_to_string(dir.join("report.html")).unwrap();
    assert!(
        html.contains(r#"<span class="intr">⊘</span> S.3"#),
        "{html}"
    );
    assert!(html.contains(r#"<span class="badge intr">⊘ interrupted</span>"#));
    assert!(dir.join("ladder-cap-A.svg").exists());
    assert_private(&dir);
}
