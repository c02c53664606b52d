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
//!
//! `events.jsonl` and the output files are written through buffers that
//! go out after every event the run's sinks take one at a time, after
//! every batch in a room (`run::sink::ROOM_BATCH`: a room's 30 benches
//! wrote some 19,000 lines, a system call each), and before the reports
//! read them (a step's end, the run's end).
//!
//! Bounded whatever the programs print: the `.out`/`.err` files get every
//! line whole; `events.jsonl` (what the reports show) gets each line cut at
//! [`LINE_SHOWN`] bytes and at most [`RECORD_MAX`] bytes per program
//! stream, then one line saying where the rest is; expectations and the
//! terminal see lines cut at [`LINE_SHOWN`], the last [`LIVE_MAX`] bytes
//! of each stream.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{BufWriter, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::steps::{ActionRecord, CheckRecord, StepRecord};
use super::{Event, Outcome, Stream};
use crate::error::Error;
use crate::util::io_reason;

/// Every event, one JSON object a line ([`Event`]).
pub(crate) const EVENTS: &str = "events.jsonl";
/// One line per finished step ([`super::steps::StepRecord`]).
pub(crate) const STEPS: &str = "steps.jsonl";
/// The plan that ran, as `labctl run` serialized it (read by no stage).
pub(crate) const PLAN: &str = "plan.json";
/// The lab's questions, which the report answers.
pub(crate) const QUESTIONS: &str = "questions.json";

/// Longest output line, in bytes, that expectations, the terminal and the
/// reports see; the whole line is in the run directory's `.out`/`.err` file.
pub(crate) const LINE_SHOWN: usize = 4096;
/// Output of one program stream that `events.jsonl`, and so the reports,
/// record (bytes of lines as shown); the rest is in the `.out`/`.err` file.
pub(crate) const RECORD_MAX: usize = 256 * 1024;
/// Output of one program stream kept in memory for expectations (bytes).
pub(crate) const LIVE_MAX: usize = 2 * 1024 * 1024;

/// `line` cut at [`LINE_SHOWN`] bytes (at a character boundary), with a note.
pub(crate) fn shown_line(line: &str) -> std::borrow::Cow<'_, str> {
    if line.len() <= LINE_SHOWN {
        return std::borrow::Cow::Borrowed(line);
    }
    let mut cut = LINE_SHOWN;
    while !line.is_char_boundary(cut) {
        cut -= 1;
    }
    std::borrow::Cow::Owned(format!(
        "{} [labctl: line of {} bytes cut at {LINE_SHOWN}; whole in the run directory's file]",
        &line[..cut],
        line.len()
    ))
}

/// Creates `<parent>/<run id>` (0700; the parent is created if missing).
/// A second run in the same second gets a `-2` suffix.
pub(crate) fn create(parent: &Path, run_id: &str) -> Result<(PathBuf, String), Error> {
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
pub(crate) fn output_file(host: &str, program: &str, ext: &str) -> String {
    format!("{host}-{program}.{ext}")
}

/// Writes the run directory from events.
pub(crate) struct RunDir {
    dir: PathBuf,
    events: BufWriter<File>,
    steps: File,
    files: BTreeMap<String, BufWriter<File>>,
    /// Bytes of each output file's lines recorded in `events.jsonl`.
    recorded: BTreeMap<String, usize>,
    current: Option<StepRecord>,
    /// The first write error, reported once.
    pub error: Option<String>,
}

/// `events.jsonl`'s buffer: a room's batch of a bench's events fits in it,
/// and a longer one goes out in pieces. An output file's is smaller: a
/// batch's lines of one program stream are a few hundred bytes.
const EVENTS_BUFFER: usize = 16 * 1024;
const OUTPUT_BUFFER: usize = 4 * 1024;

fn open_append(path: &Path) -> std::io::Result<File> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(path)
}

impl RunDir {
    pub(crate) fn new(dir: &Path) -> Result<RunDir, Error> {
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
            events: BufWriter::with_capacity(EVENTS_BUFFER, open(EVENTS)?),
            steps: open(STEPS)?,
            files: BTreeMap::new(),
            recorded: BTreeMap::new(),
            current: None,
            error: None,
        })
    }

    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }

    /// Writes out what the buffers hold: `events.jsonl`, then the output files.
    pub(crate) fn flush(&mut self) {
        let r = self.events.flush();
        self.note(r, EVENTS);
        let mut failed = None;
        for (name, f) in &mut self.files {
            if let Err(e) = f.flush() {
                failed.get_or_insert((name.clone(), e));
            }
        }
        if let Some((name, e)) = failed {
            self.note(Err(e), &name);
        }
    }

    /// Writes any serializable value as a file (e.g. the plan).
    pub(crate) fn write_json(&mut self, name: &str, value: &impl Serialize) {
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
                    self.files
                        .insert(file.to_string(), BufWriter::with_capacity(OUTPUT_BUFFER, f));
                }
                Err(e) => return self.note(Err(e), file),
            }
        }
        let f = self.files.get_mut(file).expect("opened above");
        // Into the buffer: no string of the line first.
        let r = writeln!(f, "{ts:.6} {text}");
        self.note(r, file);
    }

    /// `events.jsonl`'s copy of an output line: cut at [`LINE_SHOWN`],
    /// within [`RECORD_MAX`] per file; one note when the budget runs out;
    /// then nothing (`None`).
    fn recorded_output<'e>(&mut self, e: &'e Event) -> Option<Cow<'e, Event>> {
        let Event::Output {
            host,
            program,
            stream,
            ts,
            line,
            run,
        } = e
        else {
            return Some(Cow::Borrowed(e));
        };
        let ext = if *stream == Stream::Stderr {
            "err"
        } else {
            "out"
        };
        let file = output_file(host, program, ext);
        let shown = shown_line(line);
        let used = self.recorded.entry(file.clone()).or_default();
        if *used > RECORD_MAX {
            return None;
        }
        *used += shown.len() + 1;
        let line = if *used > RECORD_MAX {
            format!("[labctl: more output than the report shows; all of it is in {file}]")
        } else {
            shown.into_owned()
        };
        Some(Cow::Owned(Event::Output {
            run: run.clone(),
            host: host.clone(),
            program: program.clone(),
            stream: *stream,
            ts: *ts,
            line,
        }))
    }

    pub(crate) fn event(&mut self, e: &Event) {
        let Some(recorded) = self.recorded_output(e) else {
            if let Event::Output {
                host,
                program,
                stream,
                ts,
                line,
                ..
            } = e
            {
                let ext = if *stream == Stream::Stderr {
                    "err"
                } else {
                    "out"
                };
                self.line(&output_file(host, program, ext), *ts, line);
            }
            return;
        };
        // Straight into the buffer: no copy of the event, no string of it.
        let r = serde_json::to_writer(&mut self.events, &*recorded)
            .map_err(std::io::Error::other)
            .and_then(|()| self.events.write_all(b"\n"));
        self.note(r, EVENTS);
        match e {
            Event::Output {
                host,
                program,
                stream,
                ts,
                line,
                ..
            } => {
                let ext = match stream {
                    Stream::Stderr => "err",
                    Stream::Stdout => "out",
                };
                self.line(&output_file(host, program, ext), *ts, line);
            }
            Event::Sent {
                host,
                program,
                ts,
                line,
                ..
            } => self.line(&output_file(host, program, "in"), *ts, line),
            Event::StepStarted {
                step,
                title,
                needed,
                at,
                ..
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
                // The reports are rebuilt from what is on disk.
                self.flush();
                if let Some(mut s) = self.current.take() {
                    s.outcome = *outcome;
                    s.secs = *secs;
                    let r = serde_json::to_string(&s)
                        .map_err(std::io::Error::other)
                        .and_then(|j| self.steps.write_all((j + "\n").as_bytes()));
                    self.note(r, STEPS);
                }
            }
            Event::RunFinished { .. } => self.flush(),
            _ => {}
        }
    }
}
