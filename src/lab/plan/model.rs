//! The plan's data: steps, actions and ops with the exact command each op
//! sends, and the checks expectations make. Kept apart from how a plan is
//! built so that `plan`, `--dry-run`, `run` and `plan.json` read one shape.

use std::time::Duration;

use regex::Regex;
use serde::Serialize;

use crate::error::Error;
use crate::lab::model::Stream;
#[cfg(doc)]
use crate::remote;

/// How long a capture may take to say `listening on`.
pub const CAPTURE_READY: Duration = Duration::from_secs(5);
/// Echo requests per ping, and seconds to wait for each reply.
pub const PING_COUNT: u32 = 1;
pub const PING_WAIT_S: u32 = 2;

#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    pub lab: String,
    pub bench: String,
    pub run_id: String,
    /// Hosts the plan touches, in bench order.
    pub hosts: Vec<String>,
    pub steps: Vec<PlanStep>,
}

#[derive(Debug, Clone, Serialize)]
pub struct PlanStep {
    pub id: String,
    pub title: String,
    /// Run only because a selected step needs it.
    pub needed: bool,
    pub actions: Vec<PlanAction>,
}

/// One action of the lab file: its ops run in parallel across hosts, in
/// order on each host. Consecutive captures on different hosts are one
/// action: they start at once.
#[derive(Debug, Clone, Serialize)]
pub struct PlanAction {
    pub keyword: &'static str,
    pub ops: Vec<PlanOp>,
}

#[derive(Debug, Clone, Serialize)]
pub struct PlanOp {
    pub host: String,
    /// What it does, for people: `start \`server\`: tcp_server --port 50000`.
    pub what: String,
    pub op: Op,
}

#[derive(Debug, Clone, Serialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Op {
    /// A plain command that must exit 0 (configure).
    Exec { cmd: String },
    /// A ping that must be answered.
    Ping { target: String, cmd: String },
    /// Put the socket programs on the host.
    Deploy,
    /// `call` uses [`remote::lib`]; prints the group id.
    Start {
        name: String,
        /// `tcp_client` …, or `tcpdump` for a capture.
        program: String,
        capture: bool,
        call: String,
    },
    Send {
        name: String,
        lines: Vec<String>,
        pace: Duration,
        call: String,
    },
    /// Watched on the controller: no command.
    Expect {
        name: String,
        stream: Stream,
        check: PlanCheck,
    },
    Run {
        call: String,
        /// The program set's name for it (`tcp_server`, `pinger`).
        program: String,
        /// The program and its arguments, for people.
        argv: String,
        timeout: Duration,
        exit: i32,
        /// Template values escaped; `pattern` is the same for people.
        regex: Option<Compiled>,
        pattern: Option<String>,
        /// A name for its output files.
        label: String,
    },
    /// Stops the names; captures' pcaps are fetched afterwards.
    Stop {
        names: Vec<String>,
        captures: Vec<String>,
        call: String,
    },
}

/// An expectation's regex, compiled once when the plan is made (the
/// worker matches every line with it); `plan.json` shows its source.
#[derive(Debug, Clone)]
pub struct Compiled(Regex);

impl Compiled {
    /// Compiles `source` (validation compiled the lab's patterns already:
    /// an error here is a template value that broke one).
    pub fn new(source: &str) -> Result<Compiled, Error> {
        Regex::new(source)
            .map(Compiled)
            .map_err(|e| Error::Usage(format!("pattern `/{source}/` does not compile: {e}")))
    }

    pub fn regex(&self) -> &Regex {
        &self.0
    }

    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }
}

/// Compared by source, as people write it.
impl PartialEq<&str> for &Compiled {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl Serialize for Compiled {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.0.as_str())
    }
}

#[derive(Debug, Clone, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum PlanCheck {
    /// `regex` has template values escaped; `pattern` is the same for people.
    Match {
        regex: Compiled,
        pattern: String,
        within: Duration,
    },
    Absent {
        regex: Compiled,
        pattern: String,
        window: Duration,
    },
    Exit {
        code: i32,
        within: Duration,
    },
}

impl Op {
    /// The command line shown and sent (with the `lc_*` functions for calls); `None` when
    /// the controller does the work (deploy, expect).
    pub fn shown(&self) -> Option<&str> {
        match self {
            Op::Exec { cmd } | Op::Ping { cmd, .. } => Some(cmd),
            Op::Start { call, .. }
            | Op::Send { call, .. }
            | Op::Run { call, .. }
            | Op::Stop { call, .. } => Some(call),
            Op::Deploy | Op::Expect { .. } => None,
        }
    }

    /// True when the command runs with [`remote::lib`] before it.
    pub fn uses_lib(&self) -> bool {
        matches!(
            self,
            Op::Start { .. } | Op::Send { .. } | Op::Run { .. } | Op::Stop { .. }
        )
    }

    /// Time the lab itself declares for this op (expectation windows, pacing).
    pub fn declared_wait(&self) -> Duration {
        match self {
            Op::Send { lines, pace, .. } => *pace * (lines.len().saturating_sub(1) as u32),
            Op::Expect {
                check: PlanCheck::Absent { window, .. },
                ..
            } => *window,
            _ => Duration::ZERO,
        }
    }

    /// True when the op is an expectation (✔/✘ in the report), not just an action.
    pub fn is_expectation(&self) -> bool {
        matches!(self, Op::Ping { .. } | Op::Expect { .. } | Op::Run { .. })
    }
}
