//! The run directory, `runs/<UTC time>-<lab>/` (mode 0700), written as the
//! run goes so a crash or Ctrl-C loses nothing gathered so far:
//!
//! - `events.jsonl`: every event, one JSON object per line, as it happened;
//! - `steps.jsonl`: one line per finished step with its expectations;
//! - `plan.json`: the plan that ran; `questions.json`: the lab's questions,
//!   which the report answers; `run.json` is the report's (not written here);
//! - `<host>-<program>.out` / `.err`: `<host unix time> <line>` per line;
//!   `<host>-<program>.in`: the lines sent, the same way;
//! - `<host>-<capture>.pcap`: each capture (written by the host worker).

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::event::{Event, Outcome};
use crate::error::Error;
use crate::util::io_reason;

/// Creates `<parent>/<run id>` (0700; the parent is created if missing).
/// A second run in the same second gets a `-2` suffix.
pub fn create(parent: &Path, run_id: &str) -> Result<(PathBuf, String), Error> {
    fs::create_dir_all(parent).map_err(|e| {
        Error::Local(format!(
            "cannot create `{}`: {}",
            parent.display(),
            io_reason(&e)
        ))
    })?;
    for n in 1..100 {
        let id = if n == 1 {
            run_id.to_string()
        } else {
            format!("{run_id}-{n}")
        };
        let dir = parent.join(&id);
        match fs::DirBuilder::new().mode(0o700).create(&dir) {
            Ok(()) => return Ok((dir, id)),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => {
                return Err(Error::Local(format!(
                    "cannot create `{}`: {}",
                    dir.display(),
                    io_reason(&e)
                )))
            }
        }
    }
    Err(Error::Local(format!(
        "too many runs named `{run_id}` in `{}`",
        parent.display()
    )))
}

/// Local file name for a program's stream: `A-server.out`.
pub fn output_file(host: &str, program: &str, ext: &str) -> String {
    format!("{host}-{program}.{ext}")
}

/// One expectation as recorded in `steps.jsonl`.
#[derive(Debug, Clone, Serialize)]
pub struct CheckRecord {
    pub host: String,
    pub program: Option<String>,
    pub what: String,
    pub ok: bool,
    pub seen: String,
    pub message: Option<String>,
}

/// One action as recorded in `steps.jsonl`.
#[derive(Debug, Clone, Serialize)]
pub struct ActionRecord {
    pub host: String,
    pub what: String,
    pub ok: bool,
    pub detail: String,
}

#[derive(Debug, Clone, Serialize)]
struct StepRecord {
    id: String,
    title: String,
    needed: bool,
    outcome: Outcome,
    started: f64,
    secs: f64,
    actions: Vec<ActionRecord>,
    checks: Vec<CheckRecord>,
}

/// Writes the run directory from events.
pub struct RunDir {
    dir: PathBuf,
    events: File,
    steps: File,
    files: BTreeMap<String, File>,
    current: Option<StepRecord>,
    /// The first write error, reported once.
    pub error: Option<String>,
}

fn open_append(path: &Path) -> std::io::Result<File> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(path)
}

impl RunDir {
    pub fn new(dir: &Path) -> Result<RunDir, Error> {
        let open = |name: &str| {
            open_append(&dir.join(name)).map_err(|e| {
                Error::Local(format!(
                    "cannot write `{}`: {}",
                    dir.join(name).display(),
                    io_reason(&e)
                ))
            })
        };
        Ok(RunDir {
            dir: dir.to_path_buf(),
            events: open("events.jsonl")?,
            steps: open("steps.jsonl")?,
            files: BTreeMap::new(),
            current: None,
            error: None,
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Writes any serializable value as a file (e.g. the plan).
    pub fn write_json(&mut self, name: &str, value: &impl Serialize) {
        let r = serde_json::to_vec_pretty(value)
            .map_err(std::io::Error::other)
            .and_then(|bytes| crate::util::write_private(&self.dir.join(name), &bytes));
        self.note(r, name);
    }

    fn note(&mut self, r: std::io::Result<()>, what: &str) {
        if let Err(e) = r {
            if self.error.is_none() {
                self.error = Some(format!(
                    "cannot write `{}`: {}",
                    self.dir.join(what).display(),
                    io_reason(&e)
                ));
            }
        }
    }

    fn line(&mut self, file: &str, ts: f64, text: &str) {
        if !self.files.contains_key(file) {
            match open_append(&self.dir.join(file)) {
                Ok(f) => {
                    self.files.insert(file.to_string(), f);
                }
                Err(e) => return self.note(Err(e), file),
            }
        }
        let f = self.files.get_mut(file).expect("opened above");
        let r = writeln!(f, "{ts:.6} {text}");
        self.note(r, file);
    }

    pub fn event(&mut self, e: &Event) {
        let r = serde_json::to_string(e)
            .map_err(std::io::Error::other)
            .and_then(|s| writeln!(self.events, "{s}"));
        self.note(r, "events.jsonl");
        match e {
            Event::Output {
                host,
                program,
                stream,
                ts,
                line,
            } => {
                let ext = if *stream == "stderr" { "err" } else { "out" };
                self.line(&output_file(host, program, ext), *ts, line);
            }
            Event::Sent {
                host,
                program,
                ts,
                line,
            } => self.line(&output_file(host, program, "in"), *ts, line),
            Event::StepStarted {
                step,
                title,
                needed,
                at,
            } => {
                self.current = Some(StepRecord {
                    id: step.clone(),
                    title: title.clone(),
                    needed: *needed,
                    outcome: Outcome::Passed,
                    started: *at,
                    secs: 0.0,
                    actions: Vec::new(),
                    checks: Vec::new(),
                });
            }
            Event::ActionDone {
                host,
                what,
                ok,
                detail,
                ..
            } => {
                if let Some(s) = &mut self.current {
                    s.actions.push(ActionRecord {
                        host: host.clone(),
                        what: what.clone(),
                        ok: *ok,
                        detail: detail.clone(),
                    });
                }
            }
            Event::ExpectationPassed {
                host,
                program,
                what,
                seen,
                ..
            }
            | Event::ExpectationFailed {
                host,
                program,
                what,
                seen,
                ..
            } => {
                let message = match e {
                    Event::ExpectationFailed { message, .. } => Some(message.clone()),
                    _ => None,
                };
                if let Some(s) = &mut self.current {
                    s.checks.push(CheckRecord {
                        host: host.clone(),
                        program: program.clone(),
                        what: what.clone(),
                        ok: message.is_none(),
                        seen: seen.clone(),
                        message,
                    });
                }
            }
            Event::StepFinished { outcome, secs, .. } => {
                if let Some(mut s) = self.current.take() {
                    s.outcome = *outcome;
                    s.secs = *secs;
                    let r = serde_json::to_string(&s)
                        .map_err(std::io::Error::other)
                        .and_then(|j| writeln!(self.steps, "{j}"));
                    self.note(r, "steps.jsonl");
                }
            }
            _ => {}
        }
    }
}
