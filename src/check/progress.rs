//! Progress on stderr while hosts are checked: a line per host on a terminal, plain lines otherwise.

use std::io::IsTerminal;
use std::time::Duration;

use crate::config::hosts::Host;

// ---------------------------------------------------------------------------
// Progress on stderr: a line per host on a terminal, plain lines otherwise.

pub(crate) struct Progress {
    bars: Option<(indicatif::MultiProgress, Vec<indicatif::ProgressBar>)>,
    labels: Vec<String>,
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
                    b.enable_steady_tick(Duration::from_millis(100));
                    b
                })
                .collect();
            (mp, bars)
        });
        Progress { bars, labels }
    }

    pub(crate) fn set(&self, i: usize, msg: &str) {
        if let Some((_, bars)) = &self.bars {
            bars[i].set_message(msg.to_string());
        }
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
