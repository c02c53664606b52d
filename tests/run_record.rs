//! The run record stays readable: `tests/fixtures/run-v1/` is a run
//! directory written by `labctl run --to I.11` of the seed lab on a virtual
//! bench (events, steps, plan, program output, two captures, and the
//! run.json the report made then). `labctl report` must rebuild the same
//! facts from it, so run directories of this version still load after the
//! record's code changes.

mod common;
mod run_json_support;

use std::path::{Path, PathBuf};

use common::Labctl;
use labctl::record::Event;
use run_json_support::{assert_matches_schema, read_json};
use serde_json::Value;

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/run-v1")
}

/// A copy of the fixture to write the reports into (the repository's stays as it is).
fn copy_of_fixture(tag: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("run-record-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    for entry in std::fs::read_dir(fixture()).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(&path, dir.join(path.file_name().unwrap())).unwrap();
    }
    dir
}

/// Panics where `expected` has a value `actual` lacks or differs in (objects
/// may have gained fields; arrays keep their length and order).
#[track_caller]
fn assert_contains(actual: &Value, expected: &Value, at: &str) {
    match (actual, expected) {
        (Value::Object(a), Value::Object(e)) => {
            for (k, v) in e {
                let got = a
                    .get(k)
                    .unwrap_or_else(|| panic!("`{at}.{k}` is missing in the rebuilt run.json"));
                assert_contains(got, v, &format!("{at}.{k}"));
            }
        }
        (Value::Array(a), Value::Array(e)) => {
            assert_eq!(a.len(), e.len(), "`{at}`: how many");
            for (i, (a, e)) in a.iter().zip(e).enumerate() {
                assert_contains(a, e, &format!("{at}[{i}]"));
            }
        }
        (a, e) => assert_eq!(a, e, "`{at}`"),
    }
}

#[test]
fn a_run_directory_of_this_version_rebuilds_the_same_report() {
    let dir = copy_of_fixture("report");
    let out = Labctl::new().arg("report").arg(&dir).run();
    out.assert_status(0)
        .assert_stdout_contains("passed: 11 steps passed, 0 failed; 2 capture(s)");

    let run = read_json(&dir.join("run.json"));
    assert_matches_schema(&dir.join("run.json"));
    let was = read_json(&fixture().join("run.json"));
    // Everything but the time it was made and the questions' wording (which
    // the report is free to improve) is as it was when the run wrote it.
    for key in [
        "schema", "run", "bench", "steps", "programs", "timeline", "captures", "problems",
    ] {
        assert_contains(&run[key], &was[key], key);
    }

    // And the facts themselves, spelled out.
    assert_eq!(run["run"]["outcome"], "passed");
    assert_eq!(run["run"]["steps_passed"], 11);
    assert_eq!(run["run"]["steps_failed"], 0);
    let steps = run["steps"].as_array().unwrap();
    let ids: Vec<&str> = steps.iter().map(|s| s["id"].as_str().unwrap()).collect();
    let want: Vec<String> = (1..=11).map(|i| format!("I.{i}")).collect();
    assert_eq!(ids, want);
    assert!(steps.iter().all(|s| s["outcome"] == "passed"));
    let checks: Vec<&Value> = steps
        .iter()
        .flat_map(|s| s["checks"].as_array().unwrap())
        .collect();
    // 17 actions and 25 expectations, all ✔.
    assert_eq!(checks.len(), 42);
    assert!(checks.iter().all(|c| c["ok"] == true));
    // 31 lines printed, 5 sent.
    assert_eq!(run["timeline"].as_array().unwrap().len(), 36);
    let captures = run["captures"].as_array().unwrap();
    assert_eq!(captures.len(), 2);
    assert!(captures.iter().all(|c| c["analysis"].is_object()));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn every_recorded_event_reads_back_into_the_same_event() {
    let text = std::fs::read_to_string(fixture().join("events.jsonl")).unwrap();
    let mut kinds = std::collections::BTreeSet::new();
    for (i, line) in text.lines().enumerate() {
        let was: Value = serde_json::from_str(line).unwrap();
        let event: Event =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("events.jsonl:{}: {e}", i + 1));
        // Same tag, same fields, same values: the writer's and the reader's record are one.
        assert_eq!(serde_json::to_value(&event).unwrap(), was, "line {}", i + 1);
        kinds.insert(was["event"].as_str().unwrap().to_string());
    }
    assert!(
        kinds.len() >= 12,
        "the fixture shows most kinds of event: {kinds:?}"
    );
}
