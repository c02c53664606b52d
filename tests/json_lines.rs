//! `--json` on `run`, `check` and `clean` against the virtual bench: every
//! line on stdout validates against `docs/events-json-schema.json` (Python's
//! `jsonschema`, an independent validator), `run --json` prints exactly what
//! `events.jsonl` records, and the human output goes to stderr.

mod common;
mod run_json_support;

use common::{labctl, run_dir, Scratch, TestBench};
use run_json_support::lines_schema_errors;

use common::seed_lab;

#[track_caller]
fn assert_lines_valid(what: &str, stdout: &str) -> Vec<serde_json::Value> {
    assert!(!stdout.trim().is_empty(), "{what}: no JSON lines");
    if let Err(said) = lines_schema_errors(stdout) {
        panic!("{what}: lines do not match docs/events-json-schema.json:\n{said}");
    }
    stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn kinds(lines: &[serde_json::Value]) -> Vec<&str> {
    lines.iter().map(|v| v["event"].as_str().unwrap()).collect()
}

/// Every line names the bench `run_started` names, and every operation's
/// line (`action`, `op`) the operation of `plan` on its host, in its step,
/// with its words; every operation of the plan has a line.
#[track_caller]
fn assert_ops_named(lines: &[serde_json::Value], plan: &serde_json::Value, what: &str) {
    let bench = lines[0]["bench"].as_str().unwrap();
    assert!(!bench.is_empty(), "{what}: {}", lines[0]);
    let mut named = std::collections::BTreeSet::new();
    for l in lines {
        assert_eq!(l["bench"], bench, "{what}: a line of another bench: {l}");
        let Some(action) = l["action"].as_u64() else {
            continue;
        };
        let op = l["op"].as_u64().unwrap();
        let step = plan["steps"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["id"] == l["step"])
            .unwrap_or_else(|| panic!("{what}: no step {} in the plan", l["step"]));
        let o = &step["actions"][action as usize]["ops"][op as usize];
        assert_eq!(o["host"], l["host"], "{what}: {l} is not {o}");
        if l["event"] != "program_started" {
            assert_eq!(o["what"], l["what"], "{what}: {l} is not {o}");
        }
        named.insert((l["step"].to_string(), action, op));
    }
    let ops: usize = plan["steps"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| s["actions"].as_array().unwrap())
        .map(|a| a["ops"].as_array().unwrap().len())
        .sum();
    assert_eq!(named.len(), ops, "{what}: operations without a line");
}

#[test]
fn every_json_line_of_check_run_and_clean_matches_the_schema() {
    let bench = TestBench::up();
    let home = Scratch::new("json-lines");
    let (hosts, lab) = (bench.hosts_file(), seed_lab());

    // check on a fresh bench: it fails (no lab addresses), line by line.
    let check = labctl(hosts, &lab, &home.0, &["check", "--json"]);
    check.assert_status(1);
    let lines = assert_lines_valid("check --json", &check.stdout);
    let k = kinds(&lines);
    assert_eq!(k.first(), Some(&"check_started"), "{check}");
    assert_eq!(k.last(), Some(&"check_finished"), "{check}");
    assert_eq!(k.iter().filter(|e| **e == "host_checked").count(), 3);
    assert_eq!(lines.last().unwrap()["ok"], false);
    // The table went to stderr.
    assert!(check.stderr.contains("not ready"), "{check}");

    // The whole lab, live as JSON lines: the same lines as events.jsonl.
    let out = home.path("runs");
    let run = labctl(
        hosts,
        &lab,
        &home.0,
        &["run", "--json", "--out", out.to_str().unwrap()],
    );
    run.assert_status(0);
    let lines = assert_lines_valid("run --json", &run.stdout);
    let k = kinds(&lines);
    assert_eq!(k.first(), Some(&"run_started"), "{run}");
    assert_eq!(k.last(), Some(&"run_finished"), "{run}");
    for kind in [
        "step_started",
        "expectation_passed",
        "output",
        "capture_saved",
        "step_finished",
    ] {
        assert!(k.contains(&kind), "no `{kind}` line\n{run}");
    }
    assert_eq!(lines.last().unwrap()["outcome"], "passed");
    let recorded = std::fs::read_to_string(run_dir(&out).join("events.jsonl")).unwrap();
    assert_eq!(run.stdout, recorded, "stdout differs from events.jsonl");
    // Every line names its bench, and every operation's line the very
    // operation of the plan the run recorded.
    let plan: serde_json::Value =
        serde_json::from_slice(&std::fs::read(run_dir(&out).join("plan.json")).unwrap()).unwrap();
    assert_ops_named(&lines, &plan, "run --json");
    // The human output is on stderr, and only there.
    assert!(run.stderr.contains("PASSED: steps 17 passed"), "{run}");
    assert!(!run.stdout.contains("SUMMARY"), "{run}");

    // --dry-run --json: the same kind of lines, nothing executed.
    let dry = labctl(hosts, &lab, &home.0, &["run", "--dry-run", "--json"]);
    dry.assert_status(0);
    let dry_lines = assert_lines_valid("run --dry-run --json", &dry.stdout);
    let k = kinds(&dry_lines).join(" ");
    assert!(k.starts_with("run_started step_started skipped"), "{k}");
    assert_ops_named(&dry_lines, &plan, "run --dry-run --json");

    let clean = labctl(hosts, &lab, &home.0, &["clean", "--json"]);
    clean.assert_status(0);
    let lines = assert_lines_valid("clean --json", &clean.stdout);
    assert_eq!(
        kinds(&lines),
        [
            "host_cleaned",
            "host_cleaned",
            "host_cleaned",
            "clean_finished"
        ]
    );
    assert!(clean.stderr.contains("nothing labctl started is running"));
}

#[test]
fn a_rooms_json_lines_name_their_bench() {
    let bench = TestBench::room(2);
    let home = Scratch::new("json-room");
    let out = home.path("runs");
    let run = labctl(
        bench.hosts_file(),
        &seed_lab(),
        &home.0,
        &[
            "run",
            "--all",
            "--step",
            "I.1",
            "--json",
            "--out",
            out.to_str().unwrap(),
        ],
    );
    run.assert_status(0);
    let lines = assert_lines_valid("run --all --json", &run.stdout);
    let benches: std::collections::BTreeSet<&str> =
        lines.iter().map(|v| v["bench"].as_str().unwrap()).collect();
    assert_eq!(benches.len(), 2, "{run}");
    // And their room run: the room directory beside the benches' own.
    let rooms: std::collections::BTreeSet<&str> =
        lines.iter().map(|v| v["room"].as_str().unwrap()).collect();
    assert_eq!(rooms.len(), 1, "{run}");
    let room = rooms.first().unwrap();
    assert!(out.join(room).join("room.json").is_file(), "{room}\n{run}");
}
