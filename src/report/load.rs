//! Reading a run directory into a [`RunInput`]: the one part of the report
//! that knows the files `labctl run` writes ([`crate::record::dir`]).
//!
//! Everything comes from `events.jsonl`, one [`Event`] per line in the order
//! they happened, read back into the same type the run wrote
//! ([`crate::record`]) and folded into the report's input. A line that
//! is not an event (a torn last line after a crash mid-write, or a kind of
//! event this labctl does not know) is skipped; fields an event gained are
//! ignored. Program output and stdin lines belong to the step that was
//! running when they were recorded. Their times are each host's clock's,
//! with the samples of the hosts' clocks ([`crate::record::RunClock`]): the
//! report puts them on the run clock ([`super::build`]).

use std::path::Path;

use super::model::*;
use crate::error::Error;
use crate::record::{self as event, ClockSample, Event, HostName, StepId};
use crate::util::io_reason;

/// `Some` unless empty (the record writes an empty string for "none" in places).
fn non_empty(s: &str) -> Option<String> {
    (!s.is_empty()).then(|| s.to_string())
}

/// Reads what the run recorded in `run_dir`.
pub(crate) fn load(run_dir: &Path) -> Result<RunInput, Error> {
    let path = run_dir.join(crate::record::dir::EVENTS);
    let events = std::fs::read_to_string(&path).map_err(|e| {
        Error::Usage(format!(
            "`{}` is not a run directory: cannot read `events.jsonl`: {}",
            run_dir.display(),
            io_reason(&e)
        ))
    })?;
    let mut fold = Fold {
        input: RunInput {
            id: run_dir
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            ..RunInput::default()
        },
        current: None,
    };
    for line in events.lines().filter(|l| !ignored(l)) {
        if let Ok(e) = serde_json::from_str::<Event>(line) {
            fold.event(e);
        }
    }
    Ok(fold.finish())
}

/// The events the report has no use for (the arm of [`Fold::event`] that
/// does nothing), by their tag: a quarter of a run's lines are
/// `op_started` alone, skipped without parsing.
const IGNORED: [&str; 5] = [
    "connected",
    "cleaned",
    "op_started",
    "skipped",
    "program_stopped",
];

/// Whether `line` is one of the [`IGNORED`] events, by its tag (any other
/// line is parsed).
fn ignored(line: &str) -> bool {
    event::tag_of(line).is_some_and(|tag| IGNORED.contains(&tag))
}

/// The report's input as the events so far make it.
struct Fold {
    input: RunInput,
    /// Index into `input.steps` of the step running now (the last started).
    current: Option<usize>,
}

impl Fold {
    fn step_index(&self, id: &StepId) -> Option<usize> {
        self.input.steps.iter().position(|s| *id == *s.id)
    }

    /// One check (action or expectation) of `step`, or of the step running now.
    fn check(&mut self, step: &StepId, host: &HostName, what: String, ok: bool, evidence: String) {
        if let Some(i) = self.step_index(step).or(self.current) {
            self.input.steps[i].checks.push(CheckRecord {
                what,
                ok,
                host: non_empty(host),
                evidence,
            });
        }
    }

    fn event(&mut self, e: Event) {
        let input = &mut self.input;
        match e {
            Event::RunStarted {
                run_id,
                lab,
                lab_title,
                run,
                hosts,
                steps,
                at,
                programs,
                ..
            } => {
                if !run_id.is_empty() {
                    input.id = run_id;
                }
                input.lab = lab;
                input.lab_title = lab_title.filter(|t| !t.is_empty());
                input.started_at = Some(at);
                input.bench = BenchInfo {
                    name: run.bench.into(),
                    hosts: hosts
                        .into_iter()
                        .map(|h| HostInfo {
                            name: h.name.into(),
                            addr: h.cidr,
                            ssh: non_empty(&h.endpoint),
                            interface: non_empty(&h.interface),
                        })
                        .collect(),
                    programs: programs_info(programs),
                };
                input.steps = steps
                    .into_iter()
                    .map(|s| StepRecord {
                        id: s.id.into(),
                        title: s.title,
                        hosts: s.hosts.into_iter().map(String::from).collect(),
                        outcome: Outcome::Skipped,
                        started_at: None,
                        finished_at: None,
                        checks: Vec::new(),
                    })
                    .collect();
            }
            Event::StepStarted {
                step, title, at, ..
            } => {
                let i = match self.step_index(&step) {
                    Some(i) => i,
                    None => {
                        let steps = &mut self.input.steps;
                        steps.push(StepRecord {
                            id: step.into(),
                            title,
                            hosts: Vec::new(),
                            outcome: Outcome::Running,
                            started_at: None,
                            finished_at: None,
                            checks: Vec::new(),
                        });
                        steps.len() - 1
                    }
                };
                self.current = Some(i);
                let s = &mut self.input.steps[i];
                s.outcome = Outcome::Running;
                s.started_at = Some(at);
            }
            Event::ActionDone {
                step,
                host,
                what,
                ok,
                detail,
                ..
            } => self.check(&step, &host, what, ok, detail),
            Event::ExpectationPassed {
                step,
                host,
                what,
                seen,
                ..
            } => self.check(&step, &host, what, true, seen),
            Event::ExpectationFailed {
                step,
                host,
                what,
                seen,
                message,
                ..
            } => {
                let evidence = if message.is_empty() { seen } else { message };
                self.check(&step, &host, what, false, evidence);
            }
            Event::ProgramStarted {
                host,
                name,
                program,
                step,
                capture: false,
                ..
            } => input.programs.push(ProgramRecord {
                name,
                host: host.into(),
                program,
                step: non_empty(&step),
                started_at: None,
            }),
            Event::Output {
                host,
                program,
                stream,
                ts,
                line,
                ..
            } => self.line(
                host,
                program,
                ts,
                line,
                match stream {
                    event::Stream::Stdout => LineStream::Stdout,
                    event::Stream::Stderr => LineStream::Stderr,
                },
            ),
            Event::Sent {
                host,
                program,
                ts,
                line,
                ..
            } => self.line(host, program, ts, line, LineStream::Stdin),
            Event::CaptureSaved {
                host,
                name,
                file,
                started_by,
                stopped_by,
                ..
            } => input.captures.push(CaptureRecord {
                name,
                host: host.into(),
                file,
                step: non_empty(&started_by),
                stopped_in: non_empty(&stopped_by),
            }),
            Event::StepFinished {
                step,
                outcome,
                secs,
                ..
            } => {
                if let Some(s) = input.steps.iter_mut().find(|s| step == *s.id) {
                    s.outcome = match outcome {
                        event::Outcome::Passed => Outcome::Passed,
                        event::Outcome::Interrupted => Outcome::Interrupted,
                        event::Outcome::Failed => Outcome::Failed,
                    };
                    s.finished_at = s.started_at.map(|a| a + secs);
                }
            }
            Event::Problem { host, message, .. } => {
                // In a step while it runs; before the first step, between
                // steps or at the end, the run's alone.
                let running = self
                    .current
                    .filter(|&i| input.steps[i].outcome == Outcome::Running);
                let host = host.as_deref().and_then(non_empty);
                if let Some(i) = running {
                    input.steps[i].checks.push(CheckRecord {
                        what: "a problem outside the step's actions".into(),
                        ok: false,
                        host: host.clone(),
                        evidence: message.clone(),
                    });
                }
                input.problems.push(ProblemRecord {
                    host,
                    step: running.map(|i| input.steps[i].id.clone()),
                    message,
                });
            }
            Event::RunFinished {
                outcome, error, at, ..
            } => {
                input.outcome = Some(outcome.word().to_string());
                input.error = error.filter(|e| !e.is_empty());
                input.finished_at = Some(at);
            }
            Event::Clock {
                host,
                sent,
                host_time,
                received,
                ..
            } => {
                input.clock.push(
                    &host,
                    ClockSample {
                        sent,
                        host: host_time,
                        received,
                    },
                );
            }
            // Skipped unparsed by `load` ([`IGNORED`]) but for a capture's
            // `program_started`.
            Event::Connected { .. }
            | Event::Cleaned { .. }
            | Event::OpStarted { .. }
            | Event::Skipped { .. }
            | Event::ProgramStarted { .. }
            | Event::ProgramStopped { .. } => {}
        }
    }

    /// A line a program printed or was sent, in the step running now.
    fn line(&mut self, host: HostName, program: String, at: f64, text: String, stream: LineStream) {
        let step = self.current.map(|i| self.input.steps[i].id.clone());
        let seen = self.input.clock.samples_of(&host);
        self.input.lines.push(LineRecord {
            at,
            host_at: at,
            seen,
            host: host.into(),
            program,
            stream,
            text,
            step,
        });
    }

    fn finish(mut self) -> RunInput {
        if self.input.outcome.is_none() {
            // The run goes on: what has not started is still to come.
            for s in self
                .input
                .steps
                .iter_mut()
                .filter(|s| s.outcome == Outcome::Skipped)
            {
                s.outcome = Outcome::Pending;
            }
        }
        self.input
    }
}

/// `run_started.programs`, when the run recorded it.
fn programs_info(p: crate::record::RunPrograms) -> Option<super::model::ProgramsInfo> {
    (!p.set.is_empty()).then_some(super::model::ProgramsInfo {
        set: p.set,
        interpreter: p.interpreter.filter(|i| !i.is_empty()),
        versions: p.versions,
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
