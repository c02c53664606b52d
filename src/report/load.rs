//! Reading a run directory into a [`RunInput`]: the one part of the report
//! that knows the files `labctl run` writes ([`crate::run::rundir`]).
//!
//! Everything comes from `events.jsonl`, one event per line in the order
//! they happened; a torn last line (a crash mid-write) is skipped. Program
//! output and stdin lines belong to the step that was running when they
//! were recorded. Fields are read by name, so an event gaining fields
//! changes nothing here.

use std::path::Path;

use serde_json::Value;

use super::model::*;
use crate::error::Error;
use crate::util::io_reason;

fn text(v: &Value, key: &str) -> String {
    v[key].as_str().unwrap_or_default().to_string()
}

fn opt_text(v: &Value, key: &str) -> Option<String> {
    v[key]
        .as_str()
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

/// Reads what the run recorded in `run_dir`.
pub fn load(run_dir: &Path) -> Result<RunInput, Error> {
    let path = run_dir.join("events.jsonl");
    let events = std::fs::read_to_string(&path).map_err(|e| {
        Error::Usage(format!(
            "`{}` is not a run directory: cannot read `events.jsonl`: {}",
            run_dir.display(),
            io_reason(&e)
        ))
    })?;
    let mut input = RunInput {
        id: run_dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
        ..RunInput::default()
    };
    // Index into `input.steps` of the step running now (the last started).
    let mut current: Option<usize> = None;
    for line in events.lines() {
        let Ok(v) = serde_json::from_str::<Value>(line) else {
            continue;
        };
        let step_of =
            |input: &RunInput, current: Option<usize>| current.map(|i| input.steps[i].id.clone());
        match v["event"].as_str().unwrap_or_default() {
            "run_started" => {
                if let Some(id) = opt_text(&v, "run_id") {
                    input.id = id;
                }
                input.lab = text(&v, "lab");
                input.lab_title = opt_text(&v, "lab_title");
                input.started_at = v["at"].as_f64();
                input.bench = BenchInfo {
                    name: text(&v, "bench"),
                    hosts: v["hosts"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .map(|h| HostInfo {
                            name: text(h, "name"),
                            addr: text(h, "cidr"),
                            ssh: opt_text(h, "endpoint"),
                            interface: opt_text(h, "interface"),
                        })
                        .collect(),
                    programs: programs_info(&v["programs"]),
                };
                input.steps = v["steps"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|s| StepRecord {
                        id: text(s, "id"),
                        title: text(s, "title"),
                        hosts: s["hosts"]
                            .as_array()
                            .into_iter()
                            .flatten()
                            .filter_map(|h| h.as_str().map(str::to_string))
                            .collect(),
                        outcome: Outcome::Skipped,
                        started_at: None,
                        finished_at: None,
                        checks: Vec::new(),
                    })
                    .collect();
            }
            "step_started" => {
                let id = text(&v, "step");
                current = input.steps.iter().position(|s| s.id == id);
                if current.is_none() {
                    input.steps.push(StepRecord {
                        id,
                        title: text(&v, "title"),
                        hosts: Vec::new(),
                        outcome: Outcome::Running,
                        started_at: None,
                        finished_at: None,
                        checks: Vec::new(),
                    });
                    current = Some(input.steps.len() - 1);
                }
                let s = &mut input.steps[current.expect("set above")];
                s.outcome = Outcome::Running;
                s.started_at = v["at"].as_f64();
            }
            "action_done" | "expectation_passed" | "expectation_failed" => {
                let kind = v["event"].as_str().unwrap_or_default();
                let ok = match kind {
                    "action_done" => v["ok"].as_bool().unwrap_or(false),
                    k => k == "expectation_passed",
                };
                let evidence = match kind {
                    "action_done" => text(&v, "detail"),
                    "expectation_failed" => {
                        opt_text(&v, "message").unwrap_or_else(|| text(&v, "seen"))
                    }
                    _ => text(&v, "seen"),
                };
                let what = text(&v, "what");
                let host = opt_text(&v, "host");
                let id = opt_text(&v, "step");
                let i = id
                    .and_then(|id| input.steps.iter().position(|s| s.id == id))
                    .or(current);
                if let Some(i) = i {
                    input.steps[i].checks.push(CheckRecord {
                        what,
                        ok,
                        host,
                        evidence,
                    });
                }
            }
            "program_started" if !v["capture"].as_bool().unwrap_or(false) => {
                input.programs.push(ProgramRecord {
                    name: text(&v, "name"),
                    host: text(&v, "host"),
                    program: text(&v, "program"),
                    step: opt_text(&v, "step"),
                    started_at: None,
                });
            }
            "output" | "sent" => {
                let stream = match (v["event"].as_str(), v["stream"].as_str()) {
                    (Some("sent"), _) => LineStream::Stdin,
                    (_, Some("stderr")) => LineStream::Stderr,
                    _ => LineStream::Stdout,
                };
                input.lines.push(LineRecord {
                    at: v["ts"].as_f64().unwrap_or(0.0),
                    host: text(&v, "host"),
                    program: text(&v, "program"),
                    stream,
                    text: text(&v, "line"),
                    step: step_of(&input, current),
                });
            }
            "capture_saved" => input.captures.push(CaptureRecord {
                name: text(&v, "name"),
                host: text(&v, "host"),
                file: text(&v, "file"),
                step: opt_text(&v, "started_by"),
                stopped_in: opt_text(&v, "stopped_by"),
            }),
            "step_finished" => {
                let id = text(&v, "step");
                if let Some(s) = input.steps.iter_mut().find(|s| s.id == id) {
                    s.outcome = match v["outcome"].as_str() {
                        Some("passed") => Outcome::Passed,
                        Some("interrupted") => Outcome::Interrupted,
                        _ => Outcome::Failed,
                    };
                    s.finished_at = s.started_at.zip(v["secs"].as_f64()).map(|(a, d)| a + d);
                }
            }
            "problem" => {
                // In a step while it runs; before the first step, between
                // steps or at the end, the run's alone.
                let running = current.filter(|&i| input.steps[i].outcome == Outcome::Running);
                if let Some(i) = running {
                    input.steps[i].checks.push(CheckRecord {
                        what: "a problem outside the step's actions".into(),
                        ok: false,
                        host: opt_text(&v, "host"),
                        evidence: text(&v, "message"),
                    });
                }
                input.problems.push(ProblemRecord {
                    host: opt_text(&v, "host"),
                    step: running.map(|i| input.steps[i].id.clone()),
                    message: text(&v, "message"),
                });
            }
            "run_finished" => {
                input.outcome = opt_text(&v, "outcome");
                input.error = opt_text(&v, "error");
                input.finished_at = v["at"].as_f64();
            }
            _ => {}
        }
    }
    if input.outcome.is_none() {
        // The run goes on: what has not started is still to come.
        for s in input
            .steps
            .iter_mut()
            .filter(|s| s.outcome == Outcome::Skipped)
        {
            s.outcome = Outcome::Pending;
        }
    }
    Ok(input)
}

/// `run_started.programs`, when the run recorded it.
fn programs_info(v: &Value) -> Option<super::model::ProgramsInfo> {
    let set = v["set"].as_str()?.to_string();
    Some(super::model::ProgramsInfo {
        set,
        interpreter: opt_text(v, "interpreter"),
        versions: v["versions"]
            .as_object()
            .into_iter()
            .flatten()
            .filter_map(|(h, x)| Some((h.clone(), x.as_str()?.to_string())))
            .collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_directory_reads_back_into_steps_lines_and_captures() {
        let dir = std::env::temp_dir().join(format!("labctl-load-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let events = [
            r#"{"event":"run_started","run_id":"r1","lab":"sockets","lab_title":"Sockets","lab_file":"labs/lab.toml","bench":"bench","hosts":[{"name":"A","cidr":"10.0.3.1/24","interface":"eth0","endpoint":"127.0.0.1:4001"}],"steps":[{"id":"I.6","title":"Start","needed":false,"hosts":["A"]},{"id":"I.7","title":"Later","needed":false,"hosts":["A"]}],"dir":null,"dry_run":false,"at":100.0}"#,
            r#"{"event":"step_started","step":"I.6","title":"Start","needed":false,"at":101.0}"#,
            r#"{"event":"action_done","step":"I.6","host":"A","what":"start `server`: tcp_server --port 50000","ok":true,"detail":"pgid 42","secs":0.1}"#,
            r#"{"event":"program_started","host":"A","name":"server","program":"tcp_server","step":"I.6","capture":false,"pgid":42}"#,
            r#"{"event":"output","host":"A","program":"server","stream":"stdout","ts":101.5,"line":"TCP server started ... listening on 0.0.0.0:50000"}"#,
            r#"{"event":"expectation_failed","step":"I.6","host":"A","program":"server","what":"`server` prints /x/","seen":"","message":"step `I.6` on host `A`: nothing matched","secs":2.0}"#,
            r#"{"event":"capture_saved","host":"A","name":"cap","file":"A-cap.pcap","bytes":24,"started_by":"I.6","stopped_by":"I.6"}"#,
            r#"{"event":"step_finished","step":"I.6","outcome":"failed","secs":2.5}"#,
            r#"{"event":"run_finished","outcome":"failed","steps_passed":0,"steps_failed":1,"steps_not_run":1,"#,
        ];
        std::fs::write(dir.join("events.jsonl"), events.join("\n")).unwrap();
        let input = load(&dir).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!((input.id.as_str(), input.lab.as_str()), ("r1", "sockets"));
        assert_eq!(input.bench.hosts[0].ip(), "10.0.3.1");
        assert_eq!(input.steps.len(), 2);
        let s = &input.steps[0];
        assert_eq!((s.outcome, s.finished_at), (Outcome::Failed, Some(103.5)));
        assert_eq!(s.checks.len(), 2);
        assert!(!s.checks[1].ok && s.checks[1].evidence.contains("nothing matched"));
        assert_eq!(input.steps[1].outcome, Outcome::Pending);
        assert_eq!(input.lines[0].step.as_deref(), Some("I.6"));
        assert_eq!(input.programs[0].program, "tcp_server");
        assert_eq!(input.captures[0].file, "A-cap.pcap");
        // The torn last line (a crash mid-write) is skipped: the run still reads as running.
        assert_eq!(input.outcome, None);
    }
}
