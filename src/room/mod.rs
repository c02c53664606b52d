//! The room at a glance: every bench of a `run --all` as one small state —
//! its current step, how many passed, its first failure (step, host, what
//! was expected and what was seen) and a cell per step — folded from the
//! bench's own events ([`crate::record::Event`]).
//!
//! One fold serves three readers, so they never disagree: the terminal's
//! room view and summary ([`term`]), the room report (`index.html`,
//! `index.md`, `room.json`: [`report`]), and `labctl serve`'s live page,
//! which folds the same events from each run directory's `events.jsonl`.
//! The room itself is a directory beside the benches' run directories;
//! `room.json` names them, so the room can be rebuilt (`labctl report
//! ROOM_DIR`) and followed (`labctl serve`) from the files alone.

pub(crate) mod report;
pub(crate) mod term;

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::record::{Event, Outcome};

/// One step of one bench in the room's matrix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Cell {
    /// Not started yet (`·`); once the bench is finished, it did not run.
    Pending,
    Running,
    Passed,
    Failed,
    Interrupted,
}

impl Cell {
    /// The mark the matrix shows: ✔ ✘ · (▸ running, ⊘ interrupted).
    pub(crate) fn mark(self) -> &'static str {
        match self {
            Cell::Pending => "·",
            Cell::Running => "▸",
            Cell::Passed => "✔",
            Cell::Failed => "✘",
            Cell::Interrupted => "⊘",
        }
    }
}

/// Where a bench first went wrong: the step, the host, what was expected
/// and what was seen (as the run's failure line says them), and that line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Failure {
    pub step: Option<String>,
    pub host: Option<String>,
    /// The expectation or action (`` `client` prints /^Server> HELLO$/ within 2s ``);
    /// `None` for a problem that is not one (a host lost).
    pub expected: Option<String>,
    pub seen: String,
    /// The whole failure, as the terminal and the bench's report say it.
    pub message: String,
    /// The failure's own words after the step and host it names, from the
    /// event's typed fields (`` program `client`: expected … ``); `None` for
    /// a problem, whose message is said whole.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub words: Option<String>,
}

impl Failure {
    /// One line: ``I.8 on B: program `client`: expected /x/ within 2s; saw: "Sent: hello"``
    /// (the failure's own words after the step and host it names).
    pub(crate) fn short(&self) -> String {
        match (&self.words, &self.expected) {
            (Some(words), _) => self.place() + words,
            (None, Some(what)) => format!("{}{what}; saw {:?}", self.place(), self.seen),
            // A problem's message names its step and host itself.
            (None, None) => self.message.clone(),
        }
    }

    /// `I.8 on B: `, as much of it as is known.
    fn place(&self) -> String {
        let mut s = String::new();
        if let Some(step) = &self.step {
            s.push_str(step);
        }
        if let Some(h) = &self.host {
            if !s.is_empty() {
                s.push(' ');
            }
            s.push_str(&format!("on {h}"));
        }
        if !s.is_empty() {
            s.push_str(": ");
        }
        s
    }
}

/// One bench of the room, as its events made it so far.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct BenchView {
    pub name: String,
    /// Its run directory's name (a sibling of the room directory).
    pub run: String,
    /// Its report, from the room directory: `../<run>/report.html`.
    pub report: String,
    /// `waiting`, `running`, then `passed`, `failed` or `interrupted`.
    pub outcome: String,
    /// One cell per step of the room, in the room's order.
    pub cells: Vec<Cell>,
    /// The step running now.
    pub current: Option<String>,
    /// The last step started (where a run that stopped stopped).
    #[serde(default, skip_serializing)]
    pub last_step: Option<String>,
    /// Warnings and the problem a run ended on (at most [`MAX_PROBLEMS`]).
    #[serde(default)]
    pub problems: Vec<Failure>,
    pub passed: usize,
    pub failed: usize,
    pub first_failure: Option<Failure>,
    /// Why the run stopped (its last line), when it did not pass.
    pub error: Option<String>,
    /// labctl's exit code for this bench, once known (`run --all` only).
    pub exit_code: Option<i32>,
    /// Unix seconds (controller clock).
    pub started_at: Option<f64>,
    pub secs: Option<f64>,
}

/// Problems kept per bench: the first few say what went on.
pub(crate) const MAX_PROBLEMS: usize = 8;

/// What an event changed, for the terminal's lines.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Change {
    Started,
    StepStarted,
    StepFinished {
        step: String,
        outcome: Outcome,
        secs: f64,
    },
    /// A failed expectation or action (each one, not only the first).
    Failure(Failure),
    /// A warning, or the problem a run ends on.
    Problem(Failure),
    Finished,
}

impl BenchView {
    pub(crate) fn new(name: &str, run: &str, steps: usize) -> BenchView {
        BenchView {
            name: name.to_string(),
            run: run.to_string(),
            report: format!("../{run}/report.html"),
            outcome: "waiting".into(),
            cells: vec![Cell::Pending; steps],
            current: None,
            last_step: None,
            problems: Vec::new(),
            passed: 0,
            failed: 0,
            first_failure: None,
            error: None,
            exit_code: None,
            started_at: None,
            secs: None,
        }
    }

    /// Whether its run ended.
    pub(crate) fn finished(&self) -> bool {
        !matches!(self.outcome.as_str(), "waiting" | "running")
    }

    /// Folds one event of this bench's run; `steps` are the room's step ids.
    pub(crate) fn event(&mut self, steps: &[String], e: &Event) -> Option<Change> {
        // Each event names its bench: another bench's (a run directory
        // that is not this bench's) changes nothing here. Events recorded
        // before they named it are taken as they come.
        let bench = &e.run().bench;
        if !bench.is_empty() && *bench != *self.name {
            return None;
        }
        let index = |id: &str| steps.iter().position(|s| s == id);
        match e {
            Event::RunStarted { at, .. } => {
                self.outcome = "running".into();
                self.started_at = Some(*at);
                Some(Change::Started)
            }
            Event::StepStarted { step, .. } => {
                if let Some(i) = index(step) {
                    self.cells[i] = Cell::Running;
                }
                self.current = Some(step.to_string());
                self.last_step = Some(step.to_string());
                Some(Change::StepStarted)
            }
            Event::StepFinished {
                step,
                outcome,
                secs,
                ..
            } => {
                if let Some(i) = index(step) {
                    self.cells[i] = match outcome {
                        Outcome::Passed => Cell::Passed,
                        Outcome::Failed => Cell::Failed,
                        Outcome::Interrupted => Cell::Interrupted,
                    };
                }
                match outcome {
                    Outcome::Passed => self.passed += 1,
                    Outcome::Failed => self.failed += 1,
                    Outcome::Interrupted => {}
                }
                self.current = None;
                Some(Change::StepFinished {
                    step: step.to_string(),
                    outcome: *outcome,
                    secs: *secs,
                })
            }
            Event::ExpectationFailed {
                step,
                host,
                program,
                what,
                seen,
                detail,
                message,
                ..
            } => Some(self.failure(Failure {
                step: Some(step.to_string()),
                host: Some(host.to_string()),
                expected: Some(what.clone()),
                seen: seen.clone(),
                message: message.clone(),
                words: (!detail.is_empty()).then(|| match program {
                    Some(p) => format!("program `{p}`: {detail}"),
                    None => format!("{what}: {detail}"),
                }),
            })),
            Event::ActionDone {
                step,
                host,
                what,
                ok: false,
                detail,
                ..
            } => Some(self.failure(Failure {
                step: Some(step.to_string()),
                host: Some(host.to_string()),
                expected: Some(what.clone()),
                seen: detail.clone(),
                message: format!("step `{step}` on host `{host}`: {what}: {detail}"),
                words: Some(format!("{what}: {detail}")),
            })),
            Event::Problem {
                host,
                message,
                step,
                ..
            } => {
                // A warning (a host slow to answer, a hold taken over) unless
                // the run ends on it: then it is the run's error, below.
                let p = Failure {
                    step: step
                        .as_ref()
                        .map(ToString::to_string)
                        .or_else(|| self.last_step.clone()),
                    host: host.as_ref().map(ToString::to_string),
                    expected: None,
                    seen: message.clone(),
                    message: message.clone(),
                    words: None,
                };
                if self.problems.len() < MAX_PROBLEMS {
                    self.problems.push(p.clone());
                }
                // What ended a step (a host lost in it) names it.
                if step.is_some() {
                    Some(self.failure(p))
                } else {
                    Some(Change::Problem(p))
                }
            }
            Event::RunFinished {
                outcome,
                secs,
                error,
                ..
            } => {
                self.outcome = outcome.word().into();
                self.secs = Some(*secs);
                self.error = error.clone();
                self.current = None;
                for c in &mut self.cells {
                    if *c == Cell::Running {
                        *c = Cell::Interrupted;
                    }
                }
                if self.first_failure.is_none() && *outcome != Outcome::Passed {
                    if let Some(err) = error {
                        // The problem the run ended on (several hosts may
                        // not be ready: the one the run's error is) names its host.
                        let host = self
                            .problems
                            .iter()
                            .find(|p| p.message == *err)
                            .and_then(|p| p.host.clone());
                        self.first_failure = Some(Failure {
                            step: self.last_step.clone(),
                            host,
                            expected: None,
                            seen: err.clone(),
                            message: err.clone(),
                            words: None,
                        });
                    }
                }
                Some(Change::Finished)
            }
            _ => None,
        }
    }

    fn failure(&mut self, f: Failure) -> Change {
        if self.first_failure.is_none() {
            self.first_failure = Some(f.clone());
        }
        Change::Failure(f)
    }
}

/// Whether the room needs `e`: the terminal's room view, the room report
/// and the live page fold nothing else (program output, ops, stops are the
/// benches' own reports' business).
pub(crate) fn wants(e: &Event) -> bool {
    matches!(
        e,
        Event::RunStarted { .. }
            | Event::StepStarted { .. }
            | Event::StepFinished { .. }
            | Event::ExpectationFailed { .. }
            | Event::ActionDone { ok: false, .. }
            | Event::Problem { .. }
            | Event::RunFinished { .. }
    )
}

/// One step as the room shows it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct RoomStep {
    pub id: String,
    pub title: String,
}

/// The file in the runs directory where `check --all` records a room's
/// check, for the next `run --all`'s room report.
pub(crate) const CHECK_FILE: &str = "room-check.json";

/// A room's last `check --all`: per bench and host, passed or the checks
/// that failed.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct RoomCheck {
    /// Unix seconds (controller clock), when the check ended.
    pub at: f64,
    pub ok: bool,
    pub benches: Vec<CheckedBench>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct CheckedBench {
    pub name: String,
    pub ok: bool,
    pub hosts: Vec<CheckedHost>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct CheckedHost {
    pub host: String,
    pub ok: bool,
    /// Each failed check: `link: eth0 is down`.
    pub failures: Vec<String>,
}

impl RoomCheck {
    /// The room's part of a check's report.
    pub(crate) fn of(report: &crate::check::Report, at: f64) -> RoomCheck {
        RoomCheck {
            at,
            ok: report.ok,
            benches: report
                .benches
                .iter()
                .map(|b| CheckedBench {
                    name: b.name.clone(),
                    ok: b.ok,
                    hosts: b
                        .hosts
                        .iter()
                        .map(|h| CheckedHost {
                            host: h.host.clone(),
                            ok: h.ok,
                            failures: h
                                .checks
                                .iter()
                                .filter(|c| c.status == crate::check::Status::Fail)
                                .map(|c| format!("{}: {}", c.check, c.detail))
                                .collect(),
                        })
                        .collect(),
                })
                .collect(),
        }
    }

    /// Records it in the runs directory `dir` (created if missing).
    pub(crate) fn record(&self, dir: &Path) -> Result<(), crate::error::Error> {
        let fail = |e: std::io::Error| {
            crate::error::Error::Local(format!(
                "cannot write `{}`: {}",
                dir.join(CHECK_FILE).display(),
                crate::util::io_reason(&e)
            ))
        };
        std::fs::create_dir_all(dir).map_err(fail)?;
        let json = serde_json::to_vec_pretty(self).expect("a check serialises");
        let tmp = dir.join(format!(".{CHECK_FILE}.tmp"));
        crate::util::write_private(&tmp, &json)
            .and_then(|()| std::fs::rename(&tmp, dir.join(CHECK_FILE)))
            .map_err(fail)
    }

    /// The room's last check recorded in the runs directory `dir`, if any.
    pub(crate) fn last(dir: &Path) -> Option<RoomCheck> {
        serde_json::from_slice(&std::fs::read(dir.join(CHECK_FILE)).ok()?).ok()
    }
}

/// A room run: its benches, in the hosts file's order.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Room {
    /// The room directory's name (`20261129T014142Z-sockets-room`).
    pub id: String,
    pub lab: String,
    pub lab_title: Option<String>,
    pub steps: Vec<RoomStep>,
    pub benches: Vec<BenchView>,
    /// Unix seconds (controller clock).
    pub started_at: f64,
    pub finished_at: Option<f64>,
    /// The room's last `check --all` before the run, when it ran one.
    #[serde(default)]
    pub check: Option<RoomCheck>,
}

impl Room {
    /// The step ids, for [`BenchView::event`].
    pub(crate) fn step_ids(&self) -> Vec<String> {
        self.steps.iter().map(|s| s.id.clone()).collect()
    }

    pub(crate) fn passed(&self) -> usize {
        self.benches
            .iter()
            .filter(|b| b.outcome == "passed")
            .count()
    }

    /// `running` until every bench finished, then `passed` when all passed,
    /// else `interrupted` when one was, else `failed`.
    pub(crate) fn outcome(&self) -> &'static str {
        if self.benches.iter().any(|b| !b.finished()) {
            "running"
        } else if self.benches.iter().all(|b| b.outcome == "passed") {
            "passed"
        } else if self.benches.iter().any(|b| b.outcome == "interrupted") {
            "interrupted"
        } else {
            "failed"
        }
    }

    /// `room: N of M benches passed`.
    pub(crate) fn verdict(&self) -> String {
        format!(
            "room: {} of {} benches passed",
            self.passed(),
            self.benches.len()
        )
    }

    /// The room as the benches' run directories recorded it (`labctl
    /// report ROOM_DIR`, `labctl serve`): each bench's `events.jsonl`
    /// folded again, beside the room directory `dir`. A bench whose file
    /// cannot be read stays `waiting`.
    pub(crate) fn reload(mut self, dir: &Path) -> Room {
        let ids = self.step_ids();
        let parent = dir.parent().unwrap_or(Path::new("."));
        for b in &mut self.benches {
            let exit_code = b.exit_code;
            let mut fresh = BenchView::new(&b.name, &b.run, ids.len());
            if let Ok(text) =
                std::fs::read_to_string(parent.join(&b.run).join(crate::record::dir::EVENTS))
            {
                for line in text.lines() {
                    if let Some(e) = parse_wanted(line) {
                        fresh.event(&ids, &e);
                    }
                }
            }
            fresh.exit_code = exit_code;
            *b = fresh;
        }
        self
    }
}

/// An `events.jsonl` line the room needs, parsed; `None` for the others
/// (told by their tag, without parsing them: most lines are output) and for
/// a line that is not an event (a torn last line).
pub(crate) fn parse_wanted(line: &str) -> Option<Event> {
    const WANTED: [&str; 7] = [
        "run_started",
        "step_started",
        "step_finished",
        "expectation_failed",
        "action_done",
        "problem",
        "run_finished",
    ];
    let tag = crate::record::tag_of(line)?;
    if !WANTED.contains(&tag) {
        return None;
    }
    let e: Event = serde_json::from_str(line).ok()?;
    wants(&e).then_some(e)
}

/// The room directory's run directory of a bench, as a path.
pub(crate) fn run_dir(room_dir: &Path, bench: &BenchView) -> PathBuf {
    room_dir.parent().unwrap_or(Path::new(".")).join(&bench.run)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failures_words_come_from_the_events_fields_not_its_message() {
        let steps = vec!["S.1".to_string()];
        let mut b = BenchView::new("bench1", "r-bench1", 1);
        for l in [
            r#"{"event":"step_started","step":"S.1","title":"t","needed":false,"at":6.0}"#,
            r#"{"event":"expectation_failed","step":"S.1","host":"B","program":"client","what":"`client` prints /x/","seen":"y","detail":"expected /x/ within 2s; saw: \"y\"","message":"words the room never reads","secs":2.0}"#,
        ] {
            b.event(&steps, &parse_wanted(l).unwrap());
        }
        let f = b.first_failure.unwrap();
        assert_eq!(
            f.short(),
            r#"S.1 on B: program `client`: expected /x/ within 2s; saw: "y""#
        );
        // A problem's message names its step and host itself: said whole.
        let p = Failure {
            step: Some("S.1".into()),
            host: Some("B".into()),
            expected: None,
            seen: "m".into(),
            message: "step `S.1` on host `bench1/B`: connection lost".into(),
            words: None,
        };
        assert_eq!(p.short(), p.message);
    }

    #[test]
    fn a_bench_folds_its_steps_and_keeps_its_first_failure() {
        let steps = vec!["S.1".to_string(), "S.2".into(), "S.3".into()];
        let mut b = BenchView::new("bench2", "r-bench2", 3);
        let lines = [
            r#"{"event":"run_started","run_id":"r","lab":"l","lab_title":null,"lab_file":"l.toml","bench":"bench2","hosts":[],"steps":[],"dir":null,"dry_run":false,"at":5.0}"#,
            r#"{"event":"step_started","step":"S.1","title":"t","needed":false,"at":6.0}"#,
            r#"{"event":"output","host":"A","program":"p","stream":"stdout","ts":1.0,"line":"x"}"#,
            r#"{"event":"step_finished","step":"S.1","outcome":"passed","secs":0.2}"#,
            r#"{"event":"step_started","step":"S.2","title":"t","needed":false,"at":7.0}"#,
            r#"{"event":"action_done","step":"S.2","host":"B","what":"start `client`","ok":false,"detail":"no such program","secs":0.1}"#,
            r#"{"event":"expectation_failed","step":"S.2","host":"B","program":"client","what":"`client` prints /x/","seen":"y","message":"later","secs":2.0}"#,
            r#"{"event":"step_finished","step":"S.2","outcome":"failed","secs":0.3}"#,
            r#"{"event":"run_finished","outcome":"failed","steps_passed":1,"steps_failed":1,"steps_not_run":1,"checks_passed":0,"checks_failed":1,"secs":3.5,"dir":null,"error":"step failed","at":9.0}"#,
        ];
        for l in lines {
            if let Some(e) = parse_wanted(l) {
                b.event(&steps, &e);
            }
        }
        assert_eq!(b.cells, [Cell::Passed, Cell::Failed, Cell::Pending]);
        assert_eq!((b.passed, b.failed, b.outcome.as_str()), (1, 1, "failed"));
        let f = b.first_failure.unwrap();
        assert_eq!(f.short(), "S.2 on B: start `client`: no such program");
        assert_eq!(b.secs, Some(3.5));
        // Output lines are told by their tag, never parsed.
        assert!(parse_wanted(lines[2]).is_none());
        assert!(parse_wanted("{\"event\":\"step_fin").is_none());
    }

    #[test]
    fn a_bench_follows_its_own_events_by_their_bench_and_a_step_ended_by_its_step() {
        let steps = vec!["S.1".to_string(), "S.2".into()];
        let mut b = BenchView::new("bench2", "r-bench2", 2);
        let lines = [
            r#"{"event":"run_started","run_id":"r","lab":"l","lab_title":null,"lab_file":"l.toml","bench":"bench2","room":"r-room","hosts":[],"steps":[],"dir":null,"dry_run":false,"at":5.0}"#,
            // Another bench's step: not this bench's.
            r#"{"event":"step_started","step":"S.1","title":"t","needed":false,"at":6.0,"bench":"bench1","room":"r-room"}"#,
            r#"{"event":"step_started","step":"S.1","title":"t","needed":false,"at":6.0,"bench":"bench2","room":"r-room"}"#,
            // A warning: its words start like a step's, it names no step.
            r#"{"event":"problem","host":"A","message":"step `S.1` is slow: no answer for 5 s","bench":"bench2","room":"r-room"}"#,
            // What ended the step names it, whatever its words.
            r#"{"event":"problem","host":"B","message":"host `B`: connection lost","step":"S.1","bench":"bench2","room":"r-room"}"#,
            r#"{"event":"step_finished","step":"S.1","outcome":"failed","secs":0.3,"bench":"bench2","room":"r-room"}"#,
        ];
        let changes: Vec<Option<Change>> = lines
            .iter()
            .map(|l| b.event(&steps, &parse_wanted(l).unwrap()))
            .collect();
        assert_eq!(changes[1], None);
        assert!(
            matches!(changes[3], Some(Change::Problem(_))),
            "{changes:?}"
        );
        assert!(
            matches!(changes[4], Some(Change::Failure(_))),
            "{changes:?}"
        );
        assert_eq!(b.cells, [Cell::Failed, Cell::Pending]);
        let f = b.first_failure.unwrap();
        assert_eq!(
            (f.step.as_deref(), f.host.as_deref()),
            (Some("S.1"), Some("B"))
        );
        assert_eq!(f.message, "host `B`: connection lost");
    }
}
