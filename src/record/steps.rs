//! `steps.jsonl`: one line per finished step of a run, with its actions and
//! expectations, as the run directory's writer ([`super::dir::RunDir`])
//! folds them from the events. Written and read with these types only.

use serde::{Deserialize, Serialize};

use super::{HostName, Outcome, StepId};

/// One expectation as recorded in `steps.jsonl`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CheckRecord {
    pub host: HostName,
    pub program: Option<String>,
    pub what: String,
    pub ok: bool,
    pub seen: String,
    pub message: Option<String>,
}

/// One action as recorded in `steps.jsonl`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ActionRecord {
    pub host: HostName,
    pub what: String,
    pub ok: bool,
    pub detail: String,
}

/// One finished step as recorded in `steps.jsonl`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StepRecord {
    pub id: StepId,
    pub title: String,
    pub needed: bool,
    pub outcome: Outcome,
    /// Unix seconds (controller clock).
    pub started: f64,
    pub secs: f64,
    pub actions: Vec<ActionRecord>,
    pub checks: Vec<CheckRecord>,
}
