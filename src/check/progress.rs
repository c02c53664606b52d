//! Progress on stderr while hosts are checked: a line per host on a terminal, plain lines otherwise; a host gone silent is said (`B: no answer for 4 s`).

use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::{Duration, Instant};

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
}

impl Progress {
    pub(crate) fn new(hosts: &[&Host]) -> Progress {
        let labels: Vec<String> = hosts.iter().map(|h| h.label()).collect();
        let width = labels.iter().map(|l| l.len()).max().unwrap_or(1);
        let bars = std::io::stderr().is_terminal().then(|| {
            let mp =
                indicatif::MultiProgress::with_draw_target(indicatif::ProgressDrawTarget::stderr());
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
        }
    }

    pub(crate) fn set(&self, i: usize, msg: &str) {
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
        match &self.bars {
            Some((_, bars)) => bars[i].set_message(format!("{doing}: no answer for {secs} s")),
            None => eprintln!("{}: no answer for {secs} s", self.labels[i]),
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
            None => eprintln!("{}: {msg}", self.labels[i]),
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
