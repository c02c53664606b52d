//! Draws a run's events on the terminal, nextest style: a line per step,
//! ✔/✘ per expectation and action, a summary at the end with each failure
//! once more, the path of report.html and the command that replays the
//! failed step (`-q`: failures, warnings and the summary only; colours as
//! [`crate::style`] decides). On a terminal each host also gets a live
//! spinner (indicatif) showing what it is doing now — idle between
//! operations, with the programs it runs in the background; off a
//! terminal, plain lines only. Steps that did not run are "skipped", the
//! word of the reports. Writing never fails a run: once stdout is gone
//! (`| head -1`, a hung-up terminal) lines are dropped and the run goes on
//! to its reports.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::event::{Event, Outcome};
use crate::style;

pub(crate) struct Terminal {
    /// `[bench2] ` when several benches run at once, else empty.
    prefix: String,
    mp: Option<MultiProgress>,
    bars: BTreeMap<String, ProgressBar>,
    failures: Vec<String>,
    /// Steps that failed, for the replay command.
    failed_steps: Vec<String>,
    /// Programs each host runs in the background, for its idle spinner.
    running: BTreeMap<String, Vec<String>>,
    /// `--dry-run`: nothing runs; the summary says so.
    dry_run: bool,
    /// The bench's name, from the run's start.
    bench: String,
    /// Operations a dry run showed.
    shown: usize,
    /// `run --json`: the human lines go to stderr (stdout carries the JSON).
    pub to_stderr: bool,
    /// The hosts' clocks, as their samples come: a clock off, or one that
    /// jumps, is said once.
    clocks: crate::record::RunClock,
    clocks_said: std::collections::BTreeSet<String>,
}

fn short(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        format!("{}…", s.chars().take(max).collect::<String>())
    }
}

/// The command that runs `step` again, alone (on `bench` of a room when
/// several ran at once).
pub(crate) fn replay(step: &str, bench: Option<&str>) -> String {
    match bench {
        Some(b) => format!(
            "labctl run --bench {} --step {}",
            crate::util::shell_quote(b),
            crate::util::shell_quote(step)
        ),
        None => format!("labctl run --step {}", crate::util::shell_quote(step)),
    }
}

impl Terminal {
    /// `live`: draw per-host spinners (stderr is a terminal).
    /// `prefix` starts every line (the bench, when several run at once).
    pub(crate) fn new(hosts: &[String], live: bool, prefix: &str) -> Terminal {
        let mut t = Terminal {
            prefix: prefix.to_string(),
            mp: None,
            bars: BTreeMap::new(),
            failures: Vec::new(),
            failed_steps: Vec::new(),
            running: BTreeMap::new(),
            dry_run: false,
            bench: String::new(),
            shown: 0,
            to_stderr: false,
            clocks: crate::record::RunClock::default(),
            clocks_said: std::collections::BTreeSet::new(),
        };
        if live {
            let mp = MultiProgress::with_draw_target(guarded_stderr(10));
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
        let print = || {
            if self.to_stderr {
                crate::util::err_line(&line);
            } else {
                crate::util::out_line(&line);
            }
        };
        match &self.mp {
            Some(mp) => mp.suspend(print),
            None => print(),
        }
    }

    fn bar(&self, host: &str, msg: String) {
        if let Some(b) = self.bars.get(host) {
            b.set_message(crate::util::show_controls(&msg, false).into_owned());
        }
    }

    /// The host's spinner between operations: idle, and what it runs in
    /// the background.
    fn idle(&self, host: &str) {
        let msg = match self.running.get(host) {
            Some(names) if !names.is_empty() => {
                let names: Vec<String> = names.iter().map(|n| format!("`{n}`")).collect();
                format!("idle · running {}", names.join(", "))
            }
            _ => "idle".to_string(),
        };
        self.bar(host, msg);
    }

    pub(crate) fn event(&mut self, e: &Event) {
        match e {
            Event::RunStarted {
                lab,
                run,
                steps,
                dir,
                dry_run,
                run_id,
                ..
            } => {
                self.dry_run = *dry_run;
                self.bench = run.bench.to_string();
                let n = steps.len();
                let where_ = match (dir, dry_run) {
                    (_, true) => "dry run: nothing is executed".to_string(),
                    (Some(d), false) => format!("run directory {}", d.display()),
                    (None, false) => format!("run {run_id}"),
                };
                self.say(format!(
                    "labctl: lab `{lab}` on bench `{}`: {n} step{}; {where_}",
                    run.bench,
                    if n == 1 { "" } else { "s" }
                ));
            }
            Event::Connected { host, ms, .. } => {
                self.idle(host);
                self.say(format!("{:>9}  {host}  connected ({ms} ms)", ""));
            }
            Event::Cleaned { host, programs, .. } => self.say(format!(
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
            Event::OpStarted {
                step, host, what, ..
            } => self.bar(host, format!("{step}  {what}")),
            Event::ActionDone {
                host,
                what,
                ok,
                detail,
                secs,
                step,
                ..
            } => {
                self.idle(host);
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
                self.idle(host);
                self.say(format!(
                    "{}  {host}  {what}  [{secs:.2}s] {:?}",
                    style::pad("✔", 9, style::ok),
                    short(seen, style::fit(50, 80))
                ));
            }
            Event::ExpectationFailed { host, message, .. } => {
                self.idle(host);
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
                ..
            } => {
                self.shown += 1;
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
                ..
            } => {
                let (word, paint): (_, fn(&str) -> String) = match outcome {
                    Outcome::Passed => ("PASS", style::ok),
                    Outcome::Failed => ("FAIL", style::bad),
                    Outcome::Interrupted => ("INTR", style::warn),
                };
                let hosts: Vec<String> = self.bars.keys().cloned().collect();
                for h in &hosts {
                    self.idle(h);
                }
                if *outcome == Outcome::Failed {
                    self.failed_steps.push(step.to_string());
                }
                let line = format!("{}  {step}  [{secs:.2}s]", style::pad(word, 9, paint));
                if *outcome == Outcome::Passed {
                    self.say(line);
                } else {
                    self.shout(line);
                }
            }
            Event::ProgramStarted { host, name, .. } => {
                self.running
                    .entry(host.to_string())
                    .or_default()
                    .push(name.clone());
            }
            Event::ProgramStopped {
                host, name, step, ..
            } => {
                if let Some(names) = self.running.get_mut(host.as_str()) {
                    names.retain(|n| n != name);
                }
                self.say(format!(
                    "{:>9}  {host}  stopped `{name}` (started by step {step})",
                    "■"
                ));
            }
            Event::Problem { host, message, .. } => {
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
                self.shout("────────────".to_string());
                if self.dry_run {
                    let n = steps_passed + steps_failed + steps_not_run;
                    self.shout(format!(
                        "{}  dry run: nothing was run; {n} step{} planned, {} operation{} shown above",
                        style::pad("SUMMARY", 9, style::bold),
                        if n == 1 { "" } else { "s" },
                        self.shown,
                        if self.shown == 1 { "" } else { "s" },
                    ));
                    return;
                }
                let skipped = if *steps_not_run > 0 {
                    format!(", {steps_not_run} skipped")
                } else {
                    String::new()
                };
                let paint: fn(&str) -> String = match outcome {
                    Outcome::Passed => style::ok,
                    Outcome::Failed => style::bad,
                    Outcome::Interrupted => style::warn,
                };
                self.shout(format!(
                    "{}  [{secs:.2}s] {}: steps {steps_passed} passed, {steps_failed} failed{skipped}; expectations {checks_passed} ✔, {checks_failed} ✘",
                    style::pad("SUMMARY", 9, style::bold),
                    paint(word)
                ));
                for f in &self.failures {
                    self.shout(format!("{}  {f}", style::pad("✘", 9, style::bad)));
                }
                if let Some(d) = dir {
                    self.shout(format!(
                        "{}  {}",
                        style::pad("REPORT", 9, style::bold),
                        d.join("report.html").display()
                    ));
                }
                if let Some(step) = self.failed_steps.first() {
                    self.shout(format!(
                        "{}  {}",
                        style::pad("REPLAY", 9, style::bold),
                        replay(
                            step,
                            (!self.prefix.is_empty()).then_some(self.bench.as_str())
                        )
                    ));
                }
            }
            Event::Clock {
                host,
                sent,
                host_time,
                received,
                ..
            } => {
                use crate::record::{
                    describe_offset, describe_offset_from, describe_secs, ClockSample,
                };
                let s = ClockSample {
                    sent: *sent,
                    host: *host_time,
                    received: *received,
                };
                if let Some(j) = self.clocks.push(host, s) {
                    self.shout(format!(
                        "{}  {host}  its clock jumped {}; its times from then on are corrected",
                        style::pad("CLOCK", 9, style::warn),
                        describe_offset(j.by).replace("behind", "back")
                    ));
                } else if s.offset().abs() - s.uncertainty() > 1.0
                    && self.clocks_said.insert(host.to_string())
                {
                    self.say(format!(
                        "{}  {host}  its clock is {} (± {}); the report corrects its times",
                        style::pad("CLOCK", 9, style::warn),
                        describe_offset_from(s.offset(), "this machine's"),
                        describe_secs(s.uncertainty())
                    ));
                }
            }
            Event::Output { .. } | Event::Sent { .. } => {}
        }
    }
}

/// stderr for spinners, drawn at most `hz` times a second, behind the
/// hung-up-terminal guard ([`Forgiving`]): what `run`, `run --all`,
/// `check` and `deploy` draw their progress on.
pub(crate) fn guarded_stderr(hz: u8) -> ProgressDrawTarget {
    ProgressDrawTarget::term_like_with_hz(
        Box::new(Forgiving {
            term: console::Term::buffered_stderr(),
            size: Mutex::new(None),
        }),
        hz,
    )
}

/// stderr for the spinners, with every write error dropped: indicatif
/// unwraps some of them, and a hung-up terminal (EIO) would then abort
/// labctl before it stopped the hosts' programs and wrote the reports.
#[derive(Debug)]
struct Forgiving {
    term: console::Term,
    /// The terminal's size (rows, columns) and when it was asked.
    size: Mutex<Option<(Instant, (u16, u16))>>,
}

/// How long the terminal's size is taken as known: indicatif asks it at
/// every change of every line (two `ioctl`s each; 15,000 in a room of
/// 30), and a resized terminal is drawn to its new size within this.
const SIZE_KEPT: Duration = Duration::from_millis(250);

impl Forgiving {
    fn size(&self) -> (u16, u16) {
        let Ok(mut kept) = self.size.lock() else {
            return self.term.size();
        };
        match *kept {
            Some((at, size)) if at.elapsed() < SIZE_KEPT => size,
            _ => {
                let size = self.term.size();
                *kept = Some((Instant::now(), size));
                size
            }
        }
    }
}

impl indicatif::TermLike for Forgiving {
    fn width(&self) -> u16 {
        self.size().1
    }
    fn height(&self) -> u16 {
        self.size().0
    }
    fn move_cursor_up(&self, n: usize) -> std::io::Result<()> {
        let _ = self.term.move_cursor_up(n);
        Ok(())
    }
    fn move_cursor_down(&self, n: usize) -> std::io::Result<()> {
        let _ = self.term.move_cursor_down(n);
        Ok(())
    }
    fn move_cursor_right(&self, n: usize) -> std::io::Result<()> {
        let _ = self.term.move_cursor_right(n);
        Ok(())
    }
    fn move_cursor_left(&self, n: usize) -> std::io::Result<()> {
        let _ = self.term.move_cursor_left(n);
        Ok(())
    }
    fn write_line(&self, s: &str) -> std::io::Result<()> {
        let _ = self.term.write_line(s);
        Ok(())
    }
    fn write_str(&self, s: &str) -> std::io::Result<()> {
        let _ = self.term.write_str(s);
        Ok(())
    }
    fn clear_line(&self) -> std::io::Result<()> {
        let _ = self.term.clear_line();
        Ok(())
    }
    fn flush(&self) -> std::io::Result<()> {
        let _ = self.term.flush();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::RunOf;

    fn message(t: &Terminal, host: &str) -> String {
        t.bars[host].message().to_string()
    }

    #[test]
    fn the_replay_command_names_the_bench_only_when_several_ran() {
        assert_eq!(replay("I.8", None), "labctl run --step I.8");
        assert_eq!(
            replay("I.8", Some("bench2")),
            "labctl run --bench bench2 --step I.8"
        );
    }

    #[test]
    fn a_spinner_shows_only_what_its_host_does_now() {
        let hosts = ["A".to_string(), "B".to_string()];
        let mut t = Terminal::new(&hosts, true, "");
        let op = |host: &str, what: &str| Event::OpStarted {
            op: None,
            run: RunOf::default(),
            step: "I.6".into(),
            host: host.into(),
            what: what.into(),
        };
        t.event(&op("A", "start `server`"));
        t.event(&op("B", "ping A"));
        assert_eq!(message(&t, "A"), "I.6  start `server`");
        t.event(&Event::ProgramStarted {
            op: None,
            run: RunOf::default(),
            host: "A".into(),
            name: "server".into(),
            program: "tcp_server".into(),
            step: "I.6".into(),
            capture: false,
            pgid: 1,
        });
        t.event(&Event::ActionDone {
            op: None,
            run: RunOf::default(),
            step: "I.6".into(),
            host: "A".into(),
            what: "start `server`".into(),
            ok: true,
            detail: String::new(),
            secs: 0.1,
        });
        // Done: A is idle (its server runs on); B still pings.
        assert_eq!(message(&t, "A"), "idle · running `server`");
        assert_eq!(message(&t, "B"), "I.6  ping A");
        // The step's end leaves no host showing one of its actions.
        t.event(&Event::StepFinished {
            run: RunOf::default(),
            step: "I.6".into(),
            outcome: Outcome::Passed,
            secs: 0.2,
        });
        assert_eq!(message(&t, "B"), "idle");
        t.event(&Event::ProgramStopped {
            run: RunOf::default(),
            host: "A".into(),
            name: "server".into(),
            step: "I.6".into(),
            alive: false,
        });
        t.event(&op("A", "stop `server`"));
        t.event(&Event::StepFinished {
            run: RunOf::default(),
            step: "I.7".into(),
            outcome: Outcome::Passed,
            secs: 0.2,
        });
        assert_eq!(message(&t, "A"), "idle");
    }
}
