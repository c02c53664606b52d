//! The room on the terminal: on a terminal, one line per bench redrawn in
//! place (its current step, how many passed, its first failure), each
//! failure printed in full above the lines as it happens; off a terminal,
//! one line per bench per finished step and every failure, no spinners.
//! Either way the room's summary closes it: a table of the benches and
//! `room: N of M benches passed`. (`-v` keeps each bench's own log
//! instead, [`crate::run::reporter`], and still ends with this summary.)

use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressStyle};

use super::{BenchView, Change, Room};
use crate::record::Outcome;
use crate::style;

/// Where the room's lines go and how.
pub(crate) struct RoomTerm {
    /// One line per bench, redrawn in place (stderr is a terminal).
    bars: Option<(MultiProgress, Vec<ProgressBar>)>,
    /// A line per finished step (the lines go to a file or a pipe).
    step_lines: bool,
    /// `--json`: the human lines go to stderr.
    to_stderr: bool,
    /// Widest bench name, for the prefixes.
    name_width: usize,
}

impl RoomTerm {
    /// `live`: draw a line per bench on stderr; `step_lines`: print a line
    /// per finished step (else failures and warnings only).
    pub(crate) fn new(room: &Room, live: bool, step_lines: bool, to_stderr: bool) -> RoomTerm {
        let name_width = room
            .benches
            .iter()
            .map(|b| b.name.chars().count())
            .max()
            .unwrap_or(5);
        let bars = live.then(|| {
            let mp = MultiProgress::with_draw_target(crate::run::reporter::guarded_stderr(10));
            let style = ProgressStyle::with_template("{prefix} {wide_msg}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner());
            let bars = room
                .benches
                .iter()
                .map(|b| {
                    let bar = mp.add(ProgressBar::new_spinner());
                    bar.set_style(style.clone());
                    bar.set_prefix(format!("{:<name_width$}", b.name));
                    bar.set_message("waiting");
                    bar
                })
                .collect();
            (mp, bars)
        });
        RoomTerm {
            bars,
            step_lines,
            to_stderr,
            name_width,
        }
    }

    fn emit(&self, line: &str, important: bool) {
        if style::quiet() && !important {
            return;
        }
        let line = style::inert(line);
        let print = || {
            if self.to_stderr {
                crate::util::err_line(&line);
            } else {
                crate::util::out_line(&line);
            }
        };
        match &self.bars {
            Some((mp, _)) => mp.suspend(print),
            None => print(),
        }
    }

    /// Bench `i` changed as `change` says.
    pub(crate) fn update(&self, room: &Room, i: usize, change: &Change) {
        let b = &room.benches[i];
        let tag = format!("[{}]", b.name);
        match change {
            Change::Failure(f) => {
                self.emit(
                    &format!("{tag} {} {}", style::bad("✘"), one_line(&f.message)),
                    true,
                );
            }
            Change::Problem(p) => {
                self.emit(
                    &format!("{tag} {} {}", style::warn("WARN"), one_line(&p.message)),
                    true,
                );
            }
            Change::StepFinished {
                step,
                outcome,
                secs,
            } if self.step_lines => {
                let word = match outcome {
                    Outcome::Passed => style::ok("PASS"),
                    Outcome::Failed => style::bad("FAIL"),
                    Outcome::Interrupted => style::warn("INTR"),
                };
                self.emit(
                    &format!(
                        "{tag} {word} {step}  ({} of {})  [{secs:.2}s]",
                        b.passed + b.failed,
                        b.cells.len()
                    ),
                    *outcome != Outcome::Passed,
                );
            }
            Change::Finished if self.step_lines => {
                self.emit(
                    &format!("{tag} {}", finished_words(b)),
                    b.outcome != "passed",
                );
            }
            _ => {}
        }
        if let Some((_, bars)) = &self.bars {
            // A finished bench's line stays a bar like the others until the
            // room ends, so that `redraw` can always draw them all.
            bars[i].set_message(crate::util::show_controls(&line(room, b), false).into_owned());
        }
    }

    /// Draws the lines as they are now. indicatif draws at most 10 times a
    /// second and drops a change that comes sooner (it draws again only on
    /// the next change): the room's thread calls this once its changes
    /// settle, or a bench's line could show a step long over.
    pub(crate) fn redraw(&self) {
        if let Some((_, bars)) = &self.bars {
            if let Some(b) = bars.first() {
                b.tick();
            }
        }
    }

    /// Whether there are lines to draw.
    pub(crate) fn live(&self) -> bool {
        self.bars.is_some()
    }

    /// The room is over: the lines in place make way for the summary.
    pub(crate) fn finish(&self) {
        if let Some((mp, bars)) = &self.bars {
            for b in bars {
                b.finish_and_clear();
            }
            let _ = mp.clear();
        }
    }

    /// Prints the room's summary ([`summary`]).
    pub(crate) fn summary(&self, room: &Room, index: Option<&std::path::Path>) {
        for l in summary(room, index, self.name_width).lines() {
            self.emit(l, true);
        }
    }
}

/// A bench's line in the view: `3/17 ✔  ▸ I.4 Ping each other`, then its first failure.
fn line(room: &Room, b: &BenchView) -> String {
    let steps = room.steps.len();
    let mut s = if b.finished() {
        finished_words(b)
    } else {
        let done = b.passed + b.failed;
        match &b.current {
            Some(step) => {
                let title = room
                    .steps
                    .iter()
                    .find(|s| s.id == *step)
                    .map_or("", |s| s.title.as_str());
                format!("{done}/{steps} ✔  ▸ {step} {title}")
            }
            None if b.outcome == "waiting" => "waiting".to_string(),
            None => format!("{done}/{steps} ✔"),
        }
    };
    if !b.finished() {
        if let Some(f) = &b.first_failure {
            s.push_str(&format!("  ✘ {}", f.short()));
        }
    }
    s
}

/// `✔ passed 17/17 [10.21s]`, or `✘ failed 7/17 [8.1s]: I.8 on B: …`.
fn finished_words(b: &BenchView) -> String {
    let mark = match b.outcome.as_str() {
        "passed" => "✔",
        "failed" => "✘",
        _ => "⊘",
    };
    let mut s = format!(
        "{mark} {} {}/{} [{:.2}s]",
        b.outcome,
        b.passed,
        b.cells.len(),
        b.secs.unwrap_or(0.0)
    );
    if let Some(f) = &b.first_failure {
        s.push_str(&format!(": {}", f.short()));
    }
    s
}

fn one_line(s: &str) -> String {
    s.replace('\n', " · ")
}

fn cut(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        format!(
            "{}…",
            s.chars().take(max.saturating_sub(1)).collect::<String>()
        )
    }
}

/// The room's summary: a row per bench (outcome, steps passed and failed,
/// first failure, time, report), then `room: N of M benches passed` and
/// where the room report is. The first failure is cut to the terminal's
/// width (80 columns off a terminal); the whole of it is in the lines
/// above and in the reports.
pub(crate) fn summary(room: &Room, index: Option<&std::path::Path>, name_width: usize) -> String {
    let nw = name_width.max(5);
    let reports: Vec<String> = room
        .benches
        .iter()
        .map(|b| {
            index
                .and_then(|i| i.parent())
                .map(|room_dir| {
                    super::run_dir(room_dir, b)
                        .join("report.html")
                        .display()
                        .to_string()
                })
                .unwrap_or_else(|| format!("{}/report.html", b.run))
        })
        .collect();
    let failures: Vec<String> = room
        .benches
        .iter()
        .map(|b| {
            b.first_failure
                .as_ref()
                .map_or_else(|| "-".to_string(), |f| one_line(&f.short()))
        })
        .collect();
    // What is left of the width for the failure column.
    let fixed = nw + 2 + 13 + 2 + 6 + 2 + 6 + 2 + 9 + 2;
    let fw = style::fit(fixed + 40, 60).clamp(20, 80);
    let fw = failures
        .iter()
        .map(|f| f.chars().count())
        .max()
        .unwrap_or(0)
        .clamp(13, fw);
    let mut out = String::from("────────────\n");
    out.push_str(&format!(
        "{:<nw$}  {:<13}  {:>6}  {:>6}  {:<fw$}  {:>9}  report\n",
        "bench", "outcome", "passed", "failed", "first failure", "time"
    ));
    for (k, b) in room.benches.iter().enumerate() {
        let outcome = match b.outcome.as_str() {
            "passed" => "✔ passed".to_string(),
            "failed" => "✘ failed".to_string(),
            "interrupted" => "⊘ interrupted".to_string(),
            other => format!("· {other}"),
        };
        let outcome_cell = format!("{outcome:<13}");
        let painted = match b.outcome.as_str() {
            "passed" => style::ok(&outcome_cell),
            "failed" => style::bad(&outcome_cell),
            _ => style::warn(&outcome_cell),
        };
        out.push_str(&format!(
            "{:<nw$}  {painted}  {:>6}  {:>6}  {:<fw$}  {:>9}  {}\n",
            b.name,
            b.passed,
            b.failed,
            cut(&failures[k], fw),
            b.secs
                .map_or_else(|| "-".to_string(), |s| format!("{s:.2}s")),
            reports[k],
        ));
    }
    let verdict = room.verdict();
    let verdict = if room.passed() == room.benches.len() {
        style::ok(&verdict)
    } else {
        style::bad(&verdict)
    };
    out.push_str(&verdict);
    out.push('\n');
    if let Some(i) = index {
        out.push_str(&format!("room report: {}\n", i.display()));
    }
    for b in room.benches.iter().filter(|b| b.outcome == "failed") {
        if let Some(step) = b.first_failure.as_ref().and_then(|f| f.step.as_deref()) {
            out.push_str(&format!(
                "replay {}: {}\n",
                b.name,
                crate::run::reporter::replay(step, Some(&b.name))
            ));
        }
    }
    out
}

/// How often the room report is rewritten at most while benches run.
pub(crate) const REPORT_EVERY: Duration = Duration::from_secs(1);

/// How long after the last change the lines are drawn again (more than
/// indicatif's 100 ms between draws).
pub(crate) const REDRAW_AFTER: Duration = Duration::from_millis(150);

#[cfg(test)]
mod tests {
    use super::super::*;
    use super::*;

    #[test]
    fn the_summary_names_each_bench_its_first_failure_and_the_room() {
        let mut room = Room {
            id: "r-room".into(),
            lab: "lab".into(),
            lab_title: None,
            steps: vec![
                RoomStep {
                    id: "S.1".into(),
                    title: "a".into(),
                },
                RoomStep {
                    id: "S.2".into(),
                    title: "b".into(),
                },
            ],
            benches: vec![
                BenchView::new("bench1", "r-bench1", 2),
                BenchView::new("bench2", "r-bench2", 2),
            ],
            started_at: 0.0,
            finished_at: None,
            check: None,
        };
        room.benches[0].outcome = "passed".into();
        room.benches[0].passed = 2;
        room.benches[0].secs = Some(1.5);
        room.benches[1].outcome = "failed".into();
        room.benches[1].passed = 1;
        room.benches[1].failed = 1;
        room.benches[1].first_failure = Some(Failure {
            step: Some("S.2".into()),
            host: Some("B".into()),
            expected: Some("`client` prints /x/".into()),
            seen: "y".into(),
            message: "m".into(),
            words: None,
        });
        let s = summary(
            &room,
            Some(std::path::Path::new("runs/r-room/index.html")),
            6,
        );
        let lines: Vec<&str> = s.lines().collect();
        assert!(lines[1].starts_with("bench   outcome"), "{s}");
        assert!(
            lines[2].contains("✔ passed") && lines[2].contains("runs/r-bench1/report.html"),
            "{s}"
        );
        assert!(
            lines[3].contains("S.2 on B: `client` prints /x/; saw \"y\""),
            "{s}"
        );
        assert!(s.contains("room: 1 of 2 benches passed\n"), "{s}");
        assert!(s.contains("room report: runs/r-room/index.html"), "{s}");
        assert!(
            s.contains("replay bench2: labctl run --bench bench2 --step S.2"),
            "{s}"
        );
    }
}
