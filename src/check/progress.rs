//! Progress on stderr while hosts are checked: a line per host on a terminal, plain lines otherwise; a host gone silent is said (`B: no answer for 4 s`).
//!
//! A room (`check --all`) is drawn as `run --all` draws it: a line per
//! bench (hosts done, checks passed, its first failure), each failure
//! printed in full above the lines as its host is done; off a terminal a
//! line per bench once all its hosts are done, and every failure.

use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::{Duration, Instant};

use std::sync::Mutex;

use super::model::{HostReport, Status};
use crate::config::hosts::Host;
use crate::ssh::{Session, Slowness};

/// How often a host's silence is looked at while it works.
const WATCH_EVERY: Duration = Duration::from_millis(250);

// ---------------------------------------------------------------------------
// Progress on stderr: a line per host on a terminal, plain lines otherwise.

pub(crate) struct Progress {
    bars: Option<(indicatif::MultiProgress, Vec<indicatif::ProgressBar>)>,
    labels: Vec<String>,
    /// Per host: its connection is made (or failed), so it is no longer waited for.
    connected: Vec<AtomicBool>,
    /// A room: the lines are the benches'.
    room: Option<RoomProgress>,
}

/// `check --all`: which bench each host is on, and each bench so far.
struct RoomProgress {
    bench_of: Vec<usize>,
    benches: Mutex<Vec<BenchProgress>>,
}

/// One bench of a room being checked.
struct BenchProgress {
    name: String,
    hosts: usize,
    done: usize,
    passed: usize,
    failed: usize,
    /// `B link: eth0 is down`.
    first: Option<String>,
    /// A host gone silent: `B: no answer for 4 s`.
    note: Option<String>,
}

impl BenchProgress {
    fn line(&self) -> String {
        let mut s = if self.done == self.hosts {
            if self.failed == 0 {
                format!("✔ ready: all {} checks passed", self.passed)
            } else {
                format!(
                    "✘ not ready: {} of {} checks failed",
                    self.failed,
                    self.passed + self.failed
                )
            }
        } else {
            format!(
                "checking: {}/{} hosts done, {} ✔",
                self.done, self.hosts, self.passed
            )
        };
        if let Some(f) = &self.first {
            s.push_str(&format!("  ✘ {f}"));
        }
        if self.done < self.hosts {
            if let Some(n) = &self.note {
                s.push_str(&format!("  ({n})"));
            }
        }
        s
    }
}

impl Progress {
    pub(crate) fn new(hosts: &[&Host]) -> Progress {
        let labels: Vec<String> = hosts.iter().map(|h| h.label()).collect();
        let width = labels.iter().map(|l| l.len()).max().unwrap_or(1);
        let bars = std::io::stderr().is_terminal().then(|| {
            // Behind run's guard: a hung-up terminal cannot end `check` or `deploy`.
            let mp = indicatif::MultiProgress::with_draw_target(
                crate::run::reporter::guarded_stderr(20),
            );
            let style = indicatif::ProgressStyle::with_template("{spinner} {prefix} {msg}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner());
            let bars = labels
                .iter()
                .map(|l| {
                    let b = mp.add(indicatif::ProgressBar::new_spinner());
                    b.set_style(style.clone());
                    b.set_prefix(format!("{l:width$}"));
                    b.set_message("connecting");
                    b.enable_steady_tick(Duration::from_millis(100));
                    b
                })
                .collect();
            (mp, bars)
        });
        let connected = labels.iter().map(|_| AtomicBool::new(false)).collect();
        Progress {
            bars,
            labels,
            connected,
            room: None,
        }
    }

    /// A room's progress (`check --all`): a line per bench of `benches`
    /// (the hosts' benches, in the hosts' order).
    pub(crate) fn for_room(hosts: &[&Host]) -> Progress {
        let labels: Vec<String> = hosts.iter().map(|h| h.label()).collect();
        let mut names: Vec<String> = Vec::new();
        let mut bench_of = Vec::new();
        for h in hosts {
            if names.last() != Some(&h.bench) {
                names.push(h.bench.clone());
            }
            bench_of.push(names.len() - 1);
        }
        let width = names.iter().map(|n| n.chars().count()).max().unwrap_or(5);
        let benches: Vec<BenchProgress> = names
            .iter()
            .enumerate()
            .map(|(b, n)| BenchProgress {
                name: n.clone(),
                hosts: bench_of.iter().filter(|x| **x == b).count(),
                done: 0,
                passed: 0,
                failed: 0,
                first: None,
                note: None,
            })
            .collect();
        // No spinners: a line changes when its bench does (90 ticking hosts cost CPU).
        let bars = std::io::stderr().is_terminal().then(|| {
            let mp = indicatif::MultiProgress::with_draw_target(
                crate::run::reporter::guarded_stderr(10),
            );
            let style = indicatif::ProgressStyle::with_template("{prefix} {wide_msg}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner());
            let bars = names
                .iter()
                .map(|n| {
                    let b = mp.add(indicatif::ProgressBar::new_spinner());
                    b.set_style(style.clone());
                    b.set_prefix(format!("{n:width$}"));
                    b.set_message("connecting");
                    b
                })
                .collect();
            (mp, bars)
        });
        let connected = labels.iter().map(|_| AtomicBool::new(false)).collect();
        Progress {
            bars,
            labels,
            connected,
            room: Some(RoomProgress {
                bench_of,
                benches: Mutex::new(benches),
            }),
        }
    }

    /// Host `i` is checked: its line (or its bench's) says how it went;
    /// in a room, each failure is also printed in full as it comes.
    pub(crate) fn host_done(&self, i: usize, r: &HostReport) {
        let Some(room) = &self.room else {
            let msg = match r.failures() {
                0 => "✔ ready".to_string(),
                n => format!("✘ {n} failed"),
            };
            return self.done(i, &msg);
        };
        let b = room.bench_of[i];
        let (line, finished) = {
            let mut benches = room.benches.lock().unwrap_or_else(|p| p.into_inner());
            let bench = &mut benches[b];
            bench.done += 1;
            for c in &r.checks {
                match c.status {
                    Status::Pass | Status::Warn => bench.passed += 1,
                    Status::Fail => {
                        bench.failed += 1;
                        if bench.first.is_none() {
                            bench.first = Some(format!("{} {}: {}", r.host, c.check, c.detail));
                        }
                    }
                    Status::Skip => {}
                }
            }
            (
                format!("{}: {}", bench.name, bench.line()),
                bench.done == bench.hosts,
            )
        };
        let failures: Vec<String> = r
            .checks
            .iter()
            .filter(|c| c.status == Status::Fail)
            .map(|c| format!("✘ {} {}: {}", r.label, c.check, c.detail))
            .collect();
        match &self.bars {
            Some((mp, bars)) => {
                mp.suspend(|| {
                    for f in &failures {
                        crate::util::err_line(&crate::style::inert(f));
                    }
                });
                let msg = line.split_once(": ").map_or("", |(_, m)| m).to_string();
                let msg = crate::util::show_controls(&msg, false).into_owned();
                if finished {
                    bars[b].finish_with_message(msg);
                } else {
                    bars[b].set_message(msg);
                }
            }
            None => {
                for f in &failures {
                    crate::util::err_line(&crate::util::show_controls(f, false));
                }
                if finished {
                    crate::util::err_line(&crate::util::show_controls(&line, false));
                }
            }
        }
    }

    pub(crate) fn set(&self, i: usize, msg: &str) {
        if self.room.is_some() {
            return;
        }
        if let Some((_, bars)) = &self.bars {
            bars[i].set_message(msg.to_string());
        }
    }

    /// Host `i`'s connection is made or failed: it is no longer waited for.
    pub(crate) fn connected(&self, i: usize) {
        self.connected[i].store(true, Ordering::SeqCst);
    }

    /// Says which hosts have not answered their connection yet (`B: no
    /// answer for 4 s`) until `stop` is dropped: a silent host (a pulled
    /// cable, a frozen Pi) never completes the SSH handshake.
    pub(crate) fn watch_connecting(&self, stop: mpsc::Receiver<()>) {
        let start = Instant::now();
        let mut slowness: Vec<Slowness> = self.labels.iter().map(|_| Slowness::default()).collect();
        while let Err(RecvTimeoutError::Timeout) = stop.recv_timeout(WATCH_EVERY) {
            for (i, slow) in slowness.iter_mut().enumerate() {
                if self.connected[i].load(Ordering::SeqCst) {
                    continue;
                }
                if let Some(s) = slow.tick(start.elapsed()) {
                    self.slow(i, "connecting", s);
                }
            }
        }
    }

    /// Host `i` has not answered for `secs` (`B: no answer for 4 s`), while `doing`.
    pub(crate) fn slow(&self, i: usize, doing: &str, secs: u64) {
        if let (Some(room), Some((_, bars))) = (&self.room, &self.bars) {
            let b = room.bench_of[i];
            let mut benches = room.benches.lock().unwrap_or_else(|p| p.into_inner());
            let host = self.labels[i].rsplit('/').next().unwrap_or("");
            benches[b].note = Some(format!("{host} {doing}: no answer for {secs} s"));
            bars[b].set_message(benches[b].line());
            return;
        }
        match &self.bars {
            Some((_, bars)) => bars[i].set_message(format!("{doing}: no answer for {secs} s")),
            None => crate::util::err_line(&format!("{}: no answer for {secs} s", self.labels[i])),
        }
    }

    /// Runs `work` on host `i`'s `session` while saying, as `doing`, when
    /// the host goes silent ([`Slowness`]); what `work` returns.
    pub(crate) fn watching<T: Send>(
        &self,
        i: usize,
        doing: &str,
        session: &Session,
        work: impl FnOnce() -> T + Send,
    ) -> T {
        let (done, ended) = mpsc::channel::<()>();
        std::thread::scope(|scope| {
            scope.spawn(move || {
                let mut slowness = Slowness::default();
                while let Err(RecvTimeoutError::Timeout) = ended.recv_timeout(WATCH_EVERY) {
                    if let Some(s) = slowness.tick(session.silent_for()) {
                        self.slow(i, doing, s);
                    }
                }
            });
            let out = work();
            drop(done);
            out
        })
    }

    pub(crate) fn done(&self, i: usize, msg: &str) {
        match &self.bars {
            Some((_, bars)) => bars[i].finish_with_message(msg.to_string()),
            None => crate::util::err_line(&format!("{}: {msg}", self.labels[i])),
        }
    }

    pub(crate) fn finish(&self) {
        if let Some((mp, bars)) = &self.bars {
            for b in bars {
                b.finish_and_clear();
            }
            let _ = mp.clear();
        }
    }
}
