//! `check --json`: what a check reports, as JSON lines on stdout, in the
//! style of a run's events (`record::Event`: an `event` tag, snake_case).
//! The last line, `check_finished`, carries the whole outcome with the same
//! fields the single object of earlier versions had.

use serde::Serialize;

use super::model::{CheckOutcome, FixActions, HostReport};

/// One bench as announced by `check_started`.
#[derive(Debug, Clone, Serialize)]
pub struct CheckBench {
    pub name: String,
    /// The hosts' labels (`A`, `bench2/A`).
    pub hosts: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum CheckEvent<'a> {
    CheckStarted {
        hosts_file: &'a str,
        benches: Vec<CheckBench>,
        fix: bool,
        /// Unix seconds (controller clock).
        at: f64,
    },
    /// One host's checks; with `--fix`, once before (`after_fix: false`) and once after.
    HostChecked {
        bench: &'a str,
        after_fix: bool,
        #[serde(flatten)]
        report: &'a HostReport,
    },
    /// What `--fix` did on one host.
    HostFixed {
        bench: &'a str,
        #[serde(flatten)]
        actions: &'a FixActions,
    },
    CheckFinished(&'a CheckOutcome),
}

/// Every line of a finished check after `check_started`, in bench and host order.
pub fn lines(outcome: &CheckOutcome) -> Vec<CheckEvent<'_>> {
    let mut v = Vec::new();
    if let Some(fix) = &outcome.fix {
        for b in &fix.before.benches {
            for h in &b.hosts {
                v.push(CheckEvent::HostChecked {
                    bench: &b.name,
                    after_fix: false,
                    report: h,
                });
            }
        }
        for b in &outcome.benches {
            for h in &b.hosts {
                if let Some(a) = fix.actions.iter().find(|a| a.host == h.label) {
                    v.push(CheckEvent::HostFixed {
                        bench: &b.name,
                        actions: a,
                    });
                }
            }
        }
    }
    for b in &outcome.benches {
        for h in &b.hosts {
            v.push(CheckEvent::HostChecked {
                bench: &b.name,
                after_fix: outcome.fix.is_some(),
                report: h,
            });
        }
    }
    v.push(CheckEvent::CheckFinished(outcome));
    v
}
