//! The report's two types: [`RunInput`], what a run recorded (read from the
//! run directory by `load`), and [`RunReport`], what the reports say — the
//! content of `run.json` (schema `labctl-run/1`, `docs/run-json-schema.json`).

use serde::Serialize;

use crate::capture::CaptureAnalysis;

/// The version of `run.json`. A change that removes or retypes a field bumps it.
pub const SCHEMA: &str = "labctl-run/1";

/// Everything a run recorded, as the report needs it.
#[derive(Debug, Clone, Default)]
pub struct RunInput {
    /// The run directory's name, e.g. `20250101T120000Z-socket-lab`.
    pub id: String,
    pub lab: String,
    pub lab_title: Option<String>,
    /// Unix seconds.
    pub started_at: Option<f64>,
    pub finished_at: Option<f64>,
    /// `passed`, `failed`, `interrupted`; `None` while the run goes on.
    pub outcome: Option<String>,
    /// Why the run stopped, as labctl's last line said it (`run_finished.error`).
    pub error: Option<String>,
    /// What went wrong outside the steps' actions (`problem` events), in order.
    pub problems: Vec<ProblemRecord>,
    pub bench: BenchInfo,
    pub steps: Vec<StepRecord>,
    /// Program output and stdin lines, any order (the report sorts them).
    pub lines: Vec<LineRecord>,
    pub captures: Vec<CaptureRecord>,
    /// Every program started in the background, in start order.
    pub programs: Vec<ProgramRecord>,
    /// The lab's questions (`questions.json`), in the lab's order.
    pub questions: Vec<QuestionRecord>,
    /// The hosts' clocks against labctl's, from the samples the run recorded.
    pub clock: crate::record::RunClock,
}

/// One question of the lab, as the run directory's `questions.json` holds
/// it (written from [`crate::lab::model::Question`]).
#[derive(Debug, Clone, Default, Serialize, serde::Deserialize)]
pub struct QuestionRecord {
    pub id: String,
    pub text: String,
    /// The steps whose evidence answers it; all must have passed.
    pub evidence: Vec<String>,
    /// Steps compared with when they passed in the same run.
    #[serde(default)]
    pub compare: Vec<String>,
    /// The rule's keyword (`tcp-frames`, …); empty when `shows` answer it.
    #[serde(default)]
    pub answer: String,
    /// The evidence the question declares, resolved on the run's bench.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub shows: Vec<crate::lab::evidence::Show>,
    /// The lab's explanation of what that evidence shows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub why: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct BenchInfo {
    pub name: String,
    pub hosts: Vec<HostInfo>,
    /// The program set that ran; absent in runs recorded before sets existed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub programs: Option<ProgramsInfo>,
}

/// The program set of a run (`run_started.programs`): its name, its
/// interpreter, and the version line the interpreter printed on each host.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ProgramsInfo {
    pub set: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interpreter: Option<String>,
    #[serde(skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub versions: std::collections::BTreeMap<String, String>,
}

impl ProgramsInfo {
    /// One line for people: "set `python`, run with `python3` (A: Python 3.11.2, …)".
    pub fn describe(&self) -> String {
        let mut s = format!("set `{}`", self.set);
        if let Some(i) = &self.interpreter {
            s.push_str(&format!(", run with `{i}`"));
        }
        if !self.versions.is_empty() {
            let v: Vec<String> = self
                .versions
                .iter()
                .map(|(h, v)| format!("{h}: {v}"))
                .collect();
            s.push_str(&format!(" ({})", v.join(", ")));
        }
        s
    }
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct HostInfo {
    pub name: String,
    /// Lab address in CIDR, e.g. `10.0.3.1/24`.
    pub addr: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ssh: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interface: Option<String>,
}

impl HostInfo {
    /// The lab address without its prefix.
    pub fn ip(&self) -> &str {
        self.addr.split('/').next().unwrap_or("")
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    Passed,
    Failed,
    /// Not run because an earlier step failed or the run was interrupted.
    Skipped,
    /// Stopped by Ctrl-C (or SIGTERM/SIGHUP) while it ran.
    Interrupted,
    Running,
    /// Not started yet; the run goes on.
    Pending,
}

impl Outcome {
    pub fn mark(self) -> &'static str {
        match self {
            Outcome::Passed => "✔",
            Outcome::Failed => "✘",
            Outcome::Skipped => "–",
            Outcome::Interrupted => "⊘",
            Outcome::Running => "…",
            Outcome::Pending => "·",
        }
    }
    pub fn word(self) -> &'static str {
        match self {
            Outcome::Passed => "passed",
            Outcome::Failed => "failed",
            Outcome::Skipped => "skipped",
            Outcome::Interrupted => "interrupted",
            Outcome::Running => "running",
            Outcome::Pending => "pending",
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct StepRecord {
    pub id: String,
    pub title: String,
    pub hosts: Vec<String>,
    pub outcome: Outcome,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub started_at: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<f64>,
    pub checks: Vec<CheckRecord>,
}

/// One expectation (or action) of a step and what showed it.
#[derive(Debug, Clone, Serialize)]
pub struct CheckRecord {
    /// What was checked, e.g. ``B `client-B` prints /Server> HELLO/ within 2 s``.
    pub what: String,
    pub ok: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// What showed it: the matching line, the exit status, the reason it failed.
    pub evidence: String,
}

/// Something that went wrong outside the steps' actions: a host that could
/// not be reached or prepared, a capture not fetched, cleanup trouble.
#[derive(Debug, Clone, Serialize)]
pub struct ProblemRecord {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// The step running when it happened; absent before the first step or between steps.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub step: Option<String>,
    pub message: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LineStream {
    Stdout,
    Stderr,
    /// A line labctl sent to the program.
    Stdin,
}

#[derive(Debug, Clone, Serialize)]
pub struct LineRecord {
    /// When, on the run clock (labctl's), unix seconds.
    pub at: f64,
    /// When, on the host's clock (as recorded), unix seconds.
    pub host_at: f64,
    /// How many samples of its host's clock the record held before it
    /// ([`crate::record::Order::Recorded`]).
    #[serde(skip)]
    pub seen: usize,
    pub host: String,
    pub program: String,
    pub stream: LineStream,
    pub text: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub step: Option<String>,
}

/// A program the run started under a name (`client-C` running `udp_client`).
#[derive(Debug, Clone, Serialize)]
pub struct ProgramRecord {
    pub name: String,
    pub host: String,
    /// `tcp_server`, `udp_client`, …
    pub program: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub step: Option<String>,
    /// Unix seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub started_at: Option<f64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct CaptureRecord {
    pub name: String,
    pub host: String,
    /// Relative to the run directory.
    pub file: String,
    /// The step that started the capture.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub step: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stopped_in: Option<String>,
}

/// `run.json`.
#[derive(Debug, Clone, Serialize)]
pub struct RunReport {
    pub schema: &'static str,
    /// RFC 3339 UTC.
    pub generated_at: String,
    pub run: RunSummary,
    pub bench: BenchInfo,
    pub steps: Vec<StepRecord>,
    pub programs: Vec<ProgramRecord>,
    /// Sorted by time.
    pub timeline: Vec<TimelineEntry>,
    pub captures: Vec<CaptureReport>,
    /// The lab's questions, answered (or not) from this run's evidence; empty
    /// when the lab has none.
    pub answers: Vec<Answer>,
    /// The students' copy: the questions without their answers.
    #[serde(skip)]
    pub student: bool,
    /// What went wrong outside the steps' actions, in order.
    pub problems: Vec<ProblemRecord>,
    /// Each host's clock against labctl's (the run clock every time of the
    /// report is on), in the bench's order; empty for a run recorded before
    /// clocks were sampled.
    pub clocks: Vec<HostClockReport>,
}

/// How a host's clock stood against labctl's over the run.
#[derive(Debug, Clone, Serialize)]
pub struct HostClockReport {
    pub host: String,
    /// Samples taken (one a second, and one as the run began).
    pub samples: usize,
    /// The stretches of its clock between jumps, in order: one when it never jumped.
    pub stretches: Vec<crate::record::ClockStretch>,
}

impl HostClockReport {
    /// One line for people: ``A: 90.002 s behind (± 0.3 ms, 47 samples)``,
    /// and each jump with the offset after it.
    pub fn describe(&self) -> String {
        use crate::record::{describe_offset, describe_secs};
        let mut parts = Vec::new();
        for (i, st) in self.stretches.iter().enumerate() {
            let off = format!(
                "{} (± {})",
                describe_offset(st.offset),
                describe_secs(st.uncertainty)
            );
            parts.push(match st.jump {
                Some(j) if i > 0 => format!(
                    "then at {} its clock jumped {}: {off}",
                    super::clock(&super::rfc3339(st.from)),
                    describe_offset(j).replace("behind", "back")
                ),
                _ => off,
            });
        }
        format!(
            "{}: {}; {} sample{}",
            self.host,
            parts.join("; "),
            self.samples,
            if self.samples == 1 { "" } else { "s" }
        )
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct RunSummary {
    pub id: String,
    pub lab: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lab_title: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub started_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<String>,
    /// `passed`, `failed`, `interrupted` or `running`.
    pub outcome: String,
    pub steps_passed: usize,
    pub steps_failed: usize,
    pub steps_skipped: usize,
    pub steps_interrupted: usize,
    /// Why the run stopped, as labctl's last line said it; absent when it
    /// passed or goes on.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct TimelineEntry {
    /// RFC 3339 UTC, on the run clock (labctl's: the host's clock corrected
    /// by its measured offset).
    pub at: String,
    /// The same, unix seconds.
    pub unix: f64,
    /// The host's own clock, as recorded (unix seconds).
    pub host_unix: f64,
    /// Seconds since the run started (or the first line).
    pub t: f64,
    pub host: String,
    pub program: String,
    pub stream: LineStream,
    pub text: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub step: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct CaptureReport {
    pub name: String,
    pub host: String,
    pub file: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub step: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stopped_in: Option<String>,
    /// `None` when the file is missing or unreadable (`error` says why).
    pub analysis: Option<CaptureAnalysis>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// One of the lab's questions, answered from this run's evidence.
#[derive(Debug, Clone, Serialize)]
pub struct Answer {
    /// As the lab numbers it: `I.1(a)` … `II.3`.
    pub id: String,
    pub question: String,
    /// The evidence of the steps it names was there (they passed) and read.
    pub answered: bool,
    /// Answered, and the evidence shows what the lab expects.
    pub ok: bool,
    /// Plain text; names and socket addresses in backticks, `- ` list items.
    pub answer: String,
    /// The steps whose evidence it reads (the lab's `evidence`).
    pub steps: Vec<String>,
    /// The captures the answer reads.
    pub captures: Vec<String>,
    /// Every frame it cites, as Wireshark numbers them.
    pub frames: Vec<FrameCite>,
    /// Every line of program output it cites.
    pub lines: Vec<LineCite>,
    /// The numbers behind the answer.
    pub facts: serde_json::Value,
}

/// A frame an answer cites: open `file` in Wireshark, apply `filter`, find `number`.
#[derive(Debug, Clone, Serialize)]
pub struct FrameCite {
    pub capture: String,
    /// The capture file, relative to the run directory.
    pub file: String,
    /// The display filter the answer gives.
    pub filter: String,
    /// 1-based, in file order (Wireshark's `frame.number`).
    pub number: usize,
    pub kind: crate::capture::Kind,
    pub src: String,
    pub dst: String,
}

/// A line of a program's output an answer cites.
#[derive(Debug, Clone, Serialize)]
pub struct LineCite {
    pub host: String,
    /// labctl's name for it (`client-B`, `I.9-tcp_server`).
    pub program: String,
    pub stream: LineStream,
    pub text: String,
    /// The file of the run directory that holds the line.
    pub file: String,
}
