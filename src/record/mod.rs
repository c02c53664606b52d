//! The run record: the one module that owns a run directory, below the
//! planner (`lab::plan`), the executor (`run`) and the readers (`report`,
//! `room`, `serve`, `answer`), so none of them imports another to read a run.
//!
//! - here: the events the executor and the host workers report as a run
//!   goes, the one definition of `events.jsonl`: the terminal draws them,
//!   the run directory records them, the report reads the same types back
//!   ([`crate::report::load`]); and the hosts' clocks ([`RunClock`]);
//! - [`dir`]: the directory itself, its file names, and the writer that
//!   records the events as they come ([`dir::RunDir`]);
//! - [`steps`]: `steps.jsonl`, one record per finished step.
//!
//! On disk each event is one JSON object tagged by `event` (`step_started`
//! …) with the fields named as here; ids are plain strings, outcomes and
//! streams lowercase words. Renaming a tag or a field breaks every run
//! directory already written (`tests/fixtures/run-v1` guards it): fields
//! are only added, and read back with a default when absent.

pub(crate) mod dir;
pub mod plan;
pub(crate) mod steps;

use std::fmt;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// A name that is a string on disk and its own type in the code.
macro_rules! name_type {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub String);

        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl std::ops::Deref for $name {
            type Target = str;
            fn deref(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl From<&str> for $name {
            fn from(s: &str) -> Self {
                $name(s.to_string())
            }
        }

        impl From<String> for $name {
            fn from(s: String) -> Self {
                $name(s)
            }
        }

        impl From<&String> for $name {
            fn from(s: &String) -> Self {
                $name(s.clone())
            }
        }

        impl From<$name> for String {
            fn from(n: $name) -> String {
                n.0
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.0 == *other
            }
        }
    };
}

name_type! {
    /// A step's id as the lab file gives it (`I.6`).
    StepId
}

name_type! {
    /// A host's name on its bench (`A`).
    HostName
}

name_type! {
    /// A bench's name in the hosts file (`bench2`).
    BenchName
}

/// Which run an event is of: every event names its bench, and under
/// `run --all` its room run, set where the event is made, so a stream that
/// mixes benches (`run --all --json`, a room's run directories read
/// together) needs nothing else to tell them apart. On disk: `bench` and,
/// in a room, `room` beside the event's own fields.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunOf {
    /// Empty in run directories written before every event named it (only
    /// `run_started` did), and then not written back.
    #[serde(default, skip_serializing_if = "unnamed")]
    pub bench: BenchName,
    /// The room run this bench is part of (`run --all`): the room
    /// directory's name, beside this run directory. Absent otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub room: Option<String>,
}

/// An event read from a run directory that did not name its bench.
fn unnamed(bench: &BenchName) -> bool {
    bench.is_empty()
}

/// Which operation of the plan an event is of: the index of its action in
/// its step (the event's `step`), and of the operation in that action's
/// operations, in the plan's order (`plan.json`: `steps[].actions[].ops[]`,
/// [`plan::PlanRecord`]). On disk: `action` and `op`; absent in run
/// directories written before events named their operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpRef {
    pub action: usize,
    pub op: usize,
}

/// One step as announced at the start of a run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StepInfo {
    pub id: StepId,
    pub title: String,
    /// Run only because a selected step needs it.
    pub needed: bool,
    pub hosts: Vec<HostName>,
}

/// One host as announced at the start of a run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunHost {
    pub name: HostName,
    pub cidr: String,
    pub interface: String,
    pub endpoint: String,
}

/// The program set of a run (`rust`, `python`, `lab`): its interpreter, if
/// any, and the version line it printed on each host (`Python 3.11.2`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct RunPrograms {
    pub set: String,
    pub interpreter: Option<String>,
    pub versions: std::collections::BTreeMap<String, String>,
}

impl RunPrograms {
    /// Not recorded (a run directory written before program sets).
    pub(crate) fn is_unset(&self) -> bool {
        self.set.is_empty()
    }
}

/// How a step or the run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Passed,
    Failed,
    Interrupted,
}

impl Outcome {
    /// The word on disk: `passed`, `failed`, `interrupted`.
    pub fn word(self) -> &'static str {
        match self {
            Outcome::Passed => "passed",
            Outcome::Failed => "failed",
            Outcome::Interrupted => "interrupted",
        }
    }
}

/// Which of a program's outputs a line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Stream {
    Stdout,
    Stderr,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    RunStarted {
        run_id: String,
        lab: String,
        lab_title: Option<String>,
        lab_file: PathBuf,
        hosts: Vec<RunHost>,
        steps: Vec<StepInfo>,
        /// The program set that ran, and its interpreter's version per host
        /// (absent in run directories written before program sets).
        #[serde(default, skip_serializing_if = "RunPrograms::is_unset")]
        programs: RunPrograms,
        dir: Option<PathBuf>,
        dry_run: bool,
        /// Unix seconds (controller clock).
        at: f64,
        #[serde(flatten)]
        run: RunOf,
    },
    Connected {
        host: HostName,
        ms: u64,
        #[serde(flatten)]
        run: RunOf,
    },
    /// Programs an earlier labctl left running, stopped before this run.
    Cleaned {
        host: HostName,
        programs: Vec<String>,
        #[serde(flatten)]
        run: RunOf,
    },
    StepStarted {
        step: StepId,
        title: String,
        needed: bool,
        at: f64,
        #[serde(flatten)]
        run: RunOf,
    },
    /// An op begins on a host (for progress display).
    OpStarted {
        step: StepId,
        host: HostName,
        what: String,
        /// The operation (absent before events named it).
        #[serde(flatten)]
        op: Option<OpRef>,
        #[serde(flatten)]
        run: RunOf,
    },
    /// An action (configure, deploy, start, send, stop) finished.
    ActionDone {
        step: StepId,
        host: HostName,
        what: String,
        ok: bool,
        /// What happened (`uploaded 5 programs`), or why it failed.
        detail: String,
        secs: f64,
        /// The operation (absent before events named it).
        #[serde(flatten)]
        op: Option<OpRef>,
        #[serde(flatten)]
        run: RunOf,
    },
    ExpectationPassed {
        step: StepId,
        host: HostName,
        program: Option<String>,
        what: String,
        /// The evidence: the matching line, the exit status, the reply.
        seen: String,
        secs: f64,
        /// The operation (absent before events named it).
        #[serde(flatten)]
        op: Option<OpRef>,
        #[serde(flatten)]
        run: RunOf,
    },
    ExpectationFailed {
        step: StepId,
        host: HostName,
        program: Option<String>,
        what: String,
        seen: String,
        /// What was expected and what was seen, in the failure's own words
        /// (`message` without the step, host and program it names; empty
        /// before events carried it).
        #[serde(default, skip_serializing_if = "String::is_empty")]
        detail: String,
        /// The whole failure, naming step, host and program.
        message: String,
        secs: f64,
        /// The operation (absent before events named it).
        #[serde(flatten)]
        op: Option<OpRef>,
        #[serde(flatten)]
        run: RunOf,
    },
    /// `--dry-run`: what would have run.
    Skipped {
        step: StepId,
        host: HostName,
        what: String,
        cmd: Option<String>,
        /// The operation (absent before events named it).
        #[serde(flatten)]
        op: Option<OpRef>,
        #[serde(flatten)]
        run: RunOf,
    },
    /// A program or capture started in the background under `name`.
    ProgramStarted {
        host: HostName,
        name: String,
        /// `tcp_client` …, or `tcpdump` for a capture.
        program: String,
        step: StepId,
        capture: bool,
        pgid: u32,
        /// The operation (absent before events named it).
        #[serde(flatten)]
        op: Option<OpRef>,
        #[serde(flatten)]
        run: RunOf,
    },
    /// One line a program printed; `ts` is the host's clock (unix seconds).
    Output {
        host: HostName,
        program: String,
        stream: Stream,
        ts: f64,
        line: String,
        #[serde(flatten)]
        run: RunOf,
    },
    /// One line written to a program's stdin; `ts` is the host's clock.
    Sent {
        host: HostName,
        program: String,
        ts: f64,
        line: String,
        #[serde(flatten)]
        run: RunOf,
    },
    /// A capture's pcap, fetched into the run directory.
    CaptureSaved {
        host: HostName,
        name: String,
        file: String,
        bytes: u64,
        started_by: StepId,
        stopped_by: StepId,
        #[serde(flatten)]
        run: RunOf,
    },
    StepFinished {
        step: StepId,
        outcome: Outcome,
        secs: f64,
        #[serde(flatten)]
        run: RunOf,
    },
    /// A program stopped because the run ended (normally, on failure, or on Ctrl-C).
    ProgramStopped {
        host: HostName,
        name: String,
        step: StepId,
        alive: bool,
        #[serde(flatten)]
        run: RunOf,
    },
    /// Something went wrong outside any step (a host unreachable, cleanup trouble).
    Problem {
        host: Option<HostName>,
        message: String,
        /// The step it ended (a host lost in it, a local write that failed
        /// in it); absent for a warning and outside any step.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        step: Option<StepId>,
        #[serde(flatten)]
        run: RunOf,
    },
    /// One sample of a host's clock against labctl's ([`ClockSample`]): an
    /// answered tick, one a second from connection to the run's end. Kept
    /// raw, so the report puts every host time on the run clock
    /// ([`RunClock`]) from all of them.
    Clock {
        host: HostName,
        /// labctl's clock (unix seconds) when the tick was sent.
        sent: f64,
        /// The host's clock when it answered.
        host_time: f64,
        /// labctl's clock when the answer came.
        received: f64,
        #[serde(flatten)]
        run: RunOf,
    },
    RunFinished {
        outcome: Outcome,
        steps_passed: usize,
        steps_failed: usize,
        steps_not_run: usize,
        checks_passed: usize,
        checks_failed: usize,
        secs: f64,
        dir: Option<PathBuf>,
        /// Why the run stopped, as labctl's last line says it; `None` when it passed.
        error: Option<String>,
        at: f64,
        #[serde(flatten)]
        run: RunOf,
    },
}

impl Event {
    /// The run it is of: its bench and room ([`RunOf`]).
    pub fn run(&self) -> &RunOf {
        match self {
            Event::RunStarted { run, .. }
            | Event::Connected { run, .. }
            | Event::Cleaned { run, .. }
            | Event::StepStarted { run, .. }
            | Event::OpStarted { run, .. }
            | Event::ActionDone { run, .. }
            | Event::ExpectationPassed { run, .. }
            | Event::ExpectationFailed { run, .. }
            | Event::Skipped { run, .. }
            | Event::ProgramStarted { run, .. }
            | Event::Output { run, .. }
            | Event::Sent { run, .. }
            | Event::CaptureSaved { run, .. }
            | Event::StepFinished { run, .. }
            | Event::ProgramStopped { run, .. }
            | Event::Problem { run, .. }
            | Event::Clock { run, .. }
            | Event::RunFinished { run, .. } => run,
        }
    }

    /// The operation it is of, if it is an operation's ([`OpRef`]).
    pub fn op(&self) -> Option<OpRef> {
        match self {
            Event::OpStarted { op, .. }
            | Event::ActionDone { op, .. }
            | Event::ExpectationPassed { op, .. }
            | Event::ExpectationFailed { op, .. }
            | Event::Skipped { op, .. }
            | Event::ProgramStarted { op, .. } => *op,
            _ => None,
        }
    }
}

/// One sample of a host's clock against labctl's, from one tick of the run's
/// agent (`lc_reader` in `remote/lib.sh`): labctl's clock when it sent the
/// tick and when the answer came back, the host's when the host read it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ClockSample {
    /// labctl's clock (unix seconds) when the tick was sent.
    pub sent: f64,
    /// The host's clock (unix seconds) when it read the tick.
    pub host: f64,
    /// labctl's clock when the answer was read.
    pub received: f64,
}

impl ClockSample {
    /// How far the host's clock is ahead of labctl's (seconds; negative: behind).
    pub fn offset(&self) -> f64 {
        self.host - (self.sent + self.received) / 2.0
    }

    /// How precisely [`Self::offset`] is known: half the round trip.
    pub fn uncertainty(&self) -> f64 {
        (self.received - self.sent) / 2.0
    }
}

/// Beyond both samples' uncertainties, how far two offsets of one host's
/// clock may differ before the clock is taken to have been set (a jump):
/// rounding, plus what a time server slews a clock between two samples, at
/// most [`SLEW`] of the time between them.
const JUMP_SLACK: f64 = 0.005;
/// The fastest a time server slews a clock (500 ppm, NTP's limit).
const SLEW: f64 = 500e-6;
/// Per window of this many seconds (labctl's clock) the sample with the
/// smallest round trip is the one trusted, as NTP's clock filter does.
const WINDOW: f64 = 8.0;
/// How far a host time may lie outside the samples of a stretch between
/// jumps and still be taken for one of its times (beyond the gap to the
/// next stretch's first sample).
const REACH: f64 = 1.0;

/// A host's clock against labctl's, as the run's samples tell it: the
/// stretches between jumps ([`Span`]), each with its trusted samples.
/// Built sample by sample in the order they came ([`Self::push`]); read
/// through [`RunClock::to_run`].
#[derive(Debug, Clone, Default)]
pub struct HostClock {
    samples: Vec<ClockSample>,
    spans: Vec<Span>,
    /// Per span, how far the evidence of what happened first moved its
    /// offset, within what its samples leave unknown ([`RunClock::settle`]).
    shifts: Vec<f64>,
}

/// A stretch of a host's clock between jumps.
#[derive(Debug, Clone)]
struct Span {
    /// Index in `samples` of its first sample (it lasts to the next span's).
    first: usize,
    /// The trusted sample of each window, in order.
    points: Vec<ClockSample>,
    /// labctl's clock when its last window began.
    window: f64,
}

/// A jump of a host's clock, seen at the first sample after it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ClockJump {
    /// labctl's clock when that sample came.
    pub at: f64,
    /// How far the clock jumped (seconds; negative: back).
    pub by: f64,
}

/// One stretch of a host's clock between jumps, for the report.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ClockStretch {
    /// labctl's clock at its first sample.
    pub from: f64,
    /// How far the host's clock was ahead of labctl's (seconds; negative:
    /// behind), from its most trusted sample.
    pub offset: f64,
    /// How precisely that is known (± seconds): half that sample's round trip.
    pub uncertainty: f64,
    /// The jump it began with (`None` for the first).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jump: Option<f64>,
    pub samples: usize,
}

/// Two samples of one clock that no jump separates: the ranges each allows
/// for the offset (± its uncertainty) meet, allowing for a slew between them.
fn consistent(a: &ClockSample, b: &ClockSample) -> bool {
    let apart = (a.offset() - b.offset()).abs();
    apart <= a.uncertainty() + b.uncertainty() + JUMP_SLACK + SLEW * (a.received - b.received).abs()
}

impl HostClock {
    /// Adds the next sample (in the order they came); returns the jump it
    /// shows, if any: from this sample on the clock reads differently.
    pub fn push(&mut self, s: ClockSample) -> Option<ClockJump> {
        let sane = [s.sent, s.host, s.received].iter().all(|t| t.is_finite());
        if !sane || s.received < s.sent {
            return None;
        }
        let i = self.samples.len();
        self.samples.push(s);
        // Against the trusted samples of this window and of the one before.
        let jump = self.spans.last().and_then(|span| {
            let recent = span.points.iter().rev().take(2);
            recent
                .clone()
                .find(|p| !consistent(p, &s))
                .map(|p| ClockJump {
                    at: s.received,
                    by: s.offset() - p.offset(),
                })
        });
        let Some(span) = self.spans.last_mut().filter(|_| jump.is_none()) else {
            self.spans.push(Span {
                first: i,
                points: vec![s],
                window: s.received,
            });
            return jump;
        };
        if s.received - span.window >= WINDOW {
            span.points.push(s);
            span.window = s.received;
        } else if let Some(p) = span.points.last_mut() {
            if s.uncertainty() < p.uncertainty() {
                *p = s;
            }
        }
        None
    }

    /// Every sample, in the order they came.
    pub fn samples(&self) -> &[ClockSample] {
        &self.samples
    }

    /// How far the host's clock is ahead of labctl's now (its last trusted sample).
    pub(crate) fn offset_now(&self) -> Option<f64> {
        self.spans.last()?.points.last().map(ClockSample::offset)
    }

    /// The stretches between jumps, for the report.
    pub fn stretches(&self) -> Vec<ClockStretch> {
        (0..self.spans.len())
            .map(|k| {
                let span = &self.spans[k];
                let best = span
                    .points
                    .iter()
                    .min_by(|a, b| a.uncertainty().total_cmp(&b.uncertainty()))
                    .expect("a span has a point");
                let before = k.checked_sub(1).map(|j| &self.spans[j]);
                ClockStretch {
                    from: self.samples[span.first].received,
                    offset: best.offset() + self.shift(k),
                    uncertainty: best.uncertainty(),
                    jump: before.map(|b| {
                        self.samples[span.first].offset()
                            - b.points.last().expect("a point").offset()
                    }),
                    samples: self.end(k) - span.first,
                }
            })
            .collect()
    }

    /// What [`RunClock::settle`] moved span `k`'s offset by.
    fn shift(&self, k: usize) -> f64 {
        self.shifts.get(k).copied().unwrap_or(0.0)
    }

    /// How far span `k`'s offset may be from its samples' estimate: half the
    /// shortest round trip among its trusted samples.
    fn room(&self, k: usize) -> f64 {
        self.spans[k]
            .points
            .iter()
            .map(ClockSample::uncertainty)
            .fold(f64::INFINITY, f64::min)
    }

    /// One past the index of span `k`'s last sample.
    fn end(&self, k: usize) -> usize {
        self.spans
            .get(k + 1)
            .map_or(self.samples.len(), |n| n.first)
    }

    /// The host times span `k` covers: those of its samples, widened by
    /// [`REACH`] and on a side with a neighbour by the gap to it (a line
    /// stamped between the last sample before a jump and the first after
    /// it may be on either side of the jump). The first and last spans are
    /// open-ended.
    fn range(&self, k: usize) -> (f64, f64) {
        let (first, end) = (self.spans[k].first, self.end(k));
        let mine = &self.samples[first..end];
        let lo = mine.iter().map(|s| s.host).fold(f64::INFINITY, f64::min);
        let hi = mine
            .iter()
            .map(|s| s.host)
            .fold(f64::NEG_INFINITY, f64::max);
        let lo = match first.checked_sub(1) {
            None => f64::NEG_INFINITY,
            Some(p) => lo - REACH - (self.samples[first].received - self.samples[p].received),
        };
        let hi = match self.samples.get(end) {
            None => f64::INFINITY,
            Some(n) => hi + REACH + (n.received - self.samples[end - 1].received),
        };
        (lo, hi)
    }

    /// The span host time `t` belongs to. Where spans overlap (a clock set
    /// back repeats host times), `order` says which: the one in force when
    /// the time was recorded, or the one after the span of the time before.
    fn span_of(&self, t: f64, order: Order) -> Option<usize> {
        if self.spans.is_empty() {
            return None;
        }
        let holds = |k: usize| {
            let (lo, hi) = self.range(k);
            lo <= t && t <= hi
        };
        let candidates: Vec<usize> = (0..self.spans.len()).filter(|&k| holds(k)).collect();
        let span_at = |i: usize| self.spans.iter().rposition(|s| s.first <= i).unwrap_or(0);
        let pick = match order {
            Order::Recorded { samples_before } => {
                let now = span_at(samples_before.saturating_sub(1));
                let next = span_at(samples_before);
                [now, next]
                    .into_iter()
                    .find(|k| candidates.contains(k))
                    .or_else(|| candidates.last().copied())
            }
            Order::After { span, host } => {
                if t + 0.0005 < host {
                    // Back in time: the clock was set back since the time before.
                    candidates.iter().copied().find(|&k| k > span)
                } else if candidates.contains(&span) {
                    Some(span)
                } else {
                    candidates.iter().copied().find(|&k| k > span)
                }
                .or_else(|| candidates.last().copied())
            }
            Order::In(k) => Some(k.min(self.spans.len() - 1)),
            Order::Any => candidates.last().copied(),
        };
        pick.or_else(|| {
            // Outside every span (a gap): the nearest.
            (0..self.spans.len()).min_by(|&a, &b| {
                let d = |k: usize| {
                    let (lo, hi) = self.range(k);
                    (lo - t).max(t - hi).max(0.0)
                };
                d(a).total_cmp(&d(b))
            })
        })
    }

    /// How far the clock was ahead at host time `t` in span `k`: between
    /// its trusted samples, interpolated (a clock drifts); before the first
    /// or after the last, theirs.
    fn offset_in(&self, k: usize, t: f64) -> f64 {
        let points = &self.spans[k].points;
        let after = points.partition_point(|p| p.host <= t);
        match (after.checked_sub(1).map(|i| &points[i]), points.get(after)) {
            (Some(a), Some(b)) if b.host > a.host => {
                let f = (t - a.host) / (b.host - a.host);
                a.offset() + f * (b.offset() - a.offset())
            }
            (Some(a), _) => a.offset(),
            (None, Some(b)) => b.offset(),
            (None, None) => 0.0,
        }
    }
}

/// Which of the stretches of a host's clock a time belongs to when the clock
/// was set back, so that host times repeat ([`RunClock::to_run`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Order {
    /// The host's clock read it at most a moment before labctl recorded it,
    /// after this many of the host's samples (a line of a program's output
    /// or a sent line: in `events.jsonl`'s order).
    Recorded { samples_before: usize },
    /// It comes after a time of stretch `span` that read `host` (a capture's
    /// frames, in file order): see [`Placer`].
    After { span: usize, host: f64 },
    /// It is of stretch `k` (as a [`Placer`] found).
    In(usize),
    /// Nothing is known of its order: the latest stretch that holds it.
    Any,
}

/// One event on a host's clock that the evidence says came no later than
/// another ([`RunClock::happened_before`]), each with its stretch.
#[derive(Debug, Clone)]
struct Precedes {
    first: (String, usize, f64),
    then: (String, usize, f64),
}

/// The run's clock: labctl's. Every host's clock against it, from the
/// samples the run recorded; [`Self::to_run`] puts a host time on it. The
/// report, the answers, the ladders and the pcapng comments read host times
/// only through it, so no two hosts' raw times are ever compared.
#[derive(Debug, Clone, Default)]
pub struct RunClock {
    hosts: std::collections::BTreeMap<String, HostClock>,
    orders: Vec<Precedes>,
}

/// How much later than its cause an effect on another host is placed, at
/// least, once [`RunClock::settle`] moved the offsets (rounding).
const AFTER: f64 = 1e-6;

impl RunClock {
    /// Adds `host`'s next sample; returns the jump it shows, if any.
    pub fn push(&mut self, host: &str, s: ClockSample) -> Option<ClockJump> {
        self.hosts.entry(host.to_string()).or_default().push(s)
    }

    /// `host`'s clock, when the run sampled it.
    pub fn host(&self, host: &str) -> Option<&HostClock> {
        self.hosts.get(host)
    }

    /// The number of `host`'s samples so far (for [`Order::Recorded`]).
    pub(crate) fn samples_of(&self, host: &str) -> usize {
        self.hosts.get(host).map_or(0, |h| h.samples.len())
    }

    /// `t`, read on `host`'s clock, on the run clock (labctl's): the one
    /// place where a host time becomes comparable with another host's.
    /// Unchanged for a host never sampled (a run recorded before clocks
    /// were sampled).
    pub(crate) fn to_run(&self, host: &str, t: f64, order: Order) -> f64 {
        self.place(host, t, order).0
    }

    /// [`Self::to_run`], and the span it used (`None`: no samples).
    fn place(&self, host: &str, t: f64, order: Order) -> (f64, Option<usize>) {
        let Some(clock) = self.hosts.get(host) else {
            return (t, None);
        };
        match clock.span_of(t, order) {
            Some(k) => (t - clock.offset_in(k, t) - clock.shift(k), Some(k)),
            None => (t, None),
        }
    }

    /// Evidence beyond the samples: `first`, a time on one host's clock,
    /// came no later than `then`, on another's (a line labctl sent to a
    /// client, and the frame that carried it, in another host's capture).
    /// The samples know each offset within half a round trip; such an
    /// order may know better. [`Self::settle`] weighs them all.
    pub(crate) fn happened_before(&mut self, first: (&str, f64, Order), then: (&str, f64, Order)) {
        let span = |(host, t, order): (&str, f64, Order)| {
            let k = self.hosts.get(host)?.span_of(t, order)?;
            Some((host.to_string(), k, t))
        };
        if let (Some(a), Some(b)) = (span(first), span(then)) {
            if a.0 != b.0 {
                self.orders.push(Precedes { first: a, then: b });
            }
        }
    }

    /// Moves each stretch's offset, never beyond what its samples leave
    /// unknown, until every order [`Self::happened_before`] recorded holds
    /// on the run clock (each violation shared between its two clocks by
    /// the room each has; a few rounds, as one move may undo another).
    pub(crate) fn settle(&mut self) {
        for c in self.hosts.values_mut() {
            c.shifts = vec![0.0; c.spans.len()];
        }
        let orders = std::mem::take(&mut self.orders);
        for _ in 0..50 {
            let mut moved = false;
            for o in &orders {
                let (a, ka, ta) = (&o.first.0, o.first.1, o.first.2);
                let (b, kb, tb) = (&o.then.0, o.then.1, o.then.2);
                let (ca, cb) = (&self.hosts[a], &self.hosts[b]);
                let (sa, sb) = (ca.shift(ka), cb.shift(kb));
                let run_a = ta - ca.offset_in(ka, ta) - sa;
                let run_b = tb - cb.offset_in(kb, tb) - sb;
                let late = run_a + AFTER - run_b;
                if late <= 0.0 {
                    continue;
                }
                // a earlier (a larger offset), b later (a smaller one).
                let (up, down) = ((ca.room(ka) - sa).max(0.0), (cb.room(kb) + sb).max(0.0));
                let room = up + down;
                if room <= 0.0 {
                    continue;
                }
                let m = late.min(room);
                self.hosts.get_mut(a.as_str()).expect("a host").shifts[ka] += m * up / room;
                self.hosts.get_mut(b.as_str()).expect("a host").shifts[kb] -= m * down / room;
                moved = true;
            }
            if !moved {
                break;
            }
        }
        self.orders = orders;
    }

    /// The number of `host`'s samples that had come by `run_time` (labctl's clock).
    pub(crate) fn samples_at(&self, host: &str, run_time: f64) -> usize {
        self.hosts
            .get(host)
            .map_or(0, |h| h.samples.partition_point(|s| s.received <= run_time))
    }

    /// Places `host`'s times that come in order (a capture's frames): the
    /// first as `first` says, each later one [`Order::After`] the one before.
    pub(crate) fn placer<'c>(&'c self, host: &str, first: Order) -> Placer<'c> {
        Placer {
            clock: self,
            host: host.to_string(),
            first,
            last: None,
        }
    }
}

/// [`RunClock::to_run`] for a sequence of one host's times in the order
/// they happened.
pub(crate) struct Placer<'c> {
    clock: &'c RunClock,
    host: String,
    first: Order,
    /// The span and host time of the time before.
    last: Option<(usize, f64)>,
}

impl Placer<'_> {
    /// The stretch of host time `t` (the next in order), for
    /// [`RunClock::happened_before`]; as [`Self::place`] moves on.
    pub(crate) fn locate(&mut self, t: f64) -> Order {
        let order = match self.last {
            Some((span, host)) => Order::After { span, host },
            None => self.first,
        };
        match self
            .clock
            .hosts
            .get(&self.host)
            .and_then(|c| c.span_of(t, order))
        {
            Some(k) => {
                self.last = Some((k, t));
                Order::In(k)
            }
            None => Order::Any,
        }
    }

    pub(crate) fn place(&mut self, t: f64) -> f64 {
        let order = match self.last {
            Some((span, host)) => Order::After { span, host },
            None => self.first,
        };
        let (run, span) = self.clock.place(&self.host, t, order);
        if let Some(k) = span {
            self.last = Some((k, t));
        }
        run
    }
}

/// How far a clock is off, for people: `90.002 s behind`, `1 h 0 min 0.013 s
/// ahead`, `0.4 ms ahead` (`offset`: seconds ahead; negative: behind).
pub(crate) fn describe_offset(offset: f64) -> String {
    let side = if offset < 0.0 { "behind" } else { "ahead" };
    format!("{} {side}", describe_secs(offset.abs()))
}

/// [`describe_offset`] against a named clock: `90.002 s behind this
/// machine's`, `40.000 s ahead of this machine's`.
pub(crate) fn describe_offset_from(offset: f64, whose: &str) -> String {
    let of = if offset < 0.0 { "" } else { " of" };
    format!("{}{of} {whose}", describe_offset(offset))
}

/// A span of seconds, for people: `0.4 ms`, `90.002 s`, `1 h 0 min 0.013 s`
/// (minutes from ten of them on).
pub(crate) fn describe_secs(secs: f64) -> String {
    if secs < 0.01 {
        return format!("{:.2} ms", secs * 1000.0);
    }
    if secs < 1.0 {
        return format!("{:.1} ms", secs * 1000.0);
    }
    // To the millisecond shown, before it is cut into hours and minutes.
    let secs = (secs * 1000.0).round() / 1000.0;
    if secs < 600.0 {
        return format!("{secs:.3} s");
    }
    let whole = secs.trunc() as u64;
    let (h, m) = (whole / 3600, whole % 3600 / 60);
    let s = secs - (h * 3600 + m * 60) as f64;
    match (h, m) {
        (0, 0) => format!("{s:.3} s"),
        (0, m) => format!("{m} min {s:.3} s"),
        (h, m) => format!("{h} h {m} min {s:.3} s"),
    }
}

/// The kind of event an `events.jsonl` line holds (`output`,
/// `step_started`…), told without parsing the line: serde writes the tag
/// as its first member. Readers skip by it the lines they have no use for.
pub(crate) fn tag_of(line: &str) -> Option<&str> {
    line.strip_prefix("{\"event\":\"")
        .and_then(|rest| rest.split('"').next())
}

/// Unix seconds now, controller clock.
pub(crate) fn now_unix() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A tick sent at `sent` (labctl's clock), answered after `rtt`, the
    /// host reading its clock `at` of the way through, `offset` ahead.
    fn tick(sent: f64, offset: f64, rtt: f64, at: f64) -> ClockSample {
        ClockSample {
            sent,
            host: sent + at * rtt + offset,
            received: sent + rtt,
        }
    }

    const T0: f64 = 1_800_000_000.0;

    #[test]
    fn a_clock_behind_is_placed_on_the_run_clock_within_its_uncertainty() {
        let mut clock = RunClock::default();
        for i in 0..30 {
            // Round trips of 0.4 to 1.6 ms, one slow answer of 0.3 s.
            let rtt = if i == 7 {
                0.3
            } else {
                0.0004 + 0.0004 * (i % 4) as f64
            };
            let at = [0.1, 0.5, 0.9][i % 3];
            assert_eq!(clock.push("A", tick(T0 + i as f64, -90.0, rtt, at)), None);
        }
        let a = clock.host("A").unwrap();
        let s = a.stretches();
        assert_eq!(s.len(), 1);
        assert!(
            (s[0].offset + 90.0).abs() <= s[0].uncertainty + 1e-6,
            "{s:?}"
        );
        assert!(
            s[0].uncertainty <= 0.0002 + 1e-6,
            "the best round trip: {s:?}"
        );
        assert_eq!(s[0].samples, 30);
        // A line A stamped 12.5 s into the run happened 12.5 s into it.
        let run = clock.to_run("A", T0 + 12.5 - 90.0, Order::Any);
        assert!((run - (T0 + 12.5)).abs() < 0.001, "{}", run - T0);
        // B was never sampled (an old run directory): its times stay as they were.
        assert_eq!(clock.to_run("B", 42.0, Order::Any), 42.0);
        assert!((a.offset_now().unwrap() + 90.0).abs() < 0.001);
    }

    #[test]
    fn a_jump_is_seen_at_the_first_sample_after_it_and_corrected_from_then_on() {
        let mut clock = RunClock::default();
        let mut jumps = Vec::new();
        for i in 0..40 {
            // A time server reached between the 20th and 21st tick: +1 h.
            let offset = if i < 20 { 40.0 } else { 3640.0 };
            if let Some(j) = clock.push("B", tick(T0 + i as f64, offset, 0.001, 0.5)) {
                jumps.push((i, j));
            }
        }
        assert_eq!(jumps.len(), 1, "{jumps:?}");
        assert_eq!(jumps[0].0, 20);
        assert!((jumps[0].1.by - 3600.0).abs() < 0.01, "{jumps:?}");
        let s = clock.host("B").unwrap().stretches();
        assert_eq!(s.len(), 2);
        assert_eq!(s[1].jump.map(f64::round), Some(3600.0));
        assert_eq!((s[0].samples, s[1].samples), (20, 20));
        // Before the jump, at it (between the two samples) and after.
        for (real, offset) in [(5.0, 40.0), (19.6, 40.0), (19.8, 3640.0), (33.0, 3640.0)] {
            let run = clock.to_run("B", T0 + real + offset, Order::Any);
            assert!((run - (T0 + real)).abs() < 0.001, "{real}: {}", run - T0);
        }
    }

    #[test]
    fn a_clock_set_back_repeats_host_times_and_their_order_tells_them_apart() {
        let mut clock = RunClock::default();
        for i in 0..40 {
            // Set back 30 s between the 20th and 21st tick.
            let offset = if i < 20 { 0.0 } else { -30.0 };
            clock.push("C", tick(T0 + i as f64, offset, 0.001, 0.5));
        }
        // Host time T0 + 5 was read twice: 5 s into the run, and 35 s into it.
        let before = clock.to_run("C", T0 + 5.0, Order::Recorded { samples_before: 6 });
        let after = clock.to_run("C", T0 + 5.0, Order::Recorded { samples_before: 36 });
        assert!((before - (T0 + 5.0)).abs() < 0.001, "{}", before - T0);
        assert!((after - (T0 + 35.0)).abs() < 0.001, "{}", after - T0);
        // A capture's frames, in file order, across the jump.
        let mut p = clock.placer("C", Order::Recorded { samples_before: 2 });
        let frames = [(3.0, 0.0), (19.5, 0.0), (22.0, -30.0), (35.0, -30.0)];
        for (real, offset) in frames {
            let run = p.place(T0 + real + offset);
            assert!((run - (T0 + real)).abs() < 0.001, "{real}: {}", run - T0);
        }
    }

    #[test]
    fn a_slewed_clock_is_no_jump_and_a_slow_answer_is_not_trusted() {
        let mut clock = HostClock::default();
        for i in 0..60 {
            // 400 ppm of slew: 24 ms over the minute.
            let offset = 2.0 + 0.0004 * i as f64;
            assert_eq!(clock.push(tick(T0 + i as f64, offset, 0.002, 0.5)), None);
        }
        // An answer that took 4 s: its offset is far from the others', but
        // within its own uncertainty.
        assert_eq!(clock.push(tick(T0 + 60.0, 2.024, 4.0, 0.9)), None);
        assert!((clock.offset_now().unwrap() - 2.024).abs() < 0.002);
        assert_eq!(clock.stretches().len(), 1);
    }

    #[test]
    fn what_happened_first_moves_offsets_within_their_uncertainty() {
        let mut clock = RunClock::default();
        // A right, B 90 s behind, each known to ± 0.5 ms; B's samples put
        // it 0.4 ms less behind than it is.
        for i in 0..10 {
            let t = T0 + i as f64;
            clock.push("A", tick(t, 0.0, 0.001, 0.5));
            clock.push("B", tick(t, -89.9996, 0.001, 0.5));
        }
        // A line sent on A at T0 + 5, and its frame on B 0.1 ms later.
        let (sent, frame) = (T0 + 5.0, T0 + 5.0001 - 90.0);
        let gap = |c: &RunClock| c.to_run("B", frame, Order::Any) - c.to_run("A", sent, Order::Any);
        assert!(
            gap(&clock) < 0.0,
            "placed before its cause: {}",
            gap(&clock)
        );
        clock.happened_before(("A", sent, Order::Any), ("B", frame, Order::Any));
        clock.settle();
        assert!(gap(&clock) >= 0.0, "{}", gap(&clock));
        // Moved no more than needed, shared between the two clocks.
        let b = clock.host("B").unwrap().stretches()[0].offset;
        let a = clock.host("A").unwrap().stretches()[0].offset;
        assert!(
            (b + 89.99975).abs() < 2e-5 && (a - 0.00015).abs() < 2e-5,
            "{a} {b}"
        );
        // An order the samples cannot allow moves each offset to its bound, no further.
        clock.happened_before(("A", sent, Order::Any), ("B", frame - 0.01, Order::Any));
        clock.settle();
        let b = clock.host("B").unwrap().stretches()[0].offset;
        assert!((b + 89.9996).abs() <= 0.0005 + 1e-6, "{b}");
    }

    #[test]
    fn offsets_read_for_people() {
        assert_eq!(describe_offset(-90.0021), "90.002 s behind");
        assert_eq!(describe_offset(0.00042), "0.42 ms ahead");
        assert_eq!(describe_offset(-0.25), "250.0 ms behind");
        assert_eq!(
            describe_offset_from(40.0, "this machine's"),
            "40.000 s ahead of this machine's"
        );
        assert_eq!(describe_offset(3600.013), "1 h 0 min 0.013 s ahead");
        assert_eq!(describe_offset(-125.5), "125.500 s behind");
        assert_eq!(describe_offset(-86_400.0), "24 h 0 min 0.000 s behind");
        assert_eq!(describe_offset(3599.99996), "1 h 0 min 0.000 s ahead");
    }

    #[test]
    fn the_clock_event_reads_back_as_written() {
        let line = r#"{"event":"clock","host":"A","sent":1.5,"host_time":-88.5,"received":1.501}"#;
        let e: Event = serde_json::from_str(line).unwrap();
        assert!(matches!(e, Event::Clock { host_time, .. } if host_time == -88.5));
        assert_eq!(
            serde_json::to_value(&e).unwrap(),
            serde_json::from_str::<serde_json::Value>(line).unwrap()
        );
    }

    #[test]
    fn an_event_names_its_bench_room_and_operation_and_reads_back_as_written() {
        let line = r#"{"event":"action_done","step":"I.6","host":"A","what":"start `server`","ok":true,"detail":"done","secs":0.1,"action":2,"op":1,"bench":"bench2","room":"r-room"}"#;
        let e: Event = serde_json::from_str(line).unwrap();
        assert_eq!(e.op(), Some(OpRef { action: 2, op: 1 }));
        assert_eq!(e.run().bench, "bench2");
        assert_eq!(e.run().room.as_deref(), Some("r-room"));
        assert_eq!(
            serde_json::to_value(&e).unwrap(),
            serde_json::from_str::<serde_json::Value>(line).unwrap()
        );
        // Written before events named them: none, and none written back.
        let old = r#"{"event":"action_done","step":"I.6","host":"A","what":"w","ok":true,"detail":"d","secs":0.1}"#;
        let e: Event = serde_json::from_str(old).unwrap();
        assert_eq!((e.op(), e.run()), (None, &RunOf::default()));
        assert_eq!(
            serde_json::to_value(&e).unwrap(),
            serde_json::from_str::<serde_json::Value>(old).unwrap()
        );
    }

    #[test]
    fn the_kinds_a_passing_run_lacks_read_back_as_written() {
        // The fixture run (tests/run_record.rs) has the rest.
        let lines = [
            r#"{"event":"cleaned","host":"A","programs":["`server` (step I.6, run r0)"]}"#,
            r#"{"event":"expectation_failed","step":"I.6","host":"A","program":"server","what":"`server` prints /x/","seen":"","message":"step `I.6` on host `A`: nothing matched","secs":2.0}"#,
            r#"{"event":"skipped","step":"I.1","host":"A","what":"configure","cmd":null}"#,
            r#"{"event":"program_stopped","host":"B","name":"cap-B","step":"I.7","alive":false}"#,
            r#"{"event":"problem","host":null,"message":"interrupted"}"#,
            r#"{"event":"step_finished","step":"I.6","outcome":"interrupted","secs":0.5}"#,
            r#"{"event":"output","host":"C","program":"client-C","stream":"stderr","ts":1.5,"line":"x"}"#,
        ];
        for line in lines {
            let e: Event = serde_json::from_str(line).unwrap();
            let back: serde_json::Value = serde_json::to_value(&e).unwrap();
            assert_eq!(
                back,
                serde_json::from_str::<serde_json::Value>(line).unwrap()
            );
        }
        let e: Event = serde_json::from_str(lines[5]).unwrap();
        assert!(
            matches!(e, Event::StepFinished { outcome: Outcome::Interrupted, step, .. } if step == "I.6")
        );
    }
}
