//! The check's data: the checks and their order, each check's result, a host's, a bench's and a room's report, and what `--fix` did; serialized as `--json` prints them.

use serde::Serialize;

/// The checks, in display order.
pub(crate) const CHECKS: [&str; 15] = [
    "ssh",
    "host key",
    "arch",
    "interface",
    "link",
    "address",
    "manager",
    "tools",
    "sudo",
    "rights",
    "workdir",
    "lab port",
    "programs",
    "ping",
    "clock",
];

/// Free space the workdir needs for a run's captures and outputs, in MiB.
pub(crate) const MIN_FREE_MB: u64 = 50;

/// Tools the lab needs on every host.
pub(crate) const TOOLS: [&str; 4] = ["ip", "ss", "ping", "tcpdump"];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Pass,
    Fail,
    /// Not checked (e.g. the host could not be reached).
    Skip,
    /// Passed, with a warning: something to fix that no run depends on (a
    /// clock off by more than a second).
    Warn,
}

impl Status {
    /// Passed, with or without a warning.
    pub fn ok(self) -> bool {
        matches!(self, Status::Pass | Status::Warn)
    }
}

/// One check on one host.
#[derive(Debug, Clone, Serialize)]
pub struct CheckResult {
    pub check: &'static str,
    pub status: Status,
    pub detail: String,
    pub hint: Option<String>,
}

/// Every check of one host.
#[derive(Debug, Clone, Serialize)]
pub struct HostReport {
    pub host: String,
    pub label: String,
    pub ssh: String,
    pub ok: bool,
    pub connect_ms: Option<u64>,
    pub checks: Vec<CheckResult>,
}

impl HostReport {
    pub fn failures(&self) -> usize {
        self.checks
            .iter()
            .filter(|c| c.status == Status::Fail)
            .count()
    }
    pub fn get(&self, check: &str) -> Option<&CheckResult> {
        self.checks.iter().find(|c| c.check == check)
    }
    pub(super) fn failed(&self, check: &str) -> bool {
        self.get(check).is_some_and(|c| c.status == Status::Fail)
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct BenchReport {
    pub name: String,
    pub ok: bool,
    pub hosts: Vec<HostReport>,
}

/// The result of one pass over the selected benches.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub ok: bool,
    pub benches: Vec<BenchReport>,
}

impl Report {
    pub(super) fn hosts(&self) -> impl Iterator<Item = &HostReport> {
        self.benches.iter().flat_map(|b| b.hosts.iter())
    }
}

/// What `--fix` did on one host.
#[derive(Debug, Clone, Default, Serialize)]
pub struct FixActions {
    pub host: String,
    pub done: Vec<String>,
    pub failed: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct FixReport {
    pub actions: Vec<FixActions>,
    pub before: Report,
    /// Another labctl holds the bench: nothing was fixed (exit 5); who, per host.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub busy: Option<String>,
}

/// The whole outcome of `labctl check`, as `--json` prints it.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct CheckOutcome {
    pub ok: bool,
    pub hosts_file: String,
    pub elapsed_ms: u64,
    pub benches: Vec<BenchReport>,
    pub fix: Option<FixReport>,
}
