//! The run record: what the executor and the host workers report as a run
//! goes. The one definition of `events.jsonl`: the terminal reporter draws
//! these events, the run directory records them (`events.jsonl`,
//! `steps.jsonl`, per-program output files), and the report reads the same
//! types back ([`crate::report::load`]).
//!
//! On disk each event is one JSON object tagged by `event` (`step_started`
//! …) with the fields named as here; ids are plain strings, outcomes and
//! streams lowercase words. Renaming a tag or a field breaks every run
//! directory already written (`tests/fixtures/run-v1` guards it).

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
    pub fn is_unset(&self) -> bool {
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
        bench: String,
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
        /// The room run this bench is part of (`run --all`): the room
        /// directory's name, beside this run directory. Absent otherwise.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        room: Option<String>,
    },
    Connected {
        host: HostName,
        ms: u64,
    },
    /// Programs an earlier labctl left running, stopped before this run.
    Cleaned {
        host: HostName,
        programs: Vec<String>,
    },
    StepStarted {
        step: StepId,
        title: String,
        needed: bool,
        at: f64,
    },
    /// An op begins on a host (for progress display).
    OpStarted {
        step: StepId,
        host: HostName,
        what: String,
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
    },
    ExpectationPassed {
        step: StepId,
        host: HostName,
        program: Option<String>,
        what: String,
        /// The evidence: the matching line, the exit status, the reply.
        seen: String,
        secs: f64,
    },
    ExpectationFailed {
        step: StepId,
        host: HostName,
        program: Option<String>,
        what: String,
        seen: String,
        /// The whole failure, naming step, host and program.
        message: String,
        secs: f64,
    },
    /// `--dry-run`: what would have run.
    Skipped {
        step: StepId,
        host: HostName,
        what: String,
        cmd: Option<String>,
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
    },
    /// One line a program printed; `ts` is the host's clock (unix seconds).
    Output {
        host: HostName,
        program: String,
        stream: Stream,
        ts: f64,
        line: String,
    },
    /// One line written to a program's stdin; `ts` is the host's clock.
    Sent {
        host: HostName,
        program: String,
        ts: f64,
        line: String,
    },
    /// A capture's pcap, fetched into the run directory.
    CaptureSaved {
        host: HostName,
        name: String,
        file: String,
        bytes: u64,
        started_by: StepId,
        stopped_by: StepId,
    },
    StepFinished {
        step: StepId,
        outcome: Outcome,
        secs: f64,
    },
    /// A program stopped because the run ended (normally, on failure, or on Ctrl-C).
    ProgramStopped {
        host: HostName,
        name: String,
        step: StepId,
        alive: bool,
    },
    /// Something went wrong outside any step (a host unreachable, cleanup trouble).
    Problem {
        host: Option<HostName>,
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

/// Unix seconds now, controller clock.
pub fn now_unix() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

#[cfg(test)]
mod tests {
    use super::*;

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
