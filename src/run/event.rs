//! What the executor and the host workers report as a run goes. The terminal
//! reporter draws these; the run directory records them (`events.jsonl`,
//! `steps.jsonl`, per-program output files).

use std::path::PathBuf;

use serde::Serialize;

/// One step as announced at the start of a run.
#[derive(Debug, Clone, Serialize)]
pub struct StepInfo {
    pub id: String,
    pub title: String,
    /// Run only because a selected step needs it.
    pub needed: bool,
    pub hosts: Vec<String>,
}

/// One host as announced at the start of a run.
#[derive(Debug, Clone, Serialize)]
pub struct RunHost {
    pub name: String,
    pub cidr: String,
    pub interface: String,
    pub endpoint: String,
}

/// The program set of a run (`rust`, `python`, `lab`): its interpreter, if
/// any, and the version line it printed on each host (`Python 3.11.2`).
#[derive(Debug, Clone, Default, Serialize)]
pub struct RunPrograms {
    pub set: String,
    pub interpreter: Option<String>,
    pub versions: std::collections::BTreeMap<String, String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Passed,
    Failed,
    Interrupted,
}

#[derive(Debug, Clone, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    RunStarted {
        run_id: String,
        lab: String,
        lab_title: Option<String>,
        lab_file: PathBuf,
        bench: String,
        hosts: Vec<RunHost>,
        steps: Vec<StepInfo>,
        /// The program set that ran, and its interpreter's version per host.
        programs: RunPrograms,
        dir: Option<PathBuf>,
        dry_run: bool,
        /// Unix seconds (controller clock).
        at: f64,
    },
    Connected {
        host: String,
        ms: u64,
    },
    /// Programs an earlier labctl left running, stopped before this run.
    Cleaned {
        host: String,
        programs: Vec<String>,
    },
    StepStarted {
        step: String,
        title: String,
        needed: bool,
        at: f64,
    },
    /// An op begins on a host (for progress display).
    OpStarted {
        step: String,
        host: String,
        what: String,
    },
    /// An action (configure, deploy, start, send, stop) finished.
    ActionDone {
        step: String,
        host: String,
        what: String,
        ok: bool,
        /// What happened (`uploaded 5 programs`), or why it failed.
        detail: String,
        secs: f64,
    },
    ExpectationPassed {
        step: String,
        host: String,
        program: Option<String>,
        what: String,
        /// The evidence: the matching line, the exit status, the reply.
        seen: String,
        secs: f64,
    },
    ExpectationFailed {
        step: String,
        host: String,
        program: Option<String>,
        what: String,
        seen: String,
        /// The whole failure, naming step, host and program.
        message: String,
        secs: f64,
    },
    /// `--dry-run`: what would have run.
    Skipped {
        step: String,
        host: String,
        what: String,
        cmd: Option<String>,
    },
    /// A program or capture started in the background under `name`.
    ProgramStarted {
        host: String,
        name: String,
        /// `tcp_client` …, or `tcpdump` for a capture.
        program: String,
        step: String,
        capture: bool,
        pgid: u32,
    },
    /// One line a program printed; `ts` is the host's clock (unix seconds).
    Output {
        host: String,
        program: String,
        stream: &'static str,
        ts: f64,
        line: String,
    },
    /// One line written to a program's stdin; `ts` is the host's clock.
    Sent {
        host: String,
        program: String,
        ts: f64,
        line: String,
    },
    /// A capture's pcap, fetched into the run directory.
    CaptureSaved {
        host: String,
        name: String,
        file: String,
        bytes: u64,
        started_by: String,
        stopped_by: String,
    },
    StepFinished {
        step: String,
        outcome: Outcome,
        secs: f64,
    },
    /// A program stopped because the run ended (normally, on failure, or on Ctrl-C).
    ProgramStopped {
        host: String,
        name: String,
        step: String,
        alive: bool,
    },
    /// Something went wrong outside any step (a host unreachable, cleanup trouble).
    Problem {
        host: Option<String>,
        message: String,
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
    },
}

/// Unix seconds now, controller clock.
pub fn now_unix() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}
