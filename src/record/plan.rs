//! `plan.json` read back: the plan a run recorded, as far as a reader of
//! the run directory needs it (each step's actions and each operation's
//! host and words). The run writes the whole plan ([`crate::lab::plan`]
//! serializes it); what is not here is skipped unread, and a field missing
//! from an older run directory reads as empty.

use std::path::Path;

use serde::Deserialize;

use super::dir::PLAN;

/// The plan a run recorded.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct PlanRecord {
    #[serde(default)]
    pub steps: Vec<PlanRecordStep>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct PlanRecordStep {
    #[serde(default)]
    pub id: String,
    #[serde(default)]
    pub actions: Vec<PlanRecordAction>,
}

/// One action: its operations in the plan's order (the index an
/// operation's events name, [`super::OpRef`]).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct PlanRecordAction {
    #[serde(default)]
    pub keyword: String,
    #[serde(default)]
    pub ops: Vec<PlanRecordOp>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct PlanRecordOp {
    #[serde(default)]
    pub host: String,
    /// What it does, for people.
    #[serde(default)]
    pub what: String,
    /// What it is, as far as a reader needs it.
    #[serde(default)]
    pub op: PlanRecordFacts,
}

/// An operation's facts a reader uses: a capture's name, interface and
/// filter (recorded since operations are typed; `None` in older run
/// directories, whose captures say them only in `what`).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct PlanRecordFacts {
    /// True for a capture's start.
    #[serde(default)]
    pub capture: bool,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub interface: Option<String>,
    #[serde(default)]
    pub filter: Option<String>,
}

impl PlanRecord {
    /// The plan in `run_dir`; empty when it is missing or unreadable.
    pub fn read(run_dir: &Path) -> PlanRecord {
        std::fs::read(run_dir.join(PLAN))
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default()
    }

    /// Every operation, in the plan's order.
    pub fn ops(&self) -> impl Iterator<Item = &PlanRecordOp> {
        self.steps
            .iter()
            .flat_map(|s| &s.actions)
            .flat_map(|a| &a.ops)
    }
}
