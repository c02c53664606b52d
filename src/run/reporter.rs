//! Draws a run's events on the terminal, nextest style: a line per step,
//! ✔/✘ per expectation and action, a summary with the failures repeated at
//! the end (`-q`: failures, warnings and the summary only; colours as
//! [`crate::style`] decides). On a terminal each host also gets a live
//! spinner (indicatif) showing what it is doing; off a terminal, plain
//! lines only. Writing never fails a run: once stdout is gone (`| head -1`,
//! a hung-up terminal) lines are dropped and the run goes on to its reports.

use std::collections::BTreeMap;
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::event::{Event, Outcome};
use crate::style;

pub struct Terminal {
    /// `[bench2] ` when several benches run at once, else empty.
    prefix: String,
    mp: Option<MultiProgress>,
    bars: BTreeMap<String, ProgressBar>,
    failures: Vec<String>,
    pub checks_passed: usize,
    pub checks_failed: usize,
}

fn short(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        format!("{}…", s.chars().take(max).collect::<String>())
    }
}

impl Terminal {
    /// `live`: draw per-host spinners (stderr is a terminal).
    /// `prefix` starts every line (the bench, when several run at once).
    pub fn new(hosts: &[String], live: bool, prefix: &str) -> Terminal {
        let mut t = Terminal {
            prefix: prefix.to_string(),
            mp: None,
            bars: BTreeMap::new(),
            failures: Vec::new(),
            checks_passed: 0,
            checks_failed: 0,
        };
        if live {
            let mp = MultiProgress::with_draw_target(ProgressDrawTarget::term_like_with_hz(
                Box::new(Forgiving(console::Term::buffered_stderr())),
                10,
            ));
            let style = ProgressStyle::with_template("  {prefix:>5} {spinner} {wide_msg}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner());
            for h in hosts {
                let bar = mp.add(ProgressBar::new_spinner());
                bar.set_style(style.clone());
                bar.set_prefix(h.clone());
                bar.set_message("connecting");
                bar.enable_steady_tick(Duration::from_millis(100));
                t.bars.insert(h.clone(), bar);
            }
            t.mp = Some(mp);
        }
        t
    }

    /// One line on stdout. Text from hosts and the lab file is in it, so its
    /// control characters are shown, never sent ([`style::inert`]); a closed
    /// stdout drops it.
    fn say(&self, line: String) {
        self.emit(line, false);
    }

    /// A line `-q` keeps: failures, warnings, the summary.
    fn shout(&self, line: String) {
        self.emit(line, true);
    }

    fn emit(&self, line: String, important: bool) {
        if style::quiet() && !important {
            return;
        }
        let line = format!("{}{}", self.prefix, style::inert(&line));
        match &self.mp {
            Some(mp) => mp.suspend(|| crate::util::out_line(&line)),
            None => crate::util::out_line(&line),
        }
    }

    fn bar(&self, host: &str, msg: String) {
        if let Some(b) = self.bars.get(host) {
            b.set_message(crate::util::show_controls(&msg, false).into_owned());
        }
    }

    pub fn event(&mut self, e: &Event) {
        match e {
            Event::RunStarted {
                lab,
                bench,
                steps,
                dir,
                dry_run,
                run_id,
                ..
            } => {
                let n = steps.len();
                let where_ = match (dir, dry_run) {
                    (_, true) => "dry run: nothing is executed".to_string(),
                    (Some(d), false) => format!("run directory {}", d.display()),
                    (None, false) => format!("run {run_id}"),
                };
                self.say(format!(
                    "labctl: lab `{lab}` on bench `{bench}`: {n} step{}; {where_}",
                    if n == 1 { "" } else { "s" }
                ));
            }
            Event::Connected { host, ms } => {
                self.bar(host, "ready".into());
                self.say(format!("{:>9}  {host}  connected ({ms} ms)", ""));
            }
            Event::Cleaned { host, programs } => self.say(format!(
                "{:>9}  {host}  stopped what an earlier run left: {}",
                "",
                programs.join(", ")
            )),
            Event::StepStarted {
                step,
                title,
                needed,
                ..
            } => {
                let needed = if *needed { "  (needed)" } else { "" };
                self.say(format!(
                    "{}  {}  {title}{needed}",
                    style::pad("START", 9, style::bold),
                    style::bold(step)
                ));
            }
            Event::OpStarted { step, host, what } => self.bar(host, format!("{step}  {what}")),
            Event::ActionDone {
                host,
                what,
                ok,
                detail,
                secs,
                step,
            } => {
                if *ok {
                    self.say(format!(
                        "{}  {host}  {what}  [{secs:.2}s] {}",
                        style::pad("✔", 9, style::ok),
                        short(detail, style::fit(50, 80))
                    ));
                } else {
                    let m = format!("step `{step}` on host `{host}`: {what}: {detail}");
                    self.shout(format!("{}  {host}  {m}", style::pad("✘", 9, style::bad)));
                    self.failures.push(m);
                }
            }
            Event::ExpectationPassed {
                host,
                what,
                seen,
                secs,
                ..
            } => {
                self.checks_passed += 1;
                self.say(format!(
                    "{}  {host}  {what}  [{secs:.2}s] {:?}",
                    style::pad("✔", 9, style::ok),
                    short(seen, style::fit(50, 80))
                ));
            }
            Event::ExpectationFailed { host, message, .. } => {
                self.checks_failed += 1;
                self.shout(format!(
                    "{}  {host}  {message}",
                    style::pad("✘", 9, style::bad)
                ));
                self.failures.push(message.clone());
            }
            Event::Skipped {
                step,
                host,
                what,
                cmd,
            } => {
                self.say(format!("{:>9}  {host}  {step}  {what}", "-"));
                if let Some(c) = cmd {
                    self.say(format!("{:>9}  {host}  $ {c}", ""));
                }
            }
            Event::CaptureSaved {
                host,
                name,
                file,
                bytes,
                ..
            } => self.say(format!(
                "{:>9}  {host}  capture `{name}` saved as {file} ({bytes} bytes)",
                "⤓"
            )),
            Event::StepFinished {
                step,
                outcome,
                secs,
            } => {
                let (word, paint): (_, fn(&str) -> String) = match outcome {
                    Outcome::Passed => ("PASS", style::ok),
                    Outcome::Failed => ("FAIL", style::bad),
                    Outcome::Interrupted => ("INTR", style::warn),
                };
                let line = format!("{}  {step}  [{secs:.2}s]", style::pad(word, 9, paint));
                if *outcome == Outcome::Passed {
                    self.say(line);
                } else {
                    self.shout(line);
                }
            }
            Event::ProgramStopped {
                host, name, step, ..
            } => self.say(format!(
                "{:>9}  {host}  stopped `{name}` (started by step {step})",
                "■"
            )),
            Event::Problem { host, message } => {
                let h = host.as_deref().unwrap_or("-");
                self.shout(format!(
                    "{}  {h}  {message}",
                    style::pad("WARN", 9, style::warn)
                ));
            }
            Event::RunFinished {
                outcome,
                steps_passed,
                steps_failed,
                steps_not_run,
                checks_passed,
                checks_failed,
                secs,
                dir,
                ..
            } => {
                for b in self.bars.values() {
                    b.finish_and_clear();
                }
                let word = match outcome {
                    Outcome::Passed => "PASSED",
                    Outcome::Failed => "FAILED",
                    Outcome::Interrupted => "INTERRUPTED",
                };
                let not_run = if *steps_not_run > 0 {
                    format!(", {steps_not_run} not run")
                } else {
                    String::new()
                };
                self.shout("────────────".to_string());
                self.shout(format!(
                    "{}  [{secs:.2}s] {word}: steps {steps_passed} passed, {steps_failed} failed{not_run}; expectations {checks_passed} ✔, {checks_failed} ✘",
                    style::pad("SUMMARY", 9, style::bold)
                ));
                for f in &self.failures {
                    self.shout(format!("{}  {f}", style::pad("✘", 9, style::bad)));
                }
                if let Some(d) = dir {
                    self.shout(format!("run directory: {}", d.display()));
                }
            }
            Event::Output { .. } | Event::Sent { .. } | Event::ProgramStarted { .. } => {}
        }
    }
}

/// stderr for the spinners, with every write error dropped: indicatif
/// unwraps some of them, and a hung-up terminal (EIO) would then abort
/// labctl before it stopped the hosts' programs and wrote the reports.
#[derive(Debug)]
struct Forgiving(console::Term);

impl indicatif::TermLike for Forgiving {
    fn width(&self) -> u16 {
        self.0.size().1
    }
    fn height(&self) -> u16 {
        self.0.size().0
    }
    fn move_cursor_up(&self, n: usize) -> std::io::Result<()> {
        let _ = self.0.move_cursor_up(n);
        Ok(())
    }
    fn move_cursor_down(&self, n: usize) -> std::io::Result<()> {
        let _ = self.0.move_cursor_down(n);
        Ok(())
    }
    fn move_cursor_right(&self, n: usize) -> std::io::Result<()> {
        let _ = self.0.move_cursor_right(n);
        Ok(())
    }
    fn move_cursor_left(&self, n: usize) -> std::io::Result<()> {
        let _ = self.0.move_cursor_left(n);
        Ok(())
    }
    fn write_line(&self, s: &str) -> std::io::Result<()> {
        let _ = self.0.write_line(s);
        Ok(())
    }
    fn write_str(&self, s: &str) -> std::io::Result<()> {
        let _ = self.0.write_str(s);
        Ok(())
    }
    fn clear_line(&self) -> std::io::Result<()> {
        let _ = self.0.clear_line();
        Ok(())
    }
    fn flush(&self) -> std::io::Result<()> {
        let _ = self.0.flush();
        Ok(())
    }
}
